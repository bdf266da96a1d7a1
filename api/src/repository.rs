//! The event repository commands write through. Reads are postgres-es's; a command's events
//! are written by one `INSERT` statement instead of postgres-es's `BEGIN`, one `INSERT` per
//! event and `COMMIT`: a single statement is atomic on its own, and each round trip saved is
//! a few percent of a command's time. The statement also returns where the events landed,
//! which the command side hands back to its caller as a receipt, so it need not read the case
//! again to answer.

use std::cell::RefCell;
use std::future::Future;

use cqrs_es::persist::{
    PersistedEventRepository, PersistedEventStore, PersistenceError, ReplayStream, SerializedEvent,
    SerializedSnapshot,
};
use cqrs_es::{Aggregate, CqrsFramework};
use domain::ports::ApplicationServices;
use domain::Application;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;

use crate::event_store::StoredEvent;

/// The command side of teacher-cert: cqrs-es over `EventRepository`.
pub type CaseCqrs = CqrsFramework<Application, PersistedEventStore<EventRepository, Application>>;

/// The framework that runs commands on cases, writing through `EventRepository`, with no
/// in-process queries: read models follow the ordered feed instead.
pub fn case_cqrs(pool: PgPool, services: ApplicationServices) -> CaseCqrs {
    let store = PersistedEventStore::new_event_store(EventRepository::new(pool));
    CqrsFramework::new(store, Vec::new(), services)
}

tokio::task_local! {
    /// Where `persist` leaves the events it stored for the command running in this task.
    static RECEIPT: RefCell<Option<Vec<StoredEvent>>>;
}

/// Runs `command` (a future that executes one command through `CaseCqrs`) and returns its
/// output with the events it stored, as stored: empty when it stored none.
pub async fn with_receipt<F: Future>(command: F) -> (F::Output, Vec<StoredEvent>) {
    RECEIPT
        .scope(RefCell::new(None), async move {
            let output = command.await;
            let stored = RECEIPT
                .try_with(|receipt| receipt.borrow_mut().take())
                .ok()
                .flatten()
                .unwrap_or_default();
            (output, stored)
        })
        .await
}

/// postgres-es for reads; one statement per command for writes.
pub struct EventRepository {
    reads: PostgresEventRepository,
    pool: PgPool,
}

impl EventRepository {
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
        }
    }

    /// Inserts `events` in one statement and returns them as stored.
    async fn insert<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
    ) -> Result<Vec<StoredEvent>, PersistenceError> {
        let mut columns = EventColumns::default();
        for event in events {
            columns.push(event)?;
        }
        let rows: Vec<(i64, i64, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
            "INSERT INTO events \
                 (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
                  metadata) \
             SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], \
                                      $6::text[]::json[], $7::text[]::json[]) \
             RETURNING sequence, global_position, transaction_id::text, recorded_at",
        )
        .bind(A::TYPE)
        .bind(&columns.aggregate_ids)
        .bind(&columns.sequences)
        .bind(&columns.event_types)
        .bind(&columns.event_versions)
        .bind(&columns.payloads)
        .bind(&columns.metadata)
        .fetch_all(&self.pool)
        .await
        .map_err(persistence_error)?;

        let mut stored = Vec::with_capacity(rows.len());
        for (sequence, global_position, transaction_id, recorded_at) in rows {
            let Some(event) = events
                .iter()
                .find(|event| i64::try_from(event.sequence).ok() == Some(sequence))
            else {
                return Err(PersistenceError::UnknownError(
                    format!("the store returned sequence {sequence}, which was not inserted")
                        .into(),
                ));
            };
            stored.push(stored_event(
                event,
                global_position,
                &transaction_id,
                recorded_at,
            )?);
        }
        stored.sort_by_key(|event| event.sequence);
        Ok(stored)
    }
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.reads.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        if snapshot_update.is_some() {
            // Not reached: `case_cqrs` builds an event store, which keeps no snapshots.
            return self.reads.persist::<A>(events, snapshot_update).await;
        }
        if events.is_empty() {
            return Ok(());
        }
        let stored = self.insert::<A>(events).await?;
        // Outside `with_receipt` (a tool generating events, say) nobody wants the receipt.
        RECEIPT
            .try_with(|receipt| *receipt.borrow_mut() = Some(stored))
            .ok();
        Ok(())
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}

/// A command's events as one array per column, for `UNNEST`. JSON goes as text: one array
/// parameter, parsed once by PostgreSQL.
#[derive(Default)]
struct EventColumns<'a> {
    aggregate_ids: Vec<&'a str>,
    sequences: Vec<i64>,
    event_types: Vec<&'a str>,
    event_versions: Vec<&'a str>,
    payloads: Vec<String>,
    metadata: Vec<String>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, event: &'a SerializedEvent) -> Result<(), PersistenceError> {
        let sequence = i64::try_from(event.sequence)
            .map_err(|error| PersistenceError::UnknownError(Box::new(error)))?;
        self.payloads.push(to_json(&event.payload)?);
        self.metadata.push(to_json(&event.metadata)?);
        self.aggregate_ids.push(&event.aggregate_id);
        self.sequences.push(sequence);
        self.event_types.push(&event.event_type);
        self.event_versions.push(&event.event_version);
        Ok(())
    }
}

fn to_json(value: &Value) -> Result<String, PersistenceError> {
    serde_json::to_string(value).map_err(|error| PersistenceError::UnknownError(Box::new(error)))
}

/// A stored event from what was inserted and what the store assigned.
fn stored_event(
    event: &SerializedEvent,
    global_position: i64,
    transaction_id: &str,
    recorded_at: chrono::DateTime<chrono::Utc>,
) -> Result<StoredEvent, PersistenceError> {
    let unknown = |message: String| PersistenceError::UnknownError(message.into());
    let transaction_id = transaction_id
        .parse()
        .map_err(|_| unknown(format!("malformed transaction id {transaction_id}")))?;
    let decoded = serde_json::from_value(event.payload.clone())
        .map_err(|error| PersistenceError::DeserializationError(Box::new(error)))?;
    let metadata = serde_json::from_value(event.metadata.clone())
        .map_err(|error| PersistenceError::DeserializationError(Box::new(error)))?;
    Ok(StoredEvent {
        sequence: i64::try_from(event.sequence).unwrap_or(i64::MAX),
        global_position,
        position: projections::FeedPosition {
            transaction_id,
            global_position,
        },
        event_type: event.event_type.clone(),
        event_version: event.event_version.clone(),
        payload: event.payload.clone(),
        metadata,
        recorded_at,
        event: decoded,
    })
}

/// A unique violation is a lost race: another command stored the same sequence of the case
/// first, or (through the `processed_commands` trigger) the same command id. Both are what
/// cqrs-es calls an optimistic-lock error; anything else is the database failing.
fn persistence_error(error: sqlx::Error) -> PersistenceError {
    const UNIQUE_VIOLATION: &str = "23505";
    match &error {
        sqlx::Error::Database(database) if database.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
            PersistenceError::ConnectionError(Box::new(error))
        }
        _ => PersistenceError::UnknownError(Box::new(error)),
    }
}
