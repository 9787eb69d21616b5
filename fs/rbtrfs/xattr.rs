// SPDX-License-Identifier: GPL-2.0

//! Extended attributes (C: `fs/btrfs/xattr.c`): XATTR_ITEMs keyed by the
//! name's hash, in the same packed dir-item format as directory entries,
//! the value in the entry's data.

#![forbid(unsafe_code)]

use crate::checksum::name_hash;
use crate::ctree::{key_type, Key};
use crate::disk_io::{with_view, VPath};
use crate::items::DirItemIter;
use crate::rfs::errno;
use crate::rfs::inode::INode;
use crate::super_::Btrfs;
use kernel::prelude::*;

/// Reads attribute `name` (full name, with its namespace prefix).
pub(crate) fn get(inode: &INode<Btrfs>, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize> {
    let root = inode.data().root;
    let key = Key::new(inode.ino(), key_type::XATTR_ITEM, u64::from(name_hash(name)));
    with_view(inode.super_block(), |v| {
        let mut path = VPath::new();
        if !v.search(root, &key, &mut path)? {
            return Err(errno::enodata());
        }
        let item = path.item().map_err(|e| v.tree_err(e))?.ok_or(EIO)?;
        for entry in DirItemIter::new(item.data) {
            let entry = entry.map_err(|e| v.tree_err(e))?;
            if entry.name != name {
                continue;
            }
            return match buf {
                None => Ok(entry.data.len()),
                Some(b) if b.len() < entry.data.len() => Err(ERANGE),
                Some(b) => {
                    b[..entry.data.len()].copy_from_slice(entry.data);
                    Ok(entry.data.len())
                }
            };
        }
        Err(errno::enodata())
    })
}

/// Lists attribute names, each NUL terminated.
pub(crate) fn list(inode: &INode<Btrfs>, mut buf: Option<&mut [u8]>) -> Result<usize> {
    let root = inode.data().root;
    let ino = inode.ino();
    with_view(inode.super_block(), |v| {
        let mut path = VPath::new();
        v.search(root, &Key::new(ino, key_type::XATTR_ITEM, 0), &mut path)?;
        let mut total = 0usize;
        while let Some(item) = path.item().map_err(|e| v.tree_err(e))? {
            if item.key.objectid != ino || item.key.ty != key_type::XATTR_ITEM {
                break;
            }
            for entry in DirItemIter::new(item.data) {
                let entry = entry.map_err(|e| v.tree_err(e))?;
                let n = entry.name.len();
                if let Some(b) = buf.as_deref_mut() {
                    let dst = b.get_mut(total..total + n + 1).ok_or(ERANGE)?;
                    dst[..n].copy_from_slice(entry.name);
                    dst[n] = 0;
                }
                total += n + 1;
            }
            if !v.next(&mut path)? {
                break;
            }
        }
        Ok(total)
    })
}

/// Sets (or with `None` removes) attribute `name` (C: `btrfs_setxattr`).
pub(crate) fn set(inode: &INode<Btrfs>, name: &[u8], value: Option<&[u8]>, flags: i32) -> Result {
    let sb = inode.super_block();
    let root = inode.data().root;
    let now = inode.current_time();
    crate::disk_io::with_trans(sb, |t| {
        t.reserve_metadata()?;
        let when = crate::inode::disk_time(now);
        match value {
            Some(v) => crate::inode_ops::set_xattr(t, root, inode.ino(), (name, v), flags as u32, when)?,
            None => crate::inode_ops::remove_xattr(t, root, inode.ino(), name, when)?,
        }
        inode.set_ctime(now);
        Ok(())
    })
}
