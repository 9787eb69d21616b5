// SPDX-License-Identifier: GPL-2.0

//! The kernel's decompressors: zlib, LZO1X and zstd.
//!
//! C: `include/linux/zlib.h` (`lib/zlib_inflate`), `include/linux/lzo.h`
//! (`lib/lzo`), `include/linux/zstd.h` (`lib/zstd`). Each C library works
//! on raw pointers and a caller-provided workspace (zlib's inflate state
//! and window, zstd's decompression stream). Here each is one safe
//! function from a source slice into a destination slice, returning how
//! many bytes it wrote: the workspace is allocated (with `vmalloc`, it can
//! be hundreds of KiB for zstd) and freed inside the call, and the library
//! never sees more than the two slices.
//!
//! Every function decodes one stream and stops at its end or when the
//! destination is full, whichever comes first; trailing input after the
//! end of a zlib or zstd stream is ignored (btrfs pads compressed extents
//! to a whole sector with zeroes). A stream the library rejects, or one
//! that ends in the middle, is [`Error::Corrupt`] with the library's error
//! code; the libraries never read or write outside the slices, whatever
//! the input.
//!
//! # Examples
//!
//! ```ignore
//! let mut out = KVVec::from_elem(0u8, ram_bytes, GFP_KERNEL)?;
//! let n = compress::zstd_decompress(&disk_bytes, &mut out, 1 << 17)?;
//! ```

use super::bindings;
use core::ffi::c_void;
use kernel::alloc::VVec;
use kernel::prelude::*;

/// Why a decompression failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The workspace could not be allocated.
    NoMem,
    /// The library rejected the stream, or it ended before its end marker
    /// with room left in the destination. The code is the library's
    /// (zlib's `Z_*`, lzo's `LZO_E_*`, zstd's `ZSTD_error_*`); 0 for a
    /// stream that just stopped.
    Corrupt(i32),
}

/// zlib's `Z_OK`, `Z_STREAM_END`, `Z_BUF_ERROR`, `Z_FINISH`, `MAX_WBITS`.
const Z_OK: i32 = 0;
const Z_STREAM_END: i32 = 1;
const Z_BUF_ERROR: i32 = -5;
const Z_FINISH: i32 = 4;
const MAX_WBITS: i32 = 15;

/// A zeroed `vmalloc` buffer of `len` bytes for a library's workspace
/// (page aligned, so aligned enough for any of them).
fn workspace(len: usize) -> Result<VVec<u8>, Error> {
    VVec::from_elem(0u8, len.max(1), GFP_KERNEL).map_err(|_| Error::NoMem)
}

/// Inflates the zlib stream (RFC 1950: header, deflate data, adler32) at
/// the start of `src` into `dst` (`zlib_inflateInit2`, `zlib_inflate`
/// with `Z_FINISH`, `zlib_inflateEnd`). Returns the bytes written: the
/// whole stream, or `dst.len()` if it fills `dst` first.
pub fn zlib_inflate(src: &[u8], dst: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: `zlib_inflate_workspacesize` only returns a constant.
    let size = unsafe { bindings::zlib_inflate_workspacesize() };
    let mut ws = workspace(usize::try_from(size).unwrap_or(0))?;
    // SAFETY: `z_stream` is plain data: all-zero is a valid value.
    let mut strm: bindings::z_stream = unsafe { core::mem::zeroed() };
    strm.workspace = ws.as_mut_ptr().cast::<c_void>();
    // SAFETY: `strm.workspace` points to `zlib_inflate_workspacesize()`
    // bytes that outlive the stream (`ws` is dropped after
    // `zlib_inflateEnd`).
    let ret = unsafe { bindings::zlib_inflateInit2(&mut strm, MAX_WBITS) };
    if ret != Z_OK {
        return Err(Error::Corrupt(ret));
    }
    strm.next_in = src.as_ptr();
    strm.avail_in = src.len() as _;
    strm.next_out = dst.as_mut_ptr();
    strm.avail_out = dst.len() as _;
    // SAFETY: The stream was initialised above; `next_in` is valid for
    // `avail_in` reads and `next_out` for `avail_out` writes (the slices),
    // and inflate stays within them.
    let ret = unsafe { bindings::zlib_inflate(&mut strm, Z_FINISH) };
    let out = strm.total_out as usize;
    // SAFETY: The stream was initialised by `zlib_inflateInit2`; it is not
    // used afterwards.
    unsafe { bindings::zlib_inflateEnd(&mut strm) };
    drop(ws);
    let full = out >= dst.len();
    match ret {
        Z_STREAM_END => Ok(out.min(dst.len())),
        Z_OK | Z_BUF_ERROR if full => Ok(dst.len()),
        Z_OK | Z_BUF_ERROR => Err(Error::Corrupt(0)),
        e => Err(Error::Corrupt(e)),
    }
}

