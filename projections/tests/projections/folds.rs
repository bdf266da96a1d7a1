//! What the projectors make of a case's events: the applicant's view and the work queues.

use std::sync::Arc;

use chrono::NaiveDate;
use domain::{ApplicationEvent, Status};
use projections::views::DeliveryMethod;
use projections::{
    catch_up, run_once, store, Change, MySubmissionsProjector, Projector, QueueChange, QueueKind,
    QueuesProjector, SubmissionView,
};

use crate::support::{
    accepted, append_case, append_from, approved, at, case_number, collected, mail, not_accepted,
    not_approved, shipped, submitted, window, TestDb,
};

fn statuses(view: &SubmissionView) -> Vec<(Status, &str, Option<&str>)> {
    view.timeline
        .iter()
        .map(|step| (step.status, step.label.as_str(), step.note.as_deref()))
        .collect()
}

fn numbered(events: &[ApplicationEvent]) -> impl Iterator<Item = (i64, &ApplicationEvent)> {
    (1..).zip(events)
}

/// Projects `events` of case `n` and returns the stored view, checking it equals the
/// pure fold.
async fn project(n: u64, events: &[ApplicationEvent]) -> SubmissionView {
    let db = TestDb::new().await;
    append_case(&db.pool, n, events).await;
    catch_up(&db.pool, &[Arc::new(MySubmissionsProjector)])
        .await
        .unwrap();
    let stored = store::submission(&db.pool, case_number(n).as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Some(&stored),
        SubmissionView::fold(numbered(events)).as_ref()
    );
    stored
}

#[tokio::test]
async fn a_mailed_case_folds_from_submission_to_shipment_with_one_step_per_event() {
    let events = [
        submitted(1, "alice", 0, mail()),
        accepted(60, Some("材料齐全，予以受理")),
        approved(120, "20261100010200001"),
        shipped(180),
    ];

    let view = project(1, &events).await;

    assert_eq!(view.case_number, case_number(1).as_str());
    assert_eq!(view.applicant_id, "alice");
    assert_eq!(view.applicant_name, "李娜");
    assert_eq!(view.status, Status::Shipped);
    assert_eq!(view.delivery, mail());
    assert_eq!(view.subject.as_ref().map(|s| s.as_str()), Some("语文"));
    assert_eq!(view.materials.len(), 1);
    assert_eq!(view.submitted_at, at(0));
    assert_eq!(view.updated_at, at(180));
    assert_eq!(
        view.certificate_number.as_deref(),
        Some("20261100010200001")
    );
    assert_eq!(view.decision_reason, None);
    let shipment = view.shipment.as_ref().unwrap();
    assert_eq!(
        (shipment.carrier.as_str(), shipment.tracking_number.as_str()),
        ("EMS", "1234567890123")
    );
    assert_eq!(shipment.shipped_at, at(180));
    assert_eq!(view.last_sequence, 4);
    assert_eq!(
        statuses(&view),
        [
            (Status::Submitted, "申报成功", None),
            (
                Status::Accepted,
                "受理通过，待审批",
                Some("材料齐全，予以受理")
            ),
            (Status::Approved, "准予许可", Some("材料齐全")),
            (Status::Shipped, "已邮寄", Some("EMS 1234567890123")),
        ]
    );
    let times: Vec<_> = view.timeline.iter().map(|step| step.at).collect();
    assert_eq!(times, [at(0), at(60), at(120), at(180)]);
}

#[tokio::test]
async fn a_window_pickup_case_folds_to_collected_without_a_shipment() {
    let events = [
        submitted(2, "alice", 0, window()),
        accepted(60, None),
        approved(120, "20261100010200002"),
        collected(240),
    ];

    let view = project(2, &events).await;

    assert_eq!(view.status, Status::Collected);
    assert_eq!(view.delivery, window());
    assert_eq!(view.shipment, None);
    assert_eq!(view.updated_at, at(240));
    assert_eq!(
        statuses(&view),
        [
            (Status::Submitted, "申报成功", None),
            (Status::Accepted, "受理通过，待审批", None),
            (Status::Approved, "准予许可", Some("材料齐全")),
            (Status::Collected, "已领取", None),
        ]
    );
}

