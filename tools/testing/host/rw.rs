// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by the read-write host tests: an image file as the
//! commit's device, opening an image for writing, and `btrfs check`.

#![allow(dead_code)]

use crate::image::Image;
use rbtrfs_core::error::{Result as CResult, EIO};
use rbtrfs_core::mem;
use rbtrfs_core::transaction::{Device, FsState};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path as FsPath;
use std::process::Command;

/// The image file as a device.
pub struct FileDev(pub File);

impl Device for FileDev {
    fn write_at(&self, physical: u64, data: &[u8]) -> CResult {
        self.0.write_all_at(data, physical).map_err(|_| EIO)
    }
    fn flush(&self) -> CResult {
        self.0.sync_data().map_err(|_| EIO)
    }
    fn size(&self) -> u64 {
        self.0.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

/// Opens `img` for writing: the reader, the writable state, the device.
pub fn open_rw(img: &FsPath) -> (Image, FsState, FileDev) {
    let image = Image::open(img);
    let mut chunks = mem::Vec::new();
    for c in &image.chunks {
        chunks.push(*c).unwrap();
    }
    let fs = FsState::open(&image, &image.sb, chunks, true).unwrap_or_else(|e| panic!("open rw: {:?}", e));
    let dev = FileDev(OpenOptions::new().write(true).open(img).unwrap());
    (image, fs, dev)
}

/// `btrfs check --readonly [EXTRA]` must find `img` clean.
pub fn btrfs_check_with(img: &FsPath, extra: &[&str]) {
    let out = Command::new("btrfs").args(["check", "--readonly"]).args(extra).arg(img).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && !text.contains("ERROR") && text.contains("no error found"),
        "btrfs check failed:\n{}",
        text
    );
    if std::env::var_os("RBTRFS_SHOW_CHECK").is_some() {
        eprintln!("{}", text);
    }
}

/// `btrfs check --readonly` must find `img` clean.
pub fn btrfs_check(img: &FsPath) {
    btrfs_check_with(img, &[]);
}
