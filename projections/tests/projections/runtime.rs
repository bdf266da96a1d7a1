//! The projector runtime: batches, checkpoints, exactly-once under failure and
//! concurrency, the follower task, rebuilds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::Status;
use projections::feed::{self, FeedEvent, FeedPosition};
use projections::live::LiveUpdate;
use projections::store::TableSet;
use projections::{
    catch_up, checkpoint, reset, run_once, spawn, store, Change, MySubmissionsProjector, Projector,
    QueueChange, QueueKind,
};
use sqlx::PgConnection;
use tokio::sync::{broadcast, watch};

use crate::support::{accepted, append_case, append_from, case_number, submitted, window, TestDb};

/// `MySubmissionsProjector` that also logs every event it is handed, in the same
/// transaction, and fails right after the `fail_on_call`-th event it folds (never when 0).
struct Flaky {
    calls: AtomicUsize,
    fail_on_call: AtomicUsize,
}

impl Flaky {
    fn failing_on_call(call: usize) -> Self {
        Self {
            calls: AtomicUsize::new(0),
            fail_on_call: AtomicUsize::new(call),
        }
    }

    async fn create_log(db: &TestDb) {
        sqlx::query("CREATE TABLE applied_log (case_number text, sequence bigint)")
            .execute(&db.pool)
            .await
            .unwrap();
    }

    /// (events logged, distinct events logged).
    async fn logged(db: &TestDb) -> (i64, i64) {
        sqlx::query_as("SELECT count(*), count(DISTINCT (case_number, sequence)) FROM applied_log")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }
}

#[async_trait]
impl Projector for Flaky {
    fn name(&self) -> &'static str {
        "flaky_submissions"
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
        let mut changes = Vec::new();
        for event in events {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            sqlx::query("INSERT INTO applied_log (case_number, sequence) VALUES ($1, $2)")
                .bind(&event.case_number)
                .bind(event.sequence)
                .execute(&mut *conn)
                .await?;
            changes.extend(
                MySubmissionsProjector
                    .apply(conn, tables, std::slice::from_ref(event))
                    .await?,
            );
            if call == self.fail_on_call.load(Ordering::SeqCst) {
                return Err(sqlx::Error::Protocol("injected failure".to_owned()));
            }
        }
        Ok(changes)
    }
}

async fn three_events(db: &TestDb) {
    append_case(
        &db.pool,
        1,
        &[submitted(1, "alice", 0, window()), accepted(10, None)],
    )
    .await;
    append_case(&db.pool, 2, &[submitted(2, "bob", 20, window())]).await;
}

#[tokio::test]
async fn a_failure_before_commit_keeps_checkpoint_and_views_and_a_rerun_applies_each_event_once() {
    let db = TestDb::new().await;
    Flaky::create_log(&db).await;
    three_events(&db).await;
    let flaky = Flaky::failing_on_call(2);

    // The second event of the batch fails after the first was applied.
    assert!(run_once(&db.pool, &flaky, 10).await.is_err());
    assert_eq!(
        checkpoint(&db.pool, flaky.name()).await.unwrap(),
        FeedPosition::ZERO
    );
    assert_eq!(Flaky::logged(&db).await, (0, 0));
    for n in [1, 2] {
        let view = store::submission(&db.pool, case_number(n).as_str()).await;
        assert_eq!(view.unwrap(), None);
    }

    // A clean rerun applies every event once.
    flaky.fail_on_call.store(0, Ordering::SeqCst);
    catch_up(&db.pool, &[Arc::new(flaky) as Arc<dyn Projector>])
        .await
        .unwrap();
    assert_eq!(Flaky::logged(&db).await, (3, 3));
    let first = store::submission(&db.pool, case_number(1).as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, Status::Accepted);
    assert_eq!(first.timeline.len(), 2);
    let head = feed::head_position(&db.pool).await.unwrap();
    assert_eq!(
        checkpoint(&db.pool, "flaky_submissions").await.unwrap(),
        head
    );
}

#[tokio::test]
async fn a_step_applies_at_most_one_batch_and_moves_the_checkpoint_past_it() {
    let db = TestDb::new().await;
    three_events(&db).await;
    let events = feed::read_after(&db.pool, FeedPosition::ZERO, 10)
        .await
        .unwrap();

    let first = run_once(&db.pool, &MySubmissionsProjector, 2)
        .await
        .unwrap();
    assert_eq!(first.applied, 2);
    assert_eq!(first.changes.len(), 2);
    assert_eq!(first.position, events[1].position);
    assert_eq!(
        checkpoint(&db.pool, "my_submissions").await.unwrap(),
        events[1].position
    );

    let second = run_once(&db.pool, &MySubmissionsProjector, 2)
        .await
        .unwrap();
    assert_eq!((second.applied, second.position), (1, events[2].position));
    let third = run_once(&db.pool, &MySubmissionsProjector, 2)
        .await
        .unwrap();
    assert_eq!((third.applied, third.position), (0, events[2].position));
    assert!(third.changes.is_empty());
}

#[tokio::test]
async fn two_runners_of_one_projector_apply_each_event_once() {
    let db = TestDb::new().await;
    Flaky::create_log(&db).await;
    for n in 1..=20 {
        append_case(&db.pool, n, &[submitted(n, "alice", 0, window())]).await;
    }
    let projector = Flaky::failing_on_call(0);

    let (one, other) = tokio::join!(drain(&db, &projector, 3), drain(&db, &projector, 3));
    one.unwrap();
    other.unwrap();

    assert_eq!(Flaky::logged(&db).await, (20, 20));
}

