//! The projector runtime: each read model follows the ordered feed from its checkpoint and
//! applies every event exactly once, in the same transaction that moves the checkpoint.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::ApplicationEvent;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::feed::{self, FeedError, FeedEvent, FeedPosition};
use crate::store::{self, TableSet};
use crate::views::{status_after, QueueItem, QueueKind, SubmissionView};

/// Events applied per transaction by `spawn`.
pub const BATCH_SIZE: i64 = 500;

/// The channel the events table notifies on every insert statement.
const EVENTS_CHANNEL: &str = "events_appended";

/// How long a follower waits for a wake-up before it looks at the feed anyway. Catches
/// events held back by an unrelated long transaction, and missed notifications.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How soon a follower looks again at events held back by a running transaction, doubling
/// up to `POLL_INTERVAL` while they stay held back. Most such transactions are another
/// step's short write, over within milliseconds.
pub(crate) const FIRST_HELD_BACK_WAIT: Duration = Duration::from_millis(2);

/// How often `catch_up` looks again while older transactions hold events back.
const HELD_BACK_RETRY: Duration = Duration::from_millis(20);

const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A read model that follows the feed.
#[async_trait]
pub trait Projector: Send + Sync {
    /// Names the checkpoint; stable for the life of the read model.
    fn name(&self) -> &'static str;

    /// The tables the read model keeps, by their live names. `apply` writes these and
    /// nothing else, and no other projector writes them: `reset` empties them and a rebuild
    /// fills a copy of each and swaps it in.
    fn tables(&self) -> &'static [&'static str];

    /// Folds `events`, in feed order, into the read model's copy in `tables` through `conn`,
    /// inside the transaction that moves that copy's checkpoint past them, and says what
    /// changed, event by event. Each event arrives exactly once unless the read model was
    /// reset. An error rolls back the whole batch.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        tables: TableSet,
        events: &[FeedEvent],
    ) -> Result<Vec<Change>, sqlx::Error>;
}

/// A change to a read model, published once its transaction has committed.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "changes are short-lived; the API matches on the view by value"
)]
pub enum Change {
    /// A case's view after an event.
    SubmissionChanged(SubmissionView),
    /// A case entered, changed in or left a queue. `item` is absent on `Removed`.
    Queue {
        kind: QueueKind,
        change: QueueChange,
        case_number: String,
        item: Option<QueueItem>,
    },
}

/// How a queue changed (the GraphQL `QueueChange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueChange {
    Added,
    Updated,
    Removed,
}

/// Why a projector step failed. Nothing of the step was kept.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("projector {projector}: {source}")]
    Feed {
        projector: &'static str,
        source: FeedError,
    },
    #[error("projector {projector}: {source}")]
    Database {
        projector: &'static str,
        source: sqlx::Error,
    },
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// Events applied; `0` when the projector had caught up.
    pub applied: usize,
    /// What changed, in feed order; committed.
    pub changes: Vec<Change>,
    /// The checkpoint after the step.
    pub position: FeedPosition,
    /// Nothing was applied, yet events after the checkpoint have committed: a transaction
    /// still running holds them back. It may end without a notification, so look again
    /// soon rather than waiting for one.
    pub held_back: bool,
}

/// Applies up to `batch_size` events after the projector's checkpoint and moves the
/// checkpoint past them, all in one transaction. On error nothing is kept: the read model
/// and the checkpoint stay as they were, and the next step retries the same events.
/// Concurrent steps of one projector (any process) run one after the other.
pub async fn run_once(
    pool: &PgPool,
    projector: &dyn Projector,
    batch_size: i64,
) -> Result<StepOutcome, ProjectorError> {
    let name = projector.name();
    let database = |source| ProjectorError::Database {
        projector: name,
        source,
    };
    let mut tx = pool.begin().await.map_err(database)?;

    // Lock the checkpoint: other runners of this projector wait here.
    let from = store::lock_checkpoint(&mut tx, name)
        .await
        .map_err(database)?;

    let feed_error = |source| ProjectorError::Feed {
        projector: name,
        source,
    };
    let events = feed::read_after(&mut *tx, from, batch_size)
        .await
        .map_err(feed_error)?;
    let Some(last) = events.last().map(|event| event.position) else {
        let held_back = feed::held_back_after(&mut *tx, from)
            .await
            .map_err(feed_error)?;
        return Ok(StepOutcome {
            applied: 0,
            changes: Vec::new(),
            position: from,
            held_back,
        });
    };

    let changes = projector
        .apply(&mut tx, TableSet::Live, &events)
        .await
        .map_err(database)?;
    store::save_checkpoint(&mut tx, name, last)
        .await
        .map_err(database)?;
    tx.commit().await.map_err(database)?;

    tracing::debug!(projector = name, applied = events.len(), position = %last, "projected");
    Ok(StepOutcome {
        applied: events.len(),
        changes,
        position: last,
        held_back: false,
    })
}

