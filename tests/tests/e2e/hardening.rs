//! Requests built to hurt the service: expanding fragments, oversized or odd operations,
//! bytes the database cannot store, and roles used against their own cases. Each is
//! refused with a code, cheaply, and leaves the service answering.

use base64::Engine as _;
use serde_json::{json, Value};
use teacher_cert_tests::people::{STRANGER, ZHANG_SAN};
use teacher_cert_tests::{
    applicant_claims, applicant_token, sign, staff_claims, staff_token, TestApp,
};

fn fragment_bomb(levels: usize) -> String {
    let mut query = String::from("query { ...F0 }\n");
    for level in 0..levels {
        let next = level + 1;
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{next} ...F{next} }}\n"
        ));
    }
    query.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
    query
}

#[tokio::test]
async fn a_kilobyte_of_doubling_fragments_is_refused_without_expanding_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let response = app.graphql(None, &fragment_bomb(40), json!({})).await?;
    response.assert_refused("BAD_USER_INPUT", None);
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await?;
    assert_eq!(health.status().as_u16(), 200);
    Ok(())
}

#[tokio::test]
async fn parse_and_validation_errors_carry_the_bad_user_input_code() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    for query in [
        "{ mySubmissions { ",
        "{ mySubmissions { nope } }",
        r#"{ mySubmissions(first: "x") { totalCount } }"#,
        "{ queue(kind: NOPE) { totalCount } }",
    ] {
        let response = app.graphql(Some(&token), query, json!({})).await?;
        response.assert_refused("BAD_USER_INPUT", None);
    }
    Ok(())
}

#[tokio::test]
async fn a_cursor_holding_a_nul_byte_is_bad_user_input() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"s:1:\0");
    let response = app
        .graphql(
            Some(&applicant_token(&ZHANG_SAN)),
            "query($after: String) { mySubmissions(after: $after) { totalCount } }",
            json!({ "after": cursor }),
        )
        .await?;
    response.assert_refused("BAD_USER_INPUT", None);
    Ok(())
}

#[tokio::test]
async fn a_token_whose_claims_hold_control_characters_is_unauthenticated() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut clerk = staff_claims("c\0evil", "clerk");
    let response = app
        .graphql(
            Some(&sign(&clerk)),
            "{ queue(kind: ACCEPTANCE) { totalCount } }",
            json!({}),
        )
        .await?;
    response.assert_refused("UNAUTHENTICATED", None);

    clerk.sub = "c-1".to_owned();
    clerk.name = "受理\u{7}员".to_owned();
    let response = app
        .graphql(
            Some(&sign(&clerk)),
            "{ queue(kind: ACCEPTANCE) { totalCount } }",
            json!({}),
        )
        .await?;
    response.assert_refused("UNAUTHENTICATED", None);
    Ok(())
}

#[tokio::test]
async fn applicants_do_not_see_the_findings_that_staff_see() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&STRANGER, json!({})).await?;
    let query = "query($case: ID!) { submission(caseNumber: $case) { findings { code } } }";

    let as_clerk = app
        .graphql(Some(&staff_token("clerk")), query, json!({ "case": case }))
        .await?;
    let codes: Vec<Value> = serde_json::from_value(as_clerk.data("/submission/findings")?)?;
    assert!(
        codes.contains(&json!({ "code": "PERSON_UNKNOWN_TO_REGISTRY" })),
        "{codes:?}"
    );

    let as_applicant = app
        .graphql(
            Some(&applicant_token(&STRANGER)),
            query,
            json!({ "case": case }),
        )
        .await?;
    assert_eq!(as_applicant.data("/submission/findings")?, json!([]));
    Ok(())
}

#[tokio::test]
async fn a_staff_member_cannot_decide_their_own_case() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let mut both = applicant_claims(&ZHANG_SAN);
    both.roles.push("clerk".to_owned());
    let response = app
        .decide(
            &sign(&both),
            "acceptApplication",
            json!({ "caseNumber": case }),
        )
        .await?;
    response.assert_refused("FORBIDDEN", None);
    assert_eq!(app.count_events(Some("ApplicationAccepted")).await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_upload_without_a_token_is_refused_before_its_parts_are_read() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let body = "--b\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--b--\r\n";
    let response = app
        .post_raw(None, "multipart/form-data; boundary=b", body)
        .await?;
    assert_eq!(response.status, 401, "{}", response.body);
    response.assert_refused("UNAUTHENTICATED", None);
    Ok(())
}

#[tokio::test]
async fn a_subscription_selecting_two_root_fields_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let query = "subscription { a: queueUpdates(kind: ACCEPTANCE) { caseNumber } b: queueUpdates(kind: ACCEPTANCE) { caseNumber } }";
    let mut subscription = app
        .subscribe(&staff_token("clerk"), query, json!({}))
        .await?;
    let message = subscription.next_data().await?;
    let code = message
        .pointer("/errors/0/extensions/code")
        .or_else(|| message.pointer("/payload/0/extensions/code"))
        .cloned();
    assert_eq!(code, Some(json!("BAD_USER_INPUT")), "{message}");
    Ok(())
}
