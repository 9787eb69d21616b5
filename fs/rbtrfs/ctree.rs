// SPDX-License-Identifier: GPL-2.0

//! Keys and tree blocks: the B-tree layer of the on-disk format.
//!
//! Every btrfs tree is a B-tree of `nodesize` blocks. A block starts with a
//! [`Header`]; a leaf (level 0) follows it with an array of item heads
//! (key, data offset, data size) whose data is packed from the end of the
//! block towards the front, and a node (level 1..8) with an array of key
//! pointers (key, child block address, child generation).
//!
//! This file decodes blocks with bounds checks on every access
//! ([`TreeBlock`]), validates a block read from disk the way
//! `btrfs_validate_extent_buffer` and `tree-checker.c` do
//! ([`check_tree_block`]), and searches a tree without allocating
//! ([`Path`] over a [`TreeSource`]). Nothing here trusts the disk: a corrupt
//! field yields a [`TreeError`], never a panic.
//!
//! `core` only: the same source builds into the module and the host tests.

#![forbid(unsafe_code)]

use crate::checksum::CsumType;
use crate::format::{self, disk_struct, LeInt};
use crate::items;
use core::cmp::Ordering;
use core::fmt;

/// Item and key types (`BTRFS_*_KEY`), the middle field of a [`Key`].
pub mod key_type {
    /// Inode metadata (`struct btrfs_inode_item`).
    pub const INODE_ITEM: u8 = 1;
    /// Name of an inode in its parent directory; offset is the parent.
    pub const INODE_REF: u8 = 12;
    /// Extended inode ref; offset is a hash of parent and name.
    pub const INODE_EXTREF: u8 = 13;
    /// Extended attribute; offset is the name hash.
    pub const XATTR_ITEM: u8 = 24;
    /// fs-verity descriptor.
    pub const VERITY_DESC_ITEM: u8 = 36;
    /// fs-verity Merkle tree.
    pub const VERITY_MERKLE_ITEM: u8 = 37;
    /// Orphan inode to clean up.
    pub const ORPHAN_ITEM: u8 = 48;
    /// Tree-log directory range.
    pub const DIR_LOG_ITEM: u8 = 60;
    /// Tree-log directory index range.
    pub const DIR_LOG_INDEX: u8 = 72;
    /// Directory entry by name hash.
    pub const DIR_ITEM: u8 = 84;
    /// Directory entry by index (readdir order).
    pub const DIR_INDEX: u8 = 96;
    /// File extent; offset is the file offset.
    pub const EXTENT_DATA: u8 = 108;
    /// Data checksums; offset is the logical start.
    pub const EXTENT_CSUM: u8 = 128;
    /// Root of a tree, in the root tree.
    pub const ROOT_ITEM: u8 = 132;
    /// Subvolume to its parent.
    pub const ROOT_BACKREF: u8 = 144;
    /// Parent to a subvolume.
    pub const ROOT_REF: u8 = 156;
    /// Extent allocation record; offset is the length.
    pub const EXTENT_ITEM: u8 = 168;
    /// Skinny tree block extent record; offset is the level.
    pub const METADATA_ITEM: u8 = 169;
    /// Owner of an extent (simple quotas).
    pub const EXTENT_OWNER_REF: u8 = 172;
    /// Keyed backref from a tree block to its root.
    pub const TREE_BLOCK_REF: u8 = 176;
    /// Keyed backref from data to (root, inode, offset).
    pub const EXTENT_DATA_REF: u8 = 178;
    /// Keyed backref from a tree block to a parent block.
    pub const SHARED_BLOCK_REF: u8 = 182;
    /// Keyed backref from data to a parent block.
    pub const SHARED_DATA_REF: u8 = 184;
    /// Block group usage; objectid is the start, offset the length.
    pub const BLOCK_GROUP_ITEM: u8 = 192;
    /// Free space tree: per block group header.
    pub const FREE_SPACE_INFO: u8 = 198;
    /// Free space tree: one free extent.
    pub const FREE_SPACE_EXTENT: u8 = 199;
    /// Free space tree: a bitmap of free sectors.
    pub const FREE_SPACE_BITMAP: u8 = 200;
    /// Device tree: physical range allocated to a chunk.
    pub const DEV_EXTENT: u8 = 204;
    /// Chunk tree: one device.
    pub const DEV_ITEM: u8 = 216;
    /// Chunk tree: logical to physical mapping.
    pub const CHUNK_ITEM: u8 = 228;
    /// Raid stripe tree entry.
    pub const RAID_STRIPE: u8 = 230;
    /// Quota tree: global status.
    pub const QGROUP_STATUS: u8 = 240;
    /// Quota tree: usage of one qgroup.
    pub const QGROUP_INFO: u8 = 242;
    /// Quota tree: limits of one qgroup.
    pub const QGROUP_LIMIT: u8 = 244;
    /// Quota tree: membership of one qgroup in another.
    pub const QGROUP_RELATION: u8 = 246;
    /// Balance status (same value as [`TEMPORARY_ITEM`]).
    pub const BALANCE_ITEM: u8 = 248;
    /// Temporary item.
    pub const TEMPORARY_ITEM: u8 = 248;
    /// Device statistics (same value as [`PERSISTENT_ITEM`]).
    pub const DEV_STATS: u8 = 249;
    /// Persistent item.
    pub const PERSISTENT_ITEM: u8 = 249;
    /// Device replace status.
    pub const DEV_REPLACE: u8 = 250;
    /// UUID tree: subvolume uuid.
    pub const UUID_KEY_SUBVOL: u8 = 251;
    /// UUID tree: received subvolume uuid.
    pub const UUID_KEY_RECEIVED_SUBVOL: u8 = 252;
    /// Debugging string.
    pub const STRING_ITEM: u8 = 253;

