//! The end-to-end test harness: spawns the real service on port 0 against a fresh
//! PostgreSQL database, mints tokens for the fictional people of the development registry,
//! and speaks GraphQL over HTTP (JSON and multipart) and WebSocket (graphql-transport-ws).

use std::time::Duration;

use anyhow::{bail, Context};
use api::auth::{sign_development_token, Claims};
use api::{Application, Settings};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The PostgreSQL server tests use; `TEST_DATABASE_SERVER` overrides it.
pub fn database_server() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub const TEST_SECRET: &str = "test-secret-not-for-production";

/// A running service with its own database and materials folder.
pub struct TestApp {
    pub address: String,
    pub database_name: String,
    pub materials_dir: std::path::PathBuf,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Settings for a test service on `database_name`.
fn settings(database_name: &str, materials_dir: &std::path::Path) -> anyhow::Result<Settings> {
    let url = format!("{}/{}", database_server(), database_name);
    let materials = format!("file://{}", materials_dir.display());
    Ok(Settings::from_args([
        "--database-url",
        &url,
        "--bind-addr",
        "127.0.0.1:0",
        "--auth-jwt-secret",
        TEST_SECRET,
        "--materials-url",
        &materials,
        "--case-number-key",
        "12345",
        "--max-photo-bytes",
        "65536",
        "--max-document-bytes",
        "262144",
    ])?)
}

impl TestApp {
    /// Starts the service on a brand-new database.
    pub async fn spawn() -> anyhow::Result<Self> {
        let database_name = format!("tc_test_{}", uuid::Uuid::new_v4().simple());
        let materials_dir = std::env::temp_dir().join(&database_name);
        Self::start(database_name, materials_dir).await
    }

    async fn start(database_name: String, materials_dir: std::path::PathBuf) -> anyhow::Result<Self> {
        let app = Application::build(settings(&database_name, &materials_dir)?).await?;
        let address = format!("http://{}", app.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            address,
            database_name,
            materials_dir,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops the service gracefully, as SIGTERM would, and waits until it has stopped.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }

    /// Stops this service and starts a new one on the same database and files.
    pub async fn restart(mut self) -> anyhow::Result<Self> {
        self.stop().await?;
        let database_name = std::mem::take(&mut self.database_name);
        let materials_dir = std::mem::take(&mut self.materials_dir);
        Self::start(database_name, materials_dir).await
    }

    /// A direct connection to this test's database, for assertions on what was stored.
    pub async fn db(&self) -> anyhow::Result<PgConnection> {
        let url = format!("{}/{}", database_server(), self.database_name);
        Ok(PgConnection::connect(&url).await?)
    }

    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.address)
    }

    /// Posts one GraphQL operation as JSON; `token` is sent as a bearer token when given.
    pub async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<GraphqlResponse> {
        let mut request = self
            .http
            .post(self.graphql_url())
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        GraphqlResponse::read(response).await
    }

    /// Uploads one file with the GraphQL multipart request spec.
    pub async fn upload(
        &self,
        token: &str,
        kind: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<GraphqlResponse> {
        let operations = json!({
            "query": "mutation($kind: MaterialKind!, $file: Upload!) { uploadMaterial(kind: $kind, file: $file) { id kind sha256 size mediaType } }",
            "variables": { "kind": kind, "file": null },
        });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", json!({ "0": ["variables.file"] }).to_string())
            .part(
                "0",
                reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()),
            );
        let response = self
            .http
            .post(self.graphql_url())
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await?;
        GraphqlResponse::read(response).await
    }

    /// Uploads the files every applicant needs (photo and physical examination form, plus
    /// the no-criminal-record certificate when `with_certificate`) and returns their ids.
    pub async fn upload_required(
        &self,
        token: &str,
        with_certificate: bool,
    ) -> anyhow::Result<Vec<String>> {
        let mut uploads = vec![
            ("PHOTO", "photo.png", files::png()),
            ("PHYSICAL_EXAM_FORM", "exam.pdf", files::pdf()),
        ];
        if with_certificate {
            uploads.push(("NO_CRIMINAL_RECORD_CERTIFICATE", "record.pdf", files::pdf()));
        }
        let mut ids = Vec::new();
        for (kind, name, bytes) in uploads {
            let response = self.upload(token, kind, name, bytes).await?;
            ids.push(response.data_str("/uploadMaterial/id")?);
        }
        Ok(ids)
    }

