//! What happens to a submitted case: acceptance, approval, delivery, and what each refuses.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cqrs_es::test::TestFramework;

use super::support::*;
use crate::aggregate::APPEAL_RIGHTS;
use crate::ports::PortError;
use crate::values::{Delivery, Gender, QualificationLevel};
use crate::{
    Application, ApplicationCommand, ApplicationError, ApplicationEvent, ApplicationServices,
    CertificateNumber, Reason, Status,
};

fn accept(note: Option<&str>) -> ApplicationCommand {
    ApplicationCommand::AcceptApplication {
        note: note.map(str::to_owned),
    }
}

fn reject(reason: &str) -> ApplicationCommand {
    ApplicationCommand::RejectApplication {
        reason: reason.to_owned(),
    }
}

fn approve(note: Option<&str>) -> ApplicationCommand {
    ApplicationCommand::ApproveApplication {
        note: note.map(str::to_owned),
    }
}

fn deny(reason: &str) -> ApplicationCommand {
    ApplicationCommand::DenyApplication {
        reason: reason.to_owned(),
    }
}

fn ship(carrier: &str, tracking_number: &str) -> ApplicationCommand {
    ApplicationCommand::ShipCertificate {
        carrier: carrier.to_owned(),
        tracking_number: tracking_number.to_owned(),
    }
}

fn window_case_submitted() -> Vec<ApplicationEvent> {
    vec![submitted(Delivery::WindowPickup, Some(Gender::Male))]
}

fn window_case_accepted() -> Vec<ApplicationEvent> {
    vec![
        submitted(Delivery::WindowPickup, Some(Gender::Male)),
        accepted(),
    ]
}

async fn when_given(
    history: Vec<ApplicationEvent>,
    command: ApplicationCommand,
) -> Result<Vec<ApplicationEvent>, ApplicationError> {
    framework()
        .given(history)
        .when_async(command)
        .await
        .inspect_result()
}

fn every_command_but_submit() -> Vec<ApplicationCommand> {
    vec![
        accept(None),
        reject("不符合受理条件"),
        approve(None),
        deny("不符合认定条件"),
        ship("EMS", "EA123456789CN"),
        ApplicationCommand::RecordCollection,
    ]
}

#[tokio::test]
async fn a_clerk_accepts_a_submitted_case_with_a_note() {
    framework()
        .given(window_case_submitted())
        .when_async(accept(Some("  材料齐全 ")))
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationAccepted {
            note: Some(text("材料齐全")),
            at: now(),
        }]);
}

#[tokio::test]
async fn a_blank_acceptance_note_is_recorded_as_no_note() {
    framework()
        .given(window_case_submitted())
        .when_async(accept(Some("   ")))
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationAccepted {
            note: None,
            at: now(),
        }]);
}

#[tokio::test]
async fn an_acceptance_note_longer_than_five_hundred_characters_is_invalid() {
    let note = "注".repeat(501);
    let result = when_given(window_case_submitted(), accept(Some(&note))).await;
    assert_invalid(result, "note", Reason::InvalidText);
}

#[tokio::test]
async fn a_clerk_refuses_to_accept_a_case_with_a_written_reason() {
    framework()
        .given(window_case_submitted())
        .when_async(reject("户籍不在本区，请向户籍所在地认定机构申请"))
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationNotAccepted {
            reason: text("户籍不在本区，请向户籍所在地认定机构申请"),
            at: now(),
        }]);
}

#[tokio::test]
async fn refusing_to_accept_without_a_reason_is_refused() {
    let result = when_given(window_case_submitted(), reject(" \n ")).await;
    assert_invalid(result, "reason", Reason::ReasonRequired);
}

#[tokio::test]
async fn a_reason_longer_than_a_thousand_characters_is_invalid() {
    let reason = "因".repeat(1001);
    let result = when_given(window_case_submitted(), reject(&reason)).await;
    assert_invalid(result, "reason", Reason::InvalidText);
}

#[tokio::test]
async fn an_approver_approves_an_accepted_case_and_a_certificate_number_is_issued() {
    let serials = RecordingSerials::handing_out(Ok(42));
    let services = ApplicationServices {
        certificate_serials: serials.clone(),
        ..services()
    };
    TestFramework::<Application>::with(services)
        .given(window_case_accepted())
        .when_async(approve(Some("符合条件")))
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationApproved {
            certificate_number: CertificateNumber::compose(
                2025,
                "108",
                QualificationLevel::PrimarySchool,
                Some(Gender::Male),
                42,
            ),
            note: Some(text("符合条件")),
            at: now(),
        }]);
    assert_eq!(serials.requests(), [("108".to_owned(), 2025)]);
}

