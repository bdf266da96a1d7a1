//! HTTP routes: GraphQL over POST and GET, GraphiQL for browsers, subscriptions over
//! WebSocket, health, readiness and metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::{GraphiQLSource, MultipartOptions};
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, Data, ErrorExtensions, ParseRequestError};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::body::Body;
use axum::extract::{Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt, TryStreamExt};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::compat::TokioAsyncReadCompatExt;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::TokenVerifier;
use crate::error::ApiError;
use crate::graphql::{AppSchema, Authentication, CorrelationId};

/// Shared by every route.
#[derive(Clone)]
pub struct HttpState {
    pub schema: AppSchema,
    pub verifier: Arc<TokenVerifier>,
    pub pool: PgPool,
    pub metrics: PrometheusHandle,
    pub live: projections::live::LiveFeed,
    pub largest_upload: u64,
    pub shutdown: watch::Receiver<bool>,
}

pub fn router(state: HttpState) -> Router {
    // Multipart bodies carry one file; leave room for the operations and map parts.
    let body_limit = usize::try_from(state.largest_upload).unwrap_or(usize::MAX) + 64 * 1024;
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::map_response(payload_too_large_as_graphql))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

fn authenticate(verifier: &TokenVerifier, authorization: Option<&str>) -> Authentication {
    let Some(value) = authorization else {
        return Authentication::Anonymous;
    };
    match verifier.verify_header(value) {
        Ok(caller) => Authentication::Verified(Box::new(caller)),
        Err(error) => {
            tracing::warn!(error = %error, "token refused");
            Authentication::Rejected
        }
    }
}

/// The client's `X-Request-Id` when it is a sensible id (1 to 128 visible ASCII
/// characters), else a fresh one: it is stored with every event the request causes.
fn correlation_id(headers: &HeaderMap) -> CorrelationId {
    let id = headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    CorrelationId(id)
}

fn authenticate_headers(state: &HttpState, headers: &HeaderMap) -> Authentication {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    authenticate(&state.verifier, authorization)
}

async fn execute(
    state: &HttpState,
    headers: &HeaderMap,
    authentication: Authentication,
    request: async_graphql::Request,
) -> Response {
    let request = request.data(authentication).data(correlation_id(headers));
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// `RequestBodyLimitLayer` refuses a too-long `Content-Length` by itself, in plain text;
/// this gives that refusal GraphQL's error shape, like every other one.
async fn payload_too_large_as_graphql(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        ApiError::bad_input(
            "file",
            domain::Reason::FileTooLarge,
            "the request is too large",
        ),
    )
}

/// A request the GraphQL layer could not even parse, answered in GraphQL's error shape.
fn refuse(status: StatusCode, error: ApiError) -> Response {
    let body = serde_json::json!({ "errors": [ error.extend() ] });
    (status, axum::Json(body)).into_response()
}

fn parse_refusal(error: ParseRequestError) -> Response {
    match error {
        ParseRequestError::PayloadTooLarge => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::bad_input(
                "file",
                domain::Reason::FileTooLarge,
                "the request is too large",
            ),
        ),
        ParseRequestError::Io(error) if error.to_string().contains("length limit") => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::bad_input(
                "file",
                domain::Reason::FileTooLarge,
                "the request is too large",
            ),
        ),
        other => {
            tracing::debug!(error = %other, "unparseable GraphQL request");
            // Parse errors describe the client's own bytes; I/O errors are ours and stay private.
            let message = match other {
                ParseRequestError::Io(_) => "the request body could not be read".to_owned(),
                described => format!("not a valid GraphQL request: {described}"),
            };
            refuse(
                StatusCode::BAD_REQUEST,
                ApiError::BadInput {
                    message,
                    field: None,
                    reason: None,
                },
            )
        }
    }
}

