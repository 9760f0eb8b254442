//! A small persistent thread pool for the encoder's kernels, so one message uses every core.
//!
//! A 20-token message makes ~70 parallel steps (four matmuls and attention per layer), each a few
//! tens of microseconds: waking a parked thread per step (as rayon's `join` from a foreign thread
//! does) would cost as much as the step. The pool's helpers spin for a short while after each job
//! and park only when the encoder goes idle; the calling thread works too, so a pool of `n`
//! threads starts `n - 1` helpers. Tasks are handed out by an atomic counter, and a helper joins a
//! job only while it is open: when the caller has run out of tasks it closes the job and waits
//! just for the helpers that joined, so a helper the OS has descheduled (the machine is shared,
//! often oversubscribed) delays nothing but the task it holds.
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Below this many multiply-adds, [`Pool::run_weighted`] runs a job on the calling thread alone:
/// handing it to a helper would cost more than it saves.
const MIN_PARALLEL_WORK: usize = 1 << 15;

/// Set in `joined` when a job takes no more helpers.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// How long an idle helper spins before parking.
const SPIN: Duration = Duration::from_micros(2000);

type Task<'a> = &'a (dyn Fn(usize) + Sync);

/// A job's task function with its lifetime erased; valid while `run` waits for the helpers.
#[derive(Clone, Copy)]
struct JobPtr(*const (dyn Fn(usize) + Sync + 'static));

struct Shared {
    /// The current job, written by `run` before it bumps `epoch`.
    job: UnsafeCell<Option<JobPtr>>,
    tasks: AtomicUsize,
    next: AtomicUsize,
    /// Bumped once per job: what wakes the helpers.
    epoch: AtomicU64,
    /// Helpers that joined the current job, plus [`CLOSED`] once the caller closed it.
    joined: AtomicUsize,
    /// Helpers that joined the current job and have left it.
    left: AtomicUsize,
    parked: Mutex<usize>,
    wake: Condvar,
    stop: AtomicBool,
    /// Set by [`Pool::rest`] until the next job: idle helpers park at once instead of spinning.
    resting: AtomicBool,
}

// SAFETY: `job` is written only by the thread inside `run` (serialised by `Pool::lock`) while the
// previous job is closed, so no helper reads it then; a helper reads it only after joining the
// open job (an acquire of the release that opened it), and `run` waits for every helper that
// joined to leave before it returns.
unsafe impl Sync for Shared {}
// SAFETY: the raw job pointer is only dereferenced under the protocol above.
unsafe impl Send for Shared {}

/// A fixed set of helper threads plus the caller.
pub struct Pool {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
    /// One job at a time: `run` is not re-entrant across threads.
    lock: Mutex<()>,
}

impl Pool {
    /// A pool using `threads` threads in all (the caller and `threads - 1` helpers).
    pub fn new(threads: usize) -> Self {
        let shared = Arc::new(Shared {
            job: UnsafeCell::new(None),
            tasks: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
            joined: AtomicUsize::new(CLOSED),
            left: AtomicUsize::new(0),
            parked: Mutex::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            resting: AtomicBool::new(false),
        });
        let helpers = (1..threads.max(1))
            .filter_map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("madoguchi-kernel-{i}"))
                    .spawn(move || helper(&shared))
                    .ok()
            })
            .collect();
        Self {
            shared,
            helpers,
            lock: Mutex::new(()),
        }
    }

    /// A pool with one thread per core this process may use.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Threads working on a job (helpers + the caller).
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// [`Pool::run`] for a job of about `work` multiply-adds: small jobs stay on this thread.
    pub fn run_weighted(&self, tasks: usize, work: usize, f: Task<'_>) {
        if work < MIN_PARALLEL_WORK {
            (0..tasks).for_each(f);
        } else {
            self.run(tasks, f);
        }
    }

    /// Tells idle helpers to park now rather than spin for the next job: the caller has no work
    /// in sight (the inference queue is empty), and a spinning helper would take a core from the
    /// threads that do (the HTTP server's, the database's). The next [`Pool::run`] wakes them.
    pub fn rest(&self) {
        self.shared.resting.store(true, Ordering::Relaxed);
    }

    /// Runs `f(0) … f(tasks - 1)` across the pool and returns when all are done.
    pub fn run(&self, tasks: usize, f: Task<'_>) {
        if tasks <= 1 || self.helpers.is_empty() {
            (0..tasks).for_each(f);
            return;
        }
        // A poisoned lock only means another job panicked; the pool's state is still consistent.
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let s = &*self.shared;
        // SAFETY: erases the lifetime of `f`; every helper that joined is done with it before
        // this function returns (`WaitForHelpers`, also when `f` panics on this thread).
        let job: JobPtr = JobPtr(unsafe {
            std::mem::transmute::<
                *const (dyn Fn(usize) + Sync + '_),
                *const (dyn Fn(usize) + Sync + 'static),
            >(f)
        });
        // SAFETY: the previous job is closed, so no helper reads `job` until `joined` opens below.
        unsafe { *s.job.get() = Some(job) };
        s.tasks.store(tasks, Ordering::Relaxed);
        s.next.store(0, Ordering::Relaxed);
        s.left.store(0, Ordering::Relaxed);
        s.resting.store(false, Ordering::Relaxed);
        s.joined.store(0, Ordering::Release);
        s.epoch.fetch_add(1, Ordering::Release);
        {
            let parked = s.parked.lock().unwrap_or_else(|e| e.into_inner());
            if *parked > 0 {
                s.wake.notify_all();
            }
        }
        let wait = WaitForHelpers(s);
        work(s, f);
        drop(wait);
    }
}

/// Closes the current job and waits for the helpers that joined it to leave, even while unwinding
/// from a panicking task.
struct WaitForHelpers<'a>(&'a Shared);

