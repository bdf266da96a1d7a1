//! Submission: every check an application must pass before its case opens, in the order
//! the applicant is told about them.

use chrono::{DateTime, TimeDelta, Utc};

use super::beijing_date;
use crate::case_number::CaseNumber;
use crate::commands::{ApplicationForm, DeliveryMethodChoice, MailAddressForm, VerifiedIdentity};
use crate::eligibility::assess;
use crate::error::Reason;
use crate::events::ApplicantIdentity;
use crate::registry::{fetched_materials, PersonRecord};
use crate::values::{
    BeijingDistrict, Delivery, IdDocType, IdDocument, IdentityCategory, MailAddress, Material,
    MaterialKind, MaterialSource, Phone, PostalCode, QualificationLevel, Subject, Text, ValueError,
};
use crate::{ApplicationError, ApplicationEvent, ApplicationServices};

const ACCEPTED_ASSURANCE_LEVELS: [&str; 3] = ["L2", "L3", "L4"];
const FACE_VERIFICATION_MAX_AGE: TimeDelta = TimeDelta::minutes(30);
const FACE_VERIFICATION_MAX_CLOCK_SKEW: TimeDelta = TimeDelta::seconds(60);
const RECIPIENT_NAME_MAX_CHARS: usize = 50;
const APPLICANT_NAME_MAX_CHARS: usize = 100;
const STREET_MAX_CHARS: usize = 200;

/// The `ApplicationSubmitted` event for a complete application, or the first reason it
/// is refused.
pub(super) async fn submit(
    case_number: CaseNumber,
    identity: VerifiedIdentity,
    form: ApplicationForm,
    uploads: Vec<Material>,
    services: &ApplicationServices,
) -> Result<ApplicationEvent, ApplicationError> {
    let now = services.clock.now();

    // The form, on its own.
    let document = verified_document(&identity, &form, now)?;
    let subject = subject(form.qualification_level, form.subject.as_deref())?;
    let contact_phone = Phone::parse(&form.contact_phone)
        .map_err(|error| ApplicationError::invalid("contactPhone", error))?;
    let delivery = delivery(form.delivery_method, form.mail_to.as_ref())?;
    check_uploads(form.identity_category, &uploads)?;

    // What other departments and other cases say about the person.
    let person = services.registry.find_person(&document).await?;
    if let Some(person) = &person {
        check_same_person(&identity, &document, person)?;
    }
    if let Some(open_case) = services.open_cases.open_case_of(&document).await? {
        return Err(ApplicationError::refused(
            Reason::OpenCaseExists,
            format!("the applicant already has case {open_case} awaiting a decision"),
        ));
    }

    let findings = assess(
        &services.rules,
        person.as_ref(),
        form.qualification_level,
        subject.as_ref(),
        form.identity_category,
        beijing_date(now),
    );
    let mut materials = uploads;
    materials.extend(person.iter().flat_map(fetched_materials));
    Ok(ApplicationEvent::ApplicationSubmitted {
        case_number,
        applicant: applicant(identity, document, person.as_ref()),
        identity_category: form.identity_category,
        qualification_level: form.qualification_level,
        subject,
        contact_phone,
        delivery,
        materials,
        findings,
        submitted_at: now,
    })
}

/// The applicant's identity document, once the token shows real-name assurance, a fresh
/// face verification the applicant consented to, and a document of the chosen category.
fn verified_document(
    identity: &VerifiedIdentity,
    form: &ApplicationForm,
    now: DateTime<Utc>,
) -> Result<IdDocument, ApplicationError> {
    if !ACCEPTED_ASSURANCE_LEVELS.contains(&identity.assurance_level.as_str()) {
        return Err(ApplicationError::refused(
            Reason::IdentityNotVerified,
            "the identity must be verified to real-name level L2 or higher",
        ));
    }
    if Text::parse(
        &identity.name,
        APPLICANT_NAME_MAX_CHARS,
        Reason::IdentityNotVerified,
    )
    .is_err()
    {
        return Err(ApplicationError::refused(
            Reason::IdentityNotVerified,
            "the verified identity carries no usable real name",
        ));
    }
    if !form.face_authorization_consent {
        return Err(ApplicationError::refused(
            Reason::FaceConsentRequired,
            "the applicant must consent to face verification (我同意刷脸授权)",
        ));
    }
    check_face_verification(identity.face_verified_at, now)?;
    let document = id_document(identity)?;
    check_identity_category(document.doc_type, form.identity_category)?;
    Ok(document)
}

