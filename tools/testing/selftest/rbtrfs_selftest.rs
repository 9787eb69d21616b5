// SPDX-License-Identifier: GPL-2.0

//! In-kernel tests of rbtrfs's abstractions in `rust/`.
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

fn rbtrfs_selftest_rwsem() -> impl PinInit<RwSemaphore<Pair>> {
    new_rwsem!(Pair { a: 0, b: 0 }, "rbtrfs_selftest_sem")
}

struct RbtrfsSelftest;

impl kernel::Module for RbtrfsSelftest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut t = Tally { passed: 0, failed: 0 };
        rwsem_tests(&mut t)?;
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
