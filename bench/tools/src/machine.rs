//! What the machine is, what else it was doing, and how much CPU a process used.

use std::process::Command;
use std::time::Duration;

/// Linux's USER_HZ: the unit of the times in /proc/<pid>/stat and /proc/stat.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU time of `pid` so far, in seconds (threads included).
pub fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat: {stat}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks = |i: usize| -> u64 { fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0) };
    Ok((ticks(11) + ticks(12)) as f64 / TICKS_PER_SECOND)
}

/// Busy and steal jiffies of the whole machine, from /proc/stat's `cpu` line.
fn machine_ticks() -> (u64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let get = |i: usize| values.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let idle = get(3) + get(4);
    let steal = get(7);
    let total: u64 = values.iter().take(8).sum();
    (total - idle - steal, steal, total)
}

/// How busy the machine is while the bench itself is idle: what other people's work takes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Background {
    /// Busy share of all cores, 0..=1.
    pub busy: f64,
    pub steal: f64,
    pub load_average: f64,
}

pub async fn background(over: Duration) -> Background {
    let (busy0, steal0, total0) = machine_ticks();
    tokio::time::sleep(over).await;
    let (busy1, steal1, total1) = machine_ticks();
    let total = (total1 - total0).max(1) as f64;
    Background {
        busy: (busy1 - busy0) as f64 / total,
        steal: (steal1 - steal0) as f64 / total,
        load_average: load_average(),
    }
}

pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

pub struct Summary {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub envoy: String,
    pub wrk: String,
    pub nginx: String,
    pub rustc: String,
}

pub fn summary(envoy_bin: &std::path::Path, nginx_bin: &str) -> Summary {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    let envoy = first_line(Command::new(envoy_bin).arg("--version"))
        .and_then(|v| {
            let build = v.split_once("version:")?.1.trim();
            build.split('/').nth(1).map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    Summary {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib: mem_kib / 1024.0 / 1024.0,
        kernel: first_line(Command::new("uname").arg("-r")).unwrap_or_default(),
        envoy,
        wrk: first_line(Command::new("wrk").arg("-v"))
            .and_then(|l| {
                let version = l.split_whitespace().nth(1)?;
                Some(version.trim_start_matches("debian/").to_string())
            })
            .unwrap_or_else(|| "unknown".into()),
        nginx: first_line(Command::new(nginx_bin).arg("-v"))
            .and_then(|l| l.rsplit_once('/').map(|(_, v)| v.trim().to_string()))
            .unwrap_or_else(|| "unknown".into()),
        rustc: first_line(Command::new("rustc").arg("--version")).unwrap_or_default(),
    }
}

/// The first non-empty line a command prints on stdout or stderr.
fn first_line(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}