fn check_face_verification(
    verified_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ApplicationError> {
    let fresh = verified_at.is_some_and(|at| {
        at >= now - FACE_VERIFICATION_MAX_AGE && at <= now + FACE_VERIFICATION_MAX_CLOCK_SKEW
    });
    if fresh {
        Ok(())
    } else {
        Err(ApplicationError::refused(
            Reason::FaceVerificationRequired,
            "face verification must have passed within the last 30 minutes",
        ))
    }
}

fn id_document(identity: &VerifiedIdentity) -> Result<IdDocument, ApplicationError> {
    let doc_type = identity.id_doc_type.as_deref().map(str::trim);
    let number = identity.id_doc_number.as_deref().map(str::trim);
    let (Some(doc_type), Some(number)) = (doc_type, number) else {
        return Err(document_not_verified());
    };
    if doc_type.is_empty() || number.is_empty() {
        return Err(document_not_verified());
    }
    // The document comes from the identity platform, not from the applicant's input: a
    // malformed one means the identity is not usable here.
    IdDocType::parse(doc_type)
        .and_then(|doc_type| IdDocument::new(doc_type, number))
        .map_err(|error| ApplicationError::refused(Reason::IdentityNotVerified, error.message))
}

fn document_not_verified() -> ApplicationError {
    ApplicationError::refused(
        Reason::IdentityNotVerified,
        "the verified identity carries no identity document",
    )
}

fn check_identity_category(
    doc_type: IdDocType,
    chosen: IdentityCategory,
) -> Result<(), ApplicationError> {
    if doc_type.identity_category() == chosen {
        return Ok(());
    }
    Err(ApplicationError::refused(
        Reason::IdentityCategoryMismatch,
        format!(
            "the chosen identity category {chosen:?} does not fit the verified document \
             {doc_type:?}"
        ),
    ))
}

/// The teaching subject: required for primary and junior middle, absent for kindergarten.
fn subject(
    level: QualificationLevel,
    raw: Option<&str>,
) -> Result<Option<Subject>, ApplicationError> {
    let given = raw.filter(|raw| !raw.trim().is_empty());
    match (level.needs_subject(), given) {
        (true, Some(raw)) => Subject::parse(raw)
            .map(Some)
            .map_err(|error| ApplicationError::invalid("subject", error)),
        (true, None) => Err(ApplicationError::InvalidInput {
            field: "subject",
            reason: Reason::SubjectRequired,
            message: "primary and junior middle school qualifications need a subject".to_owned(),
        }),
        (false, Some(_)) => Err(ApplicationError::InvalidInput {
            field: "subject",
            reason: Reason::SubjectNotAllowed,
            message: "kindergarten qualifications carry no subject".to_owned(),
        }),
        (false, None) => Ok(None),
    }
}

/// The delivery the applicant chose; a mail address given with window pickup is ignored.
fn delivery(
    method: DeliveryMethodChoice,
    mail_to: Option<&MailAddressForm>,
) -> Result<Delivery, ApplicationError> {
    match method {
        DeliveryMethodChoice::WindowPickup => Ok(Delivery::WindowPickup),
        DeliveryMethodChoice::Mail => {
            let form = mail_to.ok_or_else(|| ApplicationError::InvalidInput {
                field: "delivery.mailTo",
                reason: Reason::MailAddressRequired,
                message: "mail delivery needs a mail address".to_owned(),
            })?;
            let mail_to = mail_address(form)?;
            Ok(Delivery::Mail { mail_to })
        }
    }
}

fn mail_address(form: &MailAddressForm) -> Result<MailAddress, ApplicationError> {
    Ok(MailAddress {
        recipient_name: Text::parse(
            &form.recipient_name,
            RECIPIENT_NAME_MAX_CHARS,
            Reason::InvalidText,
        )
        .map_err(invalid_at("delivery.mailTo.recipientName"))?,
        phone: Phone::parse(&form.phone).map_err(invalid_at("delivery.mailTo.phone"))?,
        district: BeijingDistrict::parse(&form.district)
            .map_err(invalid_at("delivery.mailTo.district"))?,
        street: Text::parse(&form.street, STREET_MAX_CHARS, Reason::InvalidText)
            .map_err(invalid_at("delivery.mailTo.street"))?,
        postal_code: PostalCode::parse(&form.postal_code)
            .map_err(invalid_at("delivery.mailTo.postalCode"))?,
    })
}

fn invalid_at(field: &'static str) -> impl Fn(ValueError) -> ApplicationError {
    move |error| ApplicationError::invalid(field, error)
}

/// The uploads every applicant of the category must supply, all of them their own files.
fn check_uploads(category: IdentityCategory, uploads: &[Material]) -> Result<(), ApplicationError> {
    if uploads.iter().any(|m| m.source != MaterialSource::Uploaded) {
        return Err(ApplicationError::refused(
            Reason::InvalidMaterial,
            "only the applicant's own uploads may be attached at submission",
        ));
    }
    let missing: Vec<&str> = required_uploads(category)
        .iter()
        .filter(|(kind, _)| !uploads.iter().any(|m| m.kind == *kind))
        .map(|(_, label)| *label)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApplicationError::refused(
        Reason::MissingMaterial,
        format!("missing materials: {}", missing.join(", ")),
    ))
}

