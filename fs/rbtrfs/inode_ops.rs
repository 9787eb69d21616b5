// SPDX-License-Identifier: GPL-2.0

//! Namespace operations on the trees (C: the tree side of `inode.c`, plus
//! `xattr.c`'s item handling).
//!
//! A name in a directory is three items kept consistent:
//! - DIR_ITEM `(dir, DIR_ITEM, name hash)`: lookup by name;
//! - DIR_INDEX `(dir, DIR_INDEX, index)`: readdir order;
//! - INODE_REF `(ino, INODE_REF, dir)` holding (index, name), or an
//!   INODE_EXTREF `(ino, INODE_EXTREF, hash(dir, name))` once the
//!   INODE_REF item for that directory is full;
//!
//! and the directory's size counts each name twice (btrfs's rule). These
//! functions change the trees only; the VFS glue keeps in-core inodes in
//! step. An inode whose last link goes is removed by [`remove_inode`],
//! at once or (if still open) after an orphan item kept it alive.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, objectid, Key, TreeSource};
use crate::ctree_write::{del_items, insert_item, item_data_mut, search_slot, WPath};
use crate::dir_item::{add_entry, find_entry, key_at_or_before, max_item_size, remove_entry};
use crate::error::{Result, EEXIST, EINVAL, EISDIR, EMLINK, ENAMETOOLONG, ENODATA, ENOENT, ENOSPC, ENOTDIR, ENOTEMPTY, EOVERFLOW, EUCLEAN, EXDEV};
use crate::extent_io::RootNode;
use crate::items::{file_type, DirEntry, DirItemIter, Timespec};
use crate::items_write::{
    dir_entry_range, dir_index_key, dir_item_key, find_dir_entry, find_inode_extref, find_inode_ref, inode_extref_key,
    inode_ref_key, push_inode_extref, push_inode_ref, xattr_key, InodeFields, NewDirEntry,
};
use crate::mem::Vec;
use crate::root_tree;
use crate::transaction::Trans;

/// `S_IFMT` and the file type bits of a mode.
pub mod mode {
    /// Type mask.
    pub const S_IFMT: u32 = 0o170000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140000;
}

/// Longest name btrfs stores.
pub const NAME_MAX: usize = 255;
/// Most links an inode may have.
pub const LINK_MAX: u32 = 65535;
/// `XATTR_CREATE`: fail if the attribute exists.
pub const XATTR_CREATE: u32 = 1;
/// `XATTR_REPLACE`: fail if it does not.
pub const XATTR_REPLACE: u32 = 2;
/// `RENAME_NOREPLACE`.
pub const RENAME_NOREPLACE: u32 = 1;
/// `RENAME_EXCHANGE`.
pub const RENAME_EXCHANGE: u32 = 2;

/// The directory entry type for a mode.
pub fn file_type_of(m: u32) -> u8 {
    match m & mode::S_IFMT {
        mode::S_IFREG => file_type::REG_FILE,
        mode::S_IFDIR => file_type::DIR,
        mode::S_IFLNK => file_type::SYMLINK,
        mode::S_IFCHR => file_type::CHRDEV,
        mode::S_IFBLK => file_type::BLKDEV,
        mode::S_IFIFO => file_type::FIFO,
        mode::S_IFSOCK => file_type::SOCK,
        _ => file_type::UNKNOWN,
    }
}

fn is_dir(f: &InodeFields) -> bool {
    f.mode & mode::S_IFMT == mode::S_IFDIR
}

/// What a new inode starts with.
#[derive(Clone, Copy, Debug)]
pub struct NewInode {
    /// Type and permissions.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number of special files.
    pub rdev: u64,
    /// Creation time (all four times).
    pub now: Timespec,
}

fn inode_key(ino: u64) -> Key {
    Key::new(ino, key_type::INODE_ITEM, 0)
}

/// Checks a name for a directory entry: `EINVAL` for empty or with `/` or
/// NUL, `ENAMETOOLONG` above 255 bytes.
pub fn check_name(name: &[u8]) -> Result {
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(EINVAL);
    }
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

