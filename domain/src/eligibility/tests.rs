use serde_json::json;

use super::*;
use crate::registry::{EducationRecord, ExamCertificate, Jurisdiction};
use crate::test_support::{chen_da_wen, date, li_si, wang_wu, zhang_san};

const PRIMARY: QualificationLevel = QualificationLevel::PrimarySchool;
const MAINLAND: IdentityCategory = IdentityCategory::MainlandResident;

fn subject(raw: &str) -> Subject {
    Subject::parse(raw).expect("test subjects are valid")
}

fn codes(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.code.as_str()).collect()
}

fn assess_primary_chinese(person: &PersonRecord, on: &str) -> Vec<Finding> {
    let chinese = subject("语文");
    let rules = EligibilityRules::default();
    assess(
        &rules,
        Some(person),
        PRIMARY,
        Some(&chinese),
        MAINLAND,
        date(on),
    )
}

fn find<'a>(findings: &'a [Finding], code: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:?}", codes(findings)))
}

#[test]
fn a_person_with_every_record_in_order_has_no_findings() {
    assert!(assess_primary_chinese(&zhang_san(), "2025-09-10").is_empty());
}

#[test]
fn a_person_unknown_to_the_registry_gets_one_finding_that_says_so() {
    let rules = EligibilityRules::default();
    let findings = assess(&rules, None, PRIMARY, None, MAINLAND, date("2025-09-10"));
    assert_eq!(codes(&findings), ["PERSON_UNKNOWN_TO_REGISTRY"]);
}

#[test]
fn no_jurisdiction_basis_sends_the_applicant_to_another_authority() {
    let mut person = zhang_san();
    person.jurisdiction = Jurisdiction {
        basis: JurisdictionBasis::None,
        district: None,
        exam_province: None,
    };
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["NO_JURISDICTION"]);
    assert_eq!(findings[0].data["basis"], json!("NONE"));
    assert_eq!(findings[0].data["mustApplyElsewhere"], json!(true));
}

#[test]
fn an_exam_passed_outside_beijing_gives_no_jurisdiction_here() {
    let mut person = chen_da_wen();
    person.jurisdiction = Jurisdiction {
        basis: JurisdictionBasis::ExamLocation,
        district: None,
        exam_province: Some("河北省".to_owned()),
    };
    let rules = EligibilityRules::default();
    let category = IdentityCategory::HongKongMacaoResident;
    let on = date("2025-09-10");
    let kindergarten = QualificationLevel::Kindergarten;
    let findings = assess(&rules, Some(&person), kindergarten, None, category, on);
    let finding = find(&findings, "NO_JURISDICTION");
    assert_eq!(finding.data["examProvince"], json!("河北省"));
    assert!(finding.message.contains("河北省"));
}

#[test]
fn an_exam_passed_in_beijing_gives_jurisdiction_here() {
    let mut person = zhang_san();
    person.jurisdiction = Jurisdiction {
        basis: JurisdictionBasis::ExamLocation,
        district: None,
        exam_province: Some("北京市".to_owned()),
    };
    assert!(assess_primary_chinese(&person, "2025-09-10").is_empty());
}

#[test]
fn an_education_record_not_held_is_noted() {
    let mut person = zhang_san();
    person.education = None;
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["EDUCATION_NOT_HELD"]);
}

#[test]
fn education_below_the_level_minimum_is_noted() {
    let mut person = li_si();
    person.education = Some(EducationRecord {
        level: EducationLevel::SecondaryNormal,
        institution: None,
        graduation_year: None,
    });
    let rules = EligibilityRules::default();
    let maths = subject("数学");
    let level = QualificationLevel::JuniorMiddleSchool;
    let on = date("2025-09-10");
    let findings = assess(&rules, Some(&person), level, Some(&maths), MAINLAND, on);
    assert_eq!(codes(&findings), ["EDUCATION_BELOW_MINIMUM"]);
    assert_eq!(findings[0].data["level"], json!("SECONDARY_NORMAL"));
    assert_eq!(findings[0].data["minimum"], json!("JUNIOR_COLLEGE"));
}

