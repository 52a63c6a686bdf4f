//! What the server and the operating system say about a run: the server's `/metrics` counters
//! and the CPU time of a process from `/proc`.
//!
//! The load tool counts what clients saw; these numbers say what the server did for it (how
//! many group commits, how long each took) and who used the two cores.

use std::time::Duration;

use anyhow::Context;

/// The counters of `/metrics` a write benchmark needs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    pub commits: f64,
    pub events_appended: f64,
    pub commit_seconds_sum: f64,
    pub commit_seconds_count: f64,
    pub write_seconds_sum: f64,
    pub write_seconds_count: f64,
}

impl Counters {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            commits: self.commits - earlier.commits,
            events_appended: self.events_appended - earlier.events_appended,
            commit_seconds_sum: self.commit_seconds_sum - earlier.commit_seconds_sum,
            commit_seconds_count: self.commit_seconds_count - earlier.commit_seconds_count,
            write_seconds_sum: self.write_seconds_sum - earlier.write_seconds_sum,
            write_seconds_count: self.write_seconds_count - earlier.write_seconds_count,
        }
    }

    /// Events per group commit.
    pub fn batch_mean(&self) -> Option<f64> {
        (self.commits > 0.0).then(|| self.events_appended / self.commits)
    }

    /// Mean time of one commit.
    pub fn commit_mean(&self) -> Option<Duration> {
        (self.commit_seconds_count > 0.0)
            .then(|| Duration::from_secs_f64(self.commit_seconds_sum / self.commit_seconds_count))
    }

    /// Mean time of one write request inside the server, from arrival to answer.
    pub fn write_mean(&self) -> Option<Duration> {
        (self.write_seconds_count > 0.0)
            .then(|| Duration::from_secs_f64(self.write_seconds_sum / self.write_seconds_count))
    }
}

/// Reads the server's `/metrics`.
pub async fn counters(client: &reqwest::Client, base: &str) -> anyhow::Result<Counters> {
    let resp = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .context("GET /metrics")?;
    let status = resp.status();
    if !status.is_success() {
        anyhow::bail!("GET /metrics answered {status}");
    }
    Ok(parse(&resp.text().await.context("GET /metrics body")?))
}

/// Picks the counters out of the Prometheus text format; unknown lines are ignored.
pub fn parse(text: &str) -> Counters {
    let mut c = Counters::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        match name.trim() {
            "cmcop_commits_total" => c.commits = value,
            "cmcop_events_appended_total" => c.events_appended = value,
            "cmcop_commit_seconds_sum" => c.commit_seconds_sum = value,
            "cmcop_commit_seconds_count" => c.commit_seconds_count = value,
            "cmcop_write_seconds_sum" => c.write_seconds_sum = value,
            "cmcop_write_seconds_count" => c.write_seconds_count = value,
            _ => {}
        }
    }
    c
}

/// User plus system CPU time of a process (all its threads), from `/proc/PID/stat`; `None`
/// where there is no such file (not Linux, or the process is gone).
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // /proc reports clock ticks in USER_HZ, which Linux fixes at 100 for user space.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Which resource a pressure reading is about.
#[derive(Clone, Copy, Debug)]
pub enum Resource {
    Cpu,
    Io,
}

/// Total time some task waited for a CPU (or for IO), from the kernel's pressure stall
/// information (`/proc/pressure/cpu|io`, line `some`); `None` where the kernel has no PSI. Over
/// a window, its growth divided by the window says how contended the machine was: the load
/// tool and the server share it with whatever else runs, and with each other.
pub fn pressure(resource: Resource) -> Option<Duration> {
    let path = match resource {
        Resource::Cpu => "/proc/pressure/cpu",
        Resource::Io => "/proc/pressure/io",
    };
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("some "))?;
    let total = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?;
    Some(Duration::from_micros(total.parse().ok()?))
}

/// Resident memory of a process in bytes, from `/proc/PID/status`.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_counters_from_prometheus_text() {
        let text = "# HELP cmcop_commits_total Group commits.\n\
                    # TYPE cmcop_commits_total counter\n\
                    cmcop_commits_total 12\n\
                    cmcop_events_appended_total 480\n\
                    cmcop_commit_seconds_bucket{le=\"0.001\"} 3\n\
                    cmcop_commit_seconds_sum 0.024\n\
                    cmcop_commit_seconds_count 12\n\
                    cmcop_http_requests_total{method=\"POST\",route=\"/api/v1/{layer}\",status=\"201\"} 480\n";
        let c = parse(text);
        assert_eq!(c.commits, 12.0);
        assert_eq!(c.batch_mean(), Some(40.0));
        assert_eq!(c.commit_mean(), Some(Duration::from_millis(2)));
        assert_eq!(c.write_mean(), None);
    }

    #[test]
    fn reads_its_own_cpu_time() {
        if cfg!(target_os = "linux") {
            assert!(cpu_time(None).is_some());
        }
    }
}
