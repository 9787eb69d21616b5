// SPDX-License-Identifier: GPL-2.0
//! The corruption generator (`mkcorrupt`, the example the guest corruption
//! test uses) against a small `mkfs.btrfs --rootdir` image: variants are
//! deterministic, sparse, differ from the pristine image exactly where the
//! plan says, and each is the corruption its kind promises.

mod common;
#[allow(dead_code)]
#[path = "mkcorrupt.rs"]
mod mkcorrupt;

use mkcorrupt::{Detail, Pristine, Rng, KINDS};
use rbtrfs_core::ctree::{check_tree_block, BlockExpect};
use rbtrfs_core::format::{CSUM_SIZE, SUPER_INFO_OFFSET, SUPER_INFO_SIZE};
use rbtrfs_core::validate::validate_super;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

const SEED: u64 = 0x005e_edc0_ffee;
const COUNT: usize = 63;

/// ~50 small files (inline and a few sectors), and some of 100 KiB and more
/// in a nested directory.
fn make_source(dir: &Path) -> PathBuf {
    let mut rng = Rng::new(7);
    let mut bytes = |n: usize| (0..n).map(|_| (rng.next_u64() >> 32) as u8).collect::<Vec<u8>>();
    let root = dir.join("src");
    std::fs::create_dir_all(root.join("small")).unwrap();
    std::fs::create_dir_all(root.join("big/sub")).unwrap();
    for i in 0..50 {
        let len = match i % 5 {
            0 => 0,
            1 => 100 + i * 37,
            2 => 2500 + i * 11,
            3 => 4096,
            _ => 9000 + i * 101,
        };
        std::fs::write(root.join("small").join(format!("file{:02}", i)), bytes(len)).unwrap();
    }
    std::fs::write(root.join("big/hundred"), bytes(100 * 1024 + 1)).unwrap();
    std::fs::write(root.join("big/sub/three-hundred"), bytes(300 * 1024 + 77)).unwrap();
    std::fs::write(root.join("big/sub/mega"), bytes(1200 * 1024 + 5)).unwrap();
    root
}

/// Every byte where the file at `path` differs from `pristine` in the
/// byte ranges `ranges` (sorted, disjoint): (offset, pristine byte, variant
/// byte).
fn diff_file(path: &Path, pristine: &[u8], ranges: &[(u64, u64)]) -> Vec<(u64, u8, u8)> {
    let f = File::open(path).unwrap();
    assert_eq!(f.metadata().unwrap().len(), pristine.len() as u64, "{}: size", path.display());
    let mut out = Vec::new();
    let mut buf = vec![0u8; 4 << 20];
    for &(start, end) in ranges {
        for (i, want) in pristine[start as usize..end as usize].chunks(buf.len()).enumerate() {
            let off = start + (i * buf.len()) as u64;
            let have = &mut buf[..want.len()];
            f.read_exact_at(have, off).unwrap();
            if have != want {
                for (j, (a, b)) in want.iter().zip(have.iter()).enumerate() {
                    if a != b {
                        out.push((off + j as u64, *a, *b));
                    }
                }
            }
        }
    }
    out
}

