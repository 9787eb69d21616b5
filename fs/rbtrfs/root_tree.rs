// SPDX-License-Identifier: GPL-2.0

//! Subvolumes in the tree of tree roots (C: `root-tree.c`, `uuid-tree.c`,
//! the tree side of `create_subvol`, `btrfs_unlink_subvol`,
//! `btrfs_delete_subvolume` and `btrfs_ioctl_default_subvol`).
//!
//! A subvolume `id` linked as `name` in directory `dir` of subvolume
//! `parent` is:
//! - its tree, whose root directory is inode 256 with an INODE_REF `..`
//!   to itself (index 0);
//! - its ROOT_ITEM `(id, ROOT_ITEM, 0)` in the tree of tree roots;
//! - ROOT_REF `(parent, ROOT_REF, id)` and ROOT_BACKREF
//!   `(id, ROOT_BACKREF, parent)`, both `{dirid, sequence = dir index,
//!   name}`;
//! - DIR_ITEM and DIR_INDEX in `dir` whose location is `(id, ROOT_ITEM, 0)`,
//!   type DIR (the directory's size counts the name twice, as for any
//!   name);
//! - an entry in the uuid tree: `(uuid[0..8], UUID_KEY_SUBVOL,
//!   uuid[8..16])` holding the ids (little-endian u64s) with that uuid.
//!
//! [`link_subvol`] adds the namespace part for a tree and root item made by
//! the caller ([`new_subvol_tree`] and [`subvol_root_item`] for an empty
//! subvolume; a snapshot brings its own copied root), [`unlink_subvol`]
//! takes it away and leaves a dead root (refs 0, an orphan item) for the
//! cleaner to drop.

#![forbid(unsafe_code)]

use crate::ctree::{key_type, objectid, Key, TreeSource};
use crate::ctree_write::{del_items, extend_item, insert_item, item_data, item_data_mut, search_slot, truncate_item, WPath};
use crate::dir_item::{find_entry, key_at_or_before};
use crate::error::{Result, EEXIST, EINVAL, ENOENT, ENOSPC, EOVERFLOW, EUCLEAN};
use crate::extent_io::{set_nritems, RootNode, TreeCtx};
use crate::inode_ops::{self, NewInode};
use crate::items::{file_type, RootRef, Timespec, ROOT_ITEM_FULL_SIZE};
use crate::items_write::{find_dir_entry, dir_item_key, push_inode_ref, InodeFields, RootFields};
use crate::mem::Vec;
use crate::transaction::{new_block_header, Trans};

/// `BTRFS_INODE_ROOT_ITEM_INIT`: set in a root item's embedded inode by
/// kernels that initialise every root item field.
pub const INODE_ROOT_ITEM_INIT: u64 = 1 << 31;
pub use crate::items::ROOT_SUBVOL_RDONLY;
/// `BTRFS_ROOT_SUBVOL_DEAD`: being deleted.
pub const ROOT_SUBVOL_DEAD: u64 = 1 << 48;
/// `BTRFS_INCOMPAT_DEFAULT_SUBVOL`.
const INCOMPAT_DEFAULT_SUBVOL: u64 = 1 << 1;
/// Offset of `incompat_flags` in the superblock.
const SB_INCOMPAT_OFF: usize = 188;

/// The ROOT_ITEM key of tree `id`.
pub fn root_item_key(id: u64) -> Key {
    Key::new(id, key_type::ROOT_ITEM, 0)
}

/// The location a directory entry of subvolume `id` points at.
pub fn subvol_location(id: u64) -> Key {
    Key::new(id, key_type::ROOT_ITEM, 0)
}

fn tree_root<S: TreeSource>(t: &Trans<'_, S>) -> Result<RootNode> {
    t.fs.root(objectid::ROOT_TREE).ok_or(EUCLEAN)
}

