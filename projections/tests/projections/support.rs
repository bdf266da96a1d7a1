//! A fresh database per test, and builders for the events the tests append.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::events::ApplicantIdentity;
use domain::values::{
    BeijingDistrict, Delivery, Gender, IdDocType, IdDocument, IdentityCategory, MailAddress,
    Material, MaterialKind, MaterialSource, Phone, PostalCode, QualificationLevel, Subject, Text,
};
use domain::{ApplicationEvent, CaseNumberCipher, Reason};
use projections::feed;
use sqlx::postgres::PgPoolOptions;
use sqlx::types::Json;
use sqlx::{Connection, Executor, PgConnection, PgPool};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A database of its own, migrated, dropped when the value is dropped (even on panic).
pub struct TestDb {
    pub pool: PgPool,
    name: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let name = format!("proj_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{SERVER}/postgres"))
            .await
            .unwrap();
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(&format!("{SERVER}/{name}"))
            .await
            .unwrap();
        sqlx::migrate!("../migrations").run(&pool).await.unwrap();
        Self { pool, name }
    }

    /// A connection outside the pool, for holding a transaction open.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&format!("{SERVER}/{}", self.name))
            .await
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop_database = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await; a thread with its own runtime does the work.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&format!("{SERVER}/postgres"))
                    .await
                    .unwrap();
                admin.execute(drop_database.as_str()).await.unwrap();
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A distinct, valid case number for each `n`.
pub fn case_number(n: u64) -> domain::CaseNumber {
    CaseNumberCipher::new(20_261_204).case_number(n)
}

/// 2026-12-04 09:00 Beijing time, plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 1, 0, 0).unwrap() + Duration::minutes(minutes)
}

pub fn text(raw: &str) -> Text {
    Text::parse(raw, 500, Reason::InvalidText).unwrap()
}

pub fn mail() -> Delivery {
    Delivery::Mail {
        mail_to: MailAddress {
            recipient_name: text("李娜"),
            phone: Phone::parse("13800138000").unwrap(),
            district: BeijingDistrict::parse("海淀区").unwrap(),
            street: text("中关村大街1号"),
            postal_code: PostalCode::parse("100080").unwrap(),
        },
    }
}

pub fn window() -> Delivery {
    Delivery::WindowPickup
}

/// `ApplicationSubmitted` for case `n` by `applicant`, at `at(minute)`. Each `n` has its
/// own identity document, so cases never collide on the one-open-case rule.
pub fn submitted(n: u64, applicant: &str, minute: i64, delivery: Delivery) -> ApplicationEvent {
    ApplicationEvent::ApplicationSubmitted {
        case_number: case_number(n),
        applicant: ApplicantIdentity {
            user_id: applicant.to_owned(),
            name: "李娜".to_owned(),
            id_document: IdDocument::new(IdDocType::ResidentIdCard, &format!("1101011990{n:08}"))
                .unwrap(),
            gender: Some(Gender::Female),
            birth_date: None,
        },
        identity_category: IdentityCategory::MainlandResident,
        qualification_level: QualificationLevel::PrimarySchool,
        subject: Some(Subject::parse("语文").unwrap()),
        contact_phone: Phone::parse("13800138000").unwrap(),
        delivery,
        materials: vec![Material {
            kind: MaterialKind::Photo,
            source: MaterialSource::Uploaded,
            sha256: "ab".repeat(32),
            size: 2048,
            media_type: "image/jpeg".to_owned(),
        }],
        findings: Vec::new(),
        submitted_at: at(minute),
    }
}

pub fn accepted(minute: i64, note: Option<&str>) -> ApplicationEvent {
    ApplicationEvent::ApplicationAccepted {
        note: note.map(text),
        at: at(minute),
    }
}

pub fn not_accepted(minute: i64, reason: &str) -> ApplicationEvent {
    ApplicationEvent::ApplicationNotAccepted {
        reason: text(reason),
        at: at(minute),
    }
}

pub fn approved(minute: i64, certificate_number: &str) -> ApplicationEvent {
    ApplicationEvent::ApplicationApproved {
        certificate_number: serde_json::from_value(certificate_number.into()).unwrap(),
        note: Some(text("材料齐全")),
        at: at(minute),
    }
}

pub fn not_approved(minute: i64, reason: &str) -> ApplicationEvent {
    ApplicationEvent::ApplicationNotApproved {
        reason: text(reason),
        rights: "可于60日内申请行政复议".to_owned(),
        at: at(minute),
    }
}

pub fn shipped(minute: i64) -> ApplicationEvent {
    ApplicationEvent::CertificateShipped {
        carrier: text("EMS"),
        tracking_number: text("1234567890123"),
        at: at(minute),
    }
}

pub fn collected(minute: i64) -> ApplicationEvent {
    ApplicationEvent::CertificateCollected { at: at(minute) }
}

/// Appends `event` to case `n` as postgres-es would, through `conn`.
pub async fn append_on(conn: &mut PgConnection, n: u64, sequence: i64, event: &ApplicationEvent) {
    let payload = serde_json::to_value(event).unwrap();
    let event_type = payload.as_object().unwrap().keys().next().unwrap().clone();
    let command_id = uuid::Uuid::new_v4().to_string();
    let metadata = serde_json::json!({
        "actor_id": "clerk-1",
        "actor_role": "clerk",
        "command_id": command_id,
        "correlation_id": command_id,
    });
    sqlx::query(
        "INSERT INTO events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Application', $1, $2, $3, '1.0', $4, $5)",
    )
    .bind(case_number(n).as_str())
    .bind(sequence)
    .bind(event_type)
    .bind(Json(payload))
    .bind(Json(metadata))
    .execute(conn)
    .await
    .unwrap();
}

/// Appends `events` to case `n` as sequences 1, 2, …, each in its own transaction, and
/// waits until the feed delivers them.
pub async fn append_case(pool: &PgPool, n: u64, events: &[ApplicationEvent]) {
    append_from(pool, n, 1, events).await;
}

/// Appends `events` to case `n` from sequence `first` on, each in its own transaction, and
/// waits until the feed delivers them.
pub async fn append_from(pool: &PgPool, n: u64, first: i64, events: &[ApplicationEvent]) {
    let mut conn = pool.acquire().await.unwrap();
    for (sequence, event) in (first..).zip(events) {
        append_on(&mut conn, n, sequence, event).await;
    }
    settle(pool).await;
}

/// Waits until the feed delivers every committed event. Other tests' transactions on the
/// same server hold the feed back for a moment.
pub async fn settle(pool: &PgPool) {
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let target = feed::committed_head(pool).await.unwrap();
        while feed::head_position(pool).await.unwrap() < target {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the feed stayed held back for ten seconds");
}