impl Drop for WaitForHelpers<'_> {
    fn drop(&mut self) {
        let joined = self.0.joined.fetch_or(CLOSED, Ordering::AcqRel) & !CLOSED;
        let mut spins = 0u32;
        while self.0.left.load(Ordering::Acquire) < joined {
            spins += 1;
            if spins < 1 << 16 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Claims and runs tasks of the current job until none are left.
fn work(s: &Shared, f: Task<'_>) {
    let tasks = s.tasks.load(Ordering::Relaxed);
    loop {
        let i = s.next.fetch_add(1, Ordering::Relaxed);
        if i >= tasks {
            return;
        }
        f(i);
    }
}

fn helper(s: &Shared) {
    // Epochs start at 0 and the first job makes it 1, so a helper that starts late still runs it.
    let mut seen = 0;
    loop {
        let Some(epoch) = next_epoch(s, seen) else {
            return;
        };
        seen = epoch;
        if s.joined.fetch_add(1, Ordering::AcqRel) & CLOSED != 0 {
            // Too late: the caller finished this job alone.
            continue;
        }
        // SAFETY: the job is open, so `run` wrote it before opening (acquired just above) and
        // keeps it alive until this helper has left.
        if let Some(job) = unsafe { *s.job.get() } {
            // A panicking task must not kill the helper (the pool would wait forever): the
            // panic is reported by the default hook and the task's output is left as it was.
            let f: Task<'_> = unsafe { &*job.0 };
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(s, f)));
        }
        s.left.fetch_add(1, Ordering::Release);
    }
}

/// Waits (spinning, then parked) for an epoch after `seen`; `None` when the pool is dropped.
fn next_epoch(s: &Shared, seen: u64) -> Option<u64> {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        if s.stop.load(Ordering::Acquire) {
            return None;
        }
        let epoch = s.epoch.load(Ordering::Acquire);
        if epoch != seen {
            return Some(epoch);
        }
        spins += 1;
        let keep_spinning = !s.resting.load(Ordering::Relaxed)
            && (!spins.is_multiple_of(256) || start.elapsed() < SPIN);
        if keep_spinning {
            std::hint::spin_loop();
            continue;
        }
        let mut parked = s.parked.lock().unwrap_or_else(|e| e.into_inner());
        *parked += 1;
        while s.epoch.load(Ordering::Acquire) == seen && !s.stop.load(Ordering::Acquire) {
            parked = s.wake.wait(parked).unwrap_or_else(|e| e.into_inner());
        }
        *parked -= 1;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _parked = self.shared.parked.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pool({} threads)", self.threads())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_across_jobs() {
        let pool = Pool::new(3);
        for tasks in [0, 1, 2, 7, 64] {
            let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            pool.run(tasks, &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                counts.iter().all(|c| c.load(Ordering::Relaxed) == 1),
                "{tasks} tasks"
            );
        }
    }

    #[test]
    fn rested_helpers_wake_for_the_next_job() {
        let pool = Pool::new(3);
        for round in 0..50 {
            pool.rest();
            if round % 2 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
            let counts: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
            pool.run(64, &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        }
        // And resting helpers do park.
        pool.rest();
        let deadline = Instant::now() + SPIN * 50;
        while *pool.shared.parked.lock().expect("lock") < 2 {
            assert!(Instant::now() < deadline, "resting helpers never parked");
            std::thread::yield_now();
        }
    }

    #[test]
    fn parked_helpers_wake_for_the_next_job() {
        let pool = Pool::new(2);
        std::thread::sleep(SPIN * 3);
        let sum = AtomicUsize::new(0);
        pool.run(100, &|i| {
            sum.fetch_add(i, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 4950);
    }
}
