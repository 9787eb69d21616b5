// SPDX-License-Identifier: GPL-2.0

//! Error codes a filesystem needs that `kernel::error::code` lacks in 6.12.
//!
//! Each is a function returning the [`Error`]; the values come from the
//! kernel's own `errno.h` through our bindings.

use super::bindings;
use kernel::error::Error;

macro_rules! errno_fns {
    ($($(#[$m:meta])* $name:ident => $code:ident,)*) => {$(
        $(#[$m])*
        #[inline]
        pub fn $name() -> Error {
            Error::from_errno(-(bindings::$code as i32))
        }
    )*};
}

errno_fns! {
    /// `EOPNOTSUPP`: operation not supported.
    eopnotsupp => EOPNOTSUPP,
    /// `EUCLEAN`: structure needs cleaning (corrupt metadata).
    euclean => EUCLEAN,
    /// `EDQUOT`: quota exceeded.
    edquot => EDQUOT,
    /// `ENODATA`: no such attribute.
    enodata => ENODATA,
    /// `ENAMETOOLONG`: name too long.
    enametoolong => ENAMETOOLONG,
    /// `ENOTEMPTY`: directory not empty.
    enotempty => ENOTEMPTY,
    /// `EOVERFLOW`: value too large.
    eoverflow => EOVERFLOW,
    /// `ESTALE`: stale file handle.
    estale => ESTALE,
    /// `ECANCELED`: operation canceled.
    ecanceled => ECANCELED,
}
