//! Rebuilding a read model without downtime: a copy of its tables is filled from the start of
//! the ordered feed while readers and the live projector keep using the live tables, then the
//! copy takes the live tables' place in one transaction.
//!
//! Why no event is lost or applied twice: the copy moves with a checkpoint of its own
//! (`<name>@rebuild`) in the same transactions, as a live read model does. The swap takes the
//! live checkpoint's lock, which every step of the live projector takes first, so the live
//! projector (in every process) stands still while the copy is brought up to the live
//! checkpoint, the tables change places and the checkpoint takes the copy's position. The live
//! projector then carries on from there, on the new tables.
//!
//! Limitation: a copy is made with `CREATE TABLE … (LIKE … INCLUDING ALL)`, which carries
//! columns, defaults, checks and indexes but not privileges, triggers, policies, foreign keys
//! or storage options. A live table that has any of these is refused before the copy is
//! filled, and a table another object depends on (a view, a foreign key pointing at it) makes
//! the swap fail and roll back; the live read model is untouched either way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection, PgPool, Row};
use tracing::Instrument;

use crate::feed::{self, FeedError, FeedPosition};
use crate::projector::Projector;
use crate::store::{self, TableSet};

/// Events applied per transaction while the copy is filled.
pub const REBUILD_BATCH_SIZE: i64 = 10_000;

/// How long the swap waits for readers to let go of a live table. Readers that arrive while
/// it waits queue behind it, so it gives up early, rolls back and tries again.
const SWAP_LOCK_TIMEOUT: &str = "1s";
const SWAP_ATTEMPTS: u32 = 5;
const SWAP_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The first key of a rebuild's advisory lock (arbitrary, fixed); the second is the hashed
/// projector name.
const REBUILD_LOCK_CLASS: i32 = 0x5245_4231;

/// SQLSTATE `lock_not_available`, raised when `lock_timeout` runs out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Told how a rebuild is going. Called from the rebuilding task between transactions: an
/// implementation must return quickly and must not block.
pub trait RebuildProgress: Send + Sync {
    /// The rebuild of `projector` holds its lock and starts from the beginning of the feed;
    /// about `expected_events` events lie ahead (more may arrive while it runs).
    fn started(&self, projector: &'static str, expected_events: u64);

    /// `applied_events` events are in the copy so far.
    fn advanced(&self, projector: &'static str, applied_events: u64);

    /// The copy has taken the live tables' place.
    fn finished(&self, report: &ReadModelReport);
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl RebuildProgress for NoProgress {
    fn started(&self, _: &'static str, _: u64) {}
    fn advanced(&self, _: &'static str, _: u64) {}
    fn finished(&self, _: &ReadModelReport) {}
}

/// What rebuilding one read model did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadModelReport {
    pub projector: &'static str,
    /// Events folded into the copy: every event of the feed up to `position`.
    pub events_applied: u64,
    /// From taking the rebuild lock to the committed swap.
    pub duration: Duration,
    /// The read model's checkpoint right after the swap.
    pub position: FeedPosition,
}

impl ReadModelReport {
    /// Events applied per second of `duration`.
    pub fn events_per_second(&self) -> f64 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a rate; counts beyond 2^52 need no exact digits"
        )]
        let events = self.events_applied as f64;
        events / self.duration.as_secs_f64().max(f64::EPSILON)
    }
}

/// What a rebuild did, one entry per read model, in the order given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RebuildReport {
    pub read_models: Vec<ReadModelReport>,
}