/// Runs each projector until it has applied every event committed before the call, then
/// returns. Changes are dropped: this is for start-up, rebuilds and tests.
///
/// Waits, polling, while an older transaction still holds those events back, so a write
/// transaction left open anywhere on the server delays the return until it ends.
pub async fn catch_up(
    pool: &PgPool,
    projectors: &[Arc<dyn Projector>],
) -> Result<(), ProjectorError> {
    for projector in projectors {
        let name = projector.name();
        let target = feed::committed_head(pool)
            .await
            .map_err(|source| ProjectorError::Feed {
                projector: name,
                source,
            })?;
        loop {
            let step = run_once(pool, projector.as_ref(), BATCH_SIZE).await?;
            if step.position >= target {
                break;
            }
            if step.applied == 0 {
                tokio::time::sleep(HELD_BACK_RETRY).await;
            }
        }
    }
    Ok(())
}

/// Empties the projector's read model and moves its checkpoint back to `ZERO`, in one
/// transaction; `catch_up` or `spawn` then refills it from the start of the feed. Readers
/// see the read model empty until then: `rebuild` replaces a read model without that gap.
pub async fn reset(pool: &PgPool, projector: &dyn Projector) -> Result<(), ProjectorError> {
    let name = projector.name();
    let database = |source| ProjectorError::Database {
        projector: name,
        source,
    };
    let mut tx = pool.begin().await.map_err(database)?;
    store::lock_checkpoint(&mut tx, name)
        .await
        .map_err(database)?;
    store::clear_tables(&mut tx, projector.tables())
        .await
        .map_err(database)?;
    store::save_checkpoint(&mut tx, name, FeedPosition::ZERO)
        .await
        .map_err(database)?;
    tx.commit().await.map_err(database)
}

/// The projector's committed checkpoint; `ZERO` before its first step.
pub async fn checkpoint(pool: &PgPool, name: &str) -> Result<FeedPosition, sqlx::Error> {
    store::checkpoint(pool, name).await
}

/// The read models of teacher-cert, each with its projector.
pub fn all() -> Vec<Arc<dyn Projector>> {
    vec![Arc::new(MySubmissionsProjector), Arc::new(QueuesProjector)]
}

/// Follows the feed with every projector until `shutdown` turns `true` (or its sender is
/// dropped). Subscribers get their updates from `live::follow`, which every process runs,
/// not from here: a projector runs in one process at a time.
///
/// Each projector catches up, then sleeps until the events table notifies
/// `events_appended` or a second has passed. Failures are logged and retried with backoff;
/// the task never gives up and never panics. The handle finishes once every projector has
/// stopped.
pub fn spawn(
    pool: PgPool,
    projectors: Vec<Arc<dyn Projector>>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (wake, woken) = watch::channel(());
        let listener = tokio::spawn(listen(pool.clone(), wake));
        let mut followers = JoinSet::new();
        for projector in projectors {
            followers.spawn(follow(
                pool.clone(),
                projector,
                woken.clone(),
                shutdown.clone(),
            ));
        }
        while let Some(joined) = followers.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "a projector task ended abnormally");
            }
        }
        listener.abort();
    })
}

