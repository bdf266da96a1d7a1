//! Nothing lives only in memory: after a restart on the same database and files, cases,
//! their history, the queues, idempotency and the projectors all carry on.

use serde_json::json;
use teacher_cert_tests::people::{LI_SI, ZHANG_SAN};
use teacher_cert_tests::{applicant_token, staff_token, text, TestApp};

const HISTORY: &str = "query($caseNumber: ID!) {
  caseHistory(caseNumber: $caseNumber) { events { sequence eventType actorRole statusAfter } }
}";

#[tokio::test]
async fn cases_history_and_queues_survive_a_restart_and_commands_keep_working() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let materials = app.upload_required(&token, false).await?;
    let key = json!({ "idempotencyKey": "before-restart" });
    let response = app
        .submit(&ZHANG_SAN, &token, &materials, key.clone())
        .await?;
    let case = response.data_str("/submitApplication/submission/caseNumber")?;
    app.decide_ok(
        "clerk",
        "acceptApplication",
        json!({ "caseNumber": case, "note": "齐全" }),
    )
    .await?;
    app.wait_for_queue("APPROVAL", &case, true).await?;
    let before = app.submission(&token, &case).await?;

    let app = app.restart().await?;

    // The case, as its events and as the read models tell it.
    let after = app.submission(&token, &case).await?;
    assert_eq!(after, before);
    assert_eq!(after["status"], "ACCEPTED");
    assert_eq!(app.queue("APPROVAL").await?, std::slice::from_ref(&case));
    assert!(app.queue("ACCEPTANCE").await?.is_empty());

    // Its history.
    let auditor = staff_token("auditor");
    let history = app
        .graphql(Some(&auditor), HISTORY, json!({ "caseNumber": case }))
        .await?
        .data("/caseHistory/events")?;
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    assert_eq!(history[0]["eventType"], "ApplicationSubmitted");
    assert_eq!(history[1]["eventType"], "ApplicationAccepted");
    assert_eq!(history[1]["statusAfter"], "ACCEPTED");

    // The same submission sent again is still recognised.
    let retry = app.submit(&ZHANG_SAN, &token, &materials, key).await?;
    assert_eq!(
        retry.data_str("/submitApplication/submission/caseNumber")?,
        case
    );
    assert_eq!(app.count_events(Some("ApplicationSubmitted")).await?, 1);

    // Commands and projectors carry on.
    let approve = json!({ "caseNumber": case });
    let approved = app
        .decide_ok("approver", "approveApplication", approve)
        .await?;
    assert_eq!(approved["status"], "APPROVED");
    assert_eq!(text(&approved, "/certificateNumber")?.len(), 17);
    app.wait_for_queue("DISPATCH", &case, true).await?;
    app.wait_for_queue("APPROVAL", &case, false).await?;
    let other = app.submit_case(&LI_SI, json!({})).await?;
    app.wait_for_queue("ACCEPTANCE", &other, true).await?;
    Ok(())
}

#[tokio::test]
async fn uploads_made_before_a_restart_can_be_attached_after_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let materials = app.upload_required(&token, false).await?;

    let app = app.restart().await?;

    let response = app
        .submit(&ZHANG_SAN, &token, &materials, json!({}))
        .await?;
    let status = response.data_str("/submitApplication/submission/status")?;
    assert_eq!(status, "SUBMITTED");
    Ok(())
}