/// Why a read model was not rebuilt. Its live tables and checkpoint are as they were.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Another rebuild of the same read model is running, in this process or another.
    #[error("a rebuild of {projector} is already running")]
    AlreadyRunning { projector: &'static str },
    /// A live table has something its copy cannot carry, or changed while the copy was
    /// filled (a migration ran, say).
    #[error("rebuild of {projector}: the copy of {table} cannot replace it: {detail}")]
    SchemaMismatch {
        projector: &'static str,
        table: &'static str,
        detail: String,
    },
    /// The copy's checkpoint moved while this rebuild filled it: something wrote the copy
    /// without holding the rebuild lock.
    #[error(
        "rebuild of {projector}: the copy moved to {found} while it was filled from {expected}"
    )]
    CopyMoved {
        projector: &'static str,
        expected: FeedPosition,
        found: FeedPosition,
    },
    /// The live checkpoint is past every event the feed delivers: it was set by hand.
    #[error("rebuild of {projector}: the live checkpoint {live} is past the feed's end {end}")]
    CheckpointPastFeed {
        projector: &'static str,
        live: FeedPosition,
        end: FeedPosition,
    },
    #[error("rebuild of {projector}: {source}")]
    Feed {
        projector: &'static str,
        source: FeedError,
    },
    #[error("rebuild of {projector}: {source}")]
    Database {
        projector: &'static str,
        source: sqlx::Error,
    },
}

/// Rebuilds each read model in turn from the start of the feed into a copy of its tables and
/// swaps the copy in, while readers and live projectors keep working on the live tables.
///
/// For each read model it promises: readers always find its tables, with the old rows until
/// the swap commits and the rebuilt ones after; the swap keeps every event exactly once
/// whatever live projectors in any process do meanwhile; the checkpoint after the swap is at
/// least where the live one was and at least where the feed's head was when the copy had
/// caught up. Events after it are the live projector's to apply.
///
/// Refuses a read model that another rebuild holds (`AlreadyRunning`). Stops at the first
/// failure: read models swapped before it stay rebuilt, the failing one keeps its old tables
/// and its copy is dropped.
pub async fn rebuild(
    pool: &PgPool,
    projectors: &[Arc<dyn Projector>],
    progress: &dyn RebuildProgress,
) -> Result<RebuildReport, RebuildError> {
    let mut report = RebuildReport::default();
    for projector in projectors {
        let span = tracing::info_span!("projections.rebuild", projector = projector.name());
        let read_model = rebuild_one(pool, projector.as_ref(), progress)
            .instrument(span.clone())
            .await?;
        progress.finished(&read_model);
        span.in_scope(|| {
            tracing::info!(
                position = %read_model.position,
                events_applied = read_model.events_applied,
                duration_ms = read_model.duration.as_millis(),
                "read model swapped in"
            );
        });
        report.read_models.push(read_model);
    }
    Ok(report)
}

async fn rebuild_one(
    pool: &PgPool,
    projector: &dyn Projector,
    progress: &dyn RebuildProgress,
) -> Result<ReadModelReport, RebuildError> {
    let name = projector.name();
    let started = Instant::now();
    let lock = RebuildLock::acquire(pool, name).await?;
    let outcome = fill_and_swap(pool, projector, progress).await;
    let outcome = match outcome {
        Ok((events_applied, position)) => Ok(ReadModelReport {
            projector: name,
            events_applied,
            duration: started.elapsed(),
            position,
        }),
        Err(error) => {
            // Limitation: a rebuild that fails or dies starts again from the beginning of the
            // feed next time, and a copy left by a process that died stays until then.
            if let Err(cleanup) = discard_copy(pool, projector).await {
                tracing::warn!(error = %cleanup, "could not drop the unfinished copy");
            }
            Err(error)
        }
    };
    lock.release().await;
    outcome
}

