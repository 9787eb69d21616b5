// SPDX-License-Identifier: GPL-2.0

//! ioctls about the whole filesystem, its device and its trees (C:
//! `fs/btrfs/ioctl.c`), as `btrfs filesystem show/df/usage/sync/label`,
//! `btrfs device stats`, `btrfs subvolume list/show` and `btrfs
//! inspect-internal` use them:
//!
//! - `FS_INFO`, `DEV_INFO`, `SPACE_INFO` (with the global reserve sized as C
//!   sizes it; rbtrfs keeps none, so its `used` is 0), `GET_DEV_STATS` (the
//!   persistent counters of the dev tree; rbtrfs counts no errors itself);
//! - `GET_FEATURES`, `GET_SUPPORTED_FEATURES`, `SET_FEATURES` (nothing can
//!   be changed while mounted: `EPERM`, `EOPNOTSUPP` for unknown bits);
//! - `SYNC` (`syncfs`), `START_SYNC` (commits the running transaction if it
//!   changed anything and returns its id, else the last committed one),
//!   `WAIT_SYNC`; the first two wake the cleaner, as in C;
//! - `FS_IOC_GETFSLABEL`, `FS_IOC_SETFSLABEL` (a commit with the new label);
//! - `TREE_SEARCH`, `TREE_SEARCH_V2` (any tree, on the current trees, leaf
//!   by leaf: [`crate::tree_search`]);
//! - `GET_SUBVOL_INFO`, `GET_SUBVOL_ROOTREF`, `INO_LOOKUP_USER`,
//!   `SUBVOL_GETFLAGS`, `FS_IOC_GETVERSION`.
//!
//! Answers are built in kernel memory under the state lock and copied out
//! after it is dropped: a fault on the user's buffer may read a folio of
//! this very filesystem, which takes the state lock.

#![forbid(unsafe_code)]

use crate::block_group::{global_rsv_size, SPACE_INFO_GLOBAL_RSV};
use crate::ctree::{key_type, objectid, Key};
use crate::disk_io::{commit, with_view, VPath, View};
use crate::format::{self, compat_ro, incompat, SuperBlock as DiskSuper};
use crate::items::{InodeRefIter, Root, RootItem, RootRef, ROOT_SUBVOL_RDONLY};
use crate::rfs::fs::BlockDevice;
use crate::rfs::ioctl::{capable_sys_admin, io, ior, iow, iowr, IoctlFile, MAY_EXEC, MAY_READ};
use crate::super_::Btrfs;
use crate::tree_search::{self, Cursor, SearchFail, SearchKey, Step, NR_ITEMS_OFFSET, SEARCH_KEY_SIZE};
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

/// `BTRFS_IOCTL_MAGIC`.
const MAGIC: u8 = 0x94;
/// `struct btrfs_ioctl_fs_info_args`.
const FS_INFO_ARGS: usize = 1024;
/// `struct btrfs_ioctl_dev_info_args`.
const DEV_INFO_ARGS: usize = 4096;
/// Offset of its `path` (`BTRFS_DEVICE_PATH_NAME_MAX` bytes).
const DEV_INFO_PATH: usize = 4096 - 1024;
/// `struct btrfs_ioctl_space_args` (before `spaces[]`).
const SPACE_ARGS: usize = 16;
/// `struct btrfs_ioctl_space_info`.
const SPACE_INFO: usize = 24;
/// `struct btrfs_ioctl_get_dev_stats`.
const DEV_STATS_ARGS: usize = 1032;
/// `BTRFS_DEV_STAT_VALUES_MAX`.
const DEV_STAT_VALUES: usize = 5;
/// `BTRFS_DEV_STATS_RESET`.
const DEV_STATS_RESET: u64 = 1;
/// `struct btrfs_ioctl_feature_flags`.
const FEATURE_FLAGS: usize = 24;
/// `struct btrfs_ioctl_search_args`.
const SEARCH_ARGS: usize = 4096;
/// `struct btrfs_ioctl_search_args_v2` (before `buf[]`).
const SEARCH_ARGS_V2: usize = SEARCH_KEY_SIZE + 8;
/// Largest buffer a `TREE_SEARCH_V2` fills.
const SEARCH_V2_LIMIT: u64 = 16 << 20;
/// `struct btrfs_ioctl_get_subvol_info_args`.
const SUBVOL_INFO_ARGS: usize = 504;
/// `struct btrfs_ioctl_get_subvol_rootref_args`.
const ROOTREF_ARGS: usize = 4096;
/// `BTRFS_MAX_ROOTREF_BUFFER_NUM`.
const MAX_ROOTREFS: usize = 255;
/// `struct btrfs_ioctl_ino_lookup_user_args`.
const INO_LOOKUP_USER_ARGS: usize = 4096;
/// `BTRFS_VOL_NAME_MAX + 1`.
const VOL_NAME: usize = 256;
/// `BTRFS_INO_LOOKUP_USER_PATH_MAX`.
const LOOKUP_USER_PATH_MAX: usize = 4080 - 255 - 1;
/// `BTRFS_LABEL_SIZE`.
const LABEL_SIZE: usize = 256;
/// `BTRFS_SUBVOL_RDONLY`.
pub(crate) const SUBVOL_RDONLY: u64 = 1 << 1;

