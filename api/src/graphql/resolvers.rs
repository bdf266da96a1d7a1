//! Query, mutation and subscription resolvers. Each names the roles it admits and leaves
//! the work to the command side (`Cases`), the upload store, or the read models.

use std::io::Read;

use async_graphql::{Context, Object, Subscription, Upload, ID};
use domain::commands::{ApplicationForm, DeliveryMethodChoice, MailAddressForm};
use domain::values::Role;
use domain::{ApplicationCommand, Reason};
use futures::{Stream, StreamExt};
use projections::live::LiveUpdate;
use projections::FeedPosition;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::types::*;
use super::{caller, caller_with_role, correlation_id, services};
use crate::cases::{fold_view, CommandContext, Submission as NewSubmission};
use crate::error::ApiError;
use crate::event_store;

/// Page sizes a client may ask for: 1 to this.
const MAX_PAGE_SIZE: i32 = 100;

/// The page size when a client sends `first: null`.
const DEFAULT_PAGE_SIZE: i32 = 20;

fn page_size(first: Option<i32>) -> Result<i64, ApiError> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if (1..=MAX_PAGE_SIZE).contains(&first) {
        Ok(i64::from(first))
    } else {
        Err(ApiError::BadInput {
            message: format!("first must be between 1 and {MAX_PAGE_SIZE}"),
            field: Some("first".to_owned()),
            reason: None,
        })
    }
}

fn page_info<T>(page: &projections::Page<T>, after: &Option<String>) -> PageInfo {
    PageInfo {
        has_next_page: page.has_next_page,
        has_previous_page: after.is_some(),
        start_cursor: page.edges.first().map(|(cursor, _)| cursor.clone()),
        end_cursor: page.edges.last().map(|(cursor, _)| cursor.clone()),
    }
}

/// A feed position from client input (`atLeast`, `after`).
fn parse_position(field: &str, raw: &str) -> Result<FeedPosition, ApiError> {
    raw.parse().map_err(|_| ApiError::BadInput {
        message: "not a position this service issued".to_owned(),
        field: Some(field.to_owned()),
        reason: None,
    })
}

/// Waits until the named read models include the event at `at_least`, if given; STALE
/// after the configured wait.
async fn read_at_least(
    ctx: &Context<'_>,
    projectors: &[&str],
    at_least: Option<&str>,
) -> Result<(), ApiError> {
    let Some(raw) = at_least else {
        return Ok(());
    };
    let position = parse_position("atLeast", raw)?;
    let services = services(ctx);
    let reached = projections::status::wait_until_applied(
        &services.pool,
        projectors,
        position,
        services.read_wait,
    )
    .await?;
    if reached {
        Ok(())
    } else {
        Err(ApiError::Stale(format!(
            "the read models have not reached position {position} yet; try again shortly"
        )))
    }
}

fn read_model_error(error: projections::StoreError) -> ApiError {
    match error {
        projections::StoreError::InvalidCursor => ApiError::BadInput {
            message: "the cursor is not one this service issued".to_owned(),
            field: Some("after".to_owned()),
            reason: None,
        },
        other => ApiError::Internal(anyhow::Error::new(other).context("reading a read model")),
    }
}

/// The role that works a queue.
fn queue_role(kind: QueueKind) -> Role {
    match kind {
        QueueKind::Acceptance => Role::Clerk,
        QueueKind::Approval => Role::Approver,
        QueueKind::Dispatch => Role::Dispatcher,
    }
}

pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// The signed-in applicant's own cases, newest first. Applicant role.
    async fn my_submissions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        status: Option<ApplicationStatus>,
        #[graphql(
            desc = "Answer only once the read model includes the event at this position (from a mutation's payload)."
        )]
        at_least: Option<String>,
    ) -> async_graphql::Result<SubmissionConnection> {
        let caller = caller_with_role(ctx, Role::Applicant)?;
        read_at_least(ctx, &["my_submissions"], at_least.as_deref()).await?;
        let page = projections::store::my_submissions(
            &services(ctx).pool,
            &caller.user_id,
            status.map(ApplicationStatus::to_status),
            page_size(first)?,
            after.as_deref(),
        )
        .await
        .map_err(read_model_error)?;
        Ok(SubmissionConnection {
            page_info: page_info(&page, &after),
            total_count: page.total_count as i32,
            edges: page
                .edges
                .into_iter()
                .map(|(cursor, view)| SubmissionEdge {
                    cursor,
                    node: Submission::listed(view),
                })
                .collect(),
        })
    }

    /// One case. Its applicant, or any staff role. Null when absent or not visible to the caller.
    async fn submission(
        &self,
        ctx: &Context<'_>,
        case_number: ID,
        #[graphql(
            desc = "Accepted for symmetry: a case is read from its own events, so it is never behind."
        )]
        at_least: Option<String>,
    ) -> async_graphql::Result<Option<Submission>> {
        let caller = caller(ctx)?;
        if let Some(raw) = at_least.as_deref() {
            parse_position("atLeast", raw)?;
        }
        let Ok(case_number) = domain::CaseNumber::parse(&case_number) else {
            return Ok(None);
        };
        let state = match services(ctx).cases.current_view(case_number.as_str()).await {
            Ok(state) => state,
            Err(ApiError::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let visible = caller.is_staff()
            || (caller.has_role(Role::Applicant) && state.view.applicant_id == caller.user_id);
        Ok(visible.then_some(Submission(state.view, Some(state.position))))
    }

    /// A clerk work queue. clerk (ACCEPTANCE), approver (APPROVAL), dispatcher (DISPATCH).
    async fn queue(
        &self,
        ctx: &Context<'_>,
        kind: QueueKind,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        #[graphql(
            desc = "Answer only once the queue includes the event at this position (from a mutation's payload)."
        )]
        at_least: Option<String>,
    ) -> async_graphql::Result<QueueConnection> {
        caller_with_role(ctx, queue_role(kind))?;
        read_at_least(ctx, &["queues"], at_least.as_deref()).await?;
        let page = projections::store::queue(
            &services(ctx).pool,
            kind.into(),
            page_size(first)?,
            after.as_deref(),
        )
        .await
        .map_err(read_model_error)?;
        Ok(QueueConnection {
            page_info: page_info(&page, &after),
            total_count: page.total_count as i32,
            edges: page
                .edges
                .into_iter()
                .map(|(cursor, view)| QueueEdge {
                    cursor,
                    node: QueueItem { view },
                })
                .collect(),
        })
    }

    /// Every event of one case, oldest first, with the state after each. Auditor role.
    async fn case_history(
        &self,
        ctx: &Context<'_>,
        case_number: ID,
    ) -> async_graphql::Result<Option<CaseHistory>> {
        caller_with_role(ctx, Role::Auditor)?;
        let Ok(case_number) = domain::CaseNumber::parse(&case_number) else {
            return Ok(None);
        };
        let stored = event_store::case_events(&services(ctx).pool, case_number.as_str())
            .await
            .map_err(ApiError::Internal)?;
        if stored.is_empty() {
            return Ok(None);
        }
        let events = (1..=stored.len())
            .map(|upto| {
                let event = &stored[upto - 1];
                let status = fold_view(&stored[..upto])
                    .map(|view| view.status)
                    .unwrap_or_default();
                HistoryEvent {
                    sequence: event.sequence as i32,
                    global_position: event.global_position.to_string(),
                    event_type: event.event_type.clone(),
                    event_version: event.event_version.clone(),
                    recorded_at: beijing(event.recorded_at),
                    actor_id: event.metadata.get("actor_id").cloned().unwrap_or_default(),
                    actor_role: event
                        .metadata
                        .get("actor_role")
                        .cloned()
                        .unwrap_or_default(),
                    payload: event.payload.to_string(),
                    status_after: ApplicationStatus::from_status(status)
                        .unwrap_or(ApplicationStatus::Submitted),
                    command_id: event.metadata.get("command_id").cloned(),
                    correlation_id: event.metadata.get("correlation_id").cloned(),
                }
            })
            .collect();
        Ok(Some(CaseHistory {
            case_number: ID(case_number.to_string()),
            events,
        }))
    }
}

pub struct MutationRoot;

/// Reads an upload into memory, refusing files larger than `limit` without reading them whole.
fn read_upload(value: async_graphql::UploadValue, limit: u64) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    value
        .into_read()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            ApiError::Internal(anyhow::Error::new(error).context("reading an upload"))
        })?;
    Ok(bytes)
}

