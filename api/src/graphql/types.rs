//! The GraphQL output and input types: thin wrappers over the domain's values and the read
//! models' views, named and shaped as `api-contract/schema.graphql` says.

use async_graphql::{
    Enum, InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject,
    Value, ID,
};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use domain::values as dv;
use domain::Status;
use projections::{FeedPosition, QueueItem as QueueItemView, SubmissionView};

/// Beijing time: every `DateTime` the API returns carries the +08:00 offset.
pub fn beijing(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    at.with_timezone(&offset)
}

use chrono::Offset;

/// A calendar date, e.g. `2026-12-04`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("a Date is written YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "dv::QualificationLevel")]
pub enum QualificationLevel {
    Kindergarten,
    PrimarySchool,
    JuniorMiddleSchool,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "dv::IdentityCategory")]
pub enum IdentityCategory {
    MainlandResident,
    HongKongMacaoResident,
    TaiwanResident,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMethod {
    WindowPickup,
    Mail,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationStatus {
    /// 申报成功
    Submitted,
    /// 受理通过，待审批
    Accepted,
    /// 不予受理
    NotAccepted,
    /// 准予许可
    Approved,
    /// 不予许可
    NotApproved,
    /// 已邮寄
    Shipped,
    /// 已领取
    Collected,
}

impl ApplicationStatus {
    /// `None` for a case with no events, which the API never shows.
    pub fn from_status(status: Status) -> Option<Self> {
        Some(match status {
            Status::New => return None,
            Status::Submitted => Self::Submitted,
            Status::Accepted => Self::Accepted,
            Status::NotAccepted => Self::NotAccepted,
            Status::Approved => Self::Approved,
            Status::NotApproved => Self::NotApproved,
            Status::Shipped => Self::Shipped,
            Status::Collected => Self::Collected,
        })
    }

    pub fn to_status(self) -> Status {
        match self {
            Self::Submitted => Status::Submitted,
            Self::Accepted => Status::Accepted,
            Self::NotAccepted => Status::NotAccepted,
            Self::Approved => Status::Approved,
            Self::NotApproved => Status::NotApproved,
            Self::Shipped => Status::Shipped,
            Self::Collected => Status::Collected,
        }
    }
}

fn status_or_submitted(status: Status) -> ApplicationStatus {
    ApplicationStatus::from_status(status).unwrap_or(ApplicationStatus::Submitted)
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "projections::QueueKind")]
pub enum QueueKind {
    /// SUBMITTED cases, oldest first
    Acceptance,
    /// ACCEPTED cases, oldest first
    Approval,
    /// APPROVED cases awaiting mail or window hand-over
    Dispatch,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "dv::MaterialKind")]
