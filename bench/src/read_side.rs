//! The read side: how long after a command its read models show it (projection lag), and
//! how long after it live subscribers hear of it (subscription delay).
//!
//! Lag is read from the projectors' own checkpoints. A dedicated connection polls
//! `projector_checkpoints` about every millisecond and notes when each checkpoint moved; an
//! event is visible in a read model from the first poll that finds the checkpoint at or past
//! its position (the projector moves the checkpoint in the transaction that writes the rows,
//! so the two become visible together). This measures the projector alone, without the
//! `atLeast` wait loop of the GraphQL layer on top, and errs late by at most one poll (about
//! 1 ms plus a query round trip). Lag counts from the mutation's answer, which comes a little
//! after its commit, so it can be slightly negative when a projector is quicker than the
//! service's answer; a second figure counts from when the request was sent.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use projections::FeedPosition;
use serde::Deserialize;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::gql::operations;
use crate::scenarios::Submitted;
use crate::stats::{signed_micros, Percentiles};

/// The read models whose checkpoints are followed, by projector name.
pub const READ_MODELS: [&str; 2] = ["my_submissions", "queues"];

const POLL_EVERY: Duration = Duration::from_millis(1);

/// When each checkpoint was first seen at each position.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Per read model, (seen at, checkpoint) in the order seen.
    moves: HashMap<String, Vec<(Instant, FeedPosition)>>,
}

impl Timeline {
    /// The first time `read_model`'s checkpoint was seen at or past `position`.
    pub fn visible_at(&self, read_model: &str, position: FeedPosition) -> Option<Instant> {
        let moves = self.moves.get(read_model)?;
        let first = moves.partition_point(|(_, checkpoint)| *checkpoint < position);
        moves.get(first).map(|(seen, _)| *seen)
    }

    fn note(&mut self, read_model: &str, seen: Instant, checkpoint: FeedPosition) {
        let moves = self.moves.entry(read_model.to_owned()).or_default();
        if moves.last().is_none_or(|(_, last)| *last < checkpoint) {
            moves.push((seen, checkpoint));
        }
    }
}

/// The projectors' checkpoints right now.
pub async fn checkpoints(conn: &mut PgConnection) -> anyhow::Result<Vec<(String, FeedPosition)>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT name, transaction_id::text, global_position FROM projector_checkpoints",
    )
    .fetch_all(conn)
    .await
    .context("reading projector checkpoints")?;
    rows.into_iter()
        .map(|(name, transaction_id, global_position)| {
            let transaction_id = transaction_id.parse().with_context(|| {
                format!("checkpoint {name} has transaction id {transaction_id}")
            })?;
            Ok((
                name,
                FeedPosition {
                    transaction_id,
                    global_position,
                },
            ))
        })
        .collect()
}

/// The newest event's position in feed order, if any.
pub async fn feed_head(conn: &mut PgConnection) -> anyhow::Result<Option<FeedPosition>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT transaction_id::text, global_position FROM events
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await
    .context("reading the feed head")?;
    row.map(|(transaction_id, global_position)| {
        Ok(FeedPosition {
            transaction_id: transaction_id.parse()?,
            global_position,
        })
    })
    .transpose()
}