impl MutationRoot {
    async fn decide(
        ctx: &Context<'_>,
        role: Role,
        case_number: &ID,
        command: ApplicationCommand,
    ) -> async_graphql::Result<DecisionPayload> {
        let caller = caller_with_role(ctx, role)?;
        let context = CommandContext {
            actor: caller.actor(role),
            correlation_id: correlation_id(ctx),
        };
        let state = services(ctx)
            .cases
            .decide(case_number, command, context)
            .await?;
        Ok(DecisionPayload {
            position: state.position.to_string(),
            submission: Submission(state.view, Some(state.position)),
        })
    }
}

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Stores one file and returns its id for use in submitApplication. Applicant role.
    async fn upload_material(
        &self,
        ctx: &Context<'_>,
        kind: MaterialKind,
        file: Upload,
    ) -> async_graphql::Result<UploadedMaterial> {
        let caller = caller_with_role(ctx, Role::Applicant)?;
        let materials = &services(ctx).materials;
        let value = file.value(ctx).map_err(|error| {
            ApiError::bad_input(
                "file",
                Reason::InvalidMaterial,
                format!("no file was sent: {error}"),
            )
        })?;
        let limit = materials.largest_upload();
        let bytes = tokio::task::spawn_blocking(move || read_upload(value, limit))
            .await
            .map_err(|error| ApiError::Internal(error.into()))??;
        let stored = materials
            .upload(&caller.user_id, kind.into(), bytes)
            .await?;
        Ok(UploadedMaterial {
            id: ID(stored.id.to_string()),
            kind: stored.kind.into(),
            sha256: stored.sha256,
            size: i32::try_from(stored.size).unwrap_or(i32::MAX),
            media_type: stored.media_type,
        })
    }

    async fn submit_application(
        &self,
        ctx: &Context<'_>,
        input: SubmitApplicationInput,
    ) -> async_graphql::Result<SubmitApplicationPayload> {
        let caller = caller_with_role(ctx, Role::Applicant)?;
        let key = input.idempotency_key.trim();
        if key.is_empty() || key.len() > 128 {
            return Err(ApiError::bad_input(
                "input.idempotencyKey",
                Reason::InvalidIdempotencyKey,
                "the idempotency key must be 1 to 128 characters",
            )
            .into());
        }
        let form = ApplicationForm {
            face_authorization_consent: input.face_authorization_consent,
            identity_category: input.identity_category.into(),
            qualification_level: input.qualification_level.into(),
            subject: input.subject,
            delivery_method: match input.delivery.method {
                DeliveryMethod::WindowPickup => DeliveryMethodChoice::WindowPickup,
                DeliveryMethod::Mail => DeliveryMethodChoice::Mail,
            },
            mail_to: input.delivery.mail_to.map(|address| MailAddressForm {
                recipient_name: address.recipient_name,
                phone: address.phone,
                district: address.district,
                street: address.street,
                postal_code: address.postal_code,
            }),
            contact_phone: input.contact_phone,
        };
        let submission = NewSubmission {
            idempotency_key: key.to_owned(),
            identity: caller.verified_identity(),
            form,
            material_ids: input.material_ids.into_iter().map(|id| id.0).collect(),
        };
        let context = CommandContext {
            actor: caller.actor(Role::Applicant),
            correlation_id: correlation_id(ctx),
        };
        let state = services(ctx).cases.submit(submission, context).await?;
        Ok(SubmitApplicationPayload {
            position: state.position.to_string(),
            submission: Submission(state.view, Some(state.position)),
        })
    }

    async fn accept_application(
        &self,
        ctx: &Context<'_>,
        input: AcceptApplicationInput,
    ) -> async_graphql::Result<DecisionPayload> {
        let command = ApplicationCommand::AcceptApplication { note: input.note };
        Self::decide(ctx, Role::Clerk, &input.case_number, command).await
    }

    /// 不予受理
    async fn reject_application(
        &self,
        ctx: &Context<'_>,
        input: RejectApplicationInput,
    ) -> async_graphql::Result<DecisionPayload> {
        let command = ApplicationCommand::RejectApplication {
            reason: input.reason,
        };
        Self::decide(ctx, Role::Clerk, &input.case_number, command).await
    }

    async fn approve_application(
        &self,
        ctx: &Context<'_>,
        input: ApproveApplicationInput,
    ) -> async_graphql::Result<DecisionPayload> {
        let command = ApplicationCommand::ApproveApplication { note: input.note };
        Self::decide(ctx, Role::Approver, &input.case_number, command).await
    }

    /// 不予许可
    async fn deny_application(
        &self,
        ctx: &Context<'_>,
        input: DenyApplicationInput,
    ) -> async_graphql::Result<DecisionPayload> {
        let command = ApplicationCommand::DenyApplication {
            reason: input.reason,
        };
        Self::decide(ctx, Role::Approver, &input.case_number, command).await
    }

    async fn ship_certificate(
        &self,
        ctx: &Context<'_>,
        input: ShipCertificateInput,
    ) -> async_graphql::Result<DecisionPayload> {
        let command = ApplicationCommand::ShipCertificate {
            carrier: input.carrier,
            tracking_number: input.tracking_number,
        };
        Self::decide(ctx, Role::Dispatcher, &input.case_number, command).await
    }

    async fn record_collection(
        &self,
        ctx: &Context<'_>,
        input: RecordCollectionInput,
    ) -> async_graphql::Result<DecisionPayload> {
        let command = ApplicationCommand::RecordCollection;
        Self::decide(ctx, Role::Dispatcher, &input.case_number, command).await
    }
}

