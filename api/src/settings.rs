//! Typed settings: read once from the environment (and `.env`) or command-line flags, and
//! checked at start-up with a clear message.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

/// The development signing secret used with `--dev` when `AUTH_JWT_SECRET` is unset.
pub const DEV_JWT_SECRET: &str = "dev-secret-change-me";

/// The development key for case-number permutation; production sets `CASE_NUMBER_KEY`.
const DEV_CASE_NUMBER_KEY: u64 = 0x7465_6163_6865_7221;

/// Everything the service reads from its environment.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// PostgreSQL URL of the event store and read models; the database is created if missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/teacher_cert",
        global = true
    )]
    pub database_url: String,

    /// HTTP and WebSocket address; port 0 picks a free port.
    #[arg(
        long,
        env = "BIND_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind_addr: SocketAddr,

    /// HS256 secret for verifying tokens (development and tests).
    #[arg(long, env = "AUTH_JWT_SECRET", hide_env_values = true, global = true)]
    pub auth_jwt_secret: Option<String>,

    /// PEM public key (RSA or EC) for verifying RS256/ES256 tokens in production.
    #[arg(long, env = "AUTH_JWT_PUBLIC_KEY_FILE", global = true)]
    pub auth_jwt_public_key_file: Option<PathBuf>,

    /// When set, a token's `iss` must equal it.
    #[arg(long, env = "AUTH_JWT_ISSUER", global = true)]
    pub auth_jwt_issuer: Option<String>,

    /// Development mode: allows the fixed development token secret.
    #[arg(long, global = true)]
    pub dev: bool,

    /// `development` acts like `--dev`.
    #[arg(long, env = "APP_ENV", default_value = "production", global = true)]
    pub app_env: String,

    /// Other departments' records (registry.md format); the bundled development registry
    /// when unset.
    #[arg(long, env = "REGISTRY_FILE", global = true)]
    pub registry_file: Option<PathBuf>,

    /// Where uploaded files are stored: `file://…` or `s3://bucket/prefix`.
    #[arg(
        long,
        env = "MATERIALS_URL",
        default_value = "file://./data/materials",
        global = true
    )]
    pub materials_url: String,

    /// Secret key that makes case numbers unguessable (a 64-bit number).
    #[arg(long, env = "CASE_NUMBER_KEY", hide_env_values = true, global = true)]
    pub case_number_key: Option<u64>,

    /// The certifying authority's 3-digit code inside certificate numbers.
    #[arg(
        long,
        env = "CERTIFYING_AUTHORITY_CODE",
        default_value = "108",
        global = true
    )]
    pub certifying_authority_code: String,

    /// Largest accepted photo, in bytes.
    #[arg(long, env = "MAX_PHOTO_BYTES", default_value_t = 2 * 1024 * 1024, global = true)]
    pub max_photo_bytes: u64,

    /// Largest accepted form or certificate scan, in bytes.
    #[arg(long, env = "MAX_DOCUMENT_BYTES", default_value_t = 10 * 1024 * 1024, global = true)]
    pub max_document_bytes: u64,

    /// How long a query with `atLeast` waits for the read models, in milliseconds, before
    /// it answers STALE.
    #[arg(long, env = "READ_WAIT_MS", default_value_t = 5_000, global = true)]
    pub read_wait_ms: u64,

    /// `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
}

/// How tokens are verified.
#[derive(Debug, Clone)]
pub enum TokenKey {
    Secret(String),
    PublicKeyPem(Vec<u8>),
}

impl Settings {
    pub fn is_development(&self) -> bool {
        self.dev || self.app_env.eq_ignore_ascii_case("development")
    }

    /// The token verification key, refusing to fall back to the development secret outside
    /// development mode.
    pub fn token_key(&self) -> anyhow::Result<TokenKey> {
        if let Some(path) = &self.auth_jwt_public_key_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading AUTH_JWT_PUBLIC_KEY_FILE {}", path.display()))?;
            return Ok(TokenKey::PublicKeyPem(pem));
        }
        match &self.auth_jwt_secret {
            Some(secret) if !secret.is_empty() => Ok(TokenKey::Secret(secret.clone())),
            _ if self.is_development() => {
                tracing::warn!(
                    "AUTH_JWT_SECRET is unset: using the development secret; never do this in production"
                );
                Ok(TokenKey::Secret(DEV_JWT_SECRET.to_owned()))
            }
            _ => bail!(
                "AUTH_JWT_SECRET (or AUTH_JWT_PUBLIC_KEY_FILE) is required; pass --dev to use the development secret"
            ),
        }
    }

    pub fn read_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.read_wait_ms)
    }

    pub fn case_number_key(&self) -> anyhow::Result<u64> {
        match self.case_number_key {
            Some(key) => Ok(key),
            None if self.is_development() => Ok(DEV_CASE_NUMBER_KEY),
            None => bail!("CASE_NUMBER_KEY is required outside development mode"),
        }
    }

    /// Checks values clap cannot check by itself.
    pub fn validate(&self) -> anyhow::Result<()> {
        let code = &self.certifying_authority_code;
        if code.len() != 3 || !code.chars().all(|c| c.is_ascii_digit()) {
            bail!("CERTIFYING_AUTHORITY_CODE must be three digits, got {code:?}");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("LOG_FORMAT must be text or json, got {:?}", self.log_format);
        }
        url::Url::parse(&self.database_url).context("DATABASE_URL is not a URL")?;
        Ok(())
    }
}

#[derive(clap::Parser)]
#[command(name = "teacher-cert")]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    /// Settings from command-line style arguments (flags win over the environment), as tests
    /// and embedders build them, e.g. `["--dev", "--bind-addr", "127.0.0.1:0"]`.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let program = std::iter::once(std::ffi::OsString::from("teacher-cert"));
        let args = program.chain(args.into_iter().map(Into::into));
        <SettingsOnly as clap::Parser>::try_parse_from(args).map(|only| only.settings)
    }
}
