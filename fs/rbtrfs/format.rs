// SPDX-License-Identifier: GPL-2.0

//! On-disk format: typed little-endian views over byte slices.
//!
//! The C implementation generates accessors with `BTRFS_SETGET_FUNCS`; here
//! [`disk_struct!`] declares a view type over `&[u8]` whose constructor checks
//! the length once, and whose accessors decode each field explicitly
//! little-endian at its offset from `include/uapi/linux/btrfs_tree.h`. No disk
//! buffer is ever cast to a Rust struct, so alignment never matters.
//!
//! `core` only: the same source builds into the module and the host tests.

#![forbid(unsafe_code)]

/// Integers stored little-endian on disk.
pub trait LeInt: Sized {
    /// Decodes from the first `size_of::<Self>()` bytes of `b`.
    fn read_le(b: &[u8]) -> Self;
}

macro_rules! le_int {
    ($($t:ty),*) => {$(
        impl LeInt for $t {
            #[inline]
            fn read_le(b: &[u8]) -> Self {
                let mut a = [0u8; core::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..core::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
le_int!(u8, u16, u32, u64);

/// Declares a view of an on-disk structure with typed accessors.
///
/// Fields are `name: type @ offset` for integers and
/// `name: [N] @ offset` for byte arrays (returned as `&[u8; N]`).
///
/// The read-only form `Name, size = S; fields...` declares `Name<'a>` over
/// `&'a [u8]`. The writable form `Name / NameMut, size = S; fields...`
/// also declares `NameMut<'a>` over `&'a mut [u8]`, with the same getters
/// and, for every field written `name: type @ offset => set_name`, a
/// setter `set_name(v)` (integers by value, arrays as `&[u8; N]`). Macros
/// cannot build identifiers, so setter names are spelled out; fields
/// without one are read-only in both views.
macro_rules! disk_struct {
    (
        $(#[$meta:meta])*
        $name:ident / $mname:ident, size = $size:expr;
        $( $(#[$fmeta:meta])* $field:ident : $kind:tt @ $off:expr $(=> $set:ident)? ),* $(,)?
    ) => {
        disk_struct! {
            $(#[$meta])*
            $name, size = $size;
            $( $(#[$fmeta])* $field : $kind @ $off ),*
        }

        #[doc = concat!("A writable [`", stringify!($name), "`] over a mutable byte slice.")]
        pub struct $mname<'a>(&'a mut [u8]);

        impl<'a> $mname<'a> {
            /// Size of the structure on disk, in bytes.
            pub const SIZE: usize = $size;

            /// A writable view of the first [`Self::SIZE`] bytes of `buf`,
            /// or `None` if `buf` is too short.
            pub fn new(buf: &'a mut [u8]) -> Option<Self> {
                buf.get_mut(..$size).map(Self)
            }

            /// The raw bytes of the structure.
            pub fn as_bytes(&self) -> &[u8] {
                self.0
            }

            /// The raw bytes of the structure, writable.
            pub fn as_bytes_mut(&mut self) -> &mut [u8] {
                self.0
            }

            /// A read-only view borrowing this one.
            pub fn as_view(&self) -> $name<'_> {
                $name(&*self.0)
            }

            /// Turns this into a read-only view of the same bytes.
            pub fn into_view(self) -> $name<'a> {
                $name(self.0)
            }

            $( disk_struct!(@getmut $(#[$fmeta])* $field : $kind); )*
            $( $( disk_struct!(@set $field $set : $kind @ $off); )? )*
        }
    };
    (
        $(#[$meta:meta])*
        $name:ident, size = $size:expr;
        $( $(#[$fmeta:meta])* $field:ident : $kind:tt @ $off:expr ),* $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        pub struct $name<'a>(&'a [u8]);

        impl<'a> $name<'a> {
            /// Size of the structure on disk, in bytes.
            pub const SIZE: usize = $size;

            /// A view of the first [`Self::SIZE`] bytes of `buf`, or `None`
            /// if `buf` is too short.
            pub fn new(buf: &'a [u8]) -> Option<Self> {
                buf.get(..Self::SIZE).map(Self)
            }

            /// The raw bytes of the structure.
            pub fn as_bytes(&self) -> &'a [u8] {
                self.0
            }

            $( disk_struct!(@get $(#[$fmeta])* $field : $kind @ $off); )*
        }
    };
    (@get $(#[$fmeta:meta])* $field:ident : [$n:expr] @ $off:expr) => {
        $(#[$fmeta])*
        pub fn $field(&self) -> &'a [u8; $n] {
            // The constructor checked the length against SIZE, which covers every field.
            self.0[$off..$off + $n].try_into().unwrap_or(&[0; $n])
        }
    };
    (@get $(#[$fmeta:meta])* $field:ident : $t:ident @ $off:expr) => {
        $(#[$fmeta])*
        #[inline]
        pub fn $field(&self) -> $t {
            <$t as LeInt>::read_le(&self.0[$off..])
        }
    };
    (@getmut $(#[$fmeta:meta])* $field:ident : [$n:expr]) => {
        $(#[$fmeta])*
        pub fn $field(&self) -> &[u8; $n] {
            self.as_view().$field()
        }
    };
    (@getmut $(#[$fmeta:meta])* $field:ident : $t:ident) => {
        $(#[$fmeta])*
        #[inline]
        pub fn $field(&self) -> $t {
            self.as_view().$field()
        }
    };
    (@set $field:ident $set:ident : [$n:expr] @ $off:expr) => {
        #[doc = concat!("Sets [`Self::", stringify!($field), "`].")]
        pub fn $set(&mut self, v: &[u8; $n]) {
            // The constructor checked the length against SIZE, which covers every field.
            if let Some(d) = self.0.get_mut($off..$off + $n) {
                d.copy_from_slice(v);
            }
        }
    };
    (@set $field:ident $set:ident : $t:ident @ $off:expr) => {
        #[doc = concat!("Sets [`Self::", stringify!($field), "`].")]
        #[inline]
        pub fn $set(&mut self, v: $t) {
            let b = v.to_le_bytes();
            // The constructor checked the length against SIZE, which covers every field.
            if let Some(d) = self.0.get_mut($off..$off + b.len()) {
                d.copy_from_slice(&b);
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use disk_struct;

/// Byte offset of the primary superblock on every device.
pub const SUPER_INFO_OFFSET: u64 = 65536;
/// Bytes of the superblock that are checksummed and read.
pub const SUPER_INFO_SIZE: usize = 4096;
/// Room for a checksum in headers and the superblock.
pub const CSUM_SIZE: usize = 32;
/// Bytes in an fsid or uuid.
pub const FSID_SIZE: usize = 16;
/// Bytes in the label, with its NUL.
pub const LABEL_SIZE: usize = 256;
/// `_BHRfS_M`, the superblock magic.
pub const MAGIC: u64 = 0x4D5F_5366_5248_425F;
/// Size of the bootstrap chunk array in the superblock.
pub const SYSTEM_CHUNK_ARRAY_SIZE: usize = 2048;
/// Number of backup root slots in the superblock.
pub const NUM_BACKUP_ROOTS: usize = 4;
/// Mirrors of the superblock: 64 KiB, 64 MiB and 256 GiB.
pub const SUPER_MIRROR_OFFSETS: [u64; 3] = [SUPER_INFO_OFFSET, 64 << 20, 256 << 30];
/// Deepest level a B-tree may have.
pub const MAX_LEVEL: u8 = 8;

disk_struct! {
    /// `struct btrfs_dev_item`: one device, as embedded in the superblock
    /// and stored in the chunk tree.
    DevItem / DevItemMut, size = 98;
    /// Device id, unique in the filesystem.
    devid: u64 @ 0 => set_devid,
    /// Size of the device in bytes.
    total_bytes: u64 @ 8 => set_total_bytes,
    /// Bytes allocated to chunks on it.
    bytes_used: u64 @ 16 => set_bytes_used,
    /// Optimal I/O alignment.
    io_align: u32 @ 24 => set_io_align,
    /// Optimal I/O width.
    io_width: u32 @ 28 => set_io_width,
    /// Minimal I/O size.
    sector_size: u32 @ 32 => set_sector_size,
    /// Device type (unused).
    dev_type: u64 @ 36 => set_dev_type,
    /// Generation of the last change.
    generation: u64 @ 44 => set_generation,
    /// Start of the usable area.
    start_offset: u64 @ 52 => set_start_offset,
    /// Grouping (unused).
    dev_group: u32 @ 60 => set_dev_group,
    /// Seek speed hint (unused).
    seek_speed: u8 @ 64 => set_seek_speed,
    /// Bandwidth hint (unused).
    bandwidth: u8 @ 65 => set_bandwidth,
    /// Device uuid.
    uuid: [16] @ 66 => set_uuid,
    /// The filesystem this device belongs to.
    fsid: [16] @ 82 => set_fsid,
}

disk_struct! {
    /// `struct btrfs_root_backup`: one of the rotating backup root sets.
    RootBackup / RootBackupMut, size = 168;
    /// Tree root bytenr.
    tree_root: u64 @ 0 => set_tree_root,
    /// Tree root generation.
    tree_root_gen: u64 @ 8 => set_tree_root_gen,
    /// Chunk root bytenr.
    chunk_root: u64 @ 16 => set_chunk_root,
    /// Chunk root generation.
    chunk_root_gen: u64 @ 24 => set_chunk_root_gen,
    /// Extent root bytenr.
    extent_root: u64 @ 32 => set_extent_root,
    /// Extent root generation.
    extent_root_gen: u64 @ 40 => set_extent_root_gen,
    /// FS tree bytenr.
    fs_root: u64 @ 48 => set_fs_root,
    /// FS tree generation.
    fs_root_gen: u64 @ 56 => set_fs_root_gen,
    /// Device tree bytenr.
    dev_root: u64 @ 64 => set_dev_root,
    /// Device tree generation.
    dev_root_gen: u64 @ 72 => set_dev_root_gen,
    /// Checksum tree bytenr.
    csum_root: u64 @ 80 => set_csum_root,
    /// Checksum tree generation.
    csum_root_gen: u64 @ 88 => set_csum_root_gen,
    /// Filesystem size at the time.
    total_bytes: u64 @ 96 => set_total_bytes,
    /// Bytes used at the time.
    bytes_used: u64 @ 104 => set_bytes_used,
    /// Device count at the time.
    num_devices: u64 @ 112 => set_num_devices,
    /// Tree root level.
    tree_root_level: u8 @ 152 => set_tree_root_level,
    /// Chunk root level.
    chunk_root_level: u8 @ 153 => set_chunk_root_level,
    /// Extent root level.
    extent_root_level: u8 @ 154 => set_extent_root_level,
    /// FS tree level.
    fs_root_level: u8 @ 155 => set_fs_root_level,
    /// Device tree level.
    dev_root_level: u8 @ 156 => set_dev_root_level,
    /// Checksum tree level.
    csum_root_level: u8 @ 157 => set_csum_root_level,
}

disk_struct! {
    /// `struct btrfs_super_block`: the first 4096 bytes at 64 KiB.
    SuperBlock / SuperBlockMut, size = SUPER_INFO_SIZE;
    /// Checksum of bytes `CSUM_SIZE..SUPER_INFO_SIZE`.
    csum: [32] @ 0 => set_csum,
    /// Filesystem id.
    fsid: [16] @ 32 => set_fsid,
    /// Physical address of this copy.
    bytenr: u64 @ 48 => set_bytenr,
    /// Superblock flags (`BTRFS_SUPER_FLAG_*`).
    flags: u64 @ 56 => set_flags,
    /// [`MAGIC`].
    magic: u64 @ 64 => set_magic,
    /// Transaction id of the last commit.
    generation: u64 @ 72 => set_generation,
    /// Logical address of the tree of tree roots.
    root: u64 @ 80 => set_root,
    /// Logical address of the chunk tree root.
    chunk_root: u64 @ 88 => set_chunk_root,
    /// Logical address of the log tree root, 0 if none.
    log_root: u64 @ 96 => set_log_root,
    /// Filesystem size in bytes.
    total_bytes: u64 @ 112 => set_total_bytes,
    /// Bytes used.
    bytes_used: u64 @ 120 => set_bytes_used,
    /// Objectid of the root directory (6).
    root_dir_objectid: u64 @ 128 => set_root_dir_objectid,
    /// Number of devices.
    num_devices: u64 @ 136 => set_num_devices,
    /// Sector size (data block size).
    sectorsize: u32 @ 144 => set_sectorsize,
    /// Tree block size.
    nodesize: u32 @ 148 => set_nodesize,
    /// Legacy leaf size, equal to nodesize.
    leafsize: u32 @ 152 => set_leafsize,
    /// Stripe size.
    stripesize: u32 @ 156 => set_stripesize,
    /// Valid bytes in the sys_chunk_array.
    sys_chunk_array_size: u32 @ 160 => set_sys_chunk_array_size,
    /// Generation of the chunk root.
    chunk_root_generation: u64 @ 164 => set_chunk_root_generation,
    /// Compatible feature flags.
    compat_flags: u64 @ 172 => set_compat_flags,
    /// Features a read-only mount may ignore.
    compat_ro_flags: u64 @ 180 => set_compat_ro_flags,
    /// Features that must be understood to mount at all.
    incompat_flags: u64 @ 188 => set_incompat_flags,
    /// Checksum algorithm.
    csum_type: u16 @ 196 => set_csum_type,
    /// Level of the tree root.
    root_level: u8 @ 198 => set_root_level,
    /// Level of the chunk root.
    chunk_root_level: u8 @ 199 => set_chunk_root_level,
    /// Level of the log root.
    log_root_level: u8 @ 200 => set_log_root_level,
    /// Label, NUL terminated.
    label: [256] @ 299 => set_label,
    /// Generation of the v1 free space cache.
    cache_generation: u64 @ 555 => set_cache_generation,
    /// Generation of the uuid tree.
    uuid_tree_generation: u64 @ 563 => set_uuid_tree_generation,
    /// Metadata uuid (with the METADATA_UUID feature).
    metadata_uuid: [16] @ 571 => set_metadata_uuid,
}

impl<'a> SuperBlock<'a> {
    /// The device item embedded in the superblock.
    pub fn dev_item(&self) -> DevItem<'a> {
        DevItem(&self.0[201..201 + DevItem::SIZE])
    }

    /// The bootstrap chunk array (only `sys_chunk_array_size` bytes are valid).
    pub fn sys_chunk_array(&self) -> &'a [u8] {
        &self.0[811..811 + SYSTEM_CHUNK_ARRAY_SIZE]
    }

    /// Backup root slot `i` (0..4).
    pub fn backup_root(&self, i: usize) -> RootBackup<'a> {
        let off = 2859 + (i % NUM_BACKUP_ROOTS) * RootBackup::SIZE;
        RootBackup(&self.0[off..off + RootBackup::SIZE])
    }

    /// The label up to its NUL, as bytes.
    pub fn label_bytes(&self) -> &'a [u8] {
        let l = self.label();
        let end = l.iter().position(|&c| c == 0).unwrap_or(LABEL_SIZE);
        &l[..end]
    }
}

impl<'a> SuperBlockMut<'a> {
    /// The embedded device item, writable.
    pub fn dev_item_mut(&mut self) -> DevItemMut<'_> {
        DevItemMut(&mut self.0[201..201 + DevItem::SIZE])
    }

    /// The whole bootstrap chunk array, writable (keep
    /// `sys_chunk_array_size` in step).
    pub fn sys_chunk_array_mut(&mut self) -> &mut [u8] {
        &mut self.0[811..811 + SYSTEM_CHUNK_ARRAY_SIZE]
    }

    /// Backup root slot `i` (taken modulo 4), writable.
    pub fn backup_root_mut(&mut self, i: usize) -> RootBackupMut<'_> {
        let off = 2859 + (i % NUM_BACKUP_ROOTS) * RootBackup::SIZE;
        RootBackupMut(&mut self.0[off..off + RootBackup::SIZE])
    }

    /// Appends one (disk key, chunk item) entry to the bootstrap chunk
    /// array and bumps `sys_chunk_array_size`. `key` must be the 17-byte
    /// disk key of the chunk. Fails with `E2BIG` if the array is full.
    pub fn push_sys_chunk(&mut self, key: &[u8; 17], chunk: &[u8]) -> crate::error::Result<()> {
        let size = self.sys_chunk_array_size() as usize;
        let end = size
            .checked_add(key.len())
            .and_then(|e| e.checked_add(chunk.len()))
            .filter(|&e| e <= SYSTEM_CHUNK_ARRAY_SIZE)
            .ok_or(crate::error::E2BIG)?;
        let arr = self.sys_chunk_array_mut();
        arr[size..size + key.len()].copy_from_slice(key);
        arr[size + key.len()..end].copy_from_slice(chunk);
        self.set_sys_chunk_array_size(end as u32);
        Ok(())
    }

    /// Computes the checksum of bytes `CSUM_SIZE..SUPER_INFO_SIZE` with the
    /// superblock's own `csum_type` and stores it in `csum`. Fails with
    /// `EUCLEAN` for an unknown type and `EOPNOTSUPP` for one this crate
    /// cannot compute.
    pub fn update_csum(&mut self) -> crate::error::Result<()> {
        let ty = crate::checksum::CsumType::from_disk(self.csum_type()).ok_or(crate::error::EUCLEAN)?;
        let mut out = [0u8; CSUM_SIZE];
        if !ty.compute(&self.0[CSUM_SIZE..SUPER_INFO_SIZE], &mut out) {
            return Err(crate::error::EOPNOTSUPP);
        }
        self.set_csum(&out);
        Ok(())
    }
}

/// Incompat feature bits (`BTRFS_FEATURE_INCOMPAT_*`).
pub mod incompat {
    /// Mixed back references (always set by modern mkfs).
    pub const MIXED_BACKREF: u64 = 1 << 0;
    /// A default subvolume was set.
    pub const DEFAULT_SUBVOL: u64 = 1 << 1;
    /// Data and metadata share block groups.
    pub const MIXED_GROUPS: u64 = 1 << 2;
    /// lzo compressed extents may exist.
    pub const COMPRESS_LZO: u64 = 1 << 3;
    /// zstd compressed extents may exist.
    pub const COMPRESS_ZSTD: u64 = 1 << 4;
    /// Node size larger than the page size.
    pub const BIG_METADATA: u64 = 1 << 5;
    /// Extended inode refs.
    pub const EXTENDED_IREF: u64 = 1 << 6;
    /// RAID5/6 profiles.
    pub const RAID56: u64 = 1 << 7;
    /// Skinny metadata extent items.
    pub const SKINNY_METADATA: u64 = 1 << 8;
    /// Holes are implicit.
    pub const NO_HOLES: u64 = 1 << 9;
    /// Separate metadata uuid.
    pub const METADATA_UUID: u64 = 1 << 10;
    /// RAID1C3/4 profiles.
    pub const RAID1C34: u64 = 1 << 11;
    /// Zoned devices.
    pub const ZONED: u64 = 1 << 12;
    /// Extent tree v2 (experimental).
    pub const EXTENT_TREE_V2: u64 = 1 << 13;
    /// Raid stripe tree (experimental).
    pub const RAID_STRIPE_TREE: u64 = 1 << 14;
    /// Simple quotas.
    pub const SIMPLE_QUOTA: u64 = 1 << 16;

    /// Every feature rbtrfs understands.
    pub const SUPPORTED: u64 = MIXED_BACKREF
        | DEFAULT_SUBVOL
        | COMPRESS_LZO
        | COMPRESS_ZSTD
        | BIG_METADATA
        | EXTENDED_IREF
        | SKINNY_METADATA
        | NO_HOLES;

    /// Names of the known bits, for messages.
    pub const NAMES: [(u64, &str); 16] = [
        (MIXED_BACKREF, "mixed_backref"),
        (DEFAULT_SUBVOL, "default_subvol"),
        (MIXED_GROUPS, "mixed_groups"),
        (COMPRESS_LZO, "compress_lzo"),
        (COMPRESS_ZSTD, "compress_zstd"),
        (BIG_METADATA, "big_metadata"),
        (EXTENDED_IREF, "extended_iref"),
        (RAID56, "raid56"),
        (SKINNY_METADATA, "skinny_metadata"),
        (NO_HOLES, "no_holes"),
        (METADATA_UUID, "metadata_uuid"),
        (RAID1C34, "raid1c34"),
        (ZONED, "zoned"),
        (EXTENT_TREE_V2, "extent_tree_v2"),
        (RAID_STRIPE_TREE, "raid_stripe_tree"),
        (SIMPLE_QUOTA, "simple_quota"),
    ];
}

/// Read-only-compatible feature bits (`BTRFS_FEATURE_COMPAT_RO_*`).
pub mod compat_ro {
    /// Free space tree (space cache v2).
    pub const FREE_SPACE_TREE: u64 = 1 << 0;
    /// The free space tree is valid.
    pub const FREE_SPACE_TREE_VALID: u64 = 1 << 1;
    /// fs-verity items may exist.
    pub const VERITY: u64 = 1 << 2;
    /// Block group items live in their own tree.
    pub const BLOCK_GROUP_TREE: u64 = 1 << 3;

    /// Every compat_ro feature rbtrfs understands.
    pub const SUPPORTED: u64 = FREE_SPACE_TREE | FREE_SPACE_TREE_VALID;
}