/// `BTRFS_FS_INFO_FLAG_CSUM_INFO`.
const FS_INFO_CSUM_INFO: u64 = 1 << 0;
/// `BTRFS_FS_INFO_FLAG_GENERATION`.
const FS_INFO_GENERATION: u64 = 1 << 1;
/// `BTRFS_FS_INFO_FLAG_METADATA_UUID`.
const FS_INFO_METADATA_UUID: u64 = 1 << 2;

/// `BTRFS_IOC_SYNC`.
pub(crate) const IOC_SYNC: u32 = io(MAGIC, 8);
/// `BTRFS_IOC_TREE_SEARCH`.
pub(crate) const IOC_TREE_SEARCH: u32 = iowr(MAGIC, 17, SEARCH_ARGS);
/// `BTRFS_IOC_TREE_SEARCH_V2`.
pub(crate) const IOC_TREE_SEARCH_V2: u32 = iowr(MAGIC, 17, SEARCH_ARGS_V2);
/// `BTRFS_IOC_SPACE_INFO`.
pub(crate) const IOC_SPACE_INFO: u32 = iowr(MAGIC, 20, SPACE_ARGS);
/// `BTRFS_IOC_WAIT_SYNC`.
pub(crate) const IOC_WAIT_SYNC: u32 = iow(MAGIC, 22, 8);
/// `BTRFS_IOC_START_SYNC`.
pub(crate) const IOC_START_SYNC: u32 = ior(MAGIC, 24, 8);
/// `BTRFS_IOC_SUBVOL_GETFLAGS`.
pub(crate) const IOC_SUBVOL_GETFLAGS: u32 = ior(MAGIC, 25, 8);
/// `BTRFS_IOC_DEV_INFO`.
pub(crate) const IOC_DEV_INFO: u32 = iowr(MAGIC, 30, DEV_INFO_ARGS);
/// `BTRFS_IOC_FS_INFO`.
pub(crate) const IOC_FS_INFO: u32 = ior(MAGIC, 31, FS_INFO_ARGS);
/// `FS_IOC_GETFSLABEL` (`BTRFS_IOC_GET_FSLABEL`).
pub(crate) const IOC_GET_FSLABEL: u32 = ior(MAGIC, 49, LABEL_SIZE);
/// `FS_IOC_SETFSLABEL` (`BTRFS_IOC_SET_FSLABEL`).
pub(crate) const IOC_SET_FSLABEL: u32 = iow(MAGIC, 50, LABEL_SIZE);
/// `BTRFS_IOC_GET_DEV_STATS`.
pub(crate) const IOC_GET_DEV_STATS: u32 = iowr(MAGIC, 52, DEV_STATS_ARGS);
/// `BTRFS_IOC_GET_FEATURES`.
pub(crate) const IOC_GET_FEATURES: u32 = ior(MAGIC, 57, FEATURE_FLAGS);
/// `BTRFS_IOC_SET_FEATURES`.
pub(crate) const IOC_SET_FEATURES: u32 = iow(MAGIC, 57, 2 * FEATURE_FLAGS);
/// `BTRFS_IOC_GET_SUPPORTED_FEATURES`.
pub(crate) const IOC_GET_SUPPORTED_FEATURES: u32 = ior(MAGIC, 57, 3 * FEATURE_FLAGS);
/// `BTRFS_IOC_GET_SUBVOL_INFO`.
pub(crate) const IOC_GET_SUBVOL_INFO: u32 = ior(MAGIC, 60, SUBVOL_INFO_ARGS);
/// `BTRFS_IOC_GET_SUBVOL_ROOTREF`.
pub(crate) const IOC_GET_SUBVOL_ROOTREF: u32 = iowr(MAGIC, 61, ROOTREF_ARGS);
/// `BTRFS_IOC_INO_LOOKUP_USER`.
pub(crate) const IOC_INO_LOOKUP_USER: u32 = iowr(MAGIC, 62, INO_LOOKUP_USER_ARGS);
/// `FS_IOC_GETVERSION`.
pub(crate) const IOC_GETVERSION: u32 = ior(b'v', 1, 8);

type F<'a> = IoctlFile<'a, Btrfs>;

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(s) = b.get_mut(off..off + v.len()) {
        s.copy_from_slice(v);
    }
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    put(b, off, &v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    put(b, off, &v.to_le_bytes());
}

/// The user address `arg + off` (`EFAULT` if it wraps).
fn uaddr(arg: usize, off: usize) -> Result<usize> {
    arg.checked_add(off).ok_or(EFAULT)
}

/// Copies `N` bytes in from `arg`.
fn read_in<const N: usize>(arg: usize) -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    UserSlice::new(arg, N).reader().read_slice(&mut buf)?;
    Ok(buf)
}

/// Copies `len` bytes in from `arg` into a heap buffer.
pub(crate) fn read_heap(arg: usize, len: usize) -> Result<KVec<u8>> {
    let mut buf = KVec::from_elem(0u8, len, GFP_KERNEL)?;
    UserSlice::new(arg, len).reader().read_slice(&mut buf)?;
    Ok(buf)
}