/// One projector's loop: step until caught up, then wait for a wake-up.
async fn follow(
    pool: PgPool,
    projector: Arc<dyn Projector>,
    mut woken: watch::Receiver<()>,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = projector.name();
    let mut backoff = MIN_BACKOFF;
    let mut held_back_wait = FIRST_HELD_BACK_WAIT;
    while !*shutdown.borrow() {
        // Any notification from here on ends the next wait early.
        woken.borrow_and_update();
        let stop = match run_once(&pool, projector.as_ref(), BATCH_SIZE).await {
            Ok(outcome) if outcome.applied > 0 => {
                backoff = MIN_BACKOFF;
                held_back_wait = FIRST_HELD_BACK_WAIT;
                continue;
            }
            Ok(outcome) => {
                backoff = MIN_BACKOFF;
                if outcome.held_back {
                    wait_while_held_back(&mut held_back_wait, &mut woken, &mut shutdown).await
                } else {
                    held_back_wait = FIRST_HELD_BACK_WAIT;
                    wait_for_events(&mut woken, &mut shutdown).await
                }
            }
            Err(error) => {
                tracing::error!(
                    projector = name,
                    %error,
                    retry_in_ms = backoff.as_millis(),
                    "projector step failed"
                );
                let stop = pause(backoff, &mut shutdown).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                stop
            }
        };
        if stop {
            return;
        }
    }
}

/// Waits for a notification, the poll interval, or a shutdown signal. `true` when the
/// shutdown sender is gone.
pub(crate) async fn wait_for_events(
    woken: &mut watch::Receiver<()>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        woke = woken.changed() => match woke {
            Ok(()) => false,
            // The listener is gone: poll.
            Err(_) => pause(POLL_INTERVAL, shutdown).await,
        },
        () = tokio::time::sleep(POLL_INTERVAL) => false,
        stopped = shutdown.changed() => stopped.is_err(),
    }
}

/// Waits `wait`, a notification or a shutdown signal, then doubles `wait` up to the poll
/// interval. `true` when the shutdown sender is gone.
pub(crate) async fn wait_while_held_back(
    wait: &mut Duration,
    woken: &mut watch::Receiver<()>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let duration = *wait;
    *wait = (*wait * 2).min(POLL_INTERVAL);
    tokio::select! {
        _ = woken.changed() => false,
        () = tokio::time::sleep(duration) => false,
        stopped = shutdown.changed() => stopped.is_err(),
    }
}

/// Sleeps for `duration` or until a shutdown signal. `true` when the shutdown sender is
/// gone.
pub(crate) async fn pause(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => false,
        stopped = shutdown.changed() => stopped.is_err(),
    }
}

