// SPDX-License-Identifier: GPL-2.0
//! Namespace operations through transactions against an mkfs image:
//! create, mkdir, mknod, link, unlink, rmdir, rename (plain, NOREPLACE,
//! EXCHANGE), xattrs, orphans. After each round of commits `btrfs check`
//! must be clean, and `btrfs restore` (btrfs-progs reading the image on
//! its own) must extract exactly the model's names and types.

mod common;
mod image;
mod rw;

use rw::{btrfs_check, open_rw};

use common::{mkfs, Scratch};
use image::Image;
use rbtrfs_core::ctree::objectid;
use rbtrfs_core::error::ENOENT;
use rbtrfs_core::inode_ops::{self, mode, NewInode, RENAME_EXCHANGE, RENAME_NOREPLACE};
use rbtrfs_core::items::Timespec;
use rbtrfs_core::transaction::{commit, Trans};
use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::Path as FsPath;
use std::process::Command;



struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Fifo,
}

/// The model: path (relative, '/'-separated) -> (kind, inode number).
type Model = BTreeMap<String, (Kind, u64)>;

fn now(i: u64) -> Timespec {
    Timespec { sec: 1_700_000_000 + i, nsec: (i % 1000) as u32 * 1000 }
}

fn parent_of(p: &str) -> &str {
    p.rfind('/').map_or("", |i| &p[..i])
}

fn name_of(p: &str) -> &str {
    p.rfind('/').map_or(p, |i| &p[i + 1..])
}

fn dir_ino(model: &Model, p: &str) -> u64 {
    if p.is_empty() { 256 } else { model[p].1 }
}

fn is_empty_dir(model: &Model, p: &str) -> bool {
    let pre = format!("{}/", p);
    !model.keys().any(|k| k.starts_with(&pre))
}