/// Copies `buf` out to `arg`.
pub(crate) fn write_out(arg: usize, buf: &[u8]) -> Result {
    UserSlice::new(arg, buf.len()).writer().write_slice(buf)
}

/// The superblock as last written, with `f` looking at it under the state
/// lock.
fn with_super<R>(f: &F<'_>, g: impl FnOnce(&DiskSuper<'_>, &crate::transaction::FsState) -> Result<R>) -> Result<R> {
    let sb = f.inode().super_block();
    let st = sb.data().state.lock();
    let s = DiskSuper::new(&st.sb).ok_or(EIO)?;
    g(&s, &st)
}

/// Dispatches the commands of this file; `None` for the others.
pub(crate) fn ioctl(f: &F<'_>, cmd: u32, arg: usize) -> Option<Result<i32>> {
    let r = match cmd {
        IOC_FS_INFO => fs_info(f, arg),
        IOC_DEV_INFO => dev_info(f, arg),
        IOC_SPACE_INFO => space_info(f, arg),
        IOC_GET_DEV_STATS => dev_stats(f, arg),
        IOC_GET_FEATURES => get_features(f, arg),
        IOC_GET_SUPPORTED_FEATURES => supported_features(arg),
        IOC_SET_FEATURES => set_features(f, arg),
        IOC_SYNC => {
            let sb = f.inode().super_block();
            let r = sb.sync();
            crate::subvol::wake_cleaner(sb);
            r
        }
        IOC_START_SYNC => start_sync(f, arg),
        IOC_WAIT_SYNC => wait_sync(f, arg),
        IOC_GET_FSLABEL => get_label(f, arg),
        IOC_SET_FSLABEL => set_label(f, arg),
        IOC_TREE_SEARCH => tree_search_v1(f, arg),
        IOC_TREE_SEARCH_V2 => tree_search_v2(f, arg),
        IOC_GET_SUBVOL_INFO => subvol_info(f, arg),
        IOC_GET_SUBVOL_ROOTREF => subvol_rootref(f, arg),
        IOC_INO_LOOKUP_USER => ino_lookup_user(f, arg),
        IOC_SUBVOL_GETFLAGS => subvol_getflags(f, arg),
        // C: `put_user(inode->i_generation, (int __user *)arg)`.
        IOC_GETVERSION => write_out(arg, &f.inode().generation().to_le_bytes()[..4]),
        _ => return None,
    };
    Some(r.map(|()| 0))
}

/// `BTRFS_IOC_FS_INFO` (C: `btrfs_ioctl_fs_info`): one device; the
/// checksum, generation and metadata uuid when asked for by `flags`.
fn fs_info(f: &F<'_>, arg: usize) -> Result {
    let flags_in = u64_at(&read_heap(arg, FS_INFO_ARGS)?, 48);
    let mut out = KVec::from_elem(0u8, FS_INFO_ARGS, GFP_KERNEL)?;
    with_super(f, |s, st| {
        let mut flags = 0;
        put_u64(&mut out, 0, s.dev_item().devid());
        put_u64(&mut out, 8, 1);
        put(&mut out, 16, s.fsid());
        put_u32(&mut out, 32, s.nodesize());
        put_u32(&mut out, 36, s.sectorsize());
        put_u32(&mut out, 40, s.sectorsize());
        if flags_in & FS_INFO_CSUM_INFO != 0 {
            put(&mut out, 44, &s.csum_type().to_le_bytes());
            put(&mut out, 46, &(st.geo.csum_type.size() as u16).to_le_bytes());
            flags |= FS_INFO_CSUM_INFO;
        }
        if flags_in & FS_INFO_GENERATION != 0 {
            // C: the newest transaction started (the running one, if any).
            put_u64(&mut out, 56, if st.has_changes() { st.transid() } else { st.generation });
            flags |= FS_INFO_GENERATION;
        }
        if flags_in & FS_INFO_METADATA_UUID != 0 {
            let m = if s.incompat_flags() & incompat::METADATA_UUID != 0 { s.metadata_uuid() } else { s.fsid() };
            put(&mut out, 64, m);
            flags |= FS_INFO_METADATA_UUID;
        }
        put_u64(&mut out, 48, flags);
        Ok(())
    })?;
    write_out(arg, &out)
}

/// `BTRFS_IOC_DEV_INFO` (C: `btrfs_ioctl_dev_info`): the device with that
/// devid (and uuid, unless it is all zero); `ENODEV` otherwise. The path is
/// `/dev/` and the block device's name.
fn dev_info(f: &F<'_>, arg: usize) -> Result {
    let mut args = read_heap(arg, DEV_INFO_ARGS)?;
    let sb = f.inode().super_block();
    with_super(f, |s, _| {
        let d = s.dev_item();
        let uuid = &args[8..24];
        if u64_at(&args, 0) != d.devid() || (uuid.iter().any(|&b| b != 0) && uuid != d.uuid()) {
            return Err(ENODEV);
        }
        put(&mut args, 8, d.uuid());
        put_u64(&mut args, 24, d.bytes_used());
        put_u64(&mut args, 32, d.total_bytes());
        put(&mut args, 40, s.fsid());
        Ok(())
    })?;
    // `s_id` is at most 31 bytes: the path fits.
    let name = sb.id().as_bytes();
    let path = &mut args[DEV_INFO_PATH..];
    let n = name.len().min(path.len() - 6);
    path[..5].copy_from_slice(b"/dev/");
    path[5..5 + n].copy_from_slice(&name[..n]);
    path[5 + n] = 0;
    write_out(arg, &args)
}

