//! Case numbers (办件编号) and certificate numbers.
//!
//! A case number is `TC` followed by ten digits and one Luhn check digit, e.g.
//! `TC48210937561`. The ten digits are a keyed permutation of a database sequence value,
//! so numbers are unique, carry no personal data, and one number tells nothing about the
//! next. The check digit catches any single mistyped digit.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::Reason;
use crate::values::{Gender, QualificationLevel, ValueError};

const PREFIX: &str = "TC";
const PAYLOAD_DIGITS: usize = 10;
const HALF_SPACE: u64 = 100_000;
const SEQUENCE_SPACE: u64 = HALF_SPACE * HALF_SPACE;
const FEISTEL_ROUNDS: u64 = 4;

/// 办件编号.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseNumber(String);

impl CaseNumber {
    /// Accepts upper or lower case, and ignores spaces and hyphens people add when reading
    /// the number out; refuses anything with a wrong check digit.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let compact: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect::<String>()
            .to_ascii_uppercase();
        let digits = compact
            .strip_prefix(PREFIX)
            .filter(|digits| digits.len() == PAYLOAD_DIGITS + 1)
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ValueError::new(
                    Reason::InvalidCaseNumber,
                    "a case number is TC followed by eleven digits",
                )
            })?;
        let (payload, check) = digits.split_at(PAYLOAD_DIGITS);
        if luhn_check_digit(payload).to_string() != check {
            return Err(ValueError::new(
                Reason::InvalidCaseNumber,
                "the case number's check digit does not match; a digit may be mistyped",
            ));
        }
        Ok(Self(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Luhn check digit for a string of ASCII digits.
fn luhn_check_digit(payload: &str) -> u32 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(position, digit)| {
            if position % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    (10 - sum % 10) % 10
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
    /// numbers. Values from `10^10` on wrap around, so the sequence must stay below it.
    pub fn case_number(&self, sequence_value: u64) -> CaseNumber {
        let payload = format!("{:010}", self.permute(sequence_value % SEQUENCE_SPACE));
        let check = luhn_check_digit(&payload);
        CaseNumber(format!("{PREFIX}{payload}{check}"))
    }

    /// A balanced Feistel network on two five-digit halves: a bijection of `0..10^10`.
    fn permute(&self, value: u64) -> u64 {
        let (mut left, mut right) = (value / HALF_SPACE, value % HALF_SPACE);
        for round in 0..FEISTEL_ROUNDS {
            let mixed = (left + self.round_function(round, right)) % HALF_SPACE;
            left = right;
            right = mixed;
        }
        left * HALF_SPACE + right
    }

    fn round_function(&self, round: u64, half: u64) -> u64 {
        splitmix64(self.key ^ (round << 32) ^ half) % HALF_SPACE
    }
}

/// The SplitMix64 finaliser: a fast, well-mixing 64-bit hash.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 资格证书编号: 17 digits = year (4) + province `11` + authority (3) + level (1) +
/// gender (1) + serial (6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CertificateNumber(String);

impl CertificateNumber {
    /// The number for a Beijing certificate. The caller ensures a four-digit `year`, a
    /// three-digit `authority_code` and a `serial` in `1..=999_999`; the gender digit is
    /// 1 for men, 0 for women and 9 when the gender is unknown.
    pub fn compose(
        year: i32,
        authority_code: &str,
        level: QualificationLevel,
        gender: Option<Gender>,
        serial: u32,
    ) -> CertificateNumber {
        // Limitation: a person unknown to the registry who holds a travel permit has no
        // gender on record, and a travel permit number does not encode one, so their
        // certificate number carries 9 in the gender place.
        let gender_digit = match gender {
            Some(Gender::Male) => '1',
            Some(Gender::Female) => '0',
            None => '9',
        };
        let level_digit = level.certificate_digit();
        CertificateNumber(format!(
            "{year:04}11{authority_code}{level_digit}{gender_digit}{serial:06}"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CertificateNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const KEY: u64 = 0x5EED_CAFE_F00D_1234;

    fn invert(cipher: &CaseNumberCipher, value: u64) -> u64 {
        let (mut left, mut right) = (value / HALF_SPACE, value % HALF_SPACE);
        for round in (0..FEISTEL_ROUNDS).rev() {
            let previous_left =
                (right + HALF_SPACE - cipher.round_function(round, left)) % HALF_SPACE;
            right = left;
            left = previous_left;
        }
        left * HALF_SPACE + right
    }

    #[test]
    fn consecutive_sequence_values_give_distinct_numbers() {
        let cipher = CaseNumberCipher::new(KEY);
        let numbers: HashSet<CaseNumber> = (0..300_000).map(|n| cipher.case_number(n)).collect();
        assert_eq!(numbers.len(), 300_000);
    }

    #[test]
    fn the_permutation_can_be_undone_so_it_is_a_bijection() {
        let cipher = CaseNumberCipher::new(KEY);
        for value in (0..SEQUENCE_SPACE).step_by(9_999_991).chain(0..1_000) {
            let permuted = cipher.permute(value);
            assert!(permuted < SEQUENCE_SPACE);
            assert_eq!(invert(&cipher, permuted), value);
        }
    }

    #[test]
    fn a_case_number_is_tc_and_eleven_digits() {
        let number = CaseNumberCipher::new(KEY).case_number(42);
        let text = number.as_str();
        assert_eq!(text.len(), 13);
        assert!(text.starts_with("TC"));
        assert!(text[2..].bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn neighbouring_sequence_values_share_few_digits() {
        let cipher = CaseNumberCipher::new(KEY);
        let first = cipher.case_number(1000);
        let second = cipher.case_number(1001);
        let same = first
            .as_str()
            .bytes()
            .zip(second.as_str().bytes())
            .skip(2)
            .take(PAYLOAD_DIGITS)
            .filter(|(a, b)| a == b)
            .count();
        assert!(same <= 5, "{first} and {second} share {same} digits");
    }

    #[test]
    fn different_keys_give_different_numbers() {
        let one = CaseNumberCipher::new(1).case_number(7);
        let other = CaseNumberCipher::new(2).case_number(7);
        assert_ne!(one, other);
    }

    #[test]
    fn a_case_number_parses_back_to_itself() {
        let cipher = CaseNumberCipher::new(KEY);
        for value in [0, 1, 99_999, 123_456_789, SEQUENCE_SPACE - 1] {
            let number = cipher.case_number(value);
            assert_eq!(CaseNumber::parse(number.as_str()), Ok(number));
        }
    }

    #[test]
    fn lower_case_spaces_and_hyphens_are_accepted() {
        let number = CaseNumberCipher::new(KEY).case_number(5);
        let text = number.as_str();
        let spoken = format!(
            " {}-{} {}-{} ",
            &text[..2].to_lowercase(),
            &text[2..6],
            &text[6..9],
            &text[9..]
        );
        assert_eq!(CaseNumber::parse(&spoken), Ok(number));
    }

    #[test]
    fn every_single_digit_typo_is_refused() {
        let cipher = CaseNumberCipher::new(KEY);
        for value in [0, 17, 4_242, 987_654_321] {
            let number = cipher.case_number(value);
            for position in 2..13 {
                for digit in b'0'..=b'9' {
                    let mut typo = number.as_str().as_bytes().to_vec();
                    if typo[position] == digit {
                        continue;
                    }
                    typo[position] = digit;
                    let typo = String::from_utf8_lossy(&typo).into_owned();
                    let refused = CaseNumber::parse(&typo).map_err(|error| error.reason);
                    assert_eq!(refused, Err(Reason::InvalidCaseNumber), "{typo}");
                }
            }
        }
    }

    #[test]
    fn a_wrong_prefix_is_refused() {
        let number = CaseNumberCipher::new(KEY).case_number(3);
        let digits = &number.as_str()[2..];
        for prefix in ["", "T", "TX", "CT", "TCC"] {
            let refused = CaseNumber::parse(&format!("{prefix}{digits}"));
            assert_eq!(
                refused.map_err(|e| e.reason),
                Err(Reason::InvalidCaseNumber)
            );
        }
    }

    #[test]
    fn a_wrong_length_or_letters_are_refused() {
        for raw in ["TC", "TC1234567890", "TC123456789012", "TC12345A78901", ""] {
            let refused = CaseNumber::parse(raw).map_err(|e| e.reason);
            assert_eq!(refused, Err(Reason::InvalidCaseNumber), "{raw}");
        }
    }

    #[test]
    fn a_case_number_deserialises_only_when_valid() {
        let number = CaseNumberCipher::new(KEY).case_number(11);
        let json = serde_json::to_string(&number).ok();
        let back: Option<CaseNumber> = json.and_then(|j| serde_json::from_str(&j).ok());
        assert_eq!(back, Some(number));
        assert!(serde_json::from_str::<CaseNumber>("\"TC00000000001\"").is_err());
    }

    #[test]
    fn a_certificate_number_is_composed_from_its_parts() {
        let number = CertificateNumber::compose(
            2025,
            "108",
            QualificationLevel::PrimarySchool,
            Some(Gender::Male),
            42,
        );
        assert_eq!(number.as_str(), "20251110821000042");
        assert_eq!(number.as_str().len(), 17);
    }

    #[test]
    fn gender_digits_are_zero_for_women_and_nine_when_unknown() {
        let level = QualificationLevel::Kindergarten;
        let woman = CertificateNumber::compose(2026, "101", level, Some(Gender::Female), 1);
        let unknown = CertificateNumber::compose(2026, "101", level, None, 999_999);
        assert_eq!(woman.as_str(), "20261110110000001");
        assert_eq!(unknown.as_str(), "20261110119999999");
    }
}
