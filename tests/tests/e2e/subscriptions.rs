//! Live updates over WebSocket (graphql-transport-ws): a clerk's queue, an applicant's own
//! cases, and who may follow what.

use serde_json::{json, Value};
use teacher_cert_tests::people::{LI_SI, ZHANG_SAN};
use teacher_cert_tests::{applicant_token, staff_token, text, Subscription, TestApp};

const ACCEPTANCE_UPDATES: &str = "subscription {
  queueUpdates(kind: ACCEPTANCE) { kind change caseNumber item { caseNumber applicantName } }
}";

const MY_UPDATES: &str = "subscription { mySubmissionUpdates { caseNumber status statusLabel } }";

/// The next update's `data.<field>`, failing on an error payload.
async fn next_update(subscription: &mut Subscription, field: &str) -> anyhow::Result<Value> {
    let payload = subscription.next_data().await?;
    payload
        .pointer(&format!("/data/{field}"))
        .filter(|update| !update.is_null())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("expected a {field} update, got {payload}"))
}

/// The first error code of a refused subscription, whichever way the server reports it
/// (a `next` payload with errors, or an `error` message).
fn refusal_code(message: &Value) -> Option<&str> {
    message
        .pointer("/errors/0/extensions/code")
        .or_else(|| message.pointer("/payload/0/extensions/code"))
        .and_then(Value::as_str)
}

#[tokio::test]
async fn a_clerk_following_the_acceptance_queue_sees_a_new_case_added_then_removed(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut updates = app
        .subscribe(&staff_token("clerk"), ACCEPTANCE_UPDATES, json!({}))
        .await?;

    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let added = next_update(&mut updates, "queueUpdates").await?;
    assert_eq!(added["kind"], "ACCEPTANCE");
    assert_eq!(added["change"], "ADDED");
    assert_eq!(added["caseNumber"], case.as_str());
    assert_eq!(added["item"]["caseNumber"], case.as_str());
    assert_eq!(added["item"]["applicantName"], "张三");

    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    let removed = next_update(&mut updates, "queueUpdates").await?;
    assert_eq!(removed["change"], "REMOVED");
    assert_eq!(removed["caseNumber"], case.as_str());
    assert!(removed["item"].is_null());
    Ok(())
}

#[tokio::test]
async fn my_submission_updates_bring_the_applicants_own_changes_and_no_one_elses(
) -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut updates = app
        .subscribe(&applicant_token(&ZHANG_SAN), MY_UPDATES, json!({}))
        .await?;

    // Another applicant's changes come first in the feed; each of Zhang San's follows one
    // of them, so a leaked update would arrive before the one expected.
    let lis_case = app.submit_case(&LI_SI, json!({})).await?;
    let zhangs_case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    let submitted = next_update(&mut updates, "mySubmissionUpdates").await?;
    assert_eq!(submitted["caseNumber"], zhangs_case.as_str());
    assert_eq!(submitted["status"], "SUBMITTED");

    for case in [&lis_case, &zhangs_case] {
        app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
            .await?;
    }
    let accepted = next_update(&mut updates, "mySubmissionUpdates").await?;
    assert_eq!(accepted["caseNumber"], zhangs_case.as_str());
    assert_eq!(accepted["status"], "ACCEPTED");
    assert_eq!(accepted["statusLabel"], "受理通过，待审批");
    Ok(())
}

#[tokio::test]
async fn an_applicant_cannot_follow_a_work_queue() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut updates = app
        .subscribe(&applicant_token(&ZHANG_SAN), ACCEPTANCE_UPDATES, json!({}))
        .await?;
    let message = updates.next_data().await?;
    assert_eq!(refusal_code(&message), Some("FORBIDDEN"), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_subscription_without_a_token_is_unauthenticated() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let mut updates = app.subscribe_as(None, MY_UPDATES, json!({})).await?;
    let message = updates.next_data().await?;
    assert_eq!(refusal_code(&message), Some("UNAUTHENTICATED"), "{message}");
    Ok(())
}

#[tokio::test]
async fn a_subscriber_to_one_queue_hears_nothing_of_another() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let approval = "subscription { queueUpdates(kind: APPROVAL) { kind change caseNumber } }";
    let mut updates = app
        .subscribe(&staff_token("approver"), approval, json!({}))
        .await?;

    // Submitting only touches the acceptance queue; accepting then adds to this one. The
    // first update heard must be that addition.
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;
    app.wait_for_queue("ACCEPTANCE", &case, true).await?;
    app.decide_ok("clerk", "acceptApplication", json!({ "caseNumber": case }))
        .await?;
    let update = next_update(&mut updates, "queueUpdates").await?;
    assert_eq!(update["kind"], "APPROVAL");
    assert_eq!(update["change"], "ADDED");
    assert_eq!(text(&update, "/caseNumber")?, case);
    Ok(())
}

/// Opens a graphql-transport-ws connection, sends `connection_init` with `init` (nothing
/// when it is `None`) and then `then`, if any; returns the close frame's code once the
/// service closes the connection.
async fn close_code_of_a_connection_that(
    app: &TestApp,
    init: Option<Value>,
    then: Option<String>,
) -> anyhow::Result<Option<u16>> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    if let Some(payload) = init {
        let init = json!({ "type": "connection_init", "payload": payload });
        socket.send(Message::text(init.to_string())).await?;
    }
    if let Some(message) = then {
        socket.send(Message::text(message)).await?;
    }
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(message) = socket.next().await {
            if let Message::Close(frame) = message? {
                return anyhow::Ok(frame.map(|frame| u16::from(frame.code)));
            }
        }
        anyhow::Ok(None)
    })
    .await??;
    Ok(closed)
}

#[tokio::test]
async fn a_connection_that_never_authenticates_is_closed_with_4408() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (silent, bad_token) = tokio::join!(
        close_code_of_a_connection_that(&app, None, None),
        close_code_of_a_connection_that(
            &app,
            Some(json!({ "Authorization": "Bearer nope" })),
            None
        ),
    );
    assert_eq!(silent?, Some(4408), "no connection_init at all");
    assert_eq!(bad_token?, Some(4408), "a token that does not verify");
    Ok(())
}

#[tokio::test]
async fn a_message_over_256_kib_closes_the_connection_with_1009() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = staff_token("clerk");
    let padding = " ".repeat(300 * 1024);
    let subscribe = json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": format!("subscription {{ queueUpdates(kind: ACCEPTANCE) {{ change }} }}{padding}") },
    });
    let ended = close_code_of_a_connection_that(
        &app,
        Some(json!({ "Authorization": format!("Bearer {token}") })),
        Some(subscribe.to_string()),
    )
    .await;
    match ended {
        Ok(code) => assert_eq!(code, Some(1009)),
        // The service drops the socket with the rest of the message unread, so the kernel
        // may reset the connection before the close frame is read: ended either way.
        Err(error) => assert!(
            error.to_string().contains("reset by peer"),
            "the connection ended with {error}"
        ),
    }
    let still_serving = app.queue("ACCEPTANCE").await?;
    assert!(still_serving.is_empty());
    Ok(())
}