/// Fills a fresh copy and swaps it in: the events applied and the checkpoint after the swap.
async fn fill_and_swap(
    pool: &PgPool,
    projector: &dyn Projector,
    progress: &dyn RebuildProgress,
) -> Result<(u64, FeedPosition), RebuildError> {
    let name = projector.name();
    prepare_copy(pool, projector).await?;
    let head = feed::committed_head(pool).await.map_err(feed_error(name))?;
    let expected = feed::count_through(pool, head)
        .await
        .map_err(feed_error(name))?;
    tracing::info!(expected_events = expected, "rebuilding the read model");
    progress.started(name, u64::try_from(expected).unwrap_or_default());

    // The bulk of the work, each batch in its own short transaction.
    let applied = fill(pool, projector, progress, 0).await?;

    // Fresh tables have no planner statistics; gather them before readers see the copy.
    for &table in projector.tables() {
        let analyze = format!("ANALYZE {}", TableSet::Rebuild.table(table));
        sqlx::query(&analyze)
            .execute(pool)
            .await
            .map_err(database(name))?;
    }

    // Catch up on what arrived meanwhile: the swap holds the live projector while it works.
    let mut applied = fill(pool, projector, progress, applied).await?;
    let (swap_applied, position) = swap(pool, projector).await?;
    applied += swap_applied;
    progress.advanced(name, applied);
    Ok((applied, position))
}

/// Replaces whatever an earlier rebuild left with empty copies of the live tables and a copy
/// checkpoint at `ZERO`. Refuses live tables a copy cannot stand in for.
async fn prepare_copy(pool: &PgPool, projector: &dyn Projector) -> Result<(), RebuildError> {
    let name = projector.name();
    let mut tx = pool.begin().await.map_err(database(name))?;
    drop_copy(&mut tx, projector).await?;
    for &table in projector.tables() {
        let copy = TableSet::Rebuild.table(table);
        sqlx::query(&format!("CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)"))
            .execute(&mut *tx)
            .await
            .map_err(database(name))?;
        matching_indexes(&mut tx, name, table).await?;
    }
    store::ensure_checkpoint(&mut tx, &TableSet::Rebuild.checkpoint(name))
        .await
        .map_err(database(name))?;
    tx.commit().await.map_err(database(name))
}

/// Drops the copy's tables and checkpoint, if any.
async fn drop_copy(conn: &mut PgConnection, projector: &dyn Projector) -> Result<(), RebuildError> {
    let name = projector.name();
    for &table in projector.tables() {
        let copy = TableSet::Rebuild.table(table);
        // `DROP TABLE IF EXISTS` would log a notice for every rebuild that has nothing to drop.
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(copy.as_ref())
            .fetch_one(&mut *conn)
            .await
            .map_err(database(name))?;
        if exists {
            sqlx::query(&format!("DROP TABLE {copy}"))
                .execute(&mut *conn)
                .await
                .map_err(database(name))?;
        }
    }
    store::delete_checkpoint(conn, &TableSet::Rebuild.checkpoint(name))
        .await
        .map_err(database(name))
}

async fn discard_copy(pool: &PgPool, projector: &dyn Projector) -> Result<(), RebuildError> {
    let name = projector.name();
    let mut tx = pool.begin().await.map_err(database(name))?;
    drop_copy(&mut tx, projector).await?;
    tx.commit().await.map_err(database(name))
}

/// Applies batches to the copy until one comes back short: the copy has reached what the
/// feed delivers. Returns `applied_before` plus the events applied.
///
/// Reads the next batch from the feed on another connection while the current one is folded
/// and written: the database and this process then work at the same time instead of in
/// turn. The read is a plain query after the current batch's last position, so it needs
/// nothing of the current batch's transaction.
async fn fill(
    pool: &PgPool,
    projector: &dyn Projector,
    progress: &dyn RebuildProgress,
    applied_before: u64,
) -> Result<u64, RebuildError> {
    let name = projector.name();
    let checkpoint = TableSet::Rebuild.checkpoint(name);
    let mut applied = applied_before;
    let mut from = store::checkpoint(pool, &checkpoint)
        .await
        .map_err(database(name))?;
    let mut events = feed::read_after(pool, from, REBUILD_BATCH_SIZE)
        .await
        .map_err(feed_error(name))?;
    loop {
        let Some(last) = events.last().map(|event| event.position) else {
            return Ok(applied);
        };
        let full = events.len() >= usize::try_from(REBUILD_BATCH_SIZE).unwrap_or(usize::MAX);
        let prefetch = async {
            if full {
                feed::read_after(pool, last, REBUILD_BATCH_SIZE).await
            } else {
                Ok(Vec::new())
            }
        };
        let (written, next) = tokio::join!(
            write_batch(pool, projector, &checkpoint, from, &events),
            prefetch
        );
        written?;
        applied += u64::try_from(events.len()).unwrap_or(u64::MAX);
        progress.advanced(name, applied);
        if !full {
            return Ok(applied);
        }
        from = last;
        events = next.map_err(feed_error(name))?;
    }
}

