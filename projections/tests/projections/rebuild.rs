//! Rebuilding read models beside the live ones: same views, no gap for readers, every event
//! exactly once across the swap, one rebuild of a read model at a time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use projections::feed::{self, FeedEvent, FeedPosition};
use projections::rebuild::NoProgress;
use projections::store::{self, TableSet};
use projections::{
    catch_up, checkpoint, rebuild, Change, MySubmissionsProjector, Projector, QueueKind,
    RebuildError,
};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{watch, Notify};

use crate::support::{
    accepted, append_on, approved, case_number, collected, mail, not_accepted, not_approved,
    settle, shipped, submitted, window, TestDb,
};

/// The events of case `n`, whose state depends on `n % 7`: every state a case can be in.
fn history(n: u64) -> Vec<domain::ApplicationEvent> {
    let minute = i64::try_from(n % 1000).unwrap();
    let applicant = format!("applicant-{}", n % 40);
    let delivery = match n % 2 {
        0 => mail(),
        _ => window(),
    };
    let mut events = vec![submitted(n, &applicant, minute, delivery)];
    let later = |step: i64| minute + step * 60;
    match n % 7 {
        0 => {}
        1 => events.push(accepted(later(1), Some("材料齐全"))),
        2 => events.push(not_accepted(later(1), "照片不合格")),
        3 => events.extend([
            accepted(later(1), None),
            approved(later(2), "20261100010200001"),
        ]),
        4 => events.extend([
            accepted(later(1), None),
            not_approved(later(2), "体检不合格"),
        ]),
        5 => events.extend([
            accepted(later(1), None),
            approved(later(2), "20261100010200002"),
            shipped(later(3)),
        ]),
        _ => events.extend([
            accepted(later(1), None),
            approved(later(2), "20261100010200003"),
            collected(later(3)),
        ]),
    }
    events
}

/// Appends the histories of cases `cases`, interleaved (every case's first event, then every
/// second one, …), a few hundred events per transaction; returns the events appended.
async fn append_histories(db: &TestDb, cases: std::ops::RangeInclusive<u64>) -> u64 {
    let histories: Vec<(u64, Vec<domain::ApplicationEvent>)> =
        cases.map(|n| (n, history(n))).collect();
    let mut conn = db.pool.acquire().await.unwrap();
    let mut appended = 0;
    for round in 0..4 {
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        for (n, events) in &histories {
            if let Some(event) = events.get(round) {
                let sequence = i64::try_from(round).unwrap() + 1;
                append_on(&mut tx, *n, sequence, event).await;
                appended += 1;
                if appended % 300 == 0 {
                    tx.commit().await.unwrap();
                    tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
                }
            }
        }
        tx.commit().await.unwrap();
    }
    settle(&db.pool).await;
    appended
}

