// SPDX-License-Identifier: GPL-2.0

//! rbtrfs: a btrfs-compatible filesystem in Rust.
//!
//! This is the module's crate root. It registers filesystem type `btrfs`
//! (module alias `fs-btrfs`). The abstractions over the kernel's C API live
//! in `rust/` (module [`rfs`]); everything under `fs/rbtrfs/` is safe Rust
//! and each of its files says so with `#![forbid(unsafe_code)]`.
//!
//! `checksum`, `format` and `validate` are the userspace-testable core: the
//! host crate (`core.rs`, `cargo test`) compiles the very same files.

#[path = "../../rust/rfs.rs"]
pub mod rfs;

#[macro_use]
mod messages;

mod acl;
pub mod backref;
pub mod block_cache;
pub mod block_group;
pub mod checksum;
pub mod chunk_alloc;
pub mod compression;
pub mod ctree;
pub mod ctree_write;
mod disk_io;
pub mod dir_item;
pub mod error;
pub mod delayed_ref;
pub mod extent_io;
pub mod extent_tree;
pub mod free_space_tree;
mod file;
pub mod file_item;
pub mod fileattr;
pub mod format;
mod inode;
mod ioctl;
mod ioctl_fs;
pub mod inode_ops;
pub mod items;
pub mod items_write;
pub mod reflink;
/// The core's fallible vectors: `rfs::vec` in the module.
pub mod mem {
    pub use crate::rfs::vec::{NoMem, Vec};
}
pub mod snapshot;
mod subvol;
#[path = "super.rs"]
mod super_;
mod sysfs;
pub mod root_tree;
pub mod transaction;
pub mod tree_search;
pub mod validate;
pub mod volumes;
mod xattr;

use kernel::prelude::*;

module! {
    type: Rbtrfs,
    name: "rbtrfs",
    author: "rbtrfs developers",
    description: "btrfs-compatible filesystem in Rust",
    license: "GPL",
    alias: ["fs-btrfs"],
}

struct Rbtrfs {
    // Dropped in order: the filesystem type first, then sysfs.
    _fs: rfs::fs::Registration,
    _sysfs: sysfs::Sysfs,
}

impl kernel::Module for Rbtrfs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let sysfs = sysfs::register()?;
        let fs = super_::register(module)?;
        btrfs_notice!("rbtrfs loaded, crc32c=rust, xxhash64=rust, features: {}", super_::FEATURES);
        Ok(Rbtrfs { _fs: fs, _sysfs: sysfs })
    }
}
