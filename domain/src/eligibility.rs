//! Eligibility rules with their configurable defaults, and the findings computed from them.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::findings::Finding;
use crate::registry::{
    CriminalRecordCheck, EducationLevel, JurisdictionBasis, PersonRecord, PutonghuaGrade,
};
use crate::values::{Gender, IdentityCategory, QualificationLevel, Subject};

/// The province an exam must have been passed in for `EXAM_LOCATION` to count here.
const BEIJING: &str = "北京市";

/// How long an exam pass certificate stays valid after it is issued.
const EXAM_CERTIFICATE_MONTHS: u32 = 36;

/// Thresholds districts may change each batch (DOMAIN.md, "Eligibility").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EligibilityRules {
    pub min_education_kindergarten: EducationLevel,
    pub min_education_primary: EducationLevel,
    pub min_education_junior_middle: EducationLevel,
    pub min_putonghua: PutonghuaGrade,
    pub min_putonghua_chinese_teachers: PutonghuaGrade,
    pub retirement_age_male: u32,
    pub retirement_age_female: u32,
}

impl Default for EligibilityRules {
    fn default() -> Self {
        Self {
            min_education_kindergarten: EducationLevel::SecondaryNormal,
            min_education_primary: EducationLevel::SecondaryNormal,
            min_education_junior_middle: EducationLevel::JuniorCollege,
            min_putonghua: PutonghuaGrade::TwoB,
            min_putonghua_chinese_teachers: PutonghuaGrade::TwoA,
            retirement_age_male: 60,
            retirement_age_female: 55,
        }
    }
}

impl EligibilityRules {
    /// The lowest education that qualifies for `level`.
    pub fn min_education(&self, level: QualificationLevel) -> EducationLevel {
        match level {
            QualificationLevel::Kindergarten => self.min_education_kindergarten,
            QualificationLevel::PrimarySchool => self.min_education_primary,
            QualificationLevel::JuniorMiddleSchool => self.min_education_junior_middle,
        }
    }

    /// The lowest Putonghua grade for teachers of `subject`; 语文 teachers need more.
    pub fn min_putonghua_for(&self, subject: Option<&Subject>) -> PutonghuaGrade {
        if subject.is_some_and(Subject::is_chinese_language) {
            self.min_putonghua_chinese_teachers
        } else {
            self.min_putonghua
        }
    }

    /// The statutory retirement age for `gender`.
    pub fn retirement_age(&self, gender: Gender) -> u32 {
        match gender {
            Gender::Male => self.retirement_age_male,
            Gender::Female => self.retirement_age_female,
        }
    }
}