#[test]
fn a_putonghua_certificate_not_held_is_noted() {
    let mut person = zhang_san();
    person.putonghua = None;
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["PUTONGHUA_NOT_HELD"]);
}

#[test]
fn a_chinese_teacher_needs_grade_two_a() {
    let mut person = zhang_san();
    person.putonghua = li_si().putonghua;
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["PUTONGHUA_BELOW_MINIMUM"]);
    assert_eq!(findings[0].data["grade"], json!("2B"));
    assert_eq!(findings[0].data["minimum"], json!("2A"));
}

#[test]
fn grade_two_b_is_enough_for_other_subjects() {
    let rules = EligibilityRules::default();
    let maths = subject("数学");
    let level = QualificationLevel::JuniorMiddleSchool;
    let on = date("2025-09-10");
    assert!(assess(&rules, Some(&li_si()), level, Some(&maths), MAINLAND, on).is_empty());
}

#[test]
fn an_exam_certificate_not_held_is_noted() {
    let mut person = zhang_san();
    person.exam_certificate = None;
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["EXAM_CERTIFICATE_NOT_HELD"]);
}

#[test]
fn an_exam_certificate_is_valid_on_its_last_day() {
    assert!(assess_primary_chinese(&zhang_san(), "2027-06-19").is_empty());
}

#[test]
fn an_exam_certificate_expired_on_the_submission_date_is_noted() {
    let findings = assess_primary_chinese(&zhang_san(), "2027-06-20");
    assert_eq!(codes(&findings), ["EXAM_CERTIFICATE_EXPIRED"]);
    assert_eq!(findings[0].data["validUntil"], json!("2027-06-19"));
    assert_eq!(findings[0].data["on"], json!("2027-06-20"));
}

#[test]
fn an_exam_certificate_older_than_three_years_is_noted_even_if_recorded_as_valid() {
    let mut person = zhang_san();
    if let Some(certificate) = person.exam_certificate.as_mut() {
        certificate.valid_until = date("2030-01-01");
    }
    let findings = assess_primary_chinese(&person, "2027-06-20");
    assert_eq!(
        codes(&findings),
        ["EXAM_CERTIFICATE_OLDER_THAN_THREE_YEARS"]
    );
}

#[test]
fn an_exam_certificate_for_another_level_is_noted() {
    let rules = EligibilityRules::default();
    let chinese = subject("语文");
    let level = QualificationLevel::JuniorMiddleSchool;
    let on = date("2025-09-10");
    let findings = assess(
        &rules,
        Some(&zhang_san()),
        level,
        Some(&chinese),
        MAINLAND,
        on,
    );
    assert_eq!(codes(&findings), ["EXAM_CERTIFICATE_LEVEL_MISMATCH"]);
    assert_eq!(
        findings[0].data["certificateLevel"],
        json!("PRIMARY_SCHOOL")
    );
    assert_eq!(
        findings[0].data["appliedLevel"],
        json!("JUNIOR_MIDDLE_SCHOOL")
    );
}

#[test]
fn an_exam_certificate_for_another_subject_is_noted() {
    let rules = EligibilityRules::default();
    let maths = subject("数学");
    let on = date("2025-09-10");
    let findings = assess(
        &rules,
        Some(&zhang_san()),
        PRIMARY,
        Some(&maths),
        MAINLAND,
        on,
    );
    assert_eq!(codes(&findings), ["EXAM_CERTIFICATE_SUBJECT_MISMATCH"]);
    assert_eq!(findings[0].data["certificateSubject"], json!("语文"));
    assert_eq!(findings[0].data["appliedSubject"], json!("数学"));
}

#[test]
fn a_kindergarten_certificate_without_subject_matches_a_kindergarten_application() {
    let rules = EligibilityRules::default();
    let level = QualificationLevel::Kindergarten;
    let on = date("2025-09-10");
    assert!(assess(&rules, Some(&wang_wu()), level, None, MAINLAND, on).is_empty());
}

