//! Live updates for subscribers. Every process follows the ordered feed by itself and turns
//! each event into the changes a subscriber sees, so a subscriber on any replica sees the
//! commands handled by every replica, in feed order, whichever replica projected them.

use std::collections::HashMap;
use std::time::Duration;

use domain::ApplicationEvent;
use sqlx::PgPool;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::feed::{self, FeedError, FeedEvent, FeedPosition};
use crate::projector::{self, Change, QueueChange};
use crate::views::{QueueItem, QueueKind, SubmissionView};

/// Events read per round trip while following or replaying the feed.
const BATCH_SIZE: i64 = 500;

/// One change, with the feed position of the event that caused it. A subscriber that
/// remembers the position of the last update it saw can resume after it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveUpdate {
    pub position: FeedPosition,
    pub change: Change,
}

/// The changes an event makes, given the case's view before it (`None` for a submission)
/// and after it: the case's new view, then its moves between queues.
pub fn changes_for(before: Option<&SubmissionView>, after: &SubmissionView) -> Vec<Change> {
    let mut changes = vec![Change::SubmissionChanged(after.clone())];
    let left = before.and_then(|view| QueueKind::for_status(view.status));
    let entered = QueueKind::for_status(after.status);
    // A case enters its queue with the step that put it there: the timeline's last.
    let item = || {
        let entered_at = after
            .timeline
            .last()
            .map_or(after.updated_at, |step| step.at);
        QueueItem::for_view(after, entered_at)
    };
    if let (Some(left), Some(entered)) = (left, entered) {
        if left == entered {
            changes.push(queue_change(entered, QueueChange::Updated, after, item()));
            return changes;
        }
    }
    if let Some(left) = left {
        changes.push(queue_change(left, QueueChange::Removed, after, None));
    }
    if let Some(entered) = entered {
        changes.push(queue_change(entered, QueueChange::Added, after, item()));
    }
    changes
}

fn queue_change(
    kind: QueueKind,
    change: QueueChange,
    view: &SubmissionView,
    item: Option<QueueItem>,
) -> Change {
    Change::Queue {
        kind,
        change,
        case_number: view.case_number.clone(),
        item,
    }
}

/// The updates of the events after `after`, up to and including `upto` when given, at most
/// one batch of events per call, in feed order. Returns the updates and the position of the
/// last event read (`after` when there was none).
pub async fn updates_after(
    pool: &PgPool,
    after: FeedPosition,
    upto: Option<FeedPosition>,
) -> Result<(Vec<LiveUpdate>, FeedPosition), FeedError> {
    let mut events = feed::read_after(pool, after, BATCH_SIZE).await?;
    if let Some(upto) = upto {
        events.retain(|event| event.position <= upto);
    }
    let Some(last) = events.last().map(|event| event.position) else {
        return Ok((Vec::new(), after));
    };
    let histories = case_histories(pool, &events).await?;
    let mut updates = Vec::new();
    for event in &events {
        let history = histories
            .get(&event.case_number)
            .map_or(&[][..], Vec::as_slice);
        let before = SubmissionView::fold(
            history
                .iter()
                .filter(|(sequence, _)| *sequence < event.sequence)
                .map(|(sequence, payload)| (*sequence, payload)),
        );
        let after_view = match &before {
            Some(view) => {
                let mut view = view.clone();
                view.apply(event.sequence, &event.event);
                Some(view)
            }
            None => SubmissionView::submitted(event.sequence, &event.event),
        };
        let Some(after_view) = after_view else {
            tracing::warn!(case_number = %event.case_number, sequence = event.sequence, "event for a case never submitted; no live update");
            continue;
        };
        updates.extend(
            changes_for(before.as_ref(), &after_view)
                .into_iter()
                .map(|change| LiveUpdate {
                    position: event.position,
                    change,
                }),
        );
    }
    Ok((updates, last))
}

