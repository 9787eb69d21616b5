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
//! # Writing
//!
//! A filesystem that sets [`FileSystem::WRITABLE`] gets the write paths
//! wired into the C operation tables (see [`super::inode`]) and the
//! superblock operations `sync_fs`, `evict_inode`, `write_inode` and
//! `put_super` ([`FileSystem::sync_fs`], [`FileSystem::evict_inode`],
//! [`FileSystem::write_inode`], [`FileSystem::put_super`]). Without it the
//! tables are those of a read-only filesystem and a remount read-write is
//! refused. The block device is written with [`BlockDevice::write_at`],
//! [`BlockDevice::write_at_fua`] and [`BlockDevice::flush`].
//!
//! At unmount the VFS calls, in order: `sync_fs(wait)` (after writing back
//! dirty inodes), `evict_inode` for every inode, `put_super`, and finally
//! drops the data. The background work ([`FileSystem::background_work`]) is
//! disabled before `put_super`, so a final commit there does not race with
//! a periodic one.
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
use super::folio::{LockedFolio, Writeback};
use super::inode::{self, DEntry, INode, NewDEntry, RenameFlags, SetAttr, UnrefINode};
use super::workqueue::DelayedWork;
use core::marker::PhantomData;
use core::pin::Pin;
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
    /// and leaves the mount as it was. Going from read-write to read-only
    /// (with [`FileSystem::WRITABLE`]), the VFS's dirty inodes and folios
    /// have been written back and [`FileSystem::sync_fs`] called already
    /// (`sync_filesystem`); stop background commits here if wanted. Going
    /// read-write without `WRITABLE` is refused with `EROFS` after this
    /// returns.
    fn reconfigure(sb: &SuperBlock<Self>, opts: &Self::Options, read_only: bool) -> Result;

    /// The root directory inode, once the data is in place.
    fn root(sb: &SuperBlock<Self>) -> Result<ARef<INode<Self>>>;

    /// Looks `name` up in directory `dir`; `None` if it does not exist.
    fn lookup(dir: &INode<Self>, name: &[u8]) -> Result<Option<ARef<INode<Self>>>>;

    /// Emits directory entries from `emitter.pos()` on, until the end or
    /// until the emitter is full.
    fn read_dir(dir: &INode<Self>, emitter: &mut inode::DirEmitter<'_>) -> Result;

    /// Fills a locked folio of a regular file or symlink with its data.
    /// Also used before a write to part of a folio that is not in the page
    /// cache yet (`write_begin`); bytes beyond the end of the file must be
    /// zeroed.
    fn read_folio(inode: &INode<Self>, folio: &mut LockedFolio<'_>) -> Result;

    /// Fills consecutive folios of a readahead window together (the same
    /// rules as [`FileSystem::read_folio`]), so that a large extent can be
    /// read at once. The default fills them one by one.
    fn readahead(inode: &INode<Self>, batch: &mut super::folio::ReadaheadBatch<'_>) -> Result {
        batch.for_each_folio(|f| Self::read_folio(inode, f))
    }

    /// Reads extended attribute `name` (with its namespace prefix). With
    /// `None` returns the value's size; else copies it (`ERANGE` if short).
    fn get_xattr(inode: &INode<Self>, name: &[u8], buf: Option<&mut [u8]>) -> Result<usize>;

    /// Lists extended attribute names, each NUL terminated. With `None`
    /// returns the size needed; else fills `buf` (`ERANGE` if short).
    fn list_xattr(inode: &INode<Self>, buf: Option<&mut [u8]>) -> Result<usize>;

    /// Sets attribute `name` (with its namespace prefix) to `value`, or
    /// removes it when `value` is `None`; `flags` are `XATTR_CREATE` and
    /// `XATTR_REPLACE`. Only called when [`FileSystem::WRITABLE`].
    fn set_xattr(_inode: &INode<Self>, _name: &[u8], _value: Option<&[u8]>, _flags: i32) -> Result {
        Err(EROFS)
    }

    /// Whether the filesystem keeps POSIX ACLs in the `system.posix_acl_*`
    /// attributes (see [`super::acl`]): inodes other than symlinks then get
    /// `get_inode_acl` (reading them with [`FileSystem::get_xattr`]) and,
    /// with [`FileSystem::WRITABLE`], `set_acl` ([`FileSystem::set_acl`]).
    /// The VFS uses them on superblocks with `SB_POSIXACL` only, which a
    /// mount gets unless [`FileSystem::posix_acl_option`] says no. There the
    /// VFS does not apply the umask to new inodes: the creating callbacks
    /// must ([`NewINode::inherit_acls`](inode::NewINode::inherit_acls)).
    const POSIX_ACL: bool = false;

    /// What the mount options in `opts` say about POSIX ACLs (`acl`,
    /// `noacl`): `None` if nothing, which means on for a new mount and
    /// unchanged for a remount. Only used with [`FileSystem::POSIX_ACL`].
    fn posix_acl_option(_opts: &Self::Options) -> Option<bool> {
        None
    }

    /// Stores a POSIX ACL: sets attribute `name` (`system.posix_acl_access`
    /// or `system.posix_acl_default`) to `value` (xattr format), or removes
    /// it with `None` (an absent one is no error), and writes the inode's
    /// mode `mode` (type and permission bits, already in the in-core inode)
    /// with a new change time, all in one transaction. Called with the inode
    /// locked, only with [`FileSystem::POSIX_ACL`] and
    /// [`FileSystem::WRITABLE`].
    fn set_acl(_inode: &INode<Self>, _name: &[u8], _value: Option<&[u8]>, _mode: u16) -> Result {
        Err(super::errno::eopnotsupp())
    }

    /// `statfs` figures.
    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs>;

    /// Called once a mount succeeded: the root dentry is in place (e.g. to
    /// start the periodic commit with
    /// [`SuperBlock::schedule_background_work`]). An error fails the mount;
    /// the VFS then shuts the superblock down as at unmount (`sync_fs`,
    /// `evict_inode`, `put_super`).
    fn mounted(_sb: &SuperBlock<Self>) -> Result {
        Ok(())
    }

    /// Runs on a workqueue after [`SuperBlock::schedule_background_work`]:
    /// e.g. the periodic transaction commit (`commit=N`). It may re-arm
    /// itself with `schedule_background_work`. It never runs once
    /// `put_super` (or, for a failed mount, the teardown) has started.
    fn background_work(_sb: &SuperBlock<Self>) {}

    // ---- Writing. Everything below is used only with `WRITABLE`. ----

    /// Whether the filesystem implements the write operations below. If
    /// false (the default) they are not installed in the C tables, whatever
    /// the methods do, and remounting read-write is refused with `EROFS`.
    const WRITABLE: bool = false;

    /// Creates regular file `dentry` in `dir` (`open(O_CREAT)`, `creat`).
    /// `mode` is type (`S_IFREG`) and permission bits; `excl`: `O_EXCL`.
    /// See [`NewINode::instantiate`](inode::NewINode::instantiate).
    fn create(_dir: &INode<Self>, _dentry: NewDEntry<'_, Self>, _mode: u16, _excl: bool) -> Result {
        Err(EROFS)
    }

    /// Creates directory `dentry` in `dir`; `mode` includes `S_IFDIR`.
    fn mkdir(_dir: &INode<Self>, _dentry: NewDEntry<'_, Self>, _mode: u16) -> Result {
        Err(EROFS)
    }

    /// Creates a device node, FIFO or socket (or, rarely, a regular file)
    /// `dentry` in `dir`; `mode` includes the type, `rdev` is the device
    /// number (kernel `dev_t` encoding).
    fn mknod(_dir: &INode<Self>, _dentry: NewDEntry<'_, Self>, _mode: u16, _rdev: u32) -> Result {
        Err(EROFS)
    }

    /// Creates symbolic link `dentry` in `dir` pointing to `target`; `mode`
    /// is `S_IFLNK | 0o777`. The target is read back through
    /// [`FileSystem::read_folio`] (`page_get_link`).
    fn symlink(_dir: &INode<Self>, _dentry: NewDEntry<'_, Self>, _mode: u16, _target: &[u8]) -> Result {
        Err(EROFS)
    }

    /// Adds a hard link `dentry` in `dir` to `inode` (not a directory; the
    /// VFS checked). Increment the link count, update ctime, then
    /// [`NewDEntry::instantiate`] with a new reference (`ARef::from(inode)`).
    fn link(_inode: &INode<Self>, _dir: &INode<Self>, _dentry: NewDEntry<'_, Self>) -> Result {
        Err(EROFS)
    }

    /// Removes entry `dentry` (positive, not a directory) from `dir`.
    /// Drop the inode's link count ([`INode::drop_nlink`]); at zero the
    /// inode is freed on disk by [`FileSystem::evict_inode`] once unused.
    /// The VFS removes the dentry.
    fn unlink(_dir: &INode<Self>, _dentry: &DEntry<Self>) -> Result {
        Err(EROFS)
    }

    /// Removes empty directory `dentry` from `dir` (`ENOTEMPTY` if it is
    /// not empty). Clear its link count and drop `dir`'s.
    fn rmdir(_dir: &INode<Self>, _dentry: &DEntry<Self>) -> Result {
        Err(EROFS)
    }

    /// Renames `old_dentry` in `old_dir` to `new_dentry` in `new_dir`.
    /// `new_dentry` may be positive (replace it, or swap with
    /// [`RenameFlags::EXCHANGE`]). Flags other than `NOREPLACE` and
    /// `EXCHANGE` are refused with `EINVAL` before this is called. The VFS
    /// moves the dentries.
    fn rename(
        _old_dir: &INode<Self>,
        _old_dentry: &DEntry<Self>,
        _new_dir: &INode<Self>,
        _new_dentry: &DEntry<Self>,
        _flags: RenameFlags,
    ) -> Result {
        Err(EROFS)
    }

    /// Changes attributes (`chmod`, `chown`, `utimes`, `truncate`) of any
    /// inode; see [`SetAttr`] for the usual steps.
    fn setattr(_inode: &INode<Self>, _attr: &SetAttr<'_, Self>) -> Result {
        Err(EROFS)
    }

    /// Objects in the filesystem's own caches that memory reclaim may free
    /// (`super_operations.nr_cached_objects`): the superblock's shrinker
    /// counts them beside its dentries and inodes, and frees them with
    /// [`FileSystem::free_cached_objects`]; so does `drop_caches`.
    fn nr_cached_objects(_sb: &SuperBlock<Self>) -> usize {
        0
    }

    /// Frees up to `nr` cached objects and returns how many went. Called
    /// from memory reclaim (only for allocations that allow filesystem
    /// recursion): it must not allocate, nor take a lock that is held
    /// around an allocation.
    fn free_cached_objects(_sb: &SuperBlock<Self>, _nr: usize) -> usize {
        0
    }

    /// Whether inodes have attribute flags (`chattr`/`lsattr`): installs
    /// `fileattr_get` on directories and regular files, and
    /// `fileattr_set` if [`FileSystem::WRITABLE`]. The VFS then answers
    /// `FS_IOC_GETFLAGS`, `FS_IOC_SETFLAGS`, `FS_IOC_FSGETXATTR` and
    /// `FS_IOC_FSSETXATTR` through [`FileSystem::fileattr_get`] and
    /// [`FileSystem::fileattr_set`], never [`FileSystem::ioctl`].
    const FILEATTR: bool = false;

    /// The inode's `FS_*_FL` flags.
    fn fileattr_get(_inode: &INode<Self>) -> Result<u32> {
        Err(ENOTTY)
    }

    /// Changes the inode's flags as `attr` says (the VFS checked the
    /// caller's rights; the inode is locked): store them and set the
    /// in-core [`inode::InodeFlags`] the VFS enforces.
    fn fileattr_set(_inode: &INode<Self>, _attr: &inode::FileAttr) -> Result {
        Err(super::errno::eopnotsupp())
    }

    /// Whether [`FileSystem::permission`] and [`FileSystem::st_dev`] are
    /// used (the `permission` and `getattr` inode operations).
    const SUBVOLUMES: bool = false;

    /// A check before the VFS's own (`generic_permission`), e.g. `EROFS`
    /// for writes to a read-only subvolume. May be called in RCU path walk
    /// (`MAY_NOT_BLOCK` in `mask`): it must not sleep then.
    fn permission(_inode: &INode<Self>, _mask: i32) -> Result {
        Ok(())
    }

    /// The device number `stat` reports for `inode` (C btrfs: its
    /// subvolume's anonymous device); `None`: the superblock's.
    fn st_dev(_inode: &INode<Self>) -> Option<u32> {
        None
    }

    /// `ioctl(2)` on an open file or directory: `arg` is the user-space
    /// argument. Unknown commands are `ENOTTY`.
    fn ioctl(_file: &super::ioctl::IoctlFile<'_, Self>, _cmd: u32, _arg: usize) -> Result<i32> {
        Err(ENOTTY)
    }

    /// `fsync`/`fdatasync` of bytes `start..=end` of a file or directory.
    /// The dirty folios of the range have been written back and waited for
    /// already ([`FileSystem::writepages`]); make them and the inode
    /// durable (commit). Called without the inode lock.
    fn fsync(_inode: &INode<Self>, _start: i64, _end: i64, _datasync: bool) -> Result {
        Ok(())
    }

    /// Whether regular files answer `FS_IOC_FIEMAP` (installs
    /// `inode_operations.fiemap`; see [`super::fiemap`]).
    const FIEMAP: bool = false;

    /// Fills `fiemap` with the records of bytes `[start, start + len)` of
    /// `inode` (checked by `fiemap_prep`), until [`super::fiemap::Fiemap::fill`]
    /// says stop. Called without the inode lock.
    fn fiemap(_inode: &INode<Self>, _fiemap: &super::fiemap::Fiemap, _start: u64, _len: u64) -> Result {
        Err(super::errno::eopnotsupp())
    }

    /// Whether regular files can share ranges (`FICLONE`, `FICLONERANGE`,
    /// `FIDEDUPERANGE`, `copy_file_range`): installs
    /// `remap_file_range` (with [`FileSystem::WRITABLE`]); see
    /// [`super::remap`].
    const REMAP: bool = false;

    /// The filesystem's own refusals of a remap from `src` to `dst` (the
    /// same inode for a remap within one file), before the VFS's checks;
    /// both inodes are locked.
    fn remap_prep(_src: &INode<Self>, _dst: &INode<Self>, _dedupe: bool) -> Result {
        Ok(())
    }

    /// Shares `range` of `src` into `dst`: the VFS checked the range
    /// (alignment, overlap, limits), wrote both ranges back and, for a
    /// dedupe, found them equal. Both inodes are locked, page faults and
    /// readahead kept out; the abstraction drops `dst`'s page cache of
    /// the range afterwards.
    fn remap_file_range(_src: &INode<Self>, _dst: &INode<Self>, _range: &super::remap::RemapRange) -> Result {
        Err(super::errno::eopnotsupp())
    }

    /// `fallocate` with `mode` (`FALLOC_FL_*`) on `len` bytes at `offset`.
    /// Called without the inode lock.
    fn fallocate(_inode: &INode<Self>, _mode: i32, _offset: i64, _len: i64) -> Result {
        Err(super::errno::eopnotsupp())
    }

    /// Writes dirty folios of a regular file: take them from `wb` until it
    /// returns `None`, write each and end it (see [`Writeback`]). The inode
    /// may be unreferenced (writeback at unmount). Runs in a `GFP_NOFS`
    /// scope. An error fails the whole call; unvisited folios stay dirty.
    fn writepages(_inode: &UnrefINode<Self>, _wb: &Writeback<'_>) -> Result {
        Err(EROFS)
    }

    /// Reserves `bytes` of data space for a folio of `inode` about to be
    /// dirtied (`write_begin`, `page_mkwrite`), so that its writeback finds
    /// room. The reservation then belongs to the folio and is given back
    /// through [`FileSystem::release_data`] when the folio is written,
    /// truncated or reclaimed. Without `flush` it must not block on I/O
    /// (a folio lock may be held); with `flush` no folio lock is held and it
    /// may write back and commit to make room. `ENOSPC` if there is none.
    fn reserve_data(_inode: &INode<Self>, _bytes: u64, _flush: bool) -> Result {
        Ok(())
    }

    /// Gives back `bytes` reserved by [`FileSystem::reserve_data`].
    fn release_data(_sb: &SuperBlock<Self>, _bytes: u64) {}

    /// Writes a dirty inode's metadata (after [`INode::mark_dirty`] or a
    /// VFS time update); `sync`: for data integrity (`sync`, `fsync`). The
    /// inode may be unreferenced.
    fn write_inode(_inode: &UnrefINode<Self>, _sync: bool) -> Result {
        Ok(())
    }

    /// The inode's last reference is gone and it leaves the cache: its page
    /// cache has been dropped. If its link count is zero, free it on disk
    /// (items and extents). The inode is unreferenced and must not be
    /// resurrected.
    fn evict_inode(_inode: &UnrefINode<Self>) {}

    /// Writes everything to disk (`sync`, unmount, remount read-only):
    /// commit the running transaction. `wait`: wait for it to be on disk.
    /// Dirty inodes and folios have been written back before.
    fn sync_fs(_sb: &SuperBlock<Self>, _wait: bool) -> Result {
        Ok(())
    }

    /// Unmount, after every inode was evicted and before the data is
    /// dropped, with the block device still open: final commit, stop
    /// threads. [`FileSystem::background_work`] is already disabled.
    fn put_super(_sb: &SuperBlock<Self>) {}
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
        ops.nr_cached_objects = Some(nr_cached_objects::<T>);
        ops.free_cached_objects = Some(free_cached_objects::<T>);
        if T::WRITABLE {
            ops.sync_fs = Some(sync_fs::<T>);
            ops.evict_inode = Some(inode::evict_inode::<T>);
            ops.write_inode = Some(inode::write_inode::<T>);
            ops.put_super = Some(put_super::<T>);
        }
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
        if T::WRITABLE && ro && !sb.is_read_only() {
            // Going read-only: write everything back first, as C
            // filesystems do in their reconfigure (`s_umount` is held).
            // SAFETY: A mounted superblock of ours, `s_umount` held.
            to_result(unsafe { bindings::sync_filesystem(sb.raw()) })?;
        }
        T::reconfigure(sb, opts, ro)?;
        if !ro && !T::WRITABLE {
            return Err(EROFS);
        }
        if let Some(on) = T::posix_acl_option(opts).filter(|_| T::POSIX_ACL) {
            // SAFETY: A remount of a live superblock, under `s_umount`; the
            // VFS's own update of `s_flags` after this keeps the bits
            // outside `sb_flags_mask` (`MS_RMT_MASK`, no `SB_POSIXACL`), so
            // the change stays, as C btrfs's does.
            unsafe { set_posix_acl_flag(sb.raw(), on) };
        }
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
            let handlers: &'static [*const bindings::xattr_handler; 5] = &inode::Tables::<T>::XATTR_HANDLERS;
            (*sb).s_xattr = handlers.as_ptr();
            (*sb).s_time_gran = 1;
            (*sb).s_maxbytes = bindings::RBTRFS_MAX_LFS_FILESIZE;
        }
        let new = NewSuperBlock { sb, _p: PhantomData };
        // SAFETY: `fc` is the live context of this mount.
        let opts = unsafe { options::<T>(fc) };
        if T::POSIX_ACL {
            // SAFETY: The superblock is new and locked.
            unsafe { set_posix_acl_flag(sb, T::posix_acl_option(opts).unwrap_or(true)) };
        }
        let data = T::fill_super(&new, opts)?;
        let info = KBox::pin_init(
            pin_init!(SbInfo::<T> {
                work <- crate::new_delayed_work!(SbPtr::<T>(sb, PhantomData), run_background_work::<T>),
                data,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: Still new and locked. From here on `kill_sb` owns the
        // info (it drops it, pinned, even if the rest of the mount fails);
        // it is never moved out of the box.
        unsafe { (*sb).s_fs_info = KBox::into_raw(Pin::into_inner_unchecked(info)).cast() };
        // SAFETY: `s_fs_info` now holds an `SbInfo<T>`, as `SuperBlock<T>`
        // needs.
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
        T::mounted(sbr)?;
        Ok(0)
    })
}

/// What `s_fs_info` points to: the filesystem's data and the
/// superblock's background work.
///
/// # Invariants
///
/// Pinned in a `KBox` owned by the superblock from `fill_super` until
/// `kill_sb`. `work` is declared first, so dropping the info disables it
/// (waiting for a running callback) before the data goes.
#[pin_data]
struct SbInfo<T: FileSystem> {
    #[pin]
    work: DelayedWork<SbPtr<T>>,
    data: KBox<T::Data>,
}

/// The superblock a background work runs for.
struct SbPtr<T>(*mut bindings::super_block, PhantomData<T>);

// SAFETY: A superblock may be used from any thread; the pointer is only
// dereferenced in `run_background_work`.
unsafe impl<T> Send for SbPtr<T> {}
// SAFETY: As above.
unsafe impl<T> Sync for SbPtr<T> {}

/// The callback of a superblock's background work.
fn run_background_work<T: FileSystem>(sb: &SbPtr<T>) {
    // SAFETY: The work lives in the `SbInfo<T>` of this mounted superblock
    // (its data is set before the work can be scheduled, through a
    // `SuperBlock<T>`), and both `put_super` and `kill_sb` disable it,
    // waiting for a running callback, before the data is dropped or the
    // device closed, so the superblock is a valid `SuperBlock<T>` here.
    T::background_work(unsafe { SuperBlock::from_raw(sb.0) });
}

/// `file_system_type.kill_sb`: shuts the superblock down, then drops the
/// filesystem's data (no inode references it any more).
///
/// # Safety
///
/// Called by the VFS once, with a superblock of this type.
unsafe extern "C" fn kill_sb<T: FileSystem>(sb: *mut bindings::super_block) {
    // SAFETY: `sb` is valid; `s_fs_info` is null or the pinned
    // `KBox<SbInfo<T>>` that `fill_super` leaked. Its background work is
    // disabled before the shutdown starts, and nothing uses the info after
    // `kill_block_super`.
    unsafe {
        let info = (*sb).s_fs_info.cast::<SbInfo<T>>();
        if !info.is_null() {
            (*info).work.disable_sync();
        }
        bindings::kill_block_super(sb);
        if !info.is_null() {
            drop(Pin::new_unchecked(KBox::from_raw(info)));
        }
    }
}

/// `super_operations.sync_fs`.
///
/// # Safety
///
/// Called by the VFS with a mounted superblock of this type.
unsafe extern "C" fn sync_fs<T: FileSystem>(sb: *mut bindings::super_block, wait: c_int) -> c_int {
    // SAFETY: Mounted, so its data is set and the device open.
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    from_result(|| T::sync_fs(sb, wait != 0).map(|()| 0))
}

/// `super_operations.nr_cached_objects`.
///
/// # Safety
///
/// Called by the superblock's shrinker with `s_umount` held shared, so the
/// superblock is mounted (`SB_BORN`, root set) and its data is set.
unsafe extern "C" fn nr_cached_objects<T: FileSystem>(
    sb: *mut bindings::super_block,
    _sc: *mut bindings::shrink_control,
) -> kernel::ffi::c_long {
    // SAFETY: As above.
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    T::nr_cached_objects(sb).min(kernel::ffi::c_long::MAX as usize) as kernel::ffi::c_long
}

/// `super_operations.free_cached_objects`.
///
/// # Safety
///
/// As for [`nr_cached_objects`]; `sc` is the shrinker's valid control.
unsafe extern "C" fn free_cached_objects<T: FileSystem>(
    sb: *mut bindings::super_block,
    sc: *mut bindings::shrink_control,
) -> kernel::ffi::c_long {
    // SAFETY: As above; `nr_to_scan` is set by `super_cache_scan`.
    let (sb, nr) = unsafe { (SuperBlock::<T>::from_raw(sb), (*sc).nr_to_scan) };
    T::free_cached_objects(sb, nr as usize).min(kernel::ffi::c_long::MAX as usize) as kernel::ffi::c_long
}

/// `super_operations.put_super` (unmount, after the inodes are evicted).
///
/// # Safety
///
/// Called by the VFS once, with a superblock of this type whose root was
/// set, so its data is too; the device is still open.
unsafe extern "C" fn put_super<T: FileSystem>(sb: *mut bindings::super_block) {
    // SAFETY: As above.
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    sb.info().work.disable_sync();
    T::put_super(sb);
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
    /// Writes `data` at byte `offset` of the device and waits for the
    /// write to complete (`REQ_OP_WRITE | REQ_SYNC`), bypassing the buffer
    /// cache: blocks written so must not be read with [`BlockDevice::bread`].
    /// Both must be multiples of 512 (`EINVAL`); `EROFS` if the device is
    /// read-only, `EIO` if the write fails. The data may still sit in the
    /// device's volatile cache: see [`BlockDevice::flush`].
    fn write_at(&self, offset: u64, data: &[u8]) -> Result;
    /// [`BlockDevice::write_at`] with `REQ_FUA`: on stable storage when it
    /// returns (superblock writes, after a [`BlockDevice::flush`]).
    fn write_at_fua(&self, offset: u64, data: &[u8]) -> Result;
    /// Flushes the device's volatile write cache (`blkdev_issue_flush`):
    /// every write completed before is on stable storage when it returns.
    fn flush(&self) -> Result;
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

    fn write_at(&self, offset: u64, data: &[u8]) -> Result {
        // SAFETY: By the trait's contract `s_bdev` is open while `self` lives.
        unsafe { super::bio::write_at((*self.raw_sb()).s_bdev, offset, data, false) }
    }

    fn write_at_fua(&self, offset: u64, data: &[u8]) -> Result {
        // SAFETY: By the trait's contract `s_bdev` is open while `self` lives.
        unsafe { super::bio::write_at((*self.raw_sb()).s_bdev, offset, data, true) }
    }

    fn flush(&self) -> Result {
        // SAFETY: By the trait's contract `s_bdev` is open while `self` lives.
        unsafe { super::bio::flush((*self.raw_sb()).s_bdev) }
    }
}

/// A mounted superblock of filesystem `T`: `struct super_block` whose
/// `s_fs_info` holds the `T::Data` that [`FileSystem::fill_super`] returned.
///
/// # Invariants
///
/// The superblock is alive, has an open block device and its `s_fs_info`
/// points to a pinned `SbInfo<T>` for the lifetime of every reference to
/// this type.
#[repr(transparent)]
pub struct SuperBlock<T: FileSystem>(Opaque<bindings::super_block>, PhantomData<T>);

impl<T: FileSystem> SuperBlock<T> {
    /// # Safety
    ///
    /// `ptr` is a live superblock of filesystem `T` with an open block
    /// device whose `s_fs_info` is an `SbInfo<T>`, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: Transparent wrapper; validity per the safety contract.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(crate) fn raw(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    fn info(&self) -> &SbInfo<T> {
        // SAFETY: By the type invariants `s_fs_info` is a live `SbInfo<T>`,
        // dropped only by `kill_sb` after every user is gone.
        unsafe { &*(*self.raw()).s_fs_info.cast::<SbInfo<T>>() }
    }

    /// The filesystem's data for this superblock.
    pub fn data(&self) -> &T::Data {
        &self.info().data
    }

    /// Gets the inode `key` from the inode cache, or a new locked one for
    /// the caller to initialise (see [`inode::NewINode`]).
    pub fn get_inode(&self, key: inode::INodeKey) -> Result<inode::Lookup<T>> {
        inode::get_inode(self, key)
    }

    /// A new, locked in-core inode for the just-allocated inode number
    /// `key` (`iget5_locked`), for a namespace callback to set up with
    /// [`inode::NewINode::init_owner`] and publish with
    /// [`inode::NewINode::instantiate`]. `EEXIST` if the cache still holds
    /// an inode with that key.
    pub fn new_inode(&self, key: inode::INodeKey) -> Result<inode::NewINode<T>> {
        inode::new_inode(self, key)
    }

    /// Runs [`FileSystem::background_work`] in `delay_ms` milliseconds on
    /// the system unbound workqueue, unless it is already pending (then the
    /// earlier deadline stays; returns false) or disabled by the unmount.
    pub fn schedule_background_work(&self, delay_ms: u32) -> bool {
        self.info().work.schedule(delay_ms)
    }

    /// Runs [`FileSystem::background_work`] in `delay_ms` milliseconds,
    /// moving the deadline if it is pending (`mod_delayed_work`): e.g. 0 to
    /// commit now. Returns whether it was pending.
    pub fn reschedule_background_work(&self, delay_ms: u32) -> bool {
        self.info().work.reschedule(delay_ms)
    }

    /// Cancels the background work and waits for a running one (e.g. at a
    /// remount read-only). Must not be called from the background work.
    pub fn cancel_background_work(&self) -> bool {
        self.info().work.cancel_sync()
    }

    /// Writes back the dirty inodes and folios of the filesystem and waits
    /// for the writeback work (`try_to_writeback_inodes_sb`, reason "free
    /// space"): turns reservations of dirty folios into allocated space.
    /// Does nothing while an unmount or remount holds `s_umount`. The caller
    /// must not hold a folio lock or anything writeback takes.
    pub fn writeback_for_space(&self) {
        // SAFETY: The superblock is live (type invariants); the function
        // takes `s_umount` for read itself (trylock).
        unsafe { bindings::try_to_writeback_inodes_sb(self.raw(), bindings::wb_reason_WB_REASON_FS_FREE_SPACE) };
    }

    /// Writes back every dirty inode and calls `sync_fs` waiting, as
    /// `syncfs(2)` does (`sync_filesystem` under `s_umount` held for read).
    /// Waits for a remount that holds `s_umount`. The caller must hold no
    /// lock that writeback or [`FileSystem::sync_fs`] takes.
    pub fn sync(&self) -> Result {
        let sb = self.raw();
        // SAFETY: The superblock is live (type invariants) and `s_umount`
        // is its rwsem; `sync_filesystem` wants it held, which we do
        // around the call, as `syncfs(2)` does.
        unsafe {
            bindings::down_read(core::ptr::addr_of_mut!((*sb).s_umount));
            let r = bindings::sync_filesystem(sb);
            bindings::up_read(core::ptr::addr_of_mut!((*sb).s_umount));
            to_result(r)
        }
    }
}