/// One random operation, applied to both the trees and the model.
fn step(t: &mut Trans<'_, Image>, model: &mut Model, rng: &mut Rng, n: u64, xmax: usize) {
    let root = objectid::FS_TREE;
    let dirs: Vec<String> = std::iter::once(String::new())
        .chain(model.iter().filter(|(_, v)| v.0 == Kind::Dir).map(|(k, _)| k.clone()))
        .collect();
    let pick_dir = |rng: &mut Rng| dirs[rng.below(dirs.len())].clone();
    let join = |d: &str, name: &str| if d.is_empty() { name.to_string() } else { format!("{}/{}", d, name) };
    let existing: Vec<String> = model.keys().cloned().collect();
    match rng.below(10) {
        0..=2 => {
            let d = pick_dir(rng);
            let name = format!("f{:x}", rng.next() % 100000);
            let p = join(&d, &name);
            if model.contains_key(&p) {
                return;
            }
            let (kind, m) = match rng.below(6) {
                0 => (Kind::Dir, mode::S_IFDIR | 0o755),
                1 => (Kind::Fifo, mode::S_IFIFO | 0o644),
                _ => (Kind::File, mode::S_IFREG | 0o644),
            };
            let attrs = NewInode { mode: m, uid: 1000, gid: 100, rdev: 0, now: now(n) };
            let (ino, _) = inode_ops::create(t, root, dir_ino(model, &d), name.as_bytes(), &attrs).unwrap();
            model.insert(p, (kind, ino));
        }
        3 if !existing.is_empty() => {
            // unlink or rmdir
            let p = existing[rng.below(existing.len())].clone();
            let (kind, _) = model[&p];
            if kind == Kind::Dir && !is_empty_dir(model, &p) {
                return;
            }
            let (_ino, f) = inode_ops::unlink(t, root, dir_ino(model, parent_of(&p)), name_of(&p).as_bytes(), now(n)).unwrap();
            model.remove(&p);
            if f.nlink == 0 {
                inode_ops::remove_inode(t, root, _ino, |_| Ok(())).unwrap();
            }
        }
        4 if !existing.is_empty() => {
            // hard link a non-directory
            let p = existing[rng.below(existing.len())].clone();
            let (kind, ino) = model[&p];
            if kind == Kind::Dir {
                return;
            }
            let d = pick_dir(rng);
            let name = format!("l{:x}", rng.next() % 100000);
            let np = join(&d, &name);
            if model.contains_key(&np) {
                return;
            }
            inode_ops::link(t, root, ino, dir_ino(model, &d), name.as_bytes(), now(n)).unwrap();
            model.insert(np, (kind, ino));
        }
        5..=6 if !existing.is_empty() => {
            // rename, possibly over an existing entry, or exchange
            let p = existing[rng.below(existing.len())].clone();
            let (kind, ino) = model[&p];
            let d = pick_dir(rng);
            // No moving a directory into itself.
            if kind == Kind::Dir && (d == p || d.starts_with(&format!("{}/", p))) {
                return;
            }
            let target = if rng.below(3) == 0 && existing.len() > 1 {
                existing[rng.below(existing.len())].clone()
            } else {
                join(&d, &format!("r{:x}", rng.next() % 100000))
            };
            if target == p || (kind == Kind::Dir && target.starts_with(&format!("{}/", p))) {
                return;
            }
            let tparent = parent_of(&target).to_string();
            let src = (dir_ino(model, parent_of(&p)), name_of(&p).as_bytes());
            let dst = (dir_ino(model, &tparent), name_of(&target).as_bytes());
            match model.get(&target).copied() {
                None => {
                    let flags = if rng.below(2) == 0 { RENAME_NOREPLACE } else { 0 };
                    inode_ops::rename(t, root, src, dst, flags, now(n)).unwrap();
                    move_tree(model, &p, &target);
                }
                Some((tkind, tino)) => {
                    if rng.below(2) == 0 {
                        // Exchange: neither may contain the other.
                        if p.starts_with(&format!("{}/", target)) {
                            return;
                        }
                        inode_ops::rename(t, root, src, dst, RENAME_EXCHANGE, now(n)).unwrap();
                        let tmp = "\u{1}tmp".to_string();
                        move_tree(model, &p, &tmp);
                        move_tree(model, &target, &p);
                        move_tree(model, &tmp, &target);
                        return;
                    }
                    if tkind == Kind::Dir && (kind != Kind::Dir || !is_empty_dir(model, &target)) {
                        return;
                    }
                    if tkind != Kind::Dir && kind == Kind::Dir {
                        return;
                    }
                    if tino == ino {
                        return;
                    }
                    let victim = inode_ops::rename(t, root, src, dst, 0, now(n)).unwrap();
                    model.remove(&target);
                    move_tree(model, &p, &target);
                    if let Some((vino, f)) = victim {
                        if f.nlink == 0 {
                            inode_ops::remove_inode(t, root, vino, |_| Ok(())).unwrap();
                        }
                    }
                }
            }
        }
        7 if !existing.is_empty() => {
            let p = existing[rng.below(existing.len())].clone();
            let (_, ino) = model[&p];
            let name = format!("user.x{}", rng.below(5));
            let value = vec![b'v'; rng.below(xmax)];
            if std::env::var_os("RBTRFS_CHECK_EACH").is_some() {
                // Remove (if there) and add separately, checking between.
                let had = inode_ops::remove_xattr(t, root, ino, name.as_bytes(), now(n));
                if let Err(e) = check_tree(t) {
                    panic!("op {} after remove_xattr ({:?}) of ino {} {}: {}", n, had, ino, name, e);
                }
                let r = inode_ops::set_xattr(t, root, ino, (name.as_bytes(), &value), 0, now(n));
                if let Err(e) = check_tree(t) {
                    panic!("op {} after set_xattr ({:?}) len {} of ino {} {}: {}", n, r, value.len(), ino, name, e);
                }
                r.unwrap();
                return;
            }
            inode_ops::set_xattr(t, root, ino, (name.as_bytes(), &value), 0, now(n)).unwrap();
        }
        8 if !existing.is_empty() => {
            let p = existing[rng.below(existing.len())].clone();
            let (_, ino) = model[&p];
            let name = format!("user.x{}", rng.below(5));
            match inode_ops::remove_xattr(t, root, ino, name.as_bytes(), now(n)) {
                Ok(()) => {}
                Err(e) => assert_eq!(e, rbtrfs_core::error::ENODATA),
            }
        }
        _ => {}
    }
}

/// Walks the fs tree of the running transaction: every parent key equals
/// its child's first key.
fn check_tree(t: &Trans<'_, Image>) -> Result<(), String> {
    use rbtrfs_core::ctree::{TreeBlock, TreeSource};
    use rbtrfs_core::extent_io::Overlay;
    let ov = Overlay { dirty: &t.fs.dirty, src: t.src };
    let r = t.fs.root(objectid::FS_TREE).unwrap();
    let mut stack = vec![(r.bytenr, r.level, r.generation, None)];
    while let Some((b, l, g, first)) = stack.pop() {
        let blk = ov.read_tree_block(b, l, g).map_err(|e| format!("read {}: {:?}", b, e))?;
        let tb = TreeBlock::new(blk.as_ref()).map_err(|e| e.to_string())?;
        if tb.nritems() == 0 && l > 0 {
            return Err(format!("empty node {}", b));
        }
        if let Some(k) = first {
            if tb.key(0).unwrap() != k {
                return Err(format!("block {} level {} first key {} parent says {}", b, l, tb.key(0).unwrap(), k));
            }
        }
        for i in 1..tb.nritems() as usize {
            if tb.key(i - 1).unwrap() >= tb.key(i).unwrap() {
                return Err(format!("block {} keys out of order at {}", b, i));
            }
        }
        if l > 0 {
            for i in 0..tb.nritems() as usize {
                let p = tb.key_ptr(i).unwrap();
                stack.push((p.blockptr, l - 1, p.generation, Some(p.key)));
            }
        }
    }
    Ok(())
}

