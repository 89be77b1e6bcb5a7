//! Latency percentiles, error counts, and what `/proc` says about a process (CPU time, RSS).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::conn::{Failure, Kind};

/// Latencies in microseconds, and failures by kind with the first example of each.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) bytes: u64,
    pub(crate) errors: BTreeMap<Kind, u64>,
    pub(crate) examples: BTreeMap<Kind, String>,
}

impl Tally {
    pub(crate) fn fail(&mut self, failure: Failure) {
        *self.errors.entry(failure.kind).or_default() += 1;
        self.examples.entry(failure.kind).or_insert(failure.detail);
    }

    pub(crate) fn merge(&mut self, other: Self) {
        self.latencies_us.extend(other.latencies_us);
        self.bytes += other.bytes;
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        for (kind, example) in other.examples {
            self.examples.entry(kind).or_insert(example);
        }
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub(crate) fn errors_json(&self) -> Value {
        let counts: serde_json::Map<String, Value> =
            self.errors.iter().map(|(k, n)| (k.name().to_owned(), json!(n))).collect();
        let examples: serde_json::Map<String, Value> = self
            .examples
            .iter()
            .map(|(k, e)| (k.name().to_owned(), json!(e.chars().take(300).collect::<String>())))
            .collect();
        json!({"counts": counts, "examples": examples})
    }

    /// p50/p90/p99/max/mean in milliseconds (nearest rank); `null`s when nothing completed.
    pub(crate) fn latency_json(&mut self) -> Value {
        if self.latencies_us.is_empty() {
            return json!({"p50": null, "p90": null, "p99": null, "max": null, "mean": null});
        }
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let at = |p: f64| {
            let rank = ((n as f64) * p / 100.0).ceil().max(1.0) as usize;
            f64::from(self.latencies_us[rank.min(n) - 1]) / 1000.0
        };
        let mean = self.latencies_us.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64 / 1000.0;
        json!({"p50": at(50.0), "p90": at(90.0), "p99": at(99.0), "max": at(100.0), "mean": mean})
    }
}

/// Clock ticks per second of `/proc/*/stat` times: 100 on every Linux this runs on (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of a process so far (all its threads), from `/proc/PID/stat`.
pub(crate) fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// A `kB` line of `/proc/PID/status` (`VmRSS`, `VmHWM`), in MiB.
pub(crate) fn status_mb(pid: &str, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        let kb: f64 = value.split_whitespace().next()?.parse().ok()?;
        Some(kb / 1024.0)
    })
}

/// The machine's CPU time counters (`cpu` line of `/proc/stat`): user, nice, system, idle, iowait,
/// irq, softirq, steal.
fn machine_ticks() -> Option<[u64; 8]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let mut out = [0u64; 8];
    for (slot, field) in out.iter_mut().zip(line.split_whitespace().skip(1)) {
        *slot = field.parse().ok()?;
    }
    Some(out)
}

/// CPU use of named processes over a window, in cores (CPU seconds per wall second), and how the
/// whole machine's CPU time went meanwhile (busy, idle, and stolen by the hypervisor).
#[derive(Debug)]
pub(crate) struct CpuWatch {
    start: Vec<(String, String, Option<f64>)>,
    machine: Option<[u64; 8]>,
}

impl CpuWatch {
    /// `watched` are `(label, pid)`; the generator itself is always watched as `loadgen`.
    pub(crate) fn start(watched: &[(String, String)]) -> Self {
        let mut all = vec![("loadgen".to_owned(), "self".to_owned())];
        all.extend(watched.iter().cloned());
        Self {
            start: all
                .into_iter()
                .map(|(l, p)| {
                    let c = cpu_seconds(&p);
                    (l, p, c)
                })
                .collect(),
            machine: machine_ticks(),
        }
    }

    pub(crate) fn finish(&self, wall_seconds: f64) -> Value {
        let mut out = serde_json::Map::new();
        for (label, pid, before) in &self.start {
            let used = before.zip(cpu_seconds(pid)).map(|(a, b)| (b - a) / wall_seconds.max(1e-9));
            out.insert(label.clone(), json!(used));
        }
        if let Some((a, b)) = self.machine.zip(machine_ticks()) {
            let d: Vec<f64> =
                a.iter().zip(b.iter()).map(|(x, y)| y.saturating_sub(*x) as f64).collect();
            let total: f64 = d.iter().sum();
            if total > 0.0 {
                let idle = d[3] + d[4];
                out.insert(
                    "machine".into(),
                    json!({
                        "busy_pct": 100.0 * (total - idle - d[7]) / total,
                        "idle_pct": 100.0 * idle / total,
                        "steal_pct": 100.0 * d[7] / total,
                    }),
                );
            }
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let mut t =
            Tally { latencies_us: (1..=100).map(|v| v * 1000).collect(), ..Tally::default() };
        let j = t.latency_json();
        assert_eq!(j["p50"], json!(50.0));
        assert_eq!(j["p99"], json!(99.0));
        assert_eq!(j["max"], json!(100.0));
    }

    #[test]
    fn own_process_readable() {
        assert!(cpu_seconds("self").is_some());
        assert!(status_mb("self", "VmRSS").is_some_and(|mb| mb > 0.0));
    }
}
