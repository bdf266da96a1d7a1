//! Stand-ins for the ports, and commands and events to build tests from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cqrs_es::test::TestFramework;

use crate::case_number::{CaseNumber, CaseNumberCipher};
use crate::commands::{ApplicationForm, DeliveryMethodChoice, MailAddressForm, VerifiedIdentity};
use crate::eligibility::EligibilityRules;
use crate::events::ApplicantIdentity;
use crate::ports::{CertificateSerials, Clock, OpenCases, PortError, Registry};
use crate::registry::PersonRecord;
use crate::test_support::{chen_da_wen, li_si, wang_wu, zhang_san};
use crate::values::{
    BeijingDistrict, Delivery, Gender, IdDocument, IdentityCategory, MailAddress, Material,
    MaterialKind, MaterialSource, Phone, PostalCode, QualificationLevel, Subject, Text,
};
use crate::{
    Application, ApplicationCommand, ApplicationError, ApplicationEvent, ApplicationServices,
    Reason,
};

/// 2025-09-10 10:00 in Beijing.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 10, 2, 0, 0)
        .single()
        .expect("a valid instant")
}

pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// Finds people by document number only, as a department's lookup would.
pub struct InMemoryRegistry(pub Vec<PersonRecord>);

#[async_trait]
impl Registry for InMemoryRegistry {
    async fn find_person(&self, document: &IdDocument) -> Result<Option<PersonRecord>, PortError> {
        let found = self.0.iter().find(|p| p.id_doc_number == document.number);
        Ok(found.cloned())
    }
}

pub struct UnreachableRegistry;

#[async_trait]
impl Registry for UnreachableRegistry {
    async fn find_person(&self, _: &IdDocument) -> Result<Option<PersonRecord>, PortError> {
        Err(PortError("registry unreachable".to_owned()))
    }
}

/// Open cases by document number.
#[derive(Default)]
pub struct InMemoryOpenCases(pub HashMap<String, CaseNumber>);

#[async_trait]
impl OpenCases for InMemoryOpenCases {
    async fn open_case_of(&self, document: &IdDocument) -> Result<Option<CaseNumber>, PortError> {
        Ok(self.0.get(&document.number).cloned())
    }
}

pub struct UnreachableOpenCases;

#[async_trait]
impl OpenCases for UnreachableOpenCases {
    async fn open_case_of(&self, _: &IdDocument) -> Result<Option<CaseNumber>, PortError> {
        Err(PortError("database unreachable".to_owned()))
    }
}

/// Hands out a fixed serial and remembers which authority and year it was asked for.
pub struct RecordingSerials {
    pub serial: Result<u32, PortError>,
    pub requests: Mutex<Vec<(String, i32)>>,
}

impl RecordingSerials {
    pub fn handing_out(serial: Result<u32, PortError>) -> Arc<Self> {
        Arc::new(Self {
            serial,
            requests: Mutex::new(Vec::new()),
        })
    }

