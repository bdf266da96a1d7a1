//! Latency summaries: HDR histograms for request latencies (always positive), and plain
//! sorted samples for delays that may be negative (a subscription update can arrive before
//! the HTTP response of the command that caused it).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, to 3 significant digits.
pub fn latency_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|error| anyhow::anyhow!("{error}"))
}

/// Records one latency, saturating at the histogram's bounds rather than failing the run.
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

/// p50, p99 and max of a set of samples, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of_histogram(histogram: &Histogram<u64>) -> Self {
        Self {
            count: histogram.len(),
            p50_ms: micros_to_ms(histogram.value_at_quantile(0.50)),
            p99_ms: micros_to_ms(histogram.value_at_quantile(0.99)),
            max_ms: micros_to_ms(histogram.max()),
        }
    }

    /// Summarises signed samples in microseconds by nearest rank; sorts them in place.
    pub fn of_samples(samples: &mut [i64]) -> Self {
        samples.sort_unstable();
        let at = |quantile: f64| -> f64 {
            nearest_rank(samples, quantile).map_or(0.0, signed_micros_to_ms)
        };
        Self {
            count: samples.len() as u64,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: samples
                .last()
                .map_or(0.0, |&micros| signed_micros_to_ms(micros)),
        }
    }
}

/// The sample at `quantile` of sorted `samples` by the nearest-rank method: the smallest
/// value with at least that share of samples at or below it.
fn nearest_rank(samples: &[i64], quantile: f64) -> Option<i64> {
    if samples.is_empty() {
        return None;
    }
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a rank among at most a few million samples"
    )]
    let rank = (quantile * samples.len() as f64).ceil() as usize;
    samples.get(rank.clamp(1, samples.len()) - 1).copied()
}

#[expect(
    clippy::cast_precision_loss,
    reason = "milliseconds for display; exact beyond 2^52 µs is not needed"
)]
fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

#[expect(
    clippy::cast_precision_loss,
    reason = "milliseconds for display; exact beyond 2^52 µs is not needed"
)]
fn signed_micros_to_ms(micros: i64) -> f64 {
    micros as f64 / 1000.0
}

/// A signed difference `later - earlier` in microseconds.
pub fn signed_micros(later: std::time::Instant, earlier: std::time::Instant) -> i64 {
    match later.checked_duration_since(earlier) {
        Some(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        None => -i64::try_from((earlier - later).as_micros()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_one_to_a_hundred_is_fifty_and_the_p99_is_ninety_nine() {
        let mut samples: Vec<i64> = (1..=100).rev().map(|ms| ms * 1000).collect();
        let summary = Percentiles::of_samples(&mut samples);
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
    }

    #[test]
    fn negative_delays_are_kept_and_sorted_below_positive_ones() {
        let mut samples = vec![3_000, -2_000, 1_000];
        let summary = Percentiles::of_samples(&mut samples);
        assert_eq!(summary.p50_ms, 1.0);
        assert_eq!(summary.max_ms, 3.0);
        assert_eq!(samples[0], -2_000);
    }

    #[test]
    fn no_samples_summarise_to_zeros_rather_than_failing() {
        assert_eq!(Percentiles::of_samples(&mut []), Percentiles::default());
    }

    #[test]
    fn a_single_sample_is_every_percentile() {
        let summary = Percentiles::of_samples(&mut [7_500]);
        assert_eq!(
            (summary.p50_ms, summary.p99_ms, summary.max_ms),
            (7.5, 7.5, 7.5)
        );
    }

    #[test]
    fn the_histogram_summary_reads_in_milliseconds() -> anyhow::Result<()> {
        let mut histogram = latency_histogram()?;
        for ms in 1..=100 {
            record(&mut histogram, Duration::from_millis(ms));
        }
        let summary = Percentiles::of_histogram(&histogram);
        assert_eq!(summary.count, 100);
        assert!((summary.p50_ms - 50.0).abs() < 0.1, "{summary:?}");
        assert!((summary.max_ms - 100.0).abs() < 0.1, "{summary:?}");
        Ok(())
    }

    #[test]
    fn an_earlier_instant_gives_a_negative_difference() {
        let now = std::time::Instant::now();
        let later = now + Duration::from_millis(2);
        assert_eq!(signed_micros(later, now), 2_000);
        assert_eq!(signed_micros(now, later), -2_000);
    }
}
