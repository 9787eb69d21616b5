// SPDX-License-Identifier: GPL-2.0
//! Inode attribute flags (`fileattr`): the FS_*_FL mapping, C's checks and
//! the rules for NOCOW and compression, case by case.

use rbtrfs_core::error::{EINVAL, EOPNOTSUPP};
use rbtrfs_core::fileattr::{check, fs_fl, mask_for_kind, set, to_fsflags, vfs_flags, Kind, Prop, RO_VERITY};
use rbtrfs_core::items::inode_flag as f;

#[test]
fn flags_map_both_ways() {
    let all = f::SYNC | f::IMMUTABLE | f::APPEND | f::NODUMP | f::NOATIME | f::DIRSYNC | f::NODATACOW;
    assert_eq!(
        to_fsflags(all | f::NODATASUM | f::PREALLOC),
        fs_fl::SYNC | fs_fl::IMMUTABLE | fs_fl::APPEND | fs_fl::NODUMP | fs_fl::NOATIME | fs_fl::DIRSYNC | fs_fl::NOCOW
    );
    // NOCOMPRESS wins over COMPRESS, as in C.
    assert_eq!(to_fsflags(f::COMPRESS | f::NOCOMPRESS), fs_fl::NOCOMP);
    assert_eq!(to_fsflags(f::COMPRESS), fs_fl::COMPR);
    assert_eq!(to_fsflags(RO_VERITY), fs_fl::VERITY);
    assert_eq!(vfs_flags(f::IMMUTABLE | f::NOATIME), (false, true, false, true, false));
}

#[test]
fn checks_as_c() {
    assert_eq!(check(0, fs_fl::VERITY), Err(EOPNOTSUPP));
    assert_eq!(check(0, 0x8000_0000), Err(EOPNOTSUPP));
    assert_eq!(check(0, fs_fl::COMPR | fs_fl::NOCOMP), Err(EINVAL));
    assert_eq!(check(0, fs_fl::COMPR | fs_fl::NOCOW), Err(EINVAL));
    assert_eq!(check(fs_fl::NOCOW, fs_fl::NOCOMP), Err(EINVAL));
    assert_eq!(check(fs_fl::COMPR, fs_fl::NOCOW), Err(EINVAL));
    assert_eq!(check(fs_fl::NOCOW, fs_fl::NOCOW | fs_fl::IMMUTABLE), Ok(()));
    assert_eq!(mask_for_kind(Kind::Reg { size: 1 }, fs_fl::DIRSYNC | fs_fl::SYNC), fs_fl::SYNC);
    assert_eq!(mask_for_kind(Kind::Other, fs_fl::IMMUTABLE | fs_fl::NODUMP), fs_fl::NODUMP);
}

#[test]
fn set_rules() {
    // Plain flags on and off; other bits (PREALLOC, NODATASUM of a file
    // with data) stay.
    let (n, p) = set(f::PREALLOC, fs_fl::IMMUTABLE | fs_fl::APPEND, true, Kind::Reg { size: 10 }).unwrap();
    assert_eq!(n, f::PREALLOC | f::IMMUTABLE | f::APPEND);
    assert_eq!(p, Some(Prop::Remove));
    let (n, _) = set(n, 0, true, Kind::Reg { size: 10 }).unwrap();
    assert_eq!(n, f::PREALLOC);
    // NOCOW: only on an empty file, with NODATASUM; kept on a non-empty one.
    assert_eq!(set(0, fs_fl::NOCOW, true, Kind::Reg { size: 0 }).unwrap().0, f::NODATACOW | f::NODATASUM);
    assert_eq!(set(0, fs_fl::NOCOW, true, Kind::Reg { size: 1 }).unwrap().0, 0);
    let nocow = f::NODATACOW | f::NODATASUM;
    assert_eq!(set(nocow, 0, true, Kind::Reg { size: 1 }).unwrap().0, nocow);
    assert_eq!(set(nocow, 0, true, Kind::Reg { size: 0 }).unwrap().0, 0);
    assert_eq!(set(0, fs_fl::NOCOW, true, Kind::Dir).unwrap().0, f::NODATACOW);
    // Compression flags and the property.
    assert_eq!(set(0, fs_fl::COMPR, true, Kind::Reg { size: 5 }).unwrap(), (f::COMPRESS, Some(Prop::Set(b"zlib"))));
    assert_eq!(set(f::COMPRESS, fs_fl::NOCOMP, true, Kind::Dir).unwrap(), (f::NOCOMPRESS, Some(Prop::Remove)));
    // From FSSETXATTR: only the shared flags change, no property.
    assert_eq!(set(f::DIRSYNC | f::COMPRESS, fs_fl::NOATIME, false, Kind::Dir).unwrap(), (f::DIRSYNC | f::COMPRESS | f::NOATIME, None));
    // Non-files keep only NODUMP/NOATIME of what is asked.
    assert_eq!(set(0, fs_fl::IMMUTABLE | fs_fl::NODUMP, true, Kind::Other).unwrap().0, f::NODUMP);
}
