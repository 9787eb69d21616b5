// SPDX-License-Identifier: GPL-2.0

//! Inodes, directories, and the file, directory and symlink operations.
//!
//! C: `include/linux/fs.h` (`struct inode`, `inode_operations`,
//! `file_operations`, `address_space_operations`), `include/linux/dcache.h`,
//! `include/linux/xattr.h`.
//!
//! Each inode lives in one slab object together with the filesystem's
//! per-inode data ([`FileSystem::INodeData`]), like `struct btrfs_inode`
//! embeds `struct inode`. [`SuperBlock::get_inode`] finds an inode in the
//! inode cache by its [`INodeKey`] (`iget5_locked`) or returns a
//! [`NewINode`] that the filesystem initialises from disk with
//! [`NewINode::init`]; dropping a `NewINode` instead marks it bad
//! (`iget_failed`). References are [`ARef<INode<T>>`]: `ihold`/`iput`.
//!
//! An [`INode`] is one the caller holds a reference on (or the VFS holds
//! one for the duration of the callback); it derefs to [`UnrefINode`], the
//! read-only view that eviction and writeback get, where the reference
//! count may already be zero and taking a new reference would be a bug.
//!
//! The VFS callbacks (lookup, readdir, read_folio, listxattr, xattr get)
//! call the [`FileSystem`] methods; everything else is the kernel's generic
//! code (`generic_file_read_iter`, `page_get_link`, `generic_fillattr`, ...).
//!
//! # Writing
//!
//! A filesystem with [`FileSystem::WRITABLE`] also gets the namespace
//! operations ([`FileSystem::create`], `mkdir`, `mknod`, `symlink`, `link`,
//! `unlink`, `rmdir`, `rename`), [`FileSystem::setattr`] on every inode,
//! buffered writes through the page cache (`generic_file_write_iter`,
//! `generic_file_mmap`; `write_begin` reads a folio with
//! [`FileSystem::read_folio`] before a partial write), writeback of dirty
//! folios through [`FileSystem::writepages`] with a [`Writeback`] iterator,
//! [`FileSystem::fsync`] and [`FileSystem::fallocate`]. New inodes: a
//! namespace callback allocates an inode number, gets a [`NewINode`] for it
//! with [`SuperBlock::new_inode`], sets its owner with
//! [`NewINode::init_owner`], writes the on-disk items, and publishes the
//! inode in the dentry with [`NewINode::instantiate`] (`d_instantiate_new`).
//!
//! # Examples
//!
//! ```ignore
//! fn mkdir(dir: &INode<Self>, dentry: NewDEntry<'_, Self>, mode: u16) -> Result {
//!     let ino = alloc_ino(dir)?;
//!     let mut new = dir.super_block().new_inode(INodeKey { root: dir.key().root, ino })?;
//!     let owner = new.init_owner(dir, mode);
//!     let now = new.current_time();
//!     insert_items(dir, dentry.name(), ino, &owner, now)?;
//!     dir.set_size(dir.size() + 2 * dentry.name().len() as i64);
//!     dir.inc_nlink();
//!     dir.set_cmtime(now);
//!     new.instantiate(INodeParams { typ: INodeType::Dir, mode: owner.mode & 0o7777,
//!         uid: owner.uid, gid: owner.gid, nlink: 1, atime: now, mtime: now,
//!         ctime: now, /* ... */ }, dentry)?;
//!     Ok(())
//! }
//! ```

use super::bindings;
use super::folio::{LockedFolio, ReadaheadBatch, Writeback};
use super::fs::{FileSystem, SuperBlock};
use super::nofs::NoFsScope;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ops::Deref;
use core::ptr::NonNull;
use kernel::error::{from_result, to_result};
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::c_str;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// Identifies an inode in the inode cache: btrfs inode numbers are unique
/// only within a subvolume (root).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct INodeKey {
    /// The root (subvolume) the inode belongs to.
    pub root: u64,
    /// The inode number (objectid) within that root.
    pub ino: u64,
}

/// The slab object: the VFS inode first (the slab constructor and
/// `alloc_inode` rely on that), then our fields.
///
/// # Invariants
///
/// `data` is initialised iff `data_init` is true; both change only while
/// the inode is new (`I_NEW`, owned by one [`NewINode`]).
#[repr(C)]
pub(crate) struct INodeWithData<T: FileSystem> {
    inode: Opaque<bindings::inode>,
    key: UnsafeCell<INodeKey>,
    data_init: UnsafeCell<bool>,
    data: UnsafeCell<MaybeUninit<T::INodeData>>,
}

/// A VFS inode of filesystem `T` with its data initialised, on which the
/// caller may hold no reference: what eviction ([`FileSystem::evict_inode`])
/// and writeback ([`FileSystem::writepages`], [`FileSystem::write_inode`])
/// get, where the reference count can be zero. It has the read accessors
/// of [`INode`] but no way to take a reference.
///
/// # Invariants
///
/// The inode is live (not yet freed), belongs to a mounted superblock of
/// `T`, and its `INodeWithData::data` is initialised.
#[repr(transparent)]
pub struct UnrefINode<T: FileSystem>(Opaque<bindings::inode>, PhantomData<T>);

/// A VFS inode of filesystem `T` with its data initialised, referenced.
///
/// # Invariants
///
/// As [`UnrefINode`], and the inode's reference count is non-zero for the
/// lifetime of every `&INode<T>`: it is held by an [`ARef`], by the VFS
/// for the callback, or by a positive dentry.
#[repr(transparent)]
pub struct INode<T: FileSystem>(UnrefINode<T>);

impl<T: FileSystem> Deref for INode<T> {
    type Target = UnrefINode<T>;

    fn deref(&self) -> &UnrefINode<T> {
        &self.0
    }
}

/// A time stamp from the C `timespec64`.
fn ts(t: bindings::timespec64) -> Timespec {
    Timespec { sec: t.tv_sec, nsec: t.tv_nsec as u32 }
}

impl<T: FileSystem> UnrefINode<T> {
    /// # Safety
    ///
    /// `ptr` is a live, initialised inode of filesystem `T`, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: Transparent wrapper; validity per the safety contract.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn raw(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The inode's page cache (`i_mapping`), for comparisons.
    pub(crate) fn mapping_raw(&self) -> *mut bindings::address_space {
        // SAFETY: The inode is live (type invariants).
        unsafe { bindings::rbtrfs_inode_mapping(self.raw()) }
    }

    fn outer(&self) -> *mut INodeWithData<T> {
        // The inode is the first field of the repr(C) container.
        self.raw().cast()
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        // SAFETY: `i_ino` is set before the inode is unlocked and never
        // changes afterwards.
        unsafe { (*self.raw()).i_ino as u64 }
    }

    /// The cache key the inode was created with.
    pub fn key(&self) -> INodeKey {
        // SAFETY: The key is written once in `set`, before anyone else can
        // see the inode.
        unsafe { *(*self.outer()).key.get() }
    }

    /// The filesystem's data for this inode.
    pub fn data(&self) -> &T::INodeData {
        // SAFETY: By the type invariants the data is initialised, and it is
        // only dropped in `free_inode`, after the last reference is gone.
        unsafe { (*(*self.outer()).data.get()).assume_init_ref() }
    }

    /// The superblock the inode belongs to.
    pub fn super_block(&self) -> &SuperBlock<T> {
        // SAFETY: A live inode keeps its superblock alive, and an initialised
        // inode exists only on a mounted superblock with its data set.
        unsafe { SuperBlock::from_raw((*self.raw()).i_sb) }
    }

    /// The file size (`i_size_read`).
    pub fn size(&self) -> i64 {
        // SAFETY: The inode is live.
        unsafe { bindings::rbtrfs_i_size_read(self.raw()) }
    }

    /// The mode: type and permission bits.
    pub fn mode(&self) -> u16 {
        // SAFETY: The inode is live; reading a u16 field.
        unsafe { (*self.raw()).i_mode }
    }

    /// The file type.
    pub fn typ(&self) -> Option<INodeType> {
        INodeType::from_mode(u32::from(self.mode()))
    }

    /// The link count.
    pub fn nlink(&self) -> u32 {
        // SAFETY: The inode is live; reading the count (the C code reads it
        // unlocked too).
        unsafe { (*self.raw()).__bindgen_anon_1.i_nlink }
    }

    /// The owner, as stored on disk (`i_uid_read`).
    pub fn uid(&self) -> u32 {
        // SAFETY: The inode is live.
        unsafe { bindings::rbtrfs_i_uid_read(self.raw()) }
    }

    /// The group, as stored on disk (`i_gid_read`).
    pub fn gid(&self) -> u32 {
        // SAFETY: The inode is live.
        unsafe { bindings::rbtrfs_i_gid_read(self.raw()) }
    }

    /// The device number of a device node (kernel `dev_t` encoding).
    pub fn rdev(&self) -> u32 {
        // SAFETY: The inode is live; `i_rdev` is set at initialisation.
        unsafe { (*self.raw()).i_rdev }
    }

    /// The generation (`i_generation`).
    pub fn generation(&self) -> u32 {
        // SAFETY: The inode is live; set at initialisation.
        unsafe { (*self.raw()).i_generation }
    }

    /// Bytes allocated (`inode_get_bytes`: `i_blocks` * 512 + `i_bytes`).
    pub fn bytes(&self) -> u64 {
        // SAFETY: The inode is live; the call takes `i_lock`.
        unsafe { bindings::inode_get_bytes(self.raw()) as u64 }
    }

    /// Access, modification and change times.
    pub fn times(&self) -> (Timespec, Timespec, Timespec) {
        let mut a = bindings::timespec64 { tv_sec: 0, tv_nsec: 0 };
        let mut m = a;
        let mut c = a;
        // SAFETY: The inode is live; the outputs are valid for writes.
        unsafe { bindings::rbtrfs_inode_get_times(self.raw(), &mut a, &mut m, &mut c) };
        (ts(a), ts(m), ts(c))
    }

    /// Access time.
    pub fn atime(&self) -> Timespec {
        self.times().0
    }

    /// Modification time.
    pub fn mtime(&self) -> Timespec {
        self.times().1
    }

    /// Change time.
    pub fn ctime(&self) -> Timespec {
        self.times().2
    }

    /// The current time, truncated to the superblock's granularity
    /// (`current_time`): what new time stamps of this inode should be.
    pub fn current_time(&self) -> Timespec {
        // SAFETY: The inode is live.
        ts(unsafe { bindings::current_time(self.raw()) })
    }
}

