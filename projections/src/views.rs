//! The read models as values: what a case looks like to its applicant and to the clerks'
//! queues, folded from events. Pure: no SQL here.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, Utc};
use domain::events::ApplicantIdentity;
use domain::findings::Finding;
use domain::values::{Delivery, IdentityCategory, Material, Phone, QualificationLevel, Subject};
use domain::{ApplicationEvent, Status};
use serde::{Deserialize, Serialize};

/// One case as its applicant and staff see it (the GraphQL `Submission`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionView {
    /// 办件编号.
    pub case_number: String,
    /// The applicant's identity-platform user id (the token's `sub`).
    pub applicant_id: String,
    /// The applicant's name as the identity platform verified it.
    pub applicant_name: String,
    pub status: Status,
    pub qualification_level: QualificationLevel,
    pub subject: Option<Subject>,
    pub identity_category: IdentityCategory,
    pub delivery: Delivery,
    pub contact_phone: Phone,
    pub materials: Vec<Material>,
    /// What the service noticed at submission, for staff.
    pub findings: Vec<Finding>,
    pub submitted_at: DateTime<Utc>,
    /// When the latest event happened.
    pub updated_at: DateTime<Utc>,
    /// 资格证书编号, set once approved.
    pub certificate_number: Option<String>,
    /// The reason given with `NotAccepted` or `NotApproved`.
    pub decision_reason: Option<String>,
    /// How the applicant may challenge a `NotApproved` decision.
    pub rights_notice: Option<String>,
    pub shipment: Option<ShipmentView>,
    /// Every step so far, oldest first.
    pub timeline: Vec<TimelineStep>,
    /// The sequence of the last event folded in.
    pub last_sequence: i64,
}

/// The mail shipment of a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentView {
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: DateTime<Utc>,
}

/// One step of a case's progress, as a front end draws it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineStep {
    pub status: Status,
    /// The status in the applicant's words, e.g. 受理通过，待审批.
    pub label: String,
    pub at: DateTime<Utc>,
    /// The clerk's note, the reason of a refusal, or the carrier and tracking number.
    pub note: Option<String>,
}

/// The status a case has right after `event`.
pub fn status_after(event: &ApplicationEvent) -> Status {
    match event {
        ApplicationEvent::ApplicationSubmitted { .. } => Status::Submitted,
        ApplicationEvent::ApplicationAccepted { .. } => Status::Accepted,
        ApplicationEvent::ApplicationNotAccepted { .. } => Status::NotAccepted,
        ApplicationEvent::ApplicationApproved { .. } => Status::Approved,
        ApplicationEvent::ApplicationNotApproved { .. } => Status::NotApproved,
        ApplicationEvent::CertificateShipped { .. } => Status::Shipped,
        ApplicationEvent::CertificateCollected { .. } => Status::Collected,
    }
}

