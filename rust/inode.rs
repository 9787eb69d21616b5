// SPDX-License-Identifier: GPL-2.0

//! Inodes, directories, and the file, directory and symlink operations.
//!
//! C: `include/linux/fs.h` (`struct inode`, `inode_operations`,
//! `file_operations`, `address_space_operations`), `include/linux/xattr.h`.
//!
//! Each inode lives in one slab object together with the filesystem's
//! per-inode data ([`FileSystem::INodeData`]), like `struct btrfs_inode`
//! embeds `struct inode`. [`SuperBlock::get_inode`] finds an inode in the
//! inode cache by its [`INodeKey`] (`iget5_locked`) or returns a
//! [`NewINode`] that the filesystem initialises from disk with
//! [`NewINode::init`]; dropping a `NewINode` instead marks it bad
//! (`iget_failed`). References are [`ARef<INode<T>>`]: `ihold`/`iput`.
//!
//! The VFS callbacks (lookup, readdir, read_folio, listxattr, xattr get)
//! call the [`FileSystem`] methods; everything else is the kernel's generic
//! code (`generic_file_read_iter`, `page_get_link`, `generic_fillattr`, ...).

use super::bindings;
use super::folio::LockedFolio;
use super::fs::{FileSystem, SuperBlock};
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use kernel::error::from_result;
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

/// A VFS inode of filesystem `T` with its data initialised.
///
/// # Invariants
///
/// The inode is live, belongs to a superblock of `T`, and its
/// `INodeWithData::data` is initialised.
#[repr(transparent)]
pub struct INode<T: FileSystem>(Opaque<bindings::inode>, PhantomData<T>);

impl<T: FileSystem> INode<T> {
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
}

// SAFETY: `ihold`/`iput` manage the inode's reference count, and an inode
// stays alive while a reference is held.
unsafe impl<T: FileSystem> AlwaysRefCounted for INode<T> {
    fn inc_ref(&self) {
        // SAFETY: The caller holds a reference, so the count is non-zero.
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
    /// The filesystem's data.
    pub data: D,
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

impl<T: FileSystem> NewINode<T> {
    /// The key the inode is being created for.
    pub fn key(&self) -> INodeKey {
        // SAFETY: `set` wrote the key before `iget5_locked` returned.
        unsafe { *(*self.inode.as_ptr().cast::<INodeWithData<T>>()).key.get() }
    }

    /// Initialises the inode from `p`, installs the operations for its
    /// type, and publishes it.
    pub fn init(self, p: INodeParams<T::INodeData>) -> Result<ARef<INode<T>>> {
        let i = self.inode.as_ptr();
        let outer = i.cast::<INodeWithData<T>>();
        let mode = p.typ.ifmt() | (p.mode & 0o7777);
        // SAFETY: The inode is new and locked and we own it (type
        // invariants), so we may write every field; the tables are 'static.
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
            bindings::unlock_new_inode(i);
        }
        let inode = self.inode.cast::<INode<T>>();
        core::mem::forget(self);
        // SAFETY: We own a reference to the now initialised inode.
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

/// `address_space_operations.readahead`: fills each folio of the window
/// like `read_folio`. `readahead_folio` hands out locked folios whose
/// reference the page cache keeps; a folio that fails is unlocked without
/// being marked up to date, and a later `read_folio` reports the error.
unsafe extern "C" fn readahead<T: FileSystem>(rac: *mut bindings::readahead_control) {
    loop {
        // SAFETY: `rac` is the live readahead control of this call.
        let folio = unsafe { bindings::rbtrfs_readahead_folio(rac) };
        if folio.is_null() {
            break;
        }
        // SAFETY: `readahead_folio` returns a locked folio of this mapping,
        // one of our inodes; the error is reported by a later `read_folio`.
        let _ = unsafe { fill_and_unlock::<T>(folio) };
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

/// The operation tables of filesystem `T`, built at compile time.
pub(crate) struct Tables<T>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const DIR_IOPS: bindings::inode_operations = {
        // SAFETY: All-zero is a valid operations table (all None).
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.lookup = Some(lookup::<T>);
        ops.listxattr = Some(listxattr::<T>);
        ops
    };

    const FILE_IOPS: bindings::inode_operations = {
        // SAFETY: As above.
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.listxattr = Some(listxattr::<T>);
        ops
    };

    const SYMLINK_IOPS: bindings::inode_operations = {
        // SAFETY: As above.
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.get_link = Some(bindings::page_get_link);
        ops.listxattr = Some(listxattr::<T>);
        ops
    };

    const SPECIAL_IOPS: bindings::inode_operations = {
        // SAFETY: As above.
        let mut ops: bindings::inode_operations = unsafe { core::mem::zeroed() };
        ops.listxattr = Some(listxattr::<T>);
        ops
    };

    const DIR_FOPS: bindings::file_operations = {
        // SAFETY: As above.
        let mut ops: bindings::file_operations = unsafe { core::mem::zeroed() };
        ops.llseek = Some(bindings::generic_file_llseek);
        ops.read = Some(bindings::generic_read_dir);
        ops.iterate_shared = Some(iterate_shared::<T>);
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
        ops
    };

    const AOPS: bindings::address_space_operations = {
        // SAFETY: As above.
        let mut ops: bindings::address_space_operations = unsafe { core::mem::zeroed() };
        ops.read_folio = Some(read_folio::<T>);
        ops.readahead = Some(readahead::<T>);
        ops
    };

    const fn xattr_handler(prefix: &'static CStr) -> bindings::xattr_handler {
        // SAFETY: As above.
        let mut h: bindings::xattr_handler = unsafe { core::mem::zeroed() };
        h.prefix = prefix.as_char_ptr();
        h.get = Some(xattr_get::<T>);
        h
    }

    const USER: bindings::xattr_handler = Self::xattr_handler(c_str!("user."));
    const TRUSTED: bindings::xattr_handler = Self::xattr_handler(c_str!("trusted."));
    const SECURITY: bindings::xattr_handler = Self::xattr_handler(c_str!("security."));

    /// The NULL-terminated handler array for `s_xattr`.
    pub(crate) const XATTR_HANDLERS: [*const bindings::xattr_handler; 4] =
        [&Self::USER, &Self::TRUSTED, &Self::SECURITY, core::ptr::null()];
}
