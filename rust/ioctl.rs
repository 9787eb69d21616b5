// SPDX-License-Identifier: GPL-2.0

//! `ioctl(2)` on our files and directories.
//!
//! C: `include/linux/fs.h` (`file_operations.unlocked_ioctl`),
//! `include/uapi/asm-generic/ioctl.h`. The VFS calls
//! [`FileSystem::ioctl`](super::fs::FileSystem::ioctl) with the open file
//! ([`IoctlFile`]), the command and its argument, a user-space address the
//! filesystem reads and writes through [`kernel::uaccess::UserSlice`]
//! (which copies, faulting safely on bad addresses: `EFAULT`). Commands
//! nobody knows are `ENOTTY`. 32-bit callers get the same handler through
//! `compat_ptr_ioctl` (every btrfs ioctl argument is a pointer to a struct
//! laid out the same on both).

use super::bindings;
use super::fs::FileSystem;
use super::inode::INode;
use core::marker::PhantomData;
use kernel::error::from_result;
use kernel::ffi::{c_long, c_uint, c_ulong};

/// The number of `_IOC(dir, ty, nr, size)`.
const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << 30) | ((size as u32 & 0x3fff) << 16) | ((ty as u32) << 8) | nr as u32
}

/// `_IO(ty, nr)`: no argument.
pub const fn io(ty: u8, nr: u8) -> u32 {
    ioc(0, ty, nr, 0)
}

/// `_IOW(ty, nr, size)`: user space writes `size` bytes to the kernel.
pub const fn iow(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(1, ty, nr, size)
}

/// `_IOR(ty, nr, size)`: the kernel writes `size` bytes back.
pub const fn ior(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(2, ty, nr, size)
}

/// `_IOWR(ty, nr, size)`: both ways.
pub const fn iowr(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(3, ty, nr, size)
}

/// The open file an ioctl was issued on.
///
/// # Invariants
///
/// `file` is an open file of a `T` filesystem, live for `'a` (the call).
pub struct IoctlFile<'a, T: FileSystem> {
    file: *mut bindings::file,
    _p: PhantomData<&'a T>,
}

impl<'a, T: FileSystem> IoctlFile<'a, T> {
    /// The file's inode.
    pub fn inode(&self) -> &'a INode<T> {
        // SAFETY: The file is open (invariant), so its inode is live and
        // one of ours.
        unsafe { INode::from_raw(bindings::rbtrfs_file_inode(self.file)) }
    }

    /// Whether the file was opened for writing (`FMODE_WRITE`).
    pub fn is_writable(&self) -> bool {
        // SAFETY: The file is open (invariant).
        unsafe { bindings::rbtrfs_file_writable(self.file) }
    }

    /// Whether the caller may access `inode` (of the same filesystem) with
    /// `mask` ([`MAY_READ`], [`MAY_WRITE`], [`MAY_EXEC`]), through the
    /// file's mount (its idmapping): `inode_permission`.
    pub fn permission(&self, inode: &INode<T>, mask: i32) -> kernel::error::Result {
        // SAFETY: The file is open (invariant) and `inode` is a live inode
        // we hold a reference on.
        kernel::error::to_result(unsafe { bindings::rbtrfs_file_inode_permission(self.file, inode.raw_inode(), mask) })
    }

    /// Takes write access to the file's mount for a change that does not
    /// go through a file opened for writing (`mnt_want_write_file`):
    /// `EROFS` on a read-only mount. Dropped: `mnt_drop_write_file`.
    pub fn want_write(&self) -> kernel::error::Result<WriteAccess<'_, 'a, T>> {
        // SAFETY: The file is open (invariant).
        kernel::error::to_result(unsafe { bindings::mnt_want_write_file(self.file) })?;
        Ok(WriteAccess(self))
    }
}

/// Write access to a file's mount, from [`IoctlFile::want_write`].
pub struct WriteAccess<'f, 'a, T: FileSystem>(&'f IoctlFile<'a, T>);

impl<T: FileSystem> Drop for WriteAccess<'_, '_, T> {
    fn drop(&mut self) {
        // SAFETY: `want_write` took the access this gives back, on a file
        // that is still open.
        unsafe { bindings::mnt_drop_write_file(self.0.file) };
    }
}

/// `MAY_EXEC` for [`IoctlFile::permission`].
pub const MAY_EXEC: i32 = 1;
/// `MAY_WRITE`.
pub const MAY_WRITE: i32 = 2;
/// `MAY_READ`.
pub const MAY_READ: i32 = 4;

/// Whether the calling task has `CAP_SYS_ADMIN` (`capable()`, which also
/// marks the task as having used the privilege, as C btrfs's checks do).
pub fn capable_sys_admin() -> bool {
    // SAFETY: `capable` only reads the current task's credentials.
    unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) }
}

/// `file_operations.unlocked_ioctl`.
///
/// # Safety
///
/// Called by the VFS with an open file of a `T` filesystem.
pub(crate) unsafe extern "C" fn unlocked_ioctl<T: FileSystem>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // INVARIANT: the VFS passes an open file of ours, live for the call.
    let f = IoctlFile::<T> { file, _p: PhantomData };
    from_result(|| T::ioctl(&f, cmd, arg as usize).map(|r| r as c_long))
}