/// Waits until every read model's checkpoint has reached the newest event, so that one
/// phase's catching up never runs into the next phase's timing.
pub async fn wait_caught_up(database_url: &str, timeout: Duration) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(database_url).await?;
    let Some(head) = feed_head(&mut conn).await? else {
        return Ok(());
    };
    let started = Instant::now();
    loop {
        let now = checkpoints(&mut conn).await?;
        let done = READ_MODELS.iter().all(|model| {
            now.iter()
                .any(|(name, checkpoint)| name == model && *checkpoint >= head)
        });
        if done {
            conn.close().await.ok();
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!("read models did not reach {head} within {timeout:?}: {now:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the checkpoints until `stop` is set, on a connection of its own.
pub fn follow_checkpoints(
    database_url: String,
    stop: Arc<AtomicBool>,
) -> JoinHandle<anyhow::Result<Timeline>> {
    tokio::spawn(async move {
        let mut conn = PgConnection::connect(&database_url).await?;
        let mut timeline = Timeline::default();
        while !stop.load(Ordering::Relaxed) {
            let now = checkpoints(&mut conn).await?;
            let seen = Instant::now();
            for (name, checkpoint) in now {
                timeline.note(&name, seen, checkpoint);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
        conn.close().await.ok();
        Ok(timeline)
    })
}

/// Lag of one read model, counted from the answer and from the request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lag {
    pub read_model: String,
    pub from_answer: Percentiles,
    pub from_request: Percentiles,
}

/// Lag per read model for each submission; fails if any submission never became visible.
pub fn lags(timeline: &Timeline, submitted: &[Submitted]) -> anyhow::Result<Vec<Lag>> {
    READ_MODELS
        .iter()
        .map(|model| {
            let mut from_answer = Vec::with_capacity(submitted.len());
            let mut from_request = Vec::with_capacity(submitted.len());
            for submission in submitted {
                let visible = timeline
                    .visible_at(model, submission.position)
                    .with_context(|| format!("{model} never reached {}", submission.position))?;
                from_answer.push(signed_micros(visible, submission.answered));
                from_request.push(signed_micros(visible, submission.sent));
            }
            Ok(Lag {
                read_model: (*model).to_owned(),
                from_answer: Percentiles::of_samples(&mut from_answer),
                from_request: Percentiles::of_samples(&mut from_request),
            })
        })
        .collect()
}

/// What one subscriber has heard.
#[derive(Debug, Default)]
struct Heard {
    /// (case number as a number, arrival) of each ADDED update since the last `restart`.
    added: Vec<(u64, Instant)>,
    /// Why the subscription ended, if it did.
    failure: Option<String>,
}

/// Open `queueUpdates(kind: ACCEPTANCE)` subscriptions, one per WebSocket connection.
pub struct Subscribers {
    heard: Vec<Arc<Mutex<Heard>>>,
    stop: watch::Sender<bool>,
    readers: Vec<JoinHandle<()>>,
}

/// How many connections are opened at once.
const CONNECT_CONCURRENCY: usize = 50;

impl Subscribers {
    /// Opens `count` subscriptions with `token` and waits until the service has started
    /// each (a ping answered after the `subscribe` message).
    pub async fn open(ws_url: &str, token: &str, count: usize) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let sockets: Vec<Socket> = futures::stream::iter(0..count)
            .map(|_| connect(ws_url, token))
            .buffer_unordered(CONNECT_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        let mut heard = Vec::with_capacity(count);
        let mut readers = Vec::with_capacity(count);
        for socket in sockets {
            let log = Arc::new(Mutex::new(Heard::default()));
            heard.push(Arc::clone(&log));
            readers.push(tokio::spawn(read(socket, log, stopped.clone())));
        }
        Ok(Self {
            heard,
            stop,
            readers,
        })
    }

    /// Forgets what was heard so far.
    pub fn restart(&self) {
        for log in &self.heard {
            locked(log).added.clear();
        }
    }

    /// Waits until every subscriber has heard of every case in `expected` since `restart`,
    /// or `timeout`; then answers how many deliveries are missing and how many
    /// subscriptions ended.
    pub async fn wait_for(&self, expected: &[Submitted], timeout: Duration) -> (u64, usize) {
        let expected: HashSet<u64> = expected
            .iter()
            .filter_map(|submission| case_key(&submission.case_number))
            .collect();
        let started = Instant::now();
        loop {
            let (missing, ended) = self.shortfall(&expected);
            if missing == 0 || ended > 0 || started.elapsed() > timeout {
                return (missing, ended);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn shortfall(&self, expected: &HashSet<u64>) -> (u64, usize) {
        let mut missing = 0;
        let mut ended = 0;
        for log in &self.heard {
            let log = locked(log);
            let heard: HashSet<u64> = log
                .added
                .iter()
                .map(|(case, _)| *case)
                .filter(|case| expected.contains(case))
                .collect();
            missing += (expected.len() - heard.len()) as u64;
            ended += usize::from(log.failure.is_some());
        }
        (missing, ended)
    }

    /// The first failure any subscription reported.
    pub fn first_failure(&self) -> Option<String> {
        self.heard
            .iter()
            .find_map(|log| locked(log).failure.clone())
    }

    /// Delivery delays of the recorded updates for `submitted` cases, from the answer and
    /// from the request.
    pub fn delays(&self, submitted: &[Submitted]) -> (Percentiles, Percentiles) {
        let by_case: HashMap<u64, &Submitted> = submitted
            .iter()
            .filter_map(|submission| Some((case_key(&submission.case_number)?, submission)))
            .collect();
        let mut from_answer = Vec::new();
        let mut from_request = Vec::new();
        for log in &self.heard {
            for (case, arrived) in &locked(log).added {
                if let Some(submission) = by_case.get(case) {
                    from_answer.push(signed_micros(*arrived, submission.answered));
                    from_request.push(signed_micros(*arrived, submission.sent));
                }
            }
        }
        (
            Percentiles::of_samples(&mut from_answer),
            Percentiles::of_samples(&mut from_request),
        )
    }

    /// Closes every subscription and waits for the readers.
    pub async fn close(self) {
        let _ = self.stop.send(true);
        for reader in self.readers {
            let _ = reader.await;
        }
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A case number `TC` + 11 digits as a number, so millions of arrivals stay small.
fn case_key(case_number: &str) -> Option<u64> {
    case_number.strip_prefix("TC")?.parse().ok()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens one graphql-transport-ws connection and starts the subscription.
async fn connect(ws_url: &str, token: &str) -> anyhow::Result<Socket> {
    let mut request = ws_url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("opening a WebSocket")?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await?;
    expect_type(&mut socket, "connection_ack").await?;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": operations::ACCEPTANCE_UPDATES } });
    socket.send(Message::text(subscribe.to_string())).await?;
    // The server reads a connection's messages in order: once this ping is answered, it
    // has read the subscribe message before it and started the subscription.
    socket
        .send(Message::text(json!({ "type": "ping" }).to_string()))
        .await?;
    expect_type(&mut socket, "pong").await?;
    Ok(socket)
}

async fn expect_type(socket: &mut Socket, wanted: &str) -> anyhow::Result<()> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .context("no WebSocket message within 30 s")?
            .context("the WebSocket closed")??;
        if let Message::Text(text) = message {
            let kind = serde_json::from_str::<Incoming<'_>>(&text)
                .map(|incoming| incoming.kind.to_owned())
                .with_context(|| format!("unexpected message {text}"))?;
            if kind == wanted {
                return Ok(());
            }
            if kind != "ping" && kind != "pong" {
                bail!("expected {wanted}, got {text}");
            }
        }
    }
}

/// The parts of a graphql-transport-ws message the reader looks at.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    payload: Option<NextPayload<'a>>,
}

#[derive(Deserialize)]
struct NextPayload<'a> {
    #[serde(default, borrow)]
    data: Option<UpdateData<'a>>,
    #[serde(default)]
    errors: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateData<'a> {
    #[serde(borrow)]
    queue_updates: Update<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Update<'a> {
    change: &'a str,
    case_number: &'a str,
}

/// Reads one subscription until told to stop or it ends; an end before that (an error,
/// `complete`, a close) is recorded as the subscriber's failure.
async fn read(mut socket: Socket, log: Arc<Mutex<Heard>>, mut stop: watch::Receiver<bool>) {
    let failure = loop {
        // Any change of `stop` (or its sender going away) means stop.
        let next = tokio::select! {
            _ = stop.changed() => None,
            message = socket.next() => Some(message),
        };
        let Some(message) = next else {
            let _ = socket.close(None).await;
            return;
        };
        let arrived = Instant::now();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => break format!("closed by the service: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => break format!("WebSocket error: {error}"),
            None => break "the WebSocket ended".to_owned(),
        };
        match heard(&text) {
            Ok(Some(case)) => locked(&log).added.push((case, arrived)),
            Ok(None) => {
                if text.contains("\"ping\"") {
                    let pong = json!({ "type": "pong" }).to_string();
                    if socket.send(Message::text(pong)).await.is_err() {
                        break "could not answer a ping".to_owned();
                    }
                }
            }
            Err(error) => break error.to_string(),
        }
    };
    locked(&log).failure = Some(failure);
}

/// The case of an ADDED update; `None` for other messages that need no action; an error
/// for anything that ends the subscription (`error`, `complete`, errors in a `next`).
fn heard(text: &str) -> anyhow::Result<Option<u64>> {
    let incoming: Incoming<'_> =
        serde_json::from_str(text).with_context(|| format!("unexpected message {text}"))?;
    match incoming.kind {
        "next" => {
            let payload = incoming
                .payload
                .with_context(|| format!("a next without payload: {text}"))?;
            if payload.errors.is_some() {
                bail!("the subscription reported errors: {text}");
            }
            let update = payload
                .data
                .with_context(|| format!("a next without data: {text}"))?
                .queue_updates;
            if update.change != "ADDED" {
                return Ok(None);
            }
            case_key(update.case_number)
                .map(Some)
                .with_context(|| format!("a malformed case number in {text}"))
        }
        "ping" | "pong" => Ok(None),
        _ => bail!("the subscription ended: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(transaction_id: u64, global_position: i64) -> FeedPosition {
        FeedPosition {
            transaction_id,
            global_position,
        }
    }

    #[test]
    fn an_event_is_visible_from_the_first_poll_that_finds_the_checkpoint_past_it() {
        let start = Instant::now();
        let mut timeline = Timeline::default();
        timeline.note("queues", start, position(10, 5));
        timeline.note("queues", start + Duration::from_millis(3), position(12, 7));
        timeline.note("queues", start + Duration::from_millis(5), position(20, 6));
        let at = |ms| Some(start + Duration::from_millis(ms));
        assert_eq!(timeline.visible_at("queues", position(10, 5)), Some(start));
        assert_eq!(timeline.visible_at("queues", position(11, 9)), at(3));
        // Feed order is transaction id first: (20, 6) is past (12, 8).
        assert_eq!(timeline.visible_at("queues", position(12, 8)), at(5));
        assert_eq!(timeline.visible_at("queues", position(21, 1)), None);
        assert_eq!(timeline.visible_at("my_submissions", position(1, 1)), None);
    }

    #[test]
    fn a_checkpoint_seen_again_at_the_same_place_keeps_its_first_sighting() {
        let start = Instant::now();
        let mut timeline = Timeline::default();
        timeline.note("queues", start, position(3, 3));
        timeline.note("queues", start + Duration::from_millis(9), position(3, 3));
        assert_eq!(timeline.visible_at("queues", position(3, 3)), Some(start));
    }

    #[test]
    fn an_added_update_yields_its_case_and_other_changes_are_ignored() -> anyhow::Result<()> {
        let added = r#"{"id":"1","type":"next","payload":{"data":{"queueUpdates":{"change":"ADDED","caseNumber":"TC65917798475","position":"9-1"}}}}"#;
        let removed = added.replace("ADDED", "REMOVED");
        assert_eq!(heard(added)?, Some(65_917_798_475));
        assert_eq!(heard(&removed)?, None);
        assert_eq!(heard(r#"{"type":"ping"}"#)?, None);
        Ok(())
    }

    #[test]
    fn errors_and_completion_end_a_subscription_loudly() {
        let errors =
            r#"{"id":"1","type":"next","payload":{"data":null,"errors":[{"message":"too slow"}]}}"#;
        assert!(heard(errors).is_err());
        assert!(heard(r#"{"id":"1","type":"complete"}"#).is_err());
        assert!(heard(r#"{"id":"1","type":"error","payload":[{"message":"no"}]}"#).is_err());
    }
}
