//! What happened to a case. Events are facts: past tense, versioned, never changed.

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::case_number::{CaseNumber, CertificateNumber};
use crate::findings::Finding;
use crate::values::{
    Delivery, Gender, IdDocument, IdentityCategory, Material, Phone, QualificationLevel, Subject,
    Text,
};

/// The applicant as verified by the identity platform at submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicantIdentity {
    /// The identity platform's stable user id (`sub`).
    pub user_id: String,
    pub name: String,
    pub id_document: IdDocument,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[expect(
    clippy::large_enum_variant,
    reason = "events are few per case, and boxing one would change the shape others match on"
)]
pub enum ApplicationEvent {
    /// 申报成功: the application was complete and the case opened.
    ApplicationSubmitted {
        case_number: CaseNumber,
        applicant: ApplicantIdentity,
        identity_category: IdentityCategory,
        qualification_level: QualificationLevel,
        subject: Option<Subject>,
        contact_phone: Phone,
        delivery: Delivery,
        materials: Vec<Material>,
        findings: Vec<Finding>,
        submitted_at: DateTime<Utc>,
    },
    /// 受理通过: the clerk accepted the case for approval.
    ApplicationAccepted {
        note: Option<Text>,
        at: DateTime<Utc>,
    },
    /// 不予受理: refused at acceptance; final for this case.
    ApplicationNotAccepted { reason: Text, at: DateTime<Utc> },
    /// 准予许可: approved, certificate number issued.
    ApplicationApproved {
        certificate_number: CertificateNumber,
        note: Option<Text>,
        at: DateTime<Utc>,
    },
    /// 不予许可: refused on the merits; `rights` tells the applicant how to challenge it.
    ApplicationNotApproved {
        reason: Text,
        rights: String,
        at: DateTime<Utc>,
    },
    /// 已邮寄: the certificate was handed to a carrier.
    CertificateShipped {
        carrier: Text,
        tracking_number: Text,
        at: DateTime<Utc>,
    },
    /// 已领取: the applicant collected the certificate at the window.
    CertificateCollected { at: DateTime<Utc> },
}

impl ApplicationEvent {
    /// When the event happened, by the service's clock.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::ApplicationSubmitted { submitted_at, .. } => *submitted_at,
            Self::ApplicationAccepted { at, .. }
            | Self::ApplicationNotAccepted { at, .. }
            | Self::ApplicationApproved { at, .. }
            | Self::ApplicationNotApproved { at, .. }
            | Self::CertificateShipped { at, .. }
            | Self::CertificateCollected { at } => *at,
        }
    }
}

impl DomainEvent for ApplicationEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::ApplicationSubmitted { .. } => "ApplicationSubmitted",
            Self::ApplicationAccepted { .. } => "ApplicationAccepted",
            Self::ApplicationNotAccepted { .. } => "ApplicationNotAccepted",
            Self::ApplicationApproved { .. } => "ApplicationApproved",
            Self::ApplicationNotApproved { .. } => "ApplicationNotApproved",
            Self::CertificateShipped { .. } => "CertificateShipped",
            Self::CertificateCollected { .. } => "CertificateCollected",
        };
        name.to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
