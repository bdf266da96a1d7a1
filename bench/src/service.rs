//! The service under test as a child process: the release `teacher-cert` binary on a free
//! loopback port against a fresh database, stopped with SIGTERM by its process id. Also
//! the database and `/proc` helpers the driver needs around it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};

/// How long the service may take to create its database, migrate and start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stopping service may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// What the child needs besides its database.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub binary: PathBuf,
    pub registry_file: PathBuf,
    pub work_dir: PathBuf,
    pub log_level: String,
}

/// A running `teacher-cert serve`.
pub struct Service {
    child: Child,
    pub pid: u32,
    pub base_url: String,
    pub log_file: PathBuf,
}

/// The `teacher-cert` binary: `explicit`, or the one next to this driver.
pub fn find_binary(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let binary = match explicit {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("locating the bench executable")?
            .parent()
            .context("the bench executable has no folder")?
            .join("teacher-cert"),
    };
    if !binary.is_file() {
        bail!(
            "no service binary at {}: run `cargo build --release --bin teacher-cert` first \
             (with the same CARGO_TARGET_DIR), or pass --service-bin PATH",
            binary.display()
        );
    }
    Ok(binary)
}

impl Service {
    /// Starts `teacher-cert serve --dev` on a free loopback port against `database_url`
    /// (which the service creates and migrates) and waits until `/readyz` answers 200.
    pub async fn start(config: &ServiceConfig, database_url: &str) -> anyhow::Result<Self> {
        let port = free_port()?;
        let materials = config.work_dir.join("materials");
        let log_file = config.work_dir.join("service.log");
        let log = std::fs::File::create(&log_file)
            .with_context(|| format!("creating {}", log_file.display()))?;
        // The working directory is the run's own folder, so no stray `.env` is read.
        let child = Command::new(&config.binary)
            .args(["serve", "--dev"])
            .current_dir(&config.work_dir)
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("REGISTRY_FILE", &config.registry_file)
            .env("MATERIALS_URL", format!("file://{}", materials.display()))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", &config.log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", config.binary.display()))?;
        let pid = child.id().context("the service exited at once")?;
        let mut service = Self {
            child,
            pid,
            base_url: format!("http://127.0.0.1:{port}"),
            log_file,
        };
        if let Err(error) = service.wait_ready().await {
            service.stop().await.ok();
            return Err(error.context(format!(
                "the service did not become ready; its log is {}",
                service.log_file.display()
            )));
        }
        Ok(service)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", self.base_url);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the service exited with {status}");
            }
            if let Ok(response) = http.get(&url).send().await {
                if response.status() == reqwest::StatusCode::OK {
                    return Ok(());
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("not ready after {} s", READY_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM to the child's process id and waits for it to exit; kills it if it
    /// is still running after `STOP_TIMEOUT`.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // std offers only SIGKILL; `kill -TERM <pid>` asks for the graceful stop.
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .context("running kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    eprintln!("warning: the service exited with {status} after SIGTERM");
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await.context("killing the service")?;
                bail!(
                    "the service did not stop within {} s of SIGTERM",
                    STOP_TIMEOUT.as_secs()
                )
            }
        }
    }

    /// Fails when the child has exited, naming its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the service exited with {status}; its log is {}",
                self.log_file.display()
            );
        }
        Ok(())
    }
}

/// A loopback port that was free a moment ago: bind port 0, read the port, let it go.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A `/proc/<pid>/status` field in kilobytes, e.g. `VmHWM` (peak resident set size).
pub fn proc_status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {field} in {path}"))
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS, so a later reading is the
/// peak of what came after and not of start-up (loading the registry, say). Linux 4.0+;
/// answers whether it worked.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The PostgreSQL server's URL for database `name`.
pub fn database_url(server: &str, name: &str) -> String {
    format!("{}/{name}", server.trim_end_matches('/'))
}

/// Drops a database this driver created, ending its connections. Only `tc_bench_` names.
pub async fn drop_database(server: &str, name: &str) -> anyhow::Result<()> {
    if !name.starts_with("tc_bench_") || name.contains('"') {
        bail!("refusing to drop {name:?}: not a bench database");
    }
    let mut conn = PgConnection::connect(&database_url(server, "postgres"))
        .await
        .context("connecting to the maintenance database")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping {name}"))?;
    conn.close().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rss_of_this_process_is_read_in_kilobytes() -> anyhow::Result<()> {
        let peak = proc_status_kb(std::process::id(), "VmHWM")?;
        let now = proc_status_kb(std::process::id(), "VmRSS")?;
        assert!(peak >= now && now > 0, "VmHWM {peak} kB, VmRSS {now} kB");
        Ok(())
    }

    #[tokio::test]
    async fn only_bench_databases_may_be_dropped() {
        // The refusal comes before any connection, so no server is needed.
        let refused = drop_database("postgres://127.0.0.1:1", "teacher_cert").await;
        let message = refused.err().map(|error| format!("{error:#}"));
        assert!(
            message
                .as_deref()
                .is_some_and(|message| message.contains("not a bench database")),
            "{message:?}"
        );
    }
}