impl<T: FileSystem> INode<T> {
    /// # Safety
    ///
    /// `ptr` is a live, initialised inode of filesystem `T` on which a
    /// reference is held for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: Transparent wrapper; validity per the safety contract.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn raw(&self) -> *mut bindings::inode {
        self.0 .0.get()
    }

    /// The C inode, for the other abstractions in `rust/`.
    pub(crate) fn raw_inode(&self) -> *mut bindings::inode {
        self.raw()
    }

    // The setters below change in-core fields with the kernel's helpers.
    // Like the C code, callers serialise them: the VFS holds the inode's
    // `i_rwsem` in the namespace, setattr and write callbacks; elsewhere the
    // filesystem uses its own locking.

    /// Sets the file size (`i_size_write`). It does not touch the page
    /// cache: to shrink a file use [`INode::truncate_setsize`].
    pub fn set_size(&self, size: i64) {
        // SAFETY: The inode is live (a reference is held).
        unsafe { bindings::rbtrfs_i_size_write(self.raw(), size) };
    }

    /// Sets the size and drops the page cache beyond it
    /// (`truncate_setsize`), zeroing the tail of a partial last folio. Call
    /// with `i_rwsem` held (as in [`FileSystem::setattr`]), before freeing
    /// the file's extents beyond the new size.
    pub fn truncate_setsize(&self, size: i64) {
        // SAFETY: The inode is live; the call locks the folios it touches.
        unsafe { bindings::truncate_setsize(self.raw(), size) };
    }

    /// Drops the page cache of bytes `start..=end` (`truncate_pagecache_range`),
    /// zeroing partial folios at the edges: for punching holes.
    pub fn truncate_pagecache_range(&self, start: i64, end: i64) {
        // SAFETY: The inode is live; the call locks the folios it touches.
        unsafe { bindings::truncate_pagecache_range(self.raw(), start, end) };
    }

    /// Writes back dirty folios of bytes `start..=end` and waits for them
    /// (`filemap_write_and_wait_range`).
    pub fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: The inode and its mapping are live.
        to_result(unsafe {
            bindings::filemap_write_and_wait_range(bindings::rbtrfs_inode_mapping(self.raw()), start, end)
        })
    }

    /// Sets the link count (`set_nlink`).
    pub fn set_nlink(&self, nlink: u32) {
        // SAFETY: The inode is live.
        unsafe { bindings::set_nlink(self.raw(), nlink) };
    }

    /// Increments the link count (`inc_nlink`).
    pub fn inc_nlink(&self) {
        // SAFETY: The inode is live.
        unsafe { bindings::inc_nlink(self.raw()) };
    }

    /// Decrements the link count (`drop_nlink`; the kernel warns at zero).
    pub fn drop_nlink(&self) {
        // SAFETY: The inode is live.
        unsafe { bindings::drop_nlink(self.raw()) };
    }

    /// Sets the link count to zero (`clear_nlink`): the inode is freed on
    /// disk when its last reference goes ([`FileSystem::evict_inode`]).
    pub fn clear_nlink(&self) {
        // SAFETY: The inode is live.
        unsafe { bindings::clear_nlink(self.raw()) };
    }

    /// Sets the access time.
    pub fn set_atime(&self, t: Timespec) {
        // SAFETY: The inode is live.
        unsafe { bindings::rbtrfs_inode_set_atime(self.raw(), t.sec, t.nsec) };
    }

    /// Sets the modification time.
    pub fn set_mtime(&self, t: Timespec) {
        // SAFETY: The inode is live.
        unsafe { bindings::rbtrfs_inode_set_mtime(self.raw(), t.sec, t.nsec) };
    }

    /// Sets the change time.
    pub fn set_ctime(&self, t: Timespec) {
        // SAFETY: The inode is live.
        unsafe { bindings::rbtrfs_inode_set_ctime(self.raw(), t.sec, t.nsec) };
    }

    /// Sets the change and modification times to `t` (a directory whose
    /// entries changed, a file that was written).
    pub fn set_cmtime(&self, t: Timespec) {
        self.set_ctime(t);
        self.set_mtime(t);
    }

    /// Sets the change and modification times to now
    /// (`inode_set_mtime_to_ts(inode, inode_set_ctime_current(inode))`).
    pub fn touch_cmtime(&self) {
        // SAFETY: The inode is live.
        unsafe { bindings::rbtrfs_inode_touch_cmtime(self.raw()) };
    }

    /// Sets the bytes allocated (`inode_set_bytes`), as `stat` reports in
    /// `st_blocks`.
    pub fn set_bytes(&self, bytes: u64) {
        // SAFETY: The inode is live; the call takes `i_lock`.
        unsafe { bindings::inode_set_bytes(self.raw(), bytes as i64) };
    }

    /// Adds to the bytes allocated (`inode_add_bytes`).
    pub fn add_bytes(&self, bytes: u64) {
        // SAFETY: The inode is live; the call takes `i_lock`.
        unsafe { bindings::inode_add_bytes(self.raw(), bytes as i64) };
    }

    /// Subtracts from the bytes allocated (`inode_sub_bytes`).
    pub fn sub_bytes(&self, bytes: u64) {
        // SAFETY: The inode is live; the call takes `i_lock`.
        unsafe { bindings::inode_sub_bytes(self.raw(), bytes as i64) };
    }

    /// Sets the flags of [`InodeFlags`] in `i_flags` (the others stay).
    pub fn set_inode_flags(&self, flags: InodeFlags) {
        // SAFETY: The inode is live; `inode_set_flags` changes the bits
        // atomically.
        unsafe { bindings::inode_set_flags(self.raw(), flags.bits(), InodeFlags::MASK) };
    }

    /// Marks the inode dirty (`mark_inode_dirty`): writeback calls
    /// [`FileSystem::write_inode`] for it later (`sync`, `fsync` of the
    /// VFS's own, or the flusher).
    pub fn mark_dirty(&self) {
        // SAFETY: The inode is live and initialised.
        unsafe { bindings::rbtrfs_mark_inode_dirty(self.raw(), false) };
    }

    /// Marks only the inode's metadata dirty (`mark_inode_dirty_sync`).
    pub fn mark_dirty_sync(&self) {
        // SAFETY: The inode is live and initialised.
        unsafe { bindings::rbtrfs_mark_inode_dirty(self.raw(), true) };
    }
}

// SAFETY: `ihold`/`iput` manage the inode's reference count, and an inode
// stays alive while a reference is held.
unsafe impl<T: FileSystem> AlwaysRefCounted for INode<T> {
    fn inc_ref(&self) {
        // SAFETY: By the type invariants the count is non-zero.
        unsafe { bindings::ihold(self.raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference and gives it up.
        unsafe { bindings::iput(obj.as_ref().raw()) };
    }
}

// SAFETY: Inodes are reference counted and locked by the VFS; `INodeData`
// is `Send + Sync`.
unsafe impl<T: FileSystem> Send for INode<T> {}
// SAFETY: As above.
unsafe impl<T: FileSystem> Sync for INode<T> {}
// SAFETY: As above.
unsafe impl<T: FileSystem> Send for UnrefINode<T> {}
// SAFETY: As above.
unsafe impl<T: FileSystem> Sync for UnrefINode<T> {}

/// File types, with their `S_IFMT` bits and directory entry types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum INodeType {
    /// A directory.
    Dir,
    /// A regular file.
    Reg,
    /// A symbolic link.
    Lnk,
    /// A character device.
    Chr,
    /// A block device.
    Blk,
    /// A FIFO.
    Fifo,
    /// A socket.
    Sock,
}

impl INodeType {
    /// The type encoded in a mode's `S_IFMT` bits.
    pub fn from_mode(mode: u32) -> Option<Self> {
        Some(match mode & 0o170000 {
            0o040000 => Self::Dir,
            0o100000 => Self::Reg,
            0o120000 => Self::Lnk,
            0o020000 => Self::Chr,
            0o060000 => Self::Blk,
            0o010000 => Self::Fifo,
            0o140000 => Self::Sock,
            _ => return None,
        })
    }

    fn ifmt(self) -> u16 {
        match self {
            Self::Dir => 0o040000,
            Self::Reg => 0o100000,
            Self::Lnk => 0o120000,
            Self::Chr => 0o020000,
            Self::Blk => 0o060000,
            Self::Fifo => 0o010000,
            Self::Sock => 0o140000,
        }
    }

    /// `DT_*` for readdir.
    pub fn dtype(self) -> u8 {
        (self.ifmt() >> 12) as u8
    }
}

/// A time stamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: u32,
}

/// What a new inode is initialised with.
pub struct INodeParams<D> {
    /// File type.
    pub typ: INodeType,
    /// Permission bits (`0o7777`).
    pub mode: u16,
    /// Size in bytes.
    pub size: u64,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number of a device node (kernel `dev_t` encoding).
    pub rdev: u32,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Access time.
    pub atime: Timespec,
    /// Modification time.
    pub mtime: Timespec,
    /// Change time.
    pub ctime: Timespec,
    /// Generation (NFS).
    pub generation: u64,
    /// The VFS inode flags the filesystem keeps (immutable, append, ...).
    pub flags: InodeFlags,
    /// The filesystem's data.
    pub data: D,
}

/// The `i_flags` a filesystem keeps on disk for the VFS to enforce (C:
/// `S_SYNC`, `S_IMMUTABLE`, ...): writes to an immutable inode, and any
/// change but appending to an append-only one, are refused by the VFS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InodeFlags {
    /// `S_SYNC`: writes are synchronous.
    pub sync: bool,
    /// `S_IMMUTABLE`: no change at all.
    pub immutable: bool,
    /// `S_APPEND`: only appending writes.
    pub append: bool,
    /// `S_NOATIME`: no access time updates.
    pub noatime: bool,
    /// `S_DIRSYNC`: directory changes are synchronous.
    pub dirsync: bool,
}

impl InodeFlags {
    /// Every bit these flags cover.
    const MASK: u32 = bindings::RBTRFS_S_SYNC
        | bindings::RBTRFS_S_IMMUTABLE
        | bindings::RBTRFS_S_APPEND
        | bindings::RBTRFS_S_NOATIME
        | bindings::RBTRFS_S_DIRSYNC;