impl SubmissionView {
    /// Folds a case's events, oldest first, each with its sequence. `None` unless the
    /// first event is `ApplicationSubmitted`.
    pub fn fold<'a>(events: impl IntoIterator<Item = (i64, &'a ApplicationEvent)>) -> Option<Self> {
        let mut events = events.into_iter();
        let (sequence, first) = events.next()?;
        let mut view = Self::submitted(sequence, first)?;
        for (sequence, event) in events {
            view.apply(sequence, event);
        }
        Some(view)
    }

    /// The view right after submission; `None` for any other event.
    pub fn submitted(sequence: i64, event: &ApplicationEvent) -> Option<Self> {
        let ApplicationEvent::ApplicationSubmitted {
            case_number,
            applicant,
            identity_category,
            qualification_level,
            subject,
            contact_phone,
            delivery,
            materials,
            findings,
            submitted_at,
        } = event
        else {
            return None;
        };
        let ApplicantIdentity { user_id, name, .. } = applicant;
        Some(Self {
            case_number: case_number.as_str().to_owned(),
            applicant_id: user_id.clone(),
            applicant_name: name.clone(),
            status: Status::Submitted,
            qualification_level: *qualification_level,
            subject: subject.clone(),
            identity_category: *identity_category,
            delivery: delivery.clone(),
            contact_phone: contact_phone.clone(),
            materials: materials.clone(),
            findings: findings.clone(),
            submitted_at: *submitted_at,
            updated_at: *submitted_at,
            certificate_number: None,
            decision_reason: None,
            rights_notice: None,
            shipment: None,
            timeline: vec![step(Status::Submitted, *submitted_at, None)],
            last_sequence: sequence,
        })
    }

    /// Folds one later event in. A second `ApplicationSubmitted` changes nothing but the
    /// sequence: a case is submitted once.
    pub fn apply(&mut self, sequence: i64, event: &ApplicationEvent) {
        self.last_sequence = sequence;
        let note = match event {
            ApplicationEvent::ApplicationSubmitted { .. } => return,
            ApplicationEvent::ApplicationAccepted { note, .. } => note.as_ref().map(text),
            ApplicationEvent::ApplicationNotAccepted { reason, .. } => {
                self.decision_reason = Some(text(reason));
                self.decision_reason.clone()
            }
            ApplicationEvent::ApplicationApproved {
                certificate_number,
                note,
                ..
            } => {
                self.certificate_number = Some(certificate_number.as_str().to_owned());
                note.as_ref().map(text)
            }
            ApplicationEvent::ApplicationNotApproved { reason, rights, .. } => {
                self.decision_reason = Some(text(reason));
                self.rights_notice = Some(rights.clone());
                self.decision_reason.clone()
            }
            ApplicationEvent::CertificateShipped {
                carrier,
                tracking_number,
                at,
            } => {
                self.shipment = Some(ShipmentView {
                    carrier: text(carrier),
                    tracking_number: text(tracking_number),
                    shipped_at: *at,
                });
                Some(format!("{carrier} {tracking_number}"))
            }
            ApplicationEvent::CertificateCollected { .. } => None,
        };
        self.status = status_after(event);
        self.updated_at = event.at();
        self.timeline.push(step(self.status, event.at(), note));
    }
}

fn text(value: &domain::values::Text) -> String {
    value.as_str().to_owned()
}

fn step(status: Status, at: DateTime<Utc>, note: Option<String>) -> TimelineStep {
    TimelineStep {
        status,
        label: status.label().to_owned(),
        at,
        note,
    }
}

/// A clerk work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueKind {
    /// 受理: submitted cases awaiting acceptance.
    Acceptance,
    /// 审批: accepted cases awaiting approval.
    Approval,
    /// 发证: approved cases awaiting mail or the window hand-over.
    Dispatch,
}

impl QueueKind {
    pub const ALL: [Self; 3] = [Self::Acceptance, Self::Approval, Self::Dispatch];

    /// The queue a case in `status` waits in, if any.
    pub fn for_status(status: Status) -> Option<Self> {
        match status {
            Status::Submitted => Some(Self::Acceptance),
            Status::Accepted => Some(Self::Approval),
            Status::Approved => Some(Self::Dispatch),
            Status::New
            | Status::NotAccepted
            | Status::NotApproved
            | Status::Shipped
            | Status::Collected => None,
        }
    }

    /// The stored and serialised name, e.g. `ACCEPTANCE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acceptance => "ACCEPTANCE",
            Self::Approval => "APPROVAL",
            Self::Dispatch => "DISPATCH",
        }
    }

    /// Calendar days a case may wait in this queue.
    ///
    /// Limitation: the law counts acceptance and approval time from the close of the
    /// batch's acceptance window; batches do not exist yet, so both count 30 days from the
    /// day the case entered the queue.
    pub fn allowed_days(self) -> u64 {
        match self {
            Self::Acceptance | Self::Approval => 30,
            Self::Dispatch => 10,
        }
    }
}

/// How a certificate reaches the applicant, without the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryMethod {
    WindowPickup,
    Mail,
}

