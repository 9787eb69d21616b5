// SPDX-License-Identifier: GPL-2.0

//! ioctls (C: `fs/btrfs/ioctl.c`, `include/uapi/linux/btrfs.h`).
//!
//! Every argument comes from user space: it is copied in whole, checked,
//! and answers are copied out through [`UserSlice`] (bad addresses are
//! `EFAULT`). Privileged commands check `CAP_SYS_ADMIN` as C btrfs does
//! (`EPERM`). Unknown commands are `ENOTTY`.
//!
//! - `BTRFS_IOC_INO_LOOKUP`: the path of a directory in a subvolume (`a/b/`).
//! - `BTRFS_IOC_INO_PATHS`: every path of an inode of the file's subvolume.
//! - `BTRFS_IOC_LOGICAL_INO` and `_V2`: the file ranges using a logical
//!   address, resolved on the commit roots with `commit_root_sem` held
//!   for read (C does the same when no transaction is running), so data
//!   written since the last commit is found once it commits (`sync`).

#![forbid(unsafe_code)]

use crate::backref::{self, BackrefError, Hit};
use crate::ctree::objectid;
use crate::disk_io::{with_commit_roots, with_view};
use crate::rfs::fs::BlockDevice;
use crate::rfs::ioctl::{capable_sys_admin, iowr, IoctlFile};
use crate::super_::Btrfs;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

/// `BTRFS_IOCTL_MAGIC`.
const MAGIC: u8 = 0x94;
/// `struct btrfs_ioctl_ino_lookup_args`: treeid, objectid, name[4080].
const INO_LOOKUP_ARGS: usize = 4096;
/// `BTRFS_INO_LOOKUP_PATH_MAX`.
const INO_LOOKUP_PATH_MAX: usize = 4080;
/// `struct btrfs_ioctl_ino_path_args` and `btrfs_ioctl_logical_ino_args`.
const PATH_ARGS: usize = 56;
/// `struct btrfs_data_container` before its `val[]`.
const CONTAINER_HEAD: usize = 16;

/// `BTRFS_IOC_INO_LOOKUP`.
pub(crate) const IOC_INO_LOOKUP: u32 = iowr(MAGIC, 18, INO_LOOKUP_ARGS);
/// `BTRFS_IOC_INO_PATHS`.
pub(crate) const IOC_INO_PATHS: u32 = iowr(MAGIC, 35, PATH_ARGS);
/// `BTRFS_IOC_LOGICAL_INO`.
pub(crate) const IOC_LOGICAL_INO: u32 = iowr(MAGIC, 36, PATH_ARGS);
/// `BTRFS_IOC_LOGICAL_INO_V2`.
pub(crate) const IOC_LOGICAL_INO_V2: u32 = iowr(MAGIC, 59, PATH_ARGS);
/// `BTRFS_LOGICAL_INO_ARGS_IGNORE_OFFSET`.
const LOGICAL_INO_IGNORE_OFFSET: u64 = 1;

/// Dispatches an ioctl on a file or directory of ours.
pub(crate) fn ioctl(f: &IoctlFile<'_, Btrfs>, cmd: u32, arg: usize) -> Result<i32> {
    match cmd {
        IOC_INO_LOOKUP => ino_lookup(f, arg),
        IOC_INO_PATHS => ino_paths(f, arg),
        IOC_LOGICAL_INO => logical_ino(f, arg, false),
        IOC_LOGICAL_INO_V2 => logical_ino(f, arg, true),
        _ => crate::subvol::ioctl(f, cmd, arg)
            .or_else(|| crate::ioctl_fs::ioctl(f, cmd, arg))
            .unwrap_or(Err(ENOTTY)),
    }
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    if let Some(s) = b.get_mut(off..off + 8) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// Copies the fixed-size argument at `arg` in.
fn read_args<const N: usize>(arg: usize) -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    UserSlice::new(arg, N).reader().read_slice(&mut buf)?;
    Ok(buf)
}

