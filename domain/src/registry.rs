//! What other departments hold about a person, in the shape of the registry file format
//! (`api-contract/registry.md`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::values::{Gender, IdDocType, IdentityCategory, QualificationLevel};

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