    /// The name btrfs-progs prints for a key type, `None` if unknown.
    pub fn name(ty: u8) -> Option<&'static str> {
        Some(match ty {
            0 => "UNTYPED",
            INODE_ITEM => "INODE_ITEM",
            INODE_REF => "INODE_REF",
            INODE_EXTREF => "INODE_EXTREF",
            XATTR_ITEM => "XATTR_ITEM",
            VERITY_DESC_ITEM => "VERITY_DESC_ITEM",
            VERITY_MERKLE_ITEM => "VERITY_MERKLE_ITEM",
            ORPHAN_ITEM => "ORPHAN_ITEM",
            DIR_LOG_ITEM => "DIR_LOG_ITEM",
            DIR_LOG_INDEX => "DIR_LOG_INDEX",
            DIR_ITEM => "DIR_ITEM",
            DIR_INDEX => "DIR_INDEX",
            EXTENT_DATA => "EXTENT_DATA",
            EXTENT_CSUM => "EXTENT_CSUM",
            ROOT_ITEM => "ROOT_ITEM",
            ROOT_BACKREF => "ROOT_BACKREF",
            ROOT_REF => "ROOT_REF",
            EXTENT_ITEM => "EXTENT_ITEM",
            METADATA_ITEM => "METADATA_ITEM",
            EXTENT_OWNER_REF => "EXTENT_OWNER_REF",
            TREE_BLOCK_REF => "TREE_BLOCK_REF",
            EXTENT_DATA_REF => "EXTENT_DATA_REF",
            SHARED_BLOCK_REF => "SHARED_BLOCK_REF",
            SHARED_DATA_REF => "SHARED_DATA_REF",
            BLOCK_GROUP_ITEM => "BLOCK_GROUP_ITEM",
            FREE_SPACE_INFO => "FREE_SPACE_INFO",
            FREE_SPACE_EXTENT => "FREE_SPACE_EXTENT",
            FREE_SPACE_BITMAP => "FREE_SPACE_BITMAP",
            DEV_EXTENT => "DEV_EXTENT",
            DEV_ITEM => "DEV_ITEM",
            CHUNK_ITEM => "CHUNK_ITEM",
            RAID_STRIPE => "RAID_STRIPE",
            QGROUP_STATUS => "QGROUP_STATUS",
            QGROUP_INFO => "QGROUP_INFO",
            QGROUP_LIMIT => "QGROUP_LIMIT",
            QGROUP_RELATION => "QGROUP_RELATION",
            TEMPORARY_ITEM => "TEMPORARY_ITEM",
            PERSISTENT_ITEM => "PERSISTENT_ITEM",
            DEV_REPLACE => "DEV_REPLACE",
            UUID_KEY_SUBVOL => "UUID_KEY_SUBVOL",
            UUID_KEY_RECEIVED_SUBVOL => "UUID_KEY_RECEIVED_SUBVOL",
            STRING_ITEM => "STRING_ITEM",
            _ => return None,
        })
    }
}

/// Well-known objectids (`BTRFS_*_OBJECTID`), the first field of a [`Key`].
pub mod objectid {
    /// The tree of tree roots.
    pub const ROOT_TREE: u64 = 1;
    /// The extent allocation tree.
    pub const EXTENT_TREE: u64 = 2;
    /// The chunk tree (logical to physical).
    pub const CHUNK_TREE: u64 = 3;
    /// The device tree (physical to logical).
    pub const DEV_TREE: u64 = 4;
    /// The top-level subvolume.
    pub const FS_TREE: u64 = 5;
    /// The directory in the root tree holding the `default` subvolume link.
    pub const ROOT_TREE_DIR: u64 = 6;
    /// The data checksum tree.
    pub const CSUM_TREE: u64 = 7;
    /// The quota tree.
    pub const QUOTA_TREE: u64 = 8;
    /// The uuid tree.
    pub const UUID_TREE: u64 = 9;
    /// The free space tree.
    pub const FREE_SPACE_TREE: u64 = 10;
    /// The block group tree.
    pub const BLOCK_GROUP_TREE: u64 = 11;
    /// The raid stripe tree.
    pub const RAID_STRIPE_TREE: u64 = 12;
    /// Device statistics items in the device tree.
    pub const DEV_STATS: u64 = 0;
    /// Balance status.
    pub const BALANCE: u64 = -4i64 as u64;
    /// Orphan items.
    pub const ORPHAN: u64 = -5i64 as u64;
    /// Log trees.
    pub const TREE_LOG: u64 = -6i64 as u64;
    /// Log tree fixups.
    pub const TREE_LOG_FIXUP: u64 = -7i64 as u64;
    /// Relocation trees.
    pub const TREE_RELOC: u64 = -8i64 as u64;
    /// The data relocation tree.
    pub const DATA_RELOC_TREE: u64 = -9i64 as u64;
    /// Objectid of every EXTENT_CSUM item.
    pub const EXTENT_CSUM: u64 = -10i64 as u64;
    /// v1 free space cache inodes.
    pub const FREE_SPACE: u64 = -11i64 as u64;
    /// Free inode number cache (obsolete).
    pub const FREE_INO: u64 = -12i64 as u64;
    /// Dummy objectid for multiple-objectid items.
    pub const MULTIPLE: u64 = -255i64 as u64;
    /// First objectid for inodes and subvolumes.
    pub const FIRST_FREE: u64 = 256;
    /// Last objectid for inodes and subvolumes.
    pub const LAST_FREE: u64 = -256i64 as u64;
    /// Objectid of every CHUNK_ITEM.
    pub const FIRST_CHUNK_TREE: u64 = 256;
    /// Objectid of every DEV_ITEM.
    pub const DEV_ITEMS: u64 = 1;
    /// The btree inode.
    pub const BTREE_INODE: u64 = 1;
    /// Inode number of an empty subvolume placeholder directory.
    pub const EMPTY_SUBVOL_DIR: u64 = 2;

    /// Whether `id` names a subvolume tree (`is_fstree`): 5 or a
    /// level-0 qgroup id in `FIRST_FREE..=LAST_FREE`.
    pub fn is_fstree(id: u64) -> bool {
        id == FS_TREE || ((id as i64) >= FIRST_FREE as i64 && (id >> 48) == 0)
    }
}

/// Tree block header flags (`BTRFS_HEADER_FLAG_*`).
pub mod header_flag {
    /// The block has been written.
    pub const WRITTEN: u64 = 1 << 0;
    /// The block belongs to a relocation tree.
    pub const RELOC: u64 = 1 << 1;
    /// Backref revision: bits 56..64 of the flags.
    pub const BACKREF_REV_SHIFT: u32 = 56;
}

/// Size of `struct btrfs_disk_key`.
pub const KEY_SIZE: usize = 17;
/// Size of `struct btrfs_header`.
pub const HEADER_SIZE: usize = 101;
/// Size of `struct btrfs_item` (a leaf's item head).
pub const ITEM_SIZE: usize = 25;
/// Size of `struct btrfs_key_ptr` (a node's child pointer).
pub const KEY_PTR_SIZE: usize = 33;

/// A key: the sort order of every tree is (objectid, type, offset).
///
/// The derived [`Ord`] compares the fields in declaration order, which is
/// exactly btrfs's `btrfs_comp_cpu_keys`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Object: inode number, tree id, logical address...
    pub objectid: u64,
    /// Item type, one of [`key_type`].
    pub ty: u8,
    /// Type-specific: file offset, name hash, length...
    pub offset: u64,
}