#[test]
fn an_applicant_at_retirement_age_on_the_submission_date_is_noted() {
    let mut person = li_si();
    person.birth_date = date("1970-09-10");
    let rules = EligibilityRules::default();
    let maths = subject("数学");
    let level = QualificationLevel::JuniorMiddleSchool;
    let findings = assess(
        &rules,
        Some(&person),
        level,
        Some(&maths),
        MAINLAND,
        date("2025-09-10"),
    );
    assert_eq!(codes(&findings), ["RETIREMENT_AGE_REACHED"]);
    assert_eq!(findings[0].data["age"], json!(55));
    assert_eq!(findings[0].data["retirementAge"], json!(55));

    let day_before = date("2025-09-09");
    let findings = assess(
        &rules,
        Some(&person),
        level,
        Some(&maths),
        MAINLAND,
        day_before,
    );
    assert!(findings.is_empty());
}

#[test]
fn retirement_age_depends_on_gender() {
    let mut person = zhang_san();
    person.birth_date = date("1968-01-01");
    assert!(assess_primary_chinese(&person, "2025-09-10").is_empty());
    person.birth_date = date("1965-09-10");
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["RETIREMENT_AGE_REACHED"]);
}

#[test]
fn a_disqualifying_criminal_record_is_noted() {
    let mut person = zhang_san();
    person.criminal_record_check = CriminalRecordCheck::Disqualifying;
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["CRIMINAL_RECORD_DISQUALIFYING"]);
}

#[test]
fn a_mainland_resident_without_a_criminal_record_check_is_noted() {
    let mut person = zhang_san();
    person.criminal_record_check = CriminalRecordCheck::NotAvailable;
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(codes(&findings), ["CRIMINAL_RECORD_CHECK_NOT_HELD"]);
}

#[test]
fn a_hong_kong_resident_without_a_criminal_record_check_is_not_noted_for_it() {
    let rules = EligibilityRules::default();
    let category = IdentityCategory::HongKongMacaoResident;
    let level = QualificationLevel::Kindergarten;
    let on = date("2025-09-10");
    let findings = assess(&rules, Some(&chen_da_wen()), level, None, category, on);
    assert_eq!(
        codes(&findings),
        ["EDUCATION_NOT_HELD", "PUTONGHUA_NOT_HELD"]
    );
}

#[test]
fn several_findings_come_in_a_stable_order() {
    let mut person = zhang_san();
    person.education = None;
    person.exam_certificate = Some(ExamCertificate {
        number: "FAKE".to_owned(),
        level: QualificationLevel::Kindergarten,
        subject: None,
        issued_on: date("2020-01-01"),
        valid_until: date("2022-12-31"),
        exam_province: None,
    });
    person.criminal_record_check = CriminalRecordCheck::Disqualifying;
    let findings = assess_primary_chinese(&person, "2025-09-10");
    assert_eq!(
        codes(&findings),
        [
            "EDUCATION_NOT_HELD",
            "EXAM_CERTIFICATE_EXPIRED",
            "EXAM_CERTIFICATE_LEVEL_MISMATCH",
            "EXAM_CERTIFICATE_SUBJECT_MISMATCH",
            "CRIMINAL_RECORD_DISQUALIFYING",
        ]
    );
}

#[test]
fn every_finding_message_is_a_sentence() {
    let rules = EligibilityRules::default();
    let unknown = assess(&rules, None, PRIMARY, None, MAINLAND, date("2025-09-10"));
    let mut person = zhang_san();
    person.putonghua = None;
    person.criminal_record_check = CriminalRecordCheck::NotAvailable;
    let known = assess_primary_chinese(&person, "2027-06-20");
    for finding in unknown.iter().chain(&known) {
        assert!(finding.message.ends_with('.'), "{}", finding.message);
        assert!(
            finding.message.starts_with(char::is_uppercase),
            "{}",
            finding.message
        );
    }
}