/// Moves `from` (and everything under it) to `to` in the model.
fn move_tree(model: &mut Model, from: &str, to: &str) {
    let pre = format!("{}/", from);
    let moved: Vec<(String, (Kind, u64))> =
        model.iter().filter(|(k, _)| *k == from || k.starts_with(&pre)).map(|(k, v)| (k.clone(), *v)).collect();
    for (k, _) in &moved {
        model.remove(k);
    }
    for (k, v) in moved {
        let nk = format!("{}{}", to, &k[from.len()..]);
        model.insert(nk, v);
    }
}

/// What `btrfs restore` extracts, as path -> kind.
fn restored(img: &FsPath, out: &FsPath) -> BTreeMap<String, Kind> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let o = Command::new("btrfs").args(["restore", "-S", "-x"]).arg(img).arg(out).output().unwrap();
    assert!(o.status.success(), "btrfs restore: {}", String::from_utf8_lossy(&o.stderr));
    let mut m = BTreeMap::new();
    fn walk(base: &FsPath, dir: &FsPath, m: &mut BTreeMap<String, Kind>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            let rel = e.path().strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let kind = if ft.is_dir() {
                Kind::Dir
            } else if ft.is_fifo() {
                Kind::Fifo
            } else {
                Kind::File
            };
            m.insert(rel, kind);
            if ft.is_dir() {
                walk(base, &e.path(), m);
            }
        }
    }
    walk(out, out, &mut m);
    m
}

#[test]
fn namespace_ops_check_clean_and_restore_matches() {
    namespace_run("trans-ns", 0xabcdef, 300, &[]);
}

/// The same with xattrs up to 2 KiB (leaves split and merge around them)
/// and 4 KiB nodes (deeper trees).
#[test]
fn namespace_ops_big_xattrs_small_nodes() {
    namespace_run("trans-ns-x", 0x5151, 2048, &["-n", "4096"]);
}

fn namespace_run(tag: &str, seed: u64, xmax: usize, mkfs_args: &[&str]) {
    let dir = Scratch::new(tag);
    let img = mkfs(&dir.0, "ns.img", 256 << 20, mkfs_args);
    let mut model = Model::new();
    let mut rng = Rng(seed);
    let mut n = 0;
    for round in 0..5 {
        let (image, mut fs, dev) = open_rw(&img);
        for _ in 0..4 {
            {
                let mut t = Trans::new(&mut fs, &image).unwrap();
                for _ in 0..300 {
                    n += 1;
                    step(&mut t, &mut model, &mut rng, n, xmax);
                    if std::env::var_os("RBTRFS_CHECK_EACH").is_some() {
                        if let Err(e) = check_tree(&t) {
                            panic!("after op {}: {}", n, e);
                        }
                    }
                }
                // Every model path resolves to its inode through lookups.
                for (p, (_, ino)) in model.iter() {
                    let mut cur = 256;
                    for comp in p.split('/') {
                        cur = inode_ops::lookup(&t, objectid::FS_TREE, cur, comp.as_bytes()).unwrap().unwrap().0;
                    }
                    assert_eq!(cur, *ino, "{}", p);
                }
                assert_eq!(inode_ops::lookup(&t, objectid::FS_TREE, 256, b"nonexistent").unwrap(), None);
                assert_eq!(inode_ops::read_inode(&t, objectid::FS_TREE, 1 << 40).unwrap_err(), ENOENT);
            }
            commit(&mut fs, &image, &dev).unwrap();
        }
        drop(fs);
        btrfs_check(&img);
        let got = restored(&img, &dir.0.join("restore"));
        // btrfs restore skips special files.
        let want: BTreeMap<String, Kind> =
            model.iter().filter(|(_, v)| v.0 != Kind::Fifo).map(|(k, v)| (k.clone(), v.0)).collect();
        let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
        let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        let wrong: Vec<_> = want.iter().filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v)).collect();
        assert!(missing.is_empty() && extra.is_empty() && wrong.is_empty(),
            "round {}: restore differs: missing {:?} extra {:?} wrong kind {:?}", round, missing, extra, wrong);
    }
    assert!(model.len() > 200, "model too small: {}", model.len());
}