/// Reads inode `ino` of tree `root`; ENOENT if there is none.
pub fn read_inode<S: TreeSource>(t: &Trans<'_, S>, root: u64, ino: u64) -> Result<InodeFields> {
    let r = t.fs.root(root).ok_or(ENOENT)?;
    find_entry(t, &r, &inode_key(ino), InodeFields::decode)?.ok_or(ENOENT)
}

/// Changes inode `ino` with `f`, stamping the running transaction, and
/// returns the new fields.
pub fn update_inode<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    ino: u64,
    f: impl FnOnce(&mut InodeFields),
) -> Result<InodeFields> {
    let transid = t.fs.transid();
    t.with_root(root, |t, r| {
        let mut p = WPath::new();
        if !search_slot(t, r, &inode_key(ino), &mut p, 0, true)? {
            return Err(ENOENT);
        }
        let d = item_data_mut(t, &p)?;
        let mut fields = InodeFields::decode(d)?;
        f(&mut fields);
        fields.transid = transid;
        fields.encode_into(d)?;
        Ok(fields)
    })
}

/// A name in directory `dir`: (inode, entry type), from its DIR_ITEM.
pub fn lookup<S: TreeSource>(t: &Trans<'_, S>, root: u64, dir: u64, name: &[u8]) -> Result<Option<(u64, u8)>> {
    let r = t.fs.root(root).ok_or(ENOENT)?;
    let found = find_entry(t, &r, &dir_item_key(dir, name), |d| {
        Ok(find_dir_entry(d, name)?.map(|(_, e)| (e.head.location(), e.head.ty())))
    })?;
    match found.flatten() {
        Some((loc, ty)) if loc.ty == key_type::INODE_ITEM => Ok(Some((loc.objectid, ty))),
        // A subvolume (a ROOT_ITEM location) is a directory, but not one of
        // this tree: see [`Entry`] for the operations that take both.
        Some(_) => Err(EISDIR),
        None => Ok(None),
    }
}

/// What a directory entry names: an inode of the directory's own tree, or
/// a subvolume (by its entry's location key), either through the entry
/// that is its own link (`own`, [`root_tree::is_own_link`]) or through a
/// placeholder entry that a snapshot copied from its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Inode number and entry type.
    Inode(u64, u8),
    /// A subvolume.
    Subvol {
        /// The entry's location: `(id, ROOT_ITEM, 0 or -1)`.
        location: Key,
        /// Whether the entry is the subvolume's own link.
        own: bool,
    },
}

/// The entry `name` in directory `dir` of tree `root`, if there is one.
pub fn entry<S: TreeSource>(t: &Trans<'_, S>, root: u64, dir: u64, name: &[u8]) -> Result<Option<Entry>> {
    Ok(match lookup_location(t, root, dir, name)? {
        None => None,
        Some((loc, ty)) if loc.ty == key_type::INODE_ITEM => Some(Entry::Inode(loc.objectid, ty)),
        Some((loc, _)) if loc.ty == key_type::ROOT_ITEM => Some(Entry::Subvol {
            location: loc,
            own: root_tree::is_own_link(t, loc.objectid, (root, dir), name)?,
        }),
        Some(_) => return Err(EUCLEAN),
    })
}

/// The DIR_INDEX of `name` in `dir`, found by walking the directory's
/// index items (C: `btrfs_search_dir_index_item`): for an entry with no
/// back reference that names its index (a placeholder).
pub fn find_dir_index<S: TreeSource>(t: &Trans<'_, S>, root: u64, dir: u64, name: &[u8]) -> Result<Option<u64>> {
    let r = t.fs.root(root).ok_or(ENOENT)?;
    let ov = crate::extent_io::Overlay { dirty: &t.fs.dirty, src: t.src };
    let mut p = crate::ctree::Path::new();
    p.search(&ov, r.bytenr, r.level, r.generation, &Key::new(dir, key_type::DIR_INDEX, 0))
        .map_err(crate::dir_item::read_err)?;
    while let Some(item) = p.item()? {
        if item.key.objectid != dir || item.key.ty != key_type::DIR_INDEX {
            break;
        }
        for e in DirItemIter::new(item.data) {
            let e: DirEntry<'_> = e.map_err(|_| EUCLEAN)?;
            if e.name == name {
                return Ok(Some(item.key.offset));
            }
        }
        if !p.next_item(&ov).map_err(crate::dir_item::read_err)? {
            break;
        }
    }
    Ok(None)
}