/// Folds `events`, which follow `from`, into the copy and moves the copy's checkpoint past
/// them, in one transaction.
async fn write_batch(
    pool: &PgPool,
    projector: &dyn Projector,
    checkpoint: &str,
    from: FeedPosition,
    events: &[crate::feed::FeedEvent],
) -> Result<(), RebuildError> {
    let name = projector.name();
    let Some(last) = events.last().map(|event| event.position) else {
        return Ok(());
    };
    let mut tx = pool.begin().await.map_err(database(name))?;
    let at = store::checkpoint(&mut *tx, checkpoint)
        .await
        .map_err(database(name))?;
    if at != from {
        // Only a rebuild holding the lock moves the copy; this one holds it.
        return Err(RebuildError::CopyMoved {
            projector: name,
            expected: from,
            found: at,
        });
    }
    projector
        .apply(&mut tx, TableSet::Rebuild, events)
        .await
        .map_err(database(name))?;
    store::save_checkpoint(&mut tx, checkpoint, last)
        .await
        .map_err(database(name))?;
    tx.commit().await.map_err(database(name))
}

struct CopyStep {
    applied: u64,
    /// The copy's checkpoint after the step.
    position: FeedPosition,
}

/// Applies up to one batch of events after the copy's checkpoint (none past `upto`) to the
/// copy and moves its checkpoint past them, through `conn`; the caller commits.
async fn advance_copy(
    conn: &mut PgConnection,
    projector: &dyn Projector,
    upto: Option<FeedPosition>,
) -> Result<CopyStep, RebuildError> {
    let name = projector.name();
    let checkpoint = TableSet::Rebuild.checkpoint(name);
    let from = store::checkpoint(&mut *conn, &checkpoint)
        .await
        .map_err(database(name))?;
    let mut events = feed::read_after(&mut *conn, from, REBUILD_BATCH_SIZE)
        .await
        .map_err(feed_error(name))?;
    if let Some(upto) = upto {
        events.retain(|event| event.position <= upto);
    }
    let Some(last) = events.last().map(|event| event.position) else {
        return Ok(CopyStep {
            applied: 0,
            position: from,
        });
    };
    projector
        .apply(conn, TableSet::Rebuild, &events)
        .await
        .map_err(database(name))?;
    store::save_checkpoint(conn, &checkpoint, last)
        .await
        .map_err(database(name))?;
    Ok(CopyStep {
        applied: events.len().try_into().unwrap_or(u64::MAX),
        position: last,
    })
}