/// The 64 KiB grains holding pristine data or a patch, merged.
fn ranges_to_compare(p: &Pristine, v: &mkcorrupt::Variant) -> Vec<(u64, u64)> {
    const G: u64 = 64 * 1024;
    let mut r: Vec<(u64, u64)> = p.runs.iter().map(|(o, d)| (*o, *o + d.len() as u64)).collect();
    r.extend(v.patches.iter().map(|q| (q.physical / G * G, (q.physical / G * G + G).min(p.len))));
    r.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn read_at(path: &Path, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    File::open(path).unwrap().read_exact_at(&mut buf, off).unwrap();
    buf
}

#[test]
fn variants() {
    let s = common::Scratch::new("corrupt");
    let src = make_source(&s.0);
    let path = common::mkfs(&s.0, "pristine.img", 128 << 20, &["--rootdir", src.to_str().unwrap()]);
    let p = Pristine::open(&path).unwrap();
    let csum_type = p.img.csum_type;
    let csum_size = csum_type.size();
    let ns = p.img.nodesize as usize;
    let ss = p.img.sectorsize as usize;
    assert_eq!(p.kinds(), KINDS, "every kind is possible on this image");
    assert!(p.blocks.iter().all(|b| !b.is_empty()));
    assert!(p.extents.len() >= 3, "data extents: {}", p.extents.len());

    // Deterministic: variant i depends on the seed and i only.
    for i in 0..COUNT {
        assert_eq!(p.plan(i, SEED).unwrap(), p.plan(i, SEED).unwrap());
    }
    let changed = (0..COUNT).filter(|&i| p.plan(i, SEED + 1).unwrap() != p.plan(i, SEED).unwrap()).count();
    assert!(changed > COUNT * 3 / 4, "another seed changed only {} of {}", changed, COUNT);

    let out = s.0.join("out");
    let vs = p.generate(&out, COUNT, SEED).unwrap();
    assert_eq!(vs.len(), COUNT);

    // The manifest: one line per variant, in order.
    let manifest = std::fs::read_to_string(out.join("manifest.txt")).unwrap();
    let lines: Vec<&str> = manifest.lines().collect();
    assert_eq!(lines.len(), COUNT);
    for (v, line) in vs.iter().zip(&lines) {
        assert_eq!(*line, format!("{} {} {}", v.file, v.kind, v.desc));
        assert_eq!(v.file, format!("{:04}-{}.img", v.index, v.kind));
        assert!(!v.desc.contains('\n'));
    }
    // Kinds in equal shares.
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &vs {
        *per_kind.entry(v.kind).or_default() += 1;
    }
    for k in KINDS {
        assert_eq!(per_kind.get(k).copied(), Some(COUNT / KINDS.len()), "{:?}", per_kind);
    }

    let pristine = std::fs::read(&path).unwrap();
    let runs: u64 = p.runs.iter().map(|r| r.1.len() as u64).sum();
    let (mut super_valid, mut tree_resealed, mut tree_caught) = (0, 0, 0);
    for v in &vs {
        let vpath = out.join(&v.file);
        // Sparse: not much more allocated than the non-zero regions (a
        // patch may allocate a block in a hole; slack for the host's fs).
        let md = std::fs::metadata(&vpath).unwrap();
        assert!(md.blocks() * 512 <= runs + (1 << 20), "{}: {} blocks allocated", v.file, md.blocks());
        assert!(md.blocks() * 512 < md.len() / 8, "{} not sparse", v.file);

        // Differs from the pristine image, exactly by the patches: over the
        // whole file for the first variant of each kind (reading 128 MiB of
        // holes is slow), else where the pristine image or a patch has data.
        let ranges = if v.index < KINDS.len() { vec![(0, p.len)] } else { ranges_to_compare(&p, v) };
        let diffs = diff_file(&vpath, &pristine, &ranges);
        assert!(!diffs.is_empty(), "{} equals the pristine image", v.file);
        let want: Vec<(u64, u8, u8)> = v.patches.iter().map(|p| (p.physical, p.old, p.new)).collect();
        assert_eq!(diffs, want, "{}: {}", v.file, v.desc);

        match &v.detail {
            Detail::Super { flips, resealed } => {
                let sb = read_at(&vpath, SUPER_INFO_OFFSET, SUPER_INFO_SIZE);
                let in_super = |o: u64| (SUPER_INFO_OFFSET..SUPER_INFO_OFFSET + SUPER_INFO_SIZE as u64).contains(&o);
                assert!(diffs.iter().all(|d| in_super(d.0)));
                match validate_super(&sb, 4096) {
                    Err(_) => {}
                    Ok(_) => {
                        // Only a resealed superblock can validate, and then
                        // it differs only at the flipped bytes and the csum.
                        assert!(resealed.is_some(), "{}: validates without reseal: {}", v.file, v.desc);
                        for d in &diffs {
                            let o = (d.0 - SUPER_INFO_OFFSET) as usize;
                            assert!(o < CSUM_SIZE || flips.contains(&o), "{}: byte {} changed", v.file, o);
                        }
                        super_valid += 1;
                    }
                }
                if resealed.is_none() {
                    assert!(flips.iter().all(|&o| o < csum_size || o >= CSUM_SIZE));
                }
            }
            Detail::Tree { tree, logical, physical, level, flips, resealed, .. } => {
                assert_eq!(physical.len(), 2, "metadata is DUP: {}", v.desc);
                let copies: Vec<Vec<u8>> = physical.iter().map(|&ph| read_at(&vpath, ph, ns)).collect();
                assert_eq!(copies[0], copies[1], "{}: copies differ", v.file);
                let b = &copies[0];
                let mut c = [0u8; 32];
                assert!(csum_type.compute(&b[CSUM_SIZE..], &mut c));
                let csum_ok = c[..csum_size] == b[..csum_size];
                assert_eq!(csum_ok, *resealed, "{}: checksum valid {} resealed {}", v.file, csum_ok, resealed);
                let orig = &pristine[physical[0] as usize..physical[0] as usize + ns];
                for &o in flips {
                    assert_ne!(b[o], orig[o]);
                    assert!(o < csum_size || o >= CSUM_SIZE, "flip in unused csum padding");
                    if *resealed {
                        assert!(o >= CSUM_SIZE);
                    }
                }
                if *resealed {
                    tree_resealed += 1;
                    let mut exp = BlockExpect::at(*logical, p.img.sectorsize);
                    exp.level = Some(*level);
                    exp.owner = Some(*tree);
                    if check_tree_block(b, &exp, &p.img.fsid, csum_type).is_err() {
                        tree_caught += 1;
                    }
                }
            }
            Detail::Data { logical, physical, sector, path: fpath, file_offset, .. } => {
                assert_eq!(*sector % ss as u64, 0);
                assert!((*sector..*sector + ss as u64).contains(logical));
                let stored = p.data_csum(*logical).expect("the sector has a checksum").to_vec();
                for &ph in physical {
                    let at = ph - (logical - sector);
                    let mut c = [0u8; 32];
                    csum_type.compute(&pristine[at as usize..at as usize + ss], &mut c);
                    assert_eq!(&c[..csum_size], &stored[..], "pristine sector {} matches its csum", sector);
                    csum_type.compute(&read_at(&vpath, at, ss), &mut c);
                    assert_ne!(&c[..csum_size], &stored[..], "{}: corrupt sector passes its csum", v.file);
                }
                // The named file holds the flipped byte at file_offset.
                let content = std::fs::read(src.join(fpath.trim_start_matches('/'))).unwrap();
                let fo = file_offset.expect("uncompressed") as usize;
                let old = v.patches[0].old;
                assert_eq!(content.get(fo).copied().unwrap_or(0), old, "{}: {}", v.file, v.desc);
            }
        }
    }
    eprintln!(
        "corrupt: {} variants; {} resealed superblocks still validate; tree-checker catches {} of {} resealed tree blocks",
        COUNT, super_valid, tree_caught, tree_resealed
    );
}
