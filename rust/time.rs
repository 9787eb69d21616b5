// SPDX-License-Identifier: GPL-2.0

//! A monotonic clock in milliseconds (`jiffies`).

use super::bindings;

/// Milliseconds since boot, at jiffies resolution (wraps after ~49 days,
/// callers compare with `wrapping_sub`).
pub fn now_ms() -> u64 {
    // SAFETY: Reading `jiffies` has no preconditions.
    unsafe { bindings::rbtrfs_jiffies_ms() }
}