#[tokio::test]
async fn reset_empties_a_read_model_and_catch_up_rebuilds_it_from_the_feed() {
    let db = TestDb::new().await;
    three_events(&db).await;
    let projectors = projections::projector::all();
    catch_up(&db.pool, &projectors).await.unwrap();
    let before = store::submission(&db.pool, case_number(1).as_str())
        .await
        .unwrap();

    for projector in &projectors {
        reset(&db.pool, projector.as_ref()).await.unwrap();
        let position = checkpoint(&db.pool, projector.name()).await.unwrap();
        assert_eq!(position, FeedPosition::ZERO);
    }
    assert_eq!(
        store::submission(&db.pool, case_number(1).as_str())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store::queue(&db.pool, QueueKind::Acceptance, 10, None)
            .await
            .unwrap()
            .total_count,
        0
    );

    catch_up(&db.pool, &projectors).await.unwrap();
    let after = store::submission(&db.pool, case_number(1).as_str())
        .await
        .unwrap();
    assert_eq!(after, before);
    let acceptance = store::queue(&db.pool, QueueKind::Acceptance, 10, None)
        .await
        .unwrap();
    assert_eq!(acceptance.total_count, 1);
}

/// Steps `projector` until a step applies nothing.
async fn drain(
    db: &TestDb,
    projector: &dyn Projector,
    batch_size: i64,
) -> Result<(), projections::ProjectorError> {
    while run_once(&db.pool, projector, batch_size).await?.applied > 0 {}
    Ok(())
}

/// Receives changes until each of `wanted` has matched one, for at most ten seconds.
async fn expect_changes(
    updates: &mut broadcast::Receiver<LiveUpdate>,
    wanted: &[&dyn Fn(&Change) -> bool],
) {
    let mut missing: Vec<_> = wanted.iter().collect();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !missing.is_empty() {
            let update = updates.recv().await.unwrap();
            missing.retain(|wanted| !wanted(&update.change));
        }
    })
    .await
    .expect("the expected changes did not all arrive within ten seconds");
}

fn view_with_status(status: Status) -> impl Fn(&Change) -> bool {
    move |change| matches!(change, Change::SubmissionChanged(view) if view.status == status)
}

fn queue_change(kind: QueueKind, change: QueueChange) -> impl Fn(&Change) -> bool {
    move |c| matches!(c, Change::Queue { kind: k, change: ch, .. } if *k == kind && *ch == change)
}

#[tokio::test]
async fn the_live_feed_publishes_each_committed_event_in_order_and_stops_on_shutdown() {
    let db = TestDb::new().await;
    let (stop, shutdown) = watch::channel(false);
    let (live, task) = projections::live::follow(db.pool.clone(), 64, shutdown)
        .await
        .unwrap();
    let (mut received, _) = live.subscribe();

    append_case(&db.pool, 1, &[submitted(1, "alice", 0, window())]).await;
    expect_changes(
        &mut received,
        &[
            &view_with_status(Status::Submitted),
            &queue_change(QueueKind::Acceptance, QueueChange::Added),
        ],
    )
    .await;

    append_from(&db.pool, 1, 2, &[accepted(5, None)]).await;
    expect_changes(
        &mut received,
        &[
            &view_with_status(Status::Accepted),
            &queue_change(QueueKind::Acceptance, QueueChange::Removed),
            &queue_change(QueueKind::Approval, QueueChange::Added),
        ],
    )
    .await;

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the live feed did not stop")
        .unwrap();
}

#[tokio::test]
async fn a_spawned_projector_retries_after_a_failure_and_stops_on_shutdown() {
    let db = TestDb::new().await;
    Flaky::create_log(&db).await;
    let (stop, shutdown) = watch::channel(false);
    let flaky: Arc<dyn Projector> = Arc::new(Flaky::failing_on_call(1));
    let task = spawn(db.pool.clone(), vec![flaky], shutdown);

    append_case(&db.pool, 1, &[submitted(1, "alice", 0, window())]).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while Flaky::logged(&db).await != (1, 1) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the projector did not apply the event after its failure");

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the projector did not stop")
        .unwrap();
}

#[tokio::test]
async fn when_the_session_holding_a_projector_dies_mid_batch_another_runner_takes_over_at_once() {
    let db = TestDb::new().await;
    append_case(&db.pool, 1, &[submitted(1, "alice", 0, window())]).await;
    store::ensure_checkpoint(&mut db.connect().await, "my_submissions")
        .await
        .unwrap();

    // Another process's runner, stopped in the middle of a batch: it holds the checkpoint.
    let mut holder = db.connect().await;
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    store::lock_checkpoint(&mut holder, "my_submissions")
        .await
        .unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .unwrap();

    let (stop, shutdown) = watch::channel(false);
    let task = spawn(
        db.pool.clone(),
        vec![Arc::new(MySubmissionsProjector)],
        shutdown,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        checkpoint(&db.pool, "my_submissions").await.unwrap(),
        FeedPosition::ZERO,
        "the runner must wait while another holds the checkpoint"
    );

    // The holder's process dies: PostgreSQL ends its session and its transaction.
    let started = std::time::Instant::now();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(holder_pid)
        .execute(&db.pool)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while checkpoint(&db.pool, "my_submissions").await.unwrap() == FeedPosition::ZERO {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the waiting runner did not take over within 5 s");
    eprintln!(
        "took over {} ms after the holder died",
        started.elapsed().as_millis()
    );

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the projector did not stop")
        .unwrap();
}