/// `BTRFS_IOC_SPACE_INFO` (C: `btrfs_ioctl_space_info`): with
/// `space_slots` 0 only the count; else up to that many entries, the
/// global reserve last.
fn space_info(f: &F<'_>, arg: usize) -> Result {
    let mut head = read_in::<SPACE_ARGS>(arg)?;
    let sb = f.inode().super_block();
    let nodesize = sb.data().geo.nodesize;
    let (mut spaces, rsv) = with_view(sb, |v| {
        let spaces = v.state.bgs.space_report().map_err(|_| ENOMEM)?;
        let mut used = 0u64;
        let mut global = 0u32;
        for id in [objectid::ROOT_TREE, objectid::EXTENT_TREE, objectid::CSUM_TREE, objectid::FREE_SPACE_TREE] {
            if let Some(r) = root_item_bytes_used(v, id)? {
                used = used.saturating_add(r);
                global += u32::from(id != objectid::ROOT_TREE);
            }
        }
        let fst = DiskSuper::new(&v.state.sb).is_some_and(|s| s.compat_ro_flags() & compat_ro::FREE_SPACE_TREE != 0);
        Ok((spaces, global_rsv_size(nodesize, used, global, fst)))
    })?;
    spaces
        .push(crate::block_group::SpaceReport { flags: SPACE_INFO_GLOBAL_RSV, total_bytes: rsv, used_bytes: 0 })
        .map_err(|_| ENOMEM)?;
    let slots = u64_at(&head, 0);
    if slots == 0 {
        put_u64(&mut head, 8, spaces.len() as u64);
        return write_out(arg, &head);
    }
    let n = (slots.min(spaces.len() as u64)) as usize;
    if n * SPACE_INFO > kernel::page::PAGE_SIZE {
        return Err(ENOMEM);
    }
    let mut out = KVec::from_elem(0u8, n * SPACE_INFO, GFP_KERNEL)?;
    for (i, s) in spaces.iter().take(n).enumerate() {
        put_u64(&mut out, i * SPACE_INFO, s.flags);
        put_u64(&mut out, i * SPACE_INFO + 8, s.total_bytes);
        put_u64(&mut out, i * SPACE_INFO + 16, s.used_bytes);
    }
    write_out(uaddr(arg, SPACE_ARGS)?, &out)?;
    put_u64(&mut head, 8, n as u64);
    write_out(arg, &head)
}

/// `bytes_used` of tree `id`'s ROOT_ITEM (for the root tree: none is kept,
/// as in C's in-memory root item of the tree root, 0).
fn root_item_bytes_used(v: &View<'_>, id: u64) -> Result<Option<u64>> {
    if id == objectid::ROOT_TREE {
        return Ok(Some(0));
    }
    Ok(find_root_item(v, id)?.map(|(_, used, _)| used))
}

/// The ROOT_ITEM of tree `id` in the current root tree: (flags,
/// bytes_used, refs).
pub(crate) fn find_root_item(v: &View<'_>, id: u64) -> Result<Option<(u64, u64, u32)>> {
    let mut path = VPath::new();
    v.search(objectid::ROOT_TREE, &Key::new(id, key_type::ROOT_ITEM, 0), &mut path)?;
    let Some(item) = path.item().map_err(|e| v.tree_err(e))? else { return Ok(None) };
    if item.key.objectid != id || item.key.ty != key_type::ROOT_ITEM {
        return Ok(None);
    }
    let r = RootItem::new(item.data).ok_or_else(|| v.tree_err(format_args!("tree {}: root item too small", id)))?;
    Ok(Some((r.flags(), r.bytes_used(), r.refs())))
}

/// `BTRFS_IOC_GET_DEV_STATS` (C: `btrfs_ioctl_get_dev_stats`): the error
/// counters the dev tree keeps for the device (zero if it keeps none);
/// `RESET` needs `CAP_SYS_ADMIN`.
fn dev_stats(f: &F<'_>, arg: usize) -> Result {
    let mut args = read_heap(arg, DEV_STATS_ARGS)?;
    let flags = u64_at(&args, 16);
    if flags & DEV_STATS_RESET != 0 && !capable_sys_admin() {
        return Err(EPERM);
    }
    let sb = f.inode().super_block();
    let devid = u64_at(&args, 0);
    let values = with_view(sb, |v| {
        let d = DiskSuper::new(&v.state.sb).ok_or(EIO)?.dev_item().devid();
        if devid != d {
            return Ok(None);
        }
        let mut vals = [0u64; DEV_STAT_VALUES];
        let mut path = VPath::new();
        let key = Key::new(objectid::DEV_STATS, key_type::DEV_STATS, devid);
        if v.state.root(objectid::DEV_TREE).is_some() && v.search(objectid::DEV_TREE, &key, &mut path)? {
            let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(EIO)?;
            for (i, val) in vals.iter_mut().enumerate() {
                *val = u64_at(item.data, 8 * i);
            }
        }
        Ok(Some(vals))
    })?;
    let Some(values) = values else {
        btrfs_warn_rl!(sb.data().geo.rl, sb.id(), "get dev_stats failed, device not found");
        return Err(ENODEV);
    };
    if flags & DEV_STATS_RESET != 0 && values.iter().any(|&v| v != 0) {
        // Zeroing the persistent counters would take a change to the dev
        // tree, which rbtrfs does not make.
        return Err(crate::rfs::errno::eopnotsupp());
    }
    let nr = u64_at(&args, 8);
    for (i, v) in values.iter().enumerate() {
        if nr > i as u64 {
            put_u64(&mut args, 24 + 8 * i, *v);
        }
    }
    if nr > DEV_STAT_VALUES as u64 {
        put_u64(&mut args, 8, DEV_STAT_VALUES as u64);
    }
    write_out(arg, &args)
}