impl From<&Delivery> for DeliveryMethod {
    fn from(delivery: &Delivery) -> Self {
        match delivery {
            Delivery::WindowPickup => Self::WindowPickup,
            Delivery::Mail { .. } => Self::Mail,
        }
    }
}

/// A case waiting in a clerk work queue (the GraphQL `QueueItem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    pub kind: QueueKind,
    pub case_number: String,
    pub qualification_level: QualificationLevel,
    pub subject: Option<Subject>,
    pub applicant_name: String,
    /// When the case entered this queue.
    pub entered_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
    /// The last day, in Beijing, by which the case should leave this queue.
    pub due_date: NaiveDate,
    pub delivery_method: DeliveryMethod,
}

impl QueueItem {
    /// The item for a case in `view.status`, entering its queue at `entered_at`; `None` when
    /// that status waits in no queue.
    pub fn for_view(view: &SubmissionView, entered_at: DateTime<Utc>) -> Option<Self> {
        let kind = QueueKind::for_status(view.status)?;
        Some(Self {
            kind,
            case_number: view.case_number.clone(),
            qualification_level: view.qualification_level,
            subject: view.subject.clone(),
            applicant_name: view.applicant_name.clone(),
            entered_at,
            submitted_at: view.submitted_at,
            due_date: due_date(kind, entered_at),
            delivery_method: DeliveryMethod::from(&view.delivery),
        })
    }

    /// The same case moved to the `kind` queue at `entered_at`.
    pub fn moved_to(&self, kind: QueueKind, entered_at: DateTime<Utc>) -> Self {
        Self {
            kind,
            entered_at,
            due_date: due_date(kind, entered_at),
            ..self.clone()
        }
    }
}

/// Beijing time, UTC+8 all year.
const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// The Beijing calendar day `kind.allowed_days()` after the day `entered_at` falls on.
pub fn due_date(kind: QueueKind, entered_at: DateTime<Utc>) -> NaiveDate {
    let entered = entered_at.with_timezone(&BEIJING).date_naive();
    entered
        .checked_add_days(Days::new(kind.allowed_days()))
        .unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn due_dates_count_calendar_days_from_the_beijing_date_of_entry() {
        let last_second_of_the_4th = utc("2026-12-04T15:59:59Z");
        let first_second_of_the_5th = utc("2026-12-04T16:00:00Z");
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();

        assert_eq!(
            due_date(QueueKind::Acceptance, last_second_of_the_4th),
            day(2027, 1, 3)
        );
        assert_eq!(
            due_date(QueueKind::Acceptance, first_second_of_the_5th),
            day(2027, 1, 4)
        );
        assert_eq!(
            due_date(QueueKind::Approval, first_second_of_the_5th),
            day(2027, 1, 4)
        );
        assert_eq!(
            due_date(QueueKind::Dispatch, first_second_of_the_5th),
            day(2026, 12, 15)
        );
        assert_eq!(
            due_date(
                QueueKind::Dispatch,
                Utc.with_ymd_and_hms(2026, 2, 20, 2, 0, 0).unwrap()
            ),
            day(2026, 3, 2)
        );
    }

    #[test]
    fn only_cases_awaiting_staff_wait_in_a_queue() {
        assert_eq!(
            QueueKind::for_status(Status::Submitted),
            Some(QueueKind::Acceptance)
        );
        assert_eq!(
            QueueKind::for_status(Status::Accepted),
            Some(QueueKind::Approval)
        );
        assert_eq!(
            QueueKind::for_status(Status::Approved),
            Some(QueueKind::Dispatch)
        );
        for status in [
            Status::New,
            Status::NotAccepted,
            Status::NotApproved,
            Status::Shipped,
            Status::Collected,
        ] {
            assert_eq!(QueueKind::for_status(status), None);
        }
    }

    #[test]
    fn queue_kinds_are_stored_and_serialised_by_their_graphql_names() {
        for kind in QueueKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
