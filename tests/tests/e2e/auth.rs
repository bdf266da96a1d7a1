//! Authentication and roles: who may call what, and that an applicant only ever sees their
//! own cases.

use api::auth::sign_development_token;
use serde_json::json;
use teacher_cert_tests::people::{LI_SI, ZHANG_SAN};
use teacher_cert_tests::{
    applicant_claims, applicant_token, eventually, staff_claims, staff_token, GraphqlResponse,
    TestApp, SUBMIT, TEST_SECRET,
};

const MY_CASES: &str = "{ mySubmissions(first: 50) { totalCount edges { node { caseNumber } } } }";

const HISTORY: &str = "query($caseNumber: ID!) {
  caseHistory(caseNumber: $caseNumber) { caseNumber events { sequence eventType } }
}";

/// The case numbers `token`'s holder sees under "my submissions".
async fn my_case_numbers(app: &TestApp, token: &str) -> anyhow::Result<Vec<String>> {
    let response = app.graphql(Some(token), MY_CASES, json!({})).await?;
    let edges = response.data("/mySubmissions/edges")?;
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

/// `Authorization` sent verbatim with a query every applicant may run.
async fn with_authorization(app: &TestApp, value: &str) -> anyhow::Result<GraphqlResponse> {
    let response = app
        .http
        .post(app.graphql_url())
        .header("Authorization", value)
        .json(&json!({ "query": MY_CASES }))
        .send()
        .await?;
    GraphqlResponse::read(response).await
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let queries = [
        MY_CASES,
        "{ submission(caseNumber: \"TC00000000000\") { status } }",
        "{ queue(kind: ACCEPTANCE) { totalCount } }",
    ];
    for query in queries {
        let response = app.graphql(None, query, json!({})).await?;
        response.assert_refused("UNAUTHENTICATED", None);
    }
    let input = json!({ "input": {
        "idempotencyKey": "k-1", "faceAuthorizationConsent": true,
        "identityCategory": "MAINLAND_RESIDENT", "qualificationLevel": "PRIMARY_SCHOOL",
        "subject": "语文", "materialIds": [], "delivery": { "method": "WINDOW_PICKUP" },
        "contactPhone": "13800138000",
    } });
    let submit = app.graphql(None, SUBMIT, input).await?;
    submit.assert_refused("UNAUTHENTICATED", None);
    assert_eq!(app.count_events(None).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_unauthenticated() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let forged = sign_development_token(&applicant_claims(&ZHANG_SAN), "not-the-test-secret")?;
    let response = app.graphql(Some(&forged), MY_CASES, json!({})).await?;
    response.assert_refused("UNAUTHENTICATED", None);

    // The same claims signed with the right secret pass.
    let genuine = sign_development_token(&applicant_claims(&ZHANG_SAN), TEST_SECRET)?;
    let response = app.graphql(Some(&genuine), MY_CASES, json!({})).await?;
    assert_eq!(response.data("/mySubmissions/totalCount")?, 0);
    Ok(())
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut claims = applicant_claims(&ZHANG_SAN);
    // Past the 30 seconds of leeway.
    claims.exp = chrono::Utc::now().timestamp() - 120;
    let expired = sign_development_token(&claims, TEST_SECRET)?;
    let response = app.graphql(Some(&expired), MY_CASES, json!({})).await?;
    response.assert_refused("UNAUTHENTICATED", None);
    Ok(())
}

#[tokio::test]
async fn an_authorization_header_that_is_not_a_bearer_token_is_unauthenticated(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    for value in [
        format!("Basic {token}"),
        token.clone(),
        "Bearer not.a.jwt".to_owned(),
    ] {
        let response = with_authorization(&app, &value).await?;
        response.assert_refused("UNAUTHENTICATED", None);
    }
    Ok(())
}

#[tokio::test]
async fn an_applicant_cannot_accept_an_application() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let token = applicant_token(&ZHANG_SAN);
    let response = app
        .decide(&token, "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    response.assert_refused("FORBIDDEN", None);
    assert_eq!(app.count_events(Some("ApplicationAccepted")).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_clerk_cannot_approve_a_case() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    let response = app
        .decide(
            &staff_token("clerk"),
            "approveApplication",
            json!({ "caseNumber": case }),
        )
        .await?;
    response.assert_refused("FORBIDDEN", None);
    assert_eq!(app.count_events(Some("ApplicationApproved")).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_staff_member_cannot_submit_an_application() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let response = app
        .submit(&ZHANG_SAN, &staff_token("clerk"), &[], json!({}))
        .await?;
    response.assert_refused("FORBIDDEN", None);
    assert_eq!(app.count_events(None).await?, 0);
    Ok(())
}

#[tokio::test]
async fn each_work_queue_is_read_only_by_the_role_that_works_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let query = "query($kind: QueueKind!) { queue(kind: $kind) { totalCount } }";
    let roles = ["clerk", "approver", "dispatcher", "auditor"];
    let queues = [
        ("ACCEPTANCE", "clerk"),
        ("APPROVAL", "approver"),
        ("DISPATCH", "dispatcher"),
    ];
    for (kind, worker) in queues {
        for role in roles {
            let variables = json!({ "kind": kind });
            let response = app
                .graphql(Some(&staff_token(role)), query, variables)
                .await?;
            if role == worker {
                assert_eq!(
                    response.data("/queue/totalCount")?,
                    0,
                    "{role} reads {kind}"
                );
            } else {
                response.assert_refused("FORBIDDEN", None);
            }
        }
        let applicant = applicant_token(&ZHANG_SAN);
        let response = app
            .graphql(Some(&applicant), query, json!({ "kind": kind }))
            .await?;
        response.assert_refused("FORBIDDEN", None);
    }
    Ok(())
}

#[tokio::test]
async fn a_clerk_cannot_read_the_approval_queue() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let query = "{ queue(kind: APPROVAL) { totalCount edges { node { caseNumber } } } }";
    let response = app
        .graphql(Some(&staff_token("clerk")), query, json!({}))
        .await?;
    response.assert_refused("FORBIDDEN", None);
    Ok(())
}

#[tokio::test]
async fn an_applicant_never_sees_another_applicants_case() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let app = &app;
    let zhang = applicant_token(&ZHANG_SAN);
    let li = applicant_token(&LI_SI);
    let zhangs_case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let lis_case = app.submit_case(&LI_SI, json!({})).await?;

    // One case: its applicant and staff see it; another applicant gets null.
    assert_eq!(
        app.submission(&zhang, &zhangs_case).await?["caseNumber"],
        zhangs_case.as_str()
    );
    assert!(app.submission(&li, &zhangs_case).await?.is_null());
    assert!(app.submission(&zhang, &lis_case).await?.is_null());
    let clerk = staff_token("clerk");
    assert_eq!(
        app.submission(&clerk, &zhangs_case).await?["status"],
        "SUBMITTED"
    );

    // "My submissions": each sees exactly their own, once the read model has both.
    for (token, own) in [(&zhang, &zhangs_case), (&li, &lis_case)] {
        let mine = eventually("each applicant's case is listed", move || async move {
            let mine = my_case_numbers(app, token).await?;
            Ok((!mine.is_empty()).then_some(mine))
        })
        .await?;
        assert_eq!(mine, std::slice::from_ref(own));
    }
    // Both cases are in the read model by now; neither leaks.
    assert_eq!(my_case_numbers(app, &zhang).await?, [zhangs_case]);
    assert_eq!(my_case_numbers(app, &li).await?, [lis_case]);
    Ok(())
}

#[tokio::test]
async fn a_case_history_is_only_for_auditors() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let variables = json!({ "caseNumber": case });

    let outsiders = [
        applicant_token(&ZHANG_SAN),
        staff_token("clerk"),
        staff_token("approver"),
        staff_token("dispatcher"),
    ];
    for token in &outsiders {
        let response = app.graphql(Some(token), HISTORY, variables.clone()).await?;
        response.assert_refused("FORBIDDEN", None);
    }
    let response = app.graphql(None, HISTORY, variables.clone()).await?;
    response.assert_refused("UNAUTHENTICATED", None);

    let auditor = staff_token("auditor");
    let response = app.graphql(Some(&auditor), HISTORY, variables).await?;
    assert_eq!(response.data("/caseHistory/caseNumber")?, case.as_str());
    assert_eq!(
        response.data("/caseHistory/events/0/eventType")?,
        "ApplicationSubmitted"
    );
    Ok(())
}

#[tokio::test]
async fn a_token_with_several_roles_may_do_what_each_role_may() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let mut claims = staff_claims("staff-both", "clerk");
    claims.roles.push("approver".to_owned());
    let token = teacher_cert_tests::sign(&claims);
    app.decide(&token, "acceptApplication", json!({ "caseNumber": case }))
        .await?
        .data("/acceptApplication/submission/status")?;
    let approved = app
        .decide(&token, "approveApplication", json!({ "caseNumber": case }))
        .await?;
    assert_eq!(
        approved.data("/approveApplication/submission/status")?,
        "APPROVED"
    );
    let shipped = app
        .decide(&token, "recordCollection", json!({ "caseNumber": case }))
        .await?;
    shipped.assert_refused("FORBIDDEN", None);
    Ok(())
}
