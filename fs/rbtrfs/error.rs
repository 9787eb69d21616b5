// SPDX-License-Identifier: GPL-2.0

//! Error numbers of the read-write core.
//!
//! The core builds both into the module and into the host tests, so it
//! cannot use `kernel::error::Error`. [`Errno`] carries the same positive
//! errno value; the module converts it at the VFS boundary.

#![forbid(unsafe_code)]

use crate::ctree::TreeError;
use core::fmt;

/// A positive errno value (`EIO` is `Errno(5)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

/// `-EPERM`.
pub const EPERM: Errno = Errno(1);
/// `-ENOENT`.
pub const ENOENT: Errno = Errno(2);
/// `-EIO`.
pub const EIO: Errno = Errno(5);
/// `-E2BIG`.
pub const E2BIG: Errno = Errno(7);
/// `-ENOMEM`.
pub const ENOMEM: Errno = Errno(12);
/// `-EEXIST`.
pub const EEXIST: Errno = Errno(17);
/// `-EXDEV`.
pub const EXDEV: Errno = Errno(18);
/// `-ENOTDIR`.
pub const ENOTDIR: Errno = Errno(20);
/// `-EISDIR`.
pub const EISDIR: Errno = Errno(21);
/// `-EINVAL`.
pub const EINVAL: Errno = Errno(22);
/// `-EFBIG`.
pub const EFBIG: Errno = Errno(27);
/// `-ENOSPC`.
pub const ENOSPC: Errno = Errno(28);
/// `-EROFS`.
pub const EROFS: Errno = Errno(30);
/// `-EMLINK`.
pub const EMLINK: Errno = Errno(31);
/// `-ERANGE`.
pub const ERANGE: Errno = Errno(34);
/// `-ENAMETOOLONG`.
pub const ENAMETOOLONG: Errno = Errno(36);
/// `-ENOTEMPTY`.
pub const ENOTEMPTY: Errno = Errno(39);
/// `-ENODATA`.
pub const ENODATA: Errno = Errno(61);
/// `-EOVERFLOW`.
pub const EOVERFLOW: Errno = Errno(75);
/// `-EOPNOTSUPP`.
pub const EOPNOTSUPP: Errno = Errno(95);
/// `-EUCLEAN`: the filesystem is corrupt.
pub const EUCLEAN: Errno = Errno(117);
/// `-EDQUOT`.
pub const EDQUOT: Errno = Errno(122);

/// A result of the core.
pub type Result<T = ()> = core::result::Result<T, Errno>;

impl From<TreeError> for Errno {
    fn from(_: TreeError) -> Self {
        EUCLEAN
    }
}

impl From<crate::mem::NoMem> for Errno {
    fn from(_: crate::mem::NoMem) -> Self {
        ENOMEM
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno {}", self.0)
    }
}
