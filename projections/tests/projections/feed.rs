//! The ordered feed: commit order, late commits, limits, undecodable events.

use projections::feed::{self, FeedError, FeedPosition};
use sqlx::{Connection, PgConnection};

use crate::support::{
    accepted, append_case, append_on, case_number, settle, submitted, window, TestDb,
};

#[tokio::test]
async fn the_feed_holds_back_a_later_commit_until_an_earlier_open_transaction_commits() {
    let db = TestDb::new().await;
    let mut early = db.connect().await;
    let mut late = db.connect().await;

    // The early transaction appends first and stays open.
    let mut early_tx = early.begin().await.unwrap();
    append_on(&mut early_tx, 1, 1, &submitted(1, "alice", 0, window())).await;

    // A later transaction appends and commits.
    let mut late_tx = late.begin().await.unwrap();
    append_on(&mut late_tx, 2, 1, &submitted(2, "bob", 1, window())).await;
    late_tx.commit().await.unwrap();

    let held_back = feed::read_after(&db.pool, FeedPosition::ZERO, 10)
        .await
        .unwrap();
    assert!(
        held_back.is_empty(),
        "delivered {held_back:?} past an open transaction"
    );
    assert_eq!(
        feed::head_position(&db.pool).await.unwrap(),
        FeedPosition::ZERO
    );
    assert!(
        feed::held_back_after(&db.pool, FeedPosition::ZERO)
            .await
            .unwrap(),
        "the later commit is held back, and a reader must be told so"
    );

    early_tx.commit().await.unwrap();
    settle(&db.pool).await;
    let delivered = feed::read_after(&db.pool, FeedPosition::ZERO, 10)
        .await
        .unwrap();
    let cases: Vec<&str> = delivered.iter().map(|e| e.case_number.as_str()).collect();
    assert_eq!(cases, [case_number(1).as_str(), case_number(2).as_str()]);
    assert!(delivered[0].position < delivered[1].position);
    assert_eq!(
        feed::head_position(&db.pool).await.unwrap(),
        delivered[1].position
    );
    assert!(!feed::held_back_after(&db.pool, delivered[1].position)
        .await
        .unwrap());
}

#[tokio::test]
async fn the_feed_orders_by_transaction_even_when_global_positions_disagree() {
    let db = TestDb::new().await;
    let mut first_writer = db.connect().await;
    let mut second_writer = db.connect().await;

    // The second transaction takes its transaction id first but inserts last.
    let mut second_tx = second_writer.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *second_tx)
        .await
        .unwrap();
    let mut first_tx = first_writer.begin().await.unwrap();
    append_on(&mut first_tx, 1, 1, &submitted(1, "alice", 0, window())).await;
    first_tx.commit().await.unwrap();
    append_on(&mut second_tx, 2, 1, &submitted(2, "bob", 1, window())).await;
    second_tx.commit().await.unwrap();
    settle(&db.pool).await;

    let delivered = feed::read_after(&db.pool, FeedPosition::ZERO, 10)
        .await
        .unwrap();
    let cases: Vec<&str> = delivered.iter().map(|e| e.case_number.as_str()).collect();
    assert_eq!(cases, [case_number(2).as_str(), case_number(1).as_str()]);
    assert!(delivered[0].position.global_position > delivered[1].position.global_position);
    assert!(delivered[0].position < delivered[1].position);
}

#[tokio::test]
async fn the_feed_resumes_after_a_position_and_honours_the_limit() {
    let db = TestDb::new().await;
    let events = [
        submitted(1, "alice", 0, window()),
        accepted(5, Some("齐全")),
    ];
    append_case(&db.pool, 1, &events).await;
    append_case(&db.pool, 2, &[submitted(2, "bob", 10, window())]).await;

    let first = feed::read_after(&db.pool, FeedPosition::ZERO, 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].event, events[0]);
    assert_eq!(first[1].event, events[1]);
    assert_eq!(first[1].sequence, 2);
    assert_eq!(first[1].event_type, "ApplicationAccepted");
    assert_eq!(first[1].event_version, "1.0");
    assert_eq!(first[1].metadata["actor_role"], "clerk");

    let rest = feed::read_after(&db.pool, first[1].position, 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].case_number, case_number(2).as_str());
    let none = feed::read_after(&db.pool, rest[0].position, 2)
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn an_event_the_feed_cannot_decode_is_an_error_not_a_gap() {
    let db = TestDb::new().await;
    append_case(&db.pool, 1, &[submitted(1, "alice", 0, window())]).await;
    sqlx::query(
        "INSERT INTO events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Application', $1, 2, 'ApplicationTeleported', '1.0', \
                 '{\"ApplicationTeleported\": {}}', '{}')",
    )
    .bind(case_number(1).as_str())
    .execute(&db.pool)
    .await
    .unwrap();
    settle(&db.pool).await;

    let error = feed::read_after(&db.pool, FeedPosition::ZERO, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, FeedError::Undecodable { sequence: 2, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_feed_ignores_other_aggregate_types() {
    let db = TestDb::new().await;
    let mut conn: PgConnection = db.connect().await;
    sqlx::query(
        "INSERT INTO events \
             (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('Batch', 'B1', 1, 'BatchOpened', '1.0', '{\"BatchOpened\": {}}', '{}')",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    assert!(feed::read_after(&db.pool, FeedPosition::ZERO, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        feed::head_position(&db.pool).await.unwrap(),
        FeedPosition::ZERO
    );
}

/// Appends `ApplicationSubmitted` for case `n` as if written by transaction `transaction_id`.
async fn append_as_transaction(conn: &mut PgConnection, n: u64, transaction_id: u64) {
    let payload = serde_json::to_value(submitted(n, "alice", 0, window())).unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                             event_version, payload, metadata, transaction_id) \
         VALUES ('Application', $1, 1, 'ApplicationSubmitted', '1.0', $2, '{}', $3::text::xid8)",
    )
    .bind(case_number(n).as_str())
    .bind(sqlx::types::Json(payload))
    .bind(transaction_id.to_string())
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_feed_orders_transaction_ids_by_number_where_their_digit_count_changes() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    // Transactions long finished on any server: 9 and 10, 99 and 100.
    for (n, transaction_id) in [(1, 100), (2, 9), (3, 99), (4, 10)] {
        append_as_transaction(&mut conn, n, transaction_id).await;
    }
    let transactions = |events: &[feed::FeedEvent]| -> Vec<u64> {
        events
            .iter()
            .map(|event| event.position.transaction_id)
            .collect()
    };

    let first_two = feed::read_after(&db.pool, FeedPosition::ZERO, 2)
        .await
        .unwrap();
    assert_eq!(transactions(&first_two), [9, 10]);
    let rest = feed::read_after(&db.pool, first_two[1].position, 10)
        .await
        .unwrap();
    assert_eq!(transactions(&rest), [99, 100]);
    assert_eq!(
        feed::head_position(&db.pool).await.unwrap(),
        rest[1].position
    );
    assert_eq!(
        feed::committed_head(&db.pool).await.unwrap(),
        rest[1].position
    );
}
