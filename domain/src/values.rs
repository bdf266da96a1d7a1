//! Value types of a case. Each one is parsed once at the edge and cannot hold a bad value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Reason;

/// Why a raw value was refused; `reason` is the stable code shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub reason: Reason,
    pub message: String,
}

impl ValueError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// 资格种类: the school level the qualification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QualificationLevel {
    Kindergarten,
    PrimarySchool,
    JuniorMiddleSchool,
}

impl QualificationLevel {
    /// The level digit inside a certificate number.
    pub fn certificate_digit(self) -> char {
        match self {
            Self::Kindergarten => '1',
            Self::PrimarySchool => '2',
            Self::JuniorMiddleSchool => '3',
        }
    }

    /// Kindergarten qualifications carry no teaching subject; the others need one.
    pub fn needs_subject(self) -> bool {
        !matches!(self, Self::Kindergarten)
    }
}

/// The applicant's identity category, chosen in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentityCategory {
    MainlandResident,
    HongKongMacaoResident,
    TaiwanResident,
}

/// The kind of identity document the identity platform verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdDocType {
    ResidentIdCard,
    HkMacaoResidencePermit,
    HkMacaoTravelPermit,
    TaiwanResidencePermit,
    TaiwanTravelPermit,
}

impl IdDocType {
    /// The one identity category this document type belongs to.
    pub fn identity_category(self) -> IdentityCategory {
        match self {
            Self::ResidentIdCard => IdentityCategory::MainlandResident,
            Self::HkMacaoResidencePermit | Self::HkMacaoTravelPermit => {
                IdentityCategory::HongKongMacaoResident
            }
            Self::TaiwanResidencePermit | Self::TaiwanTravelPermit => {
                IdentityCategory::TaiwanResident
            }
        }
    }

    /// Parses the claim spelling, e.g. `RESIDENT_ID_CARD`.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
            ValueError::new(
                Reason::InvalidIdDocument,
                format!("unknown document type {raw}"),
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Gender {
    Male,
    Female,
}

/// An identity document as verified by the identity platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdDocument {
    pub doc_type: IdDocType,
    pub number: String,
}

impl IdDocument {
    /// Refuses an empty number or one with characters no Chinese identity document uses.
    pub fn new(doc_type: IdDocType, number: &str) -> Result<Self, ValueError> {
        let number = number.trim().to_ascii_uppercase();
        let well_formed =
            (6..=20).contains(&number.len()) && number.chars().all(|c| c.is_ascii_alphanumeric());
        if !well_formed {
            return Err(ValueError::new(
                Reason::InvalidIdDocument,
                "the identity document number is malformed",
            ));
        }
        Ok(Self { doc_type, number })
    }

    /// The gender encoded in an 18-digit resident or residence-permit number, if it is one.
    pub fn encoded_gender(&self) -> Option<Gender> {
        let digits: Vec<char> = self.number.chars().collect();
        if digits.len() != 18 {
            return None;
        }
        let digit = digits[16].to_digit(10)?;
        Some(if digit % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        })
    }
}

/// 任教学科: a teaching subject such as 语文 or 数学.
///
/// New subjects come only through `Subject::parse`. A stored one is read back as it was
/// accepted, even where today's rules would refuse it: events are facts, and a rule that
/// tightens must never make an old event unreadable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Subject(String);

impl Subject {
    pub const CHINESE: &'static str = "语文";