async fn graphql_post(State(state): State<HttpState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let authentication = authenticate_headers(&state, &headers);

    // Every multipart request is an upload, and only signed-in applicants upload: refuse
    // the rest before their parts are spooled to disk.
    let is_multipart = content_type
        .as_deref()
        .is_some_and(|value| value.starts_with("multipart/"));
    if is_multipart && !matches!(authentication, Authentication::Verified(_)) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            ApiError::Unauthenticated(
                "sign in before uploading: send Authorization: Bearer <token>",
            ),
        );
    }

    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(body).compat();
    let options = MultipartOptions::default()
        .max_file_size(usize::try_from(state.largest_upload).unwrap_or(usize::MAX))
        .max_num_files(1);
    let batch = match async_graphql::http::receive_batch_body(content_type, reader, options).await {
        Ok(batch) => batch,
        Err(error) => return parse_refusal(error),
    };
    match batch {
        BatchRequest::Single(request) => execute(&state, &headers, authentication, request).await,
        BatchRequest::Batch(_) => refuse(
            StatusCode::BAD_REQUEST,
            ApiError::BadInput {
                message: "batched requests are not supported; send one operation per request"
                    .to_owned(),
                field: None,
                reason: None,
            },
        ),
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// GraphiQL for browsers; queries (never mutations) from the query string otherwise.
async fn graphql_get(State(state): State<HttpState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let query = request.uri().query().unwrap_or_default();
    if wants_html(&headers) && query.is_empty() {
        let page = GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("teacher-cert")
            .finish();
        return Html(page).into_response();
    }
    let request = match async_graphql::http::parse_query_string(query) {
        Ok(request) => request,
        Err(error) => return parse_refusal(error),
    };
    let is_mutation = async_graphql::parser::parse_query(&request.query).is_ok_and(|document| {
        document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation)
    });
    if is_mutation {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadInput {
                message: "mutations must be sent with POST".to_owned(),
                field: None,
                reason: None,
            },
        );
    }
    let authentication = authenticate_headers(&state, &headers);
    execute(&state, &headers, authentication, request).await
}

/// Each subscription connection's read and write buffer.
const WS_BUFFER_BYTES: usize = 4 * 1024;

/// The largest message a subscriber may send (a `subscribe` carries its query document).
const WS_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Subscriptions: `graphql-transport-ws` (and legacy `graphql-ws`); the token travels in
/// `connection_init` as `{"Authorization": "Bearer …"}`. Closed with 1001 on shutdown, 4408
/// when no valid token came within `CONNECTION_INIT_TIMEOUT`, 1009 on an oversized message.
async fn graphql_ws(
    State(state): State<HttpState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let correlation = correlation_id(&headers);
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        // tungstenite's defaults (128 KiB buffers each way, 64 MiB messages) suit bulk
        // transfer; a subscriber sends a few small messages and receives small updates, and
        // a thousand of them would hold 256 MB of buffers.
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        .max_message_size(WS_MAX_MESSAGE_BYTES)
        .max_frame_size(WS_MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve_subscriptions(state, protocol, correlation, socket))
}

/// Why a subscription connection ended, which decides the close frame the service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WsEnding {
    /// The client closed it, or async-graphql ended it with a close frame of its own.
    Client,
    ShuttingDown,
    /// No valid token within `CONNECTION_INIT_TIMEOUT`.
    NotAuthenticated,
    /// The client sent a message over the size limit, or a broken frame.
    BadMessage,
}