#[tokio::test]
async fn the_certificate_year_is_the_year_in_beijing_at_approval() {
    let new_year_in_beijing = Utc
        .with_ymd_and_hms(2025, 12, 31, 16, 30, 0)
        .single()
        .expect("a valid instant");
    let serials = RecordingSerials::handing_out(Ok(7));
    let services = ApplicationServices {
        certificate_serials: serials.clone(),
        clock: Arc::new(FixedClock(new_year_in_beijing)),
        ..services()
    };
    let history = vec![
        submitted(Delivery::WindowPickup, Some(Gender::Female)),
        accepted(),
    ];
    let result = TestFramework::<Application>::with(services)
        .given(history)
        .when_async(approve(None))
        .await
        .inspect_result();
    let ApplicationEvent::ApplicationApproved {
        certificate_number, ..
    } = only_event(result)
    else {
        panic!("expected an approval");
    };
    assert_eq!(certificate_number.as_str(), "20261110820000007");
    assert_eq!(serials.requests(), [("108".to_owned(), 2026)]);
}

#[tokio::test]
async fn an_applicant_of_unknown_gender_gets_nine_in_the_gender_place() {
    let history = vec![submitted(Delivery::WindowPickup, None), accepted()];
    let ApplicationEvent::ApplicationApproved {
        certificate_number, ..
    } = only_event(when_given(history, approve(None)).await)
    else {
        panic!("expected an approval");
    };
    assert_eq!(certificate_number.as_str(), "20251110829000042");
}

#[tokio::test]
async fn approval_fails_without_writing_when_no_serial_can_be_allocated() {
    let services = ApplicationServices {
        certificate_serials: RecordingSerials::handing_out(Err(PortError("down".to_owned()))),
        ..services()
    };
    let result = TestFramework::<Application>::with(services)
        .given(window_case_accepted())
        .when_async(approve(None))
        .await
        .inspect_result();
    assert_eq!(result, Err(ApplicationError::Port("down".to_owned())));
}

