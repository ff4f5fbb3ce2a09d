//! A line of progress on stderr once a second while a scenario runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Counters a scenario bumps and the progress line reads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Successful operations (connections, deliveries…).
    pub done: AtomicU64,
    /// Failed operations.
    pub failed: AtomicU64,
}

impl Counters {
    /// Fresh counters, shareable between tasks.
    pub fn shared() -> Arc<Counters> {
        Arc::new(Counters::default())
    }

    /// Counts one success.
    pub fn success(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` successes.
    pub fn successes(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one failure.
    pub fn failure(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Prints `[<what>] <elapsed> <done> <unit> (<rate>/s), <failed> failed` every second until
/// the returned handle is aborted (or dropped by [`Progress::stop`]). Prints nothing when
/// `quiet`.
#[derive(Debug)]
pub struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the periodic line.
    pub fn start(
        what: &'static str,
        unit: &'static str,
        counters: Arc<Counters>,
        quiet: bool,
    ) -> Progress {
        if quiet {
            return Progress { task: None };
        }
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = 0;
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let done = counters.done.load(Ordering::Relaxed);
                let failed = counters.failed.load(Ordering::Relaxed);
                eprintln!(
                    "[{what}] {:>5.1}s {done} {unit} ({}/s), {failed} failed",
                    start.elapsed().as_secs_f64(),
                    done - last
                );
                last = done;
            }
        });
        Progress { task: Some(task) }
    }

    /// Stops printing.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