impl WsEnding {
    fn close_frame(self) -> Option<axum::extract::ws::CloseFrame> {
        let (code, reason) = match self {
            Self::Client => return None,
            Self::ShuttingDown => (1001, "server shutting down"),
            // graphql-transport-ws's code for a connection not initialised in time.
            Self::NotAuthenticated => (4408, "Connection initialisation timeout"),
            Self::BadMessage => (1009, "message too big or malformed"),
        };
        Some(axum::extract::ws::CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// How long a subscription connection may stay open without a valid token in
/// `connection_init`. Without it, connections that never authenticate would hold a socket
/// each for ever: listening clients send nothing, so silence alone cannot be the test.
const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_subscriptions(
    state: HttpState,
    protocol: GraphQLProtocol,
    correlation: CorrelationId,
    socket: axum::extract::ws::WebSocket,
) {
    let (mut sink, stream) = socket.split();
    let ending = Arc::new(std::sync::Mutex::new(WsEnding::Client));
    let end_as = |ending: &std::sync::Mutex<WsEnding>, why: WsEnding| {
        if let Ok(mut ending) = ending.lock() {
            *ending = why;
        }
    };

    let mut shutdown = state.shutdown.clone();
    let stopping = async move {
        while !*shutdown.borrow_and_update() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        WsEnding::ShuttingDown
    };
    let authenticated = Arc::new(AtomicBool::new(false));
    let init_deadline = {
        let authenticated = authenticated.clone();
        async move {
            tokio::time::sleep(CONNECTION_INIT_TIMEOUT).await;
            if authenticated.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            WsEnding::NotAuthenticated
        }
    };
    let stop = {
        let ending = ending.clone();
        async move {
            let why = tokio::select! {
                why = stopping => why,
                why = init_deadline => why,
            };
            end_as(&ending, why);
        }
    };
    let stream = {
        let ending = ending.clone();
        stream
            .inspect(move |message| {
                if message.is_err() {
                    end_as(&ending, WsEnding::BadMessage);
                }
            })
            .take_until(Box::pin(stop))
    };

    let verifier = state.verifier.clone();
    GraphQLWebSocket::new_with_pair(&mut sink, stream, state.schema.clone(), protocol)
        .on_connection_init(move |payload| async move {
            let authorization = payload
                .get("Authorization")
                .or_else(|| payload.get("authorization"))
                .and_then(|value| value.as_str());
            let authentication = authenticate(&verifier, authorization);
            if matches!(authentication, Authentication::Verified(_)) {
                authenticated.store(true, Ordering::SeqCst);
            }
            let mut data = Data::default();
            data.insert(authentication);
            data.insert(correlation);
            Ok(data)
        })
        // No keep-alive timeout: async-graphql's closes a connection whose client has sent
        // nothing for that long, and common graphql-transport-ws clients send no pings
        // unless told to, so a clerk's screen that only listens would be cut off after half
        // a minute. Connections that never authenticate end at `CONNECTION_INIT_TIMEOUT`; a
        // dead peer is found when an update to it fails, and a subscription ends when its
        // token expires.
        .serve()
        .await;
    let why = ending
        .lock()
        .map(|ending| *ending)
        .unwrap_or(WsEnding::Client);
    if let Some(close) = why.close_frame() {
        let _ = sink
            .send(axum::extract::ws::Message::Close(Some(close)))
            .await;
    }
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "not ready: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics(State(state): State<HttpState>) -> Response {
    record_read_side(&state).await;
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(Body::from(state.metrics.render()))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Samples the read side's progress into the metrics just before they are rendered.
async fn record_read_side(state: &HttpState) {
    let names: Vec<&'static str> = projections::projector::all()
        .iter()
        .map(|projector| projector.name())
        .collect();
    metrics::gauge!("subscriptions_connected").set(state.live.subscriber_count() as f64);
    let status = match projections::status::read_side_status(&state.pool, &names).await {
        Ok(status) => status,
        Err(error) => {
            tracing::warn!(%error, "could not read the read side's status for /metrics");
            return;
        }
    };
    metrics::gauge!("feed_head_global_position").set(status.committed_head.global_position as f64);
    metrics::gauge!("feed_visible_global_position").set(status.visible_head.global_position as f64);
    metrics::gauge!("feed_oldest_transaction_age_seconds")
        .set(status.oldest_transaction_age_seconds);
    for projector in status.projectors {
        let name = projector.name;
        metrics::gauge!("projector_checkpoint_global_position", "projector" => name)
            .set(projector.checkpoint.global_position as f64);
        metrics::gauge!("projector_lag_events", "projector" => name)
            .set(projector.lag_events as f64);
        metrics::gauge!("projector_lag_milliseconds", "projector" => name).set(projector.lag_ms);
    }
}
