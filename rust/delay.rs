// SPDX-License-Identifier: GPL-2.0

//! Sleeping delays.

use super::bindings;

/// Sleeps for at least `ms` milliseconds (`msleep`). Must not be called in
/// atomic context; `might_sleep` checks that on debug kernels.
pub fn msleep(ms: u32) {
    // SAFETY: `msleep` may be called from any sleepable context; the debug
    // check in `might_sleep` reports misuse instead of corrupting state.
    unsafe {
        bindings::rbtrfs_might_sleep();
        bindings::msleep(ms);
    }
}