/// The first ROOT_ITEM of tree `id` (any offset), as fields.
pub fn read_root_item<S: TreeSource>(t: &Trans<'_, S>, id: u64) -> Result<Option<RootFields>> {
    let r = tree_root(t)?;
    let k = key_at_or_before(t, &r, &Key::new(id, key_type::ROOT_ITEM, u64::MAX))?;
    let Some(k) = k.filter(|k| k.objectid == id && k.ty == key_type::ROOT_ITEM) else { return Ok(None) };
    find_entry(t, &r, &k, RootFields::decode)
}

/// Changes the ROOT_ITEM of tree `id` with `f` and returns the new fields.
/// A legacy (short) item is `EOVERFLOW`: it has no room for the fields.
pub fn update_root_item<S: TreeSource>(
    t: &mut Trans<'_, S>,
    id: u64,
    f: impl FnOnce(&mut RootFields),
) -> Result<RootFields> {
    let key = {
        let r = tree_root(t)?;
        key_at_or_before(t, &r, &Key::new(id, key_type::ROOT_ITEM, u64::MAX))?
            .filter(|k| k.objectid == id && k.ty == key_type::ROOT_ITEM)
            .ok_or(ENOENT)?
    };
    t.with_root(objectid::ROOT_TREE, |t, r| {
        let mut p = WPath::new();
        if !search_slot(t, r, &key, &mut p, 0, true)? {
            return Err(EUCLEAN);
        }
        let d = item_data_mut(t, &p)?;
        if d.len() < ROOT_ITEM_FULL_SIZE {
            return Err(EOVERFLOW);
        }
        let mut fields = RootFields::decode(d)?;
        f(&mut fields);
        fields.write_to(d)?;
        Ok(fields)
    })
}

/// The next free tree id (C: `btrfs_find_free_objectid` on the tree of
/// tree roots): one past the highest objectid below
/// `BTRFS_LAST_FREE_OBJECTID` in it, at least 256. Ids of dead roots stay
/// taken while their items exist.
pub fn find_free_objectid<S: TreeSource>(t: &Trans<'_, S>) -> Result<u64> {
    let r = tree_root(t)?;
    let last = key_at_or_before(t, &r, &Key::new(objectid::LAST_FREE, u8::MAX, u64::MAX))?;
    let mut n = last.map_or(objectid::FIRST_FREE, |k| k.objectid.max(objectid::FIRST_FREE - 1) + 1);
    // Never an id used since the mount, though its tree was dropped.
    n = n.max(t.fs.tree_id_high + 1);
    // A tree registered in this transaction whose item is not in yet.
    while t.fs.root(n).is_some() {
        n += 1;
    }
    if n >= objectid::LAST_FREE {
        return Err(ENOSPC);
    }
    Ok(n)
}

/// Makes an empty tree `id`: one empty leaf, registered with the running
/// transaction (its ROOT_ITEM is the caller's to insert, at
/// [`root_item_key`]). Returns its root.
pub fn create_empty_tree<S: TreeSource>(t: &mut Trans<'_, S>, id: u64, first_key: &Key) -> Result<RootNode> {
    if t.fs.root(id).is_some() {
        return Err(EEXIST);
    }
    let ns = t.fs.geo.nodesize as usize;
    let bytenr = t.alloc_tree_block(id, 0, first_key)?;
    let mut buf = Vec::new();
    buf.resize(ns, 0u8)?;
    new_block_header(t, &mut buf, bytenr, id, 0);
    set_nritems(&mut buf, 0);
    t.fs.dirty.insert(bytenr, buf)?;
    let node = RootNode { objectid: id, bytenr, level: 0, generation: t.fs.transid() };
    t.fs.add_new_root(node, root_item_key(id))?;
    Ok(node)
}

