//! The one error type of the `Application` aggregate and the stable reason codes it carries.

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// A stable, machine-readable code for why a command was refused. Front ends switch on
/// these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The token's identity assurance is below L2.
    IdentityNotVerified,
    /// The applicant did not tick 我同意刷脸授权.
    FaceConsentRequired,
    /// No face verification within the last 30 minutes.
    FaceVerificationRequired,
    /// The chosen identity category does not fit the token's document type.
    IdentityCategoryMismatch,
    /// The token's name or document differs from the registry's record of the person.
    IdentityMismatch,
    SubjectRequired,
    SubjectNotAllowed,
    InvalidSubject,
    MissingMaterial,
    /// A material id is unknown, not the caller's, or of the wrong kind.
    InvalidMaterial,
    MailAddressRequired,
    MailOutsideBeijing,
    InvalidPhone,
    InvalidPostalCode,
    InvalidIdDocument,
    InvalidText,
    /// The same person already has a case awaiting a decision.
    OpenCaseExists,
    /// The command does not apply to the case in its current status.
    InvalidTransition,
    /// Shipping a window-pickup case, or recording a window hand-over of a mailed one.
    DeliveryMethodMismatch,
    ReasonRequired,
    CaseNotFound,
    CaseAlreadyExists,
    /// Not `TC` followed by eleven digits, or the check digit is wrong.
    InvalidCaseNumber,
    /// Two commands raced on one case and this one lost.
    ConcurrentModification,
    /// An uploaded file is bigger than its kind allows.
    FileTooLarge,
    /// An uploaded file is not of a type its kind accepts (checked by content).
    UnsupportedMediaType,
    /// An idempotency key is blank or too long.
    InvalidIdempotencyKey,
    /// A subscriber fell too far behind the live updates and was dropped.
    SubscriberTooSlow,
}

impl Reason {
    /// The code as clients see it, e.g. `MAIL_OUTSIDE_BEIJING`.
    pub fn code(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(code)) => code,
            _ => format!("{self:?}"),
        }
    }
}

/// Why the aggregate refused a command. Each variant maps to one GraphQL error code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplicationError {
    /// A field of the command is malformed (`BAD_USER_INPUT`). `field` is the path inside
    /// the command's input, e.g. `delivery.mailTo.postalCode`.
    #[error("{field}: {message}")]
    InvalidInput {
        field: &'static str,
        reason: Reason,
        message: String,
    },
    /// The input is well formed but a rule refuses it (`RULE_VIOLATION`).
    #[error("{message}")]
    Refused { reason: Reason, message: String },
    /// The case is not in a status where this command applies (`CONFLICT`).
    #[error("cannot {command} a case that is {} ({status:?})", status.label())]
    InvalidTransition {
        command: &'static str,
        status: Status,
    },
    /// There is no such case (`NOT_FOUND`).
    #[error("no such case")]
    NotFound,
    /// A port (registry, number allocator, …) failed (`INTERNAL`); the cause is logged, not shown.
    #[error("a service the case depends on failed: {0}")]
    Port(String),
}

impl ApplicationError {
    pub fn refused(reason: Reason, message: impl Into<String>) -> Self {
        Self::Refused {
            reason,
            message: message.into(),
        }
    }

    pub fn invalid(field: &'static str, error: crate::values::ValueError) -> Self {
        Self::InvalidInput {
            field,
            reason: error.reason,
            message: error.message,
        }
    }

    /// The stable reason code, when the refusal has one.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::InvalidInput { reason, .. } | Self::Refused { reason, .. } => Some(*reason),
            Self::InvalidTransition { .. } => Some(Reason::InvalidTransition),
            Self::NotFound => Some(Reason::CaseNotFound),
            Self::Port(_) => None,
        }
    }
}

impl From<crate::ports::PortError> for ApplicationError {
    fn from(error: crate::ports::PortError) -> Self {
        Self::Port(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_screaming_snake_case() {
        assert_eq!(Reason::MailOutsideBeijing.code(), "MAIL_OUTSIDE_BEIJING");
        assert_eq!(Reason::InvalidCaseNumber.code(), "INVALID_CASE_NUMBER");
    }
}
