// SPDX-License-Identifier: GPL-2.0

//! Kernel log messages in btrfs's own format.
//!
//! C btrfs prints `BTRFS <level> (device <dev>): <message>` (see
//! `fs/btrfs/messages.c`), or `BTRFS <level>: <message>` when no device is
//! known. fstests and users grep for exactly these, so rbtrfs prints the
//! same.

#![forbid(unsafe_code)]

/// `BTRFS error (device DEV): ...`
macro_rules! btrfs_err {
    ($dev:expr, $($arg:tt)+) => {
        $crate::rfs::print::printk($crate::rfs::print::Level::Err,
            format_args!("BTRFS error (device {}): {}", $dev, format_args!($($arg)+)))
    };
}

/// `BTRFS warning (device DEV): ...`
#[allow(unused_macros)]
macro_rules! btrfs_warn {
    ($dev:expr, $($arg:tt)+) => {
        $crate::rfs::print::printk($crate::rfs::print::Level::Warning,
            format_args!("BTRFS warning (device {}): {}", $dev, format_args!($($arg)+)))
    };
}

/// `BTRFS info (device DEV): ...`
macro_rules! btrfs_info {
    ($dev:expr, $($arg:tt)+) => {
        $crate::rfs::print::printk($crate::rfs::print::Level::Info,
            format_args!("BTRFS info (device {}): {}", $dev, format_args!($($arg)+)))
    };
}

/// `BTRFS: ...` at notice level, for messages about no particular device.
macro_rules! btrfs_notice {
    ($($arg:tt)+) => {
        $crate::rfs::print::printk($crate::rfs::print::Level::Notice,
            format_args!("BTRFS: {}", format_args!($($arg)+)))
    };
}

/// `BTRFS error: ...`, for errors before a device is known (option parsing).
macro_rules! btrfs_err_nodev {
    ($($arg:tt)+) => {
        $crate::rfs::print::printk($crate::rfs::print::Level::Err,
            format_args!("BTRFS error: {}", format_args!($($arg)+)))
    };
}