/// Decompresses the LZO1X stream `src` (all of it, ending with its end
/// marker) into `dst` (`lzo1x_decompress_safe`). Returns the bytes
/// written; a stream that would overrun `dst` is an error.
pub fn lzo1x_decompress(src: &[u8], dst: &mut [u8]) -> Result<usize, Error> {
    let mut out_len = dst.len();
    // SAFETY: `src` is valid for `src.len()` reads and `dst` for `out_len`
    // writes; the "safe" variant checks every access against both lengths.
    let ret = unsafe { bindings::lzo1x_decompress_safe(src.as_ptr(), src.len(), dst.as_mut_ptr(), &mut out_len) };
    if ret != 0 {
        return Err(Error::Corrupt(ret));
    }
    Ok(out_len.min(dst.len()))
}

/// Decompresses the zstd frame at the start of `src` into `dst` with a
/// decompression stream whose window is at most `max_window` bytes
/// (`zstd_init_dstream`, `zstd_decompress_stream`). Returns the bytes
/// written: the whole frame, or `dst.len()` if it fills `dst` first.
pub fn zstd_decompress(src: &[u8], dst: &mut [u8], max_window: usize) -> Result<usize, Error> {
    // SAFETY: Computes a size; no pointers involved.
    let size = unsafe { bindings::zstd_dstream_workspace_bound(max_window) };
    let mut ws = workspace(size)?;
    // SAFETY: `ws` is `size` bytes, enough for a stream with this window,
    // and outlives the stream (which lives in it and is not used after
    // this function).
    let stream = unsafe { bindings::zstd_init_dstream(max_window, ws.as_mut_ptr().cast::<c_void>(), size) };
    if stream.is_null() {
        return Err(Error::NoMem);
    }
    let mut input = bindings::zstd_in_buffer { src: src.as_ptr().cast::<c_void>(), size: src.len(), pos: 0 };
    let mut output = bindings::zstd_out_buffer { dst: dst.as_mut_ptr().cast::<c_void>(), size: dst.len(), pos: 0 };
    loop {
        let (in_before, out_before) = (input.pos, output.pos);
        // SAFETY: `stream` was initialised above in `ws`; `input` describes
        // `src` and `output` describes `dst`, and the library keeps `pos`
        // within `size` for both.
        let ret = unsafe { bindings::zstd_decompress_stream(stream, &mut output, &mut input) };
        // SAFETY: Classifies a return value; no pointers involved.
        if unsafe { bindings::zstd_is_error(ret) } != 0 {
            // SAFETY: As above.
            let code = unsafe { bindings::zstd_get_error_code(ret) };
            return Err(Error::Corrupt(code as i32));
        }
        if ret == 0 || output.pos >= output.size {
            // The end of the frame, or `dst` is full.
            return Ok(output.pos.min(dst.len()));
        }
        if input.pos >= input.size || (input.pos == in_before && output.pos == out_before) {
            // Out of input (or stuck) in the middle of the frame.
            return Err(Error::Corrupt(0));
        }
    }
}
