//! End-to-end tests of teacher-cert: the real service on port 0, a fresh database per test,
//! GraphQL over HTTP and WebSocket.

mod auth;
mod concurrency;
mod contract;
mod hardening;
mod history;
mod lifecycle;
mod process;
mod read_side;
mod restart;
mod submission_refusals;
mod subscriptions;
mod transport;
mod uploads;
