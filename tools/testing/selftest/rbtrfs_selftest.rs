// SPDX-License-Identifier: GPL-2.0

//! In-kernel tests of rbtrfs's abstractions in `rust/`: the
//! rw-semaphore, and the decompressors of `rust/compress.rs`.
//!
//! Loading this module runs the tests and prints one line per check and a
//! summary, `rbtrfs_selftest: N passed, M failed`. If any check fails the
//! load fails with `EINVAL`, so `insmod` itself reports the failure. Run on
//! the debug kernel, lockdep watches every acquisition.
//!
//! The concurrency tests run their second party on the system unbound
//! workqueue.

#[path = "../../../rust/rfs.rs"]
pub mod rfs;

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};
use rfs::delay::msleep;
use rfs::print::{printk, Level};
use rfs::rwsem::RwSemaphore;

module! {
    type: RbtrfsSelftest,
    name: "rbtrfs_selftest",
    author: "rbtrfs developers",
    description: "Self tests of rbtrfs's kernel abstractions",
    license: "GPL",
}

/// Two counters that writers keep equal; a reader seeing them differ has
/// seen a write in progress.
struct Pair {
    a: u64,
    b: u64,
}

#[pin_data]
struct Shared {
    #[pin]
    sem: RwSemaphore<Pair>,
    readers_inside: AtomicU32,
    max_readers_inside: AtomicU32,
    writers_inside: AtomicU32,
    violations: AtomicU32,
    got_read: AtomicBool,
    try_read_ok: AtomicBool,
    try_write_ok: AtomicBool,
    pending: AtomicU32,
    stress_ops: AtomicU64,
}

#[derive(Clone, Copy)]
enum Job {
    /// Blocking read, then set `got_read`.
    Reader,
    /// Record whether try_read and try_write succeed.
    TryProbe,
    /// Many mixed reads and writes, checking exclusion.
    Stress(u32),
}

#[pin_data]
struct Task {
    shared: Arc<Shared>,
    job: Job,
    #[pin]
    work: Work<Task>,
}

impl_has_work! {
    impl HasWork<Self> for Task { self.work }
}

impl WorkItem for Task {
    type Pointer = Arc<Task>;

    fn run(this: Arc<Task>) {
        let s = &this.shared;
        match this.job {
            Job::Reader => {
                let g = s.sem.read();
                s.got_read.store(true, Ordering::SeqCst);
                drop(g);
            }
            Job::TryProbe => {
                let r = s.sem.try_read();
                s.try_read_ok.store(r.is_some(), Ordering::SeqCst);
                drop(r);
                let w = s.sem.try_write();
                s.try_write_ok.store(w.is_some(), Ordering::SeqCst);
                drop(w);
            }
            Job::Stress(seed) => stress(s, seed),
        }
        s.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

fn stress(s: &Shared, seed: u32) {
    let mut x = seed | 1;
    for _ in 0..2000 {
        // xorshift: a cheap per-worker sequence of reads and writes.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if x % 4 == 0 {
            let mut g = s.sem.write();
            if s.writers_inside.fetch_add(1, Ordering::SeqCst) != 0
                || s.readers_inside.load(Ordering::SeqCst) != 0
            {
                s.violations.fetch_add(1, Ordering::SeqCst);
            }
            g.a += 1;
            core::hint::spin_loop();
            g.b += 1;
            s.writers_inside.fetch_sub(1, Ordering::SeqCst);
        } else {
            let g = s.sem.read();
            let inside = s.readers_inside.fetch_add(1, Ordering::SeqCst) + 1;
            s.max_readers_inside.fetch_max(inside, Ordering::SeqCst);
            if s.writers_inside.load(Ordering::SeqCst) != 0 || g.a != g.b {
                s.violations.fetch_add(1, Ordering::SeqCst);
            }
            s.readers_inside.fetch_sub(1, Ordering::SeqCst);
        }
        s.stress_ops.fetch_add(1, Ordering::Relaxed);
    }
}

fn spawn(shared: &Arc<Shared>, job: Job) -> Result {
    let t = Arc::pin_init(
        pin_init!(Task { shared: shared.clone(), job, work <- new_work!("rbtrfs_selftest::Task") }),
        GFP_KERNEL,
    )?;
    shared.pending.fetch_add(1, Ordering::SeqCst);
    // A freshly allocated item cannot be queued already.
    let _ = workqueue::system_unbound().enqueue(t);
    Ok(())
}

/// Polls `cond` every 10 ms for up to `ms` milliseconds.
fn wait_for(ms: u32, cond: impl Fn() -> bool) -> bool {
    let mut waited = 0;
    while !cond() {
        if waited >= ms {
            return false;
        }
        msleep(10);
        waited += 10;
    }
    true
}

/// Waits until every spawned task has finished. Unbounded on purpose: a task
/// must never outlive the module; a hang is caught by the guest timeout.
fn drain(s: &Shared) {
    while s.pending.load(Ordering::SeqCst) != 0 {
        msleep(10);
    }
}

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, name: &str, ok: bool) {
        if ok {
            self.passed += 1;
            printk(Level::Info, format_args!("rbtrfs_selftest: ok: {}", name));
        } else {
            self.failed += 1;
            printk(Level::Err, format_args!("rbtrfs_selftest: FAIL: {}", name));
        }
    }
}

