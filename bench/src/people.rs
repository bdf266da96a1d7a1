//! The run's fictional people: a registry file the service loads (`api-contract/registry.md`
//! format, written through the domain's own `PersonRecord` so the two cannot drift), their
//! tokens, and their uploaded materials.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use api::auth::{sign_development_token, Claims};
use api::settings::DEV_JWT_SECRET;
use chrono::{Datelike, Days, Months, NaiveDate, Utc};
use domain::registry::{
    CriminalRecordCheck, EducationLevel, EducationRecord, ExamCertificate, Jurisdiction,
    JurisdictionBasis, PersonRecord, PutonghuaGrade, PutonghuaRecord,
};
use domain::values::{Gender, IdDocType, IdentityCategory, QualificationLevel};
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use crate::gql::Client;

/// 海淀区's administrative division code: every generated person is registered there.
const HAIDIAN_CODE: &str = "110108";
const HAIDIAN: &str = "海淀区";

/// How many uploads run at once while preparing applicants.
const UPLOAD_CONCURRENCY: usize = 32;

/// One fictional person of the registry.
#[derive(Debug, Clone)]
pub struct Person {
    pub sub: String,
    pub name: String,
    pub id_doc_number: String,
}

/// A person who has uploaded the materials a submission needs.
#[derive(Debug, Clone)]
pub struct Applicant {
    pub person: Person,
    pub material_ids: Vec<String>,
}

/// The `index`-th fictional person: a unique 18-digit resident ID number (Haidian, a birth
/// date between 1990 and 2002, a sequence whose parity is the gender, and a valid check
/// digit) and a made-up name.
pub fn person(index: usize) -> Person {
    let birth = birth_date(index);
    let sequence = index % 999 + 1;
    let body = format!("{HAIDIAN_CODE}{}{sequence:03}", birth.format("%Y%m%d"));
    let check = check_digit(&body).unwrap_or('0');
    Person {
        sub: format!("bench-{index}"),
        name: name(index),
        id_doc_number: format!("{body}{check}"),
    }
}

/// One birth date per 999 people, so that (birth date, sequence) never repeats.
fn birth_date(index: usize) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default();
    let day = u64::try_from(index / 999).unwrap_or(0) % 4_500;
    first.checked_add_days(Days::new(day)).unwrap_or(first)
}

fn name(index: usize) -> String {
    const FAMILY: [&str; 12] = [
        "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙",
    ];
    const GIVEN: [&str; 16] = [
        "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛",
        "明",
    ];
    let family = FAMILY[index % FAMILY.len()];
    let first = GIVEN[(index / FAMILY.len()) % GIVEN.len()];
    let second = GIVEN[(index / (FAMILY.len() * GIVEN.len())) % GIVEN.len()];
    format!("{family}{first}{second}")
}

/// The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits of a resident
/// ID number; `None` unless `body` is exactly 17 ASCII digits.
pub fn check_digit(body: &str) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECKS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    if body.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (c, weight) in body.chars().zip(WEIGHTS) {
        sum += c.to_digit(10)? * weight;
    }
    CHECKS.get(usize::try_from(sum % 11).ok()?).copied()
}

/// What other departments hold about `person`: a Beijing household register in Haidian,
/// a bachelor's degree, Putonghua 2A and a valid primary-school 语文 exam certificate, so
/// that a submission is accepted and its findings are empty, as for a typical applicant.
fn record(index: usize, person: &Person, today: NaiveDate) -> PersonRecord {
    let birth = birth_date(index);
    let issued_on = today.checked_sub_months(Months::new(12)).unwrap_or(today);
    let valid_until = issued_on
        .checked_add_months(Months::new(36))
        .and_then(|day| day.pred_opt())
        .unwrap_or(today);
    let gender = if (index % 999 + 1) % 2 == 1 {
        Gender::Male
    } else {
        Gender::Female
    };
    PersonRecord {
        id_doc_number: person.id_doc_number.clone(),
        id_doc_type: IdDocType::ResidentIdCard,
        name: person.name.clone(),
        gender,
        birth_date: birth,
        identity_category: IdentityCategory::MainlandResident,
        jurisdiction: Jurisdiction {
            basis: JurisdictionBasis::HouseholdRegister,
            district: Some(HAIDIAN.to_owned()),
            exam_province: None,
        },
        education: Some(EducationRecord {
            level: EducationLevel::Bachelor,
            institution: Some("示例师范大学(虚构)".to_owned()),
            graduation_year: Some(birth.year() + 22),
        }),
        putonghua: Some(PutonghuaRecord {
            grade: PutonghuaGrade::TwoA,
            certificate_number: Some(format!("FAKE-PTH-{index:07}")),
        }),
        exam_certificate: Some(ExamCertificate {
            number: format!("FAKE-NTCE-{index:07}"),
            level: QualificationLevel::PrimarySchool,
            subject: Some("语文".to_owned()),
            issued_on,
            valid_until,
            exam_province: Some("北京市".to_owned()),
        }),
        criminal_record_check: CriminalRecordCheck::Clear,
    }
}

/// Writes a registry of `count` people to `path` and returns them.
pub fn write_registry(path: &Path, count: usize) -> anyhow::Result<Vec<Person>> {
    let today = Utc::now().date_naive();
    let people: Vec<Person> = (0..count).map(person).collect();
    let records: Vec<PersonRecord> = people
        .iter()
        .enumerate()
        .map(|(index, person)| record(index, person, today))
        .collect();
    let text = serde_json::to_vec(&json!({ "people": records })).context("writing the registry")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(people)
}

