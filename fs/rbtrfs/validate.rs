// SPDX-License-Identifier: GPL-2.0

//! Superblock validation, as `btrfs_validate_super` does it.
//!
//! Pure logic over the 4096 bytes read from 64 KiB, shared by the kernel
//! mount path and the host tests (which corrupt real mkfs images and expect
//! each corruption to be named).

#![forbid(unsafe_code)]

use crate::checksum::CsumType;
use crate::format::{self, compat_ro, incompat, SuperBlock};
use core::fmt;

/// Why a superblock cannot be mounted. Every variant maps to `EINVAL` in the
/// kernel, as in C btrfs, with [`fmt::Display`] as the dmesg text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuperError {
    /// The device is smaller than the primary superblock's end.
    TooSmall,
    /// No btrfs magic at 64 KiB: not a btrfs filesystem.
    BadMagic,
    /// `csum_type` has a value no btrfs knows.
    UnknownCsumType(u16),
    /// A known checksum algorithm rbtrfs does not compute.
    UnsupportedCsumType(CsumType),
    /// The checksum over the superblock does not match.
    CsumMismatch,
    /// The copy claims to live elsewhere than where it was read.
    BadBytenr(u64),
    /// Sector size not a power of two in 4K..=64K, or not the page size.
    BadSectorsize(u32),
    /// Node size not a power of two, below the sector size or above 64K.
    BadNodesize(u32),
    /// A tree root level beyond `BTRFS_MAX_LEVEL`.
    BadLevel(&'static str, u8),
    /// A tree root address not aligned to the sector size.
    Misaligned(&'static str, u64),
    /// The bootstrap chunk array length is impossible.
    BadSysArraySize(u32),
    /// `num_devices` is zero.
    NoDevices,
    /// Incompat features rbtrfs does not understand (the unsupported bits).
    UnsupportedIncompat(u64),
    /// More than one device: not supported.
    MultiDevice(u64),
    /// The embedded device item belongs to another filesystem.
    DevItemFsidMismatch,
}

impl fmt::Display for SuperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooSmall => write!(f, "device too small to hold a btrfs superblock"),
            Self::BadMagic => write!(f, "no valid btrfs superblock found (bad magic)"),
            Self::UnknownCsumType(t) => write!(f, "unsupported checksum algorithm {}", t),
            Self::UnsupportedCsumType(t) => {
                write!(f, "checksum algorithm {} is not supported by rbtrfs", t.name())
            }
            Self::CsumMismatch => write!(f, "superblock checksum mismatch"),
            Self::BadBytenr(b) => write!(f, "super_bytenr mismatch, have {} want {}", b, format::SUPER_INFO_OFFSET),
            Self::BadSectorsize(s) => write!(f, "invalid sectorsize {}", s),
            Self::BadNodesize(n) => write!(f, "invalid nodesize {}", n),
            Self::BadLevel(w, l) => write!(f, "{} level too big: {} >= {}", w, l, format::MAX_LEVEL),
            Self::Misaligned(w, b) => write!(f, "{} block unaligned: {}", w, b),
            Self::BadSysArraySize(s) => write!(f, "system chunk array too big {} > {}", s, format::SYSTEM_CHUNK_ARRAY_SIZE),
            Self::NoDevices => write!(f, "invalid number of devices 0"),
            Self::UnsupportedIncompat(bits) => {
                write!(f, "cannot mount because of unsupported optional features (0x{:x}:", bits)?;
                for (bit, name) in incompat::NAMES {
                    if bits & bit != 0 {
                        write!(f, " {}", name)?;
                    }
                }
                write!(f, ")")
            }
            Self::MultiDevice(n) => {
                write!(f, "multi-device filesystems are not supported ({} devices)", n)
            }
            Self::DevItemFsidMismatch => write!(f, "dev_item UUID does not match metadata fsid"),
        }
    }
}

