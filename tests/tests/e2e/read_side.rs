//! The read side as clients see it: read-your-writes with `atLeast`, STALE when the feed is
//! held back, subscriptions that resume after a position, and the read side's metrics.

use std::collections::HashSet;

use serde_json::{json, Value};
use teacher_cert_tests::people::{LI_SI, WANG_WU, ZHANG_SAN};
use teacher_cert_tests::{applicant_token, staff_token, TestApp};

const QUEUE_AT_LEAST: &str = "query($atLeast: String) {
  queue(kind: ACCEPTANCE, atLeast: $atLeast) { edges { node { caseNumber } } }
}";

/// Submits a case for `person` and returns its case number and the payload's position.
async fn submit_with_position(
    app: &TestApp,
    person: &teacher_cert_tests::Person,
) -> anyhow::Result<(String, String)> {
    let token = applicant_token(person);
    let with_certificate = person.identity_category != "MAINLAND_RESIDENT";
    let materials = app.upload_required(&token, with_certificate).await?;
    let query = "mutation($input: SubmitApplicationInput!) {
      submitApplication(input: $input) { position submission { caseNumber position } }
    }";
    let mut input = json!({
        "idempotencyKey": uuid::Uuid::new_v4().to_string(),
        "faceAuthorizationConsent": true,
        "identityCategory": person.identity_category,
        "qualificationLevel": person.level,
        "subject": person.subject,
        "materialIds": materials,
        "delivery": { "method": "WINDOW_PICKUP" },
        "contactPhone": "13800138000",
    });
    if person.subject.is_none() {
        input.as_object_mut().map(|input| input.remove("subject"));
    }
    let response = app
        .graphql(Some(&token), query, json!({ "input": input }))
        .await?;
    let position = response.data_str("/submitApplication/position")?;
    assert_eq!(
        response.data_str("/submitApplication/submission/position")?,
        position
    );
    Ok((
        response.data_str("/submitApplication/submission/caseNumber")?,
        position,
    ))
}

fn case_numbers(response: &teacher_cert_tests::GraphqlResponse) -> anyhow::Result<Vec<String>> {
    let edges: Vec<Value> = serde_json::from_value(response.data("/queue/edges")?)?;
    Ok(edges
        .iter()
        .filter_map(|edge| {
            edge.pointer("/node/caseNumber")?
                .as_str()
                .map(str::to_owned)
        })
        .collect())
}

#[tokio::test]
async fn a_query_with_at_least_the_mutation_s_position_sees_the_mutation() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let clerk = staff_token("clerk");
    for person in [&ZHANG_SAN, &LI_SI, &WANG_WU] {
        let (case, position) = submit_with_position(&app, person).await?;
        let response = app
            .graphql(Some(&clerk), QUEUE_AT_LEAST, json!({ "atLeast": position }))
            .await?;
        assert!(
            case_numbers(&response)?.contains(&case),
            "{}",
            response.body
        );

        let mine = app
            .graphql(
                Some(&applicant_token(person)),
                "query($atLeast: String) { mySubmissions(atLeast: $atLeast) { edges { node { caseNumber } } } }",
                json!({ "atLeast": position }),
            )
            .await?;
        assert_eq!(
            mine.data("/mySubmissions/edges/0/node/caseNumber")?,
            json!(case)
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_query_waiting_for_a_position_the_read_models_do_not_reach_answers_stale(
) -> anyhow::Result<()> {
    // Holding a transaction open would hold the feed back for every database on the server
    // (and every other test); a position beyond the feed's end is never reached either.
    let app = TestApp::spawn().await?;
    let (_, position) = submit_with_position(&app, &ZHANG_SAN).await?;
    let (transaction, global) = position
        .split_once('-')
        .unwrap_or_else(|| panic!("not a position: {position}"));
    let beyond = format!("{}-{}", transaction.parse::<u64>()? + 1_000_000, global);
    let response = app
        .graphql(
            Some(&staff_token("clerk")),
            QUEUE_AT_LEAST,
            json!({ "atLeast": beyond }),
        )
        .await?;
    response.assert_refused("STALE", None);

    let response = app
        .graphql(
            Some(&staff_token("clerk")),
            QUEUE_AT_LEAST,
            json!({ "atLeast": position }),
        )
        .await?;
    assert_eq!(case_numbers(&response)?.len(), 1, "{}", response.body);
    Ok(())
}

#[tokio::test]
async fn a_malformed_position_is_bad_user_input() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let response = app
        .graphql(
            Some(&staff_token("clerk")),
            QUEUE_AT_LEAST,
            json!({ "atLeast": "yesterday" }),
        )
        .await?;
    response.assert_refused("BAD_USER_INPUT", None);
    Ok(())
}

const QUEUE_UPDATES_AFTER: &str = "subscription($after: String) {
  queueUpdates(kind: ACCEPTANCE, after: $after) { position change caseNumber }
}";

#[tokio::test]
async fn a_subscription_after_a_position_replays_what_followed_it_then_goes_live_once_each(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (first, after) = submit_with_position(&app, &ZHANG_SAN).await?;
    let (second, _) = submit_with_position(&app, &LI_SI).await?;

    let mut subscription = app
        .subscribe(
            &staff_token("clerk"),
            QUEUE_UPDATES_AFTER,
            json!({ "after": after }),
        )
        .await?;
    let (third, _) = submit_with_position(&app, &WANG_WU).await?;

    let mut seen = Vec::new();
    let mut positions = HashSet::new();
    while seen.len() < 2 {
        let payload = subscription.next_data().await?;
        let update = payload
            .pointer("/data/queueUpdates")
            .cloned()
            .unwrap_or_else(|| panic!("not an update: {payload}"));
        assert!(
            positions.insert(update["position"].clone()),
            "delivered twice: {update}"
        );
        seen.push(update["caseNumber"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(seen, vec![second, third.clone()]);
    assert!(!seen.contains(&first));
    Ok(())
}

#[tokio::test]
async fn metrics_report_the_feed_the_projectors_and_the_subscribers() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    app.submit_case(&ZHANG_SAN, json!({})).await?;
    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await?
        .text()
        .await?;
    for metric in [
        "feed_head_global_position",
        "feed_oldest_transaction_age_seconds",
        "projector_checkpoint_global_position{projector=\"queues\"}",
        "projector_lag_events{projector=\"my_submissions\"}",
        "projector_lag_milliseconds{projector=\"queues\"}",
        "subscriptions_connected",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    Ok(())
}
