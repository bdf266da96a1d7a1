//! Adapters behind the domain's ports: the registry file, and the PostgreSQL-backed
//! open-case index, case-number sequence and certificate serials.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use async_trait::async_trait;
use domain::ports::{CaseNumbers, CertificateSerials, OpenCases, PortError, Registry};
use domain::registry::PersonRecord;
use domain::values::IdDocument;
use domain::{CaseNumber, CaseNumberCipher};
use serde::Deserialize;
use sqlx::PgPool;

/// The development registry shipped with the service, used when `REGISTRY_FILE` is unset.
const BUNDLED_REGISTRY: &str = include_str!("../fixtures/registry.json");

#[derive(Deserialize)]
struct RegistryFile {
    people: Vec<PersonRecord>,
}

/// Other departments' records, served from a JSON file in the `registry.md` format.
#[derive(Debug, Clone)]
pub struct FileRegistry {
    people: HashMap<String, PersonRecord>,
}

impl FileRegistry {
    /// Loads `path`, or the bundled development registry when `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading REGISTRY_FILE {}", path.display()))?,
            None => BUNDLED_REGISTRY.to_owned(),
        };
        let file: RegistryFile =
            serde_json::from_str(&text).context("REGISTRY_FILE is not in the registry format")?;
        let people = file
            .people
            .into_iter()
            .map(|person| (person.id_doc_number.to_ascii_uppercase(), person))
            .collect();
        Ok(Self { people })
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }
}

#[async_trait]
impl Registry for FileRegistry {
    async fn find_person(&self, document: &IdDocument) -> Result<Option<PersonRecord>, PortError> {
        Ok(self.people.get(&document.number).cloned())
    }
}

fn port_error(error: sqlx::Error) -> PortError {
    PortError(error.to_string())
}

/// The open-case index kept by the `events_track_open_case` trigger.
#[derive(Debug, Clone)]
pub struct PgOpenCases {
    pub pool: PgPool,
}

#[async_trait]
impl OpenCases for PgOpenCases {
    async fn open_case_of(&self, document: &IdDocument) -> Result<Option<CaseNumber>, PortError> {
        let doc_type = serde_json::to_value(document.doc_type)
            .map_err(|error| PortError(error.to_string()))?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT case_number FROM open_cases WHERE id_doc_type = $1 AND id_doc_number = $2",
        )
        .bind(doc_type.as_str().unwrap_or_default())
        .bind(&document.number)
        .fetch_optional(&self.pool)
        .await
        .map_err(port_error)?;
        row.map(|(number,)| CaseNumber::parse(&number).map_err(|e| PortError(e.to_string())))
            .transpose()
    }
}

/// Case numbers from the `case_number_seq` sequence, permuted with the secret key.
///
/// Values are drawn from the sequence `CASE_NUMBER_BLOCK` at a time and handed out from
/// memory, which saves a round trip on almost every submission. The values a process holds
/// when it stops are never used: harmless, since the permutation hides the gaps (lost races
/// leave gaps too).
#[derive(Debug)]
pub struct PgCaseNumbers {
    pool: PgPool,
    cipher: CaseNumberCipher,
    /// Drawn and not yet handed out, next last.
    reserved: Mutex<Vec<u64>>,
}

/// Sequence values drawn per round trip.
const CASE_NUMBER_BLOCK: i64 = 32;

impl PgCaseNumbers {
    pub fn new(pool: PgPool, cipher: CaseNumberCipher) -> Self {
        Self {
            pool,
            cipher,
            reserved: Mutex::new(Vec::new()),
        }
    }

    fn take_reserved(&self) -> Option<u64> {
        self.reserved.lock().ok()?.pop()
    }
}

#[async_trait]
impl CaseNumbers for PgCaseNumbers {
    async fn next_case_number(&self) -> Result<CaseNumber, PortError> {
        if let Some(value) = self.take_reserved() {
            return Ok(self.cipher.case_number(value));
        }
        let drawn: Vec<i64> =
            sqlx::query_scalar("SELECT nextval('case_number_seq') FROM generate_series(1, $1)")
                .bind(CASE_NUMBER_BLOCK)
                .fetch_all(&self.pool)
                .await
                .map_err(port_error)?;
        let drawn = drawn
            .into_iter()
            .map(|value| u64::try_from(value).map_err(|e| PortError(e.to_string())))
            .collect::<Result<Vec<u64>, _>>()?;
        let mut reserved = self
            .reserved
            .lock()
            .map_err(|_| PortError("the case-number reserve is poisoned".to_owned()))?;
        reserved.extend(drawn);
        // Smallest last, so it is handed out first.
        reserved.sort_unstable_by(|a, b| b.cmp(a));
        let value = reserved
            .pop()
            .ok_or_else(|| PortError("the case-number sequence returned nothing".to_owned()))?;
        Ok(self.cipher.case_number(value))
    }
}

/// Certificate serials per authority and year, from the `certificate_serials` table.
#[derive(Debug, Clone)]
pub struct PgCertificateSerials {
    pub pool: PgPool,
}

#[async_trait]
impl CertificateSerials for PgCertificateSerials {
    // Limitation: a serial is taken in its own transaction before the approval is stored,
    // so an approval that then loses a race leaves a gap in the serials.
    async fn next_serial(&self, authority_code: &str, year: i32) -> Result<u32, PortError> {
        let (serial,): (i32,) = sqlx::query_as(
            "INSERT INTO certificate_serials (authority_code, year, last_serial) VALUES ($1, $2, 1)
             ON CONFLICT (authority_code, year)
             DO UPDATE SET last_serial = certificate_serials.last_serial + 1
             RETURNING last_serial",
        )
        .bind(authority_code)
        .bind(year)
        .fetch_one(&self.pool)
        .await
        .map_err(port_error)?;
        u32::try_from(serial).map_err(|e| PortError(e.to_string()))
    }
}
