//! Every reason a submission is refused ("Refused at submission" in DOMAIN.md): the error's
//! code, reason and field, and that nothing at all was written to the event store.

use api::auth::Claims;
use serde_json::{json, Value};
use teacher_cert_tests::people::{CHAN_TAI_MAN, LI_SI, WANG_WU, ZHANG_SAN};
use teacher_cert_tests::{
    applicant_claims, applicant_token, beijing_mail_address, files, mail_delivery, merge, sign,
    GraphqlResponse, Person, TestApp,
};

/// Submits `person`'s otherwise complete application with `extra` merged into the input,
/// using a token built from `claims`.
async fn submit_with(
    app: &TestApp,
    person: &Person,
    claims: &Claims,
    extra: Value,
) -> anyhow::Result<GraphqlResponse> {
    let token = sign(claims);
    let with_certificate = person.identity_category != "MAINLAND_RESIDENT";
    let materials = app.upload_required(&token, with_certificate).await?;
    app.submit(person, &token, &materials, extra).await
}

/// The refusal carries `code`, `reason` and (for input problems) `field`, and the event
/// store is still empty.
async fn assert_refused_with_nothing_written(
    app: &TestApp,
    response: &GraphqlResponse,
    code: &str,
    reason: &str,
    field: Option<&str>,
) -> anyhow::Result<()> {
    response.assert_refused(code, Some(reason));
    assert_eq!(
        response.error_field().as_deref(),
        field,
        "extensions.field in {}",
        response.body
    );
    assert_eq!(app.count_events(None).await?, 0, "events written");
    Ok(())
}

/// `mailTo` as the complete Beijing address with `changes` merged in.
fn mail_to(changes: Value) -> Value {
    let mut address = beijing_mail_address();
    merge(&mut address, changes);
    mail_delivery(address)
}

#[tokio::test]
async fn an_identity_below_real_name_level_l2_cannot_submit() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut claims = applicant_claims(&ZHANG_SAN);
    claims.acr = Some("L1".to_owned());
    let response = submit_with(&app, &ZHANG_SAN, &claims, json!({})).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "IDENTITY_NOT_VERIFIED",
        None,
    )
    .await
}

#[tokio::test]
async fn an_applicant_who_did_not_consent_to_face_verification_cannot_submit() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    let extra = json!({ "faceAuthorizationConsent": false });
    let response = submit_with(&app, &ZHANG_SAN, &claims, extra).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "FACE_CONSENT_REQUIRED",
        None,
    )
    .await
}

#[tokio::test]
async fn a_face_verification_thirty_one_minutes_old_is_too_old() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut claims = applicant_claims(&ZHANG_SAN);
    claims.face_verified_at = Some(chrono::Utc::now().timestamp() - 31 * 60);
    let response = submit_with(&app, &ZHANG_SAN, &claims, json!({})).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "FACE_VERIFICATION_REQUIRED",
        None,
    )
    .await
}

#[tokio::test]
async fn a_token_without_a_face_verification_cannot_submit() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut claims = applicant_claims(&ZHANG_SAN);
    claims.face_verified_at = None;
    let response = submit_with(&app, &ZHANG_SAN, &claims, json!({})).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "FACE_VERIFICATION_REQUIRED",
        None,
    )
    .await
}

#[tokio::test]
async fn an_identity_category_that_does_not_fit_the_document_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    let extra = json!({ "identityCategory": "HONG_KONG_MACAO_RESIDENT" });
    let response = submit_with(&app, &ZHANG_SAN, &claims, extra).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "IDENTITY_CATEGORY_MISMATCH",
        None,
    )
    .await
}

#[tokio::test]
async fn a_primary_school_application_without_a_subject_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    for missing in [Value::Null, json!("  ")] {
        let extra = match missing {
            Value::Null => json!({ "subject": null }),
            blank => json!({ "subject": blank }),
        };
        let response = submit_with(&app, &ZHANG_SAN, &claims, extra).await?;
        assert_refused_with_nothing_written(
            &app,
            &response,
            "BAD_USER_INPUT",
            "SUBJECT_REQUIRED",
            Some("input.subject"),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_kindergarten_application_with_a_subject_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&WANG_WU);
    let response = submit_with(&app, &WANG_WU, &claims, json!({ "subject": "语文" })).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "BAD_USER_INPUT",
        "SUBJECT_NOT_ALLOWED",
        Some("input.subject"),
    )
    .await
}

#[tokio::test]
async fn an_application_without_a_photo_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let exam = app
        .upload(&token, "PHYSICAL_EXAM_FORM", "exam.pdf", files::pdf())
        .await?
        .data_str("/uploadMaterial/id")?;
    let response = app.submit(&ZHANG_SAN, &token, &[exam], json!({})).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "MISSING_MATERIAL",
        None,
    )
    .await?;
    let message = response.body.pointer("/errors/0/message").cloned();
    assert!(
        message.is_some_and(|m| m.as_str().is_some_and(|m| m.contains("照片"))),
        "the message names the missing photo: {}",
        response.body
    );
    Ok(())
}