/// Makes the tree of a new, empty subvolume `id` (C: `create_subvol` and
/// `btrfs_create_new_inode` for a subvolume): its root directory, inode
/// 256 with mode, owner and times from `attrs` and the INODE_REF `..` to
/// itself at index 0. Returns the tree's root.
pub fn new_subvol_tree<S: TreeSource>(t: &mut Trans<'_, S>, id: u64, attrs: &NewInode) -> Result<RootNode> {
    let dir = objectid::FIRST_FREE;
    create_empty_tree(t, id, &Key::new(dir, key_type::INODE_ITEM, 0))?;
    let transid = t.fs.transid();
    let fields = InodeFields {
        generation: transid,
        transid,
        nlink: 1,
        uid: attrs.uid,
        gid: attrs.gid,
        mode: attrs.mode,
        atime: attrs.now,
        ctime: attrs.now,
        mtime: attrs.now,
        otime: attrs.now,
        ..InodeFields::default()
    };
    let item = fields.encode();
    let mut rb = Vec::new();
    push_inode_ref(&mut rb, 0, b"..")?;
    t.with_root(id, |t, r| {
        insert_item(t, r, &Key::new(dir, key_type::INODE_ITEM, 0), &item)?;
        insert_item(t, r, &Key::new(dir, key_type::INODE_REF, dir), &rb)
    })?;
    t.fs.root(id).ok_or(EUCLEAN)
}

/// The ROOT_ITEM of a new subvolume whose tree is `node` (C:
/// `create_subvol`): refs 1, root directory 256, the embedded inode of a
/// fresh root (generation 1, size 3, one link, 0755 directory,
/// `INODE_ROOT_ITEM_INIT`), `uuid`, otime = ctime = `now`, created and
/// changed in the running transaction `transid`.
pub fn subvol_root_item(node: &RootNode, transid: u64, nodesize: u32, uuid: [u8; 16], now: Timespec) -> RootFields {
    let mut f = RootFields::new_tree(node.bytenr, transid, nodesize);
    f.level = node.level;
    f.inode = InodeFields {
        generation: 1,
        size: 3,
        nlink: 1,
        nbytes: nodesize.into(),
        mode: inode_ops::mode::S_IFDIR | 0o755,
        flags: INODE_ROOT_ITEM_INIT,
        ..InodeFields::default()
    };
    f.root_dirid = objectid::FIRST_FREE;
    f.uuid = uuid;
    f.otime = now;
    f.ctime = now;
    f.ctransid = transid;
    f.otransid = transid;
    f
}

fn root_ref_bytes(dirid: u64, index: u64, name: &[u8]) -> Result<Vec<u8>> {
    let mut b = Vec::new();
    b.extend_from_slice(&dirid.to_le_bytes())?;
    b.extend_from_slice(&index.to_le_bytes())?;
    b.extend_from_slice(&(name.len() as u16).to_le_bytes())?;
    b.extend_from_slice(name)?;
    Ok(b)
}

/// The uuid tree key of `uuid` with `ty` (C: `btrfs_uuid_to_key`).
pub fn uuid_key(uuid: &[u8; 16], ty: u8) -> Key {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&uuid[..8]);
    b.copy_from_slice(&uuid[8..]);
    Key::new(u64::from_le_bytes(a), ty, u64::from_le_bytes(b))
}

/// Creates the uuid tree if the filesystem has none (C:
/// `btrfs_create_uuid_tree`; its root item has no uuid).
fn ensure_uuid_tree<S: TreeSource>(t: &mut Trans<'_, S>) -> Result {
    if t.fs.root(objectid::UUID_TREE).is_some() {
        return Ok(());
    }
    let node = create_empty_tree(t, objectid::UUID_TREE, &Key::MIN)?;
    let f = RootFields::new_tree(node.bytenr, t.fs.transid(), t.fs.geo.nodesize);
    insert_root_item(t, objectid::UUID_TREE, &f)
}

fn insert_root_item<S: TreeSource>(t: &mut Trans<'_, S>, id: u64, f: &RootFields) -> Result {
    let mut buf = Vec::new();
    buf.resize(ROOT_ITEM_FULL_SIZE, 0u8)?;
    f.write_to(&mut buf)?;
    t.with_root(objectid::ROOT_TREE, |t, r| insert_item(t, r, &root_item_key(id), &buf))
}

