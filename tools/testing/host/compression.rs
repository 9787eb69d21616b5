// SPDX-License-Identifier: GPL-2.0
//! The compressed-extent format (`fs/rbtrfs/compression.rs`) with made-up
//! codecs: btrfs's LZO framing round-trips segments of every size,
//! including segment headers that would straddle a sector (the padding
//! rule), and rejects bad total and segment lengths with an error, never a
//! panic (checked over thousands of random and mutated inputs); the
//! dispatcher and the inline and whole-extent helpers behave as C btrfs
//! does (early end: an error inline, zeroes in a regular extent).

mod common;

use common::Rng;
use rbtrfs_core::compression::{self as comp, DecompressError, Decompressors};
use rbtrfs_core::items::compression;

const SS: u32 = 4096;

/// A fake "LZO1X": a segment decodes to itself (the payload is the data).
/// zlib and zstd are fakes too: a 2-byte length, then that many bytes.
struct Copy;

impl Decompressors for Copy {
    fn zlib(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, DecompressError> {
        let n = *src.first().ok_or(DecompressError::Codec { kind: compression::ZLIB, code: -3 })? as usize;
        let data = src.get(1..1 + n).ok_or(DecompressError::Codec { kind: compression::ZLIB, code: -5 })?;
        let k = n.min(dst.len());
        dst[..k].copy_from_slice(&data[..k]);
        Ok(k)
    }
    fn lzo1x(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, DecompressError> {
        if src.is_empty() {
            return Err(DecompressError::Codec { kind: compression::LZO, code: -1 });
        }
        if src.len() > dst.len() {
            return Err(DecompressError::Codec { kind: compression::LZO, code: -5 });
        }
        dst[..src.len()].copy_from_slice(src);
        Ok(src.len())
    }
    fn zstd(&self, _src: &[u8], _dst: &mut [u8]) -> Result<usize, DecompressError> {
        Err(DecompressError::Codec { kind: compression::ZSTD, code: 20 })
    }
}

/// Frames `segments` as btrfs does (C: `lzo_compress_folios` and
/// `copy_compressed_data_to_page`): total length, then each segment's
/// length and payload; a header that would not fit in the rest of a
/// sector goes to the next one, after zero padding. The result is padded
/// to whole sectors, as on disk.
fn frame(segments: &[&[u8]]) -> Vec<u8> {
    let ss = SS as usize;
    let mut out = vec![0u8; 4];
    for s in segments {
        let left = ss - out.len() % ss;
        if left < 4 {
            out.resize(out.len() + left, 0);
        }
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    }
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out.resize(out.len().div_ceil(ss) * ss, 0);
    out
}

fn lzo(src: &[u8], dst: &mut [u8]) -> Result<usize, DecompressError> {
    comp::decompress(compression::LZO, src, dst, SS, &Copy)
}

#[test]
fn lzo_framing_round_trips() {
    let mut rng = Rng(0x1207);
    // Segment lengths that put the next header 0..=4 bytes before a
    // sector's end, and ordinary ones.
    for first in [4080usize, 4084, 4085, 4086, 4087, 4088, 4096 - 8, 100, 4096] {
        for rest in [1usize, 3, 4, 4096, 2000] {
            let segs: Vec<Vec<u8>> =
                [first, rest, 4096, rest, first].iter().map(|&n| rng.bytes(n)).collect();
            let refs: Vec<&[u8]> = segs.iter().map(|v| &v[..]).collect();
            let want: Vec<u8> = segs.concat();
            let src = frame(&refs);
            let mut dst = vec![0xffu8; want.len()];
            assert_eq!(lzo(&src, &mut dst), Ok(want.len()), "segments {} {}", first, rest);
            assert_eq!(dst, want);
            // A shorter destination stops early, filled.
            let mut short = vec![0u8; want.len() - 1];
            assert_eq!(lzo(&src, &mut short), Ok(want.len() - 1));
            assert_eq!(short[..], want[..want.len() - 1]);
        }
    }
    // The padding is skipped whatever it holds (C does not check it).
    let a = rng.bytes(4085);
    let b = rng.bytes(10);
    let mut src = frame(&[&a, &b]);
    assert_eq!(&src[4093..4096], &[0, 0, 0]);
    src[4093..4096].copy_from_slice(&[9, 9, 9]);
    let mut dst = vec![0u8; 4095];
    assert_eq!(lzo(&src, &mut dst), Ok(4095));
    assert_eq!(dst, [a, b].concat());
}

#[test]
fn lzo_framing_rejects_bad_lengths() {
    let mut rng = Rng(99);
    let data = rng.bytes(3000);
    let good = frame(&[&data, &data]);
    let mut dst = vec![0u8; 6000];
    assert_eq!(lzo(&good, &mut dst), Ok(6000));
    // Shorter than a header.
    assert!(matches!(lzo(&good[..3], &mut dst), Err(DecompressError::LzoHeader { .. })));
    // Total length past the data, or leaving a whole sector unused.
    let mut bad = good.clone();
    bad[..4].copy_from_slice(&(good.len() as u32 + 1).to_le_bytes());
    assert!(matches!(lzo(&bad, &mut dst), Err(DecompressError::LzoHeader { .. })));
    let mut bad = good.clone();
    bad.extend_from_slice(&[0u8; SS as usize]);
    assert!(matches!(lzo(&bad, &mut dst), Err(DecompressError::LzoHeader { .. })));
    bad.truncate(good.len());
    bad[..4].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(lzo(&bad, &mut dst), Err(DecompressError::LzoHeader { .. })));
    // Total length beyond the largest compressed extent.
    let huge = vec![0u8; 256 << 10];
    let mut bad = huge.clone();
    bad[..4].copy_from_slice(&((200u32) << 10).to_le_bytes());
    assert!(matches!(lzo(&bad, &mut dst), Err(DecompressError::LzoHeader { .. })));
    // A segment longer than a sector's worst case, or past the data.
    let mut bad = good.clone();
    bad[4..8].copy_from_slice(&5000u32.to_le_bytes());
    assert!(matches!(lzo(&bad, &mut dst), Err(DecompressError::LzoSegment { at: 4, len: 5000 })));
    let mut bad = good.clone();
    let second = 8 + 3000;
    bad[second..second + 4].copy_from_slice(&4400u32.to_le_bytes());
    bad.truncate(4096);
    let total = bad.len() as u32;
    bad[..4].copy_from_slice(&total.to_le_bytes());
    assert!(matches!(lzo(&bad, &mut dst), Err(DecompressError::LzoSegment { .. })));
    // A codec error comes through as is.
    let empty = frame(&[&data, &[]]);
    assert_eq!(lzo(&empty, &mut dst), Err(DecompressError::Codec { kind: compression::LZO, code: -1 }));
}

/// Random and mutated streams: any result but a panic or a length past
/// the destination.
#[test]
fn lzo_framing_never_panics() {
    let mut rng = Rng(0xf00d);
    let segs: Vec<Vec<u8>> = (0..8).map(|i| rng.bytes(500 + i * 700)).collect();
    let refs: Vec<&[u8]> = segs.iter().map(|v| &v[..]).collect();
    let good = frame(&refs);
    for i in 0..4000 {
        let mut src = if i % 2 == 0 {
            good.clone()
        } else {
            let n = rng.below(3 * SS as u64) as usize;
            rng.bytes(n)
        };
        for _ in 0..=rng.below(4) {
            if src.is_empty() {
                break;
            }
            let at = rng.below(src.len() as u64) as usize;
            src[at] = rng.next() as u8;
        }
        if i % 3 == 0 && !src.is_empty() {
            // Small lengths at the start and at a segment header.
            src[0] = rng.below(16) as u8;
            src[1..4].fill(0);
        }
        let cut = if rng.below(4) == 0 { rng.below(src.len() as u64 + 1) as usize } else { src.len() };
        let mut dst = vec![0u8; rng.below(40_000) as usize];
        if let Ok(n) = lzo(&src[..cut], &mut dst) {
            assert!(n <= dst.len());
        }
    }
}

#[test]
fn dispatch_inline_and_extent() {
    let mut rng = Rng(5);
    let data = rng.bytes(200);
    let mut z = vec![200u8];
    z.extend_from_slice(&data);
    z.resize(SS as usize, 0);
    // Unknown types are refused; zlib and zstd go to their codecs.
    let mut dst = vec![0u8; 300];
    assert_eq!(comp::decompress(4, &z, &mut dst, SS, &Copy), Err(DecompressError::UnknownType(4)));
    assert_eq!(comp::decompress(compression::NONE, &z, &mut dst, SS, &Copy), Err(DecompressError::UnknownType(0)));
    assert_eq!(comp::decompress(compression::ZLIB, &z, &mut dst, SS, &Copy), Ok(200));
    assert!(matches!(
        comp::decompress(compression::ZSTD, &z, &mut dst, SS, &Copy),
        Err(DecompressError::Codec { kind: compression::ZSTD, code: 20 })
    ));
    // A whole extent that decodes short is zero filled.
    let mut ext = vec![0xaau8; 4096];
    comp::decompress_extent(compression::ZLIB, &z, &mut ext, SS, &Copy).unwrap();
    assert_eq!(&ext[..200], &data[..]);
    assert!(ext[200..].iter().all(|&b| b == 0));
    // Inline data must decode to exactly ram_bytes, at most a sector.
    let inl = comp::decompress_inline(compression::ZLIB, &z[..201], 200, SS, &Copy).unwrap();
    assert_eq!(&inl[..], &data[..]);
    assert_eq!(
        comp::decompress_inline(compression::ZLIB, &z[..201], 201, SS, &Copy).unwrap_err(),
        DecompressError::Short { got: 200, want: 201 }
    );
    assert!(comp::decompress_inline(compression::ZLIB, &z, 4097, SS, &Copy).is_err());
    let framed = frame(&[&data]);
    let inl = comp::decompress_inline(compression::LZO, &framed[..208], 200, SS, &Copy).unwrap();
    assert_eq!(&inl[..], &data[..]);
    // Messages name the codec like C btrfs.
    let e = DecompressError::Codec { kind: compression::ZLIB, code: -3 };
    assert_eq!(format!("{}", e), "zlib decompression failed, error -3");
    assert_eq!(e.errno(), rbtrfs_core::error::EIO);
}