pub struct SubscriptionRoot;

/// Live updates for one subscriber: first a replay from the database of what it missed
/// after `after` (when given), then the live feed, with no update twice and none missing.
/// The stream ends with an error when the subscriber falls too far behind (rather than
/// slowing every other subscriber) or when its token expires.
fn live_updates(
    ctx: &Context<'_>,
    after: Option<FeedPosition>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> impl Stream<Item = Result<LiveUpdate, ApiError>> + use<> {
    let services = services(ctx);
    let (receiver, published) = services.live.subscribe();
    let replayed = match after {
        Some(after) if after < published => {
            replay(services.pool.clone(), after, published).left_stream()
        }
        _ => futures::stream::empty().right_stream(),
    };
    // Updates up to `published` come from the replay (or were asked to be skipped).
    let skip_upto = after.map(|after| after.max(published));
    let updates = replayed.chain(live(receiver, skip_upto));
    until_expiry(updates, expires_at).scan(false, |failed, item| {
        let keep = !*failed;
        *failed = item.is_err();
        futures::future::ready(keep.then_some(item))
    })
}

/// The updates of the events in `(after, upto]`, read from the database batch by batch.
fn replay(
    pool: sqlx::PgPool,
    after: FeedPosition,
    upto: FeedPosition,
) -> impl Stream<Item = Result<LiveUpdate, ApiError>> {
    futures::stream::unfold(Some(after), move |from| {
        let pool = pool.clone();
        async move {
            let from = from?;
            match projections::live::updates_after(&pool, from, Some(upto)).await {
                Ok((updates, last)) => {
                    let next = (last != from && last < upto).then_some(last);
                    let updates: Vec<Result<LiveUpdate, ApiError>> =
                        updates.into_iter().map(Ok).collect();
                    Some((futures::stream::iter(updates), next))
                }
                Err(error) => {
                    let error =
                        ApiError::Internal(anyhow::Error::new(error).context("replaying the feed"));
                    Some((futures::stream::iter(vec![Err(error)]), None))
                }
            }
        }
    })
    .flatten()
}

/// The live part of a subscriber's updates: those after `skip_upto` (all when `None`), and
/// one SUBSCRIBER_TOO_SLOW error if the subscriber fell so far behind that updates were lost.
fn live(
    receiver: tokio::sync::broadcast::Receiver<LiveUpdate>,
    skip_upto: Option<FeedPosition>,
) -> impl Stream<Item = Result<LiveUpdate, ApiError>> {
    BroadcastStream::new(receiver).filter_map(move |item| {
        let item = match item {
            Ok(update) if skip_upto.is_some_and(|upto| update.position <= upto) => None,
            Ok(update) => Some(Ok(update)),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                metrics::counter!("subscription_updates_dropped_total").increment(missed);
                Some(Err(ApiError::Conflict {
                    message: format!(
                        "this subscriber fell {missed} updates behind and was dropped; subscribe again with `after` set to the last position you received"
                    ),
                    reason: Reason::SubscriberTooSlow,
                }))
            }
        };
        futures::future::ready(item)
    })
}

fn parse_after(after: Option<&str>) -> Result<Option<FeedPosition>, ApiError> {
    after.map(|raw| parse_position("after", raw)).transpose()
}