/// Sets or clears `SB_POSIXACL` in `s_flags`.
///
/// # Safety
///
/// `sb` is live and new (locked) or in a remount (`s_umount` held for
/// writing), where filesystems change their flags.
unsafe fn set_posix_acl_flag(sb: *mut bindings::super_block, on: bool) {
    let bit = bindings::RBTRFS_SB_POSIXACL as kernel::ffi::c_ulong;
    // SAFETY: Per the safety contract.
    unsafe {
        if on {
            (*sb).s_flags |= bit;
        } else {
            (*sb).s_flags &= !bit;
        }
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

    /// Makes writers wait for writeback of a folio before changing it
    /// (`SB_I_STABLE_WRITES`), so that data is not modified between its
    /// checksum and its write. Only needed if a [`super::folio::WritebackFolio`]
    /// is unlocked before its data is on disk, which the API does not do;
    /// affects inodes created afterwards.
    pub fn set_stable_writes(&self) {
        // SAFETY: The superblock is new and locked.
        unsafe { (*self.sb).s_iflags |= bindings::RBTRFS_SB_I_STABLE_WRITES as kernel::ffi::c_ulong };
    }

    /// Gives the superblock its own backing device info (C:
    /// `super_setup_bdi`, as btrfs does) with at least `ra_bytes` of
    /// readahead, instead of the block device's. Writeback of the
    /// filesystem's inodes then runs on it too.
    pub fn setup_bdi(&self, ra_bytes: usize) -> Result {
        // SAFETY: The superblock is new and locked. `get_tree_bdev` gave it
        // a reference to its device's bdi, which we put and replace with
        // the noop bdi that `super_setup_bdi` expects; a failure leaves the
        // noop bdi, which `kill_sb` does not put.
        unsafe {
            let noop = core::ptr::addr_of_mut!(bindings::noop_backing_dev_info);
            if (*self.sb).s_bdi != noop {
                bindings::rbtrfs_bdi_put((*self.sb).s_bdi);
                (*self.sb).s_bdi = noop;
            }
            to_result(bindings::super_setup_bdi(self.sb))?;
            let bdi = (*self.sb).s_bdi;
            let want = (ra_bytes / kernel::page::PAGE_SIZE) as kernel::ffi::c_ulong;
            if (*bdi).ra_pages < want {
                (*bdi).ra_pages = want;
            }
        }
        Ok(())
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

/// An anonymous device number (`get_anon_bdev`), e.g. the `st_dev` of a
/// btrfs subvolume; given back (`free_anon_bdev`) on drop.
pub struct AnonDev(u32);

impl AnonDev {
    /// Allocates one.
    pub fn new() -> Result<Self> {
        let mut dev: bindings::dev_t = 0;
        // SAFETY: `dev` is valid for writes.
        to_result(unsafe { bindings::get_anon_bdev(&mut dev) })?;
        Ok(AnonDev(dev))
    }

    /// The device number.
    pub fn dev(&self) -> u32 {
        self.0
    }
}

impl Drop for AnonDev {
    fn drop(&mut self) {
        // SAFETY: `new` allocated this number and nobody else frees it.
        unsafe { bindings::free_anon_bdev(self.0) };
    }
}
