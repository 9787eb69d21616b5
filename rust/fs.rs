// SPDX-License-Identifier: GPL-2.0

//! Filesystem types and the mount entry.
//!
//! C: `include/linux/fs.h` (`struct file_system_type`, `struct super_block`)
//! and `include/linux/fs_context.h` (the mount API,
//! `Documentation/filesystems/mount_api.rst`).
//!
//! A filesystem implements [`FileSystem`]; [`Registration`] registers it with
//! the VFS for as long as the registration lives. Mounting goes
//! `init_fs_context` -> `get_tree` -> `get_tree_bdev`, which opens the block
//! device and calls [`FileSystem::fill_super`] with a new superblock.
//!
//! # Examples
//!
//! ```ignore
//! static FS_TYPE: fs::Type = fs::Type::new();
//! struct MyFs;
//! impl fs::FileSystem for MyFs {
//!     const NAME: &'static CStr = c_str!("myfs");
//!     const MAGIC: u64 = 0x1234;
//!     fn fill_super(sb: &fs::NewSuperBlock<'_>) -> Result { Err(EINVAL) }
//! }
//! let reg = fs::Registration::new::<MyFs>(&FS_TYPE, module)?;
//! ```

use super::bindings;
use super::block::BufferHead;
use core::marker::PhantomData;
use core::ops::Deref;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::{from_result, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;
use kernel::ThisModule;

/// A filesystem implementation.
pub trait FileSystem: 'static {
    /// The type name: what `/proc/filesystems` lists and `mount -t` takes.
    const NAME: &'static CStr;

    /// The magic stored in `s_magic` and reported by `statfs`.
    const MAGIC: u64;

    /// Fills a new superblock for a block device. Called with the
    /// superblock locked; on error the VFS tears it down again.
    fn fill_super(sb: &NewSuperBlock<'_>) -> Result;
}

/// Storage for a `struct file_system_type`.
///
/// It must be a `static`: the C struct embeds lockdep class keys, and
/// lockdep accepts only keys in static (module or kernel image) storage.
///
/// # Invariants
///
/// While `registered` is true, `inner` is initialised and registered with
/// the VFS and is accessed only by the VFS and by the owning
/// [`Registration`].
pub struct Type {
    inner: Opaque<bindings::file_system_type>,
    registered: AtomicBool,
}

// SAFETY: The C struct is only written before registration, under the
// `registered` flag, and afterwards belongs to the VFS, which locks it.
unsafe impl Sync for Type {}

impl Type {
    /// An unregistered filesystem type.
    pub const fn new() -> Self {
        Self { inner: Opaque::uninit(), registered: AtomicBool::new(false) }
    }
}

impl Default for Type {
    fn default() -> Self {
        Self::new()
    }
}

/// A registered filesystem type; unregistered on drop.
///
/// # Invariants
///
/// `ty.registered` is true and `ty.inner` is registered with the VFS.
pub struct Registration {
    ty: &'static Type,
}

impl Registration {
    /// Registers `T` with the VFS in the static storage `ty`, owned by
    /// `module`. Fails with `EBUSY` if `ty` is already registered.
    pub fn new<T: FileSystem>(ty: &'static Type, module: &'static ThisModule) -> Result<Self> {
        if ty.registered.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        let fs = ty.inner.get();
        // SAFETY: `registered` was false, so nothing else references the
        // struct; we initialise every field before handing it to the VFS.
        // `T::NAME` and the callbacks are 'static; `module` is THIS_MODULE
        // (cast between the two bindgen runs' identical `struct module`).
        let ret = unsafe {
            fs.write(core::mem::zeroed());
            (*fs).name = T::NAME.as_char_ptr();
            (*fs).owner = module.as_ptr().cast();
            (*fs).fs_flags = bindings::RBTRFS_FS_REQUIRES_DEV as c_int;
            (*fs).init_fs_context = Some(init_fs_context::<T>);
            (*fs).kill_sb = Some(bindings::kill_block_super);
            bindings::register_filesystem(fs)
        };
        if let Err(e) = to_result(ret) {
            ty.registered.store(false, Ordering::Release);
            return Err(e);
        }
        // INVARIANT: registration succeeded.
        Ok(Self { ty })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the type is registered.
        unsafe { bindings::unregister_filesystem(self.ty.inner.get()) };
        self.ty.registered.store(false, Ordering::Release);
    }
}

/// Per-filesystem operation tables, built at compile time.
struct Tables<T>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const CONTEXT_OPS: bindings::fs_context_operations = {
        // SAFETY: All-zero is a valid `fs_context_operations` (all None).
        let mut ops: bindings::fs_context_operations = unsafe { core::mem::zeroed() };
        ops.get_tree = Some(get_tree::<T>);
        ops
    };
}

