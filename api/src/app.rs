//! Start-up: builds the whole service from settings, binds its address (port 0 in tests),
//! and runs until told to stop. Tests start the service exactly as production does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use domain::ports::{ApplicationServices, SystemClock};
use domain::CaseNumberCipher;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::adapters::{FileRegistry, PgCaseNumbers, PgCertificateSerials, PgOpenCases};
use crate::auth::TokenVerifier;
use crate::cases::Cases;
use crate::database;
use crate::graphql::{build_schema, Services};
use crate::http::{router, HttpState};
use crate::materials::{open_object_store, MaterialStore, UploadLimits};
use crate::repository;
use crate::settings::Settings;

/// How long a stopping service waits for open connections (a client still sending its
/// request, say) before it cuts them. Commands in flight finish well within it.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// How many live updates a slow subscriber may fall behind before it is dropped.
const SUBSCRIBER_BUFFER: usize = 1024;

/// A built, bound service, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pool: PgPool,
    shutdown: watch::Sender<bool>,
    projectors: JoinHandle<()>,
    follower: JoinHandle<()>,
}

impl Application {
    /// Connects to (and creates, and migrates) the database, wires the domain to its
    /// adapters, starts the projectors and binds `settings.bind_addr`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let verifier =
            TokenVerifier::new(&settings.token_key()?, settings.auth_jwt_issuer.as_deref())?;
        let pool = database::connect_and_migrate(&settings.database_url).await?;

        let registry = FileRegistry::load(settings.registry_file.as_deref())?;
        tracing::info!(people = registry.len(), "registry loaded");
        let services = ApplicationServices {
            registry: Arc::new(registry),
            open_cases: Arc::new(PgOpenCases { pool: pool.clone() }),
            certificate_serials: Arc::new(PgCertificateSerials { pool: pool.clone() }),
            clock: Arc::new(SystemClock),
            rules: Default::default(),
            authority_code: settings.certifying_authority_code.clone(),
        };
        let cqrs = repository::case_cqrs(pool.clone(), services);

        let objects = open_object_store(&settings.materials_url)?;
        let limits = UploadLimits {
            max_photo_bytes: settings.max_photo_bytes,
            max_document_bytes: settings.max_document_bytes,
        };
        let materials = Arc::new(MaterialStore::new(objects, pool.clone(), limits));
        let case_numbers = Arc::new(PgCaseNumbers::new(
            pool.clone(),
            CaseNumberCipher::new(settings.case_number_key()?),
        ));
        let cases = Arc::new(Cases::new(
            cqrs,
            pool.clone(),
            case_numbers,
            materials.clone(),
        ));

        let (shutdown, shutdown_rx) = watch::channel(false);
        let projectors = projections::spawn(
            pool.clone(),
            projections::projector::all(),
            shutdown_rx.clone(),
        );
        let (live, follower) =
            projections::live::follow(pool.clone(), SUBSCRIBER_BUFFER, shutdown_rx.clone())
                .await
                .context("starting to follow the feed")?;

        let schema = build_schema(Services {
            cases,
            materials: materials.clone(),
            pool: pool.clone(),
            live: live.clone(),
            read_wait: settings.read_wait(),
        });
        let router = router(HttpState {
            schema,
            verifier: Arc::new(verifier),
            pool: pool.clone(),
            metrics: metrics_handle(),
            live,
            largest_upload: materials.largest_upload(),
            shutdown: shutdown_rx,
        });
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("binding {}", settings.bind_addr))?;
        Ok(Self {
            listener,
            router,
            pool,
            shutdown,
            projectors,
            follower,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until `stop` completes, then stops taking requests, lets in-flight ones finish,
    /// closes subscriptions and stops the projectors.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        tracing::info!("listening on http://{addr}");
        let shutdown = self.shutdown.clone();
        let signal = async move {
            stop.await;
            tracing::info!("shutting down");
            let _ = shutdown.send(true);
        };
        let mut stopping = self.shutdown.subscribe();
        let deadline = async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(DRAIN_DEADLINE).await;
        };
        tokio::select! {
            served = axum::serve(self.listener, self.router).with_graceful_shutdown(signal) => {
                served.context("serving HTTP")?;
            }
            () = deadline => tracing::warn!(
                deadline_s = DRAIN_DEADLINE.as_secs(),
                "connections still open after the drain deadline were cut"
            ),
        }
        let _ = self.shutdown.send(true);
        for (task, handle) in [
            ("projectors", self.projectors),
            ("live feed", self.follower),
        ] {
            if let Err(error) = handle.await {
                tracing::error!(task, error = %error, "a background task failed to stop cleanly");
            }
        }
        self.pool.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}