#[tokio::test]
async fn refusals_keep_their_reason_in_the_view_and_the_timeline() {
    let refused_at_acceptance = [
        submitted(3, "alice", 0, window()),
        not_accepted(30, "不属于本中心受理范围"),
    ];
    let view = project(3, &refused_at_acceptance).await;
    assert_eq!(view.status, Status::NotAccepted);
    assert_eq!(
        view.decision_reason.as_deref(),
        Some("不属于本中心受理范围")
    );
    assert_eq!(
        view.timeline[1].note.as_deref(),
        Some("不属于本中心受理范围")
    );

    let refused_at_approval = [
        submitted(4, "alice", 0, window()),
        accepted(30, None),
        not_approved(90, "体检不合格"),
    ];
    let view = project(4, &refused_at_approval).await;
    assert_eq!(view.status, Status::NotApproved);
    assert_eq!(view.decision_reason.as_deref(), Some("体检不合格"));
    assert_eq!(
        view.rights_notice.as_deref(),
        Some("可于60日内申请行政复议")
    );
    assert_eq!(
        statuses(&view)[2],
        (Status::NotApproved, "不予许可", Some("体检不合格"))
    );
    assert_eq!(view.certificate_number, None);
}

#[tokio::test]
async fn a_fold_needs_the_submission_first() {
    assert_eq!(SubmissionView::fold(numbered(&[accepted(1, None)])), None);
    assert_eq!(SubmissionView::fold(numbered(&[])), None);
}

#[tokio::test]
async fn an_event_already_in_the_view_is_not_applied_again() {
    let db = TestDb::new().await;
    let events = [submitted(5, "alice", 0, window()), accepted(10, None)];
    append_case(&db.pool, 5, &events).await;
    catch_up(&db.pool, &[Arc::new(MySubmissionsProjector)])
        .await
        .unwrap();

    // Replaying the feed from the start over the existing view changes nothing.
    let mut conn = db.pool.acquire().await.unwrap();
    for event in projections::feed::read_after(&db.pool, Default::default(), 10)
        .await
        .unwrap()
    {
        let changes = MySubmissionsProjector
            .apply(&mut conn, store::TableSet::Live, &[event])
            .await
            .unwrap();
        assert!(changes.is_empty());
    }
    let view = store::submission(&db.pool, case_number(5).as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.timeline.len(), 2);
}

/// The queue changes of one step, as (kind, change, case has an item).
fn queue_changes(changes: &[Change]) -> Vec<(QueueKind, QueueChange, bool)> {
    changes
        .iter()
        .filter_map(|change| match change {
            Change::Queue {
                kind, change, item, ..
            } => Some((*kind, *change, item.is_some())),
            Change::SubmissionChanged(_) => None,
        })
        .collect()
}

async fn queued_cases(db: &TestDb, kind: QueueKind) -> Vec<String> {
    store::queue(&db.pool, kind, 100, None)
        .await
        .unwrap()
        .edges
        .into_iter()
        .map(|(_, item)| item.case_number)
        .collect()
}

