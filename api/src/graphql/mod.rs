//! The GraphQL schema: queries, mutations and subscriptions, with the roles each admits.

mod guard;
mod resolvers;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Schema};
use domain::values::Role;
use sqlx::PgPool;

use crate::auth::Caller;
use crate::cases::Cases;
use crate::error::ApiError;
use crate::materials::MaterialStore;

pub use resolvers::{MutationRoot, QueryRoot, SubscriptionRoot};

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What every resolver may use.
pub struct Services {
    pub cases: Arc<Cases>,
    pub materials: Arc<MaterialStore>,
    pub pool: PgPool,
    /// This process's follower of the feed, for subscriptions.
    pub live: projections::live::LiveFeed,
    /// How long a query with `atLeast` waits for the read models before answering STALE.
    pub read_wait: Duration,
}

/// The outcome of reading the request's token: nobody, somebody, or a bad token.
#[derive(Debug, Clone)]
pub enum Authentication {
    Anonymous,
    Verified(Box<Caller>),
    Rejected,
}

/// The id that ties a request's log lines and events together.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// Builds the schema with its services; per-request data (authentication, correlation id)
/// is added by the HTTP and WebSocket handlers.
pub fn build_schema(services: Services) -> AppSchema {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(services)
        .extension(guard::OperationGuard)
        .limit_depth(12)
        .limit_complexity(2_000)
        .finish()
}

/// The printed SDL of the served schema.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .finish()
        .sdl()
}

/// The verified caller, or UNAUTHENTICATED.
pub(crate) fn caller<'a>(ctx: &'a Context<'_>) -> Result<&'a Caller, ApiError> {
    match ctx.data_opt::<Authentication>() {
        Some(Authentication::Verified(caller)) => Ok(caller),
        Some(Authentication::Rejected) => {
            Err(ApiError::Unauthenticated("the token is invalid or expired"))
        }
        _ => Err(ApiError::Unauthenticated(
            "sign in: send Authorization: Bearer <token>",
        )),
    }
}

/// The verified caller holding `role`, or UNAUTHENTICATED / FORBIDDEN.
pub(crate) fn caller_with_role<'a>(
    ctx: &'a Context<'_>,
    role: Role,
) -> Result<&'a Caller, ApiError> {
    let caller = caller(ctx)?;
    if caller.has_role(role) {
        Ok(caller)
    } else {
        Err(ApiError::Forbidden(format!(
            "this needs the {} role",
            role.as_str()
        )))
    }
}

pub(crate) fn services<'a>(ctx: &'a Context<'_>) -> &'a Services {
    // The schema is always built with `Services` (see `build_schema`).
    ctx.data_unchecked::<Services>()
}

pub(crate) fn correlation_id(ctx: &Context<'_>) -> String {
    ctx.data_opt::<CorrelationId>()
        .map(|id| id.0.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
