// SPDX-License-Identifier: GPL-2.0

//! rbtrfs's kernel abstractions.
//!
//! Linux 6.12's `kernel` crate has no VFS, buffer-head, page-cache,
//! writeback, iomap, rw-semaphore, delayed-work or `GFP_NOFS`-scope
//! abstractions. This directory adds the ones rbtrfs needs, in
//! the style of `rust/kernel`: all `unsafe` lives here behind small safe APIs,
//! each `unsafe` block says why it is sound, and `fs/rbtrfs` uses only the
//! safe API (its files `#![forbid(unsafe_code)]`).
//!
//! C reaches Rust through our own bindgen step over `bindings_helper.h`
//! ([`bindings`]), and through `helpers.c` for `static inline` functions and
//! macros, linked into the same module.

pub mod acl;
pub mod bindings;
pub mod bio;
pub mod block;
pub mod compress;
pub mod delay;
pub mod errno;
pub mod fiemap;
pub mod folio;
pub mod fs;
pub mod inode;
pub mod ioctl;
pub mod nofs;
pub mod print;
pub mod remap;
pub mod rwsem;
pub mod sysfs;
pub mod time;
pub mod vec;
pub mod workqueue;
