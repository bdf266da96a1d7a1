//! What other departments hold about a person, in the shape of the registry file format
//! (`api-contract/registry.md`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::values::{
    Gender, IdDocType, IdentityCategory, Material, MaterialKind, MaterialSource, QualificationLevel,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonRecord {
    pub id_doc_number: String,
    pub id_doc_type: IdDocType,
    pub name: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub identity_category: IdentityCategory,
    pub jurisdiction: Jurisdiction,
    pub education: Option<EducationRecord>,
    pub putonghua: Option<PutonghuaRecord>,
    pub exam_certificate: Option<ExamCertificate>,
    pub criminal_record_check: CriminalRecordCheck,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Jurisdiction {
    pub basis: JurisdictionBasis,
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub exam_province: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JurisdictionBasis {
    HouseholdRegister,
    ResidencePermit,
    BeijingStudent,
    ExamLocation,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EducationRecord {
    pub level: EducationLevel,
    #[serde(default)]
    pub institution: Option<String>,
    #[serde(default)]
    pub graduation_year: Option<i32>,
}

/// Education levels in ascending order, so that `>=` compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EducationLevel {
    SecondaryNormal,
    JuniorCollege,
    Bachelor,
    Master,
    Doctorate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutonghuaRecord {
    pub grade: PutonghuaGrade,
    #[serde(default)]
    pub certificate_number: Option<String>,
}

/// Putonghua grades from best (`1A`) to worst (`3B`); `Ord` puts the best first, so a grade
/// meets a minimum when `grade <= minimum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PutonghuaGrade {
    #[serde(rename = "1A")]
    OneA,
    #[serde(rename = "1B")]
    OneB,
    #[serde(rename = "2A")]
    TwoA,
    #[serde(rename = "2B")]
    TwoB,
    #[serde(rename = "3A")]
    ThreeA,
    #[serde(rename = "3B")]
    ThreeB,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamCertificate {
    pub number: String,
    pub level: QualificationLevel,
    #[serde(default)]
    pub subject: Option<String>,
    pub issued_on: NaiveDate,
    pub valid_until: NaiveDate,
    #[serde(default)]
    pub exam_province: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CriminalRecordCheck {
    Clear,
    Disqualifying,
    /// Not held here: Hong Kong, Macao and Taiwan residents upload a certificate instead.
    NotAvailable,
}

/// One record fetched from another department, as the JSON bytes a case attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    pub kind: MaterialKind,
    /// The record's `serde_json` serialisation; the material's digest is taken over these
    /// bytes, so storing them lets anyone check the digest later.
    pub json: Vec<u8>,
}

impl FetchedRecord {
    fn new(kind: MaterialKind, record: &impl Serialize) -> Self {
        let json = serde_json::to_vec(record)
            .expect("registry records hold no maps, so they always serialise to JSON");
        Self { kind, json }
    }

    /// The material this record becomes on a case: source `FETCHED`, media type
    /// `application/json`, lower-case hex SHA-256 and byte length of [`Self::json`].
    pub fn material(&self) -> Material {
        Material {
            kind: self.kind,
            source: MaterialSource::Fetched,
            sha256: sha256_hex(&self.json),
            size: self.json.len() as u64,
            media_type: "application/json".to_owned(),
        }
    }
}

/// The identity document part of a person's record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDocumentRecord<'a> {
    id_doc_number: &'a str,
    id_doc_type: IdDocType,
    name: &'a str,
    gender: Gender,
    birth_date: NaiveDate,
    identity_category: IdentityCategory,
}

/// Every record other departments hold about the person, one per material kind: the
/// identity document always; the jurisdiction basis unless it is `NONE`; education,
/// Putonghua and exam certificate when held; the criminal-record check unless it is
/// `NOT_AVAILABLE`.
pub fn fetched_records(person: &PersonRecord) -> Vec<FetchedRecord> {
    let identity = IdentityDocumentRecord {
        id_doc_number: &person.id_doc_number,
        id_doc_type: person.id_doc_type,
        name: &person.name,
        gender: person.gender,
        birth_date: person.birth_date,
        identity_category: person.identity_category,
    };
    let has_basis = person.jurisdiction.basis != JurisdictionBasis::None;
    let has_check = person.criminal_record_check != CriminalRecordCheck::NotAvailable;
    [
        Some(FetchedRecord::new(
            MaterialKind::IdentityDocument,
            &identity,
        )),
        has_basis
            .then(|| FetchedRecord::new(MaterialKind::JurisdictionBasis, &person.jurisdiction)),
        person
            .education
            .as_ref()
            .map(|record| FetchedRecord::new(MaterialKind::EducationRecord, record)),
        person
            .putonghua
            .as_ref()
            .map(|record| FetchedRecord::new(MaterialKind::PutonghuaCertificate, record)),
        person
            .exam_certificate
            .as_ref()
            .map(|record| FetchedRecord::new(MaterialKind::ExamCertificate, record)),
        has_check.then(|| {
            FetchedRecord::new(
                MaterialKind::CriminalRecordCheck,
                &person.criminal_record_check,
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The materials a case attaches for what other departments hold about the person (see
/// [`fetched_records`]).
pub fn fetched_materials(person: &PersonRecord) -> Vec<Material> {
    fetched_records(person)
        .iter()
        .map(FetchedRecord::material)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
