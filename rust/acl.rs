// SPDX-License-Identifier: GPL-2.0

//! POSIX ACLs stored as extended attributes.
//!
//! C: `include/linux/posix_acl.h`, `include/linux/posix_acl_xattr.h`,
//! `fs/posix_acl.c`; the btrfs side is `fs/btrfs/acl.c`.
//!
//! A filesystem with [`FileSystem::POSIX_ACL`] keeps an inode's access and
//! default ACL in the attributes `system.posix_acl_access` and
//! `system.posix_acl_default`, in the VFS's xattr format with ids of the
//! initial user namespace (what `getfattr` shows and what C btrfs writes).
//! The VFS then calls two inode operations, wired here for every inode type
//! but symlinks:
//!
//! - `get_inode_acl` reads the attribute with [`FileSystem::get_xattr`]
//!   (a missing one is "no ACL"); the VFS caches the result in the inode;
//! - `set_acl` (`setfacl`, `setxattr` of those names, and `chmod` through
//!   [`SetAttr::acl_chmod`](super::inode::SetAttr::acl_chmod)) computes the
//!   new mode (`posix_acl_update_mode`: an ACL the mode bits express fully
//!   is dropped), sets it in the in-core inode and calls
//!   [`FileSystem::set_acl`] to store attribute and mode together.
//!
//! The VFS consults ACLs only on superblocks with `SB_POSIXACL`
//! ([`NewSuperBlock::set_posix_acl`](super::fs::NewSuperBlock::set_posix_acl)).
//! There it does not apply the umask to new inodes: a creating callback
//! calls [`NewINode::inherit_acls`] instead, which applies the directory's
//! default ACL (or, without one, the umask), stores the result with the
//! inode's items and caches them on the new inode
//! ([`NewINode::cache_acls`]).
//!
//! `listxattr` stays the filesystem's own ([`FileSystem::list_xattr`]), so
//! the stored names are listed like any other; the VFS's legacy
//! `nop_posix_acl_*` xattr handlers would only serve `generic_listxattr`
//! and are not needed (C btrfs does not register them either).

use super::bindings;
use super::fs::FileSystem;
use super::inode::{INode, INodeType, NewINode};
use core::ptr::NonNull;
use kernel::ffi::{c_int, c_long};
use kernel::prelude::*;

/// The attribute holding the access ACL.
pub const XATTR_ACCESS: &[u8] = b"system.posix_acl_access";
/// The attribute holding a directory's default ACL.
pub const XATTR_DEFAULT: &[u8] = b"system.posix_acl_default";

const ACL_TYPE_ACCESS: c_int = bindings::ACL_TYPE_ACCESS as c_int;
const ACL_TYPE_DEFAULT: c_int = bindings::ACL_TYPE_DEFAULT as c_int;

/// The attribute name for an ACL type (`ACL_TYPE_*`).
fn xattr_name(ty: c_int) -> Option<&'static [u8]> {
    match ty {
        ACL_TYPE_ACCESS => Some(XATTR_ACCESS),
        ACL_TYPE_DEFAULT => Some(XATTR_DEFAULT),
        _ => None,
    }
}

/// One reference to a POSIX ACL (`struct posix_acl`), released on drop
/// (`posix_acl_release`).
///
/// # Invariants
///
/// `0` points to a live ACL on which this object owns one reference. ACLs
/// are not changed once shared (the VFS clones before changing).
pub struct PosixAcl(NonNull<bindings::posix_acl>);

// SAFETY: The reference count is atomic and a shared ACL is immutable, so
// the reference may move to and be used from any thread.
unsafe impl Send for PosixAcl {}
// SAFETY: As above: `&PosixAcl` only reads.
unsafe impl Sync for PosixAcl {}

impl PosixAcl {
    /// Takes over a reference; `None` for a null pointer.
    ///
    /// # Safety
    ///
    /// `acl` is null or a live ACL whose reference the caller gives up.
    unsafe fn from_raw(acl: *mut bindings::posix_acl) -> Option<Self> {
        // INVARIANT: per the safety contract.
        NonNull::new(acl).map(Self)
    }

    fn raw(&self) -> *mut bindings::posix_acl {
        self.0.as_ptr()
    }

    /// The ACL in the `system.posix_acl_*` attribute format
    /// (`posix_acl_to_xattr`, ids of the initial user namespace).
    pub fn to_xattr(&self) -> Result<KVec<u8>> {
        // SAFETY: The ACL is live (type invariants).
        unsafe { xattr_of(self.raw()) }
    }
}

