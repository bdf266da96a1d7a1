//! The auditor's view: every event of a case, in order, with who caused it, the status it
//! left, and its place in the store-wide feed.

use serde_json::{json, Value};
use teacher_cert_tests::people::{LI_SI, ZHANG_SAN};
use teacher_cert_tests::{beijing_mail_address, mail_delivery, staff_token, TestApp};

const HISTORY: &str = "query($caseNumber: ID!) {
  caseHistory(caseNumber: $caseNumber) {
    caseNumber
    events {
      sequence globalPosition eventType eventVersion recordedAt
      actorId actorRole payload statusAfter
    }
  }
}";

async fn history(app: &TestApp, case: &str) -> anyhow::Result<Value> {
    let auditor = staff_token("auditor");
    let response = app
        .graphql(Some(&auditor), HISTORY, json!({ "caseNumber": case }))
        .await?;
    response.data("/caseHistory")
}

#[tokio::test]
async fn an_auditor_sees_every_event_of_a_case_with_who_did_it_and_the_status_after(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app
        .submit_case(&ZHANG_SAN, mail_delivery(beijing_mail_address()))
        .await?;
    // Another case's events interleave in the store-wide feed.
    let other = app.submit_case(&LI_SI, json!({})).await?;
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": other }))
        .await?;
    app.decide_ok(
        "approver",
        "approveApplication",
        json!({ "caseNumber": case }),
    )
    .await?;
    let ship = json!({ "caseNumber": case, "carrier": "EMS", "trackingNumber": "EA123" });
    app.decide_ok("dispatcher", "shipCertificate", ship).await?;

    let history = history(&app, &case).await?;
    assert_eq!(history["caseNumber"], case.as_str());
    let events = history["events"].as_array().cloned().unwrap_or_default();
    let expected = [
        ("ApplicationSubmitted", "u-1001", "applicant", "SUBMITTED"),
        ("ApplicationAccepted", "staff-clerk", "clerk", "ACCEPTED"),
        (
            "ApplicationApproved",
            "staff-approver",
            "approver",
            "APPROVED",
        ),
        (
            "CertificateShipped",
            "staff-dispatcher",
            "dispatcher",
            "SHIPPED",
        ),
    ];
    assert_eq!(events.len(), expected.len(), "{history}");

    let mut last_position = 0_i64;
    let mut last_recorded = None;
    for (index, (event, (event_type, actor_id, actor_role, status))) in
        events.iter().zip(expected).enumerate()
    {
        assert_eq!(event["sequence"], index + 1, "{event}");
        assert_eq!(event["eventType"], event_type, "{event}");
        assert_eq!(event["actorId"], actor_id, "{event}");
        assert_eq!(event["actorRole"], actor_role, "{event}");
        assert_eq!(event["statusAfter"], status, "{event}");
        assert!(
            event["eventVersion"]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{event}"
        );

        let position: i64 = event["globalPosition"]
            .as_str()
            .unwrap_or_default()
            .parse()?;
        assert!(position > last_position, "positions rise: {history}");
        last_position = position;

        let recorded =
            chrono::DateTime::parse_from_rfc3339(event["recordedAt"].as_str().unwrap_or_default())?;
        assert_eq!(
            recorded.offset().local_minus_utc(),
            8 * 3600,
            "Beijing time"
        );
        assert!(
            last_recorded.is_none_or(|last| recorded >= last),
            "recording times never go back: {history}"
        );
        last_recorded = Some(recorded);

        let payload: Value = serde_json::from_str(event["payload"].as_str().unwrap_or_default())?;
        assert!(
            payload.get(event_type).is_some(),
            "payload of {event_type}: {payload}"
        );
    }

    // The other case's events took positions in between: the positions are store-wide.
    let others = history_positions(&app, &other).await?;
    assert_eq!(others.len(), 2);
    Ok(())
}

async fn history_positions(app: &TestApp, case: &str) -> anyhow::Result<Vec<i64>> {
    let history = history(app, case).await?;
    history["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| {
            Ok(event["globalPosition"]
                .as_str()
                .unwrap_or_default()
                .parse()?)
        })
        .collect()
}

#[tokio::test]
async fn global_positions_are_shared_by_every_case() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let first = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let second = app.submit_case(&LI_SI, json!({})).await?;
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": first }))
        .await?;

    let mut positions = history_positions(&app, &first).await?;
    positions.extend(history_positions(&app, &second).await?);
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        3,
        "three distinct positions: {positions:?}"
    );
    // The second case was submitted between the first case's two events.
    let first_positions = history_positions(&app, &first).await?;
    let second_positions = history_positions(&app, &second).await?;
    assert!(first_positions[0] < second_positions[0]);
    assert!(second_positions[0] < first_positions[1]);
    Ok(())
}

#[tokio::test]
async fn the_history_of_a_case_that_does_not_exist_is_null() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    // A real case number in another database is unknown here: take one, then ask a
    // fresh service.
    let elsewhere = TestApp::spawn().await?;
    let case = elsewhere.submit_case(&ZHANG_SAN, json!({})).await?;
    drop(elsewhere);

    assert!(history(&app, &case).await?.is_null());
    assert!(history(&app, "TC-nothing").await?.is_null());
    Ok(())
}
