//! The rebuild rate: fills a fresh database with cases through the store's own append path
//! (the real aggregate, cqrs-es and the postgres-es repository, wired as the service wires
//! them, with no projectors running), then times `teacher-cert rebuild-projections` on it.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use api::adapters::{FileRegistry, PgCaseNumbers, PgCertificateSerials, PgOpenCases};
use domain::commands::{ApplicationForm, DeliveryMethodChoice, MailAddressForm, VerifiedIdentity};
use domain::ports::{ApplicationServices, CaseNumbers, SystemClock};
use domain::values::{
    Actor, IdentityCategory, Material, MaterialKind, MaterialSource, QualificationLevel, Role,
};
use domain::{ApplicationCommand, CaseNumber, CaseNumberCipher};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::task::JoinSet;

use crate::people::{files, Person};

/// Events each generated case yields: submitted, accepted, approved, shipped or collected.
const EVENTS_PER_CASE: u64 = 4;

/// How the generation went.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub events: u64,
    pub cases: u64,
    pub seconds: f64,
    pub events_per_second: f64,
}

/// Appends cases until at least `target_events` events are stored, from `workers` tasks,
/// each working its own applicant's cases one after another (a closed case frees the
/// applicant to apply again).
pub async fn generate(
    database_url: &str,
    registry_file: &Path,
    people: &[Person],
    target_events: u64,
    workers: usize,
) -> anyhow::Result<Generated> {
    let pool = api::database::connect_and_migrate(database_url).await?;
    let services = ApplicationServices {
        registry: Arc::new(FileRegistry::load(Some(registry_file))?),
        open_cases: Arc::new(PgOpenCases { pool: pool.clone() }),
        certificate_serials: Arc::new(PgCertificateSerials { pool: pool.clone() }),
        clock: Arc::new(SystemClock),
        rules: Default::default(),
        authority_code: "108".to_owned(),
    };
    let cqrs = Arc::new(api::repository::case_cqrs(pool.clone(), services));
    let case_numbers = Arc::new(PgCaseNumbers::new(
        pool.clone(),
        CaseNumberCipher::new(0x6265_6e63_685f_6b65),
    ));
    let stored = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for person in people.iter().take(workers.max(1)) {
        let person = person.clone();
        let (cqrs, case_numbers, stored) = (
            Arc::clone(&cqrs),
            Arc::clone(&case_numbers),
            Arc::clone(&stored),
        );
        tasks.spawn(async move {
            let mut case = 0_u64;
            while stored.load(Ordering::Relaxed) < target_events {
                let number = case_numbers.next_case_number().await?;
                let mail = case.is_multiple_of(2);
                for (command, actor) in lifecycle(&person, mail, number.clone()) {
                    execute(&cqrs, number.as_str(), command, actor).await?;
                }
                let total = stored.fetch_add(EVENTS_PER_CASE, Ordering::Relaxed) + EVENTS_PER_CASE;
                if total % 100_000 < EVENTS_PER_CASE {
                    eprintln!("  generated {total} events");
                }
                case += 1;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined.context("a generator panicked").and_then(|done| done) {
            tasks.abort_all();
            return Err(error);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    let events = u64::try_from(events).unwrap_or(0);
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    let events_per_second = events as f64 / seconds.max(f64::EPSILON);
    Ok(Generated {
        events,
        cases: events / EVENTS_PER_CASE,
        seconds,
        events_per_second,
    })
}

/// One case from submission to hand-over, each step by the role that takes it.
fn lifecycle(
    person: &Person,
    mail: bool,
    case_number: CaseNumber,
) -> Vec<(ApplicationCommand, Actor)> {
    let actor = |id: &str, role| Actor {
        id: id.to_owned(),
        role,
    };
    let delivered = if mail {
        ApplicationCommand::ShipCertificate {
            carrier: "EMS".to_owned(),
            tracking_number: "EA123456789CN".to_owned(),
        }
    } else {
        ApplicationCommand::RecordCollection
    };
    vec![
        (
            submission(person, mail, case_number),
            actor(&person.sub, Role::Applicant),
        ),
        (
            ApplicationCommand::AcceptApplication {
                note: Some("材料齐全".to_owned()),
            },
            actor("bench-clerk", Role::Clerk),
        ),
        (
            ApplicationCommand::ApproveApplication { note: None },
            actor("bench-approver", Role::Approver),
        ),
        (delivered, actor("bench-dispatcher", Role::Dispatcher)),
    ]
}

/// The submission the API would build for `person`, with the uploads it would resolve.
fn submission(person: &Person, mail: bool, case_number: CaseNumber) -> ApplicationCommand {
    let upload = |kind, bytes: Vec<u8>, media_type: &str| Material {
        kind,
        source: MaterialSource::Uploaded,
        sha256: api::materials::hex_sha256(&bytes),
        size: bytes.len() as u64,
        media_type: media_type.to_owned(),
    };
    ApplicationCommand::SubmitApplication {
        case_number,
        identity: VerifiedIdentity {
            user_id: person.sub.clone(),
            name: person.name.clone(),
            assurance_level: "L2".to_owned(),
            id_doc_type: Some("RESIDENT_ID_CARD".to_owned()),
            id_doc_number: Some(person.id_doc_number.clone()),
            face_verified_at: Some(chrono::Utc::now()),
        },
        form: ApplicationForm {
            face_authorization_consent: true,
            identity_category: IdentityCategory::MainlandResident,
            qualification_level: QualificationLevel::PrimarySchool,
            subject: Some("语文".to_owned()),
            delivery_method: if mail {
                DeliveryMethodChoice::Mail
            } else {
                DeliveryMethodChoice::WindowPickup
            },
            mail_to: mail.then(|| MailAddressForm {
                recipient_name: person.name.clone(),
                phone: "13800138000".to_owned(),
                district: "海淀区".to_owned(),
                street: "中关村大街1号".to_owned(),
                postal_code: "100080".to_owned(),
            }),
            contact_phone: "13800138000".to_owned(),
        },
        uploads: vec![
            upload(MaterialKind::Photo, files::png(), "image/png"),
            upload(
                MaterialKind::PhysicalExamForm,
                files::pdf(),
                "application/pdf",
            ),
        ],
    }
}

/// Runs one command with the metadata the service records on every event.
async fn execute(
    cqrs: &api::repository::CaseCqrs,
    case_number: &str,
    command: ApplicationCommand,
    actor: Actor,
) -> anyhow::Result<()> {
    let name = command.name();
    let metadata = HashMap::from([
        ("actor_id".to_owned(), actor.id.clone()),
        ("actor_role".to_owned(), actor.role.as_str().to_owned()),
        ("command_id".to_owned(), uuid::Uuid::new_v4().to_string()),
        (
            "correlation_id".to_owned(),
            uuid::Uuid::new_v4().to_string(),
        ),
    ]);
    cqrs.execute_with_metadata(case_number, command, metadata)
        .await
        .map_err(|error| anyhow::anyhow!("{name} on {case_number} failed: {error}"))
}

/// One read model's rebuild, as the rebuild command reported it.
#[derive(Debug, Clone, Serialize)]
pub struct ReadModelRebuild {
    pub read_model: String,
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
}

/// The whole rebuild, timed from outside, with each read model's own report.
#[derive(Debug, Clone, Serialize)]
pub struct Rebuilt {
    pub wall_seconds: f64,
    pub read_models: Vec<ReadModelRebuild>,
}

/// Runs `teacher-cert rebuild-projections` on `database_url` and reads its JSON log.
pub async fn rebuild(
    binary: &Path,
    work_dir: &Path,
    database_url: &str,
) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .arg("rebuild-projections")
        .current_dir(work_dir)
        .env("DATABASE_URL", database_url)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} rebuild-projections", binary.display()))?;
    let stderr = child.stderr.take().context("no stderr from the rebuild")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut read_models = Vec::new();
    let mut log = Vec::new();
    while let Some(line) = lines.next_line().await? {
        if let Some(report) = read_model_report(&line) {
            read_models.push(report);
        }
        log.push(line);
    }
    let status = child.wait().await?;
    let wall_seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!(
            "rebuild-projections exited with {status}:\n{}",
            log.join("\n")
        );
    }
    if read_models.is_empty() {
        bail!(
            "rebuild-projections reported no read model:\n{}",
            log.join("\n")
        );
    }
    Ok(Rebuilt {
        wall_seconds,
        read_models,
    })
}

/// A "read model rebuilt" log line (JSON, fields flattened) as a report.
fn read_model_report(line: &str) -> Option<ReadModelRebuild> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != "read model rebuilt" {
        return None;
    }
    let events = value.get("events_applied")?.as_u64()?;
    // `tracing` writes a `u128` field (Duration::as_millis) as a JSON string.
    let duration_ms = match value.get("duration_ms")? {
        serde_json::Value::String(text) => text.parse().ok()?,
        number => number.as_f64()?,
    };
    let seconds = duration_ms / 1000.0;
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    let events_per_second = events as f64 / seconds.max(f64::EPSILON);
    Some(ReadModelRebuild {
        read_model: value.get("projector")?.as_str()?.to_owned(),
        events,
        seconds,
        events_per_second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rebuild_report_is_read_from_its_json_log_line() {
        let line = r#"{"timestamp":"2026-12-04T09:30:00Z","level":"INFO","message":"read model rebuilt","projector":"queues","events_applied":200000,"duration_ms":"4000","events_per_second":50000.0,"position":"9-200000","target":"api::progress"}"#;
        let report = read_model_report(line);
        let report = report.as_ref();
        assert_eq!(report.map(|r| r.read_model.as_str()), Some("queues"));
        assert_eq!(report.map(|r| r.events), Some(200_000));
        assert_eq!(report.map(|r| r.events_per_second), Some(50_000.0));
    }

    #[test]
    fn a_numeric_duration_is_read_as_well() {
        let line = r#"{"message":"read model rebuilt","projector":"my_submissions","events_applied":10,"duration_ms":500}"#;
        assert_eq!(read_model_report(line).map(|r| r.seconds), Some(0.5));
    }

    #[test]
    fn other_log_lines_are_not_reports() {
        assert!(read_model_report(r#"{"message":"rebuilding","events_applied":100000}"#).is_none());
        assert!(read_model_report("not json").is_none());
    }
}