    fn bits(&self) -> u32 {
        let mut b = 0;
        for (on, bit) in [
            (self.sync, bindings::RBTRFS_S_SYNC),
            (self.immutable, bindings::RBTRFS_S_IMMUTABLE),
            (self.append, bindings::RBTRFS_S_APPEND),
            (self.noatime, bindings::RBTRFS_S_NOATIME),
            (self.dirsync, bindings::RBTRFS_S_DIRSYNC),
        ] {
            if on {
                b |= bit;
            }
        }
        b
    }
}

/// What `FS_IOC_SETFLAGS` or `FS_IOC_FSSETXATTR` asks for, as
/// `inode_operations.fileattr_set` gets it, after the VFS checked that the
/// caller owns the inode (or has `CAP_FOWNER`), has `CAP_LINUX_IMMUTABLE` if
/// the immutable or append-only flag changes, and that the mount is
/// writable; the inode is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileAttr {
    /// The `FS_*_FL` flags wanted (from `FS_IOC_FSSETXATTR`, only the
    /// flags both interfaces share are meaningful, the others are the
    /// current ones).
    pub flags: u32,
    /// Set by `FS_IOC_SETFLAGS`: every bit of `flags` is meant.
    pub flags_valid: bool,
    /// `FS_IOC_FSSETXATTR` asks for something `flags` cannot say (project
    /// ids, extent size hints, xfs-only flags): `fileattr_has_fsx`.
    pub has_fsx: bool,
}

/// The result of [`SuperBlock::get_inode`].
pub enum Lookup<T: FileSystem> {
    /// The inode was in the cache, initialised.
    Cached(ARef<INode<T>>),
    /// A new inode, locked; initialise it with [`NewINode::init`].
    New(NewINode<T>),
}

/// A new inode, locked (`I_NEW`) and owned by the caller until
/// [`NewINode::init`] publishes it. Dropped uninitialised, it is marked bad
/// and released (`iget_failed`).
///
/// # Invariants
///
/// `inode` is a new, locked inode of filesystem `T` on which we own a
/// reference; its data is not initialised.
pub struct NewINode<T: FileSystem> {
    inode: NonNull<bindings::inode>,
    _p: PhantomData<T>,
}

/// The owner and mode of a new inode, from [`NewINode::init_owner`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The full mode: type and permission bits, after the set-group-ID
    /// rules.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl<T: FileSystem> NewINode<T> {
    /// The C inode, for the other abstractions in `rust/`: new, locked and
    /// owned by this object.
    pub(crate) fn raw_inode(&self) -> *mut bindings::inode {
        self.inode.as_ptr()
    }

    /// The key the inode is being created for.
    pub fn key(&self) -> INodeKey {
        // SAFETY: `set` wrote the key before `iget5_locked` returned.
        unsafe { *(*self.inode.as_ptr().cast::<INodeWithData<T>>()).key.get() }
    }

    /// Chooses the owner of an inode being created in `dir` with `mode`
    /// (type and permission bits, as the namespace callbacks get it) the
    /// way `inode_init_owner` does: the caller's fsuid; the directory's
    /// group if it is set-group-ID (and then set-group-ID for a new
    /// directory), else the caller's fsgid; set-group-ID dropped from a
    /// file the caller may not give it. Use the result for the on-disk
    /// inode and in [`INodeParams`].
    pub fn init_owner(&mut self, dir: &INode<T>, mode: u16) -> Owner {
        let i = self.inode.as_ptr();
        // SAFETY: The inode is new, locked and ours (type invariants); `dir`
        // is live. `inode_init_owner` writes only `i_uid`, `i_gid` and
        // `i_mode`, which `init`/`instantiate` overwrite again.
        unsafe {
            bindings::rbtrfs_inode_init_owner(i, dir.raw(), mode);
            Owner { mode: (*i).i_mode, uid: bindings::rbtrfs_i_uid_read(i), gid: bindings::rbtrfs_i_gid_read(i) }
        }
    }

    /// The current time at this superblock's granularity (`current_time`),
    /// for the time stamps of a new inode.
    pub fn current_time(&self) -> Timespec {
        // SAFETY: The inode is new and ours; `current_time` reads only its
        // superblock.
        ts(unsafe { bindings::current_time(self.inode.as_ptr()) })
    }

    /// Writes every field from `p` and installs the operations for its
    /// type; the inode stays locked and new.
    fn setup(&self, p: INodeParams<T::INodeData>) {
        let i = self.inode.as_ptr();
        let outer = i.cast::<INodeWithData<T>>();
        let mode = p.typ.ifmt() | (p.mode & 0o7777);
        // SAFETY: The inode is new and locked and we own it (type
        // invariants), so we may write every field; the tables are 'static.
        // The data was not initialised (type invariants), so writing it
        // leaks nothing.
        unsafe {
            (*i).i_mode = mode;
            bindings::set_nlink(i, p.nlink);
            bindings::rbtrfs_i_uid_gid_write(i, p.uid, p.gid);
            bindings::rbtrfs_i_size_write(i, p.size as i64);
            (*i).i_blocks = p.blocks;
            bindings::rbtrfs_inode_set_times(
                i, p.atime.sec, p.atime.nsec, p.mtime.sec, p.mtime.nsec, p.ctime.sec, p.ctime.nsec,
            );
            (*i).i_generation = p.generation as u32;
            bindings::inode_set_flags(i, p.flags.bits(), InodeFlags::MASK);
            match p.typ {
                INodeType::Dir => {
                    (*i).__bindgen_anon_3.i_fop = &Tables::<T>::DIR_FOPS;
                    (*i).i_op = &Tables::<T>::DIR_IOPS;
                }
                INodeType::Reg => {
                    (*i).__bindgen_anon_3.i_fop = &Tables::<T>::FILE_FOPS;
                    (*i).i_op = &Tables::<T>::FILE_IOPS;
                    (*i).i_data.a_ops = &Tables::<T>::AOPS;
                }
                INodeType::Lnk => {
                    (*i).i_op = &Tables::<T>::SYMLINK_IOPS;
                    (*i).i_data.a_ops = &Tables::<T>::AOPS;
                    bindings::inode_nohighmem(i);
                }
                INodeType::Chr | INodeType::Blk | INodeType::Fifo | INodeType::Sock => {
                    bindings::init_special_inode(i, mode, p.rdev);
                    (*i).i_op = &Tables::<T>::SPECIAL_IOPS;
                }
            }
            (*(*outer).data.get()).write(p.data);
            // INVARIANT: the data is now initialised.
            *(*outer).data_init.get() = true;
        }
    }

    /// Initialises the inode from `p`, installs the operations for its
    /// type, and publishes it (`unlock_new_inode`).
    pub fn init(self, p: INodeParams<T::INodeData>) -> Result<ARef<INode<T>>> {
        self.setup(p);
        // SAFETY: The inode is new, locked and now initialised.
        unsafe { bindings::unlock_new_inode(self.inode.as_ptr()) };
        let inode = self.inode.cast::<INode<T>>();
        core::mem::forget(self);
        // SAFETY: We own a reference to the now initialised inode.
        Ok(unsafe { ARef::from_raw(inode) })
    }

    /// Initialises a just-created inode from `p` like [`NewINode::init`]
    /// and attaches it to the new directory entry `dentry` in the same step
    /// (`d_instantiate_new`), so that no lookup sees one without the other.
    /// Call it last in a namespace callback, once the on-disk items exist.
    /// Returns a reference for the caller's further use.
    pub fn instantiate(self, p: INodeParams<T::INodeData>, dentry: NewDEntry<'_, T>) -> Result<ARef<INode<T>>> {
        self.setup(p);
        let i = self.inode.as_ptr();
        // SAFETY: The inode is new, locked, initialised, and we own one
        // reference, which we duplicate (`ihold` on a non-zero count) for
        // the `ARef` returned. `d_instantiate_new` takes over the other one,
        // attaches the inode to the negative dentry (a `NewDEntry` is one,
        // used once) and unlocks the inode.
        unsafe {
            bindings::ihold(i);
            bindings::d_instantiate_new(dentry.dentry.raw(), i);
        }
        let inode = self.inode.cast::<INode<T>>();
        core::mem::forget(self);
        // SAFETY: The reference taken with `ihold` above.
        Ok(unsafe { ARef::from_raw(inode) })
    }
}

impl<T: FileSystem> Drop for NewINode<T> {
    fn drop(&mut self) {
        // SAFETY: The inode is new and locked, we own a reference, and its
        // data was never initialised; `iget_failed` marks it bad, unlocks it
        // and drops the reference.
        unsafe { bindings::iget_failed(self.inode.as_ptr()) };
    }
}

/// `iget5_locked` `test`: whether `inode` has the key `data` points to.
unsafe extern "C" fn test_key<T: FileSystem>(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: `inode` is one of ours (its key was set by `set_key`), `data`
    // is the `INodeKey` passed to `iget5_locked`.
    unsafe { (*(*inode.cast::<INodeWithData<T>>()).key.get() == *data.cast::<INodeKey>()) as c_int }
}

/// `iget5_locked` `set`: stores the key in a new inode.
unsafe extern "C" fn set_key<T: FileSystem>(inode: *mut bindings::inode, data: *mut c_void) -> c_int {
    // SAFETY: `inode` is new and not yet visible to anyone else; `data` is
    // the `INodeKey` passed to `iget5_locked`.
    unsafe {
        let key = *data.cast::<INodeKey>();
        *(*inode.cast::<INodeWithData<T>>()).key.get() = key;
        (*inode).i_ino = key.ino as c_ulong;
    }
    0
}

pub(crate) fn get_inode<T: FileSystem>(sb: &SuperBlock<T>, key: INodeKey) -> Result<Lookup<T>> {
    let mut k = key;
    // SAFETY: The superblock is mounted; the callbacks match our slab
    // objects; `k` outlives the call.
    let inode = unsafe {
        bindings::iget5_locked(
            sb.raw(),
            key.ino as c_ulong,
            Some(test_key::<T>),
            Some(set_key::<T>),
            core::ptr::from_mut(&mut k).cast(),
        )
    };
    let inode = NonNull::new(inode).ok_or(ENOMEM)?;
    // SAFETY: `iget5_locked` returned a referenced inode.
    let state = unsafe { (*inode.as_ptr()).i_state };
    if state as u64 & bindings::RBTRFS_I_NEW as u64 != 0 {
        // INVARIANT: new and locked, with our reference.
        Ok(Lookup::New(NewINode { inode, _p: PhantomData }))
    } else {
        // SAFETY: A cached inode that is not new was initialised by
        // `NewINode::init` (failed ones are unhashed by `iget_failed`).
        Ok(Lookup::Cached(unsafe { ARef::from_raw(inode.cast()) }))
    }
}

