//! Uploaded materials: what each kind accepts (by content, not by name), the size limits
//! (the harness sets 64 KiB for photos and 256 KiB for documents), where the bytes are
//! stored, and that a refused upload stores nothing.

use serde_json::json;
use sha2::{Digest, Sha256};
use teacher_cert_tests::people::ZHANG_SAN;
use teacher_cert_tests::{applicant_token, files, staff_token, text, GraphqlResponse, TestApp};

const PHOTO_LIMIT: usize = 64 * 1024;
const DOCUMENT_LIMIT: usize = 256 * 1024;

/// `bytes` padded with zeros to `size`: still recognised by its leading bytes.
fn padded(mut bytes: Vec<u8>, size: usize) -> Vec<u8> {
    bytes.resize(size, 0);
    bytes
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn stored_uploads(app: &TestApp) -> anyhow::Result<i64> {
    let mut conn = app.db().await?;
    Ok(sqlx::query_scalar("SELECT count(*) FROM uploads")
        .fetch_one(&mut conn)
        .await?)
}

/// The refusal is a GraphQL error about the file, and nothing was recorded.
async fn assert_file_refused(
    app: &TestApp,
    response: &GraphqlResponse,
    reason: &str,
) -> anyhow::Result<()> {
    response.assert_refused("BAD_USER_INPUT", Some(reason));
    assert_eq!(
        response.error_field().as_deref(),
        Some("file"),
        "{}",
        response.body
    );
    assert_eq!(stored_uploads(app).await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_uploaded_file_is_stored_under_its_sha256() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let bytes = files::png();
    let response = app
        .upload(
            &applicant_token(&ZHANG_SAN),
            "PHOTO",
            "me.png",
            bytes.clone(),
        )
        .await?;
    let uploaded = response.data("/uploadMaterial")?;

    let sha256 = hex_sha256(&bytes);
    assert_eq!(uploaded["sha256"], sha256.as_str());
    assert_eq!(uploaded["size"], bytes.len());
    assert_eq!(uploaded["kind"], "PHOTO");
    assert_eq!(uploaded["mediaType"], "image/png");
    let path = app
        .materials_dir
        .join("sha256")
        .join(&sha256[..2])
        .join(&sha256);
    let stored = std::fs::read(&path)?;
    assert_eq!(stored, bytes, "the bytes stored at {}", path.display());
    assert_eq!(stored_uploads(&app).await?, 1);
    Ok(())
}

#[tokio::test]
async fn each_kind_takes_the_media_types_it_allows() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let accepted = [
        ("PHOTO", files::jpeg(), "image/jpeg"),
        ("PHOTO", files::png(), "image/png"),
        ("PHYSICAL_EXAM_FORM", files::pdf(), "application/pdf"),
        ("PHYSICAL_EXAM_FORM", files::jpeg(), "image/jpeg"),
        (
            "NO_CRIMINAL_RECORD_CERTIFICATE",
            files::pdf(),
            "application/pdf",
        ),
        ("OTHER", files::png(), "image/png"),
    ];
    for (kind, bytes, media_type) in accepted {
        // The name is ignored: only the content counts.
        let response = app.upload(&token, kind, "upload.bin", bytes).await?;
        assert_eq!(
            response.data("/uploadMaterial/mediaType")?,
            media_type,
            "{kind}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_pdf_is_not_accepted_as_a_photo() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let response = app
        .upload(
            &applicant_token(&ZHANG_SAN),
            "PHOTO",
            "photo.jpg",
            files::pdf(),
        )
        .await?;
    assert_file_refused(&app, &response, "UNSUPPORTED_MEDIA_TYPE").await
}

#[tokio::test]
async fn a_file_of_no_accepted_type_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let bytes = b"<html><body>not a form</body></html>".to_vec();
    let response = app
        .upload(
            &applicant_token(&ZHANG_SAN),
            "PHYSICAL_EXAM_FORM",
            "exam.pdf",
            bytes,
        )
        .await?;
    assert_file_refused(&app, &response, "UNSUPPORTED_MEDIA_TYPE").await
}

#[tokio::test]
async fn an_empty_file_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let response = app
        .upload(
            &applicant_token(&ZHANG_SAN),
            "PHOTO",
            "photo.png",
            Vec::new(),
        )
        .await?;
    assert_file_refused(&app, &response, "INVALID_MATERIAL").await
}

#[tokio::test]
async fn a_photo_over_the_photo_limit_is_too_large() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);

    // Exactly at the limit is fine.
    let at_limit = padded(files::png(), PHOTO_LIMIT);
    let response = app.upload(&token, "PHOTO", "photo.png", at_limit).await?;
    assert_eq!(response.data("/uploadMaterial/size")?, PHOTO_LIMIT);

    let over = padded(files::png(), PHOTO_LIMIT + 1);
    let response = app.upload(&token, "PHOTO", "photo.png", over).await?;
    response.assert_refused("BAD_USER_INPUT", Some("FILE_TOO_LARGE"));
    assert_eq!(response.error_field().as_deref(), Some("file"));
    assert_eq!(
        stored_uploads(&app).await?,
        1,
        "only the upload at the limit"
    );
    Ok(())
}

