//! Submission: the complete application and each reason one is refused.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::TimeDelta;
use cqrs_es::test::TestFramework;

use super::support::*;
use crate::commands::{DeliveryMethodChoice, MailAddressForm};
use crate::eligibility::assess;
use crate::events::ApplicantIdentity;
use crate::registry::fetched_materials;
use crate::test_support::{chen_da_wen, date, wang_wu, zhang_san};
use crate::values::{
    Delivery, Gender, IdDocType, IdDocument, IdentityCategory, MaterialKind, MaterialSource, Phone,
    QualificationLevel, Subject,
};
use crate::{Application, ApplicationError, ApplicationEvent, ApplicationServices, Reason, Status};

fn when_submitted_form(form: crate::commands::ApplicationForm) -> Vec<ApplicationEvent> {
    vec![ApplicationEvent::ApplicationSubmitted {
        case_number: case_number(),
        applicant: ApplicantIdentity {
            user_id: "user-110199199803159917".to_owned(),
            name: "张三".to_owned(),
            id_document: IdDocument::new(IdDocType::ResidentIdCard, "110199199803159917")
                .expect("a well-formed document"),
            gender: Some(Gender::Male),
            birth_date: Some(date("1998-03-15")),
        },
        identity_category: IdentityCategory::MainlandResident,
        qualification_level: QualificationLevel::PrimarySchool,
        subject: Subject::parse("语文").ok(),
        contact_phone: Phone::parse("13800138000").expect("a mobile number"),
        delivery: match form.delivery_method {
            DeliveryMethodChoice::WindowPickup => Delivery::WindowPickup,
            DeliveryMethodChoice::Mail => mail_delivery(),
        },
        materials: mainland_uploads()
            .into_iter()
            .chain(fetched_materials(&zhang_san()))
            .collect(),
        findings: Vec::new(),
        submitted_at: now(),
    }]
}

async fn submitting(
    command: crate::ApplicationCommand,
) -> Result<Vec<ApplicationEvent>, ApplicationError> {
    framework()
        .given_no_previous_events()
        .when_async(command)
        .await
        .inspect_result()
}

async fn zhang_san_submitting(
    form: crate::commands::ApplicationForm,
) -> Result<Vec<ApplicationEvent>, ApplicationError> {
    submitting(zhang_san_submits(form)).await
}

fn mail_form_with(change: impl FnOnce(&mut MailAddressForm)) -> crate::commands::ApplicationForm {
    let mut address = mail_address_form();
    change(&mut address);
    crate::commands::ApplicationForm {
        mail_to: Some(address),
        ..mail_form()
    }
}

#[tokio::test]
async fn a_complete_application_opens_the_case_with_fetched_materials() {
    framework()
        .given_no_previous_events()
        .when_async(zhang_san_submits(primary_chinese_form()))
        .await
        .then_expect_events(when_submitted_form(primary_chinese_form()));
}

#[tokio::test]
async fn mail_delivery_inside_beijing_is_recorded_with_the_parsed_address() {
    framework()
        .given_no_previous_events()
        .when_async(zhang_san_submits(mail_form()))
        .await
        .then_expect_events(when_submitted_form(mail_form()));
}

#[tokio::test]
async fn window_pickup_ignores_a_mail_address_given_with_it() {
    let form = crate::commands::ApplicationForm {
        mail_to: Some(MailAddressForm {
            district: "浦东新区".to_owned(),
            ..mail_address_form()
        }),
        ..primary_chinese_form()
    };
    framework()
        .given_no_previous_events()
        .when_async(zhang_san_submits(form))
        .await
        .then_expect_events(when_submitted_form(primary_chinese_form()));
}

#[tokio::test]
async fn a_submitted_case_records_the_findings_of_the_eligibility_rules() {
    let form = crate::commands::ApplicationForm {
        subject: Some("数学".to_owned()),
        ..primary_chinese_form()
    };
    let event = only_event(zhang_san_submitting(form).await);
    let ApplicationEvent::ApplicationSubmitted { findings, .. } = event else {
        panic!("expected a submission, got {event:?}");
    };
    let maths = Subject::parse("数学").ok();
    let expected = assess(
        &crate::eligibility::EligibilityRules::default(),
        Some(&zhang_san()),
        QualificationLevel::PrimarySchool,
        maths.as_ref(),
        IdentityCategory::MainlandResident,
        date("2025-09-10"),
    );
    assert_eq!(findings, expected);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, "EXAM_CERTIFICATE_SUBJECT_MISMATCH");
}