/// A token for `person` as applicant, face verified just now, valid for 12 hours. Face
/// verification counts for 30 minutes, so mint it shortly before submitting.
pub fn applicant_token(person: &Person) -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    sign(Claims {
        sub: person.sub.clone(),
        name: person.name.clone(),
        roles: vec!["applicant".to_owned()],
        acr: Some("L2".to_owned()),
        id_doc_type: Some("RESIDENT_ID_CARD".to_owned()),
        id_doc_number: Some(person.id_doc_number.clone()),
        face_verified_at: Some(now),
        exp: now + 12 * 3600,
        iat: Some(now),
        iss: None,
    })
}

/// A token for a staff member with one role (`clerk`, …), valid for 12 hours.
pub fn staff_token(sub: &str, role: &str) -> anyhow::Result<String> {
    let now = Utc::now().timestamp();
    sign(Claims {
        sub: sub.to_owned(),
        name: format!("压测{role}"),
        roles: vec![role.to_owned()],
        acr: Some("L2".to_owned()),
        id_doc_type: None,
        id_doc_number: None,
        face_verified_at: None,
        exp: now + 12 * 3600,
        iat: Some(now),
        iss: None,
    })
}

/// Signs with the development secret the service uses under `--dev`.
fn sign(claims: Claims) -> anyhow::Result<String> {
    sign_development_token(&claims, DEV_JWT_SECRET)
}

/// Uploads a photo and a physical examination form for each person, as the app does
/// before a submission; this is preparation, never timed.
pub async fn prepare(client: &Client, people: &[Person]) -> anyhow::Result<Vec<Applicant>> {
    let client = Arc::new(client.clone());
    stream::iter(people.iter().cloned())
        .map(|person| {
            let client = Arc::clone(&client);
            async move {
                let token = applicant_token(&person)?;
                let photo = client
                    .upload(&token, "PHOTO", "photo.png", files::png())
                    .await?;
                let form = client
                    .upload(&token, "PHYSICAL_EXAM_FORM", "exam.pdf", files::pdf())
                    .await?;
                anyhow::Ok(Applicant {
                    person,
                    material_ids: vec![photo, form],
                })
            }
        })
        .buffered(UPLOAD_CONCURRENCY)
        .try_collect()
        .await
}

/// The `submitApplication` input for an applicant: primary school 语文, mailed to Haidian.
pub fn submission_input(applicant: &Applicant) -> Value {
    json!({
        "input": {
            "idempotencyKey": uuid::Uuid::new_v4().to_string(),
            "faceAuthorizationConsent": true,
            "identityCategory": "MAINLAND_RESIDENT",
            "qualificationLevel": "PRIMARY_SCHOOL",
            "subject": "语文",
            "materialIds": applicant.material_ids,
            "contactPhone": "13800138000",
            "delivery": {
                "method": "MAIL",
                "mailTo": {
                    "recipientName": applicant.person.name,
                    "phone": "13800138000",
                    "district": HAIDIAN,
                    "street": "中关村大街1号",
                    "postalCode": "100080",
                },
            },
        }
    })
}

/// Small real files of the types the service sniffs.
pub mod files {
    /// The 1×1 PNG image of the README walkthrough.
    pub fn png() -> Vec<u8> {
        vec![
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
            0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
            0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78,
            0xDA, 0x63, 0x64, 0x60, 0xF8, 0x5F, 0x0F, 0x00, 0x02, 0x87, 0x01, 0x80, 0xEB, 0x47,
            0xBA, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
        ]
    }

    /// A minimal one-object PDF document.
    pub fn pdf() -> Vec<u8> {
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_example_id_number_gets_its_x_check_character() {
        assert_eq!(check_digit("11010519491231002"), Some('X'));
    }

    #[test]
    fn a_check_digit_needs_exactly_seventeen_digits() {
        assert_eq!(check_digit("1101051949123100"), None);
        assert_eq!(check_digit("1101051949123100A"), None);
    }

    #[test]
    fn generated_people_have_distinct_well_formed_haidian_id_numbers() {
        let numbers: std::collections::HashSet<String> = (0..5_000)
            .map(|index| person(index).id_doc_number)
            .collect();
        assert_eq!(numbers.len(), 5_000);
        for number in &numbers {
            assert_eq!(number.len(), 18);
            assert!(number.starts_with(HAIDIAN_CODE));
            assert_eq!(check_digit(&number[..17]), number.chars().last());
        }
    }

    #[test]
    fn a_generated_person_reads_back_through_the_registry_format() -> anyhow::Result<()> {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).context("a date")?;
        let text = serde_json::to_string(&record(7, &person(7), today))?;
        let back: PersonRecord = serde_json::from_str(&text)?;
        assert_eq!(back.jurisdiction.district.as_deref(), Some(HAIDIAN));
        assert!(
            text.contains("\"idDocType\":\"RESIDENT_ID_CARD\""),
            "{text}"
        );
        assert!(text.contains("\"grade\":\"2A\""), "{text}");
        Ok(())
    }

    #[test]
    fn the_gender_on_record_matches_the_sequence_digit_of_the_id_number() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
        for index in [0, 1, 998, 999, 1_000] {
            let person = person(index);
            let digit = person.id_doc_number.as_bytes()[16] - b'0';
            let expected = if digit % 2 == 1 {
                Gender::Male
            } else {
                Gender::Female
            };
            assert_eq!(record(index, &person, today).gender, expected, "{index}");
        }
    }
}