/// Removes the entry `name` (which is `e`) from `dir` of `root`.
fn del_name<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, dir: u64, name: &[u8], e: Entry, now: Timespec) -> Result {
    match e {
        Entry::Inode(ino, _) => del_link(t, root, dir, name, ino, now),
        Entry::Subvol { location, .. } => {
            root_tree::del_subvol_link(t, location.objectid, (root, dir), name, now).map(|_| ())
        }
    }
}

/// Adds `e` as `name` in `dir` of `root`: a subvolume becomes linked
/// there (its own link, with the location it had).
fn add_name<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, dir: u64, name: &[u8], e: Entry, now: Timespec) -> Result {
    match e {
        Entry::Inode(ino, ty) => add_link(t, root, dir, name, ino, ty, now),
        Entry::Subvol { location, .. } => {
            root_tree::add_subvol_link(t, location.objectid, location, (root, dir), name, now).map(|_| ())
        }
    }
}

/// The location key and entry type of `name` in directory `dir`, whatever
/// it points at (an inode, or a subvolume's ROOT_ITEM).
pub fn lookup_location<S: TreeSource>(t: &Trans<'_, S>, root: u64, dir: u64, name: &[u8]) -> Result<Option<(Key, u8)>> {
    let r = t.fs.root(root).ok_or(ENOENT)?;
    let found = find_entry(t, &r, &dir_item_key(dir, name), |d| {
        Ok(find_dir_entry(d, name)?.map(|(_, e)| (e.head.location(), e.head.ty())))
    })?;
    Ok(found.flatten())
}

/// The next free inode number of tree `root`.
pub fn alloc_ino<S: TreeSource>(t: &mut Trans<'_, S>, root: u64) -> Result<u64> {
    if let Some(n) = t.fs.next_ino(root) {
        t.fs.set_next_ino(root, n + 1)?;
        return Ok(n);
    }
    let r = t.fs.root(root).ok_or(ENOENT)?;
    let last = key_at_or_before(t, &r, &Key::new(objectid::LAST_FREE, u8::MAX, u64::MAX))?;
    let n = last.map_or(objectid::FIRST_FREE, |k| k.objectid.max(objectid::FIRST_FREE - 1) + 1);
    if n >= objectid::LAST_FREE {
        return Err(ENOSPC);
    }
    t.fs.set_next_ino(root, n + 1)?;
    Ok(n)
}

/// The next DIR_INDEX of directory `dir`.
fn next_index<S: TreeSource>(t: &Trans<'_, S>, root: &RootNode, dir: u64) -> Result<u64> {
    let k = key_at_or_before(t, root, &Key::new(dir, key_type::DIR_INDEX, u64::MAX))?;
    Ok(match k {
        Some(k) if k.objectid == dir && k.ty == key_type::DIR_INDEX => k.offset + 1,
        _ => 2,
    })
}

/// Adds the DIR_ITEM and DIR_INDEX of `name` in `dir` pointing at
/// `location` (an inode's INODE_ITEM key or a subvolume's ROOT_ITEM key),
/// grows the directory and stamps its times. Returns the index used.
pub fn add_dir_entries<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    dir: u64,
    name: &[u8],
    location: Key,
    ty: u8,
    now: Timespec,
) -> Result<u64> {
    check_name(name)?;
    let transid = t.fs.transid();
    let index = t.with_root(root, |t, r| {
        let index = next_index(t, r, dir)?;
        let e = NewDirEntry { location, transid, ty, name, data: &[] };
        let mut bytes = Vec::new();
        e.push(&mut bytes)?;
        add_entry(t, r, &dir_item_key(dir, name), &bytes)?;
        insert_item(t, r, &dir_index_key(dir, index), &bytes)?;
        Ok(index)
    })?;
    update_inode(t, root, dir, |d| {
        d.size += 2 * name.len() as u64;
        d.mtime = now;
        d.ctime = now;
    })?;
    Ok(index)
}