#[tokio::test]
async fn findings_are_assessed_on_the_submission_date_in_beijing() {
    let late_evening_utc = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, 6, 19, 16, 30, 0)
        .single()
        .expect("a valid instant");
    let mut identity = identity_of(&zhang_san());
    identity.face_verified_at = Some(late_evening_utc);
    let services = ApplicationServices {
        clock: Arc::new(FixedClock(late_evening_utc)),
        ..services()
    };
    let result = TestFramework::<Application>::with(services)
        .given_no_previous_events()
        .when_async(submit(identity, primary_chinese_form(), mainland_uploads()))
        .await
        .inspect_result();
    let ApplicationEvent::ApplicationSubmitted { findings, .. } = only_event(result) else {
        panic!("expected a submission");
    };
    let codes: Vec<&str> = findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["EXAM_CERTIFICATE_EXPIRED"]);
}

#[tokio::test]
async fn a_person_unknown_to_the_registry_can_submit_and_the_case_says_so() {
    let mut identity = identity_of(&zhang_san());
    identity.name = "孙八".to_owned();
    identity.id_doc_number = Some("110199199001019928".to_owned());
    let event =
        only_event(submitting(submit(identity, primary_chinese_form(), mainland_uploads())).await);
    let ApplicationEvent::ApplicationSubmitted {
        applicant,
        materials,
        findings,
        ..
    } = event
    else {
        panic!("expected a submission");
    };
    assert_eq!(applicant.gender, Some(Gender::Female));
    assert_eq!(applicant.birth_date, None);
    assert_eq!(materials, mainland_uploads());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, "PERSON_UNKNOWN_TO_REGISTRY");
}

#[tokio::test]
async fn an_unknown_travel_permit_holder_has_no_gender_on_record() {
    let identity = crate::commands::VerifiedIdentity {
        id_doc_type: Some("HK_MACAO_TRAVEL_PERMIT".to_owned()),
        id_doc_number: Some("H12345678".to_owned()),
        name: "李小龙".to_owned(),
        ..identity_of(&zhang_san())
    };
    let form = kindergarten_form(IdentityCategory::HongKongMacaoResident);
    let mut uploads = mainland_uploads();
    uploads.push(upload(MaterialKind::NoCriminalRecordCertificate));
    let event = only_event(submitting(submit(identity, form, uploads)).await);
    let ApplicationEvent::ApplicationSubmitted { applicant, .. } = event else {
        panic!("expected a submission");
    };
    assert_eq!(applicant.gender, None);
}

#[tokio::test]
async fn a_kindergarten_application_with_a_blank_subject_is_submitted_without_one() {
    let form = crate::commands::ApplicationForm {
        subject: Some("  ".to_owned()),
        ..kindergarten_form(IdentityCategory::MainlandResident)
    };
    let command = submit(identity_of(&wang_wu()), form, mainland_uploads());
    let event = only_event(submitting(command).await);
    let ApplicationEvent::ApplicationSubmitted {
        subject, findings, ..
    } = event
    else {
        panic!("expected a submission");
    };
    assert_eq!(subject, None);
    assert!(findings.is_empty(), "{findings:?}");
}

#[tokio::test]
async fn a_hong_kong_resident_with_every_upload_is_submitted() {
    let mut uploads = mainland_uploads();
    uploads.push(upload(MaterialKind::NoCriminalRecordCertificate));
    let form = kindergarten_form(IdentityCategory::HongKongMacaoResident);
    let command = submit(identity_of(&chen_da_wen()), form, uploads.clone());
    let event = only_event(submitting(command).await);
    let ApplicationEvent::ApplicationSubmitted { materials, .. } = event else {
        panic!("expected a submission");
    };
    let fetched: Vec<MaterialKind> = materials
        .iter()
        .filter(|m| m.source == MaterialSource::Fetched)
        .map(|m| m.kind)
        .collect();
    assert_eq!(materials[..3], uploads[..]);
    assert_eq!(
        fetched,
        [
            MaterialKind::IdentityDocument,
            MaterialKind::JurisdictionBasis,
            MaterialKind::ExamCertificate,
        ]
    );
}

#[tokio::test]
async fn submitting_sets_the_case_to_submitted() {
    let mut application = Application::default();
    for event in when_submitted_form(primary_chinese_form()) {
        cqrs_es::Aggregate::apply(&mut application, event);
    }
    assert_eq!(application.status(), Status::Submitted);
    assert_eq!(application.case_number(), Some(&case_number()));
}

#[tokio::test]
async fn a_case_cannot_be_submitted_twice() {
    let result = framework()
        .given(vec![submitted(Delivery::WindowPickup, Some(Gender::Male))])
        .when_async(zhang_san_submits(primary_chinese_form()))
        .await
        .inspect_result();
    assert_eq!(
        result,
        Err(ApplicationError::InvalidTransition {
            command: "submit",
            status: Status::Submitted,
        })
    );
}

