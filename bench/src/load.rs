//! Load shapes: a closed loop (N workers, each sending its next request when the last one
//! answered) for throughput, and an open loop (requests at a fixed rate whatever the
//! answers) for measuring the read side at a known load.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use crate::stats;

/// What one closed-loop point measured.
#[derive(Debug)]
pub struct Run {
    pub ops: u64,
    pub wall: Duration,
    pub latency: Histogram<u64>,
    /// The work list ran out before the time was up.
    pub exhausted: bool,
}

impl Run {
    pub fn ops_per_second(&self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "a rate")]
        let ops = self.ops as f64;
        ops / self.wall.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs `op(i)` for i = 0, 1, 2, … from `concurrency` workers until `duration` has passed
/// (no new request starts after it) or, with `limit`, until i reaches it. The first error
/// ends the run and is returned: a failed request is never counted.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    duration: Duration,
    limit: Option<usize>,
    op: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (op, next, exhausted) = (Arc::clone(&op), Arc::clone(&next), Arc::clone(&exhausted));
        workers.spawn(async move {
            let mut latency = stats::latency_histogram()?;
            while Instant::now() < deadline {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|limit| index >= limit) {
                    exhausted.store(true, Ordering::Relaxed);
                    break;
                }
                let sent = Instant::now();
                op(index)
                    .await
                    .with_context(|| format!("request {index}"))?;
                stats::record(&mut latency, sent.elapsed());
            }
            anyhow::Ok(latency)
        });
    }

    let mut latency = stats::latency_histogram()?;
    while let Some(joined) = workers.join_next().await {
        match joined
            .context("a load worker panicked")
            .and_then(|worker| worker)
        {
            Ok(worker) => latency
                .add(&worker)
                .map_err(|error| anyhow::anyhow!("merging histograms: {error:?}"))?,
            Err(error) => {
                workers.abort_all();
                return Err(error);
            }
        }
    }
    Ok(Run {
        ops: latency.len(),
        wall: started.elapsed(),
        latency,
        exhausted: exhausted.load(Ordering::Relaxed),
    })
}

/// Starts `op(i)` for i in 0..count at `rate` per second, on schedule whatever earlier
/// requests are doing, with at most `max_in_flight` outstanding (beyond that the schedule
/// slips, and the achieved rate says so). Returns the wall time from the first start to
/// the last answer; the first error ends the run.
pub async fn open_loop<F, Fut>(
    rate: f64,
    count: usize,
    max_in_flight: usize,
    op: F,
) -> anyhow::Result<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = tokio::time::Instant::now();
    let mut requests = JoinSet::new();
    for index in 0..count {
        let due = started + interval.mul_f64(index as f64);
        tokio::time::sleep_until(due).await;
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .context("the in-flight limit closed")?;
        let op = Arc::clone(&op);
        requests.spawn(async move {
            let result = op(index).await;
            drop(permit);
            result.with_context(|| format!("request {index}"))
        });
        // Fail fast: an error already in shows now, not after the whole schedule.
        while let Some(joined) = requests.try_join_next() {
            if let Err(error) = joined
                .context("a request task panicked")
                .and_then(|done| done)
            {
                requests.abort_all();
                return Err(error);
            }
        }
    }
    while let Some(joined) = requests.join_next().await {
        if let Err(error) = joined
            .context("a request task panicked")
            .and_then(|done| done)
        {
            requests.abort_all();
            return Err(error);
        }
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_loop_stops_when_its_work_list_runs_out() -> anyhow::Result<()> {
        let run = closed_loop(4, Duration::from_secs(5), Some(10), |_| async { Ok(()) }).await?;
        assert_eq!(run.ops, 10);
        assert!(run.exhausted);
        Ok(())
    }

    #[tokio::test]
    async fn a_closed_loop_fails_on_the_first_failed_request() {
        let run = closed_loop(2, Duration::from_secs(5), None, |index| async move {
            anyhow::ensure!(index < 3, "refused");
            Ok(())
        })
        .await;
        assert!(run.is_err());
    }

    #[tokio::test]
    async fn an_open_loop_keeps_its_rate_when_requests_are_quick() -> anyhow::Result<()> {
        let wall = open_loop(200.0, 20, 8, |_| async { Ok(()) }).await?;
        assert!(wall >= Duration::from_millis(90), "{wall:?}");
        Ok(())
    }
}