#[tokio::test]
async fn a_hong_kong_resident_without_a_no_criminal_record_certificate_is_refused(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&CHAN_TAI_MAN);
    let materials = app.upload_required(&token, false).await?;
    let response = app
        .submit(&CHAN_TAI_MAN, &token, &materials, json!({}))
        .await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "MISSING_MATERIAL",
        None,
    )
    .await?;

    // The same application with the certificate goes through.
    let materials = app.upload_required(&token, true).await?;
    let response = app
        .submit(&CHAN_TAI_MAN, &token, &materials, json!({}))
        .await?;
    assert_eq!(
        response.data_str("/submitApplication/submission/status")?,
        "SUBMITTED"
    );
    Ok(())
}

#[tokio::test]
async fn mail_delivery_without_an_address_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    let extra = json!({ "delivery": { "method": "MAIL" } });
    let response = submit_with(&app, &ZHANG_SAN, &claims, extra).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "BAD_USER_INPUT",
        "MAIL_ADDRESS_REQUIRED",
        Some("input.delivery.mailTo"),
    )
    .await
}

#[tokio::test]
async fn mail_to_a_district_outside_beijing_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    for district in ["上海", "上海市黄浦区", "浦东新区", "北京", "Haidian"] {
        let extra = mail_to(json!({ "district": district }));
        let response = submit_with(&app, &ZHANG_SAN, &claims, extra).await?;
        assert_refused_with_nothing_written(
            &app,
            &response,
            "BAD_USER_INPUT",
            "MAIL_OUTSIDE_BEIJING",
            Some("input.delivery.mailTo.district"),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn mail_to_a_postal_code_outside_beijing_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    let extra = mail_to(json!({ "postalCode": "200000" }));
    let response = submit_with(&app, &ZHANG_SAN, &claims, extra).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "BAD_USER_INPUT",
        "MAIL_OUTSIDE_BEIJING",
        Some("input.delivery.mailTo.postalCode"),
    )
    .await
}

#[tokio::test]
async fn a_malformed_phone_number_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    let cases = [
        (
            json!({ "contactPhone": "12345678901" }),
            "input.contactPhone",
        ),
        (
            json!({ "contactPhone": "1380013800" }),
            "input.contactPhone",
        ),
        (
            json!({ "contactPhone": "021-12345678" }),
            "input.contactPhone",
        ),
        (
            mail_to(json!({ "phone": "555-0100" })),
            "input.delivery.mailTo.phone",
        ),
    ];
    for (extra, field) in cases {
        let response = submit_with(&app, &ZHANG_SAN, &claims, extra).await?;
        assert_refused_with_nothing_written(
            &app,
            &response,
            "BAD_USER_INPUT",
            "INVALID_PHONE",
            Some(field),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_second_open_case_for_the_same_person_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let first = app.submit_case(&ZHANG_SAN, json!({})).await?;

    let claims = applicant_claims(&ZHANG_SAN);
    let response = submit_with(&app, &ZHANG_SAN, &claims, json!({})).await?;
    response.assert_refused("RULE_VIOLATION", Some("OPEN_CASE_EXISTS"));
    assert_eq!(
        app.count_events(None).await?,
        1,
        "only the first case was written"
    );

    // Still refused once the first case is accepted: it awaits a decision.
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": first }))
        .await?;
    let response = submit_with(&app, &ZHANG_SAN, &claims, json!({})).await?;
    response.assert_refused("RULE_VIOLATION", Some("OPEN_CASE_EXISTS"));
    assert_eq!(app.count_events(Some("ApplicationSubmitted")).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_token_whose_name_differs_from_the_registry_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut claims = applicant_claims(&ZHANG_SAN);
    claims.name = "张三丰".to_owned();
    let response = submit_with(&app, &ZHANG_SAN, &claims, json!({})).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "RULE_VIOLATION",
        "IDENTITY_MISMATCH",
        None,
    )
    .await
}

#[tokio::test]
async fn someone_elses_upload_cannot_be_attached() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let theirs = app.upload_required(&applicant_token(&LI_SI), false).await?;
    let token = applicant_token(&ZHANG_SAN);
    let response = app.submit(&ZHANG_SAN, &token, &theirs, json!({})).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "BAD_USER_INPUT",
        "INVALID_MATERIAL",
        Some("input.materialIds"),
    )
    .await?;

    // One foreign id among the applicant's own is refused just the same.
    let mut mixed = app.upload_required(&token, false).await?;
    mixed.push(theirs[0].clone());
    let response = app.submit(&ZHANG_SAN, &token, &mixed, json!({})).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "BAD_USER_INPUT",
        "INVALID_MATERIAL",
        Some("input.materialIds"),
    )
    .await
}

#[tokio::test]
async fn an_upload_id_that_does_not_exist_cannot_be_attached() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    for unknown in [uuid::Uuid::new_v4().to_string(), "photo-1".to_owned()] {
        let mut materials = app.upload_required(&token, false).await?;
        materials.push(unknown);
        let response = app
            .submit(&ZHANG_SAN, &token, &materials, json!({}))
            .await?;
        assert_refused_with_nothing_written(
            &app,
            &response,
            "BAD_USER_INPUT",
            "INVALID_MATERIAL",
            Some("input.materialIds"),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_blank_idempotency_key_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let claims = applicant_claims(&ZHANG_SAN);
    let response = submit_with(&app, &ZHANG_SAN, &claims, json!({ "idempotencyKey": " " })).await?;
    assert_refused_with_nothing_written(
        &app,
        &response,
        "BAD_USER_INPUT",
        "INVALID_IDEMPOTENCY_KEY",
        Some("input.idempotencyKey"),
    )
    .await
}