/// Removes the DIR_ITEM entry of `name` and the DIR_INDEX `index` from
/// `dir`, shrinks the directory and stamps its times.
pub fn del_dir_entries<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    dir: u64,
    name: &[u8],
    index: u64,
    now: Timespec,
) -> Result {
    t.with_root(root, |t, r| {
        if !remove_entry(t, r, &dir_item_key(dir, name), |d| dir_entry_range(d, name))? {
            return Err(EUCLEAN);
        }
        let mut p = WPath::new();
        if !search_slot(t, r, &dir_index_key(dir, index), &mut p, -1, true)? {
            return Err(EUCLEAN);
        }
        del_items(t, r, &mut p, 1)
    })?;
    update_inode(t, root, dir, |d| {
        d.size = d.size.saturating_sub(2 * name.len() as u64);
        d.mtime = now;
        d.ctime = now;
    })?;
    Ok(())
}

/// Adds the three items of `name` in `dir` pointing at `ino`, and grows
/// the directory.
fn add_link<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, dir: u64, name: &[u8], ino: u64, ty: u8, now: Timespec) -> Result {
    let transid = t.fs.transid();
    t.with_root(root, |t, r| {
        let index = next_index(t, r, dir)?;
        let e = NewDirEntry { location: inode_key(ino), transid, ty, name, data: &[] };
        let mut bytes = Vec::new();
        e.push(&mut bytes)?;
        add_entry(t, r, &dir_item_key(dir, name), &bytes)?;
        insert_item(t, r, &dir_index_key(dir, index), &bytes)?;
        let mut rb = Vec::new();
        push_inode_ref(&mut rb, index, name)?;
        match add_entry(t, r, &inode_ref_key(ino, dir), &rb) {
            Err(e) if e == EOVERFLOW => {
                let mut xb = Vec::new();
                push_inode_extref(&mut xb, dir, index, name)?;
                add_entry(t, r, &inode_extref_key(ino, dir, name), &xb)
            }
            other => other,
        }
    })?;
    update_inode(t, root, dir, |d| {
        d.size += 2 * name.len() as u64;
        d.mtime = now;
        d.ctime = now;
    })?;
    Ok(())
}

/// Removes the three items of `name` in `dir` (pointing at `ino`) and
/// shrinks the directory.
fn del_link<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, dir: u64, name: &[u8], ino: u64, now: Timespec) -> Result {
    t.with_root(root, |t, r| {
        let mut index = None;
        let found = remove_entry(t, r, &inode_ref_key(ino, dir), |d| {
            Ok(find_inode_ref(d, name)?.map(|(range, e)| {
                index = Some(e.index);
                range
            }))
        })?;
        if !found {
            remove_entry(t, r, &inode_extref_key(ino, dir, name), |d| {
                Ok(find_inode_extref(d, dir, name)?.map(|(range, e)| {
                    index = Some(e.index);
                    range
                }))
            })?;
        }
        let index = index.ok_or(EUCLEAN)?;
        if !remove_entry(t, r, &dir_item_key(dir, name), |d| dir_entry_range(d, name))? {
            return Err(EUCLEAN);
        }
        let mut p = WPath::new();
        if !search_slot(t, r, &dir_index_key(dir, index), &mut p, -1, true)? {
            return Err(EUCLEAN);
        }
        del_items(t, r, &mut p, 1)
    })?;
    update_inode(t, root, dir, |d| {
        d.size = d.size.saturating_sub(2 * name.len() as u64);
        d.mtime = now;
        d.ctime = now;
    })?;
    Ok(())
}

/// Creates an inode named `name` in `dir` (a file, directory, symlink or
/// special file by `attrs.mode`). Returns its number and fields.
pub fn create<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    dir: u64,
    name: &[u8],
    attrs: &NewInode,
) -> Result<(u64, InodeFields)> {
    check_name(name)?;
    if lookup_location(t, root, dir, name)?.is_some() {
        return Err(EEXIST);
    }
    let ino = alloc_ino(t, root)?;
    create_at(t, root, dir, name, attrs, ino).map(|f| (ino, f))
}