#[tokio::test]
async fn a_document_over_the_largest_file_limit_is_refused_with_http_413() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let over = padded(files::pdf(), DOCUMENT_LIMIT + 1024);
    let response = app
        .upload(
            &applicant_token(&ZHANG_SAN),
            "PHYSICAL_EXAM_FORM",
            "exam.pdf",
            over,
        )
        .await?;
    assert_eq!(response.status, 413, "{}", response.body);
    assert_file_refused(&app, &response, "FILE_TOO_LARGE").await
}

#[tokio::test]
async fn a_request_over_the_overall_body_limit_gets_a_graphql_error_with_http_413(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let huge = padded(files::pdf(), 2 * 1024 * 1024);
    let response = app
        .upload(&token, "PHYSICAL_EXAM_FORM", "exam.pdf", huge)
        .await?;
    assert_eq!(response.status, 413, "{}", response.body);
    assert_file_refused(&app, &response, "FILE_TOO_LARGE").await?;

    // The service is unharmed.
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await?;
    assert_eq!(health.status().as_u16(), 200);
    let response = app
        .upload(&token, "PHOTO", "photo.png", files::png())
        .await?;
    response.data("/uploadMaterial/id")?;
    Ok(())
}

#[tokio::test]
async fn a_kind_fetched_from_other_departments_cannot_be_uploaded() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let fetched = [
        "EXAM_CERTIFICATE",
        "EDUCATION_RECORD",
        "PUTONGHUA_CERTIFICATE",
        "CRIMINAL_RECORD_CHECK",
        "JURISDICTION_BASIS",
    ];
    for kind in fetched {
        let response = app.upload(&token, kind, "exam.pdf", files::pdf()).await?;
        response.assert_refused("BAD_USER_INPUT", Some("INVALID_MATERIAL"));
        assert_eq!(response.error_field().as_deref(), Some("kind"), "{kind}");
    }
    assert_eq!(stored_uploads(&app).await?, 0);
    Ok(())
}

#[tokio::test]
async fn only_applicants_may_upload() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let response = app
        .upload(&staff_token("clerk"), "PHOTO", "photo.png", files::png())
        .await?;
    response.assert_refused("FORBIDDEN", None);
    assert_eq!(stored_uploads(&app).await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_attached_upload_appears_among_the_cases_materials() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let photo = app
        .upload(&token, "PHOTO", "photo.png", files::png())
        .await?
        .data("/uploadMaterial")?;
    let exam = app
        .upload(&token, "PHYSICAL_EXAM_FORM", "exam.pdf", files::pdf())
        .await?
        .data("/uploadMaterial")?;
    let ids = [text(&photo, "/id")?, text(&exam, "/id")?];
    let response = app.submit(&ZHANG_SAN, &token, &ids, json!({})).await?;
    let materials = response.data("/submitApplication/submission/materials")?;
    let uploaded: Vec<_> = materials
        .as_array()
        .into_iter()
        .flatten()
        .filter(|material| material["source"] == "UPLOADED")
        .map(|material| (material["kind"].clone(), material["sha256"].clone()))
        .collect();
    assert!(
        uploaded.contains(&(json!("PHOTO"), photo["sha256"].clone())),
        "{materials}"
    );
    assert!(
        uploaded.contains(&(json!("PHYSICAL_EXAM_FORM"), exam["sha256"].clone())),
        "{materials}"
    );
    assert_eq!(uploaded.len(), 2);
    // 张三's exam certificate and the like come from other departments.
    assert!(
        materials
            .as_array()
            .into_iter()
            .flatten()
            .any(|material| material["kind"] == "EXAM_CERTIFICATE"
                && material["source"] == "FETCHED"),
        "{materials}"
    );
    Ok(())
}