/// Every event of the cases `events` touch, by case, oldest first.
async fn case_histories(
    pool: &PgPool,
    events: &[FeedEvent],
) -> Result<HashMap<String, Vec<(i64, ApplicationEvent)>>, FeedError> {
    let mut cases: Vec<&str> = events
        .iter()
        .map(|event| event.case_number.as_str())
        .collect();
    cases.sort_unstable();
    cases.dedup();
    let rows: Vec<(String, i64, serde_json::Value)> = sqlx::query_as(
        "SELECT aggregate_id, sequence, payload FROM events \
         WHERE aggregate_type = 'Application' AND aggregate_id = ANY($1) \
         ORDER BY aggregate_id, sequence",
    )
    .bind(&cases)
    .fetch_all(pool)
    .await?;
    let mut histories: HashMap<String, Vec<(i64, ApplicationEvent)>> = HashMap::new();
    for (case_number, sequence, payload) in rows {
        let event = serde_json::from_value(payload).map_err(|source| FeedError::Undecodable {
            case_number: case_number.clone(),
            sequence,
            source,
        })?;
        histories
            .entry(case_number)
            .or_default()
            .push((sequence, event));
    }
    Ok(histories)
}

/// This process's view of the live feed: subscribe to updates, and know how far they go.
#[derive(Debug, Clone)]
pub struct LiveFeed {
    updates: broadcast::Sender<LiveUpdate>,
    published: watch::Receiver<FeedPosition>,
}

impl LiveFeed {
    /// A receiver of every update published from now on, and the position of the last
    /// update published before it: a subscriber replays the feed up to that position from
    /// the database, then takes the rest from the receiver, skipping what it already has.
    pub fn subscribe(&self) -> (broadcast::Receiver<LiveUpdate>, FeedPosition) {
        let receiver = self.updates.subscribe();
        let published = *self.published.borrow();
        (receiver, published)
    }

    /// How many subscribers are listening in this process.
    pub fn subscriber_count(&self) -> usize {
        self.updates.receiver_count()
    }
}

/// Starts following the feed from its current head, publishing each event's updates to
/// every subscriber of the returned `LiveFeed`. A subscriber that falls more than
/// `capacity` updates behind loses updates (its receiver reports `Lagged`), rather than
/// slowing the others. Stops when `shutdown` turns `true`.
pub async fn follow(
    pool: PgPool,
    capacity: usize,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(LiveFeed, JoinHandle<()>), FeedError> {
    let start = feed::head_position(&pool).await?;
    let (updates, _) = broadcast::channel(capacity);
    let (published_tx, published) = watch::channel(start);
    let live = LiveFeed {
        updates: updates.clone(),
        published,
    };
    let (wake, mut woken) = watch::channel(());
    let handle = tokio::spawn(async move {
        let listener = tokio::spawn(projector::listen(pool.clone(), wake));
        let mut position = start;
        let mut backoff = Duration::from_millis(200);
        let mut held_back_wait = projector::FIRST_HELD_BACK_WAIT;
        while !*shutdown.borrow() {
            woken.borrow_and_update();
            match updates_after(&pool, position, None).await {
                Ok((batch, last)) if last != position => {
                    for update in batch {
                        // An error only means nobody is subscribed right now.
                        updates.send(update).ok();
                    }
                    position = last;
                    published_tx.send_replace(position);
                    backoff = Duration::from_millis(200);
                    held_back_wait = projector::FIRST_HELD_BACK_WAIT;
                    continue;
                }
                Ok(_) => {
                    // Events held back by a transaction that ends without notifying (a
                    // projector's write) would otherwise wait for the next poll. A failed
                    // check falls back to that; the next read reports the failure.
                    let stop = if feed::held_back_after(&pool, position)
                        .await
                        .unwrap_or(false)
                    {
                        projector::wait_while_held_back(
                            &mut held_back_wait,
                            &mut woken,
                            &mut shutdown,
                        )
                        .await
                    } else {
                        held_back_wait = projector::FIRST_HELD_BACK_WAIT;
                        projector::wait_for_events(&mut woken, &mut shutdown).await
                    };
                    if stop {
                        break;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, retry_in_ms = backoff.as_millis(), "following the feed for live updates failed");
                    if projector::pause(backoff, &mut shutdown).await {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        listener.abort();
    });
    Ok((live, handle))
}
