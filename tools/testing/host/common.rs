// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by the host tests: scratch images made by the host's mkfs.btrfs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let base = std::env::var_os("CARGO_TARGET_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("rbtrfs-{}-{}", tag, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs mkfs.btrfs on a new sparse image `name` of `size` bytes in `dir`.
pub fn mkfs(dir: &Path, name: &str, size: u64, extra: &[&str]) -> PathBuf {
    let img = dir.join(name);
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(size).unwrap();
    let out = Command::new("mkfs.btrfs").arg("-f").arg("-q").args(extra).arg(&img).output()
        .expect("mkfs.btrfs must be installed (tools/testing/setup-deps.sh)");
    assert!(out.status.success(), "mkfs.btrfs failed: {}", String::from_utf8_lossy(&out.stderr));
    img
}

/// Runs a btrfs-progs command and returns its stdout.
pub fn btrfs(args: &[&str]) -> String {
    let out = Command::new("btrfs").args(args).output().unwrap();
    assert!(out.status.success(), "btrfs {:?}: {}", args, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Reads the 4096-byte primary superblock of an image.
pub fn read_super(img: &Path) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(65536)).unwrap();
    let mut buf = vec![0u8; 4096];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// The value of `field` in `btrfs inspect-internal dump-super` output.
pub fn dump_field<'a>(dump: &'a str, field: &str) -> &'a str {
    dump.lines()
        .find_map(|l| {
            let mut it = l.splitn(2, char::is_whitespace);
            (it.next() == Some(field)).then(|| it.next().unwrap_or("").trim())
        })
        .unwrap_or_else(|| panic!("{} not in dump-super output", field))
}

/// Deterministic pseudo-random numbers (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 32) as u8).collect()
    }
}
