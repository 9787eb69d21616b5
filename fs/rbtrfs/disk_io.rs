// SPDX-License-Identifier: GPL-2.0

//! Reading the filesystem at mount (C: `fs/btrfs/disk-io.c`).

#![forbid(unsafe_code)]

use crate::format;
use crate::rfs::errno;
use crate::rfs::fs::{BlockDevice, NewSuperBlock, StatFs, SuperBlock};
use crate::super_::Btrfs;
use crate::validate::{validate_super, SuperError, Uuid};
use kernel::prelude::*;

/// Block size used to read the superblock through the buffer cache.
const SUPER_READ_BLOCK: u32 = format::SUPER_INFO_SIZE as u32;

/// The page size btrfs requires the sector size to match.
const PAGE_SIZE: u32 = kernel::page::PAGE_SIZE as u32;

/// The mounted filesystem (C: `struct btrfs_fs_info`).
pub(crate) struct FsInfo {
    /// Sector size (data block size).
    pub(crate) sectorsize: u32,
}

/// `statfs` (C: `btrfs_statfs`).
pub(crate) fn statfs(sb: &SuperBlock<Btrfs>) -> Result<StatFs> {
    Ok(StatFs { block_size: u64::from(sb.data().sectorsize), name_len: 255, ..StatFs::default() })
}

/// Reads and validates the primary superblock, then opens the trees.
///
/// Every refusal is `EINVAL` with a `BTRFS error (device ...)` line naming
/// the problem, as C btrfs does.
pub(crate) fn open_ctree(sb: &NewSuperBlock<'_>) -> Result<KBox<FsInfo>> {
    let dev = sb.id();
    if sb.set_block_size(SUPER_READ_BLOCK).is_err() {
        btrfs_err!(dev, "unable to set blocksize {}", SUPER_READ_BLOCK);
        return Err(EINVAL);
    }
    if sb.device_size() < format::SUPER_INFO_OFFSET + format::SUPER_INFO_SIZE as u64 {
        btrfs_err!(dev, "{}", SuperError::TooSmall);
        return Err(EINVAL);
    }
    let bh = match sb.bread(format::SUPER_INFO_OFFSET / u64::from(SUPER_READ_BLOCK)) {
        Ok(bh) => bh,
        Err(e) => {
            btrfs_err!(dev, "unable to read superblock: error {}", e.to_errno());
            return Err(e);
        }
    };
    let info = match validate_super(bh.data(), PAGE_SIZE) {
        Ok(info) => info,
        Err(e) => {
            btrfs_err!(dev, "{}", e);
            return Err(EINVAL);
        }
    };
    drop(bh);
    btrfs_info!(dev, "first mount of filesystem {}", Uuid(&info.fsid));
    btrfs_info!(dev, "using {} checksum algorithm", info.csum_type.name());
    if info.unknown_compat_ro != 0 && !sb.is_read_only() {
        btrfs_err!(dev,
            "cannot mount read-write because of unknown compat_ro features (0x{:x})",
            info.unknown_compat_ro);
        return Err(EINVAL);
    }
    btrfs_err!(dev, "open_ctree failed: reading the trees is not implemented yet");
    Err(errno::eopnotsupp())
}