/// A new inode for a just-allocated inode number `key`, for
/// [`SuperBlock::new_inode`]. `EEXIST` if an inode with the key is still in
/// the inode cache (the number was reused while the old inode lives).
pub(crate) fn new_inode<T: FileSystem>(sb: &SuperBlock<T>, key: INodeKey) -> Result<NewINode<T>> {
    match get_inode(sb, key)? {
        Lookup::New(new) => Ok(new),
        Lookup::Cached(_) => Err(EEXIST),
    }
}

/// `super_operations.alloc_inode`.
///
/// # Safety
///
/// Called by the VFS with a superblock of filesystem `T`.
pub(crate) unsafe extern "C" fn alloc_inode<T: FileSystem>(
    sb: *mut bindings::super_block,
) -> *mut bindings::inode {
    // SAFETY: The superblock's type was registered with an inode cache of
    // `INodeWithData<T>` objects, whose slab constructor ran
    // `inode_init_once` on the embedded inode.
    unsafe {
        let obj = bindings::rbtrfs_kmem_cache_alloc(super::fs::Type::inode_cache_of(sb))
            .cast::<INodeWithData<T>>();
        if obj.is_null() {
            return core::ptr::null_mut();
        }
        (*obj).key = UnsafeCell::new(INodeKey::default());
        // INVARIANT: no data yet.
        (*obj).data_init = UnsafeCell::new(false);
        (*obj).inode.get()
    }
}

/// `super_operations.free_inode` (called after an RCU grace period).
///
/// # Safety
///
/// Called by the VFS once, with an inode from `alloc_inode::<T>` that
/// nobody references any more.
pub(crate) unsafe extern "C" fn free_inode<T: FileSystem>(inode: *mut bindings::inode) {
    // SAFETY: `inode` is the first field of an `INodeWithData<T>` from our
    // cache; the data is initialised iff `data_init` (type invariants).
    unsafe {
        let obj = inode.cast::<INodeWithData<T>>();
        if *(*obj).data_init.get() {
            (*(*obj).data.get()).assume_init_drop();
        }
        bindings::kmem_cache_free(super::fs::Type::inode_cache_of((*inode).i_sb), obj.cast());
    }
}

/// Emits directory entries into a `getdents` buffer.
///
/// # Invariants
///
/// `file` and `ctx` are the arguments of a running `iterate_shared` call.
pub struct DirEmitter<'a> {
    file: *mut bindings::file,
    ctx: *mut bindings::dir_context,
    _p: PhantomData<&'a mut ()>,
}

impl DirEmitter<'_> {
    /// The position to continue from (`ctx->pos`): 0 and 1 are `.` and `..`.
    pub fn pos(&self) -> i64 {
        // SAFETY: `ctx` is valid during the call (type invariants).
        unsafe { (*self.ctx).pos }
    }

    /// Sets the position the next call continues from.
    pub fn set_pos(&mut self, pos: i64) {
        // SAFETY: As above.
        unsafe { (*self.ctx).pos = pos };
    }

    /// Emits `.` and `..` if the position is below 2; false if the buffer
    /// is full.
    pub fn emit_dots(&mut self) -> bool {
        // SAFETY: As above; the helper advances `ctx->pos` past the dots.
        unsafe { bindings::rbtrfs_dir_emit_dots(self.file, self.ctx) }
    }

    /// Emits one entry; false if the buffer is full (the caller stops and
    /// leaves the position at this entry).
    pub fn emit(&mut self, name: &[u8], ino: u64, typ: INodeType) -> bool {
        // SAFETY: `name` is valid for `name.len()` bytes during the call.
        unsafe {
            bindings::rbtrfs_dir_emit(
                self.ctx,
                name.as_ptr().cast(),
                name.len() as c_int,
                ino,
                c_uint::from(typ.dtype()),
            )
        }
    }
}

/// A directory entry (`struct dentry`) in a namespace callback, whose
/// parent directory the VFS holds locked for the duration of the call, so
/// that its name and inode are stable.
///
/// # Invariants
///
/// The dentry is live, on a superblock of `T`, and its parent is locked
/// (`i_rwsem`) for the lifetime of every `&DEntry<T>`.
#[repr(transparent)]
pub struct DEntry<T: FileSystem>(Opaque<bindings::dentry>, PhantomData<T>);

impl<T: FileSystem> DEntry<T> {
    /// # Safety
    ///
    /// `ptr` is a live dentry of `T` whose parent is locked, for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::dentry) -> &'a Self {
        // SAFETY: Transparent wrapper; validity per the safety contract.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn raw(&self) -> *mut bindings::dentry {
        self.0.get()
    }

    /// The entry's name.
    pub fn name(&self) -> &[u8] {
        let mut len: c_uint = 0;
        // SAFETY: The parent is locked (type invariants), so no rename
        // changes the name while `&self` lives.
        unsafe {
            let p = bindings::rbtrfs_dentry_name(self.raw(), &mut len);
            core::slice::from_raw_parts(p, len as usize)
        }
    }

    /// The inode of a positive entry; `None` for a negative one (e.g. the
    /// target of a rename that does not exist yet).
    pub fn inode(&self) -> Option<&INode<T>> {
        // SAFETY: The dentry is live and on our superblock, its parent
        // locked; a positive dentry holds a reference on its inode, which
        // was initialised before it was attached (`NewINode::instantiate`,
        // `d_splice_alias` in lookup).
        unsafe {
            let i = bindings::rbtrfs_d_inode(self.raw());
            (!i.is_null()).then(|| INode::from_raw(i))
        }
    }
}

/// A negative directory entry a creating callback must fill: with
/// [`NewINode::instantiate`] (a new inode) or [`NewDEntry::instantiate`]
/// (`link`). The callback consumes it on success; if it returns `Ok`
/// without doing so, the VFS gets `EIO`.
///
/// # Invariants
///
/// `dentry` is negative and nothing attaches an inode to it but the one
/// consuming use of this object.
pub struct NewDEntry<'a, T: FileSystem> {
    dentry: &'a DEntry<T>,
}

impl<T: FileSystem> NewDEntry<'_, T> {
    /// The new entry's name.
    pub fn name(&self) -> &[u8] {
        self.dentry.name()
    }

    /// Attaches an existing inode (`d_instantiate`), taking over the
    /// reference: what `link` does after adding the link on disk and
    /// incrementing the link count.
    pub fn instantiate(self, inode: ARef<INode<T>>) {
        // SAFETY: The dentry is negative (type invariants); the inode is
        // initialised and `d_instantiate` takes over our reference.
        unsafe { bindings::d_instantiate(self.dentry.raw(), ARef::into_raw(inode).as_ptr().cast()) };
    }
}

/// `ATTR_*` bits of [`SetAttr::valid`] (`include/linux/fs.h`).
pub mod attr {
    use super::bindings;
    /// `ia_mode` is set.
    pub const MODE: u32 = bindings::ATTR_MODE;
    /// `ia_uid` is set.
    pub const UID: u32 = bindings::ATTR_UID;
    /// `ia_gid` is set.
    pub const GID: u32 = bindings::ATTR_GID;
    /// `ia_size` is set (truncate).
    pub const SIZE: u32 = bindings::ATTR_SIZE;
    /// Update the access time.
    pub const ATIME: u32 = bindings::ATTR_ATIME;
    /// Update the modification time.
    pub const MTIME: u32 = bindings::ATTR_MTIME;
    /// Update the change time.
    pub const CTIME: u32 = bindings::ATTR_CTIME;
    /// The access time is given explicitly (else: now).
    pub const ATIME_SET: u32 = bindings::ATTR_ATIME_SET;
    /// The modification time is given explicitly (else: now).
    pub const MTIME_SET: u32 = bindings::ATTR_MTIME_SET;
    /// Skip the permission checks.
    pub const FORCE: u32 = bindings::ATTR_FORCE;
    /// Drop set-user-ID.
    pub const KILL_SUID: u32 = bindings::ATTR_KILL_SUID;
    /// Drop set-group-ID.
    pub const KILL_SGID: u32 = bindings::ATTR_KILL_SGID;
    /// Called through an open file (`ftruncate`).
    pub const FILE: u32 = bindings::ATTR_FILE;
    /// Drop security privileges.
    pub const KILL_PRIV: u32 = bindings::ATTR_KILL_PRIV;
    /// Truncate at open (`O_TRUNC`).
    pub const OPEN: u32 = bindings::ATTR_OPEN;
    /// Times set by `utimes(NULL)`.
    pub const TOUCH: u32 = bindings::ATTR_TOUCH;
}

/// The changes of a `setattr` call (`struct iattr`), with the VFS helpers
/// that check and apply them.
///
/// The usual [`FileSystem::setattr`]: [`SetAttr::prepare`] (permission
/// checks); if [`SetAttr::size`] differs from the size, change it on disk
/// and [`INode::truncate_setsize`]; [`SetAttr::copy`] (mode, owner, times
/// into the in-core inode); write the inode item from the in-core inode.
///
/// # Invariants
///
/// `idmap`, `dentry` and `attr` are the arguments of a running
/// `inode_operations.setattr` of `T`; `inode` is the dentry's inode, locked.
pub struct SetAttr<'a, T: FileSystem> {
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
    inode: *mut bindings::inode,
    _p: PhantomData<&'a T>,
}