/// [`create`] with an inode number taken from [`alloc_ino`] already (the
/// VFS needs it to set up the in-core inode first).
pub fn create_at<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    dir: u64,
    name: &[u8],
    attrs: &NewInode,
    ino: u64,
) -> Result<InodeFields> {
    check_name(name)?;
    if lookup_location(t, root, dir, name)?.is_some() {
        return Err(EEXIST);
    }
    let transid = t.fs.transid();
    let fields = InodeFields {
        generation: transid,
        transid,
        nlink: 1,
        uid: attrs.uid,
        gid: attrs.gid,
        mode: attrs.mode,
        rdev: attrs.rdev,
        atime: attrs.now,
        ctime: attrs.now,
        mtime: attrs.now,
        otime: attrs.now,
        ..InodeFields::default()
    };
    let item = fields.encode();
    t.with_root(root, |t, r| insert_item(t, r, &inode_key(ino), &item))?;
    add_link(t, root, dir, name, ino, file_type_of(attrs.mode), attrs.now)?;
    Ok(fields)
}

/// Adds the name `name` in `dir` for the existing inode `ino`.
pub fn link<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, dir: u64, name: &[u8], now: Timespec) -> Result<InodeFields> {
    check_name(name)?;
    let cur = read_inode(t, root, ino)?;
    if is_dir(&cur) {
        return Err(crate::error::EPERM);
    }
    if cur.nlink >= LINK_MAX {
        return Err(EMLINK);
    }
    if lookup_location(t, root, dir, name)?.is_some() {
        return Err(EEXIST);
    }
    add_link(t, root, dir, name, ino, file_type_of(cur.mode), now)?;
    update_inode(t, root, ino, |f| {
        f.nlink += 1;
        f.ctime = now;
    })
}

/// Removes the name `name` from `dir`. Returns the inode it named and its
/// fields after the change; at `nlink == 0` the caller removes the inode
/// (at once, or after the last close with an orphan item meanwhile).
/// A directory must be empty, and is left with `nlink == 0`.
pub fn unlink<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    dir: u64,
    name: &[u8],
    now: Timespec,
) -> Result<(u64, InodeFields)> {
    let (ino, _) = lookup(t, root, dir, name)?.ok_or(ENOENT)?;
    let cur = read_inode(t, root, ino)?;
    if is_dir(&cur) && cur.size != 0 {
        return Err(ENOTEMPTY);
    }
    del_link(t, root, dir, name, ino, now)?;
    let f = update_inode(t, root, ino, |f| {
        f.nlink = if is_dir(f) { 0 } else { f.nlink.saturating_sub(1) };
        f.ctime = now;
    })?;
    Ok((ino, f))
}

/// Renames `odir/oname` to `ndir/nname` within tree `root`: [`rename_at`]
/// with both ends in one tree.
pub fn rename<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    (odir, oname): (u64, &[u8]),
    (ndir, nname): (u64, &[u8]),
    flags: u32,
    now: Timespec,
) -> Result<Option<(u64, InodeFields)>> {
    rename_at(t, (root, odir, oname), (root, ndir, nname), flags, now)
}

