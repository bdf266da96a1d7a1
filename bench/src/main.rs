//! `bench`: the teacher-cert load driver. Starts the release service against a fresh
//! database, drives it over real GraphQL (HTTP and WebSocket), measures the database's raw
//! ceiling for the same work in the same run, and prints each service figure beside it.
//! Any GraphQL error fails the run; nothing refused is counted as done.

mod ceiling;
mod gql;
mod load;
mod people;
mod phases;
mod read_side;
mod rebuild;
mod report;
mod scenarios;
mod service;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sqlx::{Connection, PgConnection};

use crate::report::{Machine, Report};
use crate::service::{Service, ServiceConfig};

/// Benchmark teacher-cert against the raw ceiling of its database, in one run.
#[derive(Debug, Clone, Parser)]
#[command(name = "bench", version)]
pub struct Args {
    /// Concurrencies of the closed-loop points, e.g. 1,16,64.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,

    /// Length of each closed-loop point, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,

    /// Fictional people in the registry: each submission needs a person with no open case.
    /// A point whose people run out ends early and is marked.
    #[arg(long, default_value_t = 20_000)]
    pub people: usize,

    /// Length of the projection-lag and subscription phases, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub read_side_seconds: f64,

    /// Submissions per second during the read-side phases; half the best measured submit
    /// rate when unset.
    #[arg(long)]
    pub read_side_rate: Option<f64>,

    /// Concurrent WebSocket subscribers; 0 skips the subscription phase.
    #[arg(long, default_value_t = 1_000)]
    pub subscribers: usize,

    /// Events to generate for the rebuild rate; 0 skips the rebuild phase. The default fits
    /// the whole run in about 10 minutes on 2 cores; the figure needs 1000000
    /// (generation runs at about 2,500 events/s there: allow about 16 minutes in all).
    #[arg(long, default_value_t = 200_000)]
    pub rebuild_events: u64,

    /// Concurrent case generators for the rebuild database.
    #[arg(long, default_value_t = 32)]
    pub rebuild_workers: usize,

    /// The teacher-cert binary; by default the one next to this executable.
    #[arg(long)]
    pub service_bin: Option<PathBuf>,

    /// The PostgreSQL server (no database name); bench databases are created on it.
    #[arg(
        long,
        env = "BENCH_DATABASE_SERVER",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pub database_server: String,

    /// Keep the bench databases (and the run's folder) instead of dropping them.
    #[arg(long)]
    pub keep_database: bool,

    /// Also write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// The service's RUST_LOG.
    #[arg(long, default_value = "info")]
    pub service_log: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nbench FAILED: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.concurrency.is_empty() && args.concurrency.iter().all(|&c| c > 0),
        "--concurrency needs one or more positive numbers"
    );
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    let binary = service::find_binary(args.service_bin.as_deref())?;
    check_open_files(args.subscribers)?;

    let name = format!(
        "tc_bench_{}_{}",
        chrono::Utc::now().timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let work_dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let mut report = Report {
        registry_people: args.people,
        ..Report::default()
    };
    let outcome = measure(&args, &binary, &name, &work_dir, &mut report).await;

    // Clean up whatever happened; a failed run keeps its folder (the service log) only.
    if !args.keep_database {
        for database in [name.clone(), format!("{name}_rebuild")] {
            if let Err(error) = service::drop_database(&args.database_server, &database).await {
                eprintln!("warning: could not drop {database}: {error:#}");
            }
        }
    }
    if outcome.is_ok() && !args.keep_database {
        std::fs::remove_dir_all(&work_dir).ok();
    } else {
        eprintln!(
            "the run's folder (registry, service log) is {}",
            work_dir.display()
        );
    }

    report.attach_ratios();
    println!("\n{}", report.text());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    outcome
}

/// Every phase, in order: the service's (it stops afterwards), then the ceilings on the same
/// database, then the rebuild on a database of its own.
async fn measure(
    args: &Args,
    binary: &std::path::Path,
    name: &str,
    work_dir: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let url = service::database_url(&args.database_server, name);
    let mut maintenance =
        PgConnection::connect(&service::database_url(&args.database_server, "postgres"))
            .await
            .context("connecting to PostgreSQL (is it running?)")?;
    report.machine = Some(Machine::read(&mut maintenance).await?);
    maintenance.close().await.ok();

    eprintln!("writing a registry of {} fictional people", args.people);
    let registry_file = work_dir.join("registry.json");
    let people = people::write_registry(&registry_file, args.people)?;
    let config = ServiceConfig {
        binary: binary.to_path_buf(),
        registry_file: registry_file.clone(),
        work_dir: work_dir.to_path_buf(),
        log_level: args.service_log.clone(),
    };
    eprintln!("starting {} on database {name}", binary.display());
    let mut service = Service::start(&config, &url).await?;
    let served = phases::service_phases(args, &mut service, &url, people.clone(), report).await;
    let stopped = service.stop().await;
    served.with_context(|| format!("the service's log is {}", service.log_file.display()))?;
    stopped?;

    phases::ceilings(args, &url, report).await?;

    if args.rebuild_events > 0 {
        let rebuild_url = service::database_url(&args.database_server, &format!("{name}_rebuild"));
        phases::rebuild(
            args,
            binary,
            work_dir,
            &rebuild_url,
            &registry_file,
            &people,
            report,
        )
        .await?;
    }
    Ok(())
}

/// Fails early when this process may not open a socket per subscriber. The service is
/// started from here and inherits the same limit.
fn check_open_files(subscribers: usize) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: Option<usize> = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok());
    let needed = subscribers + 512;
    if let Some(soft) = soft {
        anyhow::ensure!(
            soft >= needed,
            "{subscribers} subscribers need about {needed} open files, the limit is {soft}: \
             raise it with `ulimit -n {needed}` (or more) in this shell first"
        );
    }
    Ok(())
}
