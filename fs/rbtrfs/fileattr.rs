// SPDX-License-Identifier: GPL-2.0

//! Inode attribute flags, as `chattr`/`lsattr` see them through
//! `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` and `FS_IOC_FSGETXATTR` (C:
//! `btrfs_inode_flags_to_fsflags`, `btrfs_mask_fsflags_for_type`,
//! `check_fsflags` and `btrfs_fileattr_set` in `fs/btrfs/ioctl.c`).
//!
//! The inode item keeps `BTRFS_INODE_*` flags ([`inode_flag`]) in its low
//! 32 bits and read-only compat flags (verity) in the high 32; user space
//! speaks `FS_*_FL` ([`fs_fl`]). [`set`] computes what a `SETFLAGS` makes of
//! an inode's flags, with C's rules: `NOCOW` only changes on an empty
//! regular file (where it also turns off data checksums) or a non-file,
//! `COMPR` and `NOCOMP` exclude each other and `NOCOW`, and turning
//! compression on or off sets or removes the `btrfs.compression` property.

#![forbid(unsafe_code)]

use crate::error::{Errno, EINVAL, EOPNOTSUPP};
use crate::items::inode_flag;

/// `FS_*_FL` flags (`include/uapi/linux/fs.h`).
pub mod fs_fl {
    /// Compress.
    pub const COMPR: u32 = 0x0000_0004;
    /// Synchronous updates.
    pub const SYNC: u32 = 0x0000_0008;
    /// Immutable.
    pub const IMMUTABLE: u32 = 0x0000_0010;
    /// Append only.
    pub const APPEND: u32 = 0x0000_0020;
    /// Not for dump.
    pub const NODUMP: u32 = 0x0000_0040;
    /// No access time updates.
    pub const NOATIME: u32 = 0x0000_0080;
    /// Do not compress.
    pub const NOCOMP: u32 = 0x0000_0400;
    /// Synchronous directory updates.
    pub const DIRSYNC: u32 = 0x0001_0000;
    /// Verity file.
    pub const VERITY: u32 = 0x0010_0000;
    /// No copy-on-write.
    pub const NOCOW: u32 = 0x0080_0000;
}

/// `BTRFS_INODE_RO_VERITY` in the item's flags (bit 0 of the read-only
/// compat half).
pub const RO_VERITY: u64 = 1 << 32;

/// The flags `SETFLAGS` may carry (C: `check_fsflags`).
const SETTABLE: u32 = fs_fl::IMMUTABLE
    | fs_fl::APPEND
    | fs_fl::NOATIME
    | fs_fl::NODUMP
    | fs_fl::SYNC
    | fs_fl::DIRSYNC
    | fs_fl::NOCOMP
    | fs_fl::COMPR
    | fs_fl::NOCOW;

/// What kind of inode the flags are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes.
    Reg {
        /// Its size.
        size: u64,
    },
    /// Anything else (symlinks, device nodes, FIFOs, sockets).
    Other,
}

/// The `FS_*_FL` view of an inode item's flags (C:
/// `btrfs_inode_flags_to_fsflags`).
pub fn to_fsflags(flags: u64) -> u32 {
    let mut f = 0;
    for (b, fl) in [
        (inode_flag::SYNC, fs_fl::SYNC),
        (inode_flag::IMMUTABLE, fs_fl::IMMUTABLE),
        (inode_flag::APPEND, fs_fl::APPEND),
        (inode_flag::NODUMP, fs_fl::NODUMP),
        (inode_flag::NOATIME, fs_fl::NOATIME),
        (inode_flag::DIRSYNC, fs_fl::DIRSYNC),
        (inode_flag::NODATACOW, fs_fl::NOCOW),
        (RO_VERITY, fs_fl::VERITY),
    ] {
        if flags & b != 0 {
            f |= fl;
        }
    }
    if flags & inode_flag::NOCOMPRESS != 0 {
        f |= fs_fl::NOCOMP;
    } else if flags & inode_flag::COMPRESS != 0 {
        f |= fs_fl::COMPR;
    }
    f
}

/// Drops the flags that make no sense for the inode's kind (C:
/// `btrfs_mask_fsflags_for_type`).
pub fn mask_for_kind(kind: Kind, flags: u32) -> u32 {
    match kind {
        Kind::Dir => flags,
        Kind::Reg { .. } => flags & !fs_fl::DIRSYNC,
        Kind::Other => flags & (fs_fl::NODUMP | fs_fl::NOATIME),
    }
}

