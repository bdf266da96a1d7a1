//! The end-to-end test harness: spawns the real service on port 0 against a fresh
//! PostgreSQL database, mints tokens for the fictional people of the development registry,
//! and speaks GraphQL over HTTP (JSON and multipart) and WebSocket (graphql-transport-ws).

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Once;
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

/// Test databases are named `tc_test_<unix seconds>_<random>`; leftovers older than this
/// (from killed runs, or kept after a failure) are dropped by the next run's first spawn.
const STALE_DATABASE_AGE_SECS: i64 = 3600;

/// Set `TEST_KEEP_DATABASES=1` to keep every test's database for inspection.
const KEEP_DATABASES_VAR: &str = "TEST_KEEP_DATABASES";

/// A running service with its own database and materials folder.
///
/// Dropping it stops the service, drops its database and removes its materials folder,
/// except while a test is panicking (the database is kept for inspection and swept by a
/// later run once it is an hour old) or when `TEST_KEEP_DATABASES` is set.
pub struct TestApp {
    pub address: String,
    pub database_name: String,
    pub materials_dir: PathBuf,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Settings for a test service on `database_name`.
fn settings(database_name: &str, materials_dir: &Path) -> anyhow::Result<Settings> {
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
        // Generous: other tests' databases share the cluster, and with it the feed's horizon.
        "--read-wait-ms",
        "10000",
    ])?)
}