/// Renames `oname` in directory `odir` of tree `oroot` to `nname` in
/// `ndir` of `nroot` (`flags`: [`RENAME_NOREPLACE`], [`RENAME_EXCHANGE`]),
/// with C btrfs's rules for subvolumes (C: `btrfs_rename`,
/// `btrfs_rename_exchange`):
/// - an inode stays in its tree (`EXDEV` otherwise); a subvolume's own
///   link may move to any tree, keeping its location, with its ROOT_REF
///   and ROOT_BACKREF following; an exchange across trees takes two
///   subvolumes;
/// - a placeholder does not move (`ENOTEMPTY`), nor is a subvolume
///   replaced (`ENOTEMPTY`); a placeholder is replaced like an empty
///   directory.
///
/// Returns the inode a plain rename replaced, with its fields after
/// losing the link.
pub fn rename_at<S: TreeSource>(
    t: &mut Trans<'_, S>,
    (oroot, odir, oname): (u64, u64, &[u8]),
    (nroot, ndir, nname): (u64, u64, &[u8]),
    flags: u32,
    now: Timespec,
) -> Result<Option<(u64, InodeFields)>> {
    check_name(nname)?;
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 || flags == RENAME_NOREPLACE | RENAME_EXCHANGE {
        return Err(EINVAL);
    }
    let src = entry(t, oroot, odir, oname)?.ok_or(ENOENT)?;
    let dst = entry(t, nroot, ndir, nname)?;
    // In C's order: what crosses trees first (a placeholder is not a
    // subvolume there), then what cannot move or be replaced.
    let placeholder = |e: &Entry| matches!(e, Entry::Subvol { own: false, .. });
    let link = |e: &Entry| matches!(e, Entry::Subvol { own: true, .. });
    if !link(&src) && oroot != nroot {
        return Err(EXDEV);
    }
    if flags & RENAME_EXCHANGE != 0 {
        let dst = dst.ok_or(ENOENT)?;
        if !link(&dst) && oroot != nroot {
            return Err(EXDEV);
        }
        if placeholder(&src) || placeholder(&dst) {
            return Err(ENOTEMPTY);
        }
        del_name(t, oroot, odir, oname, src, now)?;
        del_name(t, nroot, ndir, nname, dst, now)?;
        add_name(t, nroot, ndir, nname, src, now)?;
        add_name(t, oroot, odir, oname, dst, now)?;
        for (root, e) in [(oroot, src), (nroot, dst)] {
            if let Entry::Inode(ino, _) = e {
                update_inode(t, root, ino, |f| f.ctime = now)?;
            }
        }
        return Ok(None);
    }
    if placeholder(&src) {
        return Err(ENOTEMPTY);
    }
    let mut victim = None;
    if let Some(d) = dst {
        if flags & RENAME_NOREPLACE != 0 {
            return Err(EEXIST);
        }
        let src_dir = match src {
            Entry::Inode(s, _) => {
                if matches!(d, Entry::Inode(x, _) if x == s) {
                    // Two names of one inode: nothing to do.
                    return Ok(None);
                }
                is_dir(&read_inode(t, oroot, s)?)
            }
            Entry::Subvol { .. } => true,
        };
        match d {
            Entry::Subvol { own: true, .. } => return Err(ENOTEMPTY),
            Entry::Subvol { own: false, .. } => {
                if !src_dir {
                    return Err(EISDIR);
                }
                del_name(t, nroot, ndir, nname, d, now)?;
            }
            Entry::Inode(dino, _) => {
                let dd = read_inode(t, nroot, dino)?;
                match (src_dir, is_dir(&dd)) {
                    (true, false) => return Err(ENOTDIR),
                    (false, true) => return Err(EISDIR),
                    (true, true) if dd.size != 0 => return Err(ENOTEMPTY),
                    _ => {}
                }
                victim = Some(unlink(t, nroot, ndir, nname, now)?);
            }
        }
    }
    del_name(t, oroot, odir, oname, src, now)?;
    add_name(t, nroot, ndir, nname, src, now)?;
    if let Entry::Inode(ino, _) = src {
        update_inode(t, oroot, ino, |f| f.ctime = now)?;
    }
    Ok(victim)
}

/// Sets xattr `name` of `ino` to `value` ([`XATTR_CREATE`],
/// [`XATTR_REPLACE`] in `flags`).
pub fn set_xattr<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    ino: u64,
    (name, value): (&[u8], &[u8]),
    flags: u32,
    now: Timespec,
) -> Result {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(if name.is_empty() { EINVAL } else { ENAMETOOLONG });
    }
    let transid = t.fs.transid();
    let max = max_item_size(t.fs.geo.nodesize);
    t.with_root(root, |t, r| {
        let key = xattr_key(ino, name);
        let exists = find_entry(t, r, &key, |d| Ok(find_dir_entry(d, name)?.is_some()))?.unwrap_or(false);
        if exists && flags & XATTR_CREATE != 0 {
            return Err(EEXIST);
        }
        if !exists && flags & XATTR_REPLACE != 0 {
            return Err(ENODATA);
        }
        let e = NewDirEntry { location: Key::MIN, transid, ty: file_type::XATTR, name, data: value };
        if e.size() > max {
            return Err(ENOSPC);
        }
        if exists {
            remove_entry(t, r, &key, |d| dir_entry_range(d, name))?;
        }
        let mut bytes = Vec::new();
        e.push(&mut bytes)?;
        add_entry(t, r, &key, &bytes).map_err(|e| if e == EOVERFLOW { ENOSPC } else { e })
    })?;
    update_inode(t, root, ino, |f| f.ctime = now)?;
    Ok(())
}

