// SPDX-License-Identifier: GPL-2.0

//! `/sys/fs/btrfs` (C: `fs/btrfs/sysfs.c`): the features this module
//! supports, which tools and fstests probe (`/sys/fs/btrfs/features/*`),
//! and for each mounted filesystem `/sys/fs/btrfs/<fsid>/devinfo/<devid>/fsid`,
//! which btrfs-progs 6.2 reads to tell seed devices apart (without it,
//! `btrfs filesystem usage` counts no device at all).

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
    btrfs.set_module_root();
    Ok(Sysfs { _features: features, _btrfs: btrfs })
}

/// The sysfs directory of one mounted filesystem; removed on drop.
pub(crate) struct FsSysfs {
    // Dropped in declaration order: children first.
    _dev: Dir,
    _devinfo: Dir,
    _fs: Dir,
}

/// Creates `/sys/fs/btrfs/<fsid>/devinfo/<devid>/fsid`. A second mount of
/// the same fsid (a copy of an image) gets none, as C btrfs would refuse
/// it; that and any other failure only costs the directory.
pub(crate) fn mount_dir(dev: &kernel::str::CStr, fsid: &[u8; 16], devid: u64) -> Option<FsSysfs> {
    let uuid = crate::validate::Uuid(fsid);
    let make = || -> Result<FsSysfs> {
        let name = kernel::str::CString::try_from_fmt(kernel::fmt!("{}", uuid))?;
        let fs = Dir::in_module_root(&name)?;
        let devinfo = fs.child(c_str!("devinfo"))?;
        let id = kernel::str::CString::try_from_fmt(kernel::fmt!("{}", devid))?;
        let mut d = devinfo.child(&id)?;
        let text = kernel::str::CString::try_from_fmt(kernel::fmt!("{}\n", uuid))?;
        d.add_file(c_str!("fsid"), text.as_bytes())?;
        Ok(FsSysfs { _dev: d, _devinfo: devinfo, _fs: fs })
    };
    match make() {
        Ok(s) => Some(s),
        Err(e) => {
            btrfs_warn!(dev, "no /sys/fs/btrfs/{} directory: error {}", uuid, e.to_errno());
            None
        }
    }
}
