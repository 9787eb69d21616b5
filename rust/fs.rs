// SPDX-License-Identifier: GPL-2.0

//! Filesystem types, superblocks and the mount entry.
//!
//! C: `include/linux/fs.h` (`struct file_system_type`, `struct super_block`,
//! `struct super_operations`) and `include/linux/fs_context.h` (the mount
//! API, `Documentation/filesystems/mount_api.rst`).
//!
//! A filesystem implements [`FileSystem`]; [`Registration`] registers it with
//! the VFS for as long as the registration lives. Mounting goes
//! `init_fs_context` -> `get_tree` -> `get_tree_bdev`, which opens the block
//! device and calls [`FileSystem::fill_super`] with a [`NewSuperBlock`]. The
//! value it returns becomes the superblock's private data (`s_fs_info`,
//! reachable as [`SuperBlock::data`]) until `kill_sb` drops it, after the
//! VFS has evicted every inode. Then [`FileSystem::root`] gives the root
//! inode. The inode, directory, file and folio callbacks are in
//! [`super::inode`].
//!
//! # Examples
//!
//! ```ignore
//! static FS_TYPE: fs::Type = fs::Type::new();
//! struct MyFs;
//! impl fs::FileSystem for MyFs {
//!     const NAME: &'static CStr = c_str!("myfs");
//!     const MAGIC: u64 = 0x1234;
//!     type Data = MyFsInfo;
//!     type INodeData = MyInode;
//!     fn fill_super(sb: &fs::NewSuperBlock<'_>) -> Result<KBox<MyFsInfo>> { ... }
//!     fn root(sb: &fs::SuperBlock<Self>) -> Result<ARef<INode<Self>>> { ... }
//!     ...
//! }
//! let reg = fs::Registration::new::<MyFs>(&FS_TYPE, module)?;
//! ```

use super::bindings;
use super::block::BufferHead;
use super::inode::{self, INode};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::c_str;
use kernel::error::{from_result, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::{ARef, Opaque};
use kernel::ThisModule;

/// `statfs` figures, in units of [`StatFs::block_size`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StatFs {
    /// Fundamental block size.
    pub block_size: u64,
    /// Total data blocks.
    pub blocks: u64,
    /// Free blocks.
    pub free: u64,
    /// Free blocks available to unprivileged users.
    pub available: u64,
    /// Total inodes (0: not limited).
    pub files: u64,
    /// Free inodes.
    pub free_files: u64,
    /// Longest name.
    pub name_len: u64,
    /// Filesystem id (two 32-bit words).
    pub fsid: [u32; 2],
}

