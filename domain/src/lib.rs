//! The teacher-certification case (办件): the `Application` aggregate, its commands and
//! events, the value types they are made of, and the ports it calls. Pure: no HTTP, SQL or
//! GraphQL here.

pub mod aggregate;
pub mod case_number;
pub mod commands;
pub mod eligibility;
pub mod error;
pub mod events;
pub mod findings;
pub mod ports;
pub mod registry;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod values;

pub use aggregate::Application;
pub use case_number::{CaseNumber, CaseNumberCipher, CertificateNumber};
pub use commands::ApplicationCommand;
pub use error::{ApplicationError, Reason};
pub use events::ApplicationEvent;
pub use ports::ApplicationServices;
pub use status::Status;
