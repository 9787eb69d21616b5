// SPDX-License-Identifier: GPL-2.0

//! The userspace-testable core of rbtrfs.
//!
//! The kernel module compiles these same files as modules of its own crate
//! (see `rbtrfs.rs`); this crate root lets `cargo test` build them on the
//! host. Everything here uses `core` only.

#![no_std]
#![forbid(unsafe_code)]

pub mod checksum;
pub mod ctree;
pub mod ctree_write;
pub mod error;
pub mod extent_io;
pub mod format;
pub mod items;
pub mod items_write;
#[path = "mem_host.rs"]
pub mod mem;
pub mod validate;
pub mod volumes;
