// SPDX-License-Identifier: GPL-2.0

//! The userspace-testable core of rbtrfs.
//!
//! The kernel module compiles these same files as modules of its own crate
//! (see `rbtrfs.rs`); this crate root lets `cargo test` build them on the
//! host. Everything here uses `core` only.

#![no_std]
#![forbid(unsafe_code)]

pub mod backref;
pub mod block_cache;
pub mod block_group;
pub mod checksum;
pub mod chunk_alloc;
pub mod compression;
pub mod ctree;
pub mod ctree_write;
pub mod dir_item;
pub mod error;
pub mod delayed_ref;
pub mod extent_io;
pub mod extent_tree;
pub mod free_space_tree;
pub mod file_item;
pub mod fileattr;
pub mod format;
pub mod inode_ops;
pub mod items;
pub mod items_write;
pub mod reflink;
#[path = "mem_host.rs"]
pub mod mem;
pub mod root_tree;
pub mod snapshot;
pub mod transaction;
pub mod tree_search;
pub mod validate;
pub mod volumes;