/// Records that subvolume `id` has `uuid` (C: `btrfs_uuid_tree_add`).
pub fn uuid_tree_add<S: TreeSource>(t: &mut Trans<'_, S>, uuid: &[u8; 16], ty: u8, id: u64) -> Result {
    ensure_uuid_tree(t)?;
    let key = uuid_key(uuid, ty);
    let idb = id.to_le_bytes();
    let existing = {
        let r = t.fs.root(objectid::UUID_TREE).ok_or(EUCLEAN)?;
        find_entry(t, &r, &key, |d| Ok(d.chunks_exact(8).any(|c| c == idb)))?
    };
    match existing {
        Some(true) => Ok(()),
        None => t.with_root(objectid::UUID_TREE, |t, r| insert_item(t, r, &key, &idb)),
        Some(false) => t.with_root(objectid::UUID_TREE, |t, r| {
            let mut p = WPath::new();
            if !search_slot(t, r, &key, &mut p, 8, true)? {
                return Err(EUCLEAN);
            }
            extend_item(t, &p, 8)?;
            let d = item_data_mut(t, &p)?;
            let n = d.len();
            d[n - 8..].copy_from_slice(&idb);
            Ok(())
        }),
    }
}

/// Removes `id` from the entry of `uuid` (C: `btrfs_uuid_tree_remove`);
/// `ENOENT` if it is not there.
pub fn uuid_tree_remove<S: TreeSource>(t: &mut Trans<'_, S>, uuid: &[u8; 16], ty: u8, id: u64) -> Result {
    if t.fs.root(objectid::UUID_TREE).is_none() {
        return Err(ENOENT);
    }
    let key = uuid_key(uuid, ty);
    let idb = id.to_le_bytes();
    t.with_root(objectid::UUID_TREE, |t, r| {
        let mut p = WPath::new();
        if !search_slot(t, r, &key, &mut p, -1, true)? {
            return Err(ENOENT);
        }
        let d = item_data(t, &p)?;
        let n = d.len() / 8;
        let Some(i) = d.chunks_exact(8).position(|c| c == idb) else { return Err(ENOENT) };
        if n <= 1 {
            return del_items(t, r, &mut p, 1);
        }
        let d = item_data_mut(t, &p)?;
        // The last id takes the removed one's place.
        let mut last = [0u8; 8];
        last.copy_from_slice(&d[(n - 1) * 8..n * 8]);
        d[i * 8..i * 8 + 8].copy_from_slice(&last);
        truncate_item(t, &p, ((n - 1) * 8) as u32, true)
    })
}

/// Where subvolume `id` is linked: (parent tree, directory, index, name),
/// from its ROOT_BACKREF; `None` for the top level or an unlinked one.
pub fn root_backref<S: TreeSource>(t: &Trans<'_, S>, id: u64) -> Result<Option<(u64, u64, u64, Vec<u8>)>> {
    let r = tree_root(t)?;
    let ov = crate::extent_io::Overlay { dirty: &t.fs.dirty, src: t.src };
    let mut p = crate::ctree::Path::new();
    p.search(&ov, r.bytenr, r.level, r.generation, &Key::new(id, key_type::ROOT_BACKREF, 0))
        .map_err(crate::dir_item::read_err)?;
    let Some(item) = p.item()? else { return Ok(None) };
    if item.key.objectid != id || item.key.ty != key_type::ROOT_BACKREF {
        return Ok(None);
    }
    let rr = RootRef::parse(item.data).map_err(|_| EUCLEAN)?;
    let mut name = Vec::new();
    name.extend_from_slice(rr.name)?;
    Ok(Some((item.key.offset, rr.dirid, rr.sequence, name)))
}

/// Whether subvolume `id` has subvolumes linked in it (a ROOT_REF from
/// it): C's `may_destroy_subvol` refuses to delete it (`ENOTEMPTY`).
pub fn has_child_subvols<S: TreeSource>(t: &Trans<'_, S>, id: u64) -> Result<bool> {
    let r = tree_root(t)?;
    let ov = crate::extent_io::Overlay { dirty: &t.fs.dirty, src: t.src };
    let mut p = crate::ctree::Path::new();
    p.search(&ov, r.bytenr, r.level, r.generation, &Key::new(id, key_type::ROOT_REF, 0))
        .map_err(crate::dir_item::read_err)?;
    Ok(p.key()?.is_some_and(|k| k.objectid == id && k.ty == key_type::ROOT_REF))
}

