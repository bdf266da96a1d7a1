//! The database's ceiling: the SQL the event store and a projector perform for one
//! command, through a plain `sqlx` pool, on scratch copies of the real tables (same
//! columns, defaults, identity and indexes, no triggers) in the same database, with rows of
//! the same size as the service's own. The service's figures are read as a share of these.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::load::{self, Run};

/// Real rows copied from the service's database, so the ceiling writes the same sizes.
#[derive(Debug, Clone)]
pub struct Templates {
    pub event_version: String,
    pub submitted_payload: Value,
    pub submitted_metadata: Value,
    pub accepted_payload: Value,
    pub accepted_metadata: Value,
    pub view: Value,
    pub applicant_id: String,
}

/// Sizes of the template rows, for the report.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TemplateSizes {
    pub submitted_event_bytes: usize,
    pub accepted_event_bytes: usize,
    pub view_bytes: usize,
}

impl Templates {
    /// The latest submitted and accepted events and one view row of the service's run.
    pub async fn read(pool: &PgPool) -> anyhow::Result<Self> {
        let event = |event_type: &'static str| {
            sqlx::query_as::<_, (String, Value, Value)>(
                "SELECT event_version, payload, metadata FROM events WHERE event_type = $1
                 ORDER BY global_position DESC LIMIT 1",
            )
            .bind(event_type)
            .fetch_one(pool)
        };
        let (event_version, submitted_payload, submitted_metadata) = event("ApplicationSubmitted")
            .await
            .context("reading a real ApplicationSubmitted event")?;
        let (_, accepted_payload, accepted_metadata) = event("ApplicationAccepted")
            .await
            .context("reading a real ApplicationAccepted event")?;
        // An accepted case's row; the driver may have approved them all to reuse their
        // applicants, and an approved row is one timeline step longer, which is close enough.
        let (applicant_id, view): (String, Value) = sqlx::query_as(
            "SELECT applicant_id, view FROM my_submissions
             WHERE status IN ('ACCEPTED', 'APPROVED')
             ORDER BY status = 'ACCEPTED' DESC LIMIT 1",
        )
        .fetch_one(pool)
        .await
        .context("reading a real my_submissions row")?;
        Ok(Self {
            event_version,
            submitted_payload,
            submitted_metadata,
            accepted_payload,
            accepted_metadata,
            view,
            applicant_id,
        })
    }

    pub fn sizes(&self) -> TemplateSizes {
        let len = |value: &Value| value.to_string().len();
        TemplateSizes {
            submitted_event_bytes: len(&self.submitted_payload) + len(&self.submitted_metadata),
            accepted_event_bytes: len(&self.accepted_payload) + len(&self.accepted_metadata),
            view_bytes: len(&self.view),
        }
    }
}

/// Creates the scratch tables, empty.
pub async fn create_tables(pool: &PgPool) -> anyhow::Result<()> {
    for statement in [
        "DROP TABLE IF EXISTS bench_events, bench_views",
        "CREATE TABLE bench_events (LIKE events INCLUDING ALL)",
        "CREATE TABLE bench_views (LIKE my_submissions INCLUDING ALL)",
    ] {
        sqlx::query(statement)
            .execute(pool)
            .await
            .with_context(|| format!("running {statement}"))?;
    }
    Ok(())
}

/// The three ceilings, each at every concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceiling {
    /// One transaction inserting one submitted-size event: what a submission must write.
    Insert,
    /// One transaction reading a case's events and appending one: an acceptance's store work.
    ReadInsert,
    /// That plus updating the case's view row: the store's and one projector's work.
    ReadInsertView,
}

impl Ceiling {
    pub fn label(self) -> &'static str {
        match self {
            Self::Insert => "raw insert",
            Self::ReadInsert => "raw read+insert",
            Self::ReadInsertView => "raw read+insert+view",
        }
    }
}

/// Case ids the ceiling runs have used: `Insert` opens new cases; each read-and-append run
/// gets a range of cases of its own, seeded in bulk before it starts, so no case is appended
/// to twice and every read finds exactly the one submitted event a real acceptance finds.
#[derive(Debug, Default)]
pub struct Cases {
    next: AtomicUsize,
}

fn case_id(index: usize) -> String {
    // The shape of a real case number (TC and 11 digits), so keys and rows have its size.
    format!("TC{index:011}")
}

/// A pool of exactly `size` open connections, opened before any timing starts.
pub async fn pool(url: &str, size: u32) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(size)
        .min_connections(size)
        .connect(url)
        .await
        .context("connecting the ceiling pool")?;
    let mut held = Vec::new();
    for _ in 0..size {
        held.push(pool.acquire().await?);
    }
    drop(held);
    Ok(pool)
}

