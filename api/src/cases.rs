//! The command side: runs commands on cases through cqrs-es with the metadata every event
//! carries (actor, command id, correlation id), makes submissions idempotent, and answers
//! with the case as it stands after the command.

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::AggregateError;
use domain::commands::{ApplicationForm, VerifiedIdentity};
use domain::ports::CaseNumbers;
use domain::values::Actor;
use domain::{ApplicationCommand, CaseNumber, Reason};
use projections::{FeedPosition, SubmissionView};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tracing::Instrument;

use crate::error::ApiError;
use crate::event_store::{self, StoredEvent};
use crate::materials::MaterialStore;
use crate::repository::{self, CaseCqrs};

/// Who asked, and how the request is traced.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor: Actor,
    pub correlation_id: String,
}

/// A submission as the API received it.
#[derive(Debug, Clone)]
pub struct Submission {
    pub idempotency_key: String,
    pub identity: VerifiedIdentity,
    pub form: ApplicationForm,
    pub material_ids: Vec<String>,
}

/// A case as its events say, and the feed position of its latest event: a client that
/// passes that position as `atLeast` reads read models that include the command.
#[derive(Debug, Clone)]
pub struct CaseState {
    pub view: SubmissionView,
    pub position: FeedPosition,
}

/// Runs commands on cases.
pub struct Cases {
    cqrs: CaseCqrs,
    pool: PgPool,
    case_numbers: Arc<dyn CaseNumbers>,
    materials: Arc<MaterialStore>,
}

impl Cases {
    pub fn new(
        cqrs: CaseCqrs,
        pool: PgPool,
        case_numbers: Arc<dyn CaseNumbers>,
        materials: Arc<MaterialStore>,
    ) -> Self {
        Self {
            cqrs,
            pool,
            case_numbers,
            materials,
        }
    }

    /// Opens a case. Repeating a submission with the same idempotency key (by the same
    /// applicant) answers with the case the first one opened, even when the copies race.
    pub async fn submit(
        &self,
        submission: Submission,
        context: CommandContext,
    ) -> Result<CaseState, ApiError> {
        let command_id = submission_command_id(&context.actor.id, &submission.idempotency_key);
        let uploads = match self
            .materials
            .resolve(&context.actor.id, &submission.material_ids)
            .await
        {
            Ok(uploads) => uploads,
            Err(refusal) => return self.first_copy_or(&command_id, refusal).await,
        };
        let case_number = self
            .case_numbers
            .next_case_number()
            .await
            .map_err(|error| ApiError::Internal(error.into()))?;
        let command = ApplicationCommand::SubmitApplication {
            case_number: case_number.clone(),
            identity: submission.identity,
            form: submission.form,
            uploads,
        };

        let refusal = match self
            .execute(&case_number, command.clone(), &command_id, &context)
            .await
        {
            Ok(stored) => return self.state_after(case_number.as_str(), None, stored).await,
            Err(refusal) => refusal,
        };
        // A repeat of a submission already stored is refused (its command id is taken, or
        // its applicant now has an open case, or its identity check has expired since):
        // answer with the case the first one opened. Looked up only now, so a first
        // submission costs no extra round trip.
        match event_store::processed_command(&self.pool, &command_id).await? {
            Some(first) => self.current_view(&first).await,
            // Another case of the same person committed meanwhile: running the command once
            // more lets the aggregate say which rule applies.
            None if matches!(refusal, ApiError::Conflict { .. }) => {
                let stored = self
                    .execute(&case_number, command, &command_id, &context)
                    .await?;
                self.state_after(case_number.as_str(), None, stored).await
            }
            None => Err(refusal),
        }
    }

    /// The case an earlier copy of a submission opened, if one did; otherwise `refusal`.
    /// A repeated submission answers with its first case however the repeat itself fares.
    async fn first_copy_or(
        &self,
        command_id: &str,
        refusal: ApiError,
    ) -> Result<CaseState, ApiError> {
        match event_store::processed_command(&self.pool, command_id).await? {
            Some(first) => self.current_view(&first).await,
            None => Err(refusal),
        }
    }

    /// Runs a decision (accept, reject, approve, deny, ship, record collection) on a case.
    pub async fn decide(
        &self,
        case_number: &str,
        command: ApplicationCommand,
        context: CommandContext,
    ) -> Result<CaseState, ApiError> {
        let case_number = parse_case_number(case_number)?;
        let current = self.current_view(case_number.as_str()).await?;
        if current.view.applicant_id == context.actor.id {
            return Err(ApiError::Forbidden(
                "staff may not decide or dispatch their own case".to_owned(),
            ));
        }
        let command_id = uuid::Uuid::new_v4().to_string();
        let stored = self
            .execute(&case_number, command, &command_id, &context)
            .await?;
        self.state_after(case_number.as_str(), Some(current), stored)
            .await
    }

