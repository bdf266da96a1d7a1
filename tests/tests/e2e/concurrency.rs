//! Races: many clerks deciding one case at once, an app retrying one submission many times
//! at once. Exactly one of each gets through, and exactly one event is stored.

use futures::future::join_all;
use serde_json::json;
use teacher_cert_tests::people::{LI_SI, WANG_WU, ZHANG_SAN};
use teacher_cert_tests::{applicant_token, sign, staff_claims, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_clerks_accepting_one_case_at_once_let_exactly_one_through() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;

    let attempts = (0..10).map(|clerk| {
        let token = sign(&staff_claims(&format!("clerk-{clerk}"), "clerk"));
        let input = json!({ "caseNumber": case, "note": format!("clerk {clerk}") });
        let app = &app;
        async move { app.decide(&token, "acceptApplication", input).await }
    });
    let responses = join_all(attempts)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;

    let (accepted, refused): (Vec<_>, Vec<_>) = responses
        .iter()
        .partition(|response| response.body.get("errors").is_none());
    assert_eq!(accepted.len(), 1, "successes among {responses:#?}");
    assert_eq!(refused.len(), 9);
    for response in &refused {
        assert_eq!(
            response.error_code().as_deref(),
            Some("CONFLICT"),
            "{}",
            response.body
        );
        let reason = response.error_reason();
        assert!(
            matches!(
                reason.as_deref(),
                Some("CONCURRENT_MODIFICATION" | "INVALID_TRANSITION")
            ),
            "a lost race says why: {}",
            response.body
        );
    }
    assert_eq!(
        accepted[0].data_str("/acceptApplication/submission/status")?,
        "ACCEPTED"
    );
    assert_eq!(app.count_events(Some("ApplicationAccepted")).await?, 1);
    assert_eq!(app.count_events(None).await?, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_copies_of_one_submission_sent_at_once_open_one_case() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let materials = app.upload_required(&token, false).await?;
    let key = uuid::Uuid::new_v4().to_string();

    let copies = (0..8).map(|_| {
        let extra = json!({ "idempotencyKey": key });
        app.submit(&ZHANG_SAN, &token, &materials, extra)
    });
    let responses = join_all(copies)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut case_numbers = responses
        .iter()
        .map(|response| response.data_str("/submitApplication/submission/caseNumber"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    case_numbers.sort();
    case_numbers.dedup();
    assert_eq!(
        case_numbers.len(),
        1,
        "one case for every copy: {case_numbers:?}"
    );
    assert_eq!(app.count_events(Some("ApplicationSubmitted")).await?, 1);

    // A later retry answers with the same case, too.
    let retry = app
        .submit(
            &ZHANG_SAN,
            &token,
            &materials,
            json!({ "idempotencyKey": key }),
        )
        .await?;
    assert_eq!(
        retry.data_str("/submitApplication/submission/caseNumber")?,
        case_numbers[0]
    );
    app.wait_for_queue("ACCEPTANCE", &case_numbers[0], true)
        .await?;
    assert_eq!(app.queue("ACCEPTANCE").await?, case_numbers);
    assert_eq!(app.count_events(None).await?, 1);
    Ok(())
}

#[tokio::test]
async fn one_idempotency_key_used_by_two_applicants_opens_two_cases() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let key = json!({ "idempotencyKey": "shared-key" });
    let zhang = app.submit_case(&ZHANG_SAN, key.clone()).await?;
    let li = app.submit_case(&LI_SI, key).await?;
    assert_ne!(zhang, li);
    assert_eq!(app.count_events(Some("ApplicationSubmitted")).await?, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn different_applicants_submitting_at_once_each_open_their_own_case() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let people = [&ZHANG_SAN, &LI_SI, &WANG_WU];
    let submissions = people
        .iter()
        .map(|person| app.submit_case(person, json!({})));
    let mut cases = join_all(submissions)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    cases.sort();
    cases.dedup();
    assert_eq!(cases.len(), 3);
    assert_eq!(app.count_events(Some("ApplicationSubmitted")).await?, 3);
    Ok(())
}

#[tokio::test]
async fn a_repeated_submission_answers_with_the_first_case_even_when_its_materials_are_refused(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let key = json!({ "idempotencyKey": "repeat-with-garbage" });
    let first = app.submit_case(&ZHANG_SAN, key.clone()).await?;

    let token = applicant_token(&ZHANG_SAN);
    for garbage in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        let repeat = app
            .submit(&ZHANG_SAN, &token, &[garbage.to_owned()], key.clone())
            .await?;
        assert_eq!(
            repeat.data_str("/submitApplication/submission/caseNumber")?,
            first,
            "a repeat with material id {garbage} answers with the first case"
        );
    }
    assert_eq!(app.count_events(Some("ApplicationSubmitted")).await?, 1);
    Ok(())
}