    /// Refuses blank subjects and anything longer than 20 characters.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 20 {
            return Err(ValueError::new(
                Reason::InvalidSubject,
                "the subject must be 1 to 20 characters",
            ));
        }
        if trimmed
            .chars()
            .any(|c| c.is_control() || is_invisible_format(c))
        {
            return Err(ValueError::new(
                Reason::InvalidSubject,
                "the subject contains control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_chinese_language(&self) -> bool {
        self.0 == Self::CHINESE
    }
}

impl From<String> for Subject {
    /// For reading stored events only; see the type's documentation.
    fn from(stored: String) -> Self {
        Self(stored)
    }
}

impl From<Subject> for String {
    fn from(subject: Subject) -> Self {
        subject.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number reachable in Beijing: a mainland mobile (`1[3-9]` + 9 digits) or a
/// Beijing landline (`010` + 8 digits). Spaces and hyphens are dropped when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let all_digits = digits.chars().all(|c| c.is_ascii_digit());
        let bytes = digits.as_bytes();
        let mobile = bytes.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]);
        let landline = bytes.len() == 11 && digits.starts_with("010");
        if all_digits && (mobile || landline) {
            Ok(Self(digits))
        } else {
            Err(ValueError::new(
                Reason::InvalidPhone,
                "a phone number is a mobile number (11 digits starting 13-19) or a Beijing landline (010 and 8 digits)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Phone> for String {
    fn from(phone: Phone) -> Self {
        phone.0
    }
}

/// One of Beijing's 16 districts (GB/T 2260).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BeijingDistrict(usize);

const BEIJING_DISTRICTS: [(&str, &str); 16] = [
    ("东城区", "110101"),
    ("西城区", "110102"),
    ("朝阳区", "110105"),
    ("丰台区", "110106"),
    ("石景山区", "110107"),
    ("海淀区", "110108"),
    ("门头沟区", "110109"),
    ("房山区", "110111"),
    ("通州区", "110112"),
    ("顺义区", "110113"),
    ("昌平区", "110114"),
    ("大兴区", "110115"),
    ("怀柔区", "110116"),
    ("平谷区", "110117"),
    ("密云区", "110118"),
    ("延庆区", "110119"),
];

impl BeijingDistrict {
    /// Accepts the district's Chinese name, e.g. `海淀区`; anything else is outside Beijing.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim();
        BEIJING_DISTRICTS
            .iter()
            .position(|(name, _)| *name == raw)
            .map(Self)
            .ok_or_else(|| {
                ValueError::new(
                    Reason::MailOutsideBeijing,
                    "certificates are mailed only to Beijing's 16 districts",
                )
            })
    }

    pub fn name(&self) -> &'static str {
        BEIJING_DISTRICTS[self.0].0
    }

    /// The GB/T 2260 code, e.g. `110108` for 海淀区.
    pub fn code(&self) -> &'static str {
        BEIJING_DISTRICTS[self.0].1
    }
}

impl TryFrom<String> for BeijingDistrict {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<BeijingDistrict> for String {
    fn from(district: BeijingDistrict) -> Self {
        district.name().to_owned()
    }
}

/// A Beijing postal code: six digits starting `10`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostalCode(String);

impl PostalCode {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim();
        if raw.len() != 6 || !raw.chars().all(|c| c.is_ascii_digit()) {
            return Err(ValueError::new(
                Reason::InvalidPostalCode,
                "a postal code is six digits",
            ));
        }
        if !raw.starts_with("10") {
            return Err(ValueError::new(
                Reason::MailOutsideBeijing,
                "Beijing postal codes start with 10",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PostalCode {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<PostalCode> for String {
    fn from(code: PostalCode) -> Self {
        code.0
    }
}

/// Zero-width and bidirectional formatting characters: invisible on screen, they let a value
/// read differently from what it holds (a reversed file name, an empty-looking street).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// Free text with a bounded length and no control characters except line breaks:
/// names, streets, reasons, notes, carriers, tracking numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    /// Trims the value and refuses it when blank, longer than `max_chars`, or holding control
    /// characters other than line breaks; `reason` is the code reported on refusal.
    pub fn parse(raw: &str, max_chars: usize, reason: Reason) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValueError::new(reason, "must not be blank"));
        }
        if trimmed.chars().count() > max_chars {
            return Err(ValueError::new(
                reason,
                format!("must be at most {max_chars} characters"),
            ));
        }
        if trimmed
            .chars()
            .any(|c| (c.is_control() && c != '\n') || is_invisible_format(c))
        {
            return Err(ValueError::new(
                reason,
                "must not contain control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a certificate is mailed: always inside Beijing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailAddress {
    pub recipient_name: Text,
    pub phone: Phone,
    pub district: BeijingDistrict,
    pub street: Text,
    pub postal_code: PostalCode,
}

/// How the applicant receives the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Delivery {
    WindowPickup,
    Mail { mail_to: MailAddress },
}

/// What a material is. Uploaded kinds come from the applicant; the rest are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
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

/// Whether the applicant uploaded a material or the service fetched it from another
/// department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaterialSource {
    Uploaded,
    Fetched,
}

/// A material attached to a case. The event keeps the digest, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    pub kind: MaterialKind,
    pub source: MaterialSource,
    /// Lower-case hex SHA-256 of the stored bytes (for fetched records, of their JSON).
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
}

/// Who issued a command, as the token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Applicant,
    Clerk,
    Approver,
    Dispatcher,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "applicant",
            Self::Clerk => "clerk",
            Self::Approver => "approver",
            Self::Dispatcher => "dispatcher",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Applicant,
            Self::Clerk,
            Self::Approver,
            Self::Dispatcher,
            Self::Auditor,
        ]
        .into_iter()
        .find(|role| role.as_str() == raw)
    }
}

#[cfg(test)]
mod tests;
