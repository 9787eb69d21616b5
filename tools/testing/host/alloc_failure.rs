// SPDX-License-Identifier: GPL-2.0
//! An allocation that fails in the middle of an operation on shared tree
//! blocks (the kernel's allocations can fail; here the host vectors fail
//! on purpose, `mem::FAIL_NTH_ALLOC`) must never let a commit write half
//! of the operation: either nothing had changed yet and the transaction
//! goes on, or the transaction is aborted and the disk keeps the last
//! commit. `btrfs check` judges the disk after every injected failure, at
//! every allocation of each operation.
//!
//! The operations copy on write blocks shared with snapshots, where one
//! change is many queued references (C: `update_ref_for_cow`,
//! `btrfs_inc_ref`): before `run_op` aborted such a transaction, a failure
//! there left a copy linked without its references, and the next commit
//! wrote it (a block whose full backrefs nobody points at, data
//! referenced by a tree that has no backref for it).
//!
//! The knob is process-wide: this binary holds this one test.

mod common;
mod image;
mod rw;

use common::{mkfs, Scratch};
use image::Image;
use rbtrfs_core::ctree::{key_type, objectid, Key};
use rbtrfs_core::error::{Errno, ENOMEM, EROFS};
use rbtrfs_core::file_item as fi;
use rbtrfs_core::inode_ops;
use rbtrfs_core::items::Timespec;
use rbtrfs_core::mem::FAIL_NTH_ALLOC;
use rbtrfs_core::root_tree;
use rbtrfs_core::snapshot::{self, SnapshotParams};
use rbtrfs_core::transaction::{commit, run_op, FsState, Trans};
use rw::{btrfs_check, open_rw};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

fn now(s: u64) -> Timespec {
    Timespec { sec: 1_700_000_000 + s, nsec: 0 }
}

fn ino_of(t: &Trans<'_, Image>, root: u64, name: &str) -> u64 {
    inode_ops::lookup(t, root, 256, name.as_bytes()).unwrap().unwrap().0
}

fn snap(fs: &mut FsState, image: &Image, dev: &rw::FileDev, src: u64, at_sec: u64) -> u64 {
    commit(fs, image, dev).unwrap();
    let id = {
        let mut t = Trans::new(fs, image).unwrap();
        let id = root_tree::find_free_objectid(&t).unwrap();
        let uuid = [id as u8; 16];
        let p = SnapshotParams { uuid, readonly: false, otime: now(at_sec), ctransid: 0, ctime: now(at_sec) };
        snapshot::create_snapshot(&mut t, src, id, &p).unwrap();
        let loc = Key::new(id, key_type::ROOT_ITEM, u64::MAX);
        root_tree::link_names(&mut t, id, &uuid, loc, (objectid::FS_TREE, 256), format!("s{}", id).as_bytes(), now(at_sec))
            .unwrap();
        id
    };
    commit(fs, image, dev).unwrap();
    id
}

/// The starting image: 400 files in tree 5 (4 KiB nodes: a tree of
/// several levels), snapshot 256 of it, tree 5 changed (its copies of
/// shared leaves: the old ones become FULL_BACKREF, referenced by 256
/// alone), snapshot 257 of 256, and 256 deleted, not dropped yet.
fn base_image(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..400 {
        let len = if i % 3 == 0 { 300 } else { 4096 * (1 + i % 5) };
        let data: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
        std::fs::write(src.join(format!("f{:04}", i)), data).unwrap();
    }
    let img = mkfs(dir, "base.img", 256 << 20, &["-n", "4096", "--rootdir", src.to_str().unwrap()]);
    let (image, mut fs, dev) = open_rw(&img);
    let s1 = snap(&mut fs, &image, &dev, objectid::FS_TREE, 1);
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        for i in (0..400).step_by(9) {
            let ino = ino_of(&t, objectid::FS_TREE, &format!("f{:04}", i));
            inode_ops::set_xattr(&mut t, objectid::FS_TREE, ino, (b"user.a", b"5"), 0, now(2)).unwrap();
        }
    }
    let s2 = snap(&mut fs, &image, &dev, s1, 3);
    assert_eq!((s1, s2), (256, 257));
    {
        let mut t = Trans::new(&mut fs, &image).unwrap();
        root_tree::unlink_subvol(&mut t, 256, (objectid::FS_TREE, 256), b"s256", now(4)).unwrap();
    }
    commit(&mut fs, &image, &dev).unwrap();
    drop(fs);
    drop(image);
    btrfs_check(&img);
    img
}