impl Key {
    /// The smallest key.
    pub const MIN: Key = Key { objectid: 0, ty: 0, offset: 0 };
    /// The largest key.
    pub const MAX: Key = Key { objectid: u64::MAX, ty: u8::MAX, offset: u64::MAX };

    /// A key from its three fields.
    pub const fn new(objectid: u64, ty: u8, offset: u64) -> Self {
        Key { objectid, ty, offset }
    }

    /// Decodes a 17-byte `struct btrfs_disk_key`.
    pub fn from_disk(b: &[u8; KEY_SIZE]) -> Self {
        Key { objectid: u64::read_le(&b[0..]), ty: b[8], offset: u64::read_le(&b[9..]) }
    }

    /// Decodes the disk key at the start of `b`, `None` if `b` is shorter
    /// than [`KEY_SIZE`].
    pub fn read(b: &[u8]) -> Option<Self> {
        b.get(..KEY_SIZE).and_then(|k| k.try_into().ok()).map(Self::from_disk)
    }

    /// Encodes as a 17-byte disk key.
    pub fn to_disk(&self) -> [u8; KEY_SIZE] {
        let mut b = [0u8; KEY_SIZE];
        b[0..8].copy_from_slice(&self.objectid.to_le_bytes());
        b[8] = self.ty;
        b[9..17].copy_from_slice(&self.offset.to_le_bytes());
        b
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {} {})", self.objectid, self.ty, self.offset)
    }
}

disk_struct! {
    /// `struct btrfs_header`: the first 101 bytes of every tree block.
    Header, size = HEADER_SIZE;
    /// Checksum of bytes `CSUM_SIZE..nodesize`.
    csum: [32] @ 0,
    /// Filesystem id (the metadata uuid with the METADATA_UUID feature).
    fsid: [16] @ 32,
    /// Logical address this block must live at.
    bytenr: u64 @ 48,
    /// [`header_flag`] bits and the backref revision in the top byte.
    flags: u64 @ 56,
    /// Uuid of the chunk tree.
    chunk_tree_uuid: [16] @ 64,
    /// Transaction that wrote the block.
    generation: u64 @ 80,
    /// Tree that owns the block.
    owner: u64 @ 88,
    /// Items (leaf) or key pointers (node) in the block.
    nritems: u32 @ 96,
    /// 0 for a leaf, 1..8 for nodes.
    level: u8 @ 100,
}

/// Where in which block a corruption was found, printed like the C
/// tree-checker's `corrupt leaf: root=R block=B slot=S`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLoc {
    /// Level of the block (0 for a leaf).
    pub level: u8,
    /// Header owner.
    pub owner: u64,
    /// Header bytenr.
    pub bytenr: u64,
    /// Slot of the offending item or pointer.
    pub slot: u32,
}

impl fmt::Display for BlockLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt {}: root={} block={} slot={}",
            if self.level == 0 { "leaf" } else { "node" },
            self.owner,
            self.bytenr,
            self.slot
        )
    }
}

/// A checksum as stored in a header, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsumValue {
    /// Meaningful bytes in `bytes`.
    pub len: u8,
    /// The checksum, zero padded.
    pub bytes: [u8; 32],
}

impl fmt::Display for CsumValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x")?;
        for b in self.bytes.iter().take(self.len as usize) {
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}