/// The xattr format of `acl` (`posix_acl_to_xattr`).
///
/// # Safety
///
/// `acl` is a live ACL, not changed during the call.
unsafe fn xattr_of(acl: *mut bindings::posix_acl) -> Result<KVec<u8>> {
    // SAFETY: The ACL is live (safety contract).
    let size = unsafe { bindings::rbtrfs_posix_acl_xattr_size(acl) };
    let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    // SAFETY: The ACL is live; `buf` is valid for `size` bytes of writes.
    let n = unsafe { bindings::rbtrfs_posix_acl_to_xattr(acl, buf.as_mut_ptr().cast(), size) };
    if n < 0 {
        return Err(Error::from_errno(n));
    }
    if n as usize != size {
        return Err(EINVAL);
    }
    Ok(buf)
}

impl Drop for PosixAcl {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariants), given up here.
        unsafe { bindings::rbtrfs_posix_acl_release(self.raw()) };
    }
}

/// What a new inode gets from its directory's default ACL
/// ([`NewINode::inherit_acls`], C: `posix_acl_create`).
pub struct NewAcls {
    /// The mode to create the inode with: type and permission bits, the
    /// latter narrowed by the inherited ACL, or by the umask when the
    /// directory has no default ACL (or ACLs are off).
    pub mode: u16,
    /// The new inode's access ACL, unless the mode says it all.
    pub access: Option<PosixAcl>,
    /// A new directory's default ACL: the parent's.
    pub default: Option<PosixAcl>,
}

impl NewAcls {
    /// The attributes to store with the new inode, as (name, value) pairs
    /// in the xattr format: at most an access and a default ACL.
    pub fn xattrs(&self) -> Result<KVec<(&'static [u8], KVec<u8>)>> {
        let mut v = KVec::new();
        if let Some(a) = &self.access {
            v.push((XATTR_ACCESS, a.to_xattr()?), GFP_KERNEL)?;
        }
        if let Some(d) = &self.default {
            v.push((XATTR_DEFAULT, d.to_xattr()?), GFP_KERNEL)?;
        }
        Ok(v)
    }
}

impl<T: FileSystem> NewINode<T> {
    /// Applies the default ACL of `dir` to an inode being created there with
    /// `mode` (type and permission bits, after [`NewINode::init_owner`]), as
    /// `posix_acl_create` does. On a superblock with POSIX ACLs the VFS
    /// leaves the umask to this; without them it returns `mode` unchanged
    /// (the VFS applied the umask) and no ACLs. Symlinks get none either.
    /// Store [`NewAcls::xattrs`] with the inode's items, then
    /// [`NewINode::cache_acls`] before publishing the inode.
    pub fn inherit_acls(&mut self, dir: &INode<T>, mode: u16) -> Result<NewAcls> {
        let mut m: bindings::umode_t = mode;
        let mut default: *mut bindings::posix_acl = core::ptr::null_mut();
        let mut access: *mut bindings::posix_acl = core::ptr::null_mut();
        // SAFETY: `dir` is a live directory of ours on which a reference is
        // held; the outputs are valid for writes. `posix_acl_create` reads
        // the directory's default ACL (through our `get_inode_acl`) and
        // hands out a reference for each ACL it returns, or none on error.
        let r = unsafe { bindings::posix_acl_create(dir.raw_inode(), &mut m, &mut default, &mut access) };
        // SAFETY: Null, or references `posix_acl_create` gave us.
        let (default, access) = unsafe { (PosixAcl::from_raw(default), PosixAcl::from_raw(access)) };
        kernel::error::to_result(r)?;
        Ok(NewAcls { mode: m, access, default })
    }

    /// Caches the new inode's ACLs (`set_cached_acl`, a missing one as "no
    /// ACL"), so that permission checks need not read them back.
    pub fn cache_acls(&self, acls: &NewAcls) {
        let i = self.raw_inode();
        let raw = |a: &Option<PosixAcl>| a.as_ref().map_or(core::ptr::null_mut(), PosixAcl::raw);
        // SAFETY: The inode is new, locked and ours; `set_cached_acl` takes
        // its own reference on a non-null ACL, which is live.
        unsafe {
            bindings::set_cached_acl(i, ACL_TYPE_ACCESS, raw(&acls.access));
            bindings::set_cached_acl(i, ACL_TYPE_DEFAULT, raw(&acls.default));
        }
    }
}