/// Swaps the copy in, retrying while readers hold a live table too long. The events applied
/// during the swap and the checkpoint after it.
async fn swap(
    pool: &PgPool,
    projector: &dyn Projector,
) -> Result<(u64, FeedPosition), RebuildError> {
    let mut attempt = 1;
    loop {
        match try_swap(pool, projector).await {
            Err(RebuildError::Database { source, .. })
                if is_lock_timeout(&source) && attempt < SWAP_ATTEMPTS =>
            {
                tracing::warn!(
                    attempt,
                    retry_in_ms = SWAP_RETRY_PAUSE.as_millis(),
                    "readers held a live table past the lock timeout; the swap will be retried"
                );
                tokio::time::sleep(SWAP_RETRY_PAUSE).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

/// In one transaction: stops the live projector, brings the copy up to the live checkpoint
/// (or the checkpoint up to the copy), puts each copy in its live table's place under the
/// live names, and drops the old tables and the copy's checkpoint.
async fn try_swap(
    pool: &PgPool,
    projector: &dyn Projector,
) -> Result<(u64, FeedPosition), RebuildError> {
    let name = projector.name();
    let copy_checkpoint = TableSet::Rebuild.checkpoint(name);
    let mut tx = pool.begin().await.map_err(database(name))?;

    // Every step of the live projector, in any process, takes this lock first: it waits here.
    let live = store::lock_checkpoint(&mut tx, name)
        .await
        .map_err(database(name))?;

    // The live projector may have got ahead of the copy since the copy last looked.
    let mut applied = 0;
    let mut position = store::checkpoint(&mut *tx, &copy_checkpoint)
        .await
        .map_err(database(name))?;
    while position < live {
        let step = advance_copy(&mut tx, projector, Some(live)).await?;
        if step.applied == 0 {
            return Err(RebuildError::CheckpointPastFeed {
                projector: name,
                live,
                end: position,
            });
        }
        applied += step.applied;
        position = step.position;
    }
    if position > live {
        store::save_checkpoint(&mut tx, name, position)
            .await
            .map_err(database(name))?;
    }

    sqlx::query(&format!("SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await
        .map_err(database(name))?;
    for &table in projector.tables() {
        replace_table(&mut tx, name, table).await?;
    }
    store::delete_checkpoint(&mut tx, &copy_checkpoint)
        .await
        .map_err(database(name))?;
    tx.commit().await.map_err(database(name))?;
    Ok((applied, position))
}

/// Drops the live `table` and gives its copy the live table's name and index names.
async fn replace_table(
    conn: &mut PgConnection,
    projector: &'static str,
    table: &'static str,
) -> Result<(), RebuildError> {
    let copy = TableSet::Rebuild.table(table);
    let renames = matching_indexes(conn, projector, table).await?;
    let mut statements = vec![
        format!("DROP TABLE {table}"),
        format!("ALTER TABLE {copy} RENAME TO {table}"),
    ];
    statements.extend(renames.iter().map(|(copy_index, live_index)| {
        format!(
            "ALTER INDEX {} RENAME TO {}",
            quote_ident(copy_index),
            quote_ident(live_index)
        )
    }));
    for statement in statements {
        sqlx::query(&statement)
            .execute(&mut *conn)
            .await
            .map_err(database(projector))?;
    }
    Ok(())
}

/// Checks that the copy of `table` can stand in for it, and pairs each index of the copy
/// with the live index of the same definition: `(copy's name, live name)`.
async fn matching_indexes(
    conn: &mut PgConnection,
    projector: &'static str,
    table: &'static str,
) -> Result<Vec<(String, String)>, RebuildError> {
    let copy = TableSet::Rebuild.table(table);
    let mismatch = |detail: String| RebuildError::SchemaMismatch {
        projector,
        table,
        detail,
    };

    let live_definition = definition(conn, table).await.map_err(database(projector))?;
    let copy_definition = definition(conn, &copy).await.map_err(database(projector))?;
    if let Some(line) = live_definition
        .iter()
        .find(|line| !copy_definition.contains(line))
    {
        return Err(mismatch(format!("the copy lacks {line}")));
    }
    if let Some(line) = copy_definition
        .iter()
        .find(|line| !live_definition.contains(line))
    {
        return Err(mismatch(format!("the live table lacks {line}")));
    }

    let live_indexes = indexes(conn, table).await.map_err(database(projector))?;
    let copy_indexes = indexes(conn, &copy).await.map_err(database(projector))?;
    let shapes = |indexes: &[(String, String)]| -> Vec<String> {
        indexes.iter().map(|(_, shape)| shape.clone()).collect()
    };
    if shapes(&live_indexes) != shapes(&copy_indexes) {
        return Err(mismatch(format!(
            "the live indexes are {:?}, the copy's {:?}",
            shapes(&live_indexes),
            shapes(&copy_indexes)
        )));
    }
    Ok(copy_indexes
        .into_iter()
        .zip(live_indexes)
        .map(|((copy_index, _), (live_index, _))| (copy_index, live_index))
        .collect())
}

/// Everything about `table` a copy must share, except its name and index names, as sorted
/// lines: ownership and privileges, columns, constraints, triggers, row security policies.
async fn definition(conn: &mut PgConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT line FROM ( \
             SELECT 0 AS part, 0 AS place, format('owner %s, privileges %s, options %s, \
                 row security %s', relowner::regrole, relacl, reloptions, relrowsecurity) AS line \
             FROM pg_class WHERE oid = $1::regclass \
           UNION ALL \
             SELECT 1, a.attnum, format('column %I %s%s%s', a.attname, \
                 format_type(a.atttypid, a.atttypmod), \
                 CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, \
                 ' default ' || pg_get_expr(d.adbin, d.adrelid)) \
             FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
           UNION ALL \
             SELECT 2, 0, format('constraint %I %s', conname, pg_get_constraintdef(oid)) \
             FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('c', 'f', 't') \
           UNION ALL \
             SELECT 3, 0, format('trigger %I', tgname) \
             FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal \
           UNION ALL \
             SELECT 4, 0, format('policy %I', polname) \
             FROM pg_policy WHERE polrelid = $1::regclass \
         ) lines ORDER BY part, place, line",
    )
    .bind(table)
    .fetch_all(conn)
    .await
}

/// The indexes of `table` as `(name, definition without names)`, sorted by definition.
async fn indexes(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.relname AS name, \
                concat_ws(' ', \
                    CASE WHEN i.indisprimary THEN 'primary key' \
                         WHEN i.indisunique THEN 'unique' END, \
                    CASE WHEN EXISTS (SELECT 1 FROM pg_constraint k \
                                      WHERE k.conindid = i.indexrelid) \
                         THEN 'constraint' END, \
                    substring(pg_get_indexdef(i.indexrelid) FROM 'USING .*$')) AS shape \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = $1::regclass \
         ORDER BY shape, name",
    )
    .bind(table)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("name")?, row.try_get("shape")?)))
        .collect()
}

/// An identifier the catalog returned, quoted for SQL text.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_lock_timeout(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error)
        if error.code().as_deref() == Some(LOCK_NOT_AVAILABLE))
}

