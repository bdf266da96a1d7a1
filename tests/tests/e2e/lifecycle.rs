//! A case's whole life through the work queues: mailed and collected certificates, refusal
//! at acceptance (不予受理) and on the merits (不予许可), commands out of turn, and the
//! applicant's "my submissions" list.

use chrono::{Datelike, TimeDelta, Utc};
use serde_json::{json, Value};
use teacher_cert_tests::people::{LI_SI, ZHANG_SAN};
use teacher_cert_tests::{
    applicant_token, beijing_mail_address, eventually, mail_delivery, staff_token, text, TestApp,
};

/// Checks a certificate number: 17 digits = year + `11` + authority `108` + level digit +
/// gender digit + the serial, which is 1 for the first approval in a fresh database.
#[track_caller]
fn assert_certificate_number(number: &str, level_digit: char, gender_digit: char) {
    let year = (Utc::now() + TimeDelta::hours(8)).year();
    assert_eq!(number.len(), 17, "{number} has 17 characters");
    assert!(
        number.bytes().all(|b| b.is_ascii_digit()),
        "{number} is all digits"
    );
    assert!(
        number.starts_with(&format!("{year}11108")),
        "{number} starts with the year, Beijing (11) and the authority (108)"
    );
    assert_eq!(
        number[9..10],
        level_digit.to_string(),
        "level digit of {number}"
    );
    assert_eq!(
        number[10..11],
        gender_digit.to_string(),
        "gender digit of {number}"
    );
    assert_eq!(&number[11..], "000001", "serial of {number}");
}

fn statuses(timeline: &Value) -> Vec<String> {
    timeline
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|step| step["status"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_mailed_case_moves_through_every_queue_and_ends_shipped() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let materials = app.upload_required(&token, false).await?;

    // Submitted: in the acceptance queue.
    let response = app
        .submit(
            &ZHANG_SAN,
            &token,
            &materials,
            mail_delivery(beijing_mail_address()),
        )
        .await?;
    let submitted = response.data("/submitApplication/submission")?;
    let case = text(&submitted, "/caseNumber")?;
    assert_eq!(submitted["status"], "SUBMITTED");
    assert_eq!(submitted["statusLabel"], "申报成功");
    assert_eq!(submitted["applicantName"], "张三");
    assert_eq!(submitted["delivery"]["method"], "MAIL");
    assert_eq!(submitted["delivery"]["mailTo"], beijing_mail_address());
    assert!(submitted["certificateNumber"].is_null());
    app.wait_for_queue("ACCEPTANCE", &case, true).await?;

    // Accepted: from the acceptance queue to the approval queue.
    let accept = json!({ "caseNumber": case, "note": "材料齐全" });
    let accepted = app.decide_ok("clerk", "acceptApplication", accept).await?;
    assert_eq!(accepted["status"], "ACCEPTED");
    assert_eq!(accepted["statusLabel"], "受理通过，待审批");
    app.wait_for_queue("APPROVAL", &case, true).await?;
    app.wait_for_queue("ACCEPTANCE", &case, false).await?;

    // Approved: a certificate number, and into the dispatch queue.
    let approved = app
        .decide_ok(
            "approver",
            "approveApplication",
            json!({ "caseNumber": case }),
        )
        .await?;
    assert_eq!(approved["status"], "APPROVED");
    assert_eq!(approved["statusLabel"], "准予许可");
    let certificate = text(&approved, "/certificateNumber")?;
    assert_certificate_number(&certificate, '2', '1');
    app.wait_for_queue("DISPATCH", &case, true).await?;
    app.wait_for_queue("APPROVAL", &case, false).await?;

    // Shipped: out of every queue.
    let ship = json!({ "caseNumber": case, "carrier": "EMS", "trackingNumber": "1187654321098" });
    let shipped = app.decide_ok("dispatcher", "shipCertificate", ship).await?;
    assert_eq!(shipped["status"], "SHIPPED");
    assert_eq!(shipped["statusLabel"], "已邮寄");
    app.wait_for_queue("DISPATCH", &case, false).await?;

    // What the applicant sees.
    let seen = app.submission(&token, &case).await?;
    assert_eq!(seen["status"], "SHIPPED");
    assert_eq!(seen["certificateNumber"], certificate.as_str());
    assert_eq!(seen["shipment"]["carrier"], "EMS");
    assert_eq!(seen["shipment"]["trackingNumber"], "1187654321098");
    assert!(seen["shipment"]["shippedAt"].is_string());
    assert_eq!(
        statuses(&seen["timeline"]),
        ["SUBMITTED", "ACCEPTED", "APPROVED", "SHIPPED"]
    );
    assert_eq!(seen["timeline"][1]["note"], "材料齐全");
    assert_eq!(seen["timeline"][3]["label"], "已邮寄");
    Ok(())
}

#[tokio::test]
async fn a_window_pickup_case_moves_through_every_queue_and_ends_collected() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&LI_SI);
    let case = app.submit_case(&LI_SI, json!({})).await?;
    app.wait_for_queue("ACCEPTANCE", &case, true).await?;

    let accepted = app
        .decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    assert_eq!(accepted["status"], "ACCEPTED");
    app.wait_for_queue("APPROVAL", &case, true).await?;
    app.wait_for_queue("ACCEPTANCE", &case, false).await?;

    let approved = app
        .decide_ok(
            "approver",
            "approveApplication",
            json!({ "caseNumber": case }),
        )
        .await?;
    // 李四: junior middle school (3), a woman (0).
    assert_certificate_number(&text(&approved, "/certificateNumber")?, '3', '0');
    app.wait_for_queue("DISPATCH", &case, true).await?;
    app.wait_for_queue("APPROVAL", &case, false).await?;

    let collected = app
        .decide_ok(
            "dispatcher",
            "recordCollection",
            json!({ "caseNumber": case }),
        )
        .await?;
    assert_eq!(collected["status"], "COLLECTED");
    assert_eq!(collected["statusLabel"], "已领取");
    app.wait_for_queue("DISPATCH", &case, false).await?;

    let seen = app.submission(&token, &case).await?;
    assert_eq!(seen["status"], "COLLECTED");
    assert!(seen["shipment"].is_null());
    assert_eq!(seen["delivery"]["method"], "WINDOW_PICKUP");
    assert_eq!(
        statuses(&seen["timeline"]),
        ["SUBMITTED", "ACCEPTED", "APPROVED", "COLLECTED"]
    );
    Ok(())
}