/// Why a tree block is unusable. The kernel maps every variant to `EUCLEAN`
/// (or `EIO` for the read-verification ones, as C btrfs does) and prints
/// [`fmt::Display`], which follows the C messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// The buffer is too small to be a tree block.
    BlockTooSmall {
        /// Expected logical address.
        bytenr: u64,
        /// Bytes available.
        len: usize,
    },
    /// The header's bytenr is not where the block was read from.
    BadBytenr {
        /// Where the block was read.
        want: u64,
        /// What its header says.
        have: u64,
    },
    /// The header's fsid is not this filesystem's.
    BadFsid {
        /// Logical address of the block.
        bytenr: u64,
    },
    /// The header's level is `>= MAX_LEVEL`.
    BadLevel {
        /// Logical address of the block.
        bytenr: u64,
        /// The level found.
        level: u8,
    },
    /// The filesystem's checksum algorithm is not computed by rbtrfs.
    UnsupportedCsum(CsumType),
    /// The checksum over the block does not match its header.
    CsumMismatch {
        /// Logical address of the block.
        bytenr: u64,
        /// Header level.
        level: u8,
        /// The checksum stored in the header.
        wanted: CsumValue,
        /// The checksum computed over the block.
        found: CsumValue,
    },
    /// The block is not at the level its parent says.
    LevelMismatch {
        /// Logical address of the block.
        bytenr: u64,
        /// Level expected from the parent.
        want: u8,
        /// Header level.
        have: u8,
    },
    /// The block is not from the generation its parent says.
    TransidMismatch {
        /// Logical address of the block.
        bytenr: u64,
        /// Generation expected from the parent.
        want: u64,
        /// Header generation.
        have: u64,
    },
    /// The block's first key is not the key its parent points with.
    FirstKeyMismatch {
        /// Logical address of the block.
        bytenr: u64,
        /// Key in the parent pointer.
        want: Key,
        /// First key of the block.
        have: Key,
    },
    /// A block referenced as a tree root or child has no items.
    EmptyChild {
        /// Logical address of the block.
        bytenr: u64,
    },
    /// The block belongs to another tree.
    OwnerMismatch {
        /// Where.
        at: BlockLoc,
        /// The tree being read.
        root: u64,
        /// The header owner.
        have: u64,
    },
    /// The WRITTEN header flag is clear.
    WrittenNotSet(BlockLoc),
    /// A tree that may never be empty has an empty root leaf.
    EmptyRoot(BlockLoc),
    /// An empty leaf claims owner 0.
    NoOwner(BlockLoc),
    /// A node level outside `1..MAX_LEVEL`.
    NodeLevel(BlockLoc),
    /// More items than the block can hold.
    LeafNritems {
        /// Where.
        at: BlockLoc,
        /// Header nritems.
        nritems: u32,
        /// Most item heads that fit.
        max: u32,
    },
    /// A node with no pointers or more than fit.
    NodeNritems {
        /// Where.
        at: BlockLoc,
        /// Header nritems.
        nritems: u32,
        /// Most key pointers that fit.
        max: u32,
    },
    /// Keys are not strictly ascending.
    BadKeyOrder {
        /// Where (the slot of `cur`).
        at: BlockLoc,
        /// The key before.
        prev: Key,
        /// The key at the slot.
        cur: Key,
    },
    /// Item data does not end where the previous item's data starts.
    ItemEnd {
        /// Where.
        at: BlockLoc,
        /// offset + size of this item.
        have: u64,
        /// Where it must end.
        expect: u32,
    },
    /// Item data reaches outside the block.
    ItemOutside {
        /// Where.
        at: BlockLoc,
        /// offset + size of this item.
        have: u64,
        /// Size of the leaf data area.
        max: u32,
    },
    /// Item data overlaps the item head array.
    ItemOverlap {
        /// Where.
        at: BlockLoc,
        /// End of this slot's item head (from the block start).
        item_end: u64,
        /// Start of its data (from the block start).
        data_start: u64,
    },
    /// A node pointer is zero.
    NullBlockptr(BlockLoc),
    /// A node pointer is not sector aligned.
    UnalignedBlockptr {
        /// Where.
        at: BlockLoc,
        /// The pointer.
        ptr: u64,
        /// Required alignment.
        align: u32,
    },
    /// A slot beyond nritems, or whose head lies outside the block.
    SlotOutOfRange {
        /// Where.
        at: BlockLoc,
        /// Header nritems.
        nritems: u32,
    },
    /// An item whose size is impossible for its type.
    BadItemSize {
        /// Where.
        at: BlockLoc,
        /// The item's key.
        key: Key,
        /// Its size.
        have: u32,
        /// The size (or minimum size) its type needs.
        expect: u32,
    },
    /// An item whose contents do not decode.
    BadItem {
        /// Where.
        at: BlockLoc,
        /// The item's key.
        key: Key,
        /// What is wrong.
        what: items::ItemError,
    },
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BlockTooSmall { bytenr, len } => {
                write!(f, "tree block {} too small: {} bytes", bytenr, len)
            }
            Self::BadBytenr { want, have } => {
                write!(f, "bad tree block start, want {} have {}", want, have)
            }
            Self::BadFsid { bytenr } => write!(f, "bad fsid on logical {}", bytenr),
            Self::BadLevel { bytenr, level } => {
                write!(f, "bad tree block level {} on logical {}", level, bytenr)
            }
            Self::UnsupportedCsum(t) => {
                write!(f, "checksum algorithm {} is not supported by rbtrfs", t.name())
            }
            Self::CsumMismatch { bytenr, level, wanted, found } => write!(
                f,
                "checksum verify failed on logical {} wanted {} found {} level {}",
                bytenr, wanted, found, level
            ),
            Self::LevelMismatch { bytenr, want, have } => {
                write!(f, "level verify failed on logical {} wanted {} found {}", bytenr, want, have)
            }
            Self::TransidMismatch { bytenr, want, have } => {
                write!(f, "parent transid verify failed on logical {} wanted {} found {}", bytenr, want, have)
            }
            Self::FirstKeyMismatch { bytenr, want, have } => {
                write!(f, "tree first key mismatch detected, bytenr={} key expected={} has={}", bytenr, want, have)
            }
            Self::EmptyChild { bytenr } => {
                write!(f, "invalid tree nritems, bytenr={} nritems=0 expect >0", bytenr)
            }
            Self::OwnerMismatch { at, root, have } => write!(
                f,
                "corrupted {}, root={} block={} owner mismatch, have {} expect {}",
                if at.level == 0 { "leaf" } else { "node" },
                root,
                at.bytenr,
                have,
                root
            ),
            Self::WrittenNotSet(at) => {
                write!(f, "{}, invalid flag for {}, WRITTEN not set", at, if at.level == 0 { "leaf" } else { "node" })
            }
            Self::EmptyRoot(at) => {
                write!(f, "{}, invalid root, root {} must never be empty", at, at.owner)
            }
            Self::NoOwner(at) => write!(f, "{}, invalid owner, root 0 is not defined", at),
            Self::NodeLevel(at) => {
                write!(f, "{}, invalid level for node, have {} expect [1, {}]", at, at.level, format::MAX_LEVEL - 1)
            }
            Self::LeafNritems { at, nritems, max } => {
                write!(f, "{}, nritems too large, have {} expect range [0,{}]", at, nritems, max)
            }
            Self::NodeNritems { at, nritems, max } => write!(
                f,
                "corrupt node: root={} block={}, nritems too {}, have {} expect range [1,{}]",
                at.owner,
                at.bytenr,
                if nritems == 0 { "small" } else { "large" },
                nritems,
                max
            ),
            Self::BadKeyOrder { at, prev, cur } => {
                write!(f, "{}, bad key order, prev {} current {}", at, prev, cur)
            }
            Self::ItemEnd { at, have, expect } => {
                write!(f, "{}, unexpected item end, have {} expect {}", at, have, expect)
            }
            Self::ItemOutside { at, have, max } => {
                write!(f, "{}, slot end outside of leaf, have {} expect range [0, {}]", at, have, max)
            }
            Self::ItemOverlap { at, item_end, data_start } => {
                write!(f, "{}, slot overlaps with its data, item end {} data start {}", at, item_end, data_start)
            }
            Self::NullBlockptr(at) => write!(f, "{}, invalid NULL node pointer", at),
            Self::UnalignedBlockptr { at, ptr, align } => {
                write!(f, "{}, unaligned pointer, have {} should be aligned to {}", at, ptr, align)
            }
            Self::SlotOutOfRange { at, nritems } => {
                write!(f, "{}, slot out of range, nritems {}", at, nritems)
            }
            Self::BadItemSize { at, key, have, expect } => {
                write!(f, "{}, invalid item size for key {}, have {} expect {}", at, key, have, expect)
            }
            Self::BadItem { at, key, what } => write!(f, "{}, invalid item {}: {}", at, key, what),
        }
    }
}

/// The head of item `slot` in a leaf: its key and where its data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemHead {
    /// The item's key.
    pub key: Key,
    /// Data offset, relative to the end of the header.
    pub offset: u32,
    /// Data size.
    pub size: u32,
}

/// Key pointer `slot` of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPtr {
    /// The first key of the child.
    pub key: Key,
    /// Logical address of the child.
    pub blockptr: u64,
    /// Generation of the child.
    pub generation: u64,
}

/// One leaf item: its key and its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// The item's key.
    pub key: Key,
    /// The item's data, inside the leaf.
    pub data: &'a [u8],
}