fn reset(s: &Shared) {
    s.got_read.store(false, Ordering::SeqCst);
    s.try_read_ok.store(false, Ordering::SeqCst);
    s.try_write_ok.store(false, Ordering::SeqCst);
}

fn rwsem_tests(t: &mut Tally) -> Result {
    let s = Arc::pin_init(
        pin_init!(Shared {
            sem <- rbtrfs_selftest_rwsem(),
            readers_inside: AtomicU32::new(0),
            max_readers_inside: AtomicU32::new(0),
            writers_inside: AtomicU32::new(0),
            violations: AtomicU32::new(0),
            got_read: AtomicBool::new(false),
            try_read_ok: AtomicBool::new(false),
            try_write_ok: AtomicBool::new(false),
            pending: AtomicU32::new(0),
            stress_ops: AtomicU64::new(0),
        }),
        GFP_KERNEL,
    )?;

    // Readers share: another task gets a read hold while we hold one.
    {
        let g = s.sem.read();
        t.check("rwsem: held for read reports locked", s.sem.is_locked());
        spawn(&s, Job::Reader)?;
        t.check("rwsem: second reader enters while first holds", wait_for(5000, || s.got_read.load(Ordering::SeqCst)));
        spawn(&s, Job::TryProbe)?;
        t.check("rwsem: try_read succeeds beside a reader", wait_for(5000, || s.try_read_ok.load(Ordering::SeqCst)));
        drain(&s);
        t.check("rwsem: try_write fails while a reader holds", !s.try_write_ok.load(Ordering::SeqCst));
        drop(g);
    }
    t.check("rwsem: unlocked after the last reader", !s.sem.is_locked());
    reset(&s);

    // A writer excludes: a reader blocks, the semaphore reports contention,
    // and the reader gets in once the writer leaves.
    {
        let mut g = s.sem.write();
        spawn(&s, Job::TryProbe)?;
        drain(&s);
        t.check("rwsem: try_read fails while a writer holds", !s.try_read_ok.load(Ordering::SeqCst));
        t.check("rwsem: try_write fails while a writer holds", !s.try_write_ok.load(Ordering::SeqCst));
        spawn(&s, Job::Reader)?;
        t.check("rwsem: waiting reader makes it contended", wait_for(5000, || s.sem.is_contended()));
        msleep(50);
        t.check("rwsem: reader stays out while writer holds", !s.got_read.load(Ordering::SeqCst));
        g.a += 1;
        g.b += 1;
        drop(g);
        t.check("rwsem: reader enters after writer leaves", wait_for(5000, || s.got_read.load(Ordering::SeqCst)));
        drain(&s);
    }
    t.check("rwsem: not contended when idle", !s.sem.is_contended());
    reset(&s);

    // Downgrade keeps readers in and writers out, with no gap.
    {
        let w = s.sem.write();
        let r = w.downgrade();
        spawn(&s, Job::TryProbe)?;
        drain(&s);
        t.check("rwsem: downgraded hold admits readers", s.try_read_ok.load(Ordering::SeqCst));
        t.check("rwsem: downgraded hold excludes writers", !s.try_write_ok.load(Ordering::SeqCst));
        t.check("rwsem: downgraded hold sees the data", r.a == 1 && r.b == 1);
        drop(r);
    }
    t.check("rwsem: try_write succeeds when idle", s.sem.try_write().is_some());

    // Stress: 8 tasks, 2000 mixed operations each.
    let before = s.sem.read().a;
    for seed in 0..8u32 {
        spawn(&s, Job::Stress(seed.wrapping_mul(0x9E37_79B9) ^ 0x5bd1_e995))?;
    }
    drain(&s);
    let g = s.sem.read();
    t.check("rwsem: stress saw no exclusion violation", s.violations.load(Ordering::SeqCst) == 0);
    t.check("rwsem: stress counters consistent", g.a == g.b && g.a > before);
    t.check("rwsem: stress ran every operation", s.stress_ops.load(Ordering::SeqCst) == 8 * 2000);
    printk(
        Level::Info,
        format_args!(
            "rbtrfs_selftest: rwsem stress: {} writes, max {} readers inside at once",
            g.a - before,
            s.max_readers_inside.load(Ordering::SeqCst)
        ),
    );
    Ok(())
}

