//! The ordered feed: every committed `Application` event exactly once, in commit order.
//!
//! Events are ordered by the writing transaction's id, then by their store-wide position.
//! The feed only shows events of transactions older than the oldest one still running, so
//! an event whose transaction commits late can never appear behind a position a reader has
//! already passed. The price: one long-open transaction holds the whole feed back.
//!
//! Limitation: transaction ids are shared by every database of the PostgreSQL cluster, so a
//! long write transaction in any database on the same server (not only this service's)
//! holds the feed back until it ends. Give the service a cluster of its own or keep
//! other transactions there short.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use domain::ApplicationEvent;
use sqlx::postgres::PgRow;
use sqlx::Row;

/// The aggregate type postgres-es writes for cases.
const AGGREGATE_TYPE: &str = "Application";

/// A place in the ordered feed: the writing transaction, then the store-wide position.
///
/// Positions compare in feed order. The string form (`Display` / `FromStr`) is opaque to
/// clients and round-trips exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedPosition {
    pub transaction_id: u64,
    pub global_position: i64,
}

impl FeedPosition {
    /// Before the first event.
    pub const ZERO: Self = Self {
        transaction_id: 0,
        global_position: 0,
    };
}

impl fmt::Display for FeedPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.transaction_id, self.global_position)
    }
}

/// A string that is not a feed position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a feed position: {0:?}")]
pub struct InvalidPosition(pub String);

impl FromStr for FeedPosition {
    type Err = InvalidPosition;

    /// Accepts exactly what `Display` writes: two runs of ASCII digits joined by `-`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPosition(raw.to_owned());
        let (transaction_id, global_position) = raw.split_once('-').ok_or_else(invalid)?;
        Ok(Self {
            transaction_id: parse_digits(transaction_id).ok_or_else(invalid)?,
            global_position: parse_digits(global_position).ok_or_else(invalid)?,
        })
    }
}

/// Parses a non-empty run of ASCII digits; refuses signs, spaces and overflow.
fn parse_digits<T: FromStr>(raw: &str) -> Option<T> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// One event as the feed delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    pub position: FeedPosition,
    /// The case (办件编号): the event's aggregate id.
    pub case_number: String,
    /// The event's 1-based place within its case.
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub event: ApplicationEvent,
    /// Who caused the event and why: `actor_id`, `actor_role`, `command_id`, `correlation_id`.
    pub metadata: HashMap<String, String>,
    /// When the store recorded the event (server clock).
    pub recorded_at: DateTime<Utc>,
}

/// Why the feed could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored event does not fit `ApplicationEvent` or its metadata is not a map of
    /// strings. The feed stops here rather than skip it.
    #[error("event {case_number}/{sequence} cannot be read: {source}")]
    Undecodable {
        case_number: String,
        sequence: i64,
        source: serde_json::Error,
    },
    /// The database returned a transaction id that is not an unsigned integer.
    #[error("event {case_number}/{sequence} has a malformed transaction id")]
    TransactionId { case_number: String, sequence: i64 },
}

/// Up to `limit` events after `after`, in feed order.
///
/// The plain `transaction_id >=` bound repeats what the row comparison says: PostgreSQL
/// estimates a row comparison badly, and with that estimate alone it chose to read and sort
/// every later event for each batch instead of walking `events_feed` in order.
///
/// Only events of transactions older than every transaction still running are returned,
/// so a later call never returns an event positioned before one an earlier call returned.
/// An event that cannot be decoded fails the whole read.
pub async fn read_after<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    after: FeedPosition,
    limit: i64,
) -> Result<Vec<FeedEvent>, FeedError> {
    let rows = sqlx::query(
        "SELECT transaction_id::text AS transaction_id_text, global_position, aggregate_id, \
                sequence, event_type, event_version, payload::text AS payload_text, \
                metadata::text AS metadata_text, recorded_at \
         FROM events \
         WHERE aggregate_type = $4 \
           AND transaction_id >= $1::text::xid8 \
           AND (transaction_id, global_position) > ($1::text::xid8, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id, global_position \
         LIMIT $3",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.global_position)
    .bind(limit)
    .bind(AGGREGATE_TYPE)
    .fetch_all(conn)
    .await?;
    rows.iter().map(decode_event).collect()
}

/// Whether events after `after` have committed that the feed does not deliver yet, because
/// a transaction older than theirs is still running. Such a transaction may end without any
/// notification (a projector's write, say), so a reader that sees this looks again soon.
pub async fn held_back_after<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    after: FeedPosition,
) -> Result<bool, FeedError> {
    let held_back = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events \
             WHERE aggregate_type = $3 \
               AND transaction_id >= $1::text::xid8 \
               AND (transaction_id, global_position) > ($1::text::xid8, $2) \
               AND transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))",
    )
    .bind(after.transaction_id.to_string())
    .bind(after.global_position)
    .bind(AGGREGATE_TYPE)
    .fetch_one(conn)
    .await?;
    Ok(held_back)
}

