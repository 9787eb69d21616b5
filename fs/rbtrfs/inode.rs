// SPDX-License-Identifier: GPL-2.0

//! Inodes and directories (C: `fs/btrfs/inode.c`).
//!
//! An inode is found by (subvolume root, objectid): its INODE_ITEM gives
//! the attributes. A name is looked up through the DIR_ITEM keyed by the
//! name's crc32c hash (several names may share one item); readdir walks
//! the DIR_INDEX items in index order, positions 0 and 1 being `.` and
//! `..`, so `f_pos` is the next index and stays stable across calls.

#![forbid(unsafe_code)]

use crate::checksum::name_hash;
use crate::ctree::{key_type, objectid, Key, Path};
use crate::disk_io::{Reader, RootLoc};
use crate::items::{file_type, DirItemIter, InodeItem};
use crate::rfs::errno;
use crate::rfs::fs::{BlockDevice, SuperBlock};
use crate::rfs::inode::{DirEmitter, INode, INodeKey, INodeParams, INodeType, Lookup, Timespec};
use crate::super_::Btrfs;
use kernel::prelude::*;
use kernel::types::ARef;

/// Longest name btrfs stores.
const NAME_MAX: usize = 255;

/// The in-memory btrfs inode (C: `struct btrfs_inode`).
pub(crate) struct BtrfsInode {
    /// The subvolume root the inode lives in.
    pub(crate) root: RootLoc,
    /// `BTRFS_INODE_*` flags.
    pub(crate) flags: u64,
}

/// A reader over a mounted superblock.
pub(crate) fn reader(sb: &SuperBlock<Btrfs>) -> Reader<'_, SuperBlock<Btrfs>> {
    Reader { dev: sb, geo: &sb.data().geo }
}

/// The root directory of the mounted subvolume.
pub(crate) fn root(sb: &SuperBlock<Btrfs>) -> Result<ARef<INode<Btrfs>>> {
    let root = sb.data().fs_root;
    iget(sb, root, objectid::FIRST_FREE)
}

/// Gets inode `ino` of `root`, reading it from disk if not cached.
pub(crate) fn iget(sb: &SuperBlock<Btrfs>, root: RootLoc, ino: u64) -> Result<ARef<INode<Btrfs>>> {
    match sb.get_inode(INodeKey { root: root.id, ino })? {
        Lookup::Cached(inode) => Ok(inode),
        // If reading fails, dropping `new` marks the inode bad.
        Lookup::New(new) => new.init(read_inode(sb, root, ino)?),
    }
}

fn time(t: crate::items::Timespec) -> Timespec {
    Timespec { sec: t.sec as i64, nsec: t.nsec }
}

/// Reads the INODE_ITEM of `ino` (C: `btrfs_read_locked_inode`).
fn read_inode(sb: &SuperBlock<Btrfs>, root: RootLoc, ino: u64) -> Result<INodeParams<BtrfsInode>> {
    let r = reader(sb);
    let mut path = Path::new();
    if !r.search(&root, &Key::new(ino, key_type::INODE_ITEM, 0), &mut path)? {
        btrfs_err!(sb.id(), "inode {} of root {} not found", ino, root.id);
        return Err(errno::euclean());
    }
    let item = path.item().map_err(|e| r.tree_err(e))?.ok_or(EIO)?;
    let ii = InodeItem::new(item.data).ok_or_else(|| {
        r.tree_err(format_args!("root {} ino {}: inode item too small ({} bytes)", root.id, ino, item.data.len()))
    })?;
    let typ = INodeType::from_mode(ii.mode()).ok_or_else(|| {
        r.tree_err(format_args!("root {} ino {}: invalid mode 0{:o}", root.id, ino, ii.mode()))
    })?;
    Ok(INodeParams {
        typ,
        mode: (ii.mode() & 0o7777) as u16,
        size: ii.size(),
        nlink: ii.nlink(),
        uid: ii.uid(),
        gid: ii.gid(),
        rdev: ii.rdev() as u32,
        blocks: ii.nbytes() / 512,
        atime: time(ii.atime()),
        mtime: time(ii.mtime()),
        ctime: time(ii.ctime()),
        generation: ii.generation(),
        data: BtrfsInode { root, flags: ii.flags() },
    })
}

/// The VFS type of a directory entry's `BTRFS_FT_*` type.
fn entry_type(ft: u8) -> Option<INodeType> {
    Some(match ft {
        file_type::REG_FILE => INodeType::Reg,
        file_type::DIR => INodeType::Dir,
        file_type::CHRDEV => INodeType::Chr,
        file_type::BLKDEV => INodeType::Blk,
        file_type::FIFO => INodeType::Fifo,
        file_type::SOCK => INodeType::Sock,
        file_type::SYMLINK => INodeType::Lnk,
        _ => return None,
    })
}

/// Looks `name` up in `dir` (C: `btrfs_lookup`).
pub(crate) fn lookup(dir: &INode<Btrfs>, name: &[u8]) -> Result<Option<ARef<INode<Btrfs>>>> {
    if name.len() > NAME_MAX {
        return Err(errno::enametoolong());
    }
    let sb = dir.super_block();
    let r = reader(sb);
    let root = dir.data().root;
    let mut path = Path::new();
    let key = Key::new(dir.ino(), key_type::DIR_ITEM, u64::from(name_hash(name)));
    if !r.search(&root, &key, &mut path)? {
        return Ok(None);
    }
    let item = path.item().map_err(|e| r.tree_err(e))?.ok_or(EIO)?;
    for entry in DirItemIter::new(item.data) {
        let entry = entry.map_err(|e| r.tree_err(e))?;
        if entry.name != name {
            continue;
        }
        let loc = entry.head.location();
        if loc.ty == key_type::ROOT_ITEM {
            btrfs_warn!(sb.id(), "subvolume {} in directory {}: crossing into subvolumes is not supported yet",
                loc.objectid, dir.ino());
            return Err(errno::eopnotsupp());
        }
        drop(path);
        return iget(sb, root, loc.objectid).map(Some);
    }
    Ok(None)
}

/// readdir (C: `btrfs_real_readdir`): `.`, `..`, then DIR_INDEX order.
pub(crate) fn read_dir(dir: &INode<Btrfs>, emitter: &mut DirEmitter<'_>) -> Result {
    if !emitter.emit_dots() {
        return Ok(());
    }
    let sb = dir.super_block();
    let r = reader(sb);
    let root = dir.data().root;
    let ino = dir.ino();
    let start = emitter.pos().max(2) as u64;
    let mut path = Path::new();
    r.search(&root, &Key::new(ino, key_type::DIR_INDEX, start), &mut path)?;
    while let Some(item) = path.item().map_err(|e| r.tree_err(e))? {
        if item.key.objectid != ino || item.key.ty != key_type::DIR_INDEX {
            break;
        }
        for entry in DirItemIter::new(item.data) {
            let entry = entry.map_err(|e| r.tree_err(e))?;
            let typ = entry_type(entry.head.ty()).ok_or_else(|| {
                r.tree_err(format_args!("dir {} index {}: bad entry type {}", ino, item.key.offset, entry.head.ty()))
            })?;
            let loc = entry.head.location();
            // A subvolume shows as its root directory, as in C btrfs.
            let child = if loc.ty == key_type::ROOT_ITEM { objectid::FIRST_FREE } else { loc.objectid };
            if !emitter.emit(entry.name, child, typ) {
                return Ok(());
            }
        }
        emitter.set_pos(item.key.offset as i64 + 1);
        if !r.next(&mut path)? {
            break;
        }
    }
    Ok(())
}
