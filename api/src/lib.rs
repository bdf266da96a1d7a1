//! teacher-cert: the service that certifies kindergarten, primary and junior-middle-school
//! teachers for a Beijing district. This crate wires the domain to PostgreSQL, object
//! storage and the registry, and serves it all over GraphQL.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod cases;
pub mod cli;
pub mod database;
pub mod error;
pub mod event_store;
pub mod graphql;
pub mod http;
pub mod materials;
pub mod progress;
pub mod repository;
pub mod settings;
pub mod telemetry;

pub use app::Application;
pub use settings::Settings;