/// The kinds of upload the category must supply, each with the name applicants know it by.
fn required_uploads(category: IdentityCategory) -> &'static [(MaterialKind, &'static str)] {
    const PHOTO: (MaterialKind, &str) = (MaterialKind::Photo, "photo (照片)");
    const PHYSICAL_EXAM: (MaterialKind, &str) = (
        MaterialKind::PhysicalExamForm,
        "physical examination form (体检表)",
    );
    const NO_CRIMINAL_RECORD: (MaterialKind, &str) = (
        MaterialKind::NoCriminalRecordCertificate,
        "no-criminal-record certificate (无犯罪记录证明)",
    );
    match category {
        IdentityCategory::MainlandResident => &[PHOTO, PHYSICAL_EXAM],
        IdentityCategory::HongKongMacaoResident | IdentityCategory::TaiwanResident => {
            &[PHOTO, PHYSICAL_EXAM, NO_CRIMINAL_RECORD]
        }
    }
}

/// Refuses when the registry knows the document under another name or document type.
fn check_same_person(
    identity: &VerifiedIdentity,
    document: &IdDocument,
    person: &PersonRecord,
) -> Result<(), ApplicationError> {
    let same_name = identity.name.trim() == person.name.trim();
    if same_name && document.doc_type == person.id_doc_type {
        return Ok(());
    }
    Err(ApplicationError::refused(
        Reason::IdentityMismatch,
        "the verified name or document type differs from the records other departments hold",
    ))
}

fn applicant(
    identity: VerifiedIdentity,
    document: IdDocument,
    person: Option<&PersonRecord>,
) -> ApplicantIdentity {
    ApplicantIdentity {
        user_id: identity.user_id,
        name: identity.name.trim().to_owned(),
        gender: person
            .map(|person| person.gender)
            .or_else(|| document.encoded_gender()),
        birth_date: person.map(|person| person.birth_date),
        id_document: document,
    }
}