/// Removes xattr `name` of `ino`; ENODATA if it has none.
pub fn remove_xattr<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64, name: &[u8], now: Timespec) -> Result {
    let key = xattr_key(ino, name);
    if !t.with_root(root, |t, r| remove_entry(t, r, &key, |d| dir_entry_range(d, name)))? {
        return Err(ENODATA);
    }
    update_inode(t, root, ino, |f| f.ctime = now)?;
    Ok(())
}

/// Stores a POSIX ACL attribute `name` of `ino` (or removes it with
/// `None`, which is no error if it is absent) and gives the inode the
/// permission bits of `mode` and change time `now`, as one change (C:
/// `btrfs_set_acl` with the mode `posix_acl_update_mode` chose). Returns
/// the inode's fields after it.
pub fn set_acl<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    ino: u64,
    name: &[u8],
    value: Option<&[u8]>,
    mode: u32,
    now: Timespec,
) -> Result<InodeFields> {
    match value {
        Some(v) => set_xattr(t, root, ino, (name, v), 0, now)?,
        None => match remove_xattr(t, root, ino, name, now) {
            Err(e) if e == ENODATA => {}
            r => r?,
        },
    }
    update_inode(t, root, ino, |f| {
        f.mode = (f.mode & mode::S_IFMT) | (mode & 0o7777);
        f.ctime = now;
    })
}

/// Every xattr of `ino`: calls `f(name, value)`.
pub fn list_xattrs<S: TreeSource>(t: &Trans<'_, S>, root: u64, ino: u64, mut f: impl FnMut(&[u8], &[u8]) -> Result) -> Result {
    let r = t.fs.root(root).ok_or(ENOENT)?;
    let ov = crate::extent_io::Overlay { dirty: &t.fs.dirty, src: t.src };
    let mut p = crate::ctree::Path::new();
    p.search(&ov, r.bytenr, r.level, r.generation, &Key::new(ino, key_type::XATTR_ITEM, 0))
        .map_err(crate::dir_item::read_err)?;
    while let Some(item) = p.item()? {
        if item.key.objectid != ino || item.key.ty != key_type::XATTR_ITEM {
            break;
        }
        for e in DirItemIter::new(item.data) {
            let e: DirEntry<'_> = e.map_err(|_| EUCLEAN)?;
            f(e.name, e.data)?;
        }
        if !p.next_item(&ov).map_err(crate::dir_item::read_err)? {
            break;
        }
    }
    Ok(())
}

/// The orphan item that keeps an unlinked but open inode until its last
/// close (or the next mount) removes it.
fn orphan_key(ino: u64) -> Key {
    Key::new(objectid::ORPHAN, key_type::ORPHAN_ITEM, ino)
}

/// Records that `ino` must be removed once closed.
pub fn add_orphan<S: TreeSource>(t: &mut Trans<'_, S>, root: u64, ino: u64) -> Result {
    t.with_root(root, |t, r| insert_item(t, r, &orphan_key(ino), &[]))
}

/// Removes inode `ino` entirely: its data (through `drop_data`, which
/// releases every file extent), every item it has, and its orphan item.
pub fn remove_inode<S: TreeSource>(
    t: &mut Trans<'_, S>,
    root: u64,
    ino: u64,
    drop_data: impl FnOnce(&mut Trans<'_, S>) -> Result,
) -> Result {
    drop_data(t)?;
    // The keys first (read-only), then delete them one by one.
    let mut keys = Vec::new();
    {
        let r = t.fs.root(root).ok_or(ENOENT)?;
        let ov = crate::extent_io::Overlay { dirty: &t.fs.dirty, src: t.src };
        let mut p = crate::ctree::Path::new();
        p.search(&ov, r.bytenr, r.level, r.generation, &Key::new(ino, 0, 0)).map_err(crate::dir_item::read_err)?;
        while let Some(k) = p.key()? {
            if k.objectid != ino {
                break;
            }
            keys.push(k)?;
            if !p.next_item(&ov).map_err(crate::dir_item::read_err)? {
                break;
            }
        }
    }
    keys.push(orphan_key(ino))?;
    t.with_root(root, |t, r| {
        for k in keys.iter() {
            let mut p = WPath::new();
            if search_slot(t, r, k, &mut p, -1, true)? {
                del_items(t, r, &mut p, 1)?;
            }
        }
        Ok(())
    })
}
