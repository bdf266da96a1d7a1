//! How refusals reach clients: every error becomes a GraphQL error with an
//! `extensions.code` (DESIGN.md §6), a stable `reason` for domain refusals and the input
//! `field` for input problems. Internal causes are logged here, once, and never returned.

use async_graphql::ErrorExtensions;
use domain::{ApplicationError, Reason};

/// A refused or failed request, by what the client can do about it.
///
/// Deliberately not `Display`: async-graphql turns any `Display` error into a GraphQL error
/// without a code, so every conversion must go through `From<ApiError>` below.
#[derive(Debug)]
pub enum ApiError {
    Unauthenticated(&'static str),
    Forbidden(String),
    NotFound(String),
    BadInput {
        message: String,
        field: Option<String>,
        reason: Option<Reason>,
    },
    Conflict {
        message: String,
        reason: Reason,
    },
    RuleViolation {
        message: String,
        reason: Reason,
    },
    /// The read models have not reached the position the client asked for in time.
    Stale(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl ApiError {
    pub fn bad_input(field: impl Into<String>, reason: Reason, message: impl Into<String>) -> Self {
        Self::BadInput {
            message: message.into(),
            field: Some(field.into()),
            reason: Some(reason),
        }
    }

    /// What the client is told; internal causes are never part of it.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(message) => (*message).to_owned(),
            Self::Forbidden(message) | Self::NotFound(message) | Self::Stale(message) => {
                message.clone()
            }
            Self::BadInput { message, .. }
            | Self::Conflict { message, .. }
            | Self::RuleViolation { message, .. } => message.clone(),
            Self::Internal(_) => "internal error".to_owned(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::Conflict { .. } => "CONFLICT",
            Self::RuleViolation { .. } => "RULE_VIOLATION",
            Self::Stale(_) => "STALE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// Maps an aggregate refusal; `input_prefix` is where the command's fields sit in the
    /// GraphQL arguments, e.g. `input`.
    pub fn from_domain(error: ApplicationError, input_prefix: &str) -> Self {
        match error {
            ApplicationError::InvalidInput {
                field,
                reason,
                message,
            } => Self::BadInput {
                message,
                field: Some(format!("{input_prefix}.{field}")),
                reason: Some(reason),
            },
            ApplicationError::Refused { reason, message } => {
                Self::RuleViolation { message, reason }
            }
            transition @ ApplicationError::InvalidTransition { .. } => Self::Conflict {
                message: transition.to_string(),
                reason: Reason::InvalidTransition,
            },
            ApplicationError::NotFound => Self::NotFound("no such case".to_owned()),
            ApplicationError::Port(cause) => {
                Self::Internal(anyhow::anyhow!("a port failed: {cause}"))
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(error).context("database"))
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        if let Self::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        async_graphql::Error::new(self.message()).extend_with(|_, extensions| {
            extensions.set("code", self.code());
            match self {
                Self::BadInput { field, reason, .. } => {
                    if let Some(field) = field {
                        extensions.set("field", field.as_str());
                    }
                    if let Some(reason) = reason {
                        extensions.set("reason", reason.code());
                    }
                }
                Self::Conflict { reason, .. } | Self::RuleViolation { reason, .. } => {
                    extensions.set("reason", reason.code());
                }
                _ => {}
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        error.extend()
    }
}