#[tokio::test]
async fn a_window_pickup_certificate_cannot_be_mailed_nor_a_mailed_one_collected(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let window = app.submit_case(&LI_SI, json!({})).await?;
    let mailed = app
        .submit_case(&ZHANG_SAN, mail_delivery(beijing_mail_address()))
        .await?;
    for case in [&window, &mailed] {
        app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
            .await?;
        app.decide_ok(
            "approver",
            "approveApplication",
            json!({ "caseNumber": case }),
        )
        .await?;
    }
    let events_before = app.count_events(None).await?;

    let ship = json!({ "caseNumber": window, "carrier": "EMS", "trackingNumber": "1" });
    let dispatcher = staff_token("dispatcher");
    let shipped = app.decide(&dispatcher, "shipCertificate", ship).await?;
    shipped.assert_refused("RULE_VIOLATION", Some("DELIVERY_METHOD_MISMATCH"));
    let collect = json!({ "caseNumber": mailed });
    let collected = app.decide(&dispatcher, "recordCollection", collect).await?;
    collected.assert_refused("RULE_VIOLATION", Some("DELIVERY_METHOD_MISMATCH"));

    assert_eq!(app.count_events(None).await?, events_before);
    Ok(())
}

#[tokio::test]
async fn a_clerk_can_refuse_to_accept_a_case_with_a_written_reason() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    app.wait_for_queue("ACCEPTANCE", &case, true).await?;

    let reason = "不属于本机关管辖，请向户籍所在地教育行政部门申请";
    let reject = json!({ "caseNumber": case, "reason": reason });
    let refused = app.decide_ok("clerk", "rejectApplication", reject).await?;
    assert_eq!(refused["status"], "NOT_ACCEPTED");
    assert_eq!(refused["statusLabel"], "不予受理");
    assert_eq!(refused["decisionReason"], reason);
    app.wait_for_queue("ACCEPTANCE", &case, false).await?;
    assert!(!app.queue("APPROVAL").await?.contains(&case));

    let seen = app.submission(&token, &case).await?;
    assert_eq!(statuses(&seen["timeline"]), ["SUBMITTED", "NOT_ACCEPTED"]);

    // The case is closed: the applicant may apply again.
    let again = app.submit_case(&ZHANG_SAN, json!({})).await?;
    assert_ne!(again, case);
    Ok(())
}