/// `file_system_type.init_fs_context`.
///
/// # Safety
///
/// Called by the VFS with a valid, new `fs_context`.
unsafe extern "C" fn init_fs_context<T: FileSystem>(fc: *mut bindings::fs_context) -> c_int {
    // SAFETY: `fc` is valid for writes per the function's safety contract;
    // the operations table is a promoted constant that lives forever.
    unsafe { (*fc).ops = &Tables::<T>::CONTEXT_OPS };
    0
}

/// `fs_context_operations.get_tree`.
///
/// # Safety
///
/// Called by the VFS with a valid `fs_context` whose source is set.
unsafe extern "C" fn get_tree<T: FileSystem>(fc: *mut bindings::fs_context) -> c_int {
    // SAFETY: `fc` is valid per the function's safety contract.
    unsafe { bindings::get_tree_bdev(fc, Some(fill_super::<T>)) }
}

/// The `fill_super` callback of `get_tree_bdev`.
///
/// # Safety
///
/// Called by `get_tree_bdev` with a new superblock, locked, whose block
/// device is open.
unsafe extern "C" fn fill_super<T: FileSystem>(
    sb: *mut bindings::super_block,
    _fc: *mut bindings::fs_context,
) -> c_int {
    from_result(|| {
        // SAFETY: `sb` is valid and exclusively ours until this returns.
        let sb = unsafe { SuperBlock::from_raw(sb) };
        // SAFETY: As above, the superblock is new and locked.
        unsafe { (*sb.0.get()).s_magic = T::MAGIC as _ };
        T::fill_super(&NewSuperBlock { sb })?;
        Ok(0)
    })
}

/// A mounted (or being mounted) superblock: `struct super_block`.
///
/// # Invariants
///
/// The wrapped superblock is alive and has an open block device for the
/// lifetime of every reference to this type.
#[repr(transparent)]
pub struct SuperBlock(Opaque<bindings::super_block>);

impl SuperBlock {
    /// # Safety
    ///
    /// `ptr` is a live superblock with an open block device, for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: `SuperBlock` is a transparent wrapper; validity per the
        // function's safety contract.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn raw(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    /// The device name, as btrfs prints it in `(device vda)`.
    pub fn id(&self) -> &CStr {
        // SAFETY: `s_id` is a NUL-terminated array set by `sget` before the
        // superblock is visible, and never changes afterwards.
        unsafe { CStr::from_char_ptr((*self.raw()).s_id.as_ptr()) }
    }

    /// Whether the superblock is read-only (`SB_RDONLY`).
    pub fn is_read_only(&self) -> bool {
        // SAFETY: Reading `s_flags` of a live superblock.
        let flags = unsafe { (*self.raw()).s_flags };
        flags as u64 & bindings::RBTRFS_SB_RDONLY as u64 != 0
    }

    /// The current block size used for [`SuperBlock::bread`].
    pub fn block_size(&self) -> u32 {
        // SAFETY: Reading `s_blocksize` of a live superblock.
        unsafe { (*self.raw()).s_blocksize as u32 }
    }

    /// Size of the block device in bytes.
    pub fn device_size(&self) -> u64 {
        // SAFETY: By the type invariants `s_bdev` is open.
        let bytes = unsafe { bindings::rbtrfs_bdev_nr_bytes((*self.raw()).s_bdev) };
        bytes as u64
    }

    /// Reads block `block` (in [`SuperBlock::block_size`] units) of the
    /// device; `EIO` if the read fails or lies beyond the device's end.
    pub fn bread(&self, block: u64) -> Result<BufferHead> {
        // SAFETY: The superblock is live with an open device; `sb_bread`
        // returns NULL or a referenced up-to-date buffer head.
        unsafe { BufferHead::from_raw(bindings::rbtrfs_sb_bread(self.raw(), block)) }.ok_or(EIO)
    }
}

/// A superblock being set up in [`FileSystem::fill_super`]; it allows the
/// changes that are only legal before the mount is visible.
pub struct NewSuperBlock<'a> {
    sb: &'a SuperBlock,
}

impl NewSuperBlock<'_> {
    /// Sets the block size for [`SuperBlock::bread`] (`sb_set_blocksize`).
    /// `EINVAL` if the device cannot use it (e.g. its logical block size is
    /// larger).
    pub fn set_block_size(&self, size: u32) -> Result {
        // SAFETY: The superblock is new and locked, with an open device.
        let got = unsafe { bindings::sb_set_blocksize(self.sb.raw(), size as c_int) };
        if got == 0 {
            Err(EINVAL)
        } else {
            Ok(())
        }
    }
}

impl Deref for NewSuperBlock<'_> {
    type Target = SuperBlock;

    fn deref(&self) -> &SuperBlock {
        self.sb
    }
}
