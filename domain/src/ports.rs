//! The services the aggregate calls: other departments, number allocators, the clock.
//! Adapters live outside the domain; tests stand them in.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::case_number::CaseNumber;
use crate::eligibility::EligibilityRules;
use crate::registry::PersonRecord;
use crate::values::IdDocument;

/// A failure of an outside system. The message is for logs, not for clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// 其他部门: what other departments already hold about a person.
#[async_trait]
pub trait Registry: Send + Sync {
    /// The person's records, or `None` when no department knows the document.
    async fn find_person(&self, document: &IdDocument) -> Result<Option<PersonRecord>, PortError>;
}

/// Which person already has a case awaiting a decision.
#[async_trait]
pub trait OpenCases: Send + Sync {
    async fn open_case_of(&self, document: &IdDocument) -> Result<Option<CaseNumber>, PortError>;
}

/// Issues case numbers (办件编号), unique across every process.
#[async_trait]
pub trait CaseNumbers: Send + Sync {
    async fn next_case_number(&self) -> Result<CaseNumber, PortError>;
}

/// Issues certificate serials, unique per certifying authority and year across every process.
#[async_trait]
pub trait CertificateSerials: Send + Sync {
    /// The next serial (1-based) for the authority and year.
    async fn next_serial(&self, authority_code: &str, year: i32) -> Result<u32, PortError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Everything the `Application` aggregate needs from outside.
#[derive(Clone)]
pub struct ApplicationServices {
    pub registry: Arc<dyn Registry>,
    pub open_cases: Arc<dyn OpenCases>,
    pub certificate_serials: Arc<dyn CertificateSerials>,
    pub clock: Arc<dyn Clock>,
    pub rules: EligibilityRules,
    /// The 3-digit code of this certifying authority inside certificate numbers.
    pub authority_code: String,
}