/// What mount needs from a valid superblock.
#[derive(Clone, Copy, Debug)]
pub struct SuperInfo {
    /// Filesystem id.
    pub fsid: [u8; 16],
    /// Generation of the last commit.
    pub generation: u64,
    /// Checksum algorithm.
    pub csum_type: CsumType,
    /// Sector size.
    pub sectorsize: u32,
    /// Node size.
    pub nodesize: u32,
    /// Filesystem size.
    pub total_bytes: u64,
    /// Incompat features.
    pub incompat: u64,
    /// compat_ro features.
    pub compat_ro: u64,
    /// Unknown compat_ro bits: the filesystem may only be mounted read-only.
    pub unknown_compat_ro: u64,
}

/// Validates the primary superblock `buf` (at least 4096 bytes, read at
/// 64 KiB) for a kernel whose page size is `page_size`.
pub fn validate_super(buf: &[u8], page_size: u32) -> Result<SuperInfo, SuperError> {
    let sb = SuperBlock::new(buf).ok_or(SuperError::TooSmall)?;
    if sb.magic() != format::MAGIC {
        return Err(SuperError::BadMagic);
    }
    let raw_type = sb.csum_type();
    let csum_type = CsumType::from_disk(raw_type).ok_or(SuperError::UnknownCsumType(raw_type))?;
    if !csum_type.supported() {
        return Err(SuperError::UnsupportedCsumType(csum_type));
    }
    let mut csum = [0u8; 32];
    csum_type.compute(&buf[format::CSUM_SIZE..format::SUPER_INFO_SIZE], &mut csum);
    if csum[..csum_type.size()] != sb.csum()[..csum_type.size()] {
        return Err(SuperError::CsumMismatch);
    }
    if sb.bytenr() != format::SUPER_INFO_OFFSET {
        return Err(SuperError::BadBytenr(sb.bytenr()));
    }
    let ss = sb.sectorsize();
    if !ss.is_power_of_two() || !(4096..=65536).contains(&ss) || ss != page_size {
        return Err(SuperError::BadSectorsize(ss));
    }
    let ns = sb.nodesize();
    if !ns.is_power_of_two() || ns < ss || ns > 65536 {
        return Err(SuperError::BadNodesize(ns));
    }
    for (name, level) in [
        ("tree_root", sb.root_level()),
        ("chunk_root", sb.chunk_root_level()),
        ("log_root", sb.log_root_level()),
    ] {
        if level >= format::MAX_LEVEL {
            return Err(SuperError::BadLevel(name, level));
        }
    }
    for (name, bytenr) in [
        ("tree_root", sb.root()),
        ("chunk_root", sb.chunk_root()),
        ("log_root", sb.log_root()),
    ] {
        if bytenr % u64::from(ss) != 0 {
            return Err(SuperError::Misaligned(name, bytenr));
        }
    }
    if sb.sys_chunk_array_size() as usize > format::SYSTEM_CHUNK_ARRAY_SIZE {
        return Err(SuperError::BadSysArraySize(sb.sys_chunk_array_size()));
    }
    if sb.num_devices() == 0 {
        return Err(SuperError::NoDevices);
    }
    let inc = sb.incompat_flags();
    if inc & !incompat::SUPPORTED != 0 {
        return Err(SuperError::UnsupportedIncompat(inc & !incompat::SUPPORTED));
    }
    if sb.num_devices() > 1 {
        return Err(SuperError::MultiDevice(sb.num_devices()));
    }
    if sb.dev_item().fsid() != sb.fsid() {
        return Err(SuperError::DevItemFsidMismatch);
    }
    let cro = sb.compat_ro_flags();
    Ok(SuperInfo {
        fsid: *sb.fsid(),
        generation: sb.generation(),
        csum_type,
        sectorsize: ss,
        nodesize: ns,
        total_bytes: sb.total_bytes(),
        incompat: inc,
        compat_ro: cro,
        unknown_compat_ro: cro & !compat_ro::SUPPORTED,
    })
}

/// Formats a 16-byte uuid the way btrfs prints it.
pub struct Uuid<'a>(pub &'a [u8; 16]);

impl fmt::Display for Uuid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                write!(f, "-")?;
            }
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}