/// Test data: compressible text, `n` bytes.
fn sample(n: usize) -> Result<KVec<u8>> {
    let text = b"rbtrfs decompression selftest, line of text. ";
    let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
    for i in 0..n {
        v.push(text[i % text.len()], GFP_KERNEL)?;
    }
    Ok(v)
}

/// A zlib stream (RFC 1950) of `data` in one stored block, and its adler32.
fn zlib_stored(data: &[u8]) -> Result<KVec<u8>> {
    let mut v = KVec::new();
    let len = data.len() as u16;
    v.extend_from_slice(&[0x78, 0x01, 0x01], GFP_KERNEL)?;
    v.extend_from_slice(&len.to_le_bytes(), GFP_KERNEL)?;
    v.extend_from_slice(&(!len).to_le_bytes(), GFP_KERNEL)?;
    v.extend_from_slice(data, GFP_KERNEL)?;
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    v.extend_from_slice(&((b << 16) | a).to_be_bytes(), GFP_KERNEL)?;
    Ok(v)
}

/// An LZO1X stream of `data` (4..=238 bytes) as one literal run and the
/// end marker.
fn lzo_literals(data: &[u8]) -> Result<KVec<u8>> {
    let mut v = KVec::new();
    v.push(17 + data.len() as u8, GFP_KERNEL)?;
    v.extend_from_slice(data, GFP_KERNEL)?;
    v.extend_from_slice(&[0x11, 0, 0], GFP_KERNEL)?;
    Ok(v)
}

/// A zstd frame of `data` (at most 255 bytes) in one raw block.
fn zstd_raw(data: &[u8]) -> Result<KVec<u8>> {
    let mut v = KVec::new();
    v.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0x20, data.len() as u8], GFP_KERNEL)?;
    let block = 1u32 | ((data.len() as u32) << 3);
    v.extend_from_slice(&block.to_le_bytes()[..3], GFP_KERNEL)?;
    v.extend_from_slice(data, GFP_KERNEL)?;
    Ok(v)
}

