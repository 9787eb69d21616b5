// SPDX-License-Identifier: GPL-2.0
//! Superblock decoding and validation against real mkfs.btrfs images.

mod common;

use rbtrfs_core::checksum::CsumType;
use rbtrfs_core::format::{incompat, SuperBlock};
use rbtrfs_core::validate::{validate_super, SuperError, Uuid};

const PAGE: u32 = 4096;

fn reseal(buf: &mut [u8]) {
    let t = CsumType::from_disk(u16::from_le_bytes([buf[196], buf[197]])).unwrap();
    let mut c = [0u8; 32];
    assert!(t.compute(&buf[32..4096], &mut c));
    buf[..32].copy_from_slice(&c);
}

fn check_against_dump_super(img: &std::path::Path, buf: &[u8]) {
    let dump = common::btrfs(&["inspect-internal", "dump-super", "-f", img.to_str().unwrap()]);
    let sb = SuperBlock::new(buf).unwrap();
    let num = |f: &str| -> u64 { common::dump_field(&dump, f).split_whitespace().next().unwrap().parse().unwrap() };
    let hex = |f: &str| -> u64 {
        let v = common::dump_field(&dump, f).split_whitespace().next().unwrap();
        u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap()
    };
    assert_eq!(sb.bytenr(), num("bytenr"));
    assert_eq!(sb.generation(), num("generation"));
    assert_eq!(sb.root(), num("root"));
    assert_eq!(sb.chunk_root(), num("chunk_root"));
    assert_eq!(sb.total_bytes(), num("total_bytes"));
    assert_eq!(sb.bytes_used(), num("bytes_used"));
    assert_eq!(u64::from(sb.sectorsize()), num("sectorsize"));
    assert_eq!(u64::from(sb.nodesize()), num("nodesize"));
    assert_eq!(u64::from(sb.sys_chunk_array_size()), num("sys_array_size"));
    assert_eq!(sb.incompat_flags(), hex("incompat_flags"));
    assert_eq!(sb.compat_ro_flags(), hex("compat_ro_flags"));
    assert_eq!(u64::from(sb.root_level()), num("root_level"));
    assert_eq!(sb.cache_generation(), num("cache_generation"));
    assert_eq!(sb.uuid_tree_generation(), num("uuid_tree_generation"));
    assert_eq!(format!("{}", Uuid(sb.fsid())), common::dump_field(&dump, "fsid"));
    assert_eq!(sb.dev_item().devid(), num("dev_item.devid"));
    assert_eq!(sb.dev_item().total_bytes(), num("dev_item.total_bytes"));
    assert_eq!(format!("{}", Uuid(sb.dev_item().uuid())), common::dump_field(&dump, "dev_item.uuid"));
    assert_eq!(std::str::from_utf8(sb.label_bytes()).unwrap(), common::dump_field(&dump, "label"));
    // The newest backup root slot records the current tree root.
    let newest = (0..4).map(|i| sb.backup_root(i)).max_by_key(|b| b.tree_root_gen()).unwrap();
    assert_eq!(newest.tree_root(), sb.root());
    assert_eq!(newest.tree_root_gen(), sb.generation());
}

#[test]
fn default_mkfs_image_validates_and_matches_dump_super() {
    let s = common::Scratch::new("sb-default");
    let img = common::mkfs(&s.0, "img", 256 << 20, &["-L", "rbtrfs-test"]);
    let buf = common::read_super(&img);
    let info = validate_super(&buf, PAGE).expect("stock mkfs image must validate");
    assert_eq!(info.csum_type, CsumType::Crc32c);
    assert_eq!(info.nodesize, 16384);
    assert_eq!(info.sectorsize, 4096);
    assert_eq!(info.unknown_compat_ro, 0);
    for f in [incompat::SKINNY_METADATA, incompat::NO_HOLES, incompat::EXTENDED_IREF] {
        assert_ne!(info.incompat & f, 0);
    }
    check_against_dump_super(&img, &buf);
}

#[test]
fn xxhash_image_validates() {
    let s = common::Scratch::new("sb-xxhash");
    let img = common::mkfs(&s.0, "img", 256 << 20, &["--csum", "xxhash", "-n", "65536"]);
    let buf = common::read_super(&img);
    let info = validate_super(&buf, PAGE).expect("xxhash image must validate");
    assert_eq!(info.csum_type, CsumType::Xxhash64);
    assert_eq!(info.nodesize, 65536);
    check_against_dump_super(&img, &buf);
}