/// Links subvolume `id` as `name` in directory `dir` of subvolume `parent`
/// (the namespace part of C's `create_subvol` and
/// `create_pending_snapshot`). The caller has made the tree and
/// registered it with the transaction (`FsState::add_new_root`, done by
/// [`new_subvol_tree`]); `item` is its ROOT_ITEM, inserted at
/// `(id, ROOT_ITEM, 0)` with the tree's current root. Adds the ROOT_REF,
/// ROOT_BACKREF, the directory entries (location `(id, ROOT_ITEM, 0)`,
/// type DIR) and the uuid tree entry; the directory's size grows and its
/// times become `now`. Returns the directory index.
pub fn link_subvol<S: TreeSource>(
    t: &mut Trans<'_, S>,
    id: u64,
    item: &RootFields,
    (parent, dir): (u64, u64),
    name: &[u8],
    now: Timespec,
) -> Result<u64> {
    inode_ops::check_name(name)?;
    let node = t.fs.root(id).ok_or(ENOENT)?;
    if inode_ops::lookup_location(t, parent, dir, name)?.is_some() {
        return Err(EEXIST);
    }
    if read_root_item(t, id)?.is_some() {
        return Err(EEXIST);
    }
    let mut f = *item;
    f.bytenr = node.bytenr;
    f.level = node.level;
    insert_root_item(t, id, &f)?;
    link_names(t, id, &f.uuid, subvol_location(id), (parent, dir), name, now)
}

/// The namespace half of [`link_subvol`] for a tree whose ROOT_ITEM is in
/// already (a snapshot: `snapshot::create_snapshot` inserts it): the
/// directory entries, ROOT_REF, ROOT_BACKREF and the uuid tree entry for
/// `uuid`; the entries point at `location` (C: `(id, ROOT_ITEM, 0)` for a
/// new subvolume, `(id, ROOT_ITEM, -1)` for a snapshot). Returns the
/// directory index.
pub fn link_names<S: TreeSource>(
    t: &mut Trans<'_, S>,
    id: u64,
    uuid: &[u8; 16],
    location: Key,
    (parent, dir): (u64, u64),
    name: &[u8],
    now: Timespec,
) -> Result<u64> {
    let index = add_subvol_link(t, id, location, (parent, dir), name, now)?;
    if *uuid != [0u8; 16] {
        uuid_tree_add(t, uuid, key_type::UUID_KEY_SUBVOL, id)?;
    }
    Ok(index)
}

/// Links subvolume `id` as `name` in directory `dir` of tree `parent`:
/// directory entries pointing at `location`, and the ROOT_REF and
/// ROOT_BACKREF that make this entry the subvolume's own link (C:
/// `btrfs_add_link` for a subvolume root, `btrfs_add_root_ref`). The
/// directory grows and its times become `now`. Returns the index.
pub fn add_subvol_link<S: TreeSource>(
    t: &mut Trans<'_, S>,
    id: u64,
    location: Key,
    (parent, dir): (u64, u64),
    name: &[u8],
    now: Timespec,
) -> Result<u64> {
    inode_ops::check_name(name)?;
    if inode_ops::lookup_location(t, parent, dir, name)?.is_some() {
        return Err(EEXIST);
    }
    let index = inode_ops::add_dir_entries(t, parent, dir, name, location, file_type::DIR, now)?;
    let rr = root_ref_bytes(dir, index, name)?;
    t.with_root(objectid::ROOT_TREE, |t, r| {
        insert_item(t, r, &Key::new(parent, key_type::ROOT_REF, id), &rr)?;
        insert_item(t, r, &Key::new(id, key_type::ROOT_BACKREF, parent), &rr)
    })?;
    Ok(index)
}