/// Seeds `count` new cases (one submitted event each, and with `views` a view row each) in
/// one statement, outside any timing; answers the first case's index.
async fn seed(
    pool: &PgPool,
    templates: &Templates,
    cases: &Cases,
    count: usize,
    views: bool,
) -> anyhow::Result<usize> {
    let first = cases.next.fetch_add(count, Ordering::SeqCst);
    let (from, to) = (i64::try_from(first)?, i64::try_from(first + count)? - 1);
    sqlx::query(
        "INSERT INTO bench_events
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT 'Application', 'TC' || lpad(i::text, 11, '0'), 1, 'ApplicationSubmitted', $3, $4, $5
         FROM generate_series($1::bigint, $2::bigint) AS i",
    )
    .bind(from)
    .bind(to)
    .bind(&templates.event_version)
    .bind(&templates.submitted_payload)
    .bind(&templates.submitted_metadata)
    .execute(pool)
    .await
    .context("seeding ceiling cases")?;
    if views {
        sqlx::query(
            "INSERT INTO bench_views (case_number, applicant_id, status, submitted_at, updated_at, view)
             SELECT 'TC' || lpad(i::text, 11, '0'), $3, 'SUBMITTED', now(), now(), $4
             FROM generate_series($1::bigint, $2::bigint) AS i",
        )
        .bind(from)
        .bind(to)
        .bind(&templates.applicant_id)
        .bind(&templates.view)
        .execute(pool)
        .await
        .context("seeding ceiling view rows")?;
    }
    // Fresh statistics and visibility map, as a table that autovacuum keeps up would have.
    sqlx::query("VACUUM ANALYZE bench_events, bench_views")
        .execute(pool)
        .await?;
    Ok(first)
}

/// Runs one ceiling at one concurrency. A read-and-append run gets `budget` seeded cases
/// and ends early if it uses them all.
#[expect(
    clippy::too_many_arguments,
    reason = "one run's whole set-up, passed once"
)]
pub async fn run(
    ceiling: Ceiling,
    pool: PgPool,
    setup: &PgPool,
    templates: Arc<Templates>,
    cases: Arc<Cases>,
    concurrency: usize,
    duration: Duration,
    budget: usize,
) -> anyhow::Result<Run> {
    let (start, limit) = match ceiling {
        Ceiling::Insert => (cases.next.load(Ordering::SeqCst), None),
        Ceiling::ReadInsert => (
            seed(setup, &templates, &cases, budget, false).await?,
            Some(budget),
        ),
        Ceiling::ReadInsertView => (
            seed(setup, &templates, &cases, budget, true).await?,
            Some(budget),
        ),
    };
    let op_templates = Arc::clone(&templates);
    let run = load::closed_loop(concurrency, duration, limit, move |index| {
        let pool = pool.clone();
        let templates = Arc::clone(&op_templates);
        let case = case_id(start + index);
        async move {
            match ceiling {
                Ceiling::Insert => insert(&pool, &templates, &case).await,
                Ceiling::ReadInsert => read_insert(&pool, &templates, &case, false).await,
                Ceiling::ReadInsertView => read_insert(&pool, &templates, &case, true).await,
            }
        }
    })
    .await?;
    if ceiling == Ceiling::Insert {
        let opened = usize::try_from(run.ops).unwrap_or(usize::MAX);
        cases.next.fetch_add(opened, Ordering::SeqCst);
    }
    Ok(run)
}

/// Columns postgres-es writes; the others are filled by the server, as in `events`.
const INSERT_EVENT: &str = "INSERT INTO bench_events
    (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
    VALUES ('Application', $1, $2, $3, $4, $5, $6)";

async fn insert(pool: &PgPool, templates: &Templates, case: &str) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(INSERT_EVENT)
        .bind(case)
        .bind(1_i64)
        .bind("ApplicationSubmitted")
        .bind(&templates.event_version)
        .bind(&templates.submitted_payload)
        .bind(&templates.submitted_metadata)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

type EventRow = (String, String, i64, String, String, Value, Value);

async fn read_insert(
    pool: &PgPool,
    templates: &Templates,
    case: &str,
    with_view: bool,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
         FROM bench_events WHERE aggregate_type = 'Application' AND aggregate_id = $1
         ORDER BY sequence",
    )
    .bind(case)
    .fetch_all(&mut *tx)
    .await?;
    anyhow::ensure!(!events.is_empty(), "ceiling case {case} has no events");
    let sequence = events.last().map_or(1, |event| event.2 + 1);
    sqlx::query(INSERT_EVENT)
        .bind(case)
        .bind(sequence)
        .bind("ApplicationAccepted")
        .bind(&templates.event_version)
        .bind(&templates.accepted_payload)
        .bind(&templates.accepted_metadata)
        .execute(&mut *tx)
        .await?;
    if with_view {
        sqlx::query(
            "INSERT INTO bench_views (case_number, applicant_id, status, submitted_at, updated_at, view)
             VALUES ($1, $2, 'ACCEPTED', now(), now(), $3)
             ON CONFLICT (case_number) DO UPDATE
             SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, view = EXCLUDED.view",
        )
        .bind(case)
        .bind(&templates.applicant_id)
        .bind(&templates.view)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_cases_have_the_length_of_real_case_numbers() {
        assert_eq!(case_id(42), "TC00000000042");
        assert_eq!(case_id(42).len(), "TC65917798475".len());
    }
}