    /// The case after a command stored `stored`: `before` (the case as read before the
    /// command) with `stored` folded in when the two join up, else read back. A submission
    /// has no `before`.
    async fn state_after(
        &self,
        case_number: &str,
        before: Option<CaseState>,
        stored: Vec<StoredEvent>,
    ) -> Result<CaseState, ApiError> {
        let Some(position) = stored.last().map(|event| event.position) else {
            return self.current_view(case_number).await;
        };
        let view = match before {
            None => fold_view(&stored),
            // Another command may have landed between the read and this one.
            Some(CaseState { mut view, .. })
                if stored.first().map(|event| event.sequence) == Some(view.last_sequence + 1) =>
            {
                for event in &stored {
                    view.apply(event.sequence, &event.event);
                }
                Some(view)
            }
            Some(_) => None,
        };
        match view {
            Some(view) => Ok(CaseState { view, position }),
            None => self.current_view(case_number).await,
        }
    }

    async fn execute(
        &self,
        case_number: &CaseNumber,
        command: ApplicationCommand,
        command_id: &str,
        context: &CommandContext,
    ) -> Result<Vec<StoredEvent>, ApiError> {
        let name = command.name();
        let span = tracing::info_span!(
            "case.command",
            case_number = case_number.as_str(),
            command = name,
            actor_role = context.actor.role.as_str(),
            correlation_id = context.correlation_id.as_str(),
        );
        let metadata = HashMap::from([
            ("actor_id".to_owned(), context.actor.id.clone()),
            (
                "actor_role".to_owned(),
                context.actor.role.as_str().to_owned(),
            ),
            ("command_id".to_owned(), command_id.to_owned()),
            ("correlation_id".to_owned(), context.correlation_id.clone()),
        ]);
        let started = std::time::Instant::now();
        let (result, stored) = repository::with_receipt(
            self.cqrs
                .execute_with_metadata(case_number.as_str(), command, metadata)
                .instrument(span.clone()),
        )
        .await;
        let outcome = outcome_label(&result);
        metrics::counter!("commands_total", "command" => name, "outcome" => outcome).increment(1);
        metrics::histogram!("command_duration_seconds", "command" => name)
            .record(started.elapsed().as_secs_f64());
        let _entered = span.enter();
        match result {
            Ok(()) => {
                tracing::info!(
                    duration_ms = started.elapsed().as_millis() as u64,
                    "command applied"
                );
                Ok(stored)
            }
            Err(AggregateError::UserError(refusal)) => {
                tracing::warn!(reason = ?refusal.reason(), "command refused");
                Err(ApiError::from_domain(refusal, "input"))
            }
            Err(AggregateError::AggregateConflict) => {
                tracing::warn!("command lost a race on the case");
                Err(ApiError::Conflict {
                    message: "the case was changed by someone else at the same time; reload it and try again".to_owned(),
                    reason: Reason::ConcurrentModification,
                })
            }
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!(
                "command {name} failed: {other}"
            ))),
        }
    }

    /// The case as its events say right now (not the read model, which may lag).
    pub async fn current_view(&self, case_number: &str) -> Result<CaseState, ApiError> {
        let events = event_store::case_events(&self.pool, case_number).await?;
        let position = events.last().map(|event| event.position);
        match (fold_view(&events), position) {
            (Some(view), Some(position)) => Ok(CaseState { view, position }),
            _ => Err(ApiError::NotFound("no such case".to_owned())),
        }
    }
}

/// Folds stored events into the view front ends read.
pub fn fold_view(events: &[event_store::StoredEvent]) -> Option<SubmissionView> {
    SubmissionView::fold(events.iter().map(|stored| (stored.sequence, &stored.event)))
}

fn outcome_label<T>(result: &Result<(), AggregateError<T>>) -> &'static str
where
    T: std::error::Error,
{
    match result {
        Ok(()) => "applied",
        Err(AggregateError::UserError(_)) => "refused",
        Err(AggregateError::AggregateConflict) => "conflict",
        Err(_) => "failed",
    }
}

/// The command id of a submission: the same applicant and key always give the same id.
fn submission_command_id(user_id: &str, idempotency_key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(user_id.as_bytes());
    hasher.update([0]);
    hasher.update(idempotency_key.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("submit:{hex}")
}

/// A case number from client input; a malformed one is bad input, not a missing case.
pub fn parse_case_number(raw: &str) -> Result<CaseNumber, ApiError> {
    CaseNumber::parse(raw)
        .map_err(|error| ApiError::bad_input("input.caseNumber", error.reason, error.message))
}