/// The feature bits rbtrfs knows: (compat, compat_ro, incompat).
const SUPPORTED: [u64; 3] = [0, compat_ro::SUPPORTED, incompat::SUPPORTED];

/// `BTRFS_IOC_GET_FEATURES`: the superblock's feature bits.
fn get_features(f: &F<'_>, arg: usize) -> Result {
    let mut out = [0u8; FEATURE_FLAGS];
    with_super(f, |s, _| {
        put_u64(&mut out, 0, s.compat_flags());
        put_u64(&mut out, 8, s.compat_ro_flags());
        put_u64(&mut out, 16, s.incompat_flags());
        Ok(())
    })?;
    write_out(arg, &out)
}

/// `BTRFS_IOC_GET_SUPPORTED_FEATURES`: what rbtrfs supports, and what it
/// can set or clear while mounted (nothing).
fn supported_features(arg: usize) -> Result {
    let mut out = [0u8; 3 * FEATURE_FLAGS];
    for (i, v) in SUPPORTED.iter().enumerate() {
        put_u64(&mut out, 8 * i, *v);
    }
    write_out(arg, &out)
}

/// `BTRFS_IOC_SET_FEATURES` (C: `btrfs_ioctl_set_features` and
/// `check_feature_bits`): `flags[0]` says which bits change, `flags[1]`
/// to what. Bits rbtrfs does not know are `EOPNOTSUPP`; it can neither set
/// nor clear any known one while mounted (`EPERM`); no change is success.
fn set_features(f: &F<'_>, arg: usize) -> Result {
    if !capable_sys_admin() {
        return Err(EPERM);
    }
    let a = read_in::<{ 2 * FEATURE_FLAGS }>(arg)?;
    let mask = [u64_at(&a, 0), u64_at(&a, 8), u64_at(&a, 16)];
    let value = [u64_at(&a, 24), u64_at(&a, 32), u64_at(&a, 40)];
    if mask.iter().all(|&m| m == 0) {
        return Ok(());
    }
    let sb = f.inode().super_block();
    for (i, name) in ["compat", "compat_ro", "incompat"].iter().enumerate() {
        let set = mask[i] & value[i];
        let clear = mask[i] & !value[i];
        if set & !SUPPORTED[i] != 0 {
            btrfs_warn_rl!(sb.data().geo.rl, sb.id(), "this kernel does not support {} bits 0x{:x}", name, set & !SUPPORTED[i]);
            return Err(crate::rfs::errno::eopnotsupp());
        }
        if set != 0 {
            btrfs_warn_rl!(sb.data().geo.rl, sb.id(), "can't set {} bits 0x{:x} while mounted", name, set);
            return Err(EPERM);
        }
        if clear != 0 {
            btrfs_warn_rl!(sb.data().geo.rl, sb.id(), "can't clear {} bits 0x{:x} while mounted", name, clear);
            return Err(EPERM);
        }
    }
    Ok(())
}

/// `BTRFS_IOC_START_SYNC` (C: `btrfs_ioctl_start_sync`): commits the
/// running transaction if it changed anything and returns its id (C starts
/// the commit without waiting; rbtrfs's commits are synchronous), else the
/// last committed transaction's. A NULL argument takes no answer.
fn start_sync(f: &F<'_>, arg: usize) -> Result {
    let sb = f.inode().super_block();
    let transid = {
        let st = sb.data().state.lock();
        if st.has_changes() && st.writable && !st.aborted { st.transid() } else { st.generation }
    };
    if transid != sb.data().state.lock().generation {
        // A commit of a transaction is the commit of the one running now,
        // or of one that already replaced it: either way `transid` is on
        // disk after this.
        commit(sb)?;
    }
    crate::subvol::wake_cleaner(sb);
    if arg != 0 {
        write_out(arg, &transid.to_le_bytes())?;
    }
    Ok(())
}

/// `BTRFS_IOC_WAIT_SYNC` (C: `btrfs_ioctl_wait_sync`): returns once
/// transaction `transid` (0: the one committing now, if any) is on disk.
/// A commit runs under the state lock, so taking it waits for one in
/// progress; the running transaction is committed; a later id is `EINVAL`.
fn wait_sync(f: &F<'_>, arg: usize) -> Result {
    let transid = if arg != 0 { u64::from_le_bytes(read_in::<8>(arg)?) } else { 0 };
    let sb = f.inode().super_block();
    let (generation, running) = {
        let st = sb.data().state.lock();
        if st.aborted {
            return Err(EROFS);
        }
        (st.generation, st.has_changes() && st.writable)
    };
    if transid == 0 || transid <= generation {
        return Ok(());
    }
    if running && transid == generation + 1 {
        return commit(sb);
    }
    Err(EINVAL)
}

