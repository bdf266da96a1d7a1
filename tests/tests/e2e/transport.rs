//! The HTTP surface around GraphQL: malformed bodies, methods, batches and the health
//! endpoints. Every refusal still comes back in GraphQL's error shape.

use serde_json::json;
use teacher_cert_tests::people::ZHANG_SAN;
use teacher_cert_tests::{applicant_token, staff_token, TestApp};

#[tokio::test]
async fn a_malformed_json_body_is_bad_user_input_with_http_400() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    for body in [
        r#"{"query": "{ mySubmissions { totalCount } }""#,
        "not json at all",
        "",
    ] {
        let response = app.post_raw(Some(&token), "application/json", body).await?;
        assert_eq!(response.status, 400, "{body:?}: {}", response.body);
        response.assert_refused("BAD_USER_INPUT", None);
    }
    Ok(())
}

#[tokio::test]
async fn a_mutation_sent_with_get_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let mutation = format!(
        "mutation {{ acceptApplication(input: {{ caseNumber: \"{case}\" }}) {{ submission {{ status }} }} }}"
    );
    let response = app
        .graphql_get(Some(&staff_token("clerk")), &mutation)
        .await?;
    assert_eq!(response.status, 405, "{}", response.body);
    response.assert_refused("BAD_USER_INPUT", None);
    assert_eq!(app.count_events(Some("ApplicationAccepted")).await?, 0);

    // The same case may be read with GET.
    let query = format!("{{ submission(caseNumber: \"{case}\") {{ status }} }}");
    let response = app.graphql_get(Some(&staff_token("clerk")), &query).await?;
    assert_eq!(response.status, 200);
    assert_eq!(response.data("/submission/status")?, "SUBMITTED");
    Ok(())
}

#[tokio::test]
async fn a_batch_of_operations_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let one = json!({ "query": "{ mySubmissions { totalCount } }" });
    let batch = json!([one, one]).to_string();
    let response = app
        .post_raw(Some(&token), "application/json", batch)
        .await?;
    assert_eq!(response.status, 400, "{}", response.body);
    response.assert_refused("BAD_USER_INPUT", None);
    Ok(())
}

#[tokio::test]
async fn an_unknown_field_is_a_graphql_validation_error() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let response = app
        .graphql(Some(&token), "{ mySubmissions { noSuchField } }", json!({}))
        .await?;
    assert!(response.body.get("errors").is_some(), "{}", response.body);
    assert_eq!(app.count_events(None).await?, 0);
    Ok(())
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await?;
    assert_eq!(metrics.status().as_u16(), 200);
    Ok(())
}