/// What an application for `level` and `subject` looks like against the rules, from what
/// other departments hold about the person, as of the date `on`.
///
/// Findings are advisory: they help clerks and approvers and never refuse anything. An
/// empty list means nothing was noticed, not that the applicant is eligible.
pub fn assess(
    rules: &EligibilityRules,
    person: Option<&PersonRecord>,
    level: QualificationLevel,
    subject: Option<&Subject>,
    identity_category: IdentityCategory,
    on: NaiveDate,
) -> Vec<Finding> {
    let Some(person) = person else {
        return vec![person_unknown()];
    };
    [
        jurisdiction(person),
        education(rules, person, level),
        putonghua(rules, person, subject),
        exam_certificate_held(person),
        exam_certificate_validity(person, on),
        exam_certificate_level(person, level),
        exam_certificate_subject(person, subject),
        retirement_age(rules, person, on),
        criminal_record(person, identity_category),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn finding(code: &str, message: impl Into<String>, data: serde_json::Value) -> Finding {
    Finding {
        code: code.to_owned(),
        message: message.into(),
        data,
    }
}

fn person_unknown() -> Finding {
    finding(
        "PERSON_UNKNOWN_TO_REGISTRY",
        "No other department holds records for this identity document; check every \
         paper the applicant supplies.",
        json!({ "registryRecord": null }),
    )
}

// Limitation: the domain does not know which Beijing district this authority serves, so a
// household register or residence permit in another Beijing district is not flagged.
fn jurisdiction(person: &PersonRecord) -> Option<Finding> {
    let held = &person.jurisdiction;
    let exam_province = held.exam_province.as_deref().map(str::trim);
    let apply_to = match held.basis {
        JurisdictionBasis::None => {
            "the certifying authority where the applicant's household is registered, holds a \
             residence permit or passed the exam"
                .to_owned()
        }
        JurisdictionBasis::ExamLocation if exam_province != Some(BEIJING) => match exam_province {
            Some(province) if !province.is_empty() => {
                format!("the certifying authority in {province}, where the exam was passed")
            }
            _ => "the certifying authority where the exam was passed".to_owned(),
        },
        _ => return None,
    };
    Some(finding(
        "NO_JURISDICTION",
        format!(
            "Nothing gives this authority jurisdiction over the applicant; the applicant \
             must apply to {apply_to}."
        ),
        json!({
            "basis": held.basis,
            "examProvince": held.exam_province,
            "mustApplyElsewhere": true,
            "applyTo": apply_to,
        }),
    ))
}

fn education(
    rules: &EligibilityRules,
    person: &PersonRecord,
    level: QualificationLevel,
) -> Option<Finding> {
    let minimum = rules.min_education(level);
    let Some(record) = &person.education else {
        return Some(finding(
            "EDUCATION_NOT_HELD",
            "No education record is held; check the applicant's diploma.",
            json!({ "qualificationLevel": level, "minimum": minimum }),
        ));
    };
    (record.level < minimum).then(|| {
        finding(
            "EDUCATION_BELOW_MINIMUM",
            "The recorded education is below the minimum for this qualification level.",
            json!({ "qualificationLevel": level, "level": record.level, "minimum": minimum }),
        )
    })
}

fn putonghua(
    rules: &EligibilityRules,
    person: &PersonRecord,
    subject: Option<&Subject>,
) -> Option<Finding> {
    let minimum = rules.min_putonghua_for(subject);
    let subject = subject.map(Subject::as_str);
    let Some(record) = &person.putonghua else {
        return Some(finding(
            "PUTONGHUA_NOT_HELD",
            "No Putonghua certificate is held; check the applicant's certificate.",
            json!({ "subject": subject, "minimum": minimum }),
        ));
    };
    (record.grade > minimum).then(|| {
        finding(
            "PUTONGHUA_BELOW_MINIMUM",
            "The recorded Putonghua grade is below the minimum for this subject.",
            json!({ "subject": subject, "grade": record.grade, "minimum": minimum }),
        )
    })
}

fn exam_certificate_held(person: &PersonRecord) -> Option<Finding> {
    person.exam_certificate.is_none().then(|| {
        finding(
            "EXAM_CERTIFICATE_NOT_HELD",
            "No teacher-exam pass certificate is held; check the applicant's certificate.",
            json!({ "examCertificate": null }),
        )
    })
}

fn exam_certificate_validity(person: &PersonRecord, on: NaiveDate) -> Option<Finding> {
    let certificate = person.exam_certificate.as_ref()?;
    let data = json!({
        "number": certificate.number,
        "issuedOn": certificate.issued_on,
        "validUntil": certificate.valid_until,
        "on": on,
    });
    if on > certificate.valid_until {
        return Some(finding(
            "EXAM_CERTIFICATE_EXPIRED",
            "The teacher-exam pass certificate had expired on the submission date.",
            data,
        ));
    }
    let three_years_on = certificate
        .issued_on
        .checked_add_months(Months::new(EXAM_CERTIFICATE_MONTHS))?;
    (on >= three_years_on).then(|| {
        finding(
            "EXAM_CERTIFICATE_OLDER_THAN_THREE_YEARS",
            "The teacher-exam pass certificate was issued more than three years before the \
             submission date.",
            data,
        )
    })
}

fn exam_certificate_level(person: &PersonRecord, level: QualificationLevel) -> Option<Finding> {
    let certificate = person.exam_certificate.as_ref()?;
    (certificate.level != level).then(|| {
        finding(
            "EXAM_CERTIFICATE_LEVEL_MISMATCH",
            "The teacher-exam pass certificate is for another qualification level.",
            json!({ "certificateLevel": certificate.level, "appliedLevel": level }),
        )
    })
}

fn exam_certificate_subject(person: &PersonRecord, subject: Option<&Subject>) -> Option<Finding> {
    let certificate = person.exam_certificate.as_ref()?;
    let certified = certificate
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let applied = subject.map(Subject::as_str);
    (certified != applied).then(|| {
        finding(
            "EXAM_CERTIFICATE_SUBJECT_MISMATCH",
            "The teacher-exam pass certificate is for another subject.",
            json!({ "certificateSubject": certified, "appliedSubject": applied }),
        )
    })
}

fn retirement_age(
    rules: &EligibilityRules,
    person: &PersonRecord,
    on: NaiveDate,
) -> Option<Finding> {
    let age = on.years_since(person.birth_date)?;
    let retirement_age = rules.retirement_age(person.gender);
    (age >= retirement_age).then(|| {
        finding(
            "RETIREMENT_AGE_REACHED",
            "The applicant has reached the statutory retirement age.",
            json!({
                "birthDate": person.birth_date,
                "gender": person.gender,
                "age": age,
                "retirementAge": retirement_age,
            }),
        )
    })
}

fn criminal_record(person: &PersonRecord, category: IdentityCategory) -> Option<Finding> {
    let check = person.criminal_record_check;
    match check {
        CriminalRecordCheck::Disqualifying => Some(finding(
            "CRIMINAL_RECORD_DISQUALIFYING",
            "The criminal-record check shows a record that bars the applicant for life.",
            json!({ "criminalRecordCheck": check }),
        )),
        CriminalRecordCheck::NotAvailable if category == IdentityCategory::MainlandResident => {
            Some(finding(
                "CRIMINAL_RECORD_CHECK_NOT_HELD",
                "No criminal-record check is held for this mainland resident; request one.",
                json!({ "criminalRecordCheck": check, "identityCategory": category }),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
