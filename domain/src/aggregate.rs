//! The `Application` aggregate: one case (办件) from submission to certificate.

mod submission;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::case_number::{CaseNumber, CertificateNumber};
use crate::commands::DeliveryMethodChoice;
use crate::error::Reason;
use crate::values::{Delivery, Gender, QualificationLevel, Text};
use crate::{ApplicationCommand, ApplicationError, ApplicationEvent, ApplicationServices, Status};

/// The applicant's rights after 不予许可, recorded on every `ApplicationNotApproved` event.
pub const APPEAL_RIGHTS: &str = "如不服本决定，可以自收到本决定之日起60日内依法申请行政复议，\
    或者在6个月内依法向人民法院提起行政诉讼。\
    If you disagree with this decision, you may apply for administrative reconsideration \
    within 60 days of receiving it, or bring an administrative lawsuit before a people's \
    court within 6 months.";

const NOTE_MAX_CHARS: usize = 500;
const REASON_MAX_CHARS: usize = 1000;
const SHIPPING_MAX_CHARS: usize = 50;

/// One case (办件), rebuilt from its events; commands on it either emit one event or are
/// refused with nothing written.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Application {
    status: Status,
    #[serde(default)]
    case: Option<CaseFacts>,
    #[serde(default)]
    certificate_number: Option<CertificateNumber>,
}

/// What later decisions need to know about the submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CaseFacts {
    case_number: CaseNumber,
    qualification_level: QualificationLevel,
    gender: Option<Gender>,
    delivery: Delivery,
}

impl Application {
    pub fn status(&self) -> Status {
        self.status
    }

    /// The case number, once the case has been submitted.
    pub fn case_number(&self) -> Option<&CaseNumber> {
        self.case.as_ref().map(|case| &case.case_number)
    }

    /// The certificate number, once the case has been approved.
    pub fn certificate_number(&self) -> Option<&CertificateNumber> {
        self.certificate_number.as_ref()
    }

    /// The event a command produces, or why it is refused. Nothing is changed here.
    async fn decide(
        &self,
        command: ApplicationCommand,
        services: &ApplicationServices,
    ) -> Result<ApplicationEvent, ApplicationError> {
        let name = command.name();
        let is_submission = matches!(command, ApplicationCommand::SubmitApplication { .. });
        if self.status == Status::New && !is_submission {
            return Err(ApplicationError::NotFound);
        }
        let at = services.clock.now();
        match command {
            ApplicationCommand::SubmitApplication {
                case_number,
                identity,
                form,
                uploads,
            } => {
                self.require(Status::New, name)?;
                submission::submit(case_number, identity, form, uploads, services).await
            }
            ApplicationCommand::AcceptApplication { note } => {
                self.require(Status::Submitted, name)?;
                let note = optional_note(note)?;
                Ok(ApplicationEvent::ApplicationAccepted { note, at })
            }
            ApplicationCommand::RejectApplication { reason } => {
                self.require(Status::Submitted, name)?;
                let reason = required_reason(&reason)?;
                Ok(ApplicationEvent::ApplicationNotAccepted { reason, at })
            }
            ApplicationCommand::ApproveApplication { note } => {
                self.require(Status::Accepted, name)?;
                self.approve(note, services, at).await
            }
            ApplicationCommand::DenyApplication { reason } => {
                self.require(Status::Accepted, name)?;
                let reason = required_reason(&reason)?;
                let rights = APPEAL_RIGHTS.to_owned();
                Ok(ApplicationEvent::ApplicationNotApproved { reason, rights, at })
            }
            ApplicationCommand::ShipCertificate {
                carrier,
                tracking_number,
            } => {
                self.require(Status::Approved, name)?;
                self.ship(&carrier, &tracking_number, at)
            }
            ApplicationCommand::RecordCollection => {
                self.require(Status::Approved, name)?;
                self.require_delivery(DeliveryMethodChoice::WindowPickup)?;
                Ok(ApplicationEvent::CertificateCollected { at })
            }
        }
    }

    fn require(&self, status: Status, command: &'static str) -> Result<(), ApplicationError> {
        if self.status == status {
            Ok(())
        } else {
            Err(ApplicationError::InvalidTransition {
                command,
                status: self.status,
            })
        }
    }

    fn facts(&self) -> Result<&CaseFacts, ApplicationError> {
        self.case.as_ref().ok_or(ApplicationError::NotFound)
    }

