//! A GraphQL-over-HTTP client that fails loudly: a transport error, a status other than 200,
//! a body that is not JSON, or a body with `errors` is an error carrying the whole body, so
//! no refused request is ever counted as a success.

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The operations the driver sends, as a front end would.
pub mod operations {
    pub const SUBMIT: &str = "mutation($input: SubmitApplicationInput!) {
  submitApplication(input: $input) {
    position
    submission { caseNumber status statusLabel submittedAt }
  }
}";

    pub const ACCEPT: &str = "mutation($input: AcceptApplicationInput!) {
  acceptApplication(input: $input) {
    position
    submission { caseNumber status statusLabel }
  }
}";

    pub const MY_SUBMISSIONS: &str = "query {
  mySubmissions(first: 20) {
    totalCount
    edges { node { caseNumber status statusLabel submittedAt updatedAt timeline { status label at } } }
  }
}";

    pub const ACCEPTANCE_QUEUE: &str = "query {
  queue(kind: ACCEPTANCE, first: 20) {
    totalCount
    edges { node { caseNumber applicantName qualificationLevel subject enteredAt submittedAt } }
  }
}";

    pub const UPLOAD: &str = "mutation($kind: MaterialKind!, $file: Upload!) {
  uploadMaterial(kind: $kind, file: $file) { id }
}";

    pub const ACCEPTANCE_UPDATES: &str =
        "subscription { queueUpdates(kind: ACCEPTANCE) { change caseNumber position } }";
}

/// One service's GraphQL endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    url: String,
}

impl Client {
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        // Idle connections are kept per host; the driver's workers reuse them request after
        // request, as a front end's gateway would.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base_url: base_url.to_owned(),
            url: format!("{base_url}/graphql"),
        })
    }

    /// The service's address, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Posts one operation and answers its `data`.
    pub async fn post(&self, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .context("sending a GraphQL request")?;
        data_of(response).await
    }

    /// Uploads one file with the GraphQL multipart request spec; answers the upload's id.
    pub async fn upload(
        &self,
        token: &str,
        kind: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<String> {
        let operations = json!({
            "query": operations::UPLOAD,
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
            .post(&self.url)
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .context("uploading a material")?;
        let data = data_of(response).await?;
        text_at(&data, "/uploadMaterial/id")
    }
}

/// The `data` of a response, or an error with the status and the body as received.
async fn data_of(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response
        .text()
        .await
        .context("reading a GraphQL response")?;
    if status != reqwest::StatusCode::OK {
        bail!("HTTP {status} from the service: {text}");
    }
    let body: Value = serde_json::from_str(&text)
        .with_context(|| format!("HTTP 200 but the body is not JSON: {text}"))?;
    if body.get("errors").is_some() {
        bail!("HTTP 200 with GraphQL errors: {text}");
    }
    match body.get("data") {
        Some(data) if !data.is_null() => Ok(data.clone()),
        _ => bail!("HTTP 200 without data: {text}"),
    }
}

/// The string at a JSON pointer, or an error naming the pointer and the value.
pub fn text_at(value: &Value, pointer: &str) -> anyhow::Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at {pointer} in {value}"))
}