impl<T: FileSystem> SetAttr<'_, T> {
    fn iattr(&self) -> &bindings::iattr {
        // SAFETY: `attr` is valid for the call (type invariants). It changes
        // only in `setattr_prepare`; every caller of this private method
        // copies a field out at once, so no reference lives across that.
        unsafe { &*self.attr }
    }

    /// The `ATTR_*` bits ([`attr`]) saying what changes.
    pub fn valid(&self) -> u32 {
        self.iattr().ia_valid
    }

    fn has(&self, bit: u32) -> bool {
        self.valid() & bit != 0
    }

    /// The new mode (type bits unchanged), with [`attr::MODE`].
    pub fn mode(&self) -> Option<u16> {
        self.has(attr::MODE).then(|| self.iattr().ia_mode)
    }

    fn ids(&self) -> (u32, u32) {
        let (mut uid, mut gid) = (0, 0);
        // SAFETY: `attr` is valid (type invariants); the outputs are valid
        // for writes.
        unsafe { bindings::rbtrfs_iattr_ids(self.attr, &mut uid, &mut gid) };
        (uid, gid)
    }

    /// The new owner, as stored on disk, with [`attr::UID`].
    pub fn uid(&self) -> Option<u32> {
        self.has(attr::UID).then(|| self.ids().0)
    }

    /// The new group, as stored on disk, with [`attr::GID`].
    pub fn gid(&self) -> Option<u32> {
        self.has(attr::GID).then(|| self.ids().1)
    }

    /// The new size, with [`attr::SIZE`].
    pub fn size(&self) -> Option<i64> {
        self.has(attr::SIZE).then(|| self.iattr().ia_size)
    }

    /// The new access time, with [`attr::ATIME`].
    pub fn atime(&self) -> Option<Timespec> {
        self.has(attr::ATIME).then(|| ts(self.iattr().ia_atime))
    }

    /// The new modification time, with [`attr::MTIME`].
    pub fn mtime(&self) -> Option<Timespec> {
        self.has(attr::MTIME).then(|| ts(self.iattr().ia_mtime))
    }

    /// The new change time, with [`attr::CTIME`].
    pub fn ctime(&self) -> Option<Timespec> {
        self.has(attr::CTIME).then(|| ts(self.iattr().ia_ctime))
    }

    /// Checks that the caller may make the changes (`setattr_prepare`),
    /// which may also drop set-group-ID from the new mode. Call first.
    pub fn prepare(&self) -> Result {
        // SAFETY: The arguments of the running setattr (type invariants).
        to_result(unsafe { bindings::setattr_prepare(self.idmap, self.dentry, self.attr) })
    }

    /// Copies mode, owner and times into the in-core inode
    /// (`setattr_copy`; not the size: see [`INode::truncate_setsize`]).
    pub fn copy(&self) {
        // SAFETY: The arguments of the running setattr; the inode is locked
        // (type invariants).
        unsafe { bindings::setattr_copy(self.idmap, self.inode, self.attr) };
    }

    /// After a mode change ([`attr::MODE`]) was copied and written: brings
    /// the access ACL in step with the new mode (`posix_acl_chmod`: its
    /// owner, mask and other entries take the mode's bits), through
    /// `set_acl` and so [`FileSystem::set_acl`]. Nothing to do without
    /// POSIX ACLs on the superblock or without an access ACL.
    pub fn acl_chmod(&self) -> Result {
        // SAFETY: The arguments of the running setattr; the inode is locked
        // (type invariants), as `posix_acl_chmod` requires.
        to_result(unsafe { bindings::posix_acl_chmod(self.idmap, self.dentry, (*self.inode).i_mode) })
    }
}

/// Flags of [`FileSystem::rename`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RenameFlags(u32);

impl RenameFlags {
    /// Fail with `EEXIST` if the target exists (`RENAME_NOREPLACE`; the VFS
    /// has checked this already, under the locks).
    pub const NOREPLACE: u32 = bindings::RENAME_NOREPLACE;
    /// Swap source and target, which both exist (`RENAME_EXCHANGE`).
    pub const EXCHANGE: u32 = bindings::RENAME_EXCHANGE;
    /// Leave a whiteout (a character device 0:0) at the old name
    /// (`RENAME_WHITEOUT`; the VFS checked `CAP_MKNOD` and that
    /// `EXCHANGE` is not set).
    pub const WHITEOUT: u32 = bindings::RENAME_WHITEOUT;

    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether all of `flags` are set.
    pub fn contains(self, flags: u32) -> bool {
        self.0 & flags == flags
    }
}

/// `inode_operations.lookup`.
unsafe extern "C" fn lookup<T: FileSystem>(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    _flags: c_uint,
) -> *mut bindings::dentry {
    let mut len: c_uint = 0;
    // SAFETY: The VFS passes a live directory of ours and a negative dentry
    // whose name stays valid during the call.
    let (dir, name) = unsafe {
        let p = bindings::rbtrfs_dentry_name(dentry, &mut len);
        (INode::<T>::from_raw(dir), core::slice::from_raw_parts(p, len as usize))
    };
    match T::lookup(dir, name) {
        Ok(found) => {
            let inode = found.map_or(core::ptr::null_mut(), |i| ARef::into_raw(i).as_ptr().cast());
            // SAFETY: `d_splice_alias` takes over our inode reference (or a
            // null inode for a negative entry).
            unsafe { bindings::d_splice_alias(inode, dentry) }
        }
        // SAFETY: Encoding an errno as an error pointer.
        Err(e) => unsafe { bindings::rbtrfs_err_ptr(e.to_errno() as c_long).cast() },
    }
}

/// `file_operations.iterate_shared`.
unsafe extern "C" fn iterate_shared<T: FileSystem>(
    file: *mut bindings::file,
    ctx: *mut bindings::dir_context,
) -> c_int {
    // SAFETY: The VFS passes an open directory of ours and its context.
    let dir = unsafe { INode::<T>::from_raw(bindings::rbtrfs_file_inode(file)) };
    // INVARIANT: arguments of the running call.
    let mut emitter = DirEmitter { file, ctx, _p: PhantomData };
    from_result(|| {
        T::read_dir(dir, &mut emitter)?;
        Ok(0)
    })
}

/// Fills a locked folio of one of our inodes with `T::read_folio`, marks it
/// up to date on success, and unlocks it in any case.
///
/// # Safety
///
/// `folio` is locked by the caller, which hands it to us until we unlock
/// it, and belongs to the mapping of a live, initialised inode of `T`.
unsafe fn fill_and_unlock<T: FileSystem>(folio: *mut bindings::folio) -> Result {
    // SAFETY: Per the safety contract, the folio's inode is a live inode of
    // ours (the page cache keeps it alive) and the folio is ours to fill.
    let ret = unsafe {
        let inode = INode::<T>::from_raw(bindings::rbtrfs_folio_inode(folio));
        T::read_folio(inode, &mut LockedFolio::from_raw(folio))
    };
    // SAFETY: We hold the folio lock (safety contract).
    unsafe {
        if ret.is_ok() {
            bindings::rbtrfs_folio_mark_uptodate(folio);
        }
        bindings::folio_unlock(folio);
    }
    ret
}