/// The full contents of both read models, in key order, as JSON.
async fn contents(pool: &PgPool) -> (serde_json::Value, serde_json::Value) {
    sqlx::query_as(
        "SELECT (SELECT coalesce(json_agg(s ORDER BY case_number), '[]') FROM my_submissions s), \
                (SELECT coalesce(json_agg(q ORDER BY kind, case_number), '[]') FROM queue_items q)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Every index and constraint of the read-model tables, by name, with its definition.
async fn layout(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes \
         WHERE tablename IN ('my_submissions', 'queue_items') \
         UNION ALL \
         SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid IN ('my_submissions'::regclass, 'queue_items'::regclass) \
         ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Tables and checkpoints a rebuild keeps while it runs.
async fn rebuild_leftovers(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_rebuild%'), \
                (SELECT count(*) FROM projector_checkpoints WHERE name LIKE '%@rebuild')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn checkpoints(pool: &PgPool, projectors: &[Arc<dyn Projector>]) -> Vec<FeedPosition> {
    let mut positions = Vec::new();
    for projector in projectors {
        positions.push(checkpoint(pool, projector.name()).await.unwrap());
    }
    positions
}

#[tokio::test]
async fn rebuilding_thousands_of_cases_leaves_every_view_index_and_checkpoint_as_it_was() {
    let db = TestDb::new().await;
    let events = append_histories(&db, 1..=3000).await;
    let projectors = projections::projector::all();
    catch_up(&db.pool, &projectors).await.unwrap();
    let before = contents(&db.pool).await;
    let layout_before = layout(&db.pool).await;
    let checkpoints_before = checkpoints(&db.pool, &projectors).await;

    let report = rebuild(&db.pool, &projectors, &NoProgress).await.unwrap();

    assert_eq!(contents(&db.pool).await, before);
    assert_eq!(layout(&db.pool).await, layout_before);
    assert_eq!(checkpoints(&db.pool, &projectors).await, checkpoints_before);
    assert_eq!(rebuild_leftovers(&db.pool).await, (0, 0));
    for read_model in &report.read_models {
        assert_eq!(read_model.events_applied, events);
        assert_eq!(
            read_model.position,
            feed::head_position(&db.pool).await.unwrap()
        );
        eprintln!(
            "rebuilt {}: {} events in {} ms, {:.0} events/s",
            read_model.projector,
            read_model.events_applied,
            read_model.duration.as_millis(),
            read_model.events_per_second()
        );
    }
}

/// Logs every event it is handed in `applied_log`, one row each: a read model that shows an
/// event applied twice or not at all.
struct AppliedLog;

impl AppliedLog {
    async fn create(db: &TestDb) {
        sqlx::query("CREATE TABLE applied_log (case_number text NOT NULL, sequence bigint)")
            .execute(&db.pool)
            .await
            .unwrap();
    }
}

#[async_trait]
impl Projector for AppliedLog {
    fn name(&self) -> &'static str {
        "applied_log"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["applied_log"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        tables: TableSet,
        events: &[FeedEvent],
    ) -> Result<Vec<Change>, sqlx::Error> {
        let insert = format!(
            "INSERT INTO {} (case_number, sequence) VALUES ($1, $2)",
            tables.table("applied_log")
        );
        for event in events {
            sqlx::query(&insert)
                .bind(&event.case_number)
                .bind(event.sequence)
                .execute(&mut *conn)
                .await?;
        }
        Ok(Vec::new())
    }
}

/// Until `done`: submits new cases from `first` on and accepts cases of `waiting`, one event
/// per transaction. Returns the events appended.
async fn keep_appending(pool: PgPool, first: u64, waiting: Vec<u64>, done: Arc<AtomicBool>) -> u64 {
    let mut conn = pool.acquire().await.unwrap();
    let mut appended = 0;
    let mut waiting = waiting.into_iter();
    for n in first.. {
        if done.load(Ordering::SeqCst) {
            break;
        }
        append_on(&mut conn, n, 1, &submitted(n, "applicant-new", 0, window())).await;
        appended += 1;
        if let Some(waiting) = waiting.next() {
            append_on(&mut conn, waiting, 2, &accepted(5000, None)).await;
            appended += 1;
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    appended
}

/// What readers saw while the rebuild ran.
#[derive(Debug, Default)]
struct Readings {
    reads: u64,
    /// The newest `my_submissions` checkpoint seen.
    newest_checkpoint: FeedPosition,
}

/// Until `done`: queries both read models through the API's functions and checks that they
/// answer with a full read model every time.
async fn keep_reading(pool: PgPool, cases_of_applicant_1: i64, done: Arc<AtomicBool>) -> Readings {
    let mut readings = Readings::default();
    while !done.load(Ordering::SeqCst) {
        let mine = store::my_submissions(&pool, "applicant-1", None, 5, None)
            .await
            .unwrap();
        assert_eq!(mine.total_count, cases_of_applicant_1);
        let acceptance = store::queue(&pool, QueueKind::Acceptance, 5, None)
            .await
            .unwrap();
        assert!(
            acceptance.total_count > 0,
            "the acceptance queue read empty"
        );
        let first = store::submission(&pool, case_number(1).as_str())
            .await
            .unwrap();
        assert!(first.is_some(), "case 1 went missing");
        readings.newest_checkpoint = readings
            .newest_checkpoint
            .max(checkpoint(&pool, "my_submissions").await.unwrap());
        readings.reads += 1;
    }
    readings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_a_rebuild_runs_readers_are_answered_and_live_events_land_exactly_once() {
    let db = TestDb::new().await;
    AppliedLog::create(&db).await;
    append_histories(&db, 1..=1500).await;
    let mut projectors = projections::projector::all();
    projectors.push(Arc::new(AppliedLog));
    catch_up(&db.pool, &projectors).await.unwrap();
    let started_at = checkpoint(&db.pool, "my_submissions").await.unwrap();
    let cases_of_applicant_1 = store::my_submissions(&db.pool, "applicant-1", None, 1, None)
        .await
        .unwrap()
        .total_count;
    let (stop, shutdown) = watch::channel(false);
    let live = projections::spawn(db.pool.clone(), projectors.clone(), shutdown);

    // Cases only submitted so far wait to be accepted while the rebuild runs.
    let waiting = (1..=1500).filter(|n| n % 7 == 0).collect();
    let done = Arc::new(AtomicBool::new(false));
    let appender = tokio::spawn(keep_appending(
        db.pool.clone(),
        10_001,
        waiting,
        done.clone(),
    ));
    let reader = tokio::spawn(keep_reading(
        db.pool.clone(),
        cases_of_applicant_1,
        done.clone(),
    ));

    let report = rebuild(&db.pool, &projectors, &NoProgress).await.unwrap();
    done.store(true, Ordering::SeqCst);
    let appended = appender.await.unwrap();
    let readings = reader.await.unwrap();
    settle(&db.pool).await;
    catch_up(&db.pool, &projectors).await.unwrap();
    stop.send(true).unwrap();
    live.await.unwrap();

    assert!(
        appended > 0 && readings.reads > 0,
        "{appended} appended, {readings:?}"
    );
    assert!(
        readings.newest_checkpoint > started_at,
        "the live projector stood still during the rebuild"
    );
    let swapped_at = report.read_models[0].position;
    assert!(swapped_at > started_at, "no event arrived before the swap");

    // Every event is in the rebuilt models once, and each checkpoint is at the feed's head.
    let (events, logged, distinct): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), count(*), \
                count(DISTINCT (case_number, sequence)) FROM applied_log",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let odd: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT e.aggregate_id, e.sequence, e.transaction_id::text || '-' || e.global_position, \
                count(l.case_number) \
         FROM events e LEFT JOIN applied_log l \
           ON l.case_number = e.aggregate_id AND l.sequence = e.sequence \
         GROUP BY 1, 2, 3, e.transaction_id, e.global_position \
         HAVING count(l.case_number) <> 1 \
         ORDER BY e.transaction_id, e.global_position LIMIT 20",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        (logged, distinct),
        (events, events),
        "events logged other than once (case, sequence, position, times): {odd:?}; \
         the swaps were at {:?}",
        report
            .read_models
            .iter()
            .map(|model| model.position.to_string())
            .collect::<Vec<_>>()
    );
    let head = feed::head_position(&db.pool).await.unwrap();
    assert_eq!(checkpoints(&db.pool, &projectors).await, vec![head; 3]);
    let (cases, current): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE (s.view ->> 'last_sequence')::bigint = e.last) \
         FROM my_submissions s \
         JOIN (SELECT aggregate_id, max(sequence) AS last FROM events GROUP BY aggregate_id) e \
           ON e.aggregate_id = s.case_number",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let case_count: i64 = sqlx::query_scalar("SELECT count(DISTINCT aggregate_id) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!((cases, current), (case_count, case_count));

    // A rebuild with nothing else going on agrees with what the live projector made.
    let settled = contents(&db.pool).await;
    rebuild(&db.pool, &projectors[..2], &NoProgress)
        .await
        .unwrap();
    assert_eq!(contents(&db.pool).await, settled);
}

/// `MySubmissionsProjector` that, rebuilding, stops at its first event until the gate opens.
struct Gated {
    reached: Notify,
    open: watch::Sender<bool>,
    stopped: AtomicU64,
}

impl Gated {
    fn new() -> Self {
        Self {
            reached: Notify::new(),
            open: watch::channel(false).0,
            stopped: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Projector for Gated {
    fn name(&self) -> &'static str {
        MySubmissionsProjector.name()
    }

    fn tables(&self) -> &'static [&'static str] {
        MySubmissionsProjector.tables()
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        tables: TableSet,
        events: &[FeedEvent],
    ) -> Result<Vec<Change>, sqlx::Error> {
        if tables == TableSet::Rebuild && self.stopped.fetch_add(1, Ordering::SeqCst) == 0 {
            self.reached.notify_one();
            let mut open = self.open.subscribe();
            open.wait_for(|open| *open).await.unwrap();
        }
        MySubmissionsProjector.apply(conn, tables, events).await
    }
}

/// Starts rebuilding `my_submissions` through `gated` and returns once it waits at the gate.
async fn start_gated_rebuild(
    db: &TestDb,
    gated: &Arc<Gated>,
) -> tokio::task::JoinHandle<Result<projections::RebuildReport, RebuildError>> {
    let pool = db.pool.clone();
    let projector: Arc<dyn Projector> = gated.clone();
    let first = tokio::spawn(async move { rebuild(&pool, &[projector], &NoProgress).await });
    tokio::time::timeout(Duration::from_secs(10), gated.reached.notified())
        .await
        .expect("the rebuild never reached its first event");
    first
}

/// 200 cases in every state, projected; and how many events they have.
async fn a_few_cases_projected() -> (TestDb, u64) {
    let db = TestDb::new().await;
    let events = append_histories(&db, 1..=200).await;
    catch_up(&db.pool, &projections::projector::all())
        .await
        .unwrap();
    (db, events)
}

#[tokio::test]
async fn a_second_rebuild_of_a_read_model_being_rebuilt_is_refused_and_the_first_completes() {
    let (db, events) = a_few_cases_projected().await;
    let before = contents(&db.pool).await;
    let gated = Arc::new(Gated::new());
    let first = start_gated_rebuild(&db, &gated).await;

    let second = rebuild(&db.pool, &[Arc::new(MySubmissionsProjector)], &NoProgress).await;
    assert!(
        matches!(
            second,
            Err(RebuildError::AlreadyRunning {
                projector: "my_submissions"
            })
        ),
        "{second:?}"
    );
    assert_eq!(contents(&db.pool).await, before);

    gated.open.send_replace(true);
    let report = first.await.unwrap().unwrap();
    assert_eq!(report.read_models[0].events_applied, events);
    assert_eq!(contents(&db.pool).await, before);
    assert_eq!(rebuild_leftovers(&db.pool).await, (0, 0));

    // The lock went with the first rebuild.
    rebuild(&db.pool, &[Arc::new(MySubmissionsProjector)], &NoProgress)
        .await
        .unwrap();
    assert_eq!(contents(&db.pool).await, before);
}

#[tokio::test]
async fn a_rebuild_refuses_to_swap_in_a_copy_of_a_table_that_changed_meanwhile() {
    let (db, _) = a_few_cases_projected().await;
    let gated = Arc::new(Gated::new());
    let first = start_gated_rebuild(&db, &gated).await;

    sqlx::query("ALTER TABLE my_submissions ADD COLUMN note text")
        .execute(&db.pool)
        .await
        .unwrap();
    gated.open.send_replace(true);
    let refused = first.await.unwrap();

    assert!(
        matches!(
            &refused,
            Err(RebuildError::SchemaMismatch { table: "my_submissions", detail, .. })
                if detail.contains("note")
        ),
        "{refused:?}"
    );
    let note: Option<Option<String>> =
        sqlx::query_scalar("SELECT note FROM my_submissions LIMIT 1")
            .fetch_optional(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        note,
        Some(None),
        "the live table lost its rows or its column"
    );
    assert_eq!(rebuild_leftovers(&db.pool).await, (0, 0));
}

#[tokio::test]
async fn a_rebuild_replaces_whatever_an_interrupted_rebuild_left_behind() {
    let (db, _) = a_few_cases_projected().await;
    let before = contents(&db.pool).await;
    sqlx::query("CREATE TABLE my_submissions_rebuild (LIKE my_submissions INCLUDING ALL)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO my_submissions_rebuild \
         SELECT 'TC-stale', applicant_id, status, submitted_at, updated_at, view \
         FROM my_submissions LIMIT 1",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    store::ensure_checkpoint(&mut conn, "my_submissions@rebuild")
        .await
        .unwrap();
    let head = feed::head_position(&db.pool).await.unwrap();
    store::save_checkpoint(&mut conn, "my_submissions@rebuild", head)
        .await
        .unwrap();

    rebuild(&db.pool, &[Arc::new(MySubmissionsProjector)], &NoProgress)
        .await
        .unwrap();

    assert_eq!(contents(&db.pool).await, before);
    assert_eq!(rebuild_leftovers(&db.pool).await, (0, 0));
}

#[tokio::test]
async fn a_rebuild_while_the_live_projector_lags_brings_the_read_model_to_the_feeds_head() {
    let (db, _) = a_few_cases_projected().await;
    let lagging_at = checkpoint(&db.pool, "queues").await.unwrap();
    append_histories(&db, 201..=260).await;
    let projectors = projections::projector::all();

    rebuild(&db.pool, &projectors, &NoProgress).await.unwrap();

    let head = feed::head_position(&db.pool).await.unwrap();
    assert!(lagging_at < head);
    assert_eq!(checkpoints(&db.pool, &projectors).await, vec![head; 2]);
    let rebuilt = contents(&db.pool).await;
    for projector in &projectors {
        projections::reset(&db.pool, projector.as_ref())
            .await
            .unwrap();
    }
    catch_up(&db.pool, &projectors).await.unwrap();
    assert_eq!(contents(&db.pool).await, rebuilt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_swap_that_waits_too_long_for_a_reader_is_retried_and_keeps_each_event_once() {
    let db = TestDb::new().await;
    AppliedLog::create(&db).await;
    append_histories(&db, 1..=300).await;
    let projectors: Vec<Arc<dyn Projector>> = vec![Arc::new(AppliedLog)];
    catch_up(&db.pool, &projectors).await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let live = projections::spawn(db.pool.clone(), projectors.clone(), shutdown);
    let done = Arc::new(AtomicBool::new(false));
    let appender = tokio::spawn(keep_appending(
        db.pool.clone(),
        10_001,
        Vec::new(),
        done.clone(),
    ));

    // A reader holds the live table for longer than the swap waits, twice over.
    let mut reader = db.connect().await;
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    sqlx::query("LOCK TABLE applied_log IN ACCESS SHARE MODE")
        .execute(&mut reader)
        .await
        .unwrap();
    let pool = db.pool.clone();
    let rebuilding = tokio::spawn(async move { rebuild(&pool, &projectors, &NoProgress).await });
    tokio::time::sleep(Duration::from_millis(3500)).await;
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    let report = rebuilding.await.unwrap().unwrap();

    done.store(true, Ordering::SeqCst);
    appender.await.unwrap();
    settle(&db.pool).await;
    catch_up(&db.pool, &[Arc::new(AppliedLog) as Arc<dyn Projector>])
        .await
        .unwrap();
    stop.send(true).unwrap();
    live.await.unwrap();
    assert!(report.read_models[0].duration > Duration::from_millis(3000));
    let (events, logged, distinct): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), count(*), \
                count(DISTINCT (case_number, sequence)) FROM applied_log",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((logged, distinct), (events, events));
}