#[tokio::test]
async fn an_identity_below_real_name_level_two_is_refused() {
    for level in ["L1", "", "l2", "L5"] {
        let mut identity = identity_of(&zhang_san());
        identity.assurance_level = level.to_owned();
        let command = submit(identity, primary_chinese_form(), mainland_uploads());
        assert_refused(submitting(command).await, Reason::IdentityNotVerified);
    }
}

#[tokio::test]
async fn an_identity_without_a_usable_real_name_is_refused() {
    let too_long = "名".repeat(101);
    for name in ["", "   ", "张\u{7}三", too_long.as_str()] {
        let mut identity = identity_of(&zhang_san());
        identity.name = name.to_owned();
        let command = submit(identity, primary_chinese_form(), mainland_uploads());
        assert_refused(submitting(command).await, Reason::IdentityNotVerified);
    }
}

#[tokio::test]
async fn levels_three_and_four_are_accepted_as_real_name_identities() {
    for level in ["L3", "L4"] {
        let mut identity = identity_of(&zhang_san());
        identity.assurance_level = level.to_owned();
        let command = submit(identity, primary_chinese_form(), mainland_uploads());
        only_event(submitting(command).await);
    }
}

#[tokio::test]
async fn an_application_without_face_scan_consent_is_refused() {
    let form = crate::commands::ApplicationForm {
        face_authorization_consent: false,
        ..primary_chinese_form()
    };
    assert_refused(
        zhang_san_submitting(form).await,
        Reason::FaceConsentRequired,
    );
}

#[tokio::test]
async fn an_application_without_face_verification_is_refused() {
    let mut identity = identity_of(&zhang_san());
    identity.face_verified_at = None;
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    assert_refused(submitting(command).await, Reason::FaceVerificationRequired);
}

#[tokio::test]
async fn a_face_verification_older_than_thirty_minutes_is_refused() {
    let mut identity = identity_of(&zhang_san());
    identity.face_verified_at = Some(now() - TimeDelta::minutes(30) - TimeDelta::seconds(1));
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    assert_refused(submitting(command).await, Reason::FaceVerificationRequired);
}

#[tokio::test]
async fn a_face_verification_exactly_thirty_minutes_old_is_accepted() {
    let mut identity = identity_of(&zhang_san());
    identity.face_verified_at = Some(now() - TimeDelta::minutes(30));
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    only_event(submitting(command).await);
}

#[tokio::test]
async fn a_face_verification_slightly_ahead_of_the_clock_is_accepted() {
    let mut identity = identity_of(&zhang_san());
    identity.face_verified_at = Some(now() + TimeDelta::seconds(60));
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    only_event(submitting(command).await);
}

#[tokio::test]
async fn a_face_verification_more_than_a_minute_in_the_future_is_refused() {
    let mut identity = identity_of(&zhang_san());
    identity.face_verified_at = Some(now() + TimeDelta::seconds(61));
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    assert_refused(submitting(command).await, Reason::FaceVerificationRequired);
}

#[tokio::test]
async fn a_token_without_an_identity_document_is_refused_as_not_verified() {
    let mut without_number = identity_of(&zhang_san());
    without_number.id_doc_number = None;
    let mut without_type = identity_of(&zhang_san());
    without_type.id_doc_type = Some(" ".to_owned());
    for identity in [without_number, without_type] {
        let command = submit(identity, primary_chinese_form(), mainland_uploads());
        assert_refused(submitting(command).await, Reason::IdentityNotVerified);
    }
}

#[tokio::test]
async fn a_token_with_a_malformed_identity_document_number_is_refused() {
    let mut identity = identity_of(&zhang_san());
    identity.id_doc_number = Some("1101-99".to_owned());
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    assert_refused(submitting(command).await, Reason::IdentityNotVerified);
}

#[tokio::test]
async fn a_token_with_an_unknown_identity_document_type_is_refused() {
    let mut identity = identity_of(&zhang_san());
    identity.id_doc_type = Some("PASSPORT".to_owned());
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    assert_refused(submitting(command).await, Reason::IdentityNotVerified);
}

#[tokio::test]
async fn an_identity_category_that_does_not_fit_the_document_is_refused() {
    let form = crate::commands::ApplicationForm {
        identity_category: IdentityCategory::TaiwanResident,
        ..primary_chinese_form()
    };
    assert_refused(
        zhang_san_submitting(form).await,
        Reason::IdentityCategoryMismatch,
    );
}