/// A bounds-checked view of one tree block (a whole `nodesize` buffer).
#[derive(Clone, Copy)]
pub struct TreeBlock<'a> {
    buf: &'a [u8],
    header: Header<'a>,
}

impl<'a> TreeBlock<'a> {
    /// A view of `buf`, which must be at least a header long; its length
    /// is taken as the node size.
    pub fn new(buf: &'a [u8]) -> Result<Self, TreeError> {
        match Header::new(buf) {
            Some(header) => Ok(TreeBlock { buf, header }),
            None => Err(TreeError::BlockTooSmall { bytenr: 0, len: buf.len() }),
        }
    }

    /// The header.
    pub fn header(&self) -> Header<'a> {
        self.header
    }

    /// The whole block.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Header bytenr.
    pub fn bytenr(&self) -> u64 {
        self.header.bytenr()
    }

    /// Header level.
    pub fn level(&self) -> u8 {
        self.header.level()
    }

    /// Header nritems.
    pub fn nritems(&self) -> u32 {
        self.header.nritems()
    }

    /// Header generation.
    pub fn generation(&self) -> u64 {
        self.header.generation()
    }

    /// Header owner.
    pub fn owner(&self) -> u64 {
        self.header.owner()
    }

    /// Whether this is a leaf (level 0).
    pub fn is_leaf(&self) -> bool {
        self.level() == 0
    }

    /// Bytes after the header: where items and their data live.
    pub fn data_size(&self) -> usize {
        self.buf.len() - HEADER_SIZE
    }

    /// Where `slot` is, for errors.
    pub fn loc(&self, slot: usize) -> BlockLoc {
        BlockLoc {
            level: self.level(),
            owner: self.owner(),
            bytenr: self.bytenr(),
            slot: u32::try_from(slot).unwrap_or(u32::MAX),
        }
    }

    /// The `size` bytes of slot `slot`'s fixed-size entry (item head or key
    /// pointer), checked against nritems and the block end.
    fn entry(&self, slot: usize, size: usize) -> Result<&'a [u8], TreeError> {
        let out = || TreeError::SlotOutOfRange { at: self.loc(slot), nritems: self.nritems() };
        if slot >= self.nritems() as usize {
            return Err(out());
        }
        let start = slot.checked_mul(size).and_then(|o| o.checked_add(HEADER_SIZE)).ok_or_else(out)?;
        self.buf.get(start..start + size).ok_or_else(out)
    }

    /// The key of slot `slot`, for a leaf or a node.
    pub fn key(&self, slot: usize) -> Result<Key, TreeError> {
        let size = if self.is_leaf() { ITEM_SIZE } else { KEY_PTR_SIZE };
        let e = self.entry(slot, size)?;
        Key::read(e).ok_or(TreeError::SlotOutOfRange { at: self.loc(slot), nritems: self.nritems() })
    }

    /// The head of item `slot` of a leaf (not checked to be a leaf).
    pub fn item_head(&self, slot: usize) -> Result<ItemHead, TreeError> {
        let e = self.entry(slot, ITEM_SIZE)?;
        let key = Key::read(e).unwrap_or_default();
        Ok(ItemHead { key, offset: u32::read_le(&e[17..]), size: u32::read_le(&e[21..]) })
    }

    /// The data of item `slot` of a leaf, checked to lie inside the block.
    pub fn item_data(&self, slot: usize) -> Result<&'a [u8], TreeError> {
        Ok(self.item(slot)?.data)
    }

    /// Key and data of item `slot` of a leaf.
    pub fn item(&self, slot: usize) -> Result<Item<'a>, TreeError> {
        let h = self.item_head(slot)?;
        let end = u64::from(h.offset) + u64::from(h.size);
        let start = HEADER_SIZE + h.offset as usize;
        match self.buf.get(start..HEADER_SIZE + end as usize) {
            Some(data) if end <= self.data_size() as u64 => Ok(Item { key: h.key, data }),
            _ => Err(TreeError::ItemOutside { at: self.loc(slot), have: end, max: self.data_size() as u32 }),
        }
    }

    /// Key pointer `slot` of a node (not checked to be a node).
    pub fn key_ptr(&self, slot: usize) -> Result<KeyPtr, TreeError> {
        let e = self.entry(slot, KEY_PTR_SIZE)?;
        Ok(KeyPtr {
            key: Key::read(e).unwrap_or_default(),
            blockptr: u64::read_le(&e[17..]),
            generation: u64::read_le(&e[25..]),
        })
    }

    /// Binary search for `key` among the keys of this leaf or node, as
    /// `btrfs_bin_search`: `Ok(slot)` if found, `Err(slot)` with the slot
    /// of the first larger key (`nritems` if none) otherwise.
    pub fn bin_search(&self, key: &Key) -> Result<Result<usize, usize>, TreeError> {
        let mut low = 0usize;
        let mut high = self.nritems() as usize;
        while low < high {
            let mid = low + (high - low) / 2;
            match self.key(mid)?.cmp(key) {
                Ordering::Less => low = mid + 1,
                Ordering::Greater => high = mid,
                Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(low))
    }

    /// For a node: the slot of the child whose subtree may hold `key`
    /// (the last pointer whose key is `<= key`, or slot 0).
    pub fn child_slot(&self, key: &Key) -> Result<usize, TreeError> {
        Ok(match self.bin_search(key)? {
            Ok(s) => s,
            Err(s) => s.saturating_sub(1),
        })
    }
}

/// What a tree block read from disk must match (`struct
/// btrfs_tree_parent_check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockExpect {
    /// Logical address it was read from.
    pub bytenr: u64,
    /// Level from the parent pointer or root item.
    pub level: Option<u8>,
    /// Generation from the parent pointer or root item.
    pub generation: Option<u64>,
    /// Tree being read, for the owner check (`btrfs_check_eb_owner`).
    pub owner: Option<u64>,
    /// Key the parent points with.
    pub first_key: Option<Key>,
    /// Sector size: node pointers must be aligned to it.
    pub sectorsize: u32,
}

impl BlockExpect {
    /// Expects only `bytenr`, with `sectorsize` for the pointer checks.
    pub fn at(bytenr: u64, sectorsize: u32) -> Self {
        BlockExpect { bytenr, level: None, generation: None, owner: None, first_key: None, sectorsize }
    }
}