/// `FS_IOC_GETFSLABEL` (C: `btrfs_ioctl_get_fslabel`): the label's bytes,
/// without the NUL (at most 255 of them).
fn get_label(f: &F<'_>, arg: usize) -> Result {
    let mut label = [0u8; LABEL_SIZE];
    let len = with_super(f, |s, _| {
        let l = s.label_bytes();
        let n = l.len().min(LABEL_SIZE - 1);
        label[..n].copy_from_slice(&l[..n]);
        Ok(n)
    })?;
    write_out(arg, &label[..len])
}

/// `FS_IOC_SETFSLABEL` (C: `btrfs_ioctl_set_fslabel`): `CAP_SYS_ADMIN`, a
/// NUL within the 256 bytes (else `EINVAL`), a writable mount; the new
/// label is committed at once.
fn set_label(f: &F<'_>, arg: usize) -> Result {
    if !capable_sys_admin() {
        return Err(EPERM);
    }
    let label = read_in::<LABEL_SIZE>(arg)?;
    let sb = f.inode().super_block();
    let Some(len) = label.iter().position(|&c| c == 0) else {
        btrfs_warn_rl!(sb.data().geo.rl, sb.id(), "unable to set label with more than {} bytes", LABEL_SIZE - 1);
        return Err(EINVAL);
    };
    let _w = f.want_write()?;
    crate::disk_io::with_trans(sb, |t| {
        t.reserve_metadata()?;
        // The superblock names the root tree's root with the new
        // generation: it must be copied (C: `commit_cowonly_roots`).
        t.with_root(objectid::ROOT_TREE, |t, r| {
            let mut p = crate::ctree_write::WPath::new();
            crate::ctree_write::search_slot(t, r, &Key::MIN, &mut p, 0, true).map(|_| ())
        })?;
        let mut s = format::SuperBlockMut::new(&mut t.fs.sb).ok_or(crate::error::EUCLEAN)?;
        let mut full = [0u8; LABEL_SIZE];
        full[..len].copy_from_slice(&label[..len]);
        s.set_label(&full);
        Ok(())
    })?;
    commit(sb)
}

/// Maps a tree search failure to an errno, logging corruption.
fn search_err(f: &F<'_>, e: SearchFail<Error>) -> Error {
    let sb = f.inode().super_block();
    match e {
        SearchFail::Read(e) => e,
        SearchFail::NoMem => ENOMEM,
        SearchFail::Tree(t) => {
            btrfs_err_rl!(sb.data().geo.rl, sb.id(), "{}", t);
            crate::rfs::errno::euclean()
        }
    }
}

/// The common part of both searches (C: `search_ioctl`): runs the search
/// of `sk` into the user buffer at `ubuf` of `buf_size` bytes, leaf by
/// leaf, holding the state lock for one leaf at a time and copying its
/// output out after. Returns the cursor and the last step.
fn search(f: &F<'_>, sk: &SearchKey, buf_size: u64, ubuf: usize) -> Result<(Cursor, Step)> {
    let inode = f.inode();
    let sb = inode.super_block();
    let tree = if sk.tree_id == 0 { inode.data().root } else { sk.tree_id };
    let mut c = match Cursor::new(sk, buf_size) {
        Ok(c) => c,
        Err(need) => return Ok((Cursor { key: sk.min_key(), used: 0, found: 0, buf_size: need }, Step::Overflow)),
    };
    // A tree id from user space: one that is not there (or a deleted
    // subvolume) is ENOENT without a message.
    with_view(sb, |v| {
        if v.state.root(tree).is_none() {
            return Err(ENOENT);
        }
        if objectid::is_fstree(tree) && find_root_item(v, tree)?.is_some_and(|r| r.2 == 0) {
            return Err(ENOENT);
        }
        Ok(())
    })?;
    let mut out = crate::mem::Vec::new();
    loop {
        out.clear();
        let start = c.used as usize;
        let step = with_view(sb, |v| {
            let root = v.state.root(tree).ok_or(ENOENT)?;
            tree_search::search_leaf(v.overlay(), &root, sk, &mut c, &mut out).map_err(|e| search_err(f, e))
        })?;
        if !out.is_empty() {
            write_out(uaddr(ubuf, start)?, &out)?;
        }
        if step != Step::More {
            return Ok((c, step));
        }
    }
}

/// `BTRFS_IOC_TREE_SEARCH` (C: `btrfs_ioctl_tree_search`): the results go
/// to the 3992 bytes after the key; an item too large for them comes back
/// as a header with `len` 0 (no error). `CAP_SYS_ADMIN`.
fn tree_search_v1(f: &F<'_>, arg: usize) -> Result {
    if !capable_sys_admin() {
        return Err(EPERM);
    }
    let mut raw = read_in::<SEARCH_KEY_SIZE>(arg)?;
    let sk = SearchKey::parse(&raw);
    let (c, _) = search(f, &sk, (SEARCH_ARGS - SEARCH_KEY_SIZE) as u64, uaddr(arg, SEARCH_KEY_SIZE)?)?;
    put_u32(&mut raw, NR_ITEMS_OFFSET, c.found);
    write_out(arg, &raw)
}