#[tokio::test]
async fn a_refusal_without_a_written_reason_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;

    let reject = json!({ "caseNumber": case, "reason": "   " });
    let response = app
        .decide(&staff_token("clerk"), "rejectApplication", reject)
        .await?;
    response.assert_refused("BAD_USER_INPUT", Some("REASON_REQUIRED"));
    assert_eq!(response.error_field().as_deref(), Some("input.reason"));
    assert_eq!(app.count_events(Some("ApplicationNotAccepted")).await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_approver_can_refuse_an_accepted_case_on_its_merits() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    app.wait_for_queue("APPROVAL", &case, true).await?;

    let reason = "普通话水平测试等级不符合语文学科要求";
    let deny = json!({ "caseNumber": case, "reason": reason });
    let denied = app.decide_ok("approver", "denyApplication", deny).await?;
    assert_eq!(denied["status"], "NOT_APPROVED");
    assert_eq!(denied["statusLabel"], "不予许可");
    assert_eq!(denied["decisionReason"], reason);
    assert!(denied["certificateNumber"].is_null());
    app.wait_for_queue("APPROVAL", &case, false).await?;
    assert!(!app.queue("DISPATCH").await?.contains(&case));

    let seen = app.submission(&token, &case).await?;
    assert_eq!(
        statuses(&seen["timeline"]),
        ["SUBMITTED", "ACCEPTED", "NOT_APPROVED"]
    );
    Ok(())
}

#[tokio::test]
async fn a_command_out_of_turn_is_a_conflict_and_writes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;

    // Approving before acceptance.
    let approve = json!({ "caseNumber": case });
    let response = app
        .decide(&staff_token("approver"), "approveApplication", approve)
        .await?;
    response.assert_refused("CONFLICT", Some("INVALID_TRANSITION"));

    // Accepting twice.
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    let again = app
        .decide(
            &staff_token("clerk"),
            "acceptApplication",
            json!({ "caseNumber": case }),
        )
        .await?;
    again.assert_refused("CONFLICT", Some("INVALID_TRANSITION"));

    assert_eq!(app.count_events(None).await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_malformed_case_number_is_bad_input() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let accept = json!({ "caseNumber": "TC-not-a-case" });
    let response = app
        .decide(&staff_token("clerk"), "acceptApplication", accept)
        .await?;
    response.assert_refused("BAD_USER_INPUT", Some("INVALID_CASE_NUMBER"));
    assert_eq!(response.error_field().as_deref(), Some("input.caseNumber"));
    Ok(())
}

const MY_SUBMISSIONS: &str = "query($first: Int, $after: String, $status: ApplicationStatus) {
  mySubmissions(first: $first, after: $after, status: $status) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { caseNumber status } }
  }
}";

async fn my_submissions(app: &TestApp, token: &str, variables: Value) -> anyhow::Result<Value> {
    let response = app.graphql(Some(token), MY_SUBMISSIONS, variables).await?;
    response.data("/mySubmissions")
}

/// `(caseNumber, status)` of each edge, in list order.
fn listed(connection: &Value) -> Vec<(String, String)> {
    connection["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| {
            let node = &edge["node"];
            let field = |name: &str| node[name].as_str().unwrap_or_default().to_owned();
            (field("caseNumber"), field("status"))
        })
        .collect()
}