/// Verifies a tree block read from logical `expect.bytenr`, as C btrfs
/// does before using one: bytenr, fsid, level bound, checksum (over bytes
/// `CSUM_SIZE..`), the parent's expectations, then [`check_leaf`] or
/// [`check_node`]. `buf` is the whole block; its length is the node size.
/// `fsid` is the superblock's `metadata_uuid` if the METADATA_UUID feature
/// is set, else its `fsid`. An expected generation of 0 is not checked.
pub fn check_tree_block(
    buf: &[u8],
    expect: &BlockExpect,
    fsid: &[u8; 16],
    csum_type: CsumType,
) -> Result<(), TreeError> {
    let tb = TreeBlock::new(buf).map_err(|_| TreeError::BlockTooSmall { bytenr: expect.bytenr, len: buf.len() })?;
    let h = tb.header();
    if h.bytenr() != expect.bytenr {
        return Err(TreeError::BadBytenr { want: expect.bytenr, have: h.bytenr() });
    }
    if h.fsid() != fsid {
        return Err(TreeError::BadFsid { bytenr: expect.bytenr });
    }
    let level = h.level();
    if level >= format::MAX_LEVEL {
        return Err(TreeError::BadLevel { bytenr: expect.bytenr, level });
    }
    let mut found = [0u8; 32];
    if !csum_type.compute(&buf[format::CSUM_SIZE..], &mut found) {
        return Err(TreeError::UnsupportedCsum(csum_type));
    }
    let n = csum_type.size();
    if found[..n] != h.csum()[..n] {
        let len = n as u8;
        return Err(TreeError::CsumMismatch {
            bytenr: expect.bytenr,
            level,
            wanted: CsumValue { len, bytes: *h.csum() },
            found: CsumValue { len, bytes: found },
        });
    }
    if let Some(want) = expect.level {
        if want != level {
            return Err(TreeError::LevelMismatch { bytenr: expect.bytenr, want, have: level });
        }
    }
    if let Some(want) = expect.generation {
        if want != 0 && want != h.generation() {
            return Err(TreeError::TransidMismatch { bytenr: expect.bytenr, want, have: h.generation() });
        }
    }
    if let Some(want) = expect.first_key {
        if tb.nritems() == 0 {
            return Err(TreeError::EmptyChild { bytenr: expect.bytenr });
        }
        let have = tb.key(0)?;
        if have != want {
            return Err(TreeError::FirstKeyMismatch { bytenr: expect.bytenr, want, have });
        }
    }
    if let Some(root) = expect.owner {
        check_owner(&tb, root)?;
    }
    if level == 0 {
        check_leaf(&tb, csum_type.size())
    } else {
        check_node(&tb, expect.sectorsize)
    }
}

/// `btrfs_check_eb_owner`: a block of a non-subvolume tree must be owned by
/// it; a block of a subvolume tree by some subvolume tree (snapshots share).
fn check_owner(tb: &TreeBlock<'_>, root: u64) -> Result<(), TreeError> {
    if root == 0 || root == objectid::TREE_LOG || root == objectid::TREE_RELOC {
        return Ok(());
    }
    let have = tb.owner();
    let ok = if objectid::is_fstree(root) { objectid::is_fstree(have) } else { have == root };
    if ok {
        Ok(())
    } else {
        Err(TreeError::OwnerMismatch { at: tb.loc(0), root, have })
    }
}

/// The leaf checks of `tree-checker.c`: WRITTEN flag, empty roots, key
/// order, items packed from the end of the block without holes or
/// overlaps, and the size (and for variable-length items, the internal
/// layout) of every item whose type rbtrfs reads. `csum_size` is the size
/// of one data checksum, for EXTENT_CSUM items.
pub fn check_leaf(tb: &TreeBlock<'_>, csum_size: usize) -> Result<(), TreeError> {
    if tb.level() != 0 {
        return Err(TreeError::LevelMismatch { bytenr: tb.bytenr(), want: 0, have: tb.level() });
    }
    let flags = tb.header().flags();
    if flags & header_flag::WRITTEN == 0 {
        return Err(TreeError::WrittenNotSet(tb.loc(0)));
    }
    let nritems = tb.nritems();
    if nritems == 0 {
        if flags & header_flag::RELOC != 0 {
            return Ok(());
        }
        let owner = tb.owner();
        if matches!(
            owner,
            objectid::ROOT_TREE
                | objectid::CHUNK_TREE
                | objectid::DEV_TREE
                | objectid::FS_TREE
                | objectid::DATA_RELOC_TREE
                | objectid::EXTENT_TREE
        ) {
            return Err(TreeError::EmptyRoot(tb.loc(0)));
        }
        if owner == 0 {
            return Err(TreeError::NoOwner(tb.loc(0)));
        }
        return Ok(());
    }
    let data_size = tb.data_size() as u32;
    let max = data_size / ITEM_SIZE as u32;
    if nritems > max {
        return Err(TreeError::LeafNritems { at: tb.loc(0), nritems, max });
    }
    let mut prev = Key::MIN;
    let mut expect_end = data_size;
    for slot in 0..nritems as usize {
        let h = tb.item_head(slot)?;
        let at = tb.loc(slot);
        // No valid key type is 0, so the first key must exceed (0 0 0) too.
        if prev >= h.key {
            return Err(TreeError::BadKeyOrder { at, prev, cur: h.key });
        }
        let end = u64::from(h.offset) + u64::from(h.size);
        if end != u64::from(expect_end) {
            return Err(TreeError::ItemEnd { at, have: end, expect: expect_end });
        }
        if end > u64::from(data_size) {
            return Err(TreeError::ItemOutside { at, have: end, max: data_size });
        }
        let item_end = ((slot + 1) * ITEM_SIZE) as u64;
        if u64::from(h.offset) < item_end {
            return Err(TreeError::ItemOverlap {
                at,
                item_end: item_end + HEADER_SIZE as u64,
                data_start: u64::from(h.offset) + HEADER_SIZE as u64,
            });
        }
        let data = tb.item_data(slot)?;
        check_item(at, &h.key, data, csum_size)?;
        prev = h.key;
        expect_end = h.offset;
    }
    Ok(())
}

