//! How far the read side has come: the feed's head, each projector's checkpoint and lag,
//! and the transaction holding the feed back. For metrics, and for queries that must not
//! answer before the read models include a given event (read your writes).

use std::time::Duration;

use sqlx::PgPool;

use crate::feed::{self, FeedError, FeedPosition};
use crate::store;

/// One projector's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectorStatus {
    pub name: &'static str,
    pub checkpoint: FeedPosition,
    /// Committed events the projector has not applied yet.
    pub lag_events: i64,
    /// How long the oldest of those has waited, in milliseconds; 0 when there is none.
    pub lag_ms: f64,
}

/// The read side at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadSideStatus {
    /// The newest committed event.
    pub committed_head: FeedPosition,
    /// The newest event the feed delivers now.
    pub visible_head: FeedPosition,
    /// Age of the oldest transaction in the cluster that holds a transaction id, in seconds:
    /// the feed delivers nothing written after it began until it ends.
    pub oldest_transaction_age_seconds: f64,
    pub projectors: Vec<ProjectorStatus>,
}

/// Reads the status of the feed and of the named projectors.
pub async fn read_side_status(
    pool: &PgPool,
    projectors: &[&'static str],
) -> Result<ReadSideStatus, FeedError> {
    let committed_head = feed::committed_head(pool).await?;
    let visible_head = feed::head_position(pool).await?;
    let oldest_transaction_age_seconds: f64 = sqlx::query_scalar(
        "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(xact_start)), 0)::float8 \
         FROM pg_stat_activity WHERE backend_xid IS NOT NULL",
    )
    .fetch_one(pool)
    .await?;
    let mut statuses = Vec::with_capacity(projectors.len());
    for &name in projectors {
        let checkpoint = store::checkpoint(pool, name).await?;
        let (lag_events, lag_ms): (i64, f64) = sqlx::query_as(
            "SELECT count(*), \
                    COALESCE(EXTRACT(EPOCH FROM now() - min(recorded_at)) * 1000, 0)::float8 \
             FROM events \
             WHERE aggregate_type = 'Application' \
               AND (transaction_id, global_position) > ($1::text::xid8, $2)",
        )
        .bind(checkpoint.transaction_id.to_string())
        .bind(checkpoint.global_position)
        .fetch_one(pool)
        .await?;
        statuses.push(ProjectorStatus {
            name,
            checkpoint,
            lag_events,
            lag_ms,
        });
    }
    Ok(ReadSideStatus {
        committed_head,
        visible_head,
        oldest_transaction_age_seconds,
        projectors: statuses,
    })
}

/// How often `wait_until_applied` looks at the checkpoints.
const WAIT_POLL: Duration = Duration::from_millis(10);

/// Waits until every named projector has applied the event at `position`, or `timeout`
/// has passed. `true` when they have.
pub async fn wait_until_applied(
    pool: &PgPool,
    projectors: &[&str],
    position: FeedPosition,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut behind = false;
        for name in projectors {
            if store::checkpoint(pool, name).await? < position {
                behind = true;
                break;
            }
        }
        if !behind {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}
