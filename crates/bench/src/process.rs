//! What `/proc` says about a process: resident memory and CPU time, for a broker's memory per
//! connection and CPU per connect, and for the generator's own load (so that a saturated
//! generator shows in the results instead of passing for a slow broker).

use std::time::Instant;

use crate::error::BenchError;

/// Linux reports `utime`/`stime` in USER_HZ ticks, which is 100 on every architecture the
/// kernel's ABI fixes it for (x86-64 included).
const TICKS_PER_SECOND: f64 = 100.0;

/// A process to observe: another one (`pid`) or this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// A process by id.
    Pid(u32),
    /// The generator itself (`/proc/self`).
    Own,
}

impl Observed {
    fn path(self, file: &str) -> String {
        match self {
            Observed::Pid(pid) => format!("/proc/{pid}/{file}"),
            Observed::Own => format!("/proc/self/{file}"),
        }
    }

    fn pid(self) -> u32 {
        match self {
            Observed::Pid(pid) => pid,
            Observed::Own => std::process::id(),
        }
    }

    fn read(self, file: &'static str) -> Result<String, BenchError> {
        std::fs::read_to_string(self.path(file)).map_err(|e| BenchError::Proc {
            pid: self.pid(),
            file,
            reason: e.to_string(),
        })
    }

    /// Resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(self) -> Result<u64, BenchError> {
        parse_vm_rss(&self.read("status")?).ok_or(BenchError::Proc {
            pid: self.pid(),
            file: "status",
            reason: "no VmRSS line".into(),
        })
    }

    /// User plus system CPU time of all its threads, in seconds.
    pub fn cpu_seconds(self) -> Result<f64, BenchError> {
        let ticks = parse_cpu_ticks(&self.read("stat")?).ok_or(BenchError::Proc {
            pid: self.pid(),
            file: "stat",
            reason: "no utime/stime fields".into(),
        })?;
        Ok(ticks as f64 / TICKS_PER_SECOND)
    }
}

/// CPU time used over a span of wall time.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    process: Observed,
    cpu_at_start: f64,
    wall_at_start: Instant,
}

/// What a [`CpuMeter`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// CPU seconds used.
    pub cpu_seconds: f64,
    /// CPU seconds per wall second, in percent (100 = one core busy).
    pub percent: f64,
}

impl CpuMeter {
    /// Starts measuring `process`; `None` if its `/proc` entry cannot be read.
    pub fn start(process: Observed) -> Option<CpuMeter> {
        Some(CpuMeter {
            process,
            cpu_at_start: process.cpu_seconds().ok()?,
            wall_at_start: Instant::now(),
        })
    }

    /// CPU used since [`CpuMeter::start`]; `None` if the process has gone.
    pub fn read(&self) -> Option<CpuUse> {
        let cpu_seconds = self.process.cpu_seconds().ok()? - self.cpu_at_start;
        let wall = self.wall_at_start.elapsed().as_secs_f64();
        Some(CpuUse {
            cpu_seconds,
            percent: if wall > 0.0 {
                100.0 * cpu_seconds / wall
            } else {
                0.0
            },
        })
    }
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// `utime + stime` (fields 14 and 15) in ticks from the text of `/proc/<pid>/stat`. The command
/// name (field 2) is in parentheses and may itself contain spaces and parentheses, so fields
/// are counted after the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) onwards: utime is the 12th of those, stime the 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tmosquitto\nVmPeak:\t 9000 kB\nVmRSS:\t    6144 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(6144));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_survive_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 70 0 0 20 0 3 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(320));
        assert_eq!(parse_cpu_ticks("1 (x) S 1"), None);
    }

    #[test]
    fn this_process_can_be_observed() {
        assert!(Observed::Own.rss_kib().expect("own status") > 0);
        assert!(Observed::Own.cpu_seconds().expect("own stat") >= 0.0);
        let meter = CpuMeter::start(Observed::Own).expect("own stat");
        assert!(meter.read().expect("still here").cpu_seconds >= 0.0);
    }
}