#[tokio::test]
async fn a_primary_school_application_without_a_subject_is_refused() {
    for subject in [None, Some(" ".to_owned())] {
        let form = crate::commands::ApplicationForm {
            subject,
            ..primary_chinese_form()
        };
        assert_invalid(
            zhang_san_submitting(form).await,
            "subject",
            Reason::SubjectRequired,
        );
    }
}

#[tokio::test]
async fn a_kindergarten_application_with_a_subject_is_refused() {
    let form = crate::commands::ApplicationForm {
        subject: Some("语文".to_owned()),
        ..kindergarten_form(IdentityCategory::MainlandResident)
    };
    let command = submit(identity_of(&wang_wu()), form, mainland_uploads());
    assert_invalid(
        submitting(command).await,
        "subject",
        Reason::SubjectNotAllowed,
    );
}

#[tokio::test]
async fn a_subject_longer_than_twenty_characters_is_invalid() {
    let form = crate::commands::ApplicationForm {
        subject: Some("语".repeat(21)),
        ..primary_chinese_form()
    };
    assert_invalid(
        zhang_san_submitting(form).await,
        "subject",
        Reason::InvalidSubject,
    );
}

#[tokio::test]
async fn a_contact_phone_that_is_not_reachable_in_beijing_is_invalid() {
    let form = crate::commands::ApplicationForm {
        contact_phone: "021 1234 5678".to_owned(),
        ..primary_chinese_form()
    };
    assert_invalid(
        zhang_san_submitting(form).await,
        "contactPhone",
        Reason::InvalidPhone,
    );
}

#[tokio::test]
async fn mail_delivery_without_an_address_is_refused() {
    let form = crate::commands::ApplicationForm {
        mail_to: None,
        ..mail_form()
    };
    let result = zhang_san_submitting(form).await;
    assert_invalid(result, "delivery.mailTo", Reason::MailAddressRequired);
}

#[tokio::test]
async fn mail_delivery_outside_beijing_is_refused() {
    let form = mail_form_with(|address| address.district = "浦东新区".to_owned());
    let result = zhang_san_submitting(form).await;
    assert_invalid(
        result,
        "delivery.mailTo.district",
        Reason::MailOutsideBeijing,
    );
}

#[tokio::test]
async fn mail_to_a_postal_code_outside_beijing_is_refused() {
    let form = mail_form_with(|address| address.postal_code = "200120".to_owned());
    let result = zhang_san_submitting(form).await;
    assert_invalid(
        result,
        "delivery.mailTo.postalCode",
        Reason::MailOutsideBeijing,
    );
}

#[tokio::test]
async fn a_malformed_postal_code_is_invalid() {
    let form = mail_form_with(|address| address.postal_code = "10008".to_owned());
    let result = zhang_san_submitting(form).await;
    assert_invalid(
        result,
        "delivery.mailTo.postalCode",
        Reason::InvalidPostalCode,
    );
}

#[tokio::test]
async fn mail_without_a_recipient_name_is_invalid() {
    let form = mail_form_with(|address| address.recipient_name = " ".to_owned());
    let result = zhang_san_submitting(form).await;
    assert_invalid(result, "delivery.mailTo.recipientName", Reason::InvalidText);
}

#[tokio::test]
async fn a_recipient_phone_that_is_not_reachable_in_beijing_is_invalid() {
    let form = mail_form_with(|address| address.phone = "12345".to_owned());
    let result = zhang_san_submitting(form).await;
    assert_invalid(result, "delivery.mailTo.phone", Reason::InvalidPhone);
}

#[tokio::test]
async fn a_street_longer_than_two_hundred_characters_is_invalid() {
    let form = mail_form_with(|address| address.street = "路".repeat(201));
    let result = zhang_san_submitting(form).await;
    assert_invalid(result, "delivery.mailTo.street", Reason::InvalidText);
}

#[tokio::test]
async fn an_application_without_a_photo_is_refused_naming_what_is_missing() {
    let uploads = vec![upload(MaterialKind::PhysicalExamForm)];
    let command = submit(identity_of(&zhang_san()), primary_chinese_form(), uploads);
    let result = submitting(command).await;
    let Err(ApplicationError::Refused { reason, message }) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    assert_eq!(reason, Reason::MissingMaterial);
    assert!(message.contains("photo"), "{message}");
    assert!(!message.contains("体检表"), "{message}");
}

#[tokio::test]
async fn an_application_without_a_physical_examination_form_is_refused() {
    let uploads = vec![upload(MaterialKind::Photo), upload(MaterialKind::Other)];
    let command = submit(identity_of(&zhang_san()), primary_chinese_form(), uploads);
    assert_refused(submitting(command).await, Reason::MissingMaterial);
}