/// Relays `events_appended` notifications to the followers, reconnecting after failures.
/// While it cannot listen, the followers poll.
pub(crate) async fn listen(pool: PgPool, wake: watch::Sender<()>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match connect_listener(&pool).await {
            Ok(mut listener) => {
                // Events may have arrived while nobody listened.
                wake.send_replace(());
                loop {
                    match listener.recv().await {
                        Ok(_) => {
                            backoff = MIN_BACKOFF;
                            wake.send_replace(());
                        }
                        Err(error) => {
                            tracing::error!(
                                %error,
                                retry_in_ms = backoff.as_millis(),
                                "listening for new events failed"
                            );
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::error!(
                %error,
                retry_in_ms = backoff.as_millis(),
                "cannot listen for new events"
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect_listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    Ok(listener)
}

/// Keeps `my_submissions`: each case's `SubmissionView`, for its applicant and for staff.
#[derive(Debug, Clone, Copy, Default)]
pub struct MySubmissionsProjector;

#[async_trait]
impl Projector for MySubmissionsProjector {
    fn name(&self) -> &'static str {
        "my_submissions"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[store::SUBMISSIONS_TABLE]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        tables: TableSet,
        events: &[FeedEvent],
    ) -> Result<Vec<Change>, sqlx::Error> {
        let cases = distinct_cases(events);
        let mut views = store::load_submissions(conn, tables, &cases).await?;
        let mut changes = Vec::with_capacity(events.len());
        for event in events {
            if let Some(view) = fold_submission(&mut views, event) {
                changes.push(Change::SubmissionChanged(view.clone()));
            }
        }
        let changed: Vec<&SubmissionView> = cases
            .iter()
            .filter_map(|&case_number| views.get(case_number))
            .collect();
        store::save_submissions(conn, tables, &changed).await?;
        Ok(changes)
    }
}

/// Folds `event` into its case's view in `views`; the view after it, or `None` when the
/// event changes nothing.
fn fold_submission<'v>(
    views: &'v mut HashMap<String, SubmissionView>,
    event: &FeedEvent,
) -> Option<&'v SubmissionView> {
    match views.entry(event.case_number.clone()) {
        Entry::Occupied(entry) => {
            let view = entry.into_mut();
            // Defensive: the checkpoint already keeps an event from being applied twice.
            if event.sequence <= view.last_sequence {
                return None;
            }
            view.apply(event.sequence, &event.event);
            Some(view)
        }
        Entry::Vacant(entry) => match SubmissionView::submitted(event.sequence, &event.event) {
            Some(view) => Some(entry.insert(view)),
            None => {
                tracing::warn!(
                    case_number = %event.case_number,
                    sequence = event.sequence,
                    event_type = %event.event_type,
                    "event for a case never submitted; skipped"
                );
                None
            }
        },
    }
}

/// Keeps `queue_items`: each case in the queue of its current status, if that status has
/// one.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueuesProjector;

#[async_trait]
impl Projector for QueuesProjector {
    fn name(&self) -> &'static str {
        "queues"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[store::QUEUE_TABLE]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        tables: TableSet,
        events: &[FeedEvent],
    ) -> Result<Vec<Change>, sqlx::Error> {
        let cases = distinct_cases(events);
        let mut queued = store::queued_items(conn, tables, &cases).await?;
        let mut changes = Vec::with_capacity(events.len());
        for event in events {
            changes.extend(move_in_queues(&mut queued, event));
        }
        let items: Vec<&QueueItem> = queued.values().flatten().collect();
        store::replace_queue_items(conn, tables, &cases, &items).await?;
        Ok(changes)
    }
}

/// Moves `event`'s case in `queued` (each case's items, by case number) to where the event
/// puts it; the queue changes, in order.
fn move_in_queues(queued: &mut HashMap<String, Vec<QueueItem>>, event: &FeedEvent) -> Vec<Change> {
    let case_number = event.case_number.as_str();
    let current = queued.remove(case_number).unwrap_or_default();
    let entered_at = event.event.at();
    let next = match &event.event {
        ApplicationEvent::ApplicationSubmitted { .. } => {
            SubmissionView::submitted(event.sequence, &event.event)
                .and_then(|view| QueueItem::for_view(&view, entered_at))
        }
        // Limitation: a case's queue item is carried from the queue it leaves, so a case
        // can only enter a queue straight from another one. That holds for every event
        // today; an event that brings a case back into a queue after it left all of them
        // (a supplied correction, say) needs the case's details kept elsewhere.
        other => QueueKind::for_status(status_after(other)).and_then(|kind| {
            current
                .first()
                .map(|item| moved_or_kept(item, kind, entered_at))
        }),
    };

    let mut changes = Vec::new();
    let mut stays = false;
    for item in current {
        if next.as_ref().is_some_and(|next| next.kind == item.kind) {
            stays = true;
            continue;
        }
        changes.push(queue_change(
            item.kind,
            QueueChange::Removed,
            case_number,
            None,
        ));
    }
    if let Some(item) = next {
        let change = if stays {
            QueueChange::Updated
        } else {
            QueueChange::Added
        };
        changes.push(queue_change(
            item.kind,
            change,
            case_number,
            Some(item.clone()),
        ));
        queued.insert(case_number.to_owned(), vec![item]);
    }
    changes
}

/// The cases `events` are of, each once, in the order they first appear.
fn distinct_cases(events: &[FeedEvent]) -> Vec<&str> {
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .map(|event| event.case_number.as_str())
        .filter(|case_number| seen.insert(*case_number))
        .collect()
}

/// The item in the `kind` queue: the same item when the case stays in that queue,
/// otherwise the case entering it at `entered_at`.
fn moved_or_kept(
    item: &QueueItem,
    kind: QueueKind,
    entered_at: chrono::DateTime<chrono::Utc>,
) -> QueueItem {
    if item.kind == kind {
        item.clone()
    } else {
        item.moved_to(kind, entered_at)
    }
}

fn queue_change(
    kind: QueueKind,
    change: QueueChange,
    case_number: &str,
    item: Option<QueueItem>,
) -> Change {
    Change::Queue {
        kind,
        change,
        case_number: case_number.to_owned(),
        item,
    }
}