/// Maps a backref walk's failure to an errno, logging corruption.
fn walk_err(f: &IoctlFile<'_, Btrfs>, e: BackrefError<Error>) -> Error {
    let sb = f.inode().super_block();
    match e {
        BackrefError::Read(e) => e,
        BackrefError::NoMem => ENOMEM,
        BackrefError::Tree(t) => {
            btrfs_err_rl!(sb.data().geo.rl, sb.id(), "{}", t);
            crate::rfs::errno::euclean()
        }
        BackrefError::Item(i) => {
            btrfs_err_rl!(sb.data().geo.rl, sb.id(), "{}", i);
            crate::rfs::errno::euclean()
        }
    }
}

/// `BTRFS_IOC_INO_LOOKUP` (C: `btrfs_ioctl_ino_lookup`): tree 0 means the
/// file's own subvolume; the top directory needs no privilege.
fn ino_lookup(f: &IoctlFile<'_, Btrfs>, arg: usize) -> Result<i32> {
    let mut args = KVec::from_elem(0u8, INO_LOOKUP_ARGS, GFP_KERNEL)?;
    UserSlice::new(arg, INO_LOOKUP_ARGS).reader().read_slice(&mut args)?;
    let inode = f.inode();
    let mut tree = u64_at(&args, 0);
    let dir = u64_at(&args, 8);
    if tree == 0 {
        tree = inode.data().root;
        put_u64(&mut args, 0, tree);
    }
    let name = args.get_mut(16..).ok_or(EINVAL)?;
    if dir == objectid::FIRST_FREE {
        name[0] = 0;
    } else {
        if !capable_sys_admin() {
            return Err(EPERM);
        }
        let path = with_view(inode.super_block(), |v| {
            // A tree id from user space: a missing one is not an error
            // worth logging.
            let root = v.state.root(tree).ok_or(ENOENT)?;
            backref::dir_path(v.overlay(), &root, dir).map_err(|e| walk_err(f, e))
        })?;
        let path = path.ok_or(ENOENT)?;
        if path.len() >= INO_LOOKUP_PATH_MAX {
            return Err(crate::rfs::errno::enametoolong());
        }
        name[..path.len()].copy_from_slice(&path);
        name[path.len()] = 0;
    }
    UserSlice::new(arg, INO_LOOKUP_ARGS).writer().write_slice(&args)?;
    Ok(0)
}

/// A `struct btrfs_data_container` of `size` bytes (C:
/// `init_data_container`): its header, and the room left after it.
struct Container {
    bytes_left: u32,
    bytes_missing: u32,
    elem_cnt: u32,
    elem_missed: u32,
}

impl Container {
    fn new(size: usize) -> Self {
        let (bytes_left, bytes_missing) = match size.checked_sub(CONTAINER_HEAD) {
            Some(left) => (left as u32, 0),
            None => (0, (CONTAINER_HEAD - size) as u32),
        };
        Container { bytes_left, bytes_missing, elem_cnt: 0, elem_missed: 0 }
    }

    fn head(&self) -> [u8; CONTAINER_HEAD] {
        let mut h = [0u8; CONTAINER_HEAD];
        put_u32(&mut h, 0, self.bytes_left);
        put_u32(&mut h, 4, self.bytes_missing);
        put_u32(&mut h, 8, self.elem_cnt);
        put_u32(&mut h, 12, self.elem_missed);
        h
    }
}