/// A POSIX ACL in the `system.posix_acl_*` xattr format: version 2, then
/// (tag, perm, id) entries.
fn acl_value(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

fn xattrs_of(t: &Trans<'_, Image>, ino: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut m = BTreeMap::new();
    inode_ops::list_xattrs(t, objectid::FS_TREE, ino, |n, v| {
        m.insert(n.to_vec(), v.to_vec());
        Ok(())
    })
    .unwrap();
    m
}

/// `inode_ops::set_acl`: the ACL attribute and the mode it implies change
/// together (with the change time); removing an absent ACL is no error; a
/// directory's default ACL leaves the mode alone. Committed, `btrfs check`
/// is clean and a fresh open reads the same.
#[test]
fn acl_attribute_and_mode_change_together() {
    const ACCESS: &[u8] = b"system.posix_acl_access";
    const DEFAULT: &[u8] = b"system.posix_acl_default";
    let dir = Scratch::new("acl");
    let img = mkfs(&dir.0, "acl.img", 256 << 20, &[]);
    let root = objectid::FS_TREE;
    let acl = acl_value(&[(0x01, 6, u32::MAX), (0x02, 4, 1000), (0x04, 0, u32::MAX), (0x10, 4, u32::MAX), (0x20, 0, u32::MAX)]);
    let (file, sub);
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            let attrs = NewInode { mode: mode::S_IFREG | 0o600, uid: 0, gid: 0, rdev: 0, now: now(1) };
            file = inode_ops::create(&mut t, root, 256, b"file", &attrs).unwrap().0;
            let attrs = NewInode { mode: mode::S_IFDIR | 0o755, ..attrs };
            sub = inode_ops::create(&mut t, root, 256, b"sub", &attrs).unwrap().0;
            let f = inode_ops::set_acl(&mut t, root, file, ACCESS, Some(&acl), 0o640, now(2)).unwrap();
            assert_eq!((f.mode, f.ctime), (mode::S_IFREG | 0o640, now(2)));
            assert_eq!(inode_ops::read_inode(&t, root, file).unwrap().mode, mode::S_IFREG | 0o640);
            assert_eq!(xattrs_of(&t, file).get(ACCESS), Some(&acl));
            let f = inode_ops::set_acl(&mut t, root, file, ACCESS, None, 0o600, now(3)).unwrap();
            assert_eq!((f.mode, f.ctime), (mode::S_IFREG | 0o600, now(3)));
            assert!(xattrs_of(&t, file).is_empty());
            // Nothing to remove: still the mode and ctime.
            let f = inode_ops::set_acl(&mut t, root, file, ACCESS, None, 0o644, now(4)).unwrap();
            assert_eq!((f.mode, f.ctime), (mode::S_IFREG | 0o644, now(4)));
            inode_ops::set_acl(&mut t, root, file, ACCESS, Some(&acl), 0o640, now(5)).unwrap();
            let f = inode_ops::set_acl(&mut t, root, sub, DEFAULT, Some(&acl), 0o755, now(5)).unwrap();
            assert_eq!(f.mode, mode::S_IFDIR | 0o755);
            // Replacing keeps one attribute.
            let acl2 = acl_value(&[(0x01, 7, u32::MAX), (0x02, 7, 1000), (0x04, 5, u32::MAX), (0x10, 7, u32::MAX), (0x20, 0, u32::MAX)]);
            inode_ops::set_acl(&mut t, root, sub, ACCESS, Some(&acl2), 0o770, now(6)).unwrap();
            inode_ops::set_acl(&mut t, root, sub, ACCESS, Some(&acl2), 0o770, now(6)).unwrap();
            assert_eq!(xattrs_of(&t, sub).len(), 2);
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    let (image, mut fs, _dev) = open_rw(&img);
    let t = Trans::new(&mut fs, &image).unwrap();
    assert_eq!(inode_ops::read_inode(&t, root, file).unwrap().mode, mode::S_IFREG | 0o640);
    assert_eq!(xattrs_of(&t, file).get(ACCESS), Some(&acl));
    assert_eq!(inode_ops::read_inode(&t, root, sub).unwrap().mode, mode::S_IFDIR | 0o770);
    assert_eq!(xattrs_of(&t, sub).get(DEFAULT), Some(&acl));
}