    /// Submits a complete application for `person` with the given delivery and returns the
    /// response. `extra` is merged into the input, so a test can change any one field.
    pub async fn submit(
        &self,
        person: &Person,
        token: &str,
        material_ids: &[String],
        extra: Value,
    ) -> anyhow::Result<GraphqlResponse> {
        let mut input = json!({
            "idempotencyKey": uuid::Uuid::new_v4().to_string(),
            "faceAuthorizationConsent": true,
            "identityCategory": person.identity_category,
            "qualificationLevel": person.level,
            "subject": person.subject,
            "materialIds": material_ids,
            "delivery": { "method": "WINDOW_PICKUP" },
            "contactPhone": "13800138000",
        });
        merge(&mut input, extra);
        self.graphql(Some(token), SUBMIT, json!({ "input": input })).await
    }

    /// Opens a WebSocket subscription (graphql-transport-ws) with `token` in
    /// `connection_init`, and waits until the server acknowledged it.
    pub async fn subscribe(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Subscription> {
        let url = format!("{}/graphql/ws", self.address.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse()?,
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        socket.send(Message::text(init.to_string())).await?;
        let ack = next_json(&mut socket).await?;
        if ack["type"] != "connection_ack" {
            bail!("expected connection_ack, got {ack}");
        }
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        socket.send(Message::text(subscribe.to_string())).await?;
        Ok(Subscription { socket })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .context("no WebSocket message within 10 s")?
            .context("the WebSocket closed")??;
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text)?),
            Message::Close(frame) => bail!("the WebSocket closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// A live subscription.
pub struct Subscription {
    socket: Socket,
}

impl Subscription {
    /// The next `next` payload's data, skipping pings; fails after 10 s of silence.
    pub async fn next_data(&mut self) -> anyhow::Result<Value> {
        loop {
            let message = next_json(&mut self.socket).await?;
            match message["type"].as_str() {
                Some("next") => return Ok(message["payload"].clone()),
                Some("ping") => {
                    let pong = json!({ "type": "pong" });
                    self.socket.send(Message::text(pong.to_string())).await?;
                }
                Some("pong") => {}
                _ => return Ok(message),
            }
        }
    }
}

/// A GraphQL response: its HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct GraphqlResponse {
    pub status: u16,
    pub body: Value,
}

impl GraphqlResponse {
    async fn read(response: reqwest::Response) -> anyhow::Result<Self> {
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = serde_json::from_str(&text)
            .with_context(|| format!("HTTP {status}: the body is not JSON: {text}"))?;
        Ok(Self { status, body })
    }

    /// The value at a JSON pointer under `data`, failing when the response has errors.
    pub fn data(&self, pointer: &str) -> anyhow::Result<Value> {
        if let Some(errors) = self.body.get("errors") {
            bail!("the response has errors: {errors}");
        }
        self.body
            .pointer(&format!("/data{pointer}"))
            .cloned()
            .with_context(|| format!("no data at {pointer} in {}", self.body))
    }

    pub fn data_str(&self, pointer: &str) -> anyhow::Result<String> {
        self.data(pointer)?
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("data at {pointer} is not a string"))
    }

    /// The first error's `extensions.code`, or `None` when there is no error.
    pub fn error_code(&self) -> Option<String> {
        self.error_extension("code")
    }

    /// The first error's `extensions.reason`.
    pub fn error_reason(&self) -> Option<String> {
        self.error_extension("reason")
    }

    pub fn error_extension(&self, name: &str) -> Option<String> {
        self.body
            .pointer(&format!("/errors/0/extensions/{name}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

pub const SUBMIT: &str = "mutation($input: SubmitApplicationInput!) {
  submitApplication(input: $input) {
    submission {
      caseNumber status statusLabel qualificationLevel subject identityCategory applicantName
      delivery { method mailTo { recipientName phone district street postalCode } }
      materials { kind sha256 source }
      submittedAt updatedAt certificateNumber decisionReason
      shipment { carrier trackingNumber shippedAt }
      timeline { status label at note }
    }
  }
}";

/// A fictional person of the development registry (`api/fixtures/registry.json`).
#[derive(Debug, Clone)]
pub struct Person {
    pub sub: &'static str,
    pub name: &'static str,
    pub id_doc_type: &'static str,
    pub id_doc_number: &'static str,
    pub identity_category: &'static str,
    pub level: &'static str,
    pub subject: Option<&'static str>,
}

pub mod people {
    use super::Person;

    /// 张三: mainland, primary school 语文.
    pub const ZHANG_SAN: Person = Person {
        sub: "u-1001",
        name: "张三",
        id_doc_type: "RESIDENT_ID_CARD",
        id_doc_number: "110199199803159917",
        identity_category: "MAINLAND_RESIDENT",
        level: "PRIMARY_SCHOOL",
        subject: Some("语文"),
    };

    /// 李四: mainland, junior middle school 数学.
    pub const LI_SI: Person = Person {
        sub: "u-1002",
        name: "李四",
        id_doc_type: "RESIDENT_ID_CARD",
        id_doc_number: "110199199611029923",
        identity_category: "MAINLAND_RESIDENT",
        level: "JUNIOR_MIDDLE_SCHOOL",
        subject: Some("数学"),
    };

    /// 王五: mainland, kindergarten.
    pub const WANG_WU: Person = Person {
        sub: "u-1003",
        name: "王五",
        id_doc_type: "RESIDENT_ID_CARD",
        id_doc_number: "110199199907089933",
        identity_category: "MAINLAND_RESIDENT",
        level: "KINDERGARTEN",
        subject: None,
    };

    /// 陈大文: Hong Kong resident, kindergarten; uploads a no-criminal-record certificate.
    pub const CHAN_TAI_MAN: Person = Person {
        sub: "u-2001",
        name: "陈大文",
        id_doc_type: "HK_MACAO_RESIDENCE_PERMIT",
        id_doc_number: "810000199505059959",
        identity_category: "HONG_KONG_MACAO_RESIDENT",
        level: "KINDERGARTEN",
        subject: None,
    };

    /// Someone no department knows.
    pub const STRANGER: Person = Person {
        sub: "u-9001",
        name: "孙八",
        id_doc_type: "RESIDENT_ID_CARD",
        id_doc_number: "110101199001011234",
        identity_category: "MAINLAND_RESIDENT",
        level: "PRIMARY_SCHOOL",
        subject: Some("数学"),
    };
}

/// Claims for an applicant token of `person`, valid for an hour, face verified just now.
pub fn applicant_claims(person: &Person) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: person.sub.to_owned(),
        name: person.name.to_owned(),
        roles: vec!["applicant".to_owned()],
        acr: Some("L2".to_owned()),
        id_doc_type: Some(person.id_doc_type.to_owned()),
        id_doc_number: Some(person.id_doc_number.to_owned()),
        face_verified_at: Some(now),
        exp: now + 3600,
        iat: Some(now),
        iss: None,
    }
}

/// Claims for a staff member with one role.
pub fn staff_claims(sub: &str, role: &str) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: sub.to_owned(),
        name: format!("{role} {sub}"),
        roles: vec![role.to_owned()],
        acr: Some("L2".to_owned()),
        id_doc_type: None,
        id_doc_number: None,
        face_verified_at: None,
        exp: now + 3600,
        iat: Some(now),
        iss: None,
    }
}

/// Signs claims with the test secret.
pub fn sign(claims: &Claims) -> String {
    sign_development_token(claims, TEST_SECRET).unwrap_or_else(|error| panic!("signing: {error}"))
}

pub fn applicant_token(person: &Person) -> String {
    sign(&applicant_claims(person))
}

pub fn staff_token(role: &str) -> String {
    sign(&staff_claims(&format!("staff-{role}"), role))
}

/// Merges `extra` into `target`, object by object; `null` in `extra` removes a key.
pub fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(target), Value::Object(extra)) => {
            for (key, value) in extra {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, extra) => *target = extra,
    }
}

/// Small real files of each accepted type.
pub mod files {
    /// A 1×1 PNG image.
    pub fn png() -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 13]);
        bytes.extend_from_slice(b"IHDR");
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xDE]);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(b"IEND");
        bytes.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
        bytes
    }

    /// The start of a JPEG file.
    pub fn jpeg() -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        bytes.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        bytes.extend_from_slice(&[0xFF, 0xD9]);
        bytes
    }

    /// A minimal PDF document.
    pub fn pdf() -> Vec<u8> {
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
    }
}