/// A filesystem implementation.
pub trait FileSystem: Sized + 'static {
    /// The type name: what `/proc/filesystems` lists and `mount -t` takes.
    const NAME: &'static CStr;

    /// The magic stored in `s_magic` and reported by `statfs`.
    const MAGIC: u64;

    /// Per-superblock data (`s_fs_info`).
    type Data: Send + Sync;

    /// Per-inode data, stored in the same allocation as the VFS inode.
    type INodeData: Send + Sync;

    /// Parsed mount options (one value per mount or remount request).
    type Options: Default + Send;

    /// Parses one mount option, `key` or `key=value`. `-o ro`/`rw` and the
    /// other VFS flags never get here. An error fails the mount.
    fn parse_option(opts: &mut Self::Options, key: &CStr, value: Option<&CStr>) -> Result;

    /// Reads the filesystem on a new superblock's device. Called with the
    /// superblock locked; on error the VFS tears it down again.
    fn fill_super(sb: &NewSuperBlock<'_>, opts: &Self::Options) -> Result<KBox<Self::Data>>;

    /// A remount: `read_only` is the state asked for. An error refuses it
    /// and leaves the mount as it was.
    fn reconfigure(sb: &SuperBlock<Self>, opts: &Self::Options, read_only: bool) -> Result;

    /// The root directory inode, once the data is in place.
    fn root(sb: &SuperBlock<Self>) -> Result<ARef<INode<Self>>>;

    /// Looks `name` up in directory `dir`; `None` if it does not exist.
    fn lookup(dir: &INode<Self>, name: &[u8]) -> Result<Option<ARef<INode<Self>>>>;

    /// Emits directory entries from `emitter.pos()` on, until the end or
    /// until the emitter is full.
    fn read_dir(dir: &INode<Self>, emitter: &mut inode::DirEmitter<'_>) -> Result;

    /// Fills a locked folio of a regular file or symlink with its data.
    fn read_folio(inode: &INode<Self>, folio: &mut super::folio::LockedFolio<'_>) -> Result;

    /// Reads extended attribute `name` (with its namespace prefix). With
    /// `None` returns the value's size; else copies it (`ERANGE` if short).
    fn get_xattr(inode: &INode<Self>, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize>;

    /// Lists extended attribute names, each NUL terminated. With `None`
    /// returns the size needed; else fills `buf` (`ERANGE` if short).
    fn list_xattr(inode: &INode<Self>, buf: Option<&mut [u8]>) -> Result<usize>;

    /// `statfs` figures.
    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs>;
}

/// Storage for a `struct file_system_type` and its inode cache.
///
/// It must be a `static`: the C struct embeds lockdep class keys, and
/// lockdep accepts only keys in static (module or kernel image) storage.
///
/// # Invariants
///
/// While `registered` is true, `inner` is initialised and registered with
/// the VFS and `inode_cache` is a live slab cache for the registered
/// filesystem's inodes; they are accessed only by the VFS and by the owning
/// [`Registration`].
#[repr(C)]
pub struct Type {
    // First field: `super_block.s_type` points here (see `inode_cache`).
    inner: Opaque<bindings::file_system_type>,
    inode_cache: AtomicPtr<bindings::kmem_cache>,
    registered: AtomicBool,
}

// SAFETY: The C struct is only written before registration, under the
// `registered` flag, and afterwards belongs to the VFS, which locks it.
unsafe impl Sync for Type {}

impl Type {
    /// An unregistered filesystem type.
    pub const fn new() -> Self {
        Self {
            inner: Opaque::uninit(),
            inode_cache: AtomicPtr::new(core::ptr::null_mut()),
            registered: AtomicBool::new(false),
        }
    }

    /// The inode cache of the registered type a superblock belongs to.
    ///
    /// # Safety
    ///
    /// `sb` is a live superblock of a filesystem registered through a
    /// [`Registration`].
    pub(crate) unsafe fn inode_cache_of(sb: *mut bindings::super_block) -> *mut bindings::kmem_cache {
        // SAFETY: `s_type` points to `inner`, the first field of a `Type`
        // (repr(C)), which lives as long as the registration, hence as long
        // as any of its superblocks.
        unsafe {
            let ty = (*sb).s_type.cast::<Type>();
            (*ty).inode_cache.load(Ordering::Acquire)
        }
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
/// `ty.registered` is true, `ty.inner` is registered with the VFS and
/// `ty.inode_cache` is live.
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
        let size = core::mem::size_of::<inode::INodeWithData<T>>() as u32;
        let align = core::mem::align_of::<inode::INodeWithData<T>>() as u32;
        // SAFETY: The name is a static NUL-terminated string; the size and
        // alignment describe the objects the cache will hold.
        let cache = unsafe {
            bindings::rbtrfs_inode_cache_create(c_str!("rbtrfs_inode").as_char_ptr(), size, align)
        };
        if cache.is_null() {
            ty.registered.store(false, Ordering::Release);
            return Err(ENOMEM);
        }
        ty.inode_cache.store(cache, Ordering::Release);
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
            (*fs).kill_sb = Some(kill_sb::<T>);
            bindings::register_filesystem(fs)
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: The cache was never used.
            unsafe { bindings::kmem_cache_destroy(cache) };
            ty.registered.store(false, Ordering::Release);
            return Err(e);
        }
        // INVARIANT: registration succeeded and the cache is live.
        Ok(Self { ty })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the type is registered and the
        // cache live. Once unregistered no new superblock can appear, and
        // module unload is refused while any is mounted, so after the RCU
        // barrier (inodes are freed by RCU callbacks) the cache is empty.
        unsafe {
            bindings::unregister_filesystem(self.ty.inner.get());
            bindings::rcu_barrier();
            bindings::kmem_cache_destroy(self.ty.inode_cache.swap(core::ptr::null_mut(), Ordering::AcqRel));
        }
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
        ops.parse_param = Some(parse_param::<T>);
        ops.free = Some(free_fc::<T>);
        ops.reconfigure = Some(reconfigure::<T>);
        ops
    };

    const SUPER_OPS: bindings::super_operations = {
        // SAFETY: All-zero is a valid `super_operations` (all None).
        let mut ops: bindings::super_operations = unsafe { core::mem::zeroed() };
        ops.alloc_inode = Some(inode::alloc_inode::<T>);
        ops.free_inode = Some(inode::free_inode::<T>);
        ops.statfs = Some(statfs::<T>);
        ops
    };
}

/// `file_system_type.init_fs_context`.
///
/// # Safety
///
/// Called by the VFS with a valid, new `fs_context`.
unsafe extern "C" fn init_fs_context<T: FileSystem>(fc: *mut bindings::fs_context) -> c_int {
    from_result(|| {
        let opts = KBox::new(T::Options::default(), GFP_KERNEL)?;
        // SAFETY: `fc` is valid for writes per the function's safety
        // contract; the operations table is a promoted constant that lives
        // forever; `free_fc` releases the options.
        unsafe {
            (*fc).fs_private = KBox::into_raw(opts).cast();
            (*fc).ops = &Tables::<T>::CONTEXT_OPS;
        }
        Ok(0)
    })
}

/// The options of a context set up by `init_fs_context::<T>`.
///
/// # Safety
///
/// `fc` is a live context of filesystem `T`, not being freed.
unsafe fn options<'a, T: FileSystem>(fc: *mut bindings::fs_context) -> &'a mut T::Options {
    // SAFETY: `init_fs_context` stored a `KBox<T::Options>`; the VFS
    // serialises calls on one context.
    unsafe { &mut *(*fc).fs_private.cast::<T::Options>() }
}

/// `fs_context_operations.free`.
///
/// # Safety
///
/// Called by the VFS once, when the context is released.
unsafe extern "C" fn free_fc<T: FileSystem>(fc: *mut bindings::fs_context) {
    // SAFETY: `fs_private` is null or the `KBox<T::Options>` from
    // `init_fs_context`, released only here.
    unsafe {
        let p = (*fc).fs_private.cast::<T::Options>();
        if !p.is_null() {
            drop(KBox::from_raw(p));
            (*fc).fs_private = core::ptr::null_mut();
        }
    }
}

/// `fs_context_operations.parse_param`.
///
/// # Safety
///
/// Called by the VFS with a live context of ours and a parameter.
unsafe extern "C" fn parse_param<T: FileSystem>(
    fc: *mut bindings::fs_context,
    param: *mut bindings::fs_parameter,
) -> c_int {
    // SAFETY: The key is a NUL-terminated string; a string value too.
    let (key, value) = unsafe {
        let v = bindings::rbtrfs_fs_param_string(param);
        (CStr::from_char_ptr((*param).key), (!v.is_null()).then(|| CStr::from_char_ptr(v)))
    };
    if key.as_bytes() == b"source" {
        // The VFS records the device itself.
        return ENOPARAM.to_errno();
    }
    // SAFETY: A live context of ours.
    let opts = unsafe { options::<T>(fc) };
    match T::parse_option(opts, key, value) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `fs_context_operations.reconfigure` (remount).
///
/// # Safety
///
/// Called by the VFS with a reconfiguration context whose `root` is a
/// mounted superblock of ours, under `s_umount`.
unsafe extern "C" fn reconfigure<T: FileSystem>(fc: *mut bindings::fs_context) -> c_int {
    from_result(|| {
        // SAFETY: The context is live; its root's superblock is mounted, so
        // its data is set.
        let (sb, opts, ro) = unsafe {
            let sb = SuperBlock::<T>::from_raw((*(*fc).root).d_sb);
            let mask = (*fc).sb_flags_mask & bindings::RBTRFS_SB_RDONLY_UINT;
            let ro = if mask != 0 { (*fc).sb_flags & bindings::RBTRFS_SB_RDONLY_UINT != 0 } else { sb.is_read_only() };
            (sb, options::<T>(fc), ro)
        };
        T::reconfigure(sb, opts, ro)?;
        Ok(0)
    })
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
    fc: *mut bindings::fs_context,
) -> c_int {
    from_result(|| {
        // SAFETY: `sb` is new, locked and ours until this returns; the
        // tables are 'static.
        unsafe {
            (*sb).s_magic = T::MAGIC as _;
            (*sb).s_op = &Tables::<T>::SUPER_OPS;
            let handlers: &'static [*const bindings::xattr_handler; 4] = &inode::Tables::<T>::XATTR_HANDLERS;
            (*sb).s_xattr = handlers.as_ptr();
            (*sb).s_time_gran = 1;
            (*sb).s_maxbytes = bindings::RBTRFS_MAX_LFS_FILESIZE;
        }
        let new = NewSuperBlock { sb, _p: PhantomData };
        // SAFETY: `fc` is the live context of this mount.
        let data = T::fill_super(&new, unsafe { options::<T>(fc) })?;
        // SAFETY: Still new and locked. From here on `kill_sb` owns `data`
        // (it drops it even if the rest of the mount fails).
        unsafe { (*sb).s_fs_info = KBox::into_raw(data).cast() };
        // SAFETY: `s_fs_info` now holds `T::Data`, as `SuperBlock<T>` needs.
        let sbr = unsafe { SuperBlock::<T>::from_raw(sb) };
        let root = T::root(sbr)?;
        // SAFETY: `d_make_root` takes over the inode reference, also when it
        // fails (it then drops it).
        let dentry = unsafe { bindings::d_make_root(ARef::into_raw(root).as_ptr().cast()) };
        if dentry.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: Still new and locked.
        unsafe { (*sb).s_root = dentry };
        Ok(0)
    })
}

/// `file_system_type.kill_sb`: shuts the superblock down, then drops the
/// filesystem's data (no inode references it any more).
///
/// # Safety
///
/// Called by the VFS once, with a superblock of this type.
unsafe extern "C" fn kill_sb<T: FileSystem>(sb: *mut bindings::super_block) {
    // SAFETY: `sb` is valid; `s_fs_info` is null or a `KBox<T::Data>` that
    // `fill_super` leaked, and nothing uses it after `kill_block_super`.
    unsafe {
        let data = (*sb).s_fs_info.cast::<T::Data>();
        bindings::kill_block_super(sb);
        if !data.is_null() {
            drop(KBox::from_raw(data));
        }
    }
}

/// `super_operations.statfs`.
///
/// # Safety
///
/// Called by the VFS with a dentry of a mounted superblock of this type and
/// a buffer to fill.
unsafe extern "C" fn statfs<T: FileSystem>(
    dentry: *mut bindings::dentry,
    buf: *mut bindings::kstatfs,
) -> c_int {
    from_result(|| {
        // SAFETY: The dentry's superblock is mounted, so its data is set.
        let sb = unsafe { SuperBlock::<T>::from_raw((*dentry).d_sb) };
        let st = T::statfs(sb)?;
        // SAFETY: `buf` is valid for writes.
        unsafe {
            (*buf).f_type = T::MAGIC as _;
            (*buf).f_bsize = st.block_size as _;
            (*buf).f_blocks = st.blocks;
            (*buf).f_bfree = st.free;
            (*buf).f_bavail = st.available;
            (*buf).f_files = st.files;
            (*buf).f_ffree = st.free_files;
            (*buf).f_namelen = st.name_len as _;
            (*buf).f_frsize = st.block_size as _;
            (*buf).f_fsid.val = [st.fsid[0] as _, st.fsid[1] as _];
        }
        Ok(0)
    })
}

/// Device access common to new and mounted superblocks.
///
/// # Safety
///
/// Implementors return a live superblock with an open block device.
unsafe trait RawSuper {
    fn raw_sb(&self) -> *mut bindings::super_block;
}

/// Methods that only read the device or immutable superblock fields.
pub trait BlockDevice {
    /// The device name, as btrfs prints it in `(device vda)`.
    fn id(&self) -> &CStr;
    /// Whether the superblock is read-only (`SB_RDONLY`).
    fn is_read_only(&self) -> bool;
    /// Size of the block device in bytes.
    fn device_size(&self) -> u64;
    /// Reads block `block` (in units of the superblock's block size) through
    /// the buffer cache; `EIO` if the read fails or lies beyond the end.
    fn bread(&self, block: u64) -> Result<BufferHead>;
    /// Reads `buf.len()` bytes at byte `offset` of the device, bypassing the
    /// buffer cache. Both must be multiples of 512.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result;
}

impl<S: RawSuper> BlockDevice for S {
    fn id(&self) -> &CStr {
        // SAFETY: `s_id` is a NUL-terminated array set by `sget` before the
        // superblock is visible, and never changes afterwards.
        unsafe { CStr::from_char_ptr((*self.raw_sb()).s_id.as_ptr()) }
    }

    fn is_read_only(&self) -> bool {
        // SAFETY: Reading `s_flags` of a live superblock.
        let flags = unsafe { (*self.raw_sb()).s_flags };
        flags as u64 & bindings::RBTRFS_SB_RDONLY as u64 != 0
    }

    fn device_size(&self) -> u64 {
        // SAFETY: By the trait's contract `s_bdev` is open.
        let bytes = unsafe { bindings::rbtrfs_bdev_nr_bytes((*self.raw_sb()).s_bdev) };
        bytes as u64
    }

    fn bread(&self, block: u64) -> Result<BufferHead> {
        // SAFETY: The superblock is live with an open device; `sb_bread`
        // returns NULL or a referenced up-to-date buffer head.
        unsafe { BufferHead::from_raw(bindings::rbtrfs_sb_bread(self.raw_sb(), block)) }.ok_or(EIO)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result {
        // SAFETY: By the trait's contract `s_bdev` is open while `self` lives.
        unsafe { super::bio::read_at((*self.raw_sb()).s_bdev, offset, buf) }
    }
}

/// A mounted superblock of filesystem `T`: `struct super_block` whose
/// `s_fs_info` is the `T::Data` that [`FileSystem::fill_super`] returned.
///
/// # Invariants
///
/// The superblock is alive, has an open block device and its `s_fs_info`
/// points to a `T::Data` for the lifetime of every reference to this type.
#[repr(transparent)]
pub struct SuperBlock<T: FileSystem>(Opaque<bindings::super_block>, PhantomData<T>);

impl<T: FileSystem> SuperBlock<T> {
    /// # Safety
    ///
    /// `ptr` is a live superblock of filesystem `T` with an open block
    /// device whose `s_fs_info` is a `T::Data`, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: Transparent wrapper; validity per the safety contract.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(crate) fn raw(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    /// The filesystem's data for this superblock.
    pub fn data(&self) -> &T::Data {
        // SAFETY: By the type invariants `s_fs_info` is a live `T::Data`,
        // dropped only by `kill_sb` after every user is gone.
        unsafe { &*(*self.raw()).s_fs_info.cast::<T::Data>() }
    }

    /// Gets the inode `key` from the inode cache, or a new locked one for
    /// the caller to initialise (see [`inode::NewINode`]).
    pub fn get_inode(&self, key: inode::INodeKey) -> Result<inode::Lookup<T>> {
        inode::get_inode(self, key)
    }
}

// SAFETY: By the type invariants the superblock is live with an open device.
unsafe impl<T: FileSystem> RawSuper for SuperBlock<T> {
    fn raw_sb(&self) -> *mut bindings::super_block {
        self.raw()
    }
}

/// A superblock being set up in [`FileSystem::fill_super`]; it allows the
/// changes that are only legal before the mount is visible.
///
/// # Invariants
///
/// `sb` is a new, locked superblock with an open block device.
pub struct NewSuperBlock<'a> {
    sb: *mut bindings::super_block,
    _p: PhantomData<&'a ()>,
}

impl NewSuperBlock<'_> {
    /// Sets the block size for [`BlockDevice::bread`] (`sb_set_blocksize`).
    /// `EINVAL` if the device cannot use it (e.g. its logical block size is
    /// larger).
    pub fn set_block_size(&self, size: u32) -> Result {
        // SAFETY: The superblock is new and locked, with an open device.
        let got = unsafe { bindings::sb_set_blocksize(self.sb, size as c_int) };
        if got == 0 {
            Err(EINVAL)
        } else {
            Ok(())
        }
    }

    /// Makes the mount read-only, whatever was asked.
    pub fn set_read_only(&self) {
        // SAFETY: The superblock is new and locked.
        unsafe { (*self.sb).s_flags |= bindings::RBTRFS_SB_RDONLY as kernel::ffi::c_ulong };
    }
}

// SAFETY: By the type invariants the superblock is live with an open device.
unsafe impl RawSuper for NewSuperBlock<'_> {
    fn raw_sb(&self) -> *mut bindings::super_block {
        self.sb
    }
}