/// The session-level advisory lock that makes a rebuild of one read model exclusive, held on
/// a connection of its own: if the process dies, the server drops the lock with the
/// connection.
struct RebuildLock {
    conn: PgConnection,
    projector: &'static str,
}

impl RebuildLock {
    /// Takes the lock, or refuses with `AlreadyRunning` without waiting.
    async fn acquire(pool: &PgPool, projector: &'static str) -> Result<Self, RebuildError> {
        let mut conn = pool.acquire().await.map_err(database(projector))?.detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(REBUILD_LOCK_CLASS)
            .bind(projector)
            .fetch_one(&mut conn)
            .await
            .map_err(database(projector))?;
        if !locked {
            conn.close().await.ok();
            return Err(RebuildError::AlreadyRunning { projector });
        }
        Ok(Self { conn, projector })
    }

    /// Gives the lock back and closes its connection; closing drops the lock if unlocking
    /// failed.
    async fn release(mut self) {
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
            .bind(REBUILD_LOCK_CLASS)
            .bind(self.projector)
            .execute(&mut self.conn)
            .await;
        if let Err(error) = unlocked {
            tracing::warn!(%error, "could not unlock the rebuild; closing its connection");
        }
        self.conn.close().await.ok();
    }
}

fn database(projector: &'static str) -> impl Fn(sqlx::Error) -> RebuildError {
    move |source| RebuildError::Database { projector, source }
}

fn feed_error(projector: &'static str) -> impl Fn(FeedError) -> RebuildError {
    move |source| RebuildError::Feed { projector, source }
}