    pub fn requests(&self) -> Vec<(String, i32)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl CertificateSerials for RecordingSerials {
    async fn next_serial(&self, authority_code: &str, year: i32) -> Result<u32, PortError> {
        if let Ok(mut requests) = self.requests.lock() {
            requests.push((authority_code.to_owned(), year));
        }
        self.serial.clone()
    }
}

/// Ports that know the fixture people, no open cases, serial 42, and the clock at `now()`.
pub fn services() -> ApplicationServices {
    ApplicationServices {
        registry: Arc::new(InMemoryRegistry(vec![
            zhang_san(),
            li_si(),
            wang_wu(),
            chen_da_wen(),
        ])),
        open_cases: Arc::new(InMemoryOpenCases::default()),
        certificate_serials: RecordingSerials::handing_out(Ok(42)),
        clock: Arc::new(FixedClock(now())),
        rules: EligibilityRules::default(),
        authority_code: "108".to_owned(),
    }
}

pub fn framework() -> TestFramework<Application> {
    TestFramework::with(services())
}

pub fn case_number() -> CaseNumber {
    CaseNumberCipher::new(7).case_number(1)
}

pub fn other_case_number() -> CaseNumber {
    CaseNumberCipher::new(7).case_number(2)
}

/// The token of a person the registry knows, verified to L2 five minutes ago.
pub fn identity_of(person: &PersonRecord) -> VerifiedIdentity {
    let doc_type = serde_json::to_value(person.id_doc_type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    VerifiedIdentity {
        user_id: format!("user-{}", person.id_doc_number),
        name: person.name.clone(),
        assurance_level: "L2".to_owned(),
        id_doc_type: doc_type,
        id_doc_number: Some(person.id_doc_number.clone()),
        face_verified_at: Some(now() - TimeDelta::minutes(5)),
    }
}

/// 张三's form: primary school 语文, collected at the window.
pub fn primary_chinese_form() -> ApplicationForm {
    ApplicationForm {
        face_authorization_consent: true,
        identity_category: IdentityCategory::MainlandResident,
        qualification_level: QualificationLevel::PrimarySchool,
        subject: Some("语文".to_owned()),
        delivery_method: DeliveryMethodChoice::WindowPickup,
        mail_to: None,
        contact_phone: "138-0013-8000".to_owned(),
    }
}

pub fn kindergarten_form(category: IdentityCategory) -> ApplicationForm {
    ApplicationForm {
        identity_category: category,
        qualification_level: QualificationLevel::Kindergarten,
        subject: None,
        ..primary_chinese_form()
    }
}

pub fn mail_address_form() -> MailAddressForm {
    MailAddressForm {
        recipient_name: " 张三 ".to_owned(),
        phone: "010 6255 1234".to_owned(),
        district: "海淀区".to_owned(),
        street: "中关村大街1号".to_owned(),
        postal_code: "100080".to_owned(),
    }
}

pub fn mail_form() -> ApplicationForm {
    ApplicationForm {
        delivery_method: DeliveryMethodChoice::Mail,
        mail_to: Some(mail_address_form()),
        ..primary_chinese_form()
    }
}

pub fn upload(kind: MaterialKind) -> Material {
    Material {
        kind,
        source: MaterialSource::Uploaded,
        sha256: "ab".repeat(32),
        size: 2048,
        media_type: "image/jpeg".to_owned(),
    }
}

pub fn mainland_uploads() -> Vec<Material> {
    vec![
        upload(MaterialKind::Photo),
        upload(MaterialKind::PhysicalExamForm),
    ]
}

pub fn submit(
    identity: VerifiedIdentity,
    form: ApplicationForm,
    uploads: Vec<Material>,
) -> ApplicationCommand {
    ApplicationCommand::SubmitApplication {
        case_number: case_number(),
        identity,
        form,
        uploads,
    }
}

/// 张三 submits a complete primary-school 语文 application.
pub fn zhang_san_submits(form: ApplicationForm) -> ApplicationCommand {
    submit(identity_of(&zhang_san()), form, mainland_uploads())
}

pub fn text(raw: &str) -> Text {
    Text::parse(raw, 1000, Reason::InvalidText).expect("test texts are valid")
}

pub fn mail_delivery() -> Delivery {
    Delivery::Mail {
        mail_to: MailAddress {
            recipient_name: text("张三"),
            phone: Phone::parse("01062551234").expect("a Beijing landline"),
            district: BeijingDistrict::parse("海淀区").expect("a Beijing district"),
            street: text("中关村大街1号"),
            postal_code: PostalCode::parse("100080").expect("a Beijing postal code"),
        },
    }
}

/// A submitted case with the given delivery and gender, as a `given` event.
pub fn submitted(delivery: Delivery, gender: Option<Gender>) -> ApplicationEvent {
    let person = zhang_san();
    ApplicationEvent::ApplicationSubmitted {
        case_number: case_number(),
        applicant: ApplicantIdentity {
            user_id: "user-1".to_owned(),
            name: person.name.clone(),
            id_document: IdDocument::new(person.id_doc_type, &person.id_doc_number)
                .expect("张三's document is well formed"),
            gender,
            birth_date: Some(person.birth_date),
        },
        identity_category: IdentityCategory::MainlandResident,
        qualification_level: QualificationLevel::PrimarySchool,
        subject: Subject::parse("语文").ok(),
        contact_phone: Phone::parse("13800138000").expect("a mobile number"),
        delivery,
        materials: mainland_uploads(),
        findings: Vec::new(),
        submitted_at: now() - TimeDelta::days(3),
    }
}

pub fn accepted() -> ApplicationEvent {
    ApplicationEvent::ApplicationAccepted {
        note: None,
        at: now() - TimeDelta::days(2),
    }
}

pub fn approved() -> ApplicationEvent {
    ApplicationEvent::ApplicationApproved {
        certificate_number: crate::CertificateNumber::compose(
            2025,
            "108",
            QualificationLevel::PrimarySchool,
            Some(Gender::Male),
            42,
        ),
        note: None,
        at: now() - TimeDelta::days(1),
    }
}

/// The history of a case up to approval, with the given delivery.
pub fn approved_case(delivery: Delivery) -> Vec<ApplicationEvent> {
    vec![
        submitted(delivery, Some(Gender::Male)),
        accepted(),
        approved(),
    ]
}

/// Asserts a refusal by its reason, whatever the message.
pub fn assert_refused(result: Result<Vec<ApplicationEvent>, ApplicationError>, expected: Reason) {
    match result {
        Err(ApplicationError::Refused { reason, .. }) if reason == expected => {}
        other => panic!("expected a refusal for {expected:?}, got {other:?}"),
    }
}

/// Asserts that one field was refused as malformed, for the given reason.
pub fn assert_invalid(
    result: Result<Vec<ApplicationEvent>, ApplicationError>,
    expected_field: &str,
    expected: Reason,
) {
    match result {
        Err(ApplicationError::InvalidInput { field, reason, .. })
            if field == expected_field && reason == expected => {}
        other => panic!("expected {expected_field} refused for {expected:?}, got {other:?}"),
    }
}

/// The one event a successful command emitted.
pub fn only_event(result: Result<Vec<ApplicationEvent>, ApplicationError>) -> ApplicationEvent {
    match result {
        Ok(mut events) if events.len() == 1 => events.remove(0),
        other => panic!("expected exactly one event, got {other:?}"),
    }
}