/// Whether `new` is a valid set of flags to move to from `old` (C:
/// `check_fsflags`): unknown flags are `EOPNOTSUPP`, contradictions
/// `EINVAL`.
pub fn check(old: u32, new: u32) -> Result<(), Errno> {
    if new & !SETTABLE != 0 {
        return Err(EOPNOTSUPP);
    }
    let comp = fs_fl::COMPR | fs_fl::NOCOMP;
    if new & fs_fl::NOCOMP != 0 && new & fs_fl::COMPR != 0 {
        return Err(EINVAL);
    }
    if new & fs_fl::COMPR != 0 && new & fs_fl::NOCOW != 0 {
        return Err(EINVAL);
    }
    if (old & fs_fl::NOCOW != 0 && new & comp != 0) || (new & fs_fl::NOCOW != 0 && old & comp != 0) {
        return Err(EINVAL);
    }
    Ok(())
}

/// What to do with the `btrfs.compression` property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prop {
    /// Set it to this value (compression turned on).
    Set(&'static [u8]),
    /// Remove it, if there (compression turned off or forbidden).
    Remove,
}

/// The name of the compression property.
pub const COMPRESSION_PROP: &[u8] = b"btrfs.compression";

/// The inode item's new flags after `SETFLAGS` with `wanted` (C:
/// `btrfs_fileattr_set`), and what to do with the compression property.
/// `flags_valid` false (from `FS_IOC_FSSETXATTR`) changes only the flags
/// both interfaces share. rbtrfs writes no compressed data, but keeps
/// the flags and property as C would for C to honour.
pub fn set(old: u64, wanted: u32, flags_valid: bool, kind: Kind) -> Result<(u64, Option<Prop>), Errno> {
    let fsflags = mask_for_kind(kind, wanted);
    check(to_fsflags(old), fsflags)?;
    let mut f = old;
    let put = |f: &mut u64, bit: u64, fl: u32| {
        if fsflags & fl != 0 {
            *f |= bit;
        } else {
            *f &= !bit;
        }
    };
    put(&mut f, inode_flag::SYNC, fs_fl::SYNC);
    put(&mut f, inode_flag::IMMUTABLE, fs_fl::IMMUTABLE);
    put(&mut f, inode_flag::APPEND, fs_fl::APPEND);
    put(&mut f, inode_flag::NODUMP, fs_fl::NODUMP);
    put(&mut f, inode_flag::NOATIME, fs_fl::NOATIME);
    if !flags_valid {
        return Ok((f, None));
    }
    put(&mut f, inode_flag::DIRSYNC, fs_fl::DIRSYNC);
    if fsflags & fs_fl::NOCOW != 0 {
        match kind {
            // Only while there is no data: then checksums go too.
            Kind::Reg { size: 0 } => f |= inode_flag::NODATACOW | inode_flag::NODATASUM,
            Kind::Reg { .. } => {}
            _ => f |= inode_flag::NODATACOW,
        }
    } else {
        match kind {
            Kind::Reg { size: 0 } => f &= !(inode_flag::NODATACOW | inode_flag::NODATASUM),
            Kind::Reg { .. } => {}
            _ => f &= !inode_flag::NODATACOW,
        }
    }
    let prop = if fsflags & fs_fl::NOCOMP != 0 {
        f = (f & !inode_flag::COMPRESS) | inode_flag::NOCOMPRESS;
        Prop::Remove
    } else if fsflags & fs_fl::COMPR != 0 {
        f = (f & !inode_flag::NOCOMPRESS) | inode_flag::COMPRESS;
        // C: the mount's compression, zlib without one (rbtrfs ignores
        // `compress=`).
        Prop::Set(b"zlib")
    } else {
        f &= !(inode_flag::COMPRESS | inode_flag::NOCOMPRESS);
        Prop::Remove
    };
    Ok((f, Some(prop)))
}

/// The `S_*` flags the VFS enforces for an inode with item flags `flags`
/// (C: `btrfs_sync_inode_flags_to_i_flags`): (sync, immutable, append,
/// noatime, dirsync).
pub fn vfs_flags(flags: u64) -> (bool, bool, bool, bool, bool) {
    (
        flags & inode_flag::SYNC != 0,
        flags & inode_flag::IMMUTABLE != 0,
        flags & inode_flag::APPEND != 0,
        flags & inode_flag::NOATIME != 0,
        flags & inode_flag::DIRSYNC != 0,
    )
}