#[tokio::test]
async fn a_hong_kong_resident_without_a_no_criminal_record_certificate_is_refused() {
    let form = kindergarten_form(IdentityCategory::HongKongMacaoResident);
    let command = submit(identity_of(&chen_da_wen()), form, mainland_uploads());
    let result = submitting(command).await;
    let Err(ApplicationError::Refused { reason, message }) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    assert_eq!(reason, Reason::MissingMaterial);
    assert!(
        message.contains("no-criminal-record certificate"),
        "{message}"
    );
}

#[tokio::test]
async fn an_upload_claiming_to_be_fetched_is_refused() {
    let mut uploads = mainland_uploads();
    uploads[0].source = MaterialSource::Fetched;
    let command = submit(identity_of(&zhang_san()), primary_chinese_form(), uploads);
    assert_refused(submitting(command).await, Reason::InvalidMaterial);
}

#[tokio::test]
async fn a_name_that_differs_from_the_registry_is_refused() {
    let mut identity = identity_of(&zhang_san());
    identity.name = "张叁".to_owned();
    let command = submit(identity, primary_chinese_form(), mainland_uploads());
    assert_refused(submitting(command).await, Reason::IdentityMismatch);
}

#[tokio::test]
async fn a_document_type_that_differs_from_the_registry_is_refused() {
    let mut identity = identity_of(&chen_da_wen());
    identity.id_doc_type = Some("HK_MACAO_TRAVEL_PERMIT".to_owned());
    let mut uploads = mainland_uploads();
    uploads.push(upload(MaterialKind::NoCriminalRecordCertificate));
    let form = kindergarten_form(IdentityCategory::HongKongMacaoResident);
    let command = submit(identity, form, uploads);
    assert_refused(submitting(command).await, Reason::IdentityMismatch);
}

#[tokio::test]
async fn a_second_open_case_for_the_same_person_is_refused_naming_the_first() {
    let open = HashMap::from([("110199199803159917".to_owned(), other_case_number())]);
    let services = ApplicationServices {
        open_cases: Arc::new(InMemoryOpenCases(open)),
        ..services()
    };
    let result = TestFramework::<Application>::with(services)
        .given_no_previous_events()
        .when_async(zhang_san_submits(primary_chinese_form()))
        .await
        .inspect_result();
    let Err(ApplicationError::Refused { reason, message }) = result else {
        panic!("expected a refusal, got {result:?}");
    };
    assert_eq!(reason, Reason::OpenCaseExists);
    assert!(message.contains(other_case_number().as_str()), "{message}");
}

#[tokio::test]
async fn a_registry_failure_is_a_port_error() {
    let services = ApplicationServices {
        registry: Arc::new(UnreachableRegistry),
        ..services()
    };
    let result = TestFramework::<Application>::with(services)
        .given_no_previous_events()
        .when_async(zhang_san_submits(primary_chinese_form()))
        .await
        .inspect_result();
    assert_eq!(
        result,
        Err(ApplicationError::Port("registry unreachable".to_owned()))
    );
}

#[tokio::test]
async fn an_open_case_lookup_failure_is_a_port_error() {
    let services = ApplicationServices {
        open_cases: Arc::new(UnreachableOpenCases),
        ..services()
    };
    let result = TestFramework::<Application>::with(services)
        .given_no_previous_events()
        .when_async(zhang_san_submits(primary_chinese_form()))
        .await
        .inspect_result();
    assert_eq!(
        result,
        Err(ApplicationError::Port("database unreachable".to_owned()))
    );
}

#[tokio::test]
async fn the_first_failed_check_is_the_one_reported() {
    let form = crate::commands::ApplicationForm {
        face_authorization_consent: false,
        contact_phone: "nonsense".to_owned(),
        subject: None,
        ..primary_chinese_form()
    };
    let command = submit(identity_of(&zhang_san()), form, Vec::new());
    assert_refused(submitting(command).await, Reason::FaceConsentRequired);
}

#[tokio::test]
async fn input_is_checked_before_any_department_is_asked() {
    let services = ApplicationServices {
        registry: Arc::new(UnreachableRegistry),
        ..services()
    };
    let form = crate::commands::ApplicationForm {
        contact_phone: "nonsense".to_owned(),
        ..primary_chinese_form()
    };
    let result = TestFramework::<Application>::with(services)
        .given_no_previous_events()
        .when_async(zhang_san_submits(form))
        .await
        .inspect_result();
    assert_invalid(result, "contactPhone", Reason::InvalidPhone);
}
