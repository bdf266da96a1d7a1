//! How `rebuild-projections` reports its progress: a bar with the rate when stderr is a
//! terminal, otherwise a log line every 100,000 events and one when a read model is done.

use std::fmt;
use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use projections::{ReadModelReport, RebuildProgress};

/// Events between two progress lines in the log.
pub const LOG_EVERY_EVENTS: u64 = 100_000;

const BAR_TEMPLATE: &str =
    "{prefix:>15} [{bar:40}] {human_pos}/{human_len} events, {rate} events/s, {eta} left {msg}";

/// The reporter that suits where stderr goes.
pub fn for_stderr() -> Box<dyn RebuildProgress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(LogLines::default())
    }
}

/// One progress bar per read model, on stderr.
#[derive(Default)]
struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

impl RebuildProgress for Bar {
    fn started(&self, projector: &'static str, expected_events: u64) {
        let style = ProgressStyle::with_template(BAR_TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("rate", |state: &ProgressState, out: &mut dyn fmt::Write| {
                write!(out, "{:.0}", state.per_sec()).ok();
            })
            .progress_chars("=> ");
        let bar = ProgressBar::new(expected_events)
            .with_style(style)
            .with_prefix(projector);
        *locked(&self.current) = Some(bar);
    }

    fn advanced(&self, _: &'static str, applied_events: u64) {
        if let Some(bar) = locked(&self.current).as_ref() {
            // Events that arrive during the rebuild push the end further.
            if bar.length().is_some_and(|length| applied_events > length) {
                bar.set_length(applied_events);
            }
            bar.set_position(applied_events);
        }
    }

    fn finished(&self, report: &ReadModelReport) {
        if let Some(bar) = locked(&self.current).take() {
            bar.finish_with_message(format!(
                "done: {:.0} events/s overall",
                report.events_per_second()
            ));
        }
    }
}

/// Log lines through `tracing`.
#[derive(Default)]
struct LogLines {
    current: Mutex<Option<Run>>,
}

/// The read model being rebuilt: when it started and the count at its last log line.
struct Run {
    started: Instant,
    logged_at_events: u64,
}

impl RebuildProgress for LogLines {
    fn started(&self, _: &'static str, _: u64) {
        *locked(&self.current) = Some(Run {
            started: Instant::now(),
            logged_at_events: 0,
        });
    }

    fn advanced(&self, projector: &'static str, applied_events: u64) {
        let mut current = locked(&self.current);
        let Some(run) = current.as_mut() else {
            return;
        };
        if !passes_a_mark(run.logged_at_events, applied_events) {
            return;
        }
        run.logged_at_events = applied_events;
        let seconds = run.started.elapsed().as_secs_f64().max(f64::EPSILON);
        #[expect(
            clippy::cast_precision_loss,
            reason = "a rate; counts beyond 2^52 need no exact digits"
        )]
        let events_per_second = applied_events as f64 / seconds;
        tracing::info!(
            projector,
            events_applied = applied_events,
            events_per_second = events_per_second.round(),
            "rebuilding"
        );
    }

    fn finished(&self, report: &ReadModelReport) {
        locked(&self.current).take();
        tracing::info!(
            projector = report.projector,
            events_applied = report.events_applied,
            duration_ms = report.duration.as_millis(),
            events_per_second = report.events_per_second().round(),
            position = %report.position,
            "read model rebuilt"
        );
    }
}

/// Whether going from `before` to `now` events passes a multiple of `LOG_EVERY_EVENTS`.
fn passes_a_mark(before: u64, now: u64) -> bool {
    now / LOG_EVERY_EVENTS > before / LOG_EVERY_EVENTS
}

/// The guarded value, even if a thread panicked while holding it: progress is only shown.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_is_due_each_time_the_count_passes_a_multiple_of_100_000() {
        assert!(!passes_a_mark(0, 99_999));
        assert!(passes_a_mark(0, 100_000));
        assert!(passes_a_mark(99_000, 100_500));
        assert!(!passes_a_mark(100_500, 199_999));
        assert!(passes_a_mark(100_500, 350_000));
    }
}