/// `BTRFS_IOC_TREE_SEARCH_V2` (C: `btrfs_ioctl_tree_search_v2`): the
/// buffer after the arguments is `buf_size` bytes (at most 16 MiB used);
/// `EOVERFLOW` with the size needed in `buf_size` when the first item does
/// not fit. `CAP_SYS_ADMIN`.
fn tree_search_v2(f: &F<'_>, arg: usize) -> Result {
    if !capable_sys_admin() {
        return Err(EPERM);
    }
    let raw = read_in::<SEARCH_ARGS_V2>(arg)?;
    let mut key = [0u8; SEARCH_KEY_SIZE];
    key.copy_from_slice(&raw[..SEARCH_KEY_SIZE]);
    let sk = SearchKey::parse(&key);
    let buf_size = u64_at(&raw, SEARCH_KEY_SIZE).min(SEARCH_V2_LIMIT);
    let (c, step) = search(f, &sk, buf_size, uaddr(arg, SEARCH_ARGS_V2)?)?;
    if step == Step::Overflow {
        write_out(uaddr(arg, SEARCH_KEY_SIZE)?, &c.buf_size.to_le_bytes())?;
        return Err(crate::rfs::errno::eoverflow());
    }
    put_u32(&mut key, NR_ITEMS_OFFSET, c.found);
    write_out(arg, &key)
}

/// `BTRFS_IOC_GET_SUBVOL_INFO` (C: `btrfs_ioctl_get_subvol_info`): the
/// ROOT_ITEM of the file's subvolume and, but for the top one, its
/// ROOT_BACKREF (name, parent, directory). Unprivileged.
fn subvol_info(f: &F<'_>, arg: usize) -> Result {
    let inode = f.inode();
    let id = inode.data().root;
    let mut out = KVec::from_elem(0u8, SUBVOL_INFO_ARGS, GFP_KERNEL)?;
    with_view(inode.super_block(), |v| {
        let mut path = VPath::new();
        v.search(objectid::ROOT_TREE, &Key::new(id, key_type::ROOT_ITEM, 0), &mut path)?;
        let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(ENOENT)?;
        if item.key.objectid != id || item.key.ty != key_type::ROOT_ITEM {
            return Err(ENOENT);
        }
        let r = Root::parse(item.data).map_err(|e| v.tree_err(e))?;
        put_u64(&mut out, 0, id);
        put_u64(&mut out, 280, r.item.generation());
        put_u64(&mut out, 288, r.item.flags());
        if let Some(e) = r.ext {
            put(&mut out, 296, e.uuid());
            put(&mut out, 312, e.parent_uuid());
            put(&mut out, 328, e.received_uuid());
            put_u64(&mut out, 344, e.ctransid());
            put_u64(&mut out, 352, e.otransid());
            put_u64(&mut out, 360, e.stransid());
            put_u64(&mut out, 368, e.rtransid());
            for (i, t) in [e.ctime(), e.otime(), e.stime(), e.rtime()].iter().enumerate() {
                put_u64(&mut out, 376 + 16 * i, t.sec);
                put_u32(&mut out, 384 + 16 * i, t.nsec);
            }
        }
        if id != objectid::FS_TREE {
            v.search(objectid::ROOT_TREE, &Key::new(id, key_type::ROOT_BACKREF, 0), &mut path)?;
            let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(ENOENT)?;
            if item.key.objectid != id || item.key.ty != key_type::ROOT_BACKREF {
                return Err(ENOENT);
            }
            let rr = RootRef::parse(item.data).map_err(|e| v.tree_err(e))?;
            put_u64(&mut out, 264, item.key.offset);
            put_u64(&mut out, 272, rr.dirid);
            let n = rr.name.len().min(VOL_NAME - 1);
            put(&mut out, 8, &rr.name[..n]);
        }
        Ok(())
    })?;
    write_out(arg, &out)
}

/// `BTRFS_IOC_GET_SUBVOL_ROOTREF` (C: `btrfs_ioctl_get_subvol_rootref`):
/// the subvolumes directly under the file's subvolume (ROOT_REFs), from
/// `min_treeid` on, up to 255 (`EOVERFLOW` when there are more; the
/// answer still goes out, with `min_treeid` set to continue). Unprivileged.
fn subvol_rootref(f: &F<'_>, arg: usize) -> Result {
    let mut args = read_heap(arg, ROOTREF_ARGS)?;
    let inode = f.inode();
    let id = inode.data().root;
    let min = u64_at(&args, 0);
    let mut found = 0usize;
    let mut overflow = false;
    with_view(inode.super_block(), |v| {
        let mut path = VPath::new();
        v.search(objectid::ROOT_TREE, &Key::new(id, key_type::ROOT_REF, min), &mut path)?;
        while let Some(item) = path.item().map_err(|e| v.tree_err(e))? {
            if item.key.objectid != id || item.key.ty != key_type::ROOT_REF {
                break;
            }
            if found == MAX_ROOTREFS {
                overflow = true;
                break;
            }
            let rr = RootRef::parse(item.data).map_err(|e| v.tree_err(e))?;
            put_u64(&mut args, 8 + 16 * found, item.key.offset);
            put_u64(&mut args, 16 + 16 * found, rr.dirid);
            found += 1;
            if !v.next(&mut path)? {
                break;
            }
        }
        Ok(())
    })?;
    args[8 + 16 * MAX_ROOTREFS] = found as u8;
    if found > 0 {
        let last = u64_at(&args, 8 + 16 * (found - 1));
        put_u64(&mut args, 0, last.saturating_add(1));
    }
    write_out(arg, &args)?;
    if overflow {
        return Err(crate::rfs::errno::eoverflow());
    }
    Ok(())
}

