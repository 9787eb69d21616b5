// SPDX-License-Identifier: GPL-2.0

//! `/sys/fs/btrfs` (C: `fs/btrfs/sysfs.c`): the features this module
//! supports, which tools and fstests probe (`/sys/fs/btrfs/features/*`).

#![forbid(unsafe_code)]

use crate::rfs::sysfs::Dir;
use kernel::c_str;
use kernel::prelude::*;

/// The sysfs tree; removed on drop (module unload).
pub(crate) struct Sysfs {
    // Dropped in declaration order: the child before its parent.
    _features: Dir,
    _btrfs: Dir,
}

/// Creates `/sys/fs/btrfs/features/` with one file per supported feature.
pub(crate) fn register() -> Result<Sysfs> {
    let mut btrfs = Dir::in_fs(c_str!("btrfs"))?;
    let mut features = btrfs.child(c_str!("features"))?;
    for name in [
        c_str!("mixed_backref"),
        c_str!("default_subvol"),
        c_str!("big_metadata"),
        c_str!("extended_iref"),
        c_str!("skinny_metadata"),
        c_str!("no_holes"),
        c_str!("free_space_tree"),
    ] {
        features.add_file(name, b"0\n")?;
    }
    features.add_file(c_str!("supported_checksums"), b"crc32c xxhash64\n")?;
    features.add_file(c_str!("supported_sectorsizes"), b"4096\n")?;
    features.add_file(c_str!("supported_rescue_options"), b"\n")?;
    btrfs.add_file(c_str!("rbtrfs"), b"1\n")?;
    Ok(Sysfs { _features: features, _btrfs: btrfs })
}