/// `stream` until `expires_at`, then one UNAUTHENTICATED error.
fn until_expiry<T>(
    stream: impl Stream<Item = Result<T, ApiError>> + Send + 'static,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> impl Stream<Item = Result<T, ApiError>> {
    let remaining = expires_at
        .map(|at| (at - chrono::Utc::now()).to_std().unwrap_or_default())
        .unwrap_or(std::time::Duration::from_secs(86_400 * 365));
    let expired = futures::stream::once(tokio::time::sleep(remaining)).map(|()| {
        Err(ApiError::Unauthenticated(
            "the token expired; subscribe again with a fresh one",
        ))
    });
    // The first stream to end ends both: a subscription's stream ends only on error.
    futures::stream::select(
        stream
            .map(Some)
            .chain(futures::stream::once(async { None })),
        expired.map(Some),
    )
    .take_while(|item| futures::future::ready(item.is_some()))
    .filter_map(futures::future::ready)
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Items entering, changing in or leaving one queue, as they happen, on any replica.
    async fn queue_updates(
        &self,
        ctx: &Context<'_>,
        kind: QueueKind,
        #[graphql(
            desc = "Replay what happened after this position (a `QueueUpdate.position` or a mutation's), then go live."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<QueueUpdate>>> {
        let expires_at = caller_with_role(ctx, queue_role(kind))?.expires_at();
        let after = parse_after(after.as_deref())?;
        let wanted: projections::QueueKind = kind.into();
        Ok(
            live_updates(ctx, after, expires_at).filter_map(move |item| {
                let update = match item {
                    Err(error) => Some(Err(error.into())),
                    Ok(LiveUpdate {
                        position,
                        change:
                            projections::Change::Queue {
                                kind,
                                change,
                                case_number,
                                item,
                            },
                    }) if kind == wanted => Some(Ok(QueueUpdate {
                        position: position.to_string(),
                        kind: kind.into(),
                        change: match change {
                            projections::QueueChange::Added => QueueChange::Added,
                            projections::QueueChange::Updated => QueueChange::Updated,
                            projections::QueueChange::Removed => QueueChange::Removed,
                        },
                        case_number: ID(case_number),
                        item: item.map(|view| QueueItem { view }),
                    })),
                    Ok(_) => None,
                };
                futures::future::ready(update)
            }),
        )
    }

    /// The signed-in applicant's cases as their status changes.
    async fn my_submission_updates(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Replay what happened after this position (a `Submission.position` or a mutation's), then go live."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Submission>>> {
        let caller = caller_with_role(ctx, Role::Applicant)?;
        let applicant = caller.user_id.clone();
        let after = parse_after(after.as_deref())?;
        Ok(
            live_updates(ctx, after, caller.expires_at()).filter_map(move |item| {
                let update = match item {
                    Err(error) => Some(Err(error.into())),
                    Ok(LiveUpdate {
                        position,
                        change: projections::Change::SubmissionChanged(view),
                    }) if view.applicant_id == applicant => {
                        Some(Ok(Submission(view, Some(position))))
                    }
                    Ok(_) => None,
                };
                futures::future::ready(update)
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(global_position: i64) -> LiveUpdate {
        LiveUpdate {
            position: FeedPosition {
                transaction_id: 1,
                global_position,
            },
            change: projections::Change::Queue {
                kind: projections::QueueKind::Acceptance,
                change: projections::QueueChange::Removed,
                case_number: format!("case-{global_position}"),
                item: None,
            },
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_gets_one_too_slow_error_and_nothing_after() {
        let (sender, receiver) = tokio::sync::broadcast::channel(2);
        for position in 1..=5 {
            sender.send(update(position)).ok();
        }
        drop(sender);
        let items: Vec<_> = live(receiver, None)
            .scan(false, |failed, item| {
                let keep = !*failed;
                *failed = item.is_err();
                futures::future::ready(keep.then_some(item))
            })
            .collect()
            .await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert!(matches!(
            &items[0],
            Err(ApiError::Conflict {
                reason: Reason::SubscriberTooSlow,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn live_updates_at_or_before_the_replayed_position_are_skipped() {
        let (sender, receiver) = tokio::sync::broadcast::channel(8);
        for position in 1..=4 {
            sender.send(update(position)).ok();
        }
        drop(sender);
        let skip_upto = Some(update(2).position);
        let positions: Vec<i64> = live(receiver, skip_upto)
            .filter_map(|item| futures::future::ready(item.ok()))
            .map(|update| update.position.global_position)
            .collect()
            .await;
        assert_eq!(positions, vec![3, 4]);
    }
}