/// The decoders of `rfs::compress` on streams built here: exact round
/// trips (with btrfs's zero padding after zlib and zstd streams), and
/// errors, never a crash, for corrupt, truncated and random input.
fn compress_tests(t: &mut Tally) -> Result {
    use rfs::compress::{lzo1x_decompress, zlib_inflate, zstd_decompress};
    const WIN: usize = 1 << 17;
    let data = sample(4000)?;
    let mut out = KVec::from_elem(0u8, 8192, GFP_KERNEL)?;

    let mut z = zlib_stored(&data)?;
    t.check("compress: zlib stream decodes", zlib_inflate(&z, &mut out) == Ok(4000) && out[..4000] == data[..]);
    z.extend_from_slice(&[0u8; 500], GFP_KERNEL)?;
    t.check("compress: zlib ignores zero padding", zlib_inflate(&z, &mut out) == Ok(4000));
    t.check("compress: zlib fills a short destination", zlib_inflate(&z, &mut out[..100]) == Ok(100));
    let n = z.len() - 500;
    z[n - 1] ^= 1;
    t.check("compress: zlib checks the adler32", zlib_inflate(&z[..n], &mut out).is_err());
    t.check("compress: truncated zlib is an error", zlib_inflate(&z[..n / 2], &mut out).is_err());
    t.check("compress: zlib rejects garbage", zlib_inflate(&data, &mut out).is_err());

    let l = lzo_literals(&data[..200])?;
    t.check("compress: lzo1x stream decodes", lzo1x_decompress(&l, &mut out) == Ok(200) && out[..200] == data[..200]);
    t.check("compress: lzo1x refuses to overrun", lzo1x_decompress(&l, &mut out[..199]).is_err());
    t.check("compress: truncated lzo1x is an error", lzo1x_decompress(&l[..100], &mut out).is_err());

    let mut zs = zstd_raw(&data[..255])?;
    zs.extend_from_slice(&[0u8; 300], GFP_KERNEL)?;
    t.check(
        "compress: zstd frame decodes, padding ignored",
        zstd_decompress(&zs, &mut out, WIN) == Ok(255) && out[..255] == data[..255],
    );
    t.check("compress: zstd fills a short destination", zstd_decompress(&zs, &mut out[..10], WIN) == Ok(10));
    t.check("compress: truncated zstd is an error", zstd_decompress(&zs[..100], &mut out, WIN).is_err());
    t.check("compress: zstd rejects garbage", zstd_decompress(&data, &mut out, WIN).is_err());

    // Random and mutated input: any result, within the destination.
    let mut seed = 0x2545_f491u32;
    let mut ok = true;
    let mut buf = KVec::from_elem(0u8, 1024, GFP_KERNEL)?;
    for round in 0..300u32 {
        let base: &[u8] = match round % 3 {
            0 => &z[..n],
            1 => &l,
            _ => &zs[..264],
        };
        let len = base.len().min(buf.len());
        buf[..len].copy_from_slice(&base[..len]);
        for _ in 0..(round % 5 + 1) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let at = seed as usize % len.max(1);
            buf[at] = (seed >> 24) as u8;
        }
        let cap = (seed as usize >> 4) % 5000;
        let src = &buf[..len];
        let dst = &mut out[..cap.min(8192)];
        let cap = dst.len();
        for r in [zlib_inflate(src, dst), lzo1x_decompress(src, dst), zstd_decompress(src, dst, WIN)] {
            if let Ok(k) = r {
                ok &= k <= cap;
            }
        }
    }
    t.check("compress: 900 mutated streams decode or fail cleanly", ok);
    Ok(())
}

fn rbtrfs_selftest_rwsem() -> impl PinInit<RwSemaphore<Pair>> {
    new_rwsem!(Pair { a: 0, b: 0 }, "rbtrfs_selftest_sem")
}

struct RbtrfsSelftest;

impl kernel::Module for RbtrfsSelftest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut t = Tally { passed: 0, failed: 0 };
        rwsem_tests(&mut t)?;
        compress_tests(&mut t)?;
        printk(
            Level::Info,
            format_args!("rbtrfs_selftest: {} passed, {} failed", t.passed, t.failed),
        );
        if t.failed != 0 {
            return Err(EINVAL);
        }
        Ok(RbtrfsSelftest)
    }
}