/// `address_space_operations.read_folio`: the folio is locked; it is marked
/// up to date on success and unlocked in any case.
unsafe extern "C" fn read_folio<T: FileSystem>(
    _file: *mut bindings::file,
    folio: *mut bindings::folio,
) -> c_int {
    // SAFETY: The page cache passes a locked folio of one of our inodes.
    match unsafe { fill_and_unlock::<T>(folio) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `address_space_operations.readahead`: hands the window's folios to
/// [`FileSystem::readahead`] in batches of consecutive folios.
/// `readahead_folio` hands out locked folios whose reference the page cache
/// keeps; a batch that fails is unlocked without being marked up to date,
/// and a later `read_folio` reports the error.
unsafe extern "C" fn readahead<T: FileSystem>(rac: *mut bindings::readahead_control) {
    let Ok(mut batch) = ReadaheadBatch::new() else {
        // No memory for a batch: leave the folios to `read_folio`
        // (readahead_control unlocks the ones we do not take).
        return;
    };
    let mut inode: Option<&INode<T>> = None;
    loop {
        // SAFETY: `rac` is the live readahead control of this call.
        let folio = unsafe { bindings::rbtrfs_readahead_folio(rac) };
        if folio.is_null() {
            break;
        }
        if inode.is_none() {
            // SAFETY: A folio of this mapping: one of our inodes, kept
            // alive by the page cache for the call.
            inode = Some(unsafe { INode::<T>::from_raw(bindings::rbtrfs_folio_inode(folio)) });
        }
        // SAFETY: `readahead_folio` returns a locked folio of this mapping,
        // ours to fill until we unlock it.
        if let Err(folio) = unsafe { batch.push(folio) } {
            if let Some(i) = inode {
                let r = T::readahead(i, &mut batch);
                batch.finish(r.is_ok());
            }
            // SAFETY: As above; the batch is empty again.
            if let Err(folio) = unsafe { batch.push(folio) } {
                // SAFETY: Still locked by us; not filled.
                unsafe { bindings::folio_unlock(folio) };
            }
        }
    }
    if let (Some(i), false) = (inode, batch.is_empty()) {
        let r = T::readahead(i, &mut batch);
        batch.finish(r.is_ok());
    }
}

/// `inode_operations.listxattr`.
unsafe extern "C" fn listxattr<T: FileSystem>(
    dentry: *mut bindings::dentry,
    buf: *mut c_char,
    size: usize,
) -> isize {
    // SAFETY: The dentry is positive and ours; `buf` is valid for `size`
    // bytes when `size` is non-zero.
    let (inode, out) = unsafe {
        let inode = INode::<T>::from_raw(bindings::rbtrfs_d_inode(dentry));
        let out = (size != 0).then(|| core::slice::from_raw_parts_mut(buf.cast::<u8>(), size));
        (inode, out)
    };
    match T::list_xattr(inode, out) {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `xattr_handler.get`: `name` is the part after the handler's prefix.
unsafe extern "C" fn xattr_get<T: FileSystem>(
    handler: *const bindings::xattr_handler,
    _dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: The VFS passes one of our handlers (static prefix), a live
    // inode of ours, a NUL-terminated name, and a buffer of `size` bytes
    // when `size` is non-zero.
    let (prefix, suffix, inode, out) = unsafe {
        (
            CStr::from_char_ptr((*handler).prefix).as_bytes(),
            CStr::from_char_ptr(name).as_bytes(),
            INode::<T>::from_raw(inode),
            (size != 0).then(|| core::slice::from_raw_parts_mut(buffer.cast::<u8>(), size)),
        )
    };
    let mut full = [0u8; 256];
    let n = prefix.len() + suffix.len();
    if n > 255 {
        return ERANGE.to_errno();
    }
    full[..prefix.len()].copy_from_slice(prefix);
    full[prefix.len()..n].copy_from_slice(suffix);
    match T::get_xattr(inode, &full[..n], out) {
        Ok(len) => len as c_int,
        Err(e) => e.to_errno(),
    }
}

/// `xattr_handler.set`: `name` is the part after the handler's prefix; a
/// null `buffer` removes the attribute (`removexattr`).
unsafe extern "C" fn xattr_set<T: FileSystem>(
    handler: *const bindings::xattr_handler,
    _idmap: *mut bindings::mnt_idmap,
    _dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    name: *const c_char,
    buffer: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: The VFS passes one of our handlers (static prefix), a live
    // inode of ours (locked by the caller), a NUL-terminated name, and
    // `size` readable bytes at `buffer` unless it is null.
    let (prefix, suffix, inode, value) = unsafe {
        (
            CStr::from_char_ptr((*handler).prefix).as_bytes(),
            CStr::from_char_ptr(name).as_bytes(),
            INode::<T>::from_raw(inode),
            (!buffer.is_null()).then(|| {
                if size == 0 {
                    &[][..]
                } else {
                    core::slice::from_raw_parts(buffer.cast::<u8>(), size)
                }
            }),
        )
    };
    let mut full = [0u8; 256];
    let n = prefix.len() + suffix.len();
    if n > 255 {
        return ERANGE.to_errno();
    }
    full[..prefix.len()].copy_from_slice(prefix);
    full[prefix.len()..n].copy_from_slice(suffix);
    match T::set_xattr(inode, &full[..n], value, flags) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Turns a creating callback's result into the C return value: `EIO` if
/// it claimed success but left the dentry negative.
///
/// # Safety
///
/// `dentry` is live.
unsafe fn created(dentry: *mut bindings::dentry, r: Result) -> c_int {
    match r {
        // SAFETY: The dentry is live (safety contract).
        Ok(()) if unsafe { bindings::rbtrfs_d_inode(dentry) }.is_null() => EIO.to_errno(),
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The directory and the new entry of a creating callback.
///
/// # Safety
///
/// `dir` is a live, locked directory of `T` and `dentry` a negative child
/// of it, for `'a`.
unsafe fn new_entry<'a, T: FileSystem>(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> (&'a INode<T>, NewDEntry<'a, T>) {
    // SAFETY: Per the safety contract; the VFS holds a reference on `dir`
    // and the dentry for the call. INVARIANT: the dentry is negative and
    // this is the only `NewDEntry` for it.
    unsafe { (INode::from_raw(dir), NewDEntry { dentry: DEntry::from_raw(dentry) }) }
}

/// Type bits of `S_IFDIR`/`S_IFLNK`.
const S_IFDIR: u16 = 0o040000;
const S_IFLNK: u16 = 0o120000;

/// `inode_operations.create`: `mode` includes `S_IFREG`.
unsafe extern "C" fn create<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    excl: bool,
) -> c_int {
    // SAFETY: The VFS passes a locked directory of ours and a negative
    // child dentry.
    let (d, new) = unsafe { new_entry::<T>(dir, dentry) };
    // SAFETY: `dentry` is live.
    unsafe { created(dentry, T::create(d, new, mode, excl)) }
}

/// `inode_operations.mkdir`: the VFS passes permission bits only.
unsafe extern "C" fn mkdir<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: As in `create`.
    let (d, new) = unsafe { new_entry::<T>(dir, dentry) };
    // SAFETY: `dentry` is live.
    unsafe { created(dentry, T::mkdir(d, new, S_IFDIR | (mode & 0o7777))) }
}

/// `inode_operations.mknod`: `mode` includes the type.
unsafe extern "C" fn mknod<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    rdev: bindings::dev_t,
) -> c_int {
    // SAFETY: As in `create`.
    let (d, new) = unsafe { new_entry::<T>(dir, dentry) };
    // SAFETY: `dentry` is live.
    unsafe { created(dentry, T::mknod(d, new, mode, rdev)) }
}

/// `inode_operations.symlink`.
unsafe extern "C" fn symlink<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: As in `create`; `target` is a NUL-terminated string that
    // lives for the call.
    let (d, new, target) = unsafe {
        let (d, new) = new_entry::<T>(dir, dentry);
        (d, new, CStr::from_char_ptr(target).as_bytes())
    };
    // SAFETY: `dentry` is live.
    unsafe { created(dentry, T::symlink(d, new, S_IFLNK | 0o777, target)) }
}

/// `inode_operations.link`.
unsafe extern "C" fn link<T: FileSystem>(
    old: *mut bindings::dentry,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: As in `create`; `old` is a positive dentry of ours whose
    // inode the VFS holds locked.
    let (d, new, inode) = unsafe {
        let (d, new) = new_entry::<T>(dir, dentry);
        (d, new, INode::<T>::from_raw(bindings::rbtrfs_d_inode(old)))
    };
    // SAFETY: `dentry` is live.
    unsafe { created(dentry, T::link(inode, d, new)) }
}

/// `inode_operations.unlink`.
unsafe extern "C" fn unlink<T: FileSystem>(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: The VFS passes a locked directory of ours and a positive
    // child, whose inode it holds locked too.
    let (d, e) = unsafe { (INode::<T>::from_raw(dir), DEntry::<T>::from_raw(dentry)) };
    from_result(|| T::unlink(d, e).map(|()| 0))
}

/// `inode_operations.rmdir`.
unsafe extern "C" fn rmdir<T: FileSystem>(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: As in `unlink`.
    let (d, e) = unsafe { (INode::<T>::from_raw(dir), DEntry::<T>::from_raw(dentry)) };
    from_result(|| T::rmdir(d, e).map(|()| 0))
}

/// `inode_operations.rename`.
unsafe extern "C" fn rename<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    old_dir: *mut bindings::inode,
    old_dentry: *mut bindings::dentry,
    new_dir: *mut bindings::inode,
    new_dentry: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    if flags & !(RenameFlags::NOREPLACE | RenameFlags::EXCHANGE | RenameFlags::WHITEOUT) != 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: The VFS passes two directories of ours, locked
    // (`lock_rename`), and a child dentry of each.
    let (od, oe, nd, ne) = unsafe {
        (
            INode::<T>::from_raw(old_dir),
            DEntry::<T>::from_raw(old_dentry),
            INode::<T>::from_raw(new_dir),
            DEntry::<T>::from_raw(new_dentry),
        )
    };
    from_result(|| T::rename(od, oe, nd, ne, RenameFlags(flags)).map(|()| 0))
}

/// `inode_operations.permission`: [`FileSystem::permission`], then the
/// VFS's `generic_permission`.
unsafe extern "C" fn permission<T: FileSystem>(
    idmap: *mut bindings::mnt_idmap,
    inode: *mut bindings::inode,
    mask: c_int,
) -> c_int {
    // SAFETY: The VFS passes a live inode of ours, referenced or (in RCU
    // walk) kept from being freed for the call; we only read it.
    let i = unsafe { INode::<T>::from_raw(inode) };
    if let Err(e) = T::permission(i, mask) {
        return e.to_errno();
    }
    // SAFETY: The arguments of the running call.
    unsafe { bindings::generic_permission(idmap, inode, mask) }
}

/// `inode_operations.getattr`: `generic_fillattr`, then the device number
/// of [`FileSystem::st_dev`].
unsafe extern "C" fn getattr<T: FileSystem>(
    idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    request_mask: u32,
    _flags: c_uint,
) -> c_int {
    // SAFETY: The VFS passes a path to a positive dentry of ours, which it
    // holds for the call.
    let inode = unsafe { bindings::rbtrfs_path_inode(path) };
    // SAFETY: The arguments of the running call.
    unsafe { bindings::generic_fillattr(idmap, request_mask, inode, stat) };
    // SAFETY: As above: a live, referenced inode of ours.
    if let Some(dev) = T::st_dev(unsafe { INode::<T>::from_raw(inode) }) {
        // SAFETY: `stat` is the caller's `kstat` for this call.
        unsafe { (*stat).dev = dev };
    }
    0
}

/// `inode_operations.fileattr_get`.
unsafe extern "C" fn fileattr_get<T: FileSystem>(dentry: *mut bindings::dentry, fa: *mut bindings::fileattr) -> c_int {
    // SAFETY: The VFS passes a positive dentry of ours.
    let inode = unsafe { INode::<T>::from_raw(bindings::rbtrfs_d_inode(dentry)) };
    from_result(|| {
        let flags = T::fileattr_get(inode)?;
        // SAFETY: `fa` is the VFS's `fileattr` for this call.
        unsafe { bindings::fileattr_fill_flags(fa, flags) };
        Ok(0)
    })
}

/// `inode_operations.fileattr_set`.
unsafe extern "C" fn fileattr_set<T: FileSystem>(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    fa: *mut bindings::fileattr,
) -> c_int {
    // SAFETY: The VFS passes a positive dentry of ours, whose inode it
    // holds locked, and the attributes of this call.
    let (inode, attr) = unsafe {
        (
            INode::<T>::from_raw(bindings::rbtrfs_d_inode(dentry)),
            FileAttr {
                flags: (*fa).flags,
                flags_valid: bindings::rbtrfs_fileattr_flags_valid(fa),
                has_fsx: bindings::rbtrfs_fileattr_has_fsx(fa),
            },
        )
    };
    from_result(|| T::fileattr_set(inode, &attr).map(|()| 0))
}

/// `inode_operations.setattr`.
unsafe extern "C" fn setattr<T: FileSystem>(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    iattr: *mut bindings::iattr,
) -> c_int {
    // SAFETY: The VFS passes a positive dentry of ours whose inode it holds
    // locked, and the changes. INVARIANT: arguments of the running call.
    let (inode, sa) = unsafe {
        let i = bindings::rbtrfs_d_inode(dentry);
        (INode::<T>::from_raw(i), SetAttr::<T> { idmap, dentry, attr: iattr, inode: i, _p: PhantomData })
    };
    from_result(|| T::setattr(inode, &sa).map(|()| 0))
}

/// `file_operations.fsync`: writes back and waits for the range's dirty
/// folios, then calls `T::fsync`.
unsafe extern "C" fn fsync<T: FileSystem>(
    file: *mut bindings::file,
    start: bindings::loff_t,
    end: bindings::loff_t,
    datasync: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes an open file of ours.
        let inode = unsafe {
            to_result(bindings::file_write_and_wait_range(file, start, end))?;
            INode::<T>::from_raw(bindings::rbtrfs_file_inode(file))
        };
        T::fsync(inode, start, end, datasync != 0)?;
        Ok(0)
    })
}