impl TestApp {
    /// Starts the service on a brand-new database.
    pub async fn spawn() -> anyhow::Result<Self> {
        static SWEEP: Once = Once::new();
        SWEEP.call_once(|| {
            if let Err(error) = blocking(sweep_stale_databases()) {
                eprintln!("could not sweep stale test databases: {error:#}");
            }
        });
        let database_name = format!(
            "tc_test_{}_{}",
            chrono::Utc::now().timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let materials_dir = std::env::temp_dir().join(&database_name);
        Self::start(database_name, materials_dir).await
    }

    async fn start(database_name: String, materials_dir: PathBuf) -> anyhow::Result<Self> {
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

    /// Points this client at another service (a separate process on the same database), so
    /// that every helper talks to it.
    pub fn point_at(&mut self, address: &str) {
        self.address = address.to_owned();
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
        self.graphql(Some(token), SUBMIT, json!({ "input": input }))
            .await
    }

    /// Opens a WebSocket subscription (graphql-transport-ws) with `token` in
    /// `connection_init`, and waits until the server acknowledged it and has read the
    /// subscription (see `Subscription::ready`).
    pub async fn subscribe(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Subscription> {
        self.subscribe_as(Some(token), query, variables).await
    }

    /// `subscribe`, with no token at all when `token` is `None`.
    pub async fn subscribe_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Subscription> {
        let url = format!("{}/graphql/ws", self.address.replacen("http", "ws", 1));
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        let init = json!({ "type": "connection_init", "payload": payload });
        socket.send(Message::text(init.to_string())).await?;
        let ack = next_json(&mut socket).await?;
        if ack["type"] != "connection_ack" {
            bail!("expected connection_ack, got {ack}");
        }
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        socket.send(Message::text(subscribe.to_string())).await?;
        let mut subscription = Subscription {
            socket,
            pending: VecDeque::new(),
        };
        subscription.ready().await?;
        Ok(subscription)
    }

    /// Posts a raw body with the given content type, for requests the typed helpers would
    /// never build.
    pub async fn post_raw(
        &self,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<GraphqlResponse> {
        let mut request = self
            .http
            .post(self.graphql_url())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        GraphqlResponse::read(request.send().await?).await
    }

    /// Sends one operation with `GET /graphql?query=…`.
    pub async fn graphql_get(
        &self,
        token: Option<&str>,
        query: &str,
    ) -> anyhow::Result<GraphqlResponse> {
        let mut request = self
            .http
            .get(self.graphql_url())
            .header(reqwest::header::ACCEPT, "application/json")
            .query(&[("query", query)]);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        GraphqlResponse::read(request.send().await?).await
    }

    /// Uploads the required files and submits a complete application (window pickup
    /// unless `extra` says otherwise), failing unless it succeeds; returns the case number.
    pub async fn submit_case(&self, person: &Person, extra: Value) -> anyhow::Result<String> {
        let token = applicant_token(person);
        let with_certificate = person.identity_category != "MAINLAND_RESIDENT";
        let materials = self.upload_required(&token, with_certificate).await?;
        let response = self.submit(person, &token, &materials, extra).await?;
        response.data_str("/submitApplication/submission/caseNumber")
    }

    /// Runs one decision mutation (`acceptApplication`, `rejectApplication`, …) with `input`,
    /// asking for the case's fields in `SUBMISSION_FIELDS`.
    pub async fn decide(
        &self,
        token: &str,
        mutation: &str,
        input: Value,
    ) -> anyhow::Result<GraphqlResponse> {
        let mut input_type = mutation.to_owned();
        if let Some(first) = input_type.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        let query = format!(
            "mutation($input: {input_type}Input!) {{ {mutation}(input: $input) {{ submission {{ {SUBMISSION_FIELDS} }} }} }}"
        );
        self.graphql(Some(token), &query, json!({ "input": input }))
            .await
    }

    /// `decide`, failing unless the decision was taken; returns the case after it.
    pub async fn decide_ok(
        &self,
        role: &str,
        mutation: &str,
        input: Value,
    ) -> anyhow::Result<Value> {
        let response = self.decide(&staff_token(role), mutation, input).await?;
        response.data(&format!("/{mutation}/submission"))
    }

    /// The case as `submission(caseNumber)` shows it to `token`'s holder (`null` if hidden).
    pub async fn submission(&self, token: &str, case_number: &str) -> anyhow::Result<Value> {
        let query = format!(
            "query($caseNumber: ID!) {{ submission(caseNumber: $caseNumber) {{ {SUBMISSION_FIELDS} }} }}"
        );
        let response = self
            .graphql(Some(token), &query, json!({ "caseNumber": case_number }))
            .await?;
        response.data("/submission")
    }

    /// The case numbers in one work queue right now, oldest first, read with the role
    /// that works it.
    pub async fn queue(&self, kind: &str) -> anyhow::Result<Vec<String>> {
        let query = "query($kind: QueueKind!) { queue(kind: $kind, first: 100) {
            totalCount edges { node { caseNumber } } } }";
        let response = self
            .graphql(
                Some(&staff_token(queue_role(kind))),
                query,
                json!({ "kind": kind }),
            )
            .await?;
        let edges = response.data("/queue/edges")?;
        Ok(edges
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|edge| {
                edge.pointer("/node/caseNumber")?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect())
    }

    /// Waits until the `kind` queue holds `case_number` (`present`) or no longer does.
    pub async fn wait_for_queue(
        &self,
        kind: &str,
        case_number: &str,
        present: bool,
    ) -> anyhow::Result<()> {
        let what = format!(
            "case {case_number} {} the {kind} queue",
            if present { "is in" } else { "has left" }
        );
        eventually(&what, move || async move {
            let queue = self.queue(kind).await?;
            Ok((queue.iter().any(|case| case == case_number) == present).then_some(()))
        })
        .await
    }

    /// Events stored in this test's database, of one type or (with `None`) of any.
    pub async fn count_events(&self, event_type: Option<&str>) -> anyhow::Result<i64> {
        let mut conn = self.db().await?;
        let count = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE $1::text IS NULL OR event_type = $1",
        )
        .bind(event_type)
        .fetch_one(&mut conn)
        .await?;
        conn.close().await.ok();
        Ok(count)
    }
}

/// The staff role that works a queue.
pub fn queue_role(kind: &str) -> &'static str {
    match kind {
        "APPROVAL" => "approver",
        "DISPATCH" => "dispatcher",
        _ => "clerk",
    }
}

/// How often `eventually` looks, and for how long at most.
pub const EVENTUALLY_INTERVAL: Duration = Duration::from_millis(50);
pub const EVENTUALLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `probe` every 50 ms until it returns `Some`, for at most 10 s: how tests wait for
/// read models that asynchronous projectors fill. A probe error ends the wait at once.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY_TIMEOUT;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("waited {EVENTUALLY_TIMEOUT:?} in vain until {what}");
        }
        tokio::time::sleep(EVENTUALLY_INTERVAL).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Emptied by `restart`, which hands the database on to the next service.
        if self.database_name.is_empty()
            || std::thread::panicking()
            || std::env::var_os(KEEP_DATABASES_VAR).is_some()
        {
            return;
        }
        let name = std::mem::take(&mut self.database_name);
        let dir = std::mem::take(&mut self.materials_dir);
        // The server may still hold connections: FORCE ends them.
        if let Err(error) = blocking(drop_database(name.clone())) {
            eprintln!("could not drop the test database {name}: {error:#}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Runs `work` to completion on a runtime of its own, on a thread of its own, so that it
/// can be called from `Drop` and from inside any test's runtime.
fn blocking<F>(work: F) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(work)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the clean-up thread panicked"))?
}

async fn maintenance_connection() -> anyhow::Result<PgConnection> {
    let url = format!("{}/postgres", database_server());
    PgConnection::connect(&url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

async fn drop_database(name: String) -> anyhow::Result<()> {
    let mut conn = maintenance_connection().await?;
    let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    sqlx::query(&statement).execute(&mut conn).await?;
    conn.close().await.ok();
    Ok(())
}

/// The creation time (Unix seconds) a test database's name records, if it is one.
fn database_created_at(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("tc_test_")?;
    let (seconds, _) = rest.split_once('_')?;
    seconds.parse().ok()
}

/// Drops test databases (and their materials folders) left over from runs at least an
/// hour old. Younger ones may belong to a run still going on this server.
async fn sweep_stale_databases() -> anyhow::Result<()> {
    let mut conn = maintenance_connection().await?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'tc\\_test\\_%'")
            .fetch_all(&mut conn)
            .await?;
    conn.close().await.ok();
    let now = chrono::Utc::now().timestamp();
    for name in names {
        let stale = database_created_at(&name)
            .is_some_and(|created| now - created >= STALE_DATABASE_AGE_SECS);
        if stale {
            drop_database(name.clone()).await?;
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&name));
        }
    }
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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
    /// Messages that arrived while `ready` waited for its pong.
    pending: VecDeque<Value>,
}

impl Subscription {
    /// Waits for a ping's pong. The server reads a connection's messages in order, so once
    /// the pong is back it has read the `subscribe` sent before the ping and started the
    /// subscription (it polls the new stream right after answering).
    pub async fn ready(&mut self) -> anyhow::Result<()> {
        let ping = json!({ "type": "ping" });
        self.socket.send(Message::text(ping.to_string())).await?;
        loop {
            let message = next_json(&mut self.socket).await?;
            match message["type"].as_str() {
                Some("pong") => return Ok(()),
                Some("ping") => self.pong().await?,
                _ => self.pending.push_back(message),
            }
        }
    }

    async fn pong(&mut self) -> anyhow::Result<()> {
        let pong = json!({ "type": "pong" });
        self.socket.send(Message::text(pong.to_string())).await?;
        Ok(())
    }

    /// The next `next` payload (`{"data": …}` or `{"errors": …}`), skipping pings; any other
    /// message (`error`, `complete`) is returned whole. Fails after 10 s of silence.
    pub async fn next_data(&mut self) -> anyhow::Result<Value> {
        loop {
            let message = match self.pending.pop_front() {
                Some(message) => message,
                None => next_json(&mut self.socket).await?,
            };
            match message["type"].as_str() {
                Some("next") => return Ok(message["payload"].clone()),
                Some("ping") => self.pong().await?,
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
    /// Reads a response whose body must be JSON, whatever its status.
    pub async fn read(response: reqwest::Response) -> anyhow::Result<Self> {
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

    /// Fails the test unless the first error carries `extensions.code` `code` and
    /// `extensions.reason` `reason` (`None`: no reason), and every field came back null.
    #[track_caller]
    pub fn assert_refused(&self, code: &str, reason: Option<&str>) {
        assert_eq!(
            self.error_code().as_deref(),
            Some(code),
            "extensions.code in {}",
            self.body
        );
        assert_eq!(
            self.error_reason().as_deref(),
            reason,
            "extensions.reason in {}",
            self.body
        );
        let nothing = match self.body.get("data") {
            None | Some(Value::Null) => true,
            Some(Value::Object(fields)) => fields.values().all(Value::is_null),
            Some(_) => false,
        };
        assert!(nothing, "a refused operation returned data: {}", self.body);
    }

    /// The first error's `extensions.field`.
    pub fn error_field(&self) -> Option<String> {
        self.error_extension("field")
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

/// Every field of a `Submission` the tests look at.
pub const SUBMISSION_FIELDS: &str = "caseNumber status statusLabel qualificationLevel subject
  identityCategory applicantName
  delivery { method mailTo { recipientName phone district street postalCode } }
  materials { kind sha256 source }
  submittedAt updatedAt certificateNumber decisionReason
  shipment { carrier trackingNumber shippedAt }
  timeline { status label at note }";

/// A complete Beijing mail address, for `delivery.mailTo`.
pub fn beijing_mail_address() -> Value {
    json!({
        "recipientName": "张三",
        "phone": "13800138000",
        "district": "海淀区",
        "street": "中关村大街1号",
        "postalCode": "100080",
    })
}

/// The `extra` for `submit` that asks for mail delivery to `mail_to`.
pub fn mail_delivery(mail_to: Value) -> Value {
    json!({ "delivery": { "method": "MAIL", "mailTo": mail_to } })
}

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

/// The string at a JSON pointer of `value`.
pub fn text(value: &Value, pointer: &str) -> anyhow::Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at {pointer} in {value}"))
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
        bytes.extend_from_slice(&[
            0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x90, 0x77, 0x53, 0xDE,
        ]);
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
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
            .to_vec()
    }
}
