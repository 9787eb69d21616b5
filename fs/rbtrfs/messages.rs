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

/// A message rate limit, per filesystem (C: `btrfs_*_rl` use the default
/// ratelimit: 10 messages per 5 seconds). Races between CPUs may let a
/// message more or less through; that is harmless.
pub(crate) struct RateLimit {
    window_start_ms: core::sync::atomic::AtomicU64,
    printed: core::sync::atomic::AtomicU32,
    suppressed: core::sync::atomic::AtomicU32,
}

impl RateLimit {
    const INTERVAL_MS: u64 = 5000;
    const BURST: u32 = 10;

    /// A limiter with a fresh budget.
    pub(crate) const fn new() -> Self {
        use core::sync::atomic::{AtomicU32, AtomicU64};
        Self { window_start_ms: AtomicU64::new(0), printed: AtomicU32::new(0), suppressed: AtomicU32::new(0) }
    }

    /// Whether a message may be printed now; returns how many were
    /// suppressed since the last one printed, to report.
    pub(crate) fn allow(&self) -> Option<u32> {
        use core::sync::atomic::Ordering::Relaxed;
        let now = crate::rfs::time::now_ms();
        let start = self.window_start_ms.load(Relaxed);
        if start == 0 || now.wrapping_sub(start) >= Self::INTERVAL_MS {
            self.window_start_ms.store(now.max(1), Relaxed);
            self.printed.store(0, Relaxed);
        }
        if self.printed.fetch_add(1, Relaxed) < Self::BURST {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Rate-limited `btrfs_err!`: `btrfs_err_rl!(limiter, dev, ...)`.
macro_rules! btrfs_err_rl {
    ($rl:expr, $dev:expr, $($arg:tt)+) => {
        if let Some(n) = $rl.allow() {
            if n > 0 {
                btrfs_err!($dev, "{} messages suppressed", n);
            }
            btrfs_err!($dev, $($arg)+);
        }
    };
}

/// Rate-limited `btrfs_warn!`: `btrfs_warn_rl!(limiter, dev, ...)`.
macro_rules! btrfs_warn_rl {
    ($rl:expr, $dev:expr, $($arg:tt)+) => {
        if let Some(n) = $rl.allow() {
            if n > 0 {
                btrfs_warn!($dev, "{} messages suppressed", n);
            }
            btrfs_warn!($dev, $($arg)+);
        }
    };
}
