//! What people ask of a case. Commands are imperative and may be refused.

use crate::case_number::CaseNumber;
use crate::values::{Material, QualificationLevel};

/// The verified identity the token carries. Never taken from mutation input.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedIdentity {
    pub user_id: String,
    pub name: String,
    /// Identity assurance level, e.g. `L2`.
    pub assurance_level: String,
    pub id_doc_type: Option<String>,
    pub id_doc_number: Option<String>,
    pub face_verified_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The mail address as typed, before validation.
#[derive(Debug, Clone, PartialEq)]
pub struct MailAddressForm {
    pub recipient_name: String,
    pub phone: String,
    pub district: String,
    pub street: String,
    pub postal_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMethodChoice {
    WindowPickup,
    Mail,
}

/// The application form as the applicant filled it in; the aggregate validates every field.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationForm {
    pub face_authorization_consent: bool,
    pub identity_category: crate::values::IdentityCategory,
    pub qualification_level: QualificationLevel,
    pub subject: Option<String>,
    pub delivery_method: DeliveryMethodChoice,
    pub mail_to: Option<MailAddressForm>,
    pub contact_phone: String,
}

#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a command is built once per request and moved, never stored in bulk"
)]
pub enum ApplicationCommand {
    /// Open the case. `uploads` are the applicant's own stored files, already checked.
    SubmitApplication {
        case_number: CaseNumber,
        identity: VerifiedIdentity,
        form: ApplicationForm,
        uploads: Vec<Material>,
    },
    AcceptApplication {
        note: Option<String>,
    },
    /// 不予受理.
    RejectApplication {
        reason: String,
    },
    ApproveApplication {
        note: Option<String>,
    },
    /// 不予许可.
    DenyApplication {
        reason: String,
    },
    ShipCertificate {
        carrier: String,
        tracking_number: String,
    },
    RecordCollection,
}

impl ApplicationCommand {
    /// A short name for logs and metrics, e.g. `accept`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SubmitApplication { .. } => "submit",
            Self::AcceptApplication { .. } => "accept",
            Self::RejectApplication { .. } => "reject",
            Self::ApproveApplication { .. } => "approve",
            Self::DenyApplication { .. } => "deny",
            Self::ShipCertificate { .. } => "ship",
            Self::RecordCollection => "record collection",
        }
    }
}
