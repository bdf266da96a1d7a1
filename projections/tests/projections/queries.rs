//! The read-model queries: keyset pages, the status filter, cursors.

use std::sync::Arc;

use domain::Status;
use projections::{catch_up, store, Projector, QueueKind, StoreError};

use crate::support::{accepted, append_case, case_number, submitted, window, TestDb};

/// Cases 1..=5 by alice submitted a minute apart (case 3 accepted), case 6 by bob.
async fn five_cases_of_alice_and_one_of_bob() -> TestDb {
    let db = TestDb::new().await;
    for n in 1..=5 {
        let minute = i64::try_from(n).unwrap();
        let mut events = vec![submitted(n, "alice", minute, window())];
        if n == 3 {
            events.push(accepted(60, None));
        }
        append_case(&db.pool, n, &events).await;
    }
    append_case(&db.pool, 6, &[submitted(6, "bob", 10, window())]).await;
    let projectors: Vec<Arc<dyn Projector>> = projections::projector::all();
    catch_up(&db.pool, &projectors).await.unwrap();
    db
}

fn cases<T>(edges: &[(String, T)], case_of: impl Fn(&T) -> &str) -> Vec<String> {
    edges
        .iter()
        .map(|(_, node)| case_of(node).to_owned())
        .collect()
}

fn numbers(ns: &[u64]) -> Vec<String> {
    ns.iter()
        .map(|n| case_number(*n).as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn my_submissions_pages_newest_first_and_resumes_after_a_cursor() {
    let db = five_cases_of_alice_and_one_of_bob().await;

    let first = store::my_submissions(&db.pool, "alice", None, 2, None)
        .await
        .unwrap();
    assert_eq!(cases(&first.edges, |v| &v.case_number), numbers(&[5, 4]));
    assert!(first.has_next_page);
    assert_eq!(first.total_count, 5);

    let after = first.edges.last().map(|(cursor, _)| cursor.as_str());
    let second = store::my_submissions(&db.pool, "alice", None, 2, after)
        .await
        .unwrap();
    assert_eq!(cases(&second.edges, |v| &v.case_number), numbers(&[3, 2]));
    assert!(second.has_next_page);

    let after = second.edges.last().map(|(cursor, _)| cursor.as_str());
    let last = store::my_submissions(&db.pool, "alice", None, 2, after)
        .await
        .unwrap();
    assert_eq!(cases(&last.edges, |v| &v.case_number), numbers(&[1]));
    assert!(!last.has_next_page);
    assert_eq!(last.total_count, 5);
}

#[tokio::test]
async fn my_submissions_filters_by_status_and_shows_only_the_applicants_own_cases() {
    let db = five_cases_of_alice_and_one_of_bob().await;

    let accepted = store::my_submissions(&db.pool, "alice", Some(Status::Accepted), 10, None)
        .await
        .unwrap();
    assert_eq!(cases(&accepted.edges, |v| &v.case_number), numbers(&[3]));
    assert_eq!(accepted.total_count, 1);
    assert!(!accepted.has_next_page);

    let submitted = store::my_submissions(&db.pool, "alice", Some(Status::Submitted), 10, None)
        .await
        .unwrap();
    assert_eq!(
        cases(&submitted.edges, |v| &v.case_number),
        numbers(&[5, 4, 2, 1])
    );

    let bobs = store::my_submissions(&db.pool, "bob", None, 10, None)
        .await
        .unwrap();
    assert_eq!(cases(&bobs.edges, |v| &v.case_number), numbers(&[6]));
    let nobody = store::my_submissions(&db.pool, "carol", None, 10, None)
        .await
        .unwrap();
    assert!(nobody.edges.is_empty());
    assert_eq!(nobody.total_count, 0);
}

#[tokio::test]
async fn a_queue_pages_oldest_first_and_resumes_after_a_cursor() {
    let db = five_cases_of_alice_and_one_of_bob().await;

    let first = store::queue(&db.pool, QueueKind::Acceptance, 3, None)
        .await
        .unwrap();
    assert_eq!(cases(&first.edges, |i| &i.case_number), numbers(&[1, 2, 4]));
    assert!(first.has_next_page);
    assert_eq!(first.total_count, 5);

    let after = first.edges.last().map(|(cursor, _)| cursor.as_str());
    let rest = store::queue(&db.pool, QueueKind::Acceptance, 3, after)
        .await
        .unwrap();
    assert_eq!(cases(&rest.edges, |i| &i.case_number), numbers(&[5, 6]));
    assert!(!rest.has_next_page);

    let approval = store::queue(&db.pool, QueueKind::Approval, 3, None)
        .await
        .unwrap();
    assert_eq!(cases(&approval.edges, |i| &i.case_number), numbers(&[3]));
}

#[tokio::test]
async fn cases_submitted_at_the_same_instant_page_without_loss_or_repeat() {
    let db = TestDb::new().await;
    for n in 1..=5 {
        append_case(&db.pool, n, &[submitted(n, "alice", 0, window())]).await;
    }
    catch_up(&db.pool, &projections::projector::all())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store::my_submissions(&db.pool, "alice", None, 2, after.as_deref())
            .await
            .unwrap();
        seen.extend(cases(&page.edges, |v| &v.case_number));
        after = page.edges.last().map(|(cursor, _)| cursor.clone());
        if !page.has_next_page {
            break;
        }
    }
    let mut expected = numbers(&[1, 2, 3, 4, 5]);
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_malformed_or_foreign_cursor_is_refused_as_invalid() {
    let db = five_cases_of_alice_and_one_of_bob().await;
    let queue_page = store::queue(&db.pool, QueueKind::Acceptance, 1, None)
        .await
        .unwrap();
    let queue_cursor = queue_page.edges[0].0.as_str();

    for garbage in ["", "not a cursor", "eyJ9", queue_cursor] {
        let refused = store::my_submissions(&db.pool, "alice", None, 2, Some(garbage)).await;
        assert!(
            matches!(refused, Err(StoreError::InvalidCursor)),
            "{garbage:?} gave {refused:?}"
        );
    }
    let refused = store::queue(&db.pool, QueueKind::Acceptance, 2, Some("%%%")).await;
    assert!(matches!(refused, Err(StoreError::InvalidCursor)));
}

#[tokio::test]
async fn an_unknown_case_has_no_submission() {
    let db = TestDb::new().await;
    let missing = store::submission(&db.pool, case_number(99).as_str())
        .await
        .unwrap();
    assert_eq!(missing, None);
}