/// Size and layout checks of one leaf item, by key type.
fn check_item(at: BlockLoc, key: &Key, data: &[u8], csum_size: usize) -> Result<(), TreeError> {
    let have = data.len() as u32;
    let exact = |n: usize| {
        if data.len() == n {
            Ok(())
        } else {
            Err(TreeError::BadItemSize { at, key: *key, have, expect: n as u32 })
        }
    };
    let bad = |what| TreeError::BadItem { at, key: *key, what };
    match key.ty {
        key_type::INODE_ITEM => exact(items::InodeItem::SIZE),
        key_type::BLOCK_GROUP_ITEM => exact(items::BlockGroupItem::SIZE),
        key_type::DEV_EXTENT => exact(items::DevExtent::SIZE),
        key_type::DEV_ITEM => exact(format::DevItem::SIZE),
        key_type::ROOT_ITEM => {
            if data.len() == items::RootItem::SIZE || data.len() == items::ROOT_ITEM_FULL_SIZE {
                Ok(())
            } else {
                exact(items::ROOT_ITEM_FULL_SIZE)
            }
        }
        key_type::DIR_ITEM | key_type::DIR_INDEX | key_type::XATTR_ITEM => {
            let mut n = 0;
            for e in items::DirItemIter::new(data) {
                e.map_err(bad)?;
                n += 1;
            }
            if key.ty == key_type::DIR_INDEX && n != 1 {
                return Err(bad(items::ItemError::Multiple("dir index")));
            }
            Ok(())
        }
        key_type::INODE_REF => items::InodeRefIter::new(data).try_for_each(|r| r.map(|_| ())).map_err(bad),
        key_type::INODE_EXTREF => items::InodeExtrefIter::new(data).try_for_each(|r| r.map(|_| ())).map_err(bad),
        key_type::ROOT_REF | key_type::ROOT_BACKREF => items::RootRef::parse(data).map(|_| ()).map_err(bad),
        key_type::EXTENT_DATA => items::FileExtent::parse(data).map(|_| ()).map_err(bad),
        key_type::EXTENT_CSUM => items::CsumItem::new(data, csum_size).map(|_| ()).map_err(bad),
        key_type::CHUNK_ITEM => crate::volumes::ChunkItem::parse(data)
            .map_err(|_| bad(items::ItemError::Invalid("chunk item")))
            .and_then(|c| exact(c.size())),
        key_type::EXTENT_ITEM | key_type::METADATA_ITEM => {
            let mut e = items::Extent::parse(key.ty, data).map_err(bad)?;
            e.inline_refs.try_for_each(|r| r.map(|_| ())).map_err(bad)
        }
        key_type::EXTENT_DATA_REF => exact(items::ExtentDataRef::SIZE),
        key_type::SHARED_DATA_REF => exact(items::SharedDataRef::SIZE),
        key_type::TREE_BLOCK_REF | key_type::SHARED_BLOCK_REF => exact(0),
        _ => Ok(()),
    }
}

/// The node checks of `tree-checker.c`: WRITTEN flag, level, nritems in
/// range, pointers non-zero and aligned to `sectorsize`, keys strictly
/// ascending.
pub fn check_node(tb: &TreeBlock<'_>, sectorsize: u32) -> Result<(), TreeError> {
    if tb.header().flags() & header_flag::WRITTEN == 0 {
        return Err(TreeError::WrittenNotSet(tb.loc(0)));
    }
    let level = tb.level();
    if level == 0 || level >= format::MAX_LEVEL {
        return Err(TreeError::NodeLevel(tb.loc(0)));
    }
    let nritems = tb.nritems();
    let max = (tb.data_size() / KEY_PTR_SIZE) as u32;
    if nritems == 0 || nritems > max {
        return Err(TreeError::NodeNritems { at: tb.loc(0), nritems, max });
    }
    let align = u64::from(sectorsize.max(1));
    let mut prev: Option<Key> = None;
    for slot in 0..nritems as usize {
        let p = tb.key_ptr(slot)?;
        let at = tb.loc(slot);
        if p.blockptr == 0 {
            return Err(TreeError::NullBlockptr(at));
        }
        if p.blockptr % align != 0 {
            return Err(TreeError::UnalignedBlockptr { at, ptr: p.blockptr, align: sectorsize });
        }
        if let Some(prev) = prev {
            if prev >= p.key {
                return Err(TreeError::BadKeyOrder { at, prev, cur: p.key });
            }
        }
        prev = Some(p.key);
    }
    Ok(())
}

/// Where a search reads tree blocks from: the kernel's block cache, or an
/// image file in the host tests.
///
/// An implementation should verify what it returns (with
/// [`check_tree_block`], passing `level` and `generation`); [`Path`] still
/// bounds-checks every access and checks level and first key itself.
pub trait TreeSource {
    /// A shared handle to one block's bytes.
    type Block: AsRef<[u8]> + Clone;
    /// The source's own error (I/O, allocation...).
    type Error;

    /// Reads the block at `logical`, expected at `level` and written in
    /// transaction `generation`.
    fn read_tree_block(&self, logical: u64, level: u8, generation: u64) -> Result<Self::Block, Self::Error>;
}

/// A search failure: the source's error or a corrupt block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchError<E> {
    /// Reading a block failed.
    Read(E),
    /// A block is corrupt.
    Tree(TreeError),
}

impl<E> From<TreeError> for SearchError<E> {
    fn from(e: TreeError) -> Self {
        SearchError::Tree(e)
    }
}

impl<E: fmt::Display> fmt::Display for SearchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(e) => e.fmt(f),
            Self::Tree(e) => e.fmt(f),
        }
    }
}

const LEVELS: usize = format::MAX_LEVEL as usize;

/// A position in a tree: for each level from the leaf up to the root, the
/// block and the slot in it (`struct btrfs_path`, without allocation).
///
/// After [`Path::search`] the path is on the first item `>=` the key, or
/// past the end of the tree; [`Path::next_item`] and [`Path::prev_item`]
/// walk items in key order across leaves. Any error releases the path.
pub struct Path<B> {
    nodes: [Option<B>; LEVELS],
    slots: [usize; LEVELS],
}

impl<B: AsRef<[u8]> + Clone> Default for Path<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: AsRef<[u8]> + Clone> Path<B> {
    /// An empty path.
    pub fn new() -> Self {
        Path { nodes: core::array::from_fn(|_| None), slots: [0; LEVELS] }
    }

    /// Drops every block held.
    pub fn release(&mut self) {
        for n in self.nodes.iter_mut() {
            *n = None;
        }
        self.slots = [0; LEVELS];
    }

    /// Searches the tree rooted at `root_bytenr` (level `root_level`,
    /// generation `root_gen`) for `key`. Returns whether an item with
    /// exactly that key exists; either way the path is then on the first
    /// item `>= key`, or past the last item if there is none.
    pub fn search<S>(
        &mut self,
        src: &S,
        root_bytenr: u64,
        root_level: u8,
        root_gen: u64,
        key: &Key,
    ) -> Result<bool, SearchError<S::Error>>
    where
        S: TreeSource<Block = B>,
    {
        self.release();
        let r = self.search_inner(src, root_bytenr, root_level, root_gen, key);
        if r.is_err() {
            self.release();
        }
        r
    }

