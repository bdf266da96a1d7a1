//! Integration tests of the feed, the projectors and the read-model queries, each against
//! a fresh PostgreSQL database.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

mod feed;
mod folds;
mod queries;
mod rebuild;
mod runtime;
mod support;