/// Reads attribute `name` of `inode` whole; `None` if it has none.
fn read_xattr<T: FileSystem>(inode: &INode<T>, name: &[u8]) -> Result<Option<KVec<u8>>> {
    let size = match T::get_xattr(inode, name, None) {
        Ok(0) => return Ok(None),
        Ok(n) => n,
        Err(e) if e == super::errno::enodata() => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    // A change between the two reads fails with ERANGE, as in C btrfs.
    let n = match T::get_xattr(inode, name, Some(&mut buf)) {
        Ok(n) => n,
        Err(e) if e == super::errno::enodata() => return Ok(None),
        Err(e) => return Err(e),
    };
    if n != size {
        return Err(ERANGE);
    }
    Ok(Some(buf))
}

/// An error pointer for `e`.
fn err_ptr(e: Error) -> *mut bindings::posix_acl {
    // SAFETY: Encoding an errno as an error pointer.
    unsafe { bindings::rbtrfs_err_ptr(e.to_errno() as c_long).cast() }
}

/// `inode_operations.get_inode_acl` (C: `btrfs_get_acl`): the ACL of type
/// `ty` from its attribute, null if there is none. The attribute is read
/// from the trees, which may sleep: refused in RCU path walk (`ECHILD`,
/// the VFS retries in ref-walk mode).
pub(crate) unsafe extern "C" fn get_inode_acl<T: FileSystem>(
    inode: *mut bindings::inode,
    ty: c_int,
    rcu: bool,
) -> *mut bindings::posix_acl {
    if rcu {
        return err_ptr(ECHILD);
    }
    let Some(name) = xattr_name(ty) else { return err_ptr(EINVAL) };
    // SAFETY: Outside RCU walk the VFS passes a live, initialised inode of
    // ours that it holds a reference on (through a dentry or its caller).
    let inode = unsafe { INode::<T>::from_raw(inode) };
    match read_xattr(inode, name) {
        Ok(None) => core::ptr::null_mut(),
        // SAFETY: `v` is valid for `v.len()` bytes; the result is a new ACL
        // reference for the VFS, null for an empty one, or an error pointer.
        Ok(Some(v)) => unsafe { bindings::rbtrfs_posix_acl_from_xattr(v.as_ptr().cast(), v.len()) },
        Err(e) => err_ptr(e),
    }
}

/// `inode_operations.set_acl` (C: `btrfs_set_acl`): sets (or with a null
/// `acl` removes) the ACL of type `ty`. The VFS has checked ownership and
/// validity, and holds the inode lock (`vfs_set_acl`, or `setattr` for
/// `posix_acl_chmod`). The caller keeps its reference on `acl`.
pub(crate) unsafe extern "C" fn set_acl<T: FileSystem>(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    acl: *mut bindings::posix_acl,
    ty: c_int,
) -> c_int {
    let Some(name) = xattr_name(ty) else { return EINVAL.to_errno() };
    // SAFETY: The VFS passes a positive dentry of ours whose inode it holds
    // locked and referenced for the call.
    let (raw, inode) = unsafe {
        let raw = bindings::rbtrfs_d_inode(dentry);
        (raw, INode::<T>::from_raw(raw))
    };
    if ty == ACL_TYPE_DEFAULT && inode.typ() != Some(INodeType::Dir) {
        return if acl.is_null() { 0 } else { EINVAL.to_errno() };
    }
    let old_mode = inode.mode();
    let mut mode: bindings::umode_t = old_mode;
    let mut acl = acl;
    if ty == ACL_TYPE_ACCESS && !acl.is_null() {
        // SAFETY: The arguments of this call; the inode is locked. The
        // function only reads the ACL, and may replace our local pointer
        // with null (an ACL equivalent to the mode) without releasing it.
        let r = unsafe { bindings::posix_acl_update_mode(idmap, raw, &mut mode, &mut acl) };
        if r != 0 {
            return r;
        }
    }
    let value = if acl.is_null() {
        None
    } else {
        // SAFETY: The caller holds a reference on the ACL for the call, and
        // the VFS does not change an ACL it passes to `set_acl`.
        match unsafe { xattr_of(acl) } {
            Ok(v) => Some(v),
            Err(e) => return e.to_errno(),
        }
    };
    // The new mode goes in first, as in C btrfs: an inode write racing
    // with the change then stores the new mode, never the old one after it.
    // SAFETY: The inode is locked (see above), as for `setattr_copy`.
    unsafe { (*raw).i_mode = mode };
    match T::set_acl(inode, name, value.as_deref(), mode) {
        Ok(()) => {
            // SAFETY: The inode is live; `set_cached_acl` takes its own
            // reference on a non-null ACL, which the caller keeps live.
            unsafe { bindings::set_cached_acl(raw, ty, acl) };
            0
        }
        Err(e) => {
            // SAFETY: As above.
            unsafe { (*raw).i_mode = old_mode };
            e.to_errno()
        }
    }
}