pub enum MaterialKind {
    Photo,
    PhysicalExamForm,
    NoCriminalRecordCertificate,
    IdentityDocument,
    Other,
    JurisdictionBasis,
    EducationRecord,
    PutonghuaCertificate,
    ExamCertificate,
    CriminalRecordCheck,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueChange {
    Added,
    Updated,
    Removed,
}

#[derive(InputObject, Debug, Clone)]
pub struct SubmitApplicationInput {
    /// Client-chosen id; repeating a submission with the same key returns the first result.
    pub idempotency_key: String,
    /// The applicant ticked 我同意刷脸授权; the token must also carry a recent face verification.
    pub face_authorization_consent: bool,
    pub identity_category: IdentityCategory,
    pub qualification_level: QualificationLevel,
    /// 任教学科, e.g. 语文; required for primary and junior middle school, absent for kindergarten.
    pub subject: Option<String>,
    /// Ids returned by uploadMaterial.
    pub material_ids: Vec<ID>,
    pub delivery: DeliveryInput,
    /// The applicant's mobile phone for notices.
    pub contact_phone: String,
}

#[derive(InputObject, Debug, Clone)]
pub struct DeliveryInput {
    pub method: DeliveryMethod,
    /// Required for MAIL.
    pub mail_to: Option<MailAddressInput>,
}

#[derive(InputObject, Debug, Clone)]
pub struct MailAddressInput {
    pub recipient_name: String,
    pub phone: String,
    /// One of Beijing's 16 districts, in Chinese, e.g. 海淀区.
    pub district: String,
    /// Street and number.
    pub street: String,
    pub postal_code: String,
}

#[derive(InputObject, Debug, Clone)]
pub struct AcceptApplicationInput {
    pub case_number: ID,
    pub note: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct RejectApplicationInput {
    pub case_number: ID,
    pub reason: String,
}

#[derive(InputObject, Debug, Clone)]
pub struct ApproveApplicationInput {
    pub case_number: ID,
    pub note: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct DenyApplicationInput {
    pub case_number: ID,
    pub reason: String,
}

#[derive(InputObject, Debug, Clone)]
pub struct ShipCertificateInput {
    pub case_number: ID,
    pub carrier: String,
    pub tracking_number: String,
}

#[derive(InputObject, Debug, Clone)]
pub struct RecordCollectionInput {
    pub case_number: ID,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct UploadedMaterial {
    pub id: ID,
    pub kind: MaterialKind,
    pub sha256: String,
    pub size: i32,
    pub media_type: String,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct SubmitApplicationPayload {
    pub submission: Submission,
    /// The feed position of the case's latest event; pass it as `atLeast` to read read
    /// models that include this submission.
    pub position: String,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct DecisionPayload {
    pub submission: Submission,
    /// The feed position of the decision's event; pass it as `atLeast` to read read models
    /// that include it.
    pub position: String,
}

/// One case as its applicant and staff see it.
#[derive(Debug, Clone)]
pub struct Submission(pub SubmissionView, pub Option<FeedPosition>);

impl Submission {
    /// A case read where its feed position is not known (a list from a read model).
    pub fn listed(view: SubmissionView) -> Self {
        Self(view, None)
    }
}

#[Object]
impl Submission {
    /// The feed position of the latest event this view includes, where known (mutation
    /// answers, `submission`, subscriptions). Resume a subscription after it with `after`.
    async fn position(&self) -> Option<String> {
        self.1.map(|position| position.to_string())
    }

    async fn case_number(&self) -> ID {
        ID(self.0.case_number.clone())
    }

    async fn status(&self) -> ApplicationStatus {
        status_or_submitted(self.0.status)
    }

    /// The status in the applicant's words, e.g. 受理通过，待审批.
    async fn status_label(&self) -> &'static str {
        self.0.status.label()
    }

    async fn qualification_level(&self) -> QualificationLevel {
        self.0.qualification_level.into()
    }

    async fn subject(&self) -> Option<String> {
        self.0.subject.as_ref().map(ToString::to_string)
    }

    async fn identity_category(&self) -> IdentityCategory {
        self.0.identity_category.into()
    }

    /// The applicant's name as verified by the identity platform.
    async fn applicant_name(&self) -> &str {
        &self.0.applicant_name
    }

    async fn delivery(&self) -> Delivery {
        Delivery::from(&self.0.delivery)
    }

    async fn materials(&self) -> Vec<Material> {
        self.0.materials.iter().map(Material::from).collect()
    }

    async fn submitted_at(&self) -> DateTime<FixedOffset> {
        beijing(self.0.submitted_at)
    }

    async fn updated_at(&self) -> DateTime<FixedOffset> {
        beijing(self.0.updated_at)
    }

    /// Set once approved.
    async fn certificate_number(&self) -> Option<&str> {
        self.0.certificate_number.as_deref()
    }

    /// The reason given with NOT_ACCEPTED or NOT_APPROVED.
    async fn decision_reason(&self) -> Option<&str> {
        self.0.decision_reason.as_deref()
    }

    /// With NOT_APPROVED: how the applicant may challenge the decision (administrative
    /// reconsideration within 60 days, or a lawsuit within 6 months).
    async fn rights_notice(&self) -> Option<&str> {
        self.0.rights_notice.as_deref()
    }

    /// Set once shipped.
    async fn shipment(&self) -> Option<Shipment> {
        self.0.shipment.as_ref().map(|shipment| Shipment {
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            shipped_at: beijing(shipment.shipped_at),
        })
    }

    /// Every step so far, oldest first: the progress a front end draws.
    async fn timeline(&self) -> Vec<TimelineStep> {
        self.0
            .timeline
            .iter()
            .map(|step| TimelineStep {
                status: status_or_submitted(step.status),
                label: step.label.clone(),
                at: beijing(step.at),
                note: step.note.clone(),
            })
            .collect()
    }

    /// What the service noticed about eligibility at submission. Advisory only, and for
    /// staff: empty for applicants.
    async fn findings(&self, ctx: &async_graphql::Context<'_>) -> Vec<Finding> {
        let staff = super::caller(ctx).is_ok_and(|caller| caller.is_staff());
        if !staff {
            return Vec::new();
        }
        self.0
            .findings
            .iter()
            .map(|finding| Finding {
                code: finding.code.clone(),
                message: finding.message.clone(),
                data: finding.data.to_string(),
            })
            .collect()
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Delivery {
    pub method: DeliveryMethod,
    pub mail_to: Option<MailAddress>,
}

impl From<&dv::Delivery> for Delivery {
    fn from(delivery: &dv::Delivery) -> Self {
        match delivery {
            dv::Delivery::WindowPickup => Self {
                method: DeliveryMethod::WindowPickup,
                mail_to: None,
            },
            dv::Delivery::Mail { mail_to } => Self {
                method: DeliveryMethod::Mail,
                mail_to: Some(MailAddress {
                    recipient_name: mail_to.recipient_name.to_string(),
                    phone: mail_to.phone.as_str().to_owned(),
                    district: mail_to.district.name().to_owned(),
                    street: mail_to.street.to_string(),
                    postal_code: mail_to.postal_code.as_str().to_owned(),
                }),
            },
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct MailAddress {
    pub recipient_name: String,
    pub phone: String,
    pub district: String,
    pub street: String,
    pub postal_code: String,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Material {
    pub kind: MaterialKind,
    pub sha256: String,
    /// UPLOADED or FETCHED from another department
    pub source: String,
    pub size: i64,
    pub media_type: String,
}

impl From<&dv::Material> for Material {
    fn from(material: &dv::Material) -> Self {
        let source = match material.source {
            dv::MaterialSource::Uploaded => "UPLOADED",
            dv::MaterialSource::Fetched => "FETCHED",
        };
        Self {
            kind: material.kind.into(),
            sha256: material.sha256.clone(),
            source: source.to_owned(),
            size: material.size as i64,
            media_type: material.media_type.clone(),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: DateTime<FixedOffset>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct TimelineStep {
    pub status: ApplicationStatus,
    pub label: String,
    pub at: DateTime<FixedOffset>,
    pub note: Option<String>,
}

/// An eligibility finding: what the service noticed, never a decision.
#[derive(SimpleObject, Debug, Clone)]
pub struct Finding {
    pub code: String,
    pub message: String,
    /// The values that led to the finding, as JSON text.
    pub data: String,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct SubmissionConnection {
    pub edges: Vec<SubmissionEdge>,
    pub page_info: PageInfo,
    pub total_count: i32,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct SubmissionEdge {
    pub cursor: String,
    pub node: Submission,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct QueueConnection {
    pub edges: Vec<QueueEdge>,
    pub page_info: PageInfo,
    pub total_count: i32,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct QueueEdge {
    pub cursor: String,
    pub node: QueueItem,
}

#[derive(Debug, Clone)]
pub struct QueueItem {
    pub view: QueueItemView,
}

#[Object]
impl QueueItem {
    async fn case_number(&self) -> ID {
        ID(self.view.case_number.clone())
    }

    async fn qualification_level(&self) -> QualificationLevel {
        self.view.qualification_level.into()
    }

    async fn subject(&self) -> Option<String> {
        self.view.subject.as_ref().map(ToString::to_string)
    }

    async fn applicant_name(&self) -> &str {
        &self.view.applicant_name
    }

    /// When the case entered this queue.
    async fn entered_at(&self) -> DateTime<FixedOffset> {
        beijing(self.view.entered_at)
    }

    async fn submitted_at(&self) -> DateTime<FixedOffset> {
        beijing(self.view.submitted_at)
    }

    /// When the step this queue stands for is due by law.
    async fn due_date(&self) -> Date {
        Date(self.view.due_date)
    }

    async fn delivery_method(&self) -> DeliveryMethod {
        match self.view.delivery_method {
            projections::views::DeliveryMethod::WindowPickup => DeliveryMethod::WindowPickup,
            projections::views::DeliveryMethod::Mail => DeliveryMethod::Mail,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct QueueUpdate {
    /// The feed position of the event behind this update; resume after it with `after`.
    pub position: String,
    pub kind: QueueKind,
    pub change: QueueChange,
    pub case_number: ID,
    pub item: Option<QueueItem>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct CaseHistory {
    pub case_number: ID,
    pub events: Vec<HistoryEvent>,
}

#[derive(SimpleObject, Debug, Clone)]
pub struct HistoryEvent {
    /// 1-based position of the event within its case.
    pub sequence: i32,
    /// Position in the store-wide ordered feed.
    pub global_position: String,
    pub event_type: String,
    pub event_version: String,
    /// When the store recorded it (server clock).
    pub recorded_at: DateTime<FixedOffset>,
    /// Who caused it: the token subject and role.
    pub actor_id: String,
    pub actor_role: String,
    /// The event's payload as JSON text.
    pub payload: String,
    /// The case's status right after this event.
    pub status_after: ApplicationStatus,
    /// The command that caused it, for tracing.
    pub command_id: Option<String>,
    pub correlation_id: Option<String>,
}
