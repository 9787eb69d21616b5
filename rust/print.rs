// SPDX-License-Identifier: GPL-2.0

//! printk with a caller-chosen prefix.
//!
//! `kernel::pr_err!` prefixes every line with the module name. fstests and
//! users grep dmesg for btrfs's own format, `BTRFS error (device vda): ...`,
//! so the filesystem formats the whole line itself and prints it here with
//! `%pA` (the kernel's printer for Rust `fmt::Arguments`).

use super::bindings;
use core::fmt;

/// A printk log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `KERN_ERR`
    Err,
    /// `KERN_WARNING`
    Warning,
    /// `KERN_NOTICE`
    Notice,
    /// `KERN_INFO`
    Info,
    /// `KERN_DEBUG`
    Debug,
}

impl Level {
    fn format(self) -> &'static [u8] {
        // KERN_SOH, the level digit, then the Rust arguments.
        match self {
            Level::Err => b"\x013%pA\n\0",
            Level::Warning => b"\x014%pA\n\0",
            Level::Notice => b"\x015%pA\n\0",
            Level::Info => b"\x016%pA\n\0",
            Level::Debug => b"\x017%pA\n\0",
        }
    }
}

/// Prints one line at `level`, exactly as formatted by `args`.
pub fn printk(level: Level, args: fmt::Arguments<'_>) {
    // SAFETY: The format string is NUL terminated and has exactly one
    // conversion, `%pA`, whose argument is a pointer to a live
    // `fmt::Arguments`, as `rust_fmt_argument` in lib/vsprintf.c expects.
    unsafe {
        bindings::_printk(
            level.format().as_ptr().cast(),
            core::ptr::from_ref(&args).cast::<core::ffi::c_void>(),
        );
    }
}