#[tokio::test]
async fn my_submissions_lists_the_applicants_cases_newest_first_filtered_and_paged(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);

    // Three cases: two refused at acceptance, the newest still open.
    let mut cases = Vec::new();
    for round in 0..3 {
        let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
        if round < 2 {
            let reject = json!({ "caseNumber": case, "reason": "材料不全" });
            app.decide_ok("clerk", "rejectApplication", reject).await?;
        }
        cases.push(case);
    }
    let expected = vec![
        (cases[2].clone(), "SUBMITTED".to_owned()),
        (cases[1].clone(), "NOT_ACCEPTED".to_owned()),
        (cases[0].clone(), "NOT_ACCEPTED".to_owned()),
    ];
    let query = |variables: Value| my_submissions(&app, &token, variables);
    let wanted = &expected;
    eventually(
        "my submissions show all three cases as they stand",
        move || async move {
            let all = query(json!({ "first": 10 })).await?;
            Ok((listed(&all) == *wanted).then_some(()))
        },
    )
    .await?;

    // Pages of two.
    let first_page = query(json!({ "first": 2 })).await?;
    assert_eq!(listed(&first_page), expected[..2]);
    assert_eq!(first_page["totalCount"], 3);
    assert_eq!(first_page["pageInfo"]["hasNextPage"], true);
    assert_eq!(first_page["pageInfo"]["hasPreviousPage"], false);
    let after = text(&first_page, "/pageInfo/endCursor")?;
    let second_page = query(json!({ "first": 2, "after": after })).await?;
    assert_eq!(listed(&second_page), expected[2..]);
    assert_eq!(second_page["pageInfo"]["hasNextPage"], false);
    assert_eq!(second_page["pageInfo"]["hasPreviousPage"], true);

    // By status.
    let refused = query(json!({ "first": 10, "status": "NOT_ACCEPTED" })).await?;
    assert_eq!(listed(&refused), expected[1..]);
    assert_eq!(refused["totalCount"], 2);
    let open = query(json!({ "first": 10, "status": "SUBMITTED" })).await?;
    assert_eq!(listed(&open), expected[..1]);
    let shipped = query(json!({ "first": 10, "status": "SHIPPED" })).await?;
    assert_eq!(listed(&shipped), []);
    assert_eq!(shipped["totalCount"], 0);
    Ok(())
}

#[tokio::test]
async fn my_submissions_refuses_a_cursor_it_never_issued() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let variables = json!({ "first": 5, "after": "bm90LWEtY3Vyc29y" });
    let response = app.graphql(Some(&token), MY_SUBMISSIONS, variables).await?;
    response.assert_refused("BAD_USER_INPUT", None);
    assert_eq!(response.error_field().as_deref(), Some("after"));
    Ok(())
}

#[tokio::test]
async fn each_mutation_answers_with_the_case_exactly_as_it_reads_back_afterwards(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = applicant_token(&ZHANG_SAN);
    let materials = app.upload_required(&token, false).await?;
    let extra = mail_delivery(beijing_mail_address());
    let submitted = app.submit(&ZHANG_SAN, &token, &materials, extra).await?;
    let answered = submitted.data("/submitApplication/submission")?;
    let case = submitted.data_str("/submitApplication/submission/caseNumber")?;
    assert_eq!(answered, app.submission(&token, &case).await?);

    let auditor = staff_token("auditor");
    let steps = [
        ("clerk", "acceptApplication", json!({ "caseNumber": case })),
        (
            "approver",
            "approveApplication",
            json!({ "caseNumber": case }),
        ),
        (
            "dispatcher",
            "shipCertificate",
            json!({ "caseNumber": case, "carrier": "EMS", "trackingNumber": "1234567890" }),
        ),
    ];
    for (role, mutation, input) in steps {
        let answered = app.decide_ok(role, mutation, input).await?;
        assert_eq!(
            answered,
            app.submission(&auditor, &case).await?,
            "{mutation} answered with the case as it reads back"
        );
    }
    Ok(())
}