type Op = fn(&mut Trans<'_, Image>) -> Result<(), Errno>;

/// Changes in snapshot 257 to files whose leaves it shares with the
/// deleted 256 (and tree 5): xattrs, a truncation, an unlink.
fn change_257(t: &mut Trans<'_, Image>) -> Result<(), Errno> {
    for i in [1u64, 40, 200, 390] {
        let ino = ino_of(t, 257, &format!("f{:04}", i));
        inode_ops::set_xattr(t, 257, ino, (b"user.b", b"7"), 0, now(5))?;
    }
    let ino = ino_of(t, 257, "f0101");
    fi::truncate(t, 257, ino, 4096)?;
    let (ino, _) = inode_ops::unlink(t, 257, 256, b"f0302", now(6))?;
    inode_ops::remove_inode(t, 257, ino, |t| fi::drop_extents(t, 257, ino, 0, u64::MAX).map(|_| ()))
}

/// A cleaner step of the deleted 256: full backrefs for the blocks 257
/// still shares.
fn drop_256(t: &mut Trans<'_, Image>) -> Result<(), Errno> {
    snapshot::drop_tree_step(t, 256, 40).map(|_| ())
}

/// Runs `op` with the `n`th allocation failing, commits, and checks the
/// disk; returns whether the failure was hit and whether it aborted the
/// transaction.
fn inject(base: &Path, work: &Path, op: Op, n: u64) -> (bool, bool) {
    std::fs::copy(base, work).unwrap();
    let (image, mut fs, dev) = open_rw(work);
    FAIL_NTH_ALLOC.store(n, Relaxed);
    let r = run_op(&mut fs, &image, op);
    let left = FAIL_NTH_ALLOC.swap(0, Relaxed);
    let hit = left == 0;
    match r {
        Ok(()) => assert!(!hit || n == 0, "allocation {} failed and the operation succeeded", n),
        Err(e) => assert_eq!(e, ENOMEM, "allocation {}: {:?}", n, e),
    }
    let aborted = fs.aborted;
    if aborted {
        assert_eq!(commit(&mut fs, &image, &dev).unwrap_err(), EROFS);
    } else if fs.has_changes() {
        // (The kernel commits only a transaction that changed something.)
        commit(&mut fs, &image, &dev).unwrap();
    }
    drop(fs);
    drop(image);
    btrfs_check(work);
    (hit, aborted)
}

#[test]
fn allocation_failure_never_commits_half_an_operation() {
    let dir = Scratch::new("alloc-fail");
    let base = base_image(&dir.0);
    let work = dir.0.join("work.img");
    for (name, op) in [("change 257", change_257 as Op), ("drop 256", drop_256 as Op)] {
        // Every allocation up to 80, then every ~12th part of the way on.
        let (mut n, mut tried, mut aborted) = (1u64, 0, 0);
        loop {
            let (hit, abort) = inject(&base, &work, op, n);
            if !hit {
                break;
            }
            tried += 1;
            aborted += usize::from(abort);
            n += if n < 80 { 1 } else { n / 12 };
        }
        eprintln!("{}: {} allocations failed in turn ({} aborted the transaction), disk clean after each", name, tried, aborted);
        assert!(tried >= 5, "{}: only {} allocations", name, tried);
    }
}
