// SPDX-License-Identifier: GPL-2.0

//! Compressed file extents (C: `compression.c`, and the decompress halves
//! of `zlib.c`, `lzo.c` and `zstd.c`).
//!
//! # The format
//!
//! A file extent item with `compression` 1 (zlib), 2 (lzo) or 3 (zstd)
//! holds compressed data:
//! - *regular*: `disk_bytenr`/`disk_num_bytes` are the compressed bytes on
//!   disk (sector aligned, zero padded); `ram_bytes` is the size of the
//!   whole extent once decompressed (at most [`MAX_UNCOMPRESSED`]); the
//!   item maps `[offset, offset + num_bytes)` of the *decompressed* data.
//!   Splitting or trimming an item changes only `offset`/`num_bytes`: the
//!   disk extent is always read, and freed, whole. Data checksums cover
//!   the compressed on-disk sectors.
//! - *inline*: the item's inline data is the compressed stream, and
//!   `ram_bytes` its decompressed length (up to a whole sector: C btrfs
//!   inlines a file of up to one sector whose compressed form fits).
//!
//! The streams:
//! - zlib: one zlib stream (RFC 1950);
//! - zstd: one zstd frame, with a window of at most [`ZSTD_MAX_WINDOW`];
//! - lzo: btrfs's own framing ([`lzo_decompress`]) around LZO1X segments
//!   of at most one sector of data each.
//!
//! rbtrfs reads all three and never writes compressed extents (the
//! `compress=` mount options are accepted and ignored). The codecs
//! themselves are the kernel's ([`Decompressors`], implemented over
//! `rust/compress.rs`); this file has only the format, so it builds and is
//! tested on the host with made-up codecs.

#![forbid(unsafe_code)]

use crate::items::compression;
use crate::mem::Vec;

/// Largest compressed extent on disk (C: `BTRFS_MAX_COMPRESSED`).
pub const MAX_COMPRESSED: u64 = 128 << 10;
/// Largest decompressed extent (C: `BTRFS_MAX_UNCOMPRESSED`).
pub const MAX_UNCOMPRESSED: u64 = 128 << 10;
/// Largest zstd window btrfs writes (C: `ZSTD_BTRFS_MAX_WINDOWLOG` 17).
pub const ZSTD_MAX_WINDOW: usize = 1 << 17;

/// Bytes of an LZO length field (the total, and each segment's).
const LZO_LEN: usize = 4;

/// Why compressed data could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecompressError {
    /// No memory for a buffer or a codec's workspace.
    NoMem,
    /// The compression type is not one btrfs defines.
    UnknownType(u8),
    /// The codec rejected the stream (or it ended early); `code` is the
    /// codec's own error code.
    Codec {
        /// The compression type.
        kind: u8,
        /// The codec's error code (0: the stream just stopped).
        code: i32,
    },
    /// The LZO total length does not fit the compressed data.
    LzoHeader {
        /// The total length the header claims.
        len: u32,
        /// The compressed bytes there are.
        compressed: usize,
    },
    /// An LZO segment header is cut off, too long, or runs past the data.
    LzoSegment {
        /// Where its header is.
        at: usize,
        /// The length it claims.
        len: u32,
    },
    /// Inline data decoded to fewer bytes than `ram_bytes`.
    Short {
        /// Bytes decoded.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
}

impl DecompressError {
    /// The errno a read reports: `ENOMEM` or `EIO`.
    pub fn errno(&self) -> crate::error::Errno {
        match self {
            DecompressError::NoMem => crate::error::ENOMEM,
            _ => crate::error::EIO,
        }
    }
}

/// The name C btrfs gives a compression type.
pub fn type_name(kind: u8) -> &'static str {
    match kind {
        compression::NONE => "none",
        compression::ZLIB => "zlib",
        compression::LZO => "lzo",
        compression::ZSTD => "zstd",
        _ => "unknown",
    }
}

impl core::fmt::Display for DecompressError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            DecompressError::NoMem => write!(f, "out of memory decompressing"),
            DecompressError::UnknownType(t) => write!(f, "unknown compression type {}", t),
            DecompressError::Codec { kind, code } => {
                write!(f, "{} decompression failed, error {}", type_name(kind), code)
            }
            DecompressError::LzoHeader { len, compressed } => {
                write!(f, "lzo header invalid, lzo len {} compressed len {}", len, compressed)
            }
            DecompressError::LzoSegment { at, len } => {
                write!(f, "lzo segment invalid at {} len {}", at, len)
            }
            DecompressError::Short { got, want } => {
                write!(f, "decompressed {} bytes, expected {}", got, want)
            }
        }
    }
}