/// The ROOT_REF `(parent, ROOT_REF, id)`: where tree `parent` links
/// subvolume `id` (directory, index, name), if it does.
pub fn root_ref<S: TreeSource>(t: &Trans<'_, S>, parent: u64, id: u64) -> Result<Option<(u64, u64, Vec<u8>)>> {
    let r = tree_root(t)?;
    let found = find_entry(t, &r, &Key::new(parent, key_type::ROOT_REF, id), |d| {
        let rr = RootRef::parse(d).map_err(|_| EUCLEAN)?;
        let mut name = Vec::new();
        name.extend_from_slice(rr.name)?;
        Ok((rr.dirid, rr.sequence, name))
    })?;
    Ok(found)
}

/// Whether the entry `name` in `dir` of tree `parent` is subvolume `id`'s
/// own link (its ROOT_REF names it), rather than a placeholder: the copy
/// a snapshot got of the entry of a subvolume nested in its source (C's
/// lookup shows those as an empty directory, inode
/// `BTRFS_EMPTY_SUBVOL_DIR_OBJECTID`).
pub fn is_own_link<S: TreeSource>(t: &Trans<'_, S>, id: u64, (parent, dir): (u64, u64), name: &[u8]) -> Result<bool> {
    Ok(root_ref(t, parent, id)?.is_some_and(|(d, _, n)| d == dir && &n[..] == name))
}

/// Removes the entry `name` in `dir` of tree `parent`, which points at
/// subvolume `id` (C: `btrfs_unlink_subvol`): its directory entries, and
/// if it is the subvolume's own link, the ROOT_REF and ROOT_BACKREF
/// (whose index names the DIR_INDEX); a placeholder's DIR_INDEX is found
/// by its name. The subvolume itself stays as it is. The directory
/// shrinks and its times become `now`. Returns the entry's location, for
/// a move to keep. `EINVAL` if `name` is not an entry of subvolume `id`.
pub fn del_subvol_link<S: TreeSource>(
    t: &mut Trans<'_, S>,
    id: u64,
    (parent, dir): (u64, u64),
    name: &[u8],
    now: Timespec,
) -> Result<Key> {
    let loc = match inode_ops::lookup_location(t, parent, dir, name)? {
        Some((loc, _)) if loc.ty == key_type::ROOT_ITEM && loc.objectid == id => loc,
        Some(_) => return Err(EINVAL),
        None => return Err(ENOENT),
    };
    let index = match root_ref(t, parent, id)? {
        Some((d, index, n)) if d == dir && &n[..] == name => {
            t.with_root(objectid::ROOT_TREE, |t, r| {
                for k in [Key::new(parent, key_type::ROOT_REF, id), Key::new(id, key_type::ROOT_BACKREF, parent)] {
                    let mut p = WPath::new();
                    if !search_slot(t, r, &k, &mut p, -1, true)? {
                        return Err(EUCLEAN);
                    }
                    del_items(t, r, &mut p, 1)?;
                }
                Ok(())
            })?;
            index
        }
        _ => inode_ops::find_dir_index(t, parent, dir, name)?.ok_or(EUCLEAN)?,
    };
    inode_ops::del_dir_entries(t, parent, dir, name, index, now)?;
    Ok(loc)
}

