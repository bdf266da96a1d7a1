//! Reads of the event store that cqrs-es does not offer: one case's events with their
//! store-assigned columns, and the idempotency record of a command.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::ApplicationEvent;
use sqlx::PgPool;

/// One stored event of a case, as recorded.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub sequence: i64,
    pub global_position: i64,
    /// Where the event sits in the ordered feed.
    pub position: projections::FeedPosition,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: HashMap<String, String>,
    pub recorded_at: DateTime<Utc>,
    pub event: ApplicationEvent,
}

type EventRow = (
    i64,
    i64,
    String,
    String,
    String,
    serde_json::Value,
    serde_json::Value,
    DateTime<Utc>,
);

/// Every event of one case, oldest first; empty when there is no such case.
pub async fn case_events(pool: &PgPool, case_number: &str) -> anyhow::Result<Vec<StoredEvent>> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT sequence, global_position, transaction_id::text, event_type, event_version, payload, metadata, recorded_at
         FROM events
         WHERE aggregate_type = 'Application' AND aggregate_id = $1
         ORDER BY sequence",
    )
    .bind(case_number)
    .fetch_all(pool)
    .await
    .context("reading a case's events")?;
    rows.into_iter().map(stored_event).collect()
}

fn stored_event(row: EventRow) -> anyhow::Result<StoredEvent> {
    let (
        sequence,
        global_position,
        transaction_id,
        event_type,
        event_version,
        payload,
        metadata,
        recorded_at,
    ) = row;
    let position = projections::FeedPosition {
        transaction_id: transaction_id
            .parse()
            .with_context(|| format!("event {global_position} has a malformed transaction id"))?,
        global_position,
    };
    let event = serde_json::from_value(payload.clone())
        .with_context(|| format!("event {global_position} ({event_type}) does not deserialize"))?;
    let metadata = serde_json::from_value(metadata)
        .with_context(|| format!("event {global_position} has malformed metadata"))?;
    Ok(StoredEvent {
        sequence,
        global_position,
        position,
        event_type,
        event_version,
        payload,
        metadata,
        recorded_at,
        event,
    })
}

/// The case a command id was first applied to, if it ever was.
pub async fn processed_command(pool: &PgPool, command_id: &str) -> anyhow::Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT aggregate_id FROM processed_commands WHERE command_id = $1")
            .bind(command_id)
            .fetch_optional(pool)
            .await
            .context("reading processed_commands")?;
    Ok(row.map(|(case,)| case))
}