/// The raw codecs: each decodes one stream from `src` into `dst` and
/// returns how many bytes it wrote, stopping when `dst` is full. zlib and
/// zstd ignore input after the end of their stream (the zero padding of
/// the last sector); LZO1X gets exactly one segment.
pub trait Decompressors {
    /// A zlib stream (RFC 1950).
    fn zlib(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, DecompressError>;
    /// One LZO1X segment, all of `src`.
    fn lzo1x(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, DecompressError>;
    /// A zstd frame, window at most [`ZSTD_MAX_WINDOW`].
    fn zstd(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, DecompressError>;
}

/// The most an LZO1X segment of one sector can take (C:
/// `lzo1x_worst_compress(sectorsize)`).
fn lzo_worst(sectorsize: usize) -> usize {
    sectorsize + sectorsize / 16 + 64 + 3 + 2
}

fn le32(src: &[u8], at: usize) -> Option<u32> {
    let b = src.get(at..at.checked_add(LZO_LEN)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decodes btrfs's LZO framing (C: `lzo_decompress_bio`): a LE32 total
/// length (itself included), then segments, each a LE32 length and that
/// many bytes of LZO1X data decoding to at most a sector. A segment header
/// never straddles a sector boundary: when fewer than 4 bytes are left in
/// the sector, they are padding and the next header starts the next
/// sector. `segment` decodes one segment into the rest of `dst` (or,
/// when less than a sector of `dst` is left, into a buffer aside).
///
/// Returns the bytes written to `dst`, which stops early when `dst` is
/// full. A total length past `src` or [`MAX_COMPRESSED`], or one leaving
/// whole sectors of `src` unused, and any segment running past `src`, are
/// errors; so is whatever `segment` reports.
pub fn lzo_decompress(
    src: &[u8],
    dst: &mut [u8],
    sectorsize: u32,
    mut segment: impl FnMut(&[u8], &mut [u8]) -> Result<usize, DecompressError>,
) -> Result<usize, DecompressError> {
    let ss = (sectorsize as usize).max(LZO_LEN);
    let total = le32(src, 0).ok_or(DecompressError::LzoHeader { len: 0, compressed: src.len() })?;
    let len_in = total as usize;
    if len_in > src.len() || len_in as u64 > MAX_COMPRESSED || len_in.div_ceil(ss) * ss < src.len() {
        return Err(DecompressError::LzoHeader { len: total, compressed: src.len() });
    }
    let mut cur = LZO_LEN;
    let mut out = 0usize;
    let mut scratch: Vec<u8> = Vec::new();
    while cur < len_in && out < dst.len() {
        let seg_len = le32(src, cur).ok_or(DecompressError::LzoSegment { at: cur, len: 0 })?;
        let bad = DecompressError::LzoSegment { at: cur, len: seg_len };
        let data_at = cur + LZO_LEN;
        let data_end = data_at.checked_add(seg_len as usize).ok_or(bad)?;
        if seg_len as usize > lzo_worst(ss) || data_end > src.len() {
            return Err(bad);
        }
        let seg = src.get(data_at..data_end).ok_or(bad)?;
        let room = dst.get_mut(out..).ok_or(bad)?;
        let n = if room.len() >= ss {
            segment(seg, room)?
        } else {
            // The last bytes wanted: decode the segment aside (it may hold
            // more) and keep what fits, as C does.
            if scratch.is_empty() {
                scratch.resize(lzo_worst(ss), 0).map_err(|_| DecompressError::NoMem)?;
            }
            let n = segment(seg, &mut scratch)?.min(room.len());
            room.get_mut(..n).ok_or(bad)?.copy_from_slice(scratch.get(..n).ok_or(bad)?);
            n
        };
        out = out.saturating_add(n).min(dst.len());
        cur = data_end;
        let left = ss - cur % ss;
        if left < LZO_LEN {
            cur += left;
        }
    }
    Ok(out)
}

/// Decodes `src`, compressed with `kind`, into `dst` with the codecs of
/// `raw`. Returns the bytes written (at most `dst.len()`; fewer if the
/// stream holds less).
pub fn decompress(
    kind: u8,
    src: &[u8],
    dst: &mut [u8],
    sectorsize: u32,
    raw: &impl Decompressors,
) -> Result<usize, DecompressError> {
    let n = match kind {
        compression::ZLIB => raw.zlib(src, dst)?,
        compression::LZO => lzo_decompress(src, dst, sectorsize, |s, d| raw.lzo1x(s, d))?,
        compression::ZSTD => raw.zstd(src, dst)?,
        t => return Err(DecompressError::UnknownType(t)),
    };
    Ok(n.min(dst.len()))
}

/// Decodes a whole compressed regular extent (`src`: its `disk_num_bytes`
/// on-disk bytes) into `dst` (`ram_bytes` long). A stream that decodes to
/// less leaves zeroes after it, as C btrfs does (`zero_fill_bio`).
pub fn decompress_extent(
    kind: u8,
    src: &[u8],
    dst: &mut [u8],
    sectorsize: u32,
    raw: &impl Decompressors,
) -> Result<(), DecompressError> {
    let n = decompress(kind, src, dst, sectorsize, raw)?;
    if let Some(rest) = dst.get_mut(n..) {
        rest.fill(0);
    }
    Ok(())
}

/// Decodes the compressed inline data `src` to exactly `ram_bytes` bytes
/// (C: `uncompress_inline`, where an early end is an error). `ram_bytes`
/// above a sector is corrupt.
pub fn decompress_inline(
    kind: u8,
    src: &[u8],
    ram_bytes: u64,
    sectorsize: u32,
    raw: &impl Decompressors,
) -> Result<Vec<u8>, DecompressError> {
    if ram_bytes > u64::from(sectorsize) {
        return Err(DecompressError::Short { got: 0, want: ram_bytes as usize });
    }
    let want = ram_bytes as usize;
    let mut out = Vec::from_elem(0u8, want).map_err(|_| DecompressError::NoMem)?;
    let got = decompress(kind, src, &mut out, sectorsize, raw)?;
    if got != want {
        return Err(DecompressError::Short { got, want });
    }
    Ok(out)
}