/// The position of the newest event the feed would deliver now, or `ZERO` when there is
/// none. The distance from a projector's checkpoint to this is its lag.
pub async fn head_position<'c>(conn: impl sqlx::PgExecutor<'c>) -> Result<FeedPosition, FeedError> {
    let row = sqlx::query(
        "SELECT transaction_id::text AS transaction_id_text, global_position, aggregate_id, \
                sequence \
         FROM events \
         WHERE aggregate_type = $1 \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY transaction_id DESC, global_position DESC \
         LIMIT 1",
    )
    .bind(AGGREGATE_TYPE)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(row) => decode_position(&row),
        None => Ok(FeedPosition::ZERO),
    }
}

/// The position of the newest committed event, whether or not the feed delivers it yet;
/// `ZERO` when there is none. Once the feed's head reaches it, every event committed
/// before this call has been delivered.
pub async fn committed_head<'c>(
    conn: impl sqlx::PgExecutor<'c>,
) -> Result<FeedPosition, FeedError> {
    let row = sqlx::query(
        "SELECT transaction_id::text AS transaction_id_text, global_position, aggregate_id, \
                sequence \
         FROM events \
         WHERE aggregate_type = $1 \
         ORDER BY transaction_id DESC, global_position DESC \
         LIMIT 1",
    )
    .bind(AGGREGATE_TYPE)
    .fetch_optional(conn)
    .await?;
    match row {
        Some(row) => decode_position(&row),
        None => Ok(FeedPosition::ZERO),
    }
}

/// How many events the feed holds up to and including `through`. For progress estimates:
/// it counts events the feed does not deliver yet as well.
pub async fn count_through<'c>(
    conn: impl sqlx::PgExecutor<'c>,
    through: FeedPosition,
) -> Result<i64, FeedError> {
    let count = sqlx::query_scalar(
        "SELECT count(*) FROM events \
         WHERE aggregate_type = $3 \
           AND (transaction_id, global_position) <= ($1::text::xid8, $2)",
    )
    .bind(through.transaction_id.to_string())
    .bind(through.global_position)
    .bind(AGGREGATE_TYPE)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// Reads a position from `transaction_id_text` and `global_position`. The text column must
/// not be called `transaction_id`: `ORDER BY transaction_id` would then sort by the text, and
/// `"1000000"` sorts before `"999999"`.
fn decode_position(row: &PgRow) -> Result<FeedPosition, FeedError> {
    let transaction_id: String = row.try_get("transaction_id_text")?;
    let transaction_id = parse_digits(&transaction_id).ok_or_else(|| FeedError::TransactionId {
        case_number: row.try_get("aggregate_id").unwrap_or_default(),
        sequence: row.try_get("sequence").unwrap_or_default(),
    })?;
    Ok(FeedPosition {
        transaction_id,
        global_position: row.try_get("global_position")?,
    })
}

fn decode_event(row: &PgRow) -> Result<FeedEvent, FeedError> {
    let case_number: String = row.try_get("aggregate_id")?;
    let sequence: i64 = row.try_get("sequence")?;
    // Read as text and parsed once: decoding `jsonb` into a `serde_json::Value` first would
    // build every event twice, which is most of a rebuild's time.
    let payload: &str = row.try_get("payload_text")?;
    let metadata: &str = row.try_get("metadata_text")?;
    let undecodable = |source| FeedError::Undecodable {
        case_number: case_number.clone(),
        sequence,
        source,
    };
    let event = serde_json::from_str(payload).map_err(undecodable)?;
    let metadata = serde_json::from_str(metadata).map_err(undecodable)?;
    Ok(FeedEvent {
        position: decode_position(row)?,
        case_number,
        sequence,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        event,
        metadata,
        recorded_at: row.try_get("recorded_at")?,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]
mod tests {
    use super::*;

    #[test]
    fn a_position_round_trips_through_its_string_form() {
        let position = FeedPosition {
            transaction_id: 4_294_967_302,
            global_position: 17,
        };
        assert_eq!(position.to_string(), "4294967302-17");
        assert_eq!(
            position.to_string().parse::<FeedPosition>().unwrap(),
            position
        );
        assert_eq!("0-0".parse::<FeedPosition>().unwrap(), FeedPosition::ZERO);
    }

    #[test]
    fn garbage_is_not_a_position() {
        for raw in [
            "", "-", "1-", "-1", "1--1", "+1-2", "1-+2", "a-1", "1-2-3", " 1-2", "1_2",
        ] {
            assert!(raw.parse::<FeedPosition>().is_err(), "{raw:?} parsed");
        }
        assert!("18446744073709551616-1".parse::<FeedPosition>().is_err());
    }

    #[test]
    fn positions_order_by_transaction_before_global_position() {
        let early_transaction = FeedPosition {
            transaction_id: 10,
            global_position: 99,
        };
        let later_transaction = FeedPosition {
            transaction_id: 11,
            global_position: 1,
        };
        assert!(FeedPosition::ZERO < early_transaction);
        assert!(early_transaction < later_transaction);
    }
}