/// `BTRFS_IOC_INO_LOOKUP_USER` (C: `btrfs_ioctl_ino_lookup_user` and
/// `btrfs_search_path_in_tree_user`): the path from the file's directory
/// down to directory `dirid` of its subvolume (each step checked for read
/// and search permission, `EACCES` if the path does not pass through the
/// file's directory), and the name of subvolume `treeid` linked in
/// `dirid`. Unprivileged.
fn ino_lookup_user(f: &F<'_>, arg: usize) -> Result {
    let mut args = read_heap(arg, INO_LOOKUP_USER_ARGS)?;
    let inode = f.inode();
    let sb = inode.super_block();
    let (upper, root) = (inode.ino(), inode.data().root);
    let want_dir = u64_at(&args, 0);
    let treeid = u64_at(&args, 8);
    if want_dir == objectid::FIRST_FREE && upper != objectid::FIRST_FREE {
        return Err(EACCES);
    }
    if want_dir != upper {
        // Up from `dirid` to the file's directory, building the path
        // backwards at the end of the buffer.
        let mut buf = KVec::from_elem(0u8, LOOKUP_USER_PATH_MAX, GFP_KERNEL)?;
        let mut start = LOOKUP_USER_PATH_MAX - 1;
        let mut dir = want_dir;
        loop {
            let (parent, ok) = with_view(sb, |v| {
                let mut path = VPath::new();
                v.search(root, &Key::new(dir, key_type::INODE_REF, u64::MAX), &mut path)?;
                // The last INODE_REF of `dir`: the item before the search
                // position.
                if !v.prev(&mut path)? {
                    return Err(ENOENT);
                }
                let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(ENOENT)?;
                if item.key.objectid != dir || item.key.ty != key_type::INODE_REF {
                    return Err(ENOENT);
                }
                let parent = item.key.offset;
                let r = InodeRefIter::new(item.data).next().ok_or(ENOENT)?.map_err(|e| v.tree_err(e))?;
                let len = r.name.len();
                if start < len + 1 {
                    return Err(crate::rfs::errno::enametoolong());
                }
                start -= len + 1;
                buf[start..start + len].copy_from_slice(r.name);
                buf[start + len] = b'/';
                // Its inode item must be there too (C looks for it).
                let mut p2 = VPath::new();
                Ok((parent, v.search(root, &Key::new(dir, key_type::INODE_ITEM, 0), &mut p2)?))
            })?;
            if !ok {
                return Err(ENOENT);
            }
            let d = crate::inode::iget(sb, root, dir)?;
            f.permission(&d, MAY_READ | MAY_EXEC)?;
            if parent == upper {
                break;
            }
            if dir == objectid::FIRST_FREE {
                return Err(EACCES);
            }
            dir = parent;
        }
        let total = LOOKUP_USER_PATH_MAX - 1 - start;
        let p = &mut args[16 + VOL_NAME..];
        p[..total].copy_from_slice(&buf[start..start + total]);
        p[total] = 0;
    }
    // The subvolume's name in its ROOT_REF.
    let name = with_view(sb, |v| {
        let mut path = VPath::new();
        if !v.search(objectid::ROOT_TREE, &Key::new(root, key_type::ROOT_REF, treeid), &mut path)? {
            return Err(ENOENT);
        }
        let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(ENOENT)?;
        let rr = RootRef::parse(item.data).map_err(|e| v.tree_err(e))?;
        if rr.dirid != want_dir {
            return Err(EINVAL);
        }
        let mut n = [0u8; VOL_NAME];
        let len = rr.name.len().min(VOL_NAME - 1);
        n[..len].copy_from_slice(&rr.name[..len]);
        Ok(n)
    })?;
    args[16..16 + VOL_NAME].copy_from_slice(&name);
    write_out(arg, &args)
}

/// `BTRFS_IOC_SUBVOL_GETFLAGS` (C: `btrfs_ioctl_subvol_getflags`): on a
/// subvolume's top directory, whether it is read-only.
fn subvol_getflags(f: &F<'_>, arg: usize) -> Result {
    let inode = f.inode();
    if inode.ino() != objectid::FIRST_FREE {
        return Err(EINVAL);
    }
    let id = inode.data().root;
    let flags = with_view(inode.super_block(), |v| Ok(find_root_item(v, id)?.map_or(0, |r| r.0)))?;
    let out = if flags & ROOT_SUBVOL_RDONLY != 0 { SUBVOL_RDONLY } else { 0 };
    write_out(arg, &out.to_le_bytes())
}