#[test]
fn sha256_and_blake2_images_are_refused_by_name() {
    let s = common::Scratch::new("sb-sha");
    for (algo, want) in [("sha256", CsumType::Sha256), ("blake2", CsumType::Blake2b)] {
        let img = common::mkfs(&s.0, algo, 256 << 20, &["--csum", algo]);
        let buf = common::read_super(&img);
        assert_eq!(validate_super(&buf, PAGE).unwrap_err(), SuperError::UnsupportedCsumType(want));
    }
}

#[test]
fn every_corruption_is_named() {
    let s = common::Scratch::new("sb-corrupt");
    let img = common::mkfs(&s.0, "img", 256 << 20, &[]);
    let good = common::read_super(&img);
    let set = |b: &mut Vec<u8>, off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);

    // Not btrfs at all.
    assert_eq!(validate_super(&vec![0u8; 4096], PAGE).unwrap_err(), SuperError::BadMagic);
    assert_eq!(validate_super(&good[..4000], PAGE).unwrap_err(), SuperError::TooSmall);

    // Any flipped bit in the checksummed area is caught, even in padding.
    for off in [33usize, 72, 500, 811, 2000, 3000, 4095] {
        let mut b = good.clone();
        b[off] ^= 0x10;
        assert_eq!(validate_super(&b, PAGE).unwrap_err(), SuperError::CsumMismatch, "offset {}", off);
    }
    let mut b = good.clone();
    b[0] ^= 1;
    assert_eq!(validate_super(&b, PAGE).unwrap_err(), SuperError::CsumMismatch);

    // Resealed corruptions are caught by the field checks.
    type Case = (usize, Vec<u8>, SuperError);
    let cases: Vec<Case> = vec![
        (196, 7u16.to_le_bytes().to_vec(), SuperError::UnknownCsumType(7)),
        (48, 4096u64.to_le_bytes().to_vec(), SuperError::BadBytenr(4096)),
        (144, 1000u32.to_le_bytes().to_vec(), SuperError::BadSectorsize(1000)),
        (144, 8192u32.to_le_bytes().to_vec(), SuperError::BadSectorsize(8192)),
        (148, 2048u32.to_le_bytes().to_vec(), SuperError::BadNodesize(2048)),
        (148, 131072u32.to_le_bytes().to_vec(), SuperError::BadNodesize(131072)),
        (198, vec![8], SuperError::BadLevel("tree_root", 8)),
        (160, 4000u32.to_le_bytes().to_vec(), SuperError::BadSysArraySize(4000)),
        (136, 0u64.to_le_bytes().to_vec(), SuperError::NoDevices),
        (136, 2u64.to_le_bytes().to_vec(), SuperError::MultiDevice(2)),
    ];
    for (off, val, want) in cases {
        let mut b = good.clone();
        set(&mut b, off, &val);
        if off != 196 {
            reseal(&mut b);
        }
        assert_eq!(validate_super(&b, PAGE).unwrap_err(), want);
    }
    let mut b = good.clone();
    let root = SuperBlock::new(&good).unwrap().root();
    set(&mut b, 80, &(root + 512).to_le_bytes());
    reseal(&mut b);
    assert_eq!(validate_super(&b, PAGE).unwrap_err(), SuperError::Misaligned("tree_root", root + 512));

    // Unknown and known-unsupported incompat bits are refused and named.
    let inc = SuperBlock::new(&good).unwrap().incompat_flags();
    for extra in [incompat::RAID56, incompat::ZONED, 1u64 << 40] {
        let mut b = good.clone();
        set(&mut b, 188, &(inc | extra).to_le_bytes());
        reseal(&mut b);
        let err = validate_super(&b, PAGE).unwrap_err();
        assert_eq!(err, SuperError::UnsupportedIncompat(extra));
        let msg = err.to_string();
        assert!(msg.contains(&format!("0x{:x}", extra)), "{}", msg);
    }
    assert!(SuperError::UnsupportedIncompat(incompat::RAID56).to_string().contains("raid56"));

    // Unknown compat_ro bits validate but are reported (read-only only).
    let mut b = good.clone();
    set(&mut b, 180, &(1u64 << 20).to_le_bytes());
    reseal(&mut b);
    assert_eq!(validate_super(&b, PAGE).unwrap().unknown_compat_ro, 1 << 20);
}
