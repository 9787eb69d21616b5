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

/// What a file descriptor in an ioctl's argument names
/// ([`IoctlFile::with_fd`]).
pub enum FdTarget<'f, T: FileSystem> {
    /// No file is open under that number.
    NotOpen,
    /// A file of another filesystem instance.
    OtherFs,
    /// A file of the ioctl file's filesystem.
    Ours {
        /// Its inode.
        inode: &'f INode<T>,
        /// Whether the caller owns that inode or may act as if it did
        /// (`inode_owner_or_capable` through the ioctl file's mount).
        owner_or_capable: bool,
    },
}

impl<'a, T: FileSystem> IoctlFile<'a, T> {
    /// Looks `fd` up in the calling task's file table (`fget`) and calls
    /// `f` with what it names; the file reference is dropped afterwards
    /// (`fput`), so the inode is only borrowed for the call.
    pub fn with_fd<R>(&self, fd: i64, f: impl FnOnce(FdTarget<'_, T>) -> R) -> R {
        let Ok(fd) = u32::try_from(fd) else { return f(FdTarget::NotOpen) };
        // SAFETY: `fget` takes any number and returns a referenced file or
        // null.
        let other = unsafe { bindings::fget(fd) };
        if other.is_null() {
            return f(FdTarget::NotOpen);
        }
        // SAFETY: `other` is referenced until the `fput` below, so its
        // inode is live; `self.file` is open (invariant). Inodes of the
        // same superblock are ours (`T`).
        let r = unsafe {
            let inode = bindings::rbtrfs_file_inode(other);
            let mine = bindings::rbtrfs_file_inode(self.file);
            if (*inode).i_sb != (*mine).i_sb {
                f(FdTarget::OtherFs)
            } else {
                let owner_or_capable = bindings::rbtrfs_inode_owner_or_capable(self.file, inode);
                f(FdTarget::Ours { inode: INode::from_raw(inode), owner_or_capable })
            }
        };
        // SAFETY: The reference `fget` took.
        unsafe { bindings::fput(other) };
        r
    }
}

impl<'a, T: FileSystem> IoctlFile<'a, T> {
    /// Whether the caller owns the file's inode or may act as if it did
    /// (`inode_owner_or_capable` through the file's mount).
    pub fn owner_or_capable(&self) -> bool {
        // SAFETY: The file is open (invariant).
        unsafe { bindings::rbtrfs_file_owner_or_capable(self.file) }
    }

    /// Locks the file's directory as a parent (`I_MUTEX_PARENT`, killable)
    /// and looks `name` up in it through the file's mount (`lookup_one`:
    /// `EACCES` for `.`, `..`, a `/` or NUL in the name, or no search
    /// permission), as C btrfs's subvolume ioctls do. The directory stays
    /// locked until the returned [`ChildEntry`] is dropped. The caller
    /// checks that the file is a directory.
    pub fn lock_child(&self, name: &[u8]) -> kernel::error::Result<ChildEntry<'_, 'a, T>> {
        let len = i32::try_from(name.len()).map_err(|_| super::errno::enametoolong())?;
        // SAFETY: The file is open (invariant) and `name` is valid for
        // `len` bytes (`lookup_one` takes the length, no terminator).
        let d = unsafe { bindings::rbtrfs_lock_lookup_child(self.file, name.as_ptr().cast(), len) };
        let d = kernel::error::from_err_ptr(d)?;
        // INVARIANT: the helper returned a dentry reference with the
        // directory locked.
        Ok(ChildEntry { file: self, dentry: d })
    }
}

/// A child of an ioctl file's directory, looked up with the directory
/// locked ([`IoctlFile::lock_child`]).
///
/// # Invariants
///
/// `dentry` is a referenced child dentry of the file's directory, whose
/// inode lock is held until drop.
pub struct ChildEntry<'f, 'a, T: FileSystem> {
    file: &'f IoctlFile<'a, T>,
    dentry: *mut bindings::dentry,
}

impl<T: FileSystem> ChildEntry<'_, '_, T> {
    /// The child's inode, if the name exists.
    pub fn inode(&self) -> Option<&INode<T>> {
        // SAFETY: The dentry is referenced (invariant); a positive dentry
        // keeps its inode while we hold it.
        let i = unsafe { bindings::rbtrfs_d_inode(self.dentry) };
        if i.is_null() {
            None
        } else {
            // SAFETY: A positive dentry of our filesystem holds a reference
            // on its inode, one of ours, for as long as we hold the dentry.
            Some(unsafe { INode::from_raw(i) })
        }
    }

    /// C btrfs's `btrfs_may_create`: `EEXIST` if the name exists, `ENOENT`
    /// in a dead directory, then write and search permission on it.
    pub fn may_create(&self) -> kernel::error::Result {
        // SAFETY: The file is open, the dentry referenced and the directory
        // locked (invariants).
        kernel::error::to_result(unsafe { bindings::rbtrfs_may_create_child(self.file.file, self.dentry) })
    }

    /// C btrfs's `btrfs_may_delete` for a directory: `ENOENT` if absent,
    /// permission, append-only/immutable/sticky rules (`EPERM`),
    /// `ENOTDIR`, `EBUSY` for a root dentry.
    pub fn may_delete(&self) -> kernel::error::Result {
        // SAFETY: As in `may_create`.
        kernel::error::to_result(unsafe { bindings::rbtrfs_may_delete_child(self.file.file, self.dentry) })
    }

    /// Unhashes the dentry (`d_drop`): the next lookup of the name asks the
    /// filesystem again (after a subvolume was created under it).
    pub fn drop_dentry(&self) {
        // SAFETY: The dentry is referenced (invariant).
        unsafe { bindings::d_drop(self.dentry) };
    }

    /// Invalidates the dentry and everything below it (`d_invalidate`,
    /// which also detaches mounts there) and marks its inode dead
    /// (`S_DEAD`), after the subvolume it named was deleted.
    pub fn invalidate(&self) {
        // SAFETY: The dentry is referenced and its parent locked
        // (invariants); `d_invalidate` may be called so, as C btrfs does.
        unsafe { bindings::d_invalidate(self.dentry) };
        if let Some(i) = self.inode() {
            // SAFETY: A live inode we hold through the dentry.
            unsafe { bindings::rbtrfs_inode_set_dead(i.raw_inode()) };
        }
    }
}

impl<T: FileSystem> Drop for ChildEntry<'_, '_, T> {
    fn drop(&mut self) {
        // SAFETY: Gives back the dentry reference and the directory lock
        // `lock_child` took (invariants).
        unsafe { bindings::rbtrfs_unlock_child(self.file.file, self.dentry) };
    }
}

/// Fills `buf` with random bytes (`get_random_bytes`), e.g. a new uuid.
pub fn random_bytes(buf: &mut [u8]) {
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { bindings::get_random_bytes(buf.as_mut_ptr().cast(), buf.len()) };
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