/// `BTRFS_IOC_INO_PATHS` (C: `btrfs_ioctl_ino_to_path`): the paths go at
/// the end of the buffer, packed backwards, each NUL-terminated; `val[i]`
/// is the offset of path `i` from `val[0]`.
fn ino_paths(f: &IoctlFile<'_, Btrfs>, arg: usize) -> Result<i32> {
    if !capable_sys_admin() {
        return Err(EPERM);
    }
    let args = read_args::<PATH_ARGS>(arg)?;
    let (ino, size, out) = (u64_at(&args, 0), u64_at(&args, 8).min(4096) as usize, u64_at(&args, 48));
    let inode = f.inode();
    let root_id = inode.data().root;
    let paths = with_view(inode.super_block(), |v| {
        let root = v.root(root_id)?;
        backref::inode_paths(v.overlay(), &root, ino).map_err(|e| walk_err(f, e))
    })?;
    if paths.is_empty() {
        return Err(ENOENT);
    }
    let mut c = Container::new(size);
    let mut buf = KVec::from_elem(0u8, size.max(CONTAINER_HEAD), GFP_KERNEL)?;
    // The free area is [val + 8 * elem_cnt, end): each path takes its
    // slot at the front and its bytes at the back.
    let mut end = size.max(CONTAINER_HEAD);
    for p in paths.iter() {
        let need = p.len() + 1;
        let front = CONTAINER_HEAD + 8 * (c.elem_cnt as usize + 1);
        if end >= front + need && (c.bytes_left as usize) >= 8 + need {
            let start = end - need;
            buf[start..start + p.len()].copy_from_slice(p);
            buf[start + p.len()] = 0;
            put_u64(&mut buf, CONTAINER_HEAD + 8 * c.elem_cnt as usize, (start - CONTAINER_HEAD) as u64);
            c.elem_cnt += 1;
            end = start;
            c.bytes_left = (end - front) as u32;
        } else {
            c.elem_missed += 1;
            c.bytes_missing += (need + 8).saturating_sub(c.bytes_left as usize) as u32;
            c.bytes_left = 0;
        }
    }
    let head = c.head();
    let n = size.min(CONTAINER_HEAD);
    buf[..n].copy_from_slice(&head[..n]);
    UserSlice::new(out as usize, size).writer().write_slice(&buf[..size])?;
    Ok(0)
}

/// `BTRFS_IOC_LOGICAL_INO` (`v2`: `_V2`; C: `btrfs_ioctl_logical_to_ino`):
/// (inode, file offset, root) triples, 24 bytes each, after the header.
fn logical_ino(f: &IoctlFile<'_, Btrfs>, arg: usize, v2: bool) -> Result<i32> {
    if !capable_sys_admin() {
        return Err(EPERM);
    }
    let args = read_args::<PATH_ARGS>(arg)?;
    let (logical, size, flags, out) = (u64_at(&args, 0), u64_at(&args, 8), u64_at(&args, 40), u64_at(&args, 48));
    let (size, ignore_offset) = if v2 {
        if args[16..40].iter().any(|&b| b != 0) || flags & !LOGICAL_INO_IGNORE_OFFSET != 0 {
            return Err(EINVAL);
        }
        (size.min(16 << 20) as usize, flags & LOGICAL_INO_IGNORE_OFFSET != 0)
    } else {
        (size.min(64 << 10) as usize, false)
    };
    let sb = f.inode().super_block();
    let nodesize = sb.data().geo.nodesize;
    let hits = with_commit_roots(sb, |v| {
        let extent_root = v.roots.node(objectid::EXTENT_TREE).ok_or(ENOENT)?;
        let roots = |id: u64| v.roots.node(id);
        backref::inodes_from_logical(&v.reader, &extent_root, &roots, logical, nodesize, ignore_offset)
            .map_err(|e| walk_err(f, e))
    })?
    .ok_or(ENOENT)?;
    let mut c = Container::new(size);
    let fit = hits.iter().take_while(|_| {
        if c.bytes_left >= 24 {
            c.bytes_left -= 24;
            c.elem_cnt += 3;
            true
        } else {
            false
        }
    }).count();
    for _ in fit..hits.len() {
        c.bytes_missing += 24 - c.bytes_left;
        c.bytes_left = 0;
        c.elem_missed += 3;
    }
    let mut w = UserSlice::new(out as usize, size).writer();
    let head = c.head();
    w.write_slice(&head[..size.min(CONTAINER_HEAD)])?;
    for &Hit { ino, offset, root } in hits.iter().take(fit) {
        let mut e = [0u8; 24];
        put_u64(&mut e, 0, ino);
        put_u64(&mut e, 8, offset);
        put_u64(&mut e, 16, root);
        w.write_slice(&e)?;
    }
    Ok(0)
}
