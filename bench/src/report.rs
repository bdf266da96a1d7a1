//! The run's figures: the plain-text table printed at the end, and the same as JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ceiling::TemplateSizes;
use crate::load::Run;
use crate::read_side::Lag;
use crate::rebuild::{Generated, Rebuilt};
use crate::stats::Percentiles;

/// What the run ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub postgres_version: String,
}

impl Machine {
    pub async fn read(conn: &mut sqlx::PgConnection) -> anyhow::Result<Self> {
        let postgres_version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(conn)
            .await?;
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|line| line.strip_prefix("model name")?.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        Ok(Self {
            cpu_model,
            cores,
            postgres_version,
        })
    }
}

/// One measured point of a closed-loop scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub scenario: String,
    pub concurrency: usize,
    pub ops: u64,
    pub seconds: f64,
    pub ops_per_second: f64,
    pub latency: Percentiles,
    /// The work list (prepared applicants, submitted cases) ran out before the time was up.
    pub cut_short: bool,
    pub ceiling: Option<Ratio>,
    pub second_ceiling: Option<Ratio>,
}

/// A service figure as a share of a raw SQL ceiling at the same concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub ceiling: String,
    pub ceiling_ops_per_second: f64,
    pub ratio: f64,
}

impl Point {
    pub fn new(scenario: &str, concurrency: usize, run: &Run) -> Self {
        Self {
            scenario: scenario.to_owned(),
            concurrency,
            ops: run.ops,
            seconds: run.wall.as_secs_f64(),
            ops_per_second: run.ops_per_second(),
            latency: Percentiles::of_histogram(&run.latency),
            cut_short: run.exhausted,
            ceiling: None,
            second_ceiling: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LagReport {
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub submissions: usize,
    pub read_models: Vec<Lag>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionReport {
    pub subscribers: usize,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub cases: usize,
    pub deliveries: u64,
    pub from_answer: Percentiles,
    pub from_request: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    pub registry_people: usize,
    pub subscribers: usize,
    pub concurrency: usize,
    /// Resident set right after start-up (registry loaded, nothing served yet).
    pub baseline_rss_kb: u64,
    /// `VmHWM` after the phase; the peak counts from the phase's start when the reset worked.
    pub peak_rss_kb: u64,
    pub peak_reset_at_phase_start: bool,
    /// The highest `VmRSS` seen by sampling every 100 ms during the phase.
    pub sampled_peak_rss_kb: u64,
    pub submit_ops_per_second: f64,
    pub updates_counted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub generated: Generated,
    pub rebuilt: Rebuilt,
}

/// Everything the run measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub machine: Option<Machine>,
    pub registry_people: usize,
    pub template_sizes: Option<TemplateSizes>,
    pub points: Vec<Point>,
    pub ceilings: Vec<Point>,
    pub lag: Option<LagReport>,
    pub subscriptions: Option<SubscriptionReport>,
    pub footprint: Option<Footprint>,
    pub rebuild: Option<RebuildReport>,
}

impl Report {
    /// Sets each service point's ratio to the ceiling runs at the same concurrency.
    pub fn attach_ratios(&mut self) {
        let ceiling_of = |label: &str, concurrency: usize| {
            self.ceilings
                .iter()
                .find(|c| c.scenario == label && c.concurrency == concurrency)
                .map(|c| c.ops_per_second)
        };
        let mut ratios = Vec::new();
        for point in &self.points {
            let (first, second) = match point.scenario.as_str() {
                "submit" => (Some("raw insert"), None),
                "accept" => (Some("raw read+insert+view"), Some("raw read+insert")),
                _ => (None, None),
            };
            let ratio = |label: Option<&str>| {
                let label = label?;
                let ceiling = ceiling_of(label, point.concurrency)?;
                Some(Ratio {
                    ceiling: label.to_owned(),
                    ceiling_ops_per_second: ceiling,
                    ratio: point.ops_per_second / ceiling.max(f64::EPSILON),
                })
            };
            ratios.push((ratio(first), ratio(second)));
        }
        for (point, (first, second)) in self.points.iter_mut().zip(ratios) {
            point.ceiling = first;
            point.second_ceiling = second;
        }
    }

    /// The plain-text table and the read-side figures.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(machine) = &self.machine {
            let _ = writeln!(
                out,
                "machine: {} ({} cores), PostgreSQL {}",
                machine.cpu_model, machine.cores, machine.postgres_version
            );
        }
        if let Some(sizes) = &self.template_sizes {
            let _ = writeln!(
                out,
                "row sizes (JSON bytes): submitted event {}, accepted event {}, view {}",
                sizes.submitted_event_bytes, sizes.accepted_event_bytes, sizes.view_bytes
            );
        }
        let _ = writeln!(
            out,
            "\n{:<22} {:>4} {:>8} {:>10} {:>9} {:>9} {:>9} {:>11} {:>7}  vs",
            "scenario", "c", "ops", "ops/s", "p50 ms", "p99 ms", "max ms", "ceiling/s", "ratio"
        );
        for point in self.points.iter().chain(&self.ceilings) {
            out.push_str(&row(point, point.ceiling.as_ref()));
            if let Some(second) = &point.second_ceiling {
                let _ = writeln!(
                    out,
                    "{:<22} {:>4} {:>8} {:>10} {:>9} {:>9} {:>9} {:>11.0} {:>7.2}  {}",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    second.ceiling_ops_per_second,
                    second.ratio,
                    second.ceiling
                );
            }
        }
        if self
            .points
            .iter()
            .chain(&self.ceilings)
            .any(|p| p.cut_short)
        {
            out.push_str("* the work list ran out before the time was up; raise --people\n");
        }
        self.read_side_text(&mut out);
        out
    }

    fn read_side_text(&self, out: &mut String) {
        if let Some(lag) = &self.lag {
            let _ = writeln!(
                out,
                "\nprojection lag at {:.0}/s submissions (target {:.0}/s), {} cases, commit to visible:",
                lag.achieved_rate, lag.target_rate, lag.submissions
            );
            for model in &lag.read_models {
                let _ = writeln!(
                    out,
                    "  {:<16} from answer p50 {:>7.2} p99 {:>7.2} max {:>7.2} ms | from request p50 {:>7.2} p99 {:>7.2} max {:>7.2} ms",
                    model.read_model,
                    model.from_answer.p50_ms, model.from_answer.p99_ms, model.from_answer.max_ms,
                    model.from_request.p50_ms, model.from_request.p99_ms, model.from_request.max_ms,
                );
            }
        }
        if let Some(subs) = &self.subscriptions {
            let _ = writeln!(
                out,
                "\nsubscription delay, {} subscribers, {} cases at {:.0}/s (target {:.0}/s), {} deliveries, none missing:",
                subs.subscribers, subs.cases, subs.achieved_rate, subs.target_rate, subs.deliveries
            );
            let _ = writeln!(
                out,
                "  from answer p50 {:.2} p99 {:.2} max {:.2} ms | from request p50 {:.2} p99 {:.2} max {:.2} ms",
                subs.from_answer.p50_ms, subs.from_answer.p99_ms, subs.from_answer.max_ms,
                subs.from_request.p50_ms, subs.from_request.p99_ms, subs.from_request.max_ms,
            );
        }
        if let Some(f) = &self.footprint {
            let _ = writeln!(
                out,
                "\nfootprint during submit c={} with {} subscribers ({:.0} submits/s, {} updates delivered):\n  peak RSS {:.1} MB (VmHWM{}), sampled peak {:.1} MB, after start-up {:.1} MB with a {}-person registry",
                f.concurrency, f.subscribers, f.submit_ops_per_second, f.updates_counted,
                mb(f.peak_rss_kb),
                if f.peak_reset_at_phase_start { ", reset at phase start" } else { " since start-up" },
                mb(f.sampled_peak_rss_kb), mb(f.baseline_rss_kb), f.registry_people,
            );
        }
        if let Some(rebuild) = &self.rebuild {
            let g = &rebuild.generated;
            let _ = writeln!(
                out,
                "\nrebuild from zero: {} events ({} cases) generated through the store in {:.1} s ({:.0} events/s)",
                g.events, g.cases, g.seconds, g.events_per_second
            );
            for model in &rebuild.rebuilt.read_models {
                let _ = writeln!(
                    out,
                    "  {:<16} {} events in {:.2} s: {:.0} events/s",
                    model.read_model, model.events, model.seconds, model.events_per_second
                );
            }
            let _ = writeln!(
                out,
                "  rebuild-projections took {:.2} s end to end",
                rebuild.rebuilt.wall_seconds
            );
        }
    }
}

fn row(point: &Point, ratio: Option<&Ratio>) -> String {
    let scenario = if point.cut_short {
        format!("{}*", point.scenario)
    } else {
        point.scenario.clone()
    };
    let (ceiling, share, label) = match ratio {
        Some(r) => (
            format!("{:.0}", r.ceiling_ops_per_second),
            format!("{:.2}", r.ratio),
            r.ceiling.as_str(),
        ),
        None => ("-".to_owned(), "-".to_owned(), ""),
    };
    format!(
        "{:<22} {:>4} {:>8} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>11} {:>7}  {}\n",
        scenario,
        point.concurrency,
        point.ops,
        point.ops_per_second,
        point.latency.p50_ms,
        point.latency.p99_ms,
        point.latency.max_ms,
        ceiling,
        share,
        label
    )
}

#[expect(clippy::cast_precision_loss, reason = "megabytes for display")]
fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(scenario: &str, concurrency: usize, ops_per_second: f64) -> Point {
        Point {
            scenario: scenario.to_owned(),
            concurrency,
            ops: 1,
            seconds: 1.0,
            ops_per_second,
            latency: Percentiles::default(),
            cut_short: false,
            ceiling: None,
            second_ceiling: None,
        }
    }

