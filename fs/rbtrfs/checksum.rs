// SPDX-License-Identifier: GPL-2.0

//! Checksums used on disk by btrfs: crc32c (the default) and xxhash64.
//!
//! Pure Rust, `core` only, so the same source builds into the kernel module
//! and into the host test crate. sha256 and blake2b are recognised by
//! [`CsumType`] but not computed here.

#![forbid(unsafe_code)]

/// The checksum algorithm recorded in the superblock (`csum_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsumType {
    /// `BTRFS_CSUM_TYPE_CRC32`: crc32c (Castagnoli), 4 bytes.
    Crc32c,
    /// `BTRFS_CSUM_TYPE_XXHASH`: xxhash64 with seed 0, 8 bytes.
    Xxhash64,
    /// `BTRFS_CSUM_TYPE_SHA256`, 32 bytes.
    Sha256,
    /// `BTRFS_CSUM_TYPE_BLAKE2`: blake2b-256, 32 bytes.
    Blake2b,
}

impl CsumType {
    /// Decodes the on-disk `csum_type`; `None` for an unknown value.
    pub fn from_disk(v: u16) -> Option<Self> {
        match v {
            0 => Some(Self::Crc32c),
            1 => Some(Self::Xxhash64),
            2 => Some(Self::Sha256),
            3 => Some(Self::Blake2b),
            _ => None,
        }
    }

    /// The name btrfs-progs and the C implementation print.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32c => "crc32c",
            Self::Xxhash64 => "xxhash64",
            Self::Sha256 => "sha256",
            Self::Blake2b => "blake2b",
        }
    }

    /// Bytes of checksum stored for one block.
    pub fn size(self) -> usize {
        match self {
            Self::Crc32c => 4,
            Self::Xxhash64 => 8,
            Self::Sha256 | Self::Blake2b => 32,
        }
    }

    /// Whether this crate can compute the checksum.
    pub fn supported(self) -> bool {
        matches!(self, Self::Crc32c | Self::Xxhash64)
    }

    /// Computes the checksum of `data` into `out[..self.size()]`, the layout
    /// btrfs stores (little-endian, zero padded to 32 bytes by the caller).
    /// Returns `false` for an algorithm this crate does not compute.
    pub fn compute(self, data: &[u8], out: &mut [u8; 32]) -> bool {
        *out = [0; 32];
        match self {
            Self::Crc32c => out[..4].copy_from_slice(&crc32c(data).to_le_bytes()),
            Self::Xxhash64 => out[..8].copy_from_slice(&xxhash64(data, 0).to_le_bytes()),
            Self::Sha256 | Self::Blake2b => return false,
        }
        true
    }
}

const CRC32C_POLY_REFLECTED: u32 = 0x82f6_3b78;

/// Slicing-by-8 tables, built at compile time.
static CRC32C_TABLES: [[u32; 256]; 8] = crc32c_tables();

const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ CRC32C_POLY_REFLECTED } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

/// Raw crc32c update as the kernel's `crc32c(seed, data, len)`: no pre or
/// post inversion. btrfs's name hash is `crc32c_raw(!1, name)`.
pub fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    let t = &CRC32C_TABLES;
    let mut crc = seed;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// Standard crc32c of `data`: what btrfs stores as a block checksum.
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_raw(!0, data)
}

/// btrfs's directory name hash (`btrfs_name_hash`).
pub fn name_hash(name: &[u8]) -> u32 {
    crc32c_raw(!1, name)
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn rd64(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn xx_round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

fn xx_merge(acc: u64, val: u64) -> u64 {
    (acc ^ xx_round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

/// xxhash64 (XXH64) of `data` with `seed`.
pub fn xxhash64(data: &[u8], seed: u64) -> u64 {
    let len = data.len() as u64;
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while rest.len() >= 32 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = xx_round(*lane, rd64(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = xx_merge(h, lane);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(len);
    while rest.len() >= 8 {
        h ^= xx_round(0, rd64(rest));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        let w = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        h ^= w.wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &b in rest {
        h ^= (b as u64).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}