    fn search_inner<S>(
        &mut self,
        src: &S,
        root_bytenr: u64,
        root_level: u8,
        root_gen: u64,
        key: &Key,
    ) -> Result<bool, SearchError<S::Error>>
    where
        S: TreeSource<Block = B>,
    {
        if root_level >= format::MAX_LEVEL {
            return Err(TreeError::BadLevel { bytenr: root_bytenr, level: root_level }.into());
        }
        let mut block = src.read_tree_block(root_bytenr, root_level, root_gen).map_err(SearchError::Read)?;
        let mut level = root_level;
        loop {
            let tb = TreeBlock::new(block.as_ref())?;
            if tb.level() != level {
                return Err(TreeError::LevelMismatch { bytenr: root_bytenr, want: level, have: tb.level() }.into());
            }
            let idx = usize::from(level);
            if level == 0 {
                let found = tb.bin_search(key)?;
                let nritems = tb.nritems() as usize;
                let (found, slot) = match found {
                    Ok(s) => (true, s),
                    Err(s) => (false, s),
                };
                self.nodes[0] = Some(block);
                self.slots[0] = slot;
                if slot >= nritems {
                    self.next_leaf(src)?;
                }
                return Ok(found);
            }
            let slot = tb.child_slot(key)?;
            let ptr = tb.key_ptr(slot)?;
            self.nodes[idx] = Some(block);
            self.slots[idx] = slot;
            level -= 1;
            block = read_child(src, &ptr, level)?;
        }
    }

    /// The leaf the path is in, if any.
    pub fn leaf(&self) -> Option<TreeBlock<'_>> {
        self.nodes[0].as_ref().and_then(|b| TreeBlock::new(b.as_ref()).ok())
    }

    /// The slot in the leaf.
    pub fn slot(&self) -> usize {
        self.slots[0]
    }

    /// The block held at `level`, with its slot.
    pub fn node(&self, level: u8) -> Option<(&B, usize)> {
        let l = usize::from(level);
        self.nodes.get(l)?.as_ref().map(|b| (b, self.slots[l]))
    }

    /// The item the path is on; `None` past the end of the tree.
    pub fn item(&self) -> Result<Option<Item<'_>>, TreeError> {
        match self.leaf() {
            Some(tb) if self.slots[0] < tb.nritems() as usize => tb.item(self.slots[0]).map(Some),
            _ => Ok(None),
        }
    }

    /// The key of the item the path is on; `None` past the end of the tree.
    pub fn key(&self) -> Result<Option<Key>, TreeError> {
        Ok(self.item()?.map(|i| i.key))
    }

    /// Moves to the next item in key order. Returns `false` (and stays past
    /// the end) when there is none.
    pub fn next_item<S>(&mut self, src: &S) -> Result<bool, SearchError<S::Error>>
    where
        S: TreeSource<Block = B>,
    {
        let Some(tb) = self.leaf() else { return Ok(false) };
        let nritems = tb.nritems() as usize;
        if self.slots[0] + 1 < nritems {
            self.slots[0] += 1;
            return Ok(true);
        }
        self.slots[0] = nritems;
        self.next_leaf(src)
    }

    /// Moves to the previous item in key order. Returns `false` (and stays
    /// on the first item) when there is none.
    pub fn prev_item<S>(&mut self, src: &S) -> Result<bool, SearchError<S::Error>>
    where
        S: TreeSource<Block = B>,
    {
        if self.nodes[0].is_none() {
            return Ok(false);
        }
        if self.slots[0] > 0 {
            self.slots[0] -= 1;
            return Ok(true);
        }
        let r = self.step_leaf(src, false);
        if r.is_err() {
            self.release();
        }
        r
    }

    /// Moves to the first item of the next leaf; on `false` the path stays
    /// past the end of the current (last) leaf.
    fn next_leaf<S>(&mut self, src: &S) -> Result<bool, SearchError<S::Error>>
    where
        S: TreeSource<Block = B>,
    {
        let r = self.step_leaf(src, true);
        if r.is_err() {
            self.release();
        }
        r
    }

    /// Moves to the neighbouring leaf (`forward` or back), landing on its
    /// first or last item.
    fn step_leaf<S>(&mut self, src: &S, forward: bool) -> Result<bool, SearchError<S::Error>>
    where
        S: TreeSource<Block = B>,
    {
        // The lowest ancestor that has a neighbouring slot in that direction.
        let mut level = 1;
        loop {
            let Some(node) = self.nodes.get(level).and_then(|n| n.as_ref()) else { return Ok(false) };
            let tb = TreeBlock::new(node.as_ref())?;
            let slot = self.slots[level];
            if forward && slot + 1 < tb.nritems() as usize {
                self.slots[level] = slot + 1;
                break;
            }
            if !forward && slot > 0 {
                self.slots[level] = slot - 1;
                break;
            }
            level += 1;
        }
        // Down again along the leftmost (or rightmost) edge.
        while level > 0 {
            let ptr = {
                let node = self.nodes[level].as_ref().ok_or(TreeError::EmptyChild { bytenr: 0 })?;
                TreeBlock::new(node.as_ref())?.key_ptr(self.slots[level])?
            };
            level -= 1;
            let child = read_child(src, &ptr, level as u8)?;
            let n = TreeBlock::new(child.as_ref())?.nritems() as usize;
            self.slots[level] = if forward { 0 } else { n - 1 };
            self.nodes[level] = Some(child);
        }
        Ok(true)
    }
}

/// Reads the child `ptr` points to at `level`, and checks what a parent
/// pointer promises: the level, and that the child starts with the key.
fn read_child<S: TreeSource>(src: &S, ptr: &KeyPtr, level: u8) -> Result<S::Block, SearchError<S::Error>> {
    let child = src.read_tree_block(ptr.blockptr, level, ptr.generation).map_err(SearchError::Read)?;
    {
        let tb = TreeBlock::new(child.as_ref())?;
        if tb.level() != level {
            return Err(TreeError::LevelMismatch { bytenr: ptr.blockptr, want: level, have: tb.level() }.into());
        }
        if tb.nritems() == 0 {
            return Err(TreeError::EmptyChild { bytenr: ptr.blockptr }.into());
        }
        let have = tb.key(0)?;
        if have != ptr.key {
            return Err(TreeError::FirstKeyMismatch { bytenr: ptr.blockptr, want: ptr.key, have }.into());
        }
    }
    Ok(child)
}