/// `file_operations.fallocate`.
unsafe extern "C" fn fallocate<T: FileSystem>(
    file: *mut bindings::file,
    mode: c_int,
    offset: bindings::loff_t,
    len: bindings::loff_t,
) -> c_long {
    // SAFETY: The VFS passes an open file of ours.
    let inode = unsafe { INode::<T>::from_raw(bindings::rbtrfs_file_inode(file)) };
    match T::fallocate(inode, mode, offset, len) {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `address_space_operations.write_begin`: gets the folio at `pos` locked
/// (`FGP_WRITEBEGIN`) and, unless the write covers all of it or it is up to
/// date, fills it first: zeroes beyond the end of the file, else
/// `T::read_folio`.
unsafe extern "C" fn write_begin<T: FileSystem>(
    _file: *mut bindings::file,
    mapping: *mut bindings::address_space,
    pos: bindings::loff_t,
    len: c_uint,
    foliop: *mut *mut bindings::folio,
    _fsdata: *mut *mut c_void,
) -> c_int {
    // SAFETY: The VFS passes the mapping of a live, initialised inode of
    // ours, with `i_rwsem` held for the write.
    let inode = unsafe { INode::<T>::from_raw((*mapping).host) };
    // Space reserved with a flush while no folio was locked, of this size.
    let mut held = 0u64;
    let folio = loop {
        let mut err: c_int = 0;
        // SAFETY: As above.
        let folio = unsafe { bindings::rbtrfs_write_begin_get_folio(mapping, pos, &mut err) };
        if folio.is_null() {
            if held != 0 {
                T::release_data(inode.super_block(), held);
            }
            return err;
        }
        // SAFETY: We hold the lock and a reference on the folio.
        let (private, size) = unsafe {
            (bindings::rbtrfs_folio_test_private(folio), bindings::rbtrfs_folio_size(folio) as u64)
        };
        if private {
            break folio;
        }
        if held == size || T::reserve_data(inode, size, false).is_ok() {
            held = 0;
            // SAFETY: Locked and without private data: it takes the
            // reservation (dropped by `drop_reservation`).
            unsafe { bindings::rbtrfs_folio_attach_reservation(folio) };
            break folio;
        }
        // SAFETY: Ours to release; no folio lock may be held while making
        // room (writeback locks dirty folios).
        unsafe {
            bindings::folio_unlock(folio);
            bindings::rbtrfs_folio_put(folio);
        }
        if held != 0 {
            // Tried with a flush already: the size changed under us.
            T::release_data(inode.super_block(), held);
            return ENOSPC.to_errno();
        }
        if let Err(e) = T::reserve_data(inode, size, true) {
            return e.to_errno();
        }
        held = size;
    };
    if held != 0 {
        T::release_data(inode.super_block(), held);
    }
    // SAFETY: We hold the lock and a reference on the folio (from
    // `__filemap_get_folio`), which we hand to the VFS in `*foliop` or
    // release on error; a folio that is not up to date is ours to fill
    // while locked.
    unsafe {
        if !bindings::rbtrfs_folio_test_uptodate(folio) {
            let fpos = bindings::rbtrfs_folio_pos(folio);
            let fsize = bindings::rbtrfs_folio_size(folio);
            let whole = pos == fpos && len as usize == fsize;
            if !whole {
                if fpos >= inode.size() {
                    bindings::rbtrfs_folio_zero_range(folio, 0, fsize);
                } else if let Err(e) = T::read_folio(inode, &mut LockedFolio::from_raw(folio)) {
                    if !bindings::rbtrfs_folio_test_dirty(folio) {
                        drop_reservation::<T>(folio);
                    }
                    bindings::folio_unlock(folio);
                    bindings::rbtrfs_folio_put(folio);
                    return e.to_errno();
                }
                bindings::rbtrfs_folio_mark_uptodate(folio);
            }
        }
        *foliop = folio;
    }
    0
}

/// Gives back the data space reservation a locked folio of ours holds (its
/// private flag), if any.
///
/// # Safety
///
/// `folio` is locked and in the mapping of a live inode of `T`.
unsafe fn drop_reservation<T: FileSystem>(folio: *mut bindings::folio) {
    // SAFETY: Per the safety contract: the folio is locked in its mapping,
    // whose host and superblock are live; the private flag is the
    // reservation (`write_begin`, `page_mkwrite`), attached and detached
    // only under the folio lock.
    unsafe {
        if !bindings::rbtrfs_folio_test_private(folio) {
            return;
        }
        let size = bindings::rbtrfs_folio_size(folio) as u64;
        bindings::rbtrfs_folio_detach_private(folio);
        T::release_data(SuperBlock::<T>::from_raw(bindings::rbtrfs_folio_sb(folio)), size);
    }
}

/// `address_space_operations.invalidate_folio`: the folio leaves the page
/// cache (truncate, hole punch, eviction); when all of it goes, so does
/// its reservation.
unsafe extern "C" fn invalidate_folio<T: FileSystem>(folio: *mut bindings::folio, offset: usize, len: usize) {
    // SAFETY: The VFS calls this with the folio locked in its mapping.
    unsafe {
        if offset == 0 && len == bindings::rbtrfs_folio_size(folio) {
            drop_reservation::<T>(folio);
        }
    }
}

/// `address_space_operations.release_folio`: a clean folio with private
/// data is being reclaimed; a leftover reservation goes with it.
unsafe extern "C" fn release_folio<T: FileSystem>(folio: *mut bindings::folio, _gfp: bindings::gfp_t) -> bool {
    // SAFETY: The VFS calls this with the folio locked in its mapping.
    unsafe {
        if bindings::rbtrfs_folio_test_dirty(folio) {
            return false;
        }
        drop_reservation::<T>(folio);
    }
    true
}

/// `vm_operations_struct.page_mkwrite`: a shared writable mapping is about
/// to dirty a folio (C: `filemap_page_mkwrite` plus the data reservation
/// `btrfs_page_mkwrite` takes). `SIGBUS` when there is no space.
unsafe extern "C" fn page_mkwrite<T: FileSystem>(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: The fault handler passes a fault on a shared mapping of a
    // file of ours, with the mmap lock held: the file, its inode and
    // superblock are live, and `vmf->page` is referenced.
    unsafe {
        let file = bindings::rbtrfs_vmf_file(vmf);
        let raw = bindings::rbtrfs_file_inode(file);
        let inode = INode::<T>::from_raw(raw);
        let sb = (*raw).i_sb;
        let folio = bindings::rbtrfs_vmf_folio(vmf);
        bindings::rbtrfs_sb_start_pagefault(sb);
        bindings::file_update_time(file);
        let r = mkwrite_locked::<T>(inode, folio);
        bindings::rbtrfs_sb_end_pagefault(sb);
        r
    }
}

/// The body of [`page_mkwrite`]: returns with the folio locked and dirty
/// (`VM_FAULT_LOCKED`), or unlocked with the fault's outcome.
///
/// # Safety
///
/// As for `page_mkwrite`: `folio` is referenced and mapped from `inode`.
unsafe fn mkwrite_locked<T: FileSystem>(inode: &INode<T>, folio: *mut bindings::folio) -> bindings::vm_fault_t {
    let mapping = inode.mapping_raw();
    let mut held = 0u64;
    // SAFETY: Per the safety contract; the folio is locked around every
    // look at its mapping and private flag.
    unsafe {
        loop {
            bindings::rbtrfs_folio_lock(folio);
            if bindings::rbtrfs_folio_mapping(folio) != mapping {
                // Truncated meanwhile: let the fault be retried.
                bindings::folio_unlock(folio);
                if held != 0 {
                    T::release_data(inode.super_block(), held);
                }
                return bindings::vm_fault_reason_VM_FAULT_NOPAGE;
            }
            if bindings::rbtrfs_folio_test_private(folio) {
                break;
            }
            let size = bindings::rbtrfs_folio_size(folio) as u64;
            if held == size || T::reserve_data(inode, size, false).is_ok() {
                held = 0;
                bindings::rbtrfs_folio_attach_reservation(folio);
                break;
            }
            bindings::folio_unlock(folio);
            if held != 0 {
                T::release_data(inode.super_block(), held);
                return bindings::vm_fault_reason_VM_FAULT_SIGBUS;
            }
            match T::reserve_data(inode, size, true) {
                Ok(()) => held = size,
                Err(e) if e == ENOMEM => return bindings::vm_fault_reason_VM_FAULT_OOM,
                Err(_) => return bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            }
        }
        if held != 0 {
            T::release_data(inode.super_block(), held);
        }
        bindings::folio_mark_dirty(folio);
        bindings::folio_wait_stable(folio);
    }
    bindings::vm_fault_reason_VM_FAULT_LOCKED
}

/// `file_operations.mmap` of writable regular files: `generic_file_mmap`
/// with our `page_mkwrite`.
unsafe extern "C" fn mmap<T: FileSystem>(file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> c_int {
    // SAFETY: The VFS passes an open file of ours and the new mapping.
    unsafe { bindings::rbtrfs_file_mmap(file, vma, &Tables::<T>::VM_OPS) };
    0
}

/// `address_space_operations.write_end`: `copied` bytes were copied into
/// the folio from `write_begin`. A short copy into a folio that is not up
/// to date (one being overwritten whole, not read) counts as none, and the
/// VFS retries. Extends the size, dirties the folio, unlocks and releases
/// it.
unsafe extern "C" fn write_end<T: FileSystem>(
    _file: *mut bindings::file,
    mapping: *mut bindings::address_space,
    pos: bindings::loff_t,
    len: c_uint,
    copied: c_uint,
    folio: *mut bindings::folio,
    _fsdata: *mut c_void,
) -> c_int {
    let mut copied = copied;
    // SAFETY: The folio is the locked, referenced one `write_begin` handed
    // out, which we now release; the host is a live inode of ours with
    // `i_rwsem` held, so `i_size` changes only here.
    unsafe {
        if !bindings::rbtrfs_folio_test_uptodate(folio) {
            if copied < len {
                copied = 0;
            } else {
                bindings::rbtrfs_folio_mark_uptodate(folio);
            }
        }
        let inode = (*mapping).host;
        let end = pos + i64::from(copied);
        let grew = copied > 0 && end > bindings::rbtrfs_i_size_read(inode);
        if grew {
            // Under the folio lock: writeback must not see the old size.
            bindings::rbtrfs_i_size_write(inode, end);
        }
        if copied > 0 {
            bindings::folio_mark_dirty(folio);
        } else if !bindings::rbtrfs_folio_test_dirty(folio) {
            // Nothing copied into a clean folio: it needs no space.
            drop_reservation::<T>(folio);
        }
        bindings::folio_unlock(folio);
        bindings::rbtrfs_folio_put(folio);
        if grew {
            bindings::rbtrfs_mark_inode_dirty(inode, false);
        }
    }
    copied as c_int
}

/// `address_space_operations.writepages`: `T::writepages` with an iterator
/// over the dirty folios (see [`Writeback`]), in a `GFP_NOFS` scope.
unsafe extern "C" fn writepages<T: FileSystem>(
    mapping: *mut bindings::address_space,
    wbc: *mut bindings::writeback_control,
) -> c_int {
    let _nofs = NoFsScope::enter();
    // SAFETY: The mapping of one of our inodes, initialised (only those get
    // `AOPS`) and kept from being freed by writeback (`I_SYNC`) though
    // maybe unreferenced; `wbc` is the running writeback's.
    let (inode, wb) = unsafe { (UnrefINode::<T>::from_raw((*mapping).host), Writeback::new(mapping, wbc, drop_reservation::<T>)) };
    let r = T::writepages(inode, &wb);
    wb.finish(r)
}

/// Whether the slab object of `inode` has its data initialised.
///
/// # Safety
///
/// `inode` is a live inode of `T` (from `alloc_inode::<T>`).
unsafe fn has_data<T: FileSystem>(inode: *mut bindings::inode) -> bool {
    // SAFETY: Per the safety contract; `data_init` changes only while the
    // inode is new, which it no longer is when evicted or written.
    unsafe { *(*inode.cast::<INodeWithData<T>>()).data_init.get() }
}

/// `super_operations.evict_inode`: drops the page cache, lets the
/// filesystem free an unlinked inode on disk, and clears the inode.
pub(crate) unsafe extern "C" fn evict_inode<T: FileSystem>(inode: *mut bindings::inode) {
    // SAFETY: The VFS evicts a live inode of ours (`I_FREEING`, no
    // references); an inode whose initialisation failed has no data and is
    // only cleared.
    unsafe {
        bindings::truncate_inode_pages_final(&mut (*inode).i_data);
        if has_data::<T>(inode) {
            T::evict_inode(UnrefINode::from_raw(inode));
        }
        bindings::clear_inode(inode);
    }
}

/// `super_operations.write_inode`.
pub(crate) unsafe extern "C" fn write_inode<T: FileSystem>(
    inode: *mut bindings::inode,
    wbc: *mut bindings::writeback_control,
) -> c_int {
    // SAFETY: Writeback passes a live inode of ours, kept by `I_SYNC`, and
    // its control.
    unsafe {
        if !has_data::<T>(inode) {
            return 0;
        }
        let sync = bindings::rbtrfs_wbc_sync_all(wbc);
        from_result(|| T::write_inode(UnrefINode::from_raw(inode), sync).map(|()| 0))
    }
}

/// The operation tables of filesystem `T`, built at compile time.
pub(crate) struct Tables<T>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    /// The POSIX ACL operations (C btrfs: on every inode but symlinks).
    const fn acl_ops(ops: &mut bindings::inode_operations) {
        if T::POSIX_ACL {
            ops.get_inode_acl = Some(super::acl::get_inode_acl::<T>);
            if T::WRITABLE {
                ops.set_acl = Some(super::acl::set_acl::<T>);
            }
        }
    }

    /// The subvolume operations (permission and getattr), on every inode.
    const fn subvol_ops(ops: &mut bindings::inode_operations) {
        if T::SUBVOLUMES {
            ops.permission = Some(permission::<T>);
            ops.getattr = Some(getattr::<T>);
        }
    }

    /// The attribute flag operations (C btrfs: directories and files).
    const fn fileattr_ops(ops: &mut bindings::inode_operations) {
        if T::FILEATTR {
            ops.fileattr_get = Some(fileattr_get::<T>);
            if T::WRITABLE {
                ops.fileattr_set = Some(fileattr_set::<T>);
            }
        }
    }

    const DIR_IOPS: bindings::inode_operations = {
        // SAFETY: All-zero is a valid operations table (all None).
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.lookup = Some(lookup::<T>);
        ops.listxattr = Some(listxattr::<T>);
        Self::acl_ops(&mut ops);
        Self::fileattr_ops(&mut ops);
        Self::subvol_ops(&mut ops);
        if T::WRITABLE {
            ops.create = Some(create::<T>);
            ops.mkdir = Some(mkdir::<T>);
            ops.mknod = Some(mknod::<T>);
            ops.symlink = Some(symlink::<T>);
            ops.link = Some(link::<T>);
            ops.unlink = Some(unlink::<T>);
            ops.rmdir = Some(rmdir::<T>);
            ops.rename = Some(rename::<T>);
            ops.setattr = Some(setattr::<T>);
        }
        ops
    };

    const FILE_IOPS: bindings::inode_operations = {
        // SAFETY: As above.
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.listxattr = Some(listxattr::<T>);
        Self::acl_ops(&mut ops);
        Self::fileattr_ops(&mut ops);
        Self::subvol_ops(&mut ops);
        if T::WRITABLE {
            ops.setattr = Some(setattr::<T>);
        }
        if T::FIEMAP {
            ops.fiemap = Some(super::fiemap::fiemap::<T>);
        }
        ops
    };

    const SYMLINK_IOPS: bindings::inode_operations = {
        // SAFETY: As above.
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.get_link = Some(bindings::page_get_link);
        ops.listxattr = Some(listxattr::<T>);
        Self::subvol_ops(&mut ops);
        if T::WRITABLE {
            ops.setattr = Some(setattr::<T>);
        }
        ops
    };

    const SPECIAL_IOPS: bindings::inode_operations = {
        // SAFETY: As above.
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.listxattr = Some(listxattr::<T>);
        Self::acl_ops(&mut ops);
        Self::subvol_ops(&mut ops);
        if T::WRITABLE {
            ops.setattr = Some(setattr::<T>);
        }
        ops
    };

    const DIR_FOPS: bindings::file_operations = {
        // SAFETY: As above.
        let mut ops: bindings::file_operations = unsafe { core::mem::zeroed() };
        ops.llseek = Some(bindings::generic_file_llseek);
        ops.read = Some(bindings::generic_read_dir);
        ops.iterate_shared = Some(iterate_shared::<T>);
        ops.unlocked_ioctl = Some(super::ioctl::unlocked_ioctl::<T>);
        ops.compat_ioctl = Some(bindings::compat_ptr_ioctl);
        if T::WRITABLE {
            ops.fsync = Some(fsync::<T>);
        }
        ops
    };

    const FILE_FOPS: bindings::file_operations = {
        // SAFETY: As above.
        let mut ops: bindings::file_operations = unsafe { core::mem::zeroed() };
        ops.llseek = Some(bindings::generic_file_llseek);
        ops.read_iter = Some(bindings::generic_file_read_iter);
        ops.mmap = Some(bindings::generic_file_readonly_mmap);
        ops.splice_read = Some(bindings::filemap_splice_read);
        ops.open = Some(bindings::generic_file_open);
        ops.unlocked_ioctl = Some(super::ioctl::unlocked_ioctl::<T>);
        ops.compat_ioctl = Some(bindings::compat_ptr_ioctl);
        if T::WRITABLE {
            ops.write_iter = Some(bindings::generic_file_write_iter);
            // `generic_file_mmap` with our `page_mkwrite`, which reserves
            // data space for the folio it dirties.
            ops.mmap = Some(mmap::<T>);
            ops.splice_write = Some(bindings::iter_file_splice_write);
            ops.fsync = Some(fsync::<T>);
            ops.fallocate = Some(fallocate::<T>);
            if T::REMAP {
                ops.remap_file_range = Some(super::remap::remap_file_range::<T>);
            }
        }
        ops
    };

    const AOPS: bindings::address_space_operations = {
        // SAFETY: As above.
        let mut ops: bindings::address_space_operations = unsafe { core::mem::zeroed() };
        ops.read_folio = Some(read_folio::<T>);
        ops.readahead = Some(readahead::<T>);
        if T::WRITABLE {
            ops.write_begin = Some(write_begin::<T>);
            ops.write_end = Some(write_end::<T>);
            ops.dirty_folio = Some(bindings::filemap_dirty_folio);
            ops.writepages = Some(writepages::<T>);
            ops.migrate_folio = Some(bindings::filemap_migrate_folio);
            // The private flag of a folio is its data reservation.
            ops.invalidate_folio = Some(invalidate_folio::<T>);
            ops.release_folio = Some(release_folio::<T>);
        }
        ops
    };

    const VM_OPS: bindings::vm_operations_struct = {
        // SAFETY: As above.
        let mut ops: bindings::vm_operations_struct = unsafe { core::mem::zeroed() };
        ops.fault = Some(bindings::filemap_fault);
        ops.map_pages = Some(bindings::filemap_map_pages);
        ops.page_mkwrite = Some(page_mkwrite::<T>);
        ops
    };

    const fn xattr_handler(prefix: &'static CStr) -> bindings::xattr_handler {
        // SAFETY: As above.
        let mut h: bindings::xattr_handler = unsafe { core::mem::zeroed() };
        h.prefix = prefix.as_char_ptr();
        h.get = Some(xattr_get::<T>);
        if T::WRITABLE {
            h.set = Some(xattr_set::<T>);
        }
        h
    }

    const USER: bindings::xattr_handler = Self::xattr_handler(c_str!("user."));
    const TRUSTED: bindings::xattr_handler = Self::xattr_handler(c_str!("trusted."));
    const SECURITY: bindings::xattr_handler = Self::xattr_handler(c_str!("security."));
    /// `btrfs.` properties (`btrfs.compression`): read only here, so
    /// `btrfs property get` gets `ENODATA` rather than `EOPNOTSUPP`.
    const BTRFS_PROPS: bindings::xattr_handler = {
        let mut h = Self::xattr_handler(c_str!("btrfs."));
        h.set = None;
        h
    };

    /// The NULL-terminated handler array for `s_xattr`.
    pub(crate) const XATTR_HANDLERS: [*const bindings::xattr_handler; 5] =
        [&Self::USER, &Self::TRUSTED, &Self::SECURITY, &Self::BTRFS_PROPS, core::ptr::null()];
}
