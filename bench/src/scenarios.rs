//! The service-side operations the driver times, each checked: a submission by a prepared
//! applicant, an acceptance by a clerk, and the two read queries.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use projections::FeedPosition;
use serde_json::json;

use crate::gql::{operations, text_at, Client};
use crate::people::{self, Applicant};

/// One successful submission, with when it was sent and when its answer came back.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub case_number: String,
    pub position: FeedPosition,
    pub applicant: Arc<Applicant>,
    pub sent: Instant,
    pub answered: Instant,
}

/// Submits `applicant`'s application, failing unless the case opened as SUBMITTED.
pub async fn submit(client: &Client, applicant: Arc<Applicant>) -> anyhow::Result<Submitted> {
    // Minted just before sending: a token carries a face verification valid for 30 minutes.
    let token = people::applicant_token(&applicant.person)?;
    let input = people::submission_input(&applicant);
    let sent = Instant::now();
    let data = client.post(&token, operations::SUBMIT, input).await?;
    let answered = Instant::now();
    let status = text_at(&data, "/submitApplication/submission/status")?;
    anyhow::ensure!(
        status == "SUBMITTED",
        "a submission answered {status}: {data}"
    );
    Ok(Submitted {
        case_number: text_at(&data, "/submitApplication/submission/caseNumber")?,
        position: position_at(&data, "/submitApplication/position")?,
        applicant,
        sent,
        answered,
    })
}

/// Accepts a submitted case as a clerk, failing unless it is ACCEPTED afterwards.
pub async fn accept(client: &Client, clerk_token: &str, case_number: &str) -> anyhow::Result<()> {
    let input = json!({ "input": { "caseNumber": case_number, "note": "材料齐全" } });
    let data = client.post(clerk_token, operations::ACCEPT, input).await?;
    let status = text_at(&data, "/acceptApplication/submission/status")?;
    anyhow::ensure!(
        status == "ACCEPTED",
        "an acceptance answered {status}: {data}"
    );
    Ok(())
}

/// The applicant's own cases; an applicant who submitted must see at least one.
pub async fn my_submissions(client: &Client, applicant_token: &str) -> anyhow::Result<()> {
    let data = client
        .post(applicant_token, operations::MY_SUBMISSIONS, json!({}))
        .await?;
    let total = data
        .pointer("/mySubmissions/totalCount")
        .and_then(serde_json::Value::as_i64)
        .with_context(|| format!("no totalCount in {data}"))?;
    anyhow::ensure!(
        total >= 1,
        "an applicant who submitted sees no case: {data}"
    );
    Ok(())
}

/// The first page of the acceptance queue.
pub async fn acceptance_queue(client: &Client, clerk_token: &str) -> anyhow::Result<()> {
    let data = client
        .post(clerk_token, operations::ACCEPTANCE_QUEUE, json!({}))
        .await?;
    data.pointer("/queue/edges")
        .and_then(serde_json::Value::as_array)
        .with_context(|| format!("no queue edges in {data}"))?;
    Ok(())
}

/// A feed position (`"<xid>-<global position>"`) at a JSON pointer.
pub fn position_at(data: &serde_json::Value, pointer: &str) -> anyhow::Result<FeedPosition> {
    let raw = text_at(data, pointer)?;
    raw.parse()
        .with_context(|| format!("{raw:?} at {pointer} is not a feed position"))
}

/// Approves an accepted case (untimed preparation: it closes the case, so its applicant may
/// apply again).
pub async fn approve(
    client: &Client,
    approver_token: &str,
    case_number: &str,
) -> anyhow::Result<()> {
    let input = json!({ "input": { "caseNumber": case_number } });
    let query = "mutation($input: ApproveApplicationInput!) {
  approveApplication(input: $input) { submission { status } }
}";
    let data = client.post(approver_token, query, input).await?;
    let status = text_at(&data, "/approveApplication/submission/status")?;
    anyhow::ensure!(
        status == "APPROVED",
        "an approval answered {status}: {data}"
    );
    Ok(())
}
