// SPDX-License-Identifier: GPL-2.0
//! Subvolume bookkeeping (`root_tree.rs`) against an mkfs image: create
//! nested subvolumes with files in them, make one read-only and the other
//! the default, delete one (a dead root with refs 0 and an orphan item
//! stays for the cleaner); after each commit `btrfs check` must be clean
//! and `dump-tree`/`dump-super` must show the items C btrfs writes.

mod common;
mod image;
mod rw;

use common::{mkfs, Scratch};
use rbtrfs_core::ctree::{key_type, objectid, Key};
use rbtrfs_core::error::{EEXIST, EINVAL, ENOTEMPTY, EXDEV};
use rbtrfs_core::inode_ops::{self, mode, Entry, NewInode, RENAME_EXCHANGE, RENAME_NOREPLACE};
use rbtrfs_core::items::Timespec;
use rbtrfs_core::root_tree;
use rbtrfs_core::snapshot::{self, SnapshotParams};
use rbtrfs_core::transaction::{commit, Trans};
use rw::{btrfs_check, open_rw};
use std::process::Command;

fn attrs(m: u32, sec: u64) -> NewInode {
    NewInode { mode: m, uid: 0, gid: 0, rdev: 0, now: Timespec { sec, nsec: 0 } }
}

fn dump(args: &[&str]) -> String {
    let out = Command::new("btrfs").args(["inspect-internal"]).args(args).output().unwrap();
    assert!(out.status.success(), "dump {:?}: {}", args, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Creates subvolume `name` in `dir` of `parent`; returns its id.
fn mksubvol(t: &mut Trans<'_, image::Image>, (parent, dir): (u64, u64), name: &[u8], uuid: u8) -> u64 {
    let id = root_tree::find_free_objectid(t).unwrap();
    let node = root_tree::new_subvol_tree(t, id, &attrs(mode::S_IFDIR | 0o755, 1000)).unwrap();
    let item = root_tree::subvol_root_item(&node, t.fs.transid(), t.fs.geo.nodesize, [uuid; 16], Timespec { sec: 1000, nsec: 5 });
    root_tree::link_subvol(t, id, &item, (parent, dir), name, Timespec { sec: 1000, nsec: 0 }).unwrap();
    id
}

#[test]
fn subvolumes_create_flags_default_delete_check_clean() {
    let dir = Scratch::new("subvol");
    let img = mkfs(&dir.0, "sv.img", 256 << 20, &[]);
    let (a, b);
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            a = mksubvol(&mut t, (objectid::FS_TREE, 256), b"sv1", 0x11);
            assert_eq!(a, 256);
            let (d, _) = inode_ops::create(&mut t, a, 256, b"dir", &attrs(mode::S_IFDIR | 0o755, 1001)).unwrap();
            inode_ops::create(&mut t, a, d, b"file", &attrs(mode::S_IFREG | 0o644, 1001)).unwrap();
            b = mksubvol(&mut t, (a, d), b"nested", 0x22);
            assert_eq!(b, 257);
            inode_ops::create(&mut t, b, 256, b"inner", &attrs(mode::S_IFREG | 0o600, 1002)).unwrap();
            // Names taken, by a subvolume or a file.
            let id = root_tree::find_free_objectid(&t).unwrap();
            assert_eq!(id, 258);
            assert_eq!(inode_ops::create(&mut t, objectid::FS_TREE, 256, b"sv1", &attrs(mode::S_IFREG, 1)).unwrap_err(), EEXIST);
            // Bad names.
            for bad in [&b""[..], b"a/b", &[b'x'; 256][..]] {
                assert!(root_tree::link_subvol(&mut t, 999, &Default::default(), (5, 256), bad, Timespec::default()).is_err());
            }
            assert_eq!(root_tree::has_child_subvols(&t, a).unwrap(), true);
            assert_eq!(root_tree::has_child_subvols(&t, b).unwrap(), false);
            let (p, d2, _, n) = root_tree::root_backref(&t, b).unwrap().unwrap();
            assert_eq!((p, d2, &n[..]), (a, d, &b"nested"[..]));
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    let root = dump(&["dump-tree", "-t", "root", img.to_str().unwrap()]);
    assert!(root.contains("key (FS_TREE ROOT_REF 256)"), "{}", root);
    assert!(root.contains("key (256 ROOT_BACKREF 5)"), "{}", root);
    assert!(root.contains("key (256 ROOT_REF 257)"), "{}", root);
    assert!(root.contains("name nested"), "{}", root);
    let fst = dump(&["dump-tree", "-t", "5", img.to_str().unwrap()]);
    assert!(fst.contains("location key (256 ROOT_ITEM 0) type DIR"), "{}", fst);
    let uuid = dump(&["dump-tree", "-t", "uuid", img.to_str().unwrap()]);
    assert!(uuid.contains("UUID_KEY_SUBVOL"), "{}", uuid);

    // Read-only flag and default subvolume.
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            assert_eq!(root_tree::default_subvol(&t).unwrap(), 5);
            root_tree::set_default_subvol(&mut t, b).unwrap();
            assert_eq!(root_tree::default_subvol(&t).unwrap(), b);
            root_tree::set_readonly(&mut t, a, true).unwrap();
            let f = root_tree::read_root_item(&t, a).unwrap().unwrap();
            assert_eq!(f.flags & root_tree::ROOT_SUBVOL_RDONLY, 1);
            assert_eq!(f.uuid, [0x11; 16]);
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    let sup = dump(&["dump-super", img.to_str().unwrap()]);
    assert!(sup.contains("DEFAULT_SUBVOL"), "{}", sup);
    let root = dump(&["dump-tree", "-t", "root", img.to_str().unwrap()]);
    assert!(root.contains("location key (257 ROOT_ITEM 0)"), "{}", root);
    assert!(root.contains("flags 0x1(RDONLY)"), "{}", root);

    // Delete the nested one (after moving the default back).
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            root_tree::set_default_subvol(&mut t, objectid::FS_TREE).unwrap();
            root_tree::set_readonly(&mut t, a, false).unwrap();
            let d = inode_ops::lookup(&t, a, 256, b"dir").unwrap().unwrap().0;
            assert_eq!(root_tree::unlink_subvol(&mut t, b, (a, d), b"file", Timespec::default()).unwrap_err(), EINVAL);
            root_tree::unlink_subvol(&mut t, b, (a, d), b"nested", Timespec { sec: 2000, nsec: 0 }).unwrap();
            assert_eq!(inode_ops::lookup_location(&t, a, d, b"nested").unwrap(), None);
            assert_eq!(root_tree::has_child_subvols(&t, a).unwrap(), false);
            assert_eq!(root_tree::read_root_item(&t, b).unwrap().unwrap().refs, 0);
            // The id stays taken while the dead root's item exists.
            assert_eq!(root_tree::find_free_objectid(&t).unwrap(), 258);
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    let root = dump(&["dump-tree", "-t", "root", img.to_str().unwrap()]);
    assert!(root.contains("key (ORPHAN ORPHAN_ITEM 257)"), "{}", root);
    assert!(!root.contains("ROOT_REF 257"), "{}", root);
    let uuid = dump(&["dump-tree", "-t", "uuid", img.to_str().unwrap()]);
    assert_eq!(uuid.matches("UUID_KEY_SUBVOL").count(), 1 + usize::from(uuid.contains("subvol_id 5")), "{}", uuid);
}

/// Snapshots `src` as a new subvolume named `name` in `dir` of `parent`,
/// as the snapshot ioctl does; returns its id.
fn mksnap(t: &mut Trans<'_, image::Image>, src: u64, (parent, dir): (u64, u64), name: &[u8], uuid: u8) -> u64 {
    let id = root_tree::find_free_objectid(t).unwrap();
    let now = Timespec { sec: 1500, nsec: 0 };
    let p = SnapshotParams { uuid: [uuid; 16], readonly: false, otime: now, ctransid: 0, ctime: now };
    snapshot::create_snapshot(t, src, id, &p).unwrap();
    let location = Key::new(id, key_type::ROOT_ITEM, u64::MAX);
    root_tree::link_names(t, id, &[uuid; 16], location, (parent, dir), name, now).unwrap();
    id
}

fn own(t: &Trans<'_, image::Image>, (root, dir): (u64, u64), name: &[u8]) -> Option<bool> {
    match inode_ops::entry(t, root, dir, name).unwrap() {
        Some(Entry::Subvol { own, .. }) => Some(own),
        _ => None,
    }
}

/// Subvolumes in the namespace, with C btrfs's rules: a subvolume's link
/// moves between directories of different subvolumes (ROOT_REF and
/// ROOT_BACKREF follow, the entry keeps its location), exchanges with
/// another subvolume or, in one tree, with a directory; a placeholder (a
/// snapshot's copy of a nested subvolume's entry) is removed alone or
/// replaced by a rename, but does not move; inodes do not cross trees.
/// `btrfs check` is clean after each step.
#[test]
fn subvolumes_move_exchange_and_placeholders() {
    let dir = Scratch::new("subvol-move");
    let img = mkfs(&dir.0, "mv.img", 256 << 20, &[]);
    let t0 = Timespec { sec: 1000, nsec: 0 };
    let (a, b, d);
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            a = mksubvol(&mut t, (objectid::FS_TREE, 256), b"a", 0x11);
            inode_ops::create(&mut t, a, 256, b"x", &attrs(mode::S_IFDIR | 0o755, 1001)).unwrap();
            b = mksubvol(&mut t, (a, 256), b"b", 0x22);
            d = inode_ops::create(&mut t, objectid::FS_TREE, 256, b"d", &attrs(mode::S_IFDIR | 0o755, 1001)).unwrap().0;
            inode_ops::create(&mut t, objectid::FS_TREE, d, b"f", &attrs(mode::S_IFREG | 0o644, 1001)).unwrap();
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    let (s1, s2);
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            s1 = mksnap(&mut t, a, (objectid::FS_TREE, 256), b"s1", 0x33);
            s2 = mksnap(&mut t, a, (objectid::FS_TREE, 256), b"s2", 0x44);
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    let c;
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            assert_eq!(own(&t, (a, 256), b"b"), Some(true));
            assert_eq!(own(&t, (s1, 256), b"b"), Some(false), "a snapshot's copy is a placeholder");
            // A placeholder does not move; an inode does not leave its tree;
            // a subvolume is not replaced.
            assert_eq!(inode_ops::rename_at(&mut t, (s1, 256, b"b"), (s1, 256, b"b9"), 0, t0).unwrap_err(), ENOTEMPTY);
            assert_eq!(inode_ops::rename_at(&mut t, (a, 256, b"x"), (objectid::FS_TREE, 256, b"x"), 0, t0).unwrap_err(), EXDEV);
            assert_eq!(inode_ops::rename_at(&mut t, (a, 256, b"x"), (a, 256, b"b"), 0, t0).unwrap_err(), ENOTEMPTY);
            assert_eq!(inode_ops::rename_at(&mut t, (a, 256, b"b"), (s1, 256, b"b"), RENAME_NOREPLACE, t0).unwrap_err(), EEXIST);
            // Move b from a/ to d/ of the top level, as b2.
            assert_eq!(inode_ops::rename_at(&mut t, (a, 256, b"b"), (objectid::FS_TREE, d, b"b2"), 0, t0).unwrap(), None);
            assert_eq!(inode_ops::lookup_location(&t, a, 256, b"b").unwrap(), None);
            assert_eq!(own(&t, (objectid::FS_TREE, d), b"b2"), Some(true));
            let (p, dd, _, n) = root_tree::root_backref(&t, b).unwrap().unwrap();
            assert_eq!((p, dd, &n[..]), (objectid::FS_TREE, d, &b"b2"[..]));
            assert!(root_tree::root_ref(&t, a, b).unwrap().is_none());
            assert!(!root_tree::has_child_subvols(&t, a).unwrap());
            // A file onto a subvolume: ENOTEMPTY, as C.
            assert_eq!(inode_ops::rename_at(&mut t, (objectid::FS_TREE, d, b"f"), (objectid::FS_TREE, d, b"b2"), 0, t0).unwrap_err(), ENOTEMPTY);
            c = mksubvol(&mut t, (objectid::FS_TREE, 256), b"c", 0x55);
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    let fst = dump(&["dump-tree", "-t", "5", img.to_str().unwrap()]);
    assert!(fst.contains(&format!("location key ({} ROOT_ITEM 0) type DIR", b)), "{}", fst);
    assert!(fst.contains("name: b2"), "{}", fst);
    {
        let (image, mut fs, dev) = open_rw(&img);
        {
            let mut t = Trans::new(&mut fs, &image).unwrap();
            // Exchange two subvolumes' links, then a subvolume with a
            // directory of the same tree; across trees only subvolumes.
            inode_ops::rename_at(&mut t, (objectid::FS_TREE, 256, b"c"), (objectid::FS_TREE, d, b"b2"), RENAME_EXCHANGE, t0).unwrap();
            assert_eq!(root_tree::root_ref(&t, objectid::FS_TREE, b).unwrap().map(|r| (r.0, r.2.to_vec())), Some((256, b"c".to_vec())));
            assert_eq!(root_tree::root_ref(&t, objectid::FS_TREE, c).unwrap().map(|r| (r.0, r.2.to_vec())), Some((d, b"b2".to_vec())));
            inode_ops::rename_at(&mut t, (objectid::FS_TREE, 256, b"d"), (objectid::FS_TREE, 256, b"c"), RENAME_EXCHANGE, t0).unwrap();
            assert_eq!(own(&t, (objectid::FS_TREE, 256), b"d"), Some(true));
            assert_eq!(inode_ops::rename_at(&mut t, (a, 256, b"x"), (objectid::FS_TREE, 256, b"d"), RENAME_EXCHANGE, t0).unwrap_err(), EXDEV);
            assert_eq!(inode_ops::rename_at(&mut t, (s1, 256, b"b"), (s1, 256, b"x"), RENAME_EXCHANGE, t0).unwrap_err(), ENOTEMPTY);
            // Move b into subvolume a's directory x, across trees again.
            inode_ops::rename_at(&mut t, (objectid::FS_TREE, 256, b"d"), (a, 257, b"b"), 0, t0).unwrap();
            assert!(root_tree::has_child_subvols(&t, a).unwrap());
            // The placeholders: one removed alone, one replaced by a rename.
            root_tree::del_subvol_link(&mut t, b, (s1, 256), b"b", t0).unwrap();
            assert_eq!(inode_ops::lookup_location(&t, s1, 256, b"b").unwrap(), None);
            inode_ops::rename_at(&mut t, (s2, 256, b"x"), (s2, 256, b"b"), 0, t0).unwrap();
            assert!(matches!(inode_ops::entry(&t, s2, 256, b"b").unwrap(), Some(Entry::Inode(..))));
            assert_eq!(inode_ops::read_inode(&t, s1, 256).unwrap().size, 2);
            assert_eq!(inode_ops::read_inode(&t, s2, 256).unwrap().size, 2);
        }
        commit(&mut fs, &image, &dev).unwrap();
    }
    btrfs_check(&img);
    let root = dump(&["dump-tree", "-t", "root", img.to_str().unwrap()]);
    assert!(root.contains(&format!("key ({} ROOT_REF {})", a, b)), "{}", root);
    assert!(root.contains(&format!("key ({} ROOT_BACKREF {})", b, a)), "{}", root);
    assert!(!root.contains(&format!("key (FS_TREE ROOT_REF {})", b)), "{}", root);
}
