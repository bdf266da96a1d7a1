//! The `Application` aggregate: one case (办件) from submission to certificate.

use serde::{Deserialize, Serialize};

use crate::{ApplicationCommand, ApplicationError, ApplicationEvent, ApplicationServices, Status};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Application {
    status: Status,
}

impl Application {
    pub fn status(&self) -> Status {
        self.status
    }
}

impl cqrs_es::Aggregate for Application {
    const TYPE: &'static str = "Application";
    type Command = ApplicationCommand;
    type Event = ApplicationEvent;
    type Error = ApplicationError;
    type Services = ApplicationServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        _sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        Err(ApplicationError::InvalidTransition {
            command: command.name(),
            status: self.status,
        })
    }

    fn apply(&mut self, event: Self::Event) {
        self.status = match event {
            ApplicationEvent::ApplicationSubmitted { .. } => Status::Submitted,
            ApplicationEvent::ApplicationAccepted { .. } => Status::Accepted,
            ApplicationEvent::ApplicationNotAccepted { .. } => Status::NotAccepted,
            ApplicationEvent::ApplicationApproved { .. } => Status::Approved,
            ApplicationEvent::ApplicationNotApproved { .. } => Status::NotApproved,
            ApplicationEvent::CertificateShipped { .. } => Status::Shipped,
            ApplicationEvent::CertificateCollected { .. } => Status::Collected,
        };
    }
}