#[tokio::test]
async fn queues_move_a_case_from_acceptance_to_approval_to_dispatch_and_then_out() {
    use QueueChange::{Added, Removed};
    use QueueKind::{Acceptance, Approval, Dispatch};
    let db = TestDb::new().await;
    let case = case_number(6).as_str().to_owned();
    let steps = [
        (
            submitted(6, "alice", 0, mail()),
            vec![(Acceptance, Added, true)],
        ),
        (
            accepted(60, None),
            vec![(Acceptance, Removed, false), (Approval, Added, true)],
        ),
        (
            approved(120, "20261100010200006"),
            vec![(Approval, Removed, false), (Dispatch, Added, true)],
        ),
        (shipped(180), vec![(Dispatch, Removed, false)]),
    ];

    for (sequence, (event, expected)) in (1..).zip(steps) {
        append_from(&db.pool, 6, sequence, std::slice::from_ref(&event)).await;
        let outcome = run_once(&db.pool, &QueuesProjector, 10).await.unwrap();
        assert_eq!(outcome.applied, 1);
        assert_eq!(queue_changes(&outcome.changes), expected, "after {event:?}");

        let expected_queue = expected
            .iter()
            .find(|(_, change, _)| *change == Added)
            .map(|(kind, _, _)| *kind);
        for kind in QueueKind::ALL {
            let in_queue = queued_cases(&db, kind).await == [case.clone()];
            assert_eq!(
                in_queue,
                Some(kind) == expected_queue,
                "{kind:?} after {event:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_queue_item_carries_the_case_summary_and_its_beijing_due_date() {
    let db = TestDb::new().await;
    // Submitted 2026-12-04 23:00 UTC, which is already 2026-12-05 07:00 in Beijing.
    append_case(&db.pool, 7, &[submitted(7, "alice", 22 * 60, mail())]).await;
    let outcome = run_once(&db.pool, &QueuesProjector, 10).await.unwrap();

    let Change::Queue {
        item: Some(item), ..
    } = &outcome.changes[0]
    else {
        panic!("expected an added item, got {:?}", outcome.changes);
    };
    assert_eq!(item.kind, QueueKind::Acceptance);
    assert_eq!(item.case_number, case_number(7).as_str());
    assert_eq!(item.applicant_name, "李娜");
    assert_eq!(item.entered_at, at(22 * 60));
    assert_eq!(item.submitted_at, at(22 * 60));
    assert_eq!(item.delivery_method, DeliveryMethod::Mail);
    assert_eq!(item.due_date, NaiveDate::from_ymd_opt(2027, 1, 4).unwrap());

    // Once approved, the case is due 10 days after it entered the dispatch queue.
    append_accept_and_approve(&db, 7).await;
    run_once(&db.pool, &QueuesProjector, 10).await.unwrap();
    let dispatch = store::queue(&db.pool, QueueKind::Dispatch, 10, None)
        .await
        .unwrap();
    let (_, item) = &dispatch.edges[0];
    // Approved 2026-12-06 09:00 Beijing time.
    assert_eq!(item.entered_at, at(2 * 24 * 60));
    assert_eq!(
        item.due_date,
        NaiveDate::from_ymd_opt(2026, 12, 16).unwrap()
    );
    assert_eq!(item.submitted_at, at(22 * 60));
}

async fn append_accept_and_approve(db: &TestDb, n: u64) {
    let events = [
        accepted(24 * 60, None),
        approved(2 * 24 * 60, "20261100010200007"),
    ];
    append_from(&db.pool, n, 2, &events).await;
}

#[tokio::test]
async fn a_case_refused_at_acceptance_leaves_every_queue() {
    let db = TestDb::new().await;
    append_case(
        &db.pool,
        8,
        &[
            submitted(8, "alice", 0, window()),
            not_accepted(5, "重复申报"),
        ],
    )
    .await;
    let outcome = run_once(&db.pool, &QueuesProjector, 10).await.unwrap();

    assert_eq!(
        queue_changes(&outcome.changes),
        [
            (QueueKind::Acceptance, QueueChange::Added, true),
            (QueueKind::Acceptance, QueueChange::Removed, false),
        ]
    );
    for kind in QueueKind::ALL {
        assert!(queued_cases(&db, kind).await.is_empty());
    }
}

/// Every queue's items, in queue order, as `(kind, case number, entered at)`.
async fn all_queues(db: &TestDb) -> Vec<(QueueKind, String, chrono::DateTime<chrono::Utc>)> {
    let mut all = Vec::new();
    for kind in [
        QueueKind::Acceptance,
        QueueKind::Approval,
        QueueKind::Dispatch,
    ] {
        let page = store::queue(&db.pool, kind, 100, None).await.unwrap();
        all.extend(
            page.edges
                .into_iter()
                .map(|(_, item)| (item.kind, item.case_number, item.entered_at)),
        );
    }
    all
}

#[tokio::test]
async fn one_batch_holding_whole_case_lives_folds_like_one_event_per_step() {
    let histories = [
        vec![
            submitted(1, "alice", 0, mail()),
            accepted(60, None),
            approved(120, "20261100010200001"),
            shipped(180),
        ],
        vec![submitted(2, "bob", 5, window()), accepted(65, None)],
        vec![
            submitted(3, "carol", 10, window()),
            not_accepted(70, "材料不全"),
        ],
        vec![submitted(4, "dave", 15, mail())],
    ];
    let one_by_one = TestDb::new().await;
    let batched = TestDb::new().await;
    for db in [&one_by_one, &batched] {
        for (n, events) in (1..).zip(&histories) {
            append_case(&db.pool, n, events).await;
        }
    }

    let mut stepped_changes = Vec::new();
    for projector in [&MySubmissionsProjector as &dyn Projector, &QueuesProjector] {
        loop {
            let step = run_once(&one_by_one.pool, projector, 1).await.unwrap();
            if step.applied == 0 {
                break;
            }
            stepped_changes.extend(step.changes);
        }
    }
    let mut batched_changes = Vec::new();
    for projector in [&MySubmissionsProjector as &dyn Projector, &QueuesProjector] {
        let step = run_once(&batched.pool, projector, 100).await.unwrap();
        assert_eq!(step.applied, 9, "every event in one batch");
        batched_changes.extend(step.changes);
    }

    assert_eq!(batched_changes, stepped_changes);
    assert_eq!(all_queues(&batched).await, all_queues(&one_by_one).await);
    assert_eq!(all_queues(&batched).await.len(), 2, "cases 2 and 4 wait");
    for n in 1..=4 {
        let case = case_number(n);
        assert_eq!(
            store::submission(&batched.pool, case.as_str())
                .await
                .unwrap(),
            store::submission(&one_by_one.pool, case.as_str())
                .await
                .unwrap(),
        );
    }
}