    // Limitation: a serial allocated for an approval that then fails, or loses a race to
    // another command on the same case, is never used, so serials may have gaps.
    async fn approve(
        &self,
        note: Option<String>,
        services: &ApplicationServices,
        at: DateTime<Utc>,
    ) -> Result<ApplicationEvent, ApplicationError> {
        let case = self.facts()?;
        let note = optional_note(note)?;
        let authority = services.authority_code.as_str();
        if authority.len() != 3 || !authority.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApplicationError::Port(format!(
                "the certifying authority code must be three digits, not {authority:?}"
            )));
        }

        let year = beijing_date(at).year();
        let serial = services
            .certificate_serials
            .next_serial(authority, year)
            .await?;
        if !(1..=999_999).contains(&serial) {
            return Err(ApplicationError::Port(format!(
                "certificate serial {serial} for {year} is outside 1..=999999"
            )));
        }
        let level = case.qualification_level;
        let certificate_number =
            CertificateNumber::compose(year, authority, level, case.gender, serial);
        Ok(ApplicationEvent::ApplicationApproved {
            certificate_number,
            note,
            at,
        })
    }

    fn ship(
        &self,
        carrier: &str,
        tracking_number: &str,
        at: DateTime<Utc>,
    ) -> Result<ApplicationEvent, ApplicationError> {
        self.require_delivery(DeliveryMethodChoice::Mail)?;
        let carrier = Text::parse(carrier, SHIPPING_MAX_CHARS, Reason::InvalidText)
            .map_err(|error| ApplicationError::invalid("carrier", error))?;
        let tracking_number = Text::parse(tracking_number, SHIPPING_MAX_CHARS, Reason::InvalidText)
            .map_err(|error| ApplicationError::invalid("trackingNumber", error))?;
        Ok(ApplicationEvent::CertificateShipped {
            carrier,
            tracking_number,
            at,
        })
    }

    /// Refuses unless the applicant chose `method` for receiving the certificate.
    fn require_delivery(&self, method: DeliveryMethodChoice) -> Result<(), ApplicationError> {
        let chosen = match self.facts()?.delivery {
            Delivery::WindowPickup => DeliveryMethodChoice::WindowPickup,
            Delivery::Mail { .. } => DeliveryMethodChoice::Mail,
        };
        if chosen == method {
            return Ok(());
        }
        let message = match chosen {
            DeliveryMethodChoice::WindowPickup => {
                "the applicant chose to collect the certificate at the window, not by mail"
            }
            DeliveryMethodChoice::Mail => {
                "the applicant chose to receive the certificate by mail, not at the window"
            }
        };
        Err(ApplicationError::refused(
            Reason::DeliveryMethodMismatch,
            message,
        ))
    }
}

/// A clerk's or approver's note: blank means none.
fn optional_note(note: Option<String>) -> Result<Option<Text>, ApplicationError> {
    note.filter(|note| !note.trim().is_empty())
        .map(|note| Text::parse(&note, NOTE_MAX_CHARS, Reason::InvalidText))
        .transpose()
        .map_err(|error| ApplicationError::invalid("note", error))
}

/// The written reason every refusal of a case must give.
fn required_reason(reason: &str) -> Result<Text, ApplicationError> {
    if reason.trim().is_empty() {
        return Err(ApplicationError::InvalidInput {
            field: "reason",
            reason: Reason::ReasonRequired,
            message: "a written reason is required".to_owned(),
        });
    }
    Text::parse(reason, REASON_MAX_CHARS, Reason::InvalidText)
        .map_err(|error| ApplicationError::invalid("reason", error))
}

/// The calendar date in Beijing (UTC+8, no daylight saving) at an instant.
pub(crate) fn beijing_date(at: DateTime<Utc>) -> NaiveDate {
    (at + TimeDelta::hours(8)).date_naive()
}

impl cqrs_es::Aggregate for Application {
    const TYPE: &'static str = "Application";
    type Command = ApplicationCommand;
    type Event = ApplicationEvent;
    type Error = ApplicationError;
    type Services = ApplicationServices;

    /// Emits exactly one event for an allowed command; a refused command emits nothing.
    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command, services).await?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.status = match event {
            ApplicationEvent::ApplicationSubmitted {
                case_number,
                applicant,
                qualification_level,
                delivery,
                ..
            } => {
                self.case = Some(CaseFacts {
                    case_number,
                    qualification_level,
                    gender: applicant.gender,
                    delivery,
                });
                Status::Submitted
            }
            ApplicationEvent::ApplicationAccepted { .. } => Status::Accepted,
            ApplicationEvent::ApplicationNotAccepted { .. } => Status::NotAccepted,
            ApplicationEvent::ApplicationApproved {
                certificate_number, ..
            } => {
                self.certificate_number = Some(certificate_number);
                Status::Approved
            }
            ApplicationEvent::ApplicationNotApproved { .. } => Status::NotApproved,
            ApplicationEvent::CertificateShipped { .. } => Status::Shipped,
            ApplicationEvent::CertificateCollected { .. } => Status::Collected,
        };
    }
}