    #[test]
    fn each_command_is_compared_with_the_ceiling_of_its_own_concurrency() {
        let mut report = Report {
            points: vec![point("submit", 16, 500.0), point("accept", 16, 300.0)],
            ceilings: vec![
                point("raw insert", 1, 100.0),
                point("raw insert", 16, 1000.0),
                point("raw read+insert", 16, 600.0),
                point("raw read+insert+view", 16, 400.0),
            ],
            ..Report::default()
        };
        report.attach_ratios();
        let submit = report.points[0].ceiling.as_ref().map(|r| r.ratio);
        let accept = report.points[1].ceiling.as_ref().map(|r| r.ratio);
        let accept_vs_store = report.points[1].second_ceiling.as_ref().map(|r| r.ratio);
        assert_eq!(submit, Some(0.5));
        assert_eq!(accept, Some(0.75));
        assert_eq!(accept_vs_store, Some(0.5));
    }

    #[test]
    fn queries_have_no_ceiling() {
        let mut report = Report {
            points: vec![point("mySubmissions", 16, 900.0)],
            ceilings: vec![point("raw insert", 16, 1000.0)],
            ..Report::default()
        };
        report.attach_ratios();
        assert!(report.points[0].ceiling.is_none());
        assert!(report.text().contains("mySubmissions"));
    }
}