/// Unlinks subvolume `id`, named `name` in directory `dir` of subvolume
/// `parent` (C: `btrfs_unlink_subvol` and the tree part of
/// `btrfs_delete_subvolume`): removes the directory entries, ROOT_REF,
/// ROOT_BACKREF and uuid tree entries, makes the root item dead (refs 0,
/// `ROOT_SUBVOL_DEAD`, drop progress reset) and adds the orphan item
/// `(ORPHAN, ORPHAN_ITEM, id)` to the tree of tree roots, which tells the
/// cleaner (and a later mount) to drop the tree. The caller checks
/// permissions, the default subvolume and nested subvolumes first.
/// `EINVAL` if `name` is not subvolume `id`.
pub fn unlink_subvol<S: TreeSource>(
    t: &mut Trans<'_, S>,
    id: u64,
    (parent, dir): (u64, u64),
    name: &[u8],
    now: Timespec,
) -> Result {
    match inode_ops::lookup_location(t, parent, dir, name)? {
        Some((loc, _)) if loc.ty == key_type::ROOT_ITEM && loc.objectid == id => {}
        Some(_) => return Err(EINVAL),
        None => return Err(ENOENT),
    }
    if !is_own_link(t, id, (parent, dir), name)? {
        return Err(EUCLEAN);
    }
    del_subvol_link(t, id, (parent, dir), name, now)?;
    let f = update_root_item(t, id, |f| {
        f.refs = 0;
        f.flags |= ROOT_SUBVOL_DEAD;
        f.drop_progress = Key::new(0, 0, 0);
        f.drop_level = 0;
    })?;
    let orphan = Key::new(objectid::ORPHAN, key_type::ORPHAN_ITEM, id);
    t.with_root(objectid::ROOT_TREE, |t, r| {
        let mut p = WPath::new();
        if search_slot(t, r, &orphan, &mut p, 0, false)? {
            return Ok(());
        }
        insert_item(t, r, &orphan, &[])
    })?;
    for (uuid, ty) in [(f.uuid, key_type::UUID_KEY_SUBVOL), (f.received_uuid, key_type::UUID_KEY_RECEIVED_SUBVOL)] {
        if uuid == [0u8; 16] {
            continue;
        }
        match uuid_tree_remove(t, &uuid, ty, id) {
            Err(e) if e == ENOENT => {}
            r => r?,
        }
    }
    Ok(())
}

/// The default subvolume: the location of the "default" entry of the root
/// tree directory (6), else the top level (5).
pub fn default_subvol<S: TreeSource>(t: &Trans<'_, S>) -> Result<u64> {
    let r = tree_root(t)?;
    let found = find_entry(t, &r, &dir_item_key(objectid::ROOT_TREE_DIR, b"default"), |d| {
        Ok(find_dir_entry(d, b"default")?.map(|(_, e)| e.head.location().objectid))
    })?;
    Ok(found.flatten().unwrap_or(objectid::FS_TREE))
}

/// Makes subvolume `id` the default (C: `btrfs_ioctl_default_subvol`):
/// points the "default" entry of the root tree directory at
/// `(id, ROOT_ITEM, 0)` and sets the `DEFAULT_SUBVOL` incompat flag.
/// `ENOENT` if the image has no "default" entry (mkfs always makes one).
pub fn set_default_subvol<S: TreeSource>(t: &mut Trans<'_, S>, id: u64) -> Result {
    let key = dir_item_key(objectid::ROOT_TREE_DIR, b"default");
    let loc = subvol_location(id);
    t.with_root(objectid::ROOT_TREE, |t, r| {
        let mut p = WPath::new();
        if !search_slot(t, r, &key, &mut p, 0, true)? {
            return Err(ENOENT);
        }
        let d = item_data_mut(t, &p)?;
        let Some((range, _)) = find_dir_entry(d, b"default")? else { return Err(ENOENT) };
        let at = range.start;
        let loc_bytes = d.get_mut(at..at + 17).ok_or(EUCLEAN)?;
        loc_bytes[..8].copy_from_slice(&loc.objectid.to_le_bytes());
        loc_bytes[8] = loc.ty;
        loc_bytes[9..17].copy_from_slice(&loc.offset.to_le_bytes());
        Ok(())
    })?;
    let sb = t.fs.sb.get_mut(SB_INCOMPAT_OFF..SB_INCOMPAT_OFF + 8).ok_or(EUCLEAN)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(sb);
    let flags = u64::from_le_bytes(w) | INCOMPAT_DEFAULT_SUBVOL;
    sb.copy_from_slice(&flags.to_le_bytes());
    Ok(())
}

/// Sets or clears `ROOT_SUBVOL_RDONLY` of subvolume `id`; returns the
/// flags before.
pub fn set_readonly<S: TreeSource>(t: &mut Trans<'_, S>, id: u64, ro: bool) -> Result<u64> {
    let mut old = 0;
    update_root_item(t, id, |f| {
        old = f.flags;
        if ro {
            f.flags |= ROOT_SUBVOL_RDONLY;
        } else {
            f.flags &= !ROOT_SUBVOL_RDONLY;
        }
    })?;
    Ok(old)
}