#[tokio::test]
async fn a_serial_beyond_six_digits_is_a_port_error() {
    let services = ApplicationServices {
        certificate_serials: RecordingSerials::handing_out(Ok(1_000_000)),
        ..services()
    };
    let result = TestFramework::<Application>::with(services)
        .given(window_case_accepted())
        .when_async(approve(None))
        .await
        .inspect_result();
    assert!(
        matches!(result, Err(ApplicationError::Port(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_malformed_authority_code_is_a_port_error_and_allocates_nothing() {
    let serials = RecordingSerials::handing_out(Ok(1));
    let services = ApplicationServices {
        certificate_serials: serials.clone(),
        authority_code: "1080".to_owned(),
        ..services()
    };
    let result = TestFramework::<Application>::with(services)
        .given(window_case_accepted())
        .when_async(approve(None))
        .await
        .inspect_result();
    assert!(
        matches!(result, Err(ApplicationError::Port(_))),
        "{result:?}"
    );
    assert!(serials.requests().is_empty());
}

#[tokio::test]
async fn clerk_cannot_approve_a_case_they_have_not_accepted() {
    let result = when_given(window_case_submitted(), approve(None)).await;
    assert_eq!(
        result,
        Err(ApplicationError::InvalidTransition {
            command: "approve",
            status: Status::Submitted,
        })
    );
}

#[tokio::test]
async fn an_approver_denies_an_accepted_case_stating_the_applicants_rights() {
    framework()
        .given(window_case_accepted())
        .when_async(deny("教师资格考试合格证明已过有效期"))
        .await
        .then_expect_events(vec![ApplicationEvent::ApplicationNotApproved {
            reason: text("教师资格考试合格证明已过有效期"),
            rights: APPEAL_RIGHTS.to_owned(),
            at: now(),
        }]);
}

#[tokio::test]
async fn the_stated_rights_name_both_time_limits() {
    assert!(APPEAL_RIGHTS.contains("60日") && APPEAL_RIGHTS.contains("6个月"));
    assert!(APPEAL_RIGHTS.contains("60 days") && APPEAL_RIGHTS.contains("6 months"));
}

#[tokio::test]
async fn denying_without_a_reason_is_refused() {
    let result = when_given(window_case_accepted(), deny("")).await;
    assert_invalid(result, "reason", Reason::ReasonRequired);
}

#[tokio::test]
async fn a_dispatcher_records_the_shipment_of_a_mailed_certificate() {
    framework()
        .given(approved_case(mail_delivery()))
        .when_async(ship(" EMS ", "EA123456789CN"))
        .await
        .then_expect_events(vec![ApplicationEvent::CertificateShipped {
            carrier: text("EMS"),
            tracking_number: text("EA123456789CN"),
            at: now(),
        }]);
}

#[tokio::test]
async fn shipping_a_certificate_meant_for_the_window_is_refused() {
    let result = when_given(approved_case(Delivery::WindowPickup), ship("EMS", "EA1")).await;
    assert_refused(result, Reason::DeliveryMethodMismatch);
}

#[tokio::test]
async fn a_shipment_without_a_carrier_is_invalid() {
    let result = when_given(approved_case(mail_delivery()), ship(" ", "EA1")).await;
    assert_invalid(result, "carrier", Reason::InvalidText);
}

#[tokio::test]
async fn a_tracking_number_longer_than_fifty_characters_is_invalid() {
    let tracking_number = "9".repeat(51);
    let result = when_given(
        approved_case(mail_delivery()),
        ship("EMS", &tracking_number),
    )
    .await;
    assert_invalid(result, "trackingNumber", Reason::InvalidText);
}

#[tokio::test]
async fn a_dispatcher_records_that_the_applicant_collected_the_certificate() {
    framework()
        .given(approved_case(Delivery::WindowPickup))
        .when_async(ApplicationCommand::RecordCollection)
        .await
        .then_expect_events(vec![ApplicationEvent::CertificateCollected { at: now() }]);
}

#[tokio::test]
async fn recording_a_window_collection_of_a_mailed_certificate_is_refused() {
    let result = when_given(
        approved_case(mail_delivery()),
        ApplicationCommand::RecordCollection,
    )
    .await;
    assert_refused(result, Reason::DeliveryMethodMismatch);
}

#[tokio::test]
async fn every_command_on_a_case_never_submitted_finds_no_case() {
    for command in every_command_but_submit() {
        let result = when_given(Vec::new(), command).await;
        assert_eq!(result, Err(ApplicationError::NotFound));
    }
}

#[tokio::test]
async fn a_submitted_case_can_only_be_accepted_or_refused() {
    for command in every_command_but_submit().into_iter().skip(2) {
        let name = command.name();
        let result = when_given(window_case_submitted(), command).await;
        let expected = ApplicationError::InvalidTransition {
            command: name,
            status: Status::Submitted,
        };
        assert_eq!(result, Err(expected));
    }
}

#[tokio::test]
async fn an_accepted_case_can_only_be_approved_or_denied() {
    for command in every_command_but_submit() {
        let name = command.name();
        if matches!(name, "approve" | "deny") {
            continue;
        }
        let result = when_given(window_case_accepted(), command).await;
        let expected = ApplicationError::InvalidTransition {
            command: name,
            status: Status::Accepted,
        };
        assert_eq!(result, Err(expected));
    }
}

#[tokio::test]
async fn an_approved_case_only_awaits_delivery() {
    for command in every_command_but_submit().into_iter().take(4) {
        let name = command.name();
        let result = when_given(approved_case(mail_delivery()), command).await;
        let expected = ApplicationError::InvalidTransition {
            command: name,
            status: Status::Approved,
        };
        assert_eq!(result, Err(expected));
    }
}

#[tokio::test]
async fn no_command_applies_to_a_final_case() {
    let not_accepted = ApplicationEvent::ApplicationNotAccepted {
        reason: text("不予受理"),
        at: now(),
    };
    let not_approved = ApplicationEvent::ApplicationNotApproved {
        reason: text("不予许可"),
        rights: APPEAL_RIGHTS.to_owned(),
        at: now(),
    };
    let shipped = ApplicationEvent::CertificateShipped {
        carrier: text("EMS"),
        tracking_number: text("EA1"),
        at: now(),
    };
    let finals = [
        (window_case_submitted(), not_accepted, Status::NotAccepted),
        (window_case_accepted(), not_approved, Status::NotApproved),
        (approved_case(mail_delivery()), shipped, Status::Shipped),
        (
            approved_case(Delivery::WindowPickup),
            ApplicationEvent::CertificateCollected { at: now() },
            Status::Collected,
        ),
    ];
    for (mut history, last, status) in finals {
        history.push(last);
        let mut commands = every_command_but_submit();
        commands.push(zhang_san_submits(primary_chinese_form()));
        for command in commands {
            let command_name = command.name();
            let result = when_given(history.clone(), command).await;
            let expected = ApplicationError::InvalidTransition {
                command: command_name,
                status,
            };
            assert_eq!(result, Err(expected));
        }
    }
}

#[test]
fn a_whole_history_replays_to_the_final_state() {
    let mut application = Application::default();
    let mut history = approved_case(mail_delivery());
    history.push(ApplicationEvent::CertificateShipped {
        carrier: text("EMS"),
        tracking_number: text("EA1"),
        at: now(),
    });
    for event in history {
        cqrs_es::Aggregate::apply(&mut application, event);
    }
    assert_eq!(application.status(), Status::Shipped);
    assert_eq!(application.case_number(), Some(&case_number()));
    assert_eq!(
        application
            .certificate_number()
            .map(CertificateNumber::as_str),
        Some("20251110821000042")
    );
}
