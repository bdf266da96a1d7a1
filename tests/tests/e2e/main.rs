//! End-to-end tests of teacher-cert: the real service on port 0, a fresh database per test,
//! GraphQL over HTTP and WebSocket.

mod contract;
