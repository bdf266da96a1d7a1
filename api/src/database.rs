//! The PostgreSQL connection: creates the database when missing, sets the session limits the
//! ordered feed relies on, and applies the migrations.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connects to `url`, creating the database first if it does not exist.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("DATABASE_URL is not a PostgreSQL URL")?
        // A transaction left open holds the ordered feed back for every reader, and one of a
        // projector keeps its checkpoint locked. Every transaction here is a few statements
        // long, so ten idle seconds mean the client is gone (a host that vanished without
        // closing its connections) or stuck: end it, and another process takes over.
        .options([("idle_in_transaction_session_timeout", "10s")]);
    create_database_if_missing(&options).await?;
    PgPoolOptions::new()
        .max_connections(32)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to the database at {}", redact(url)))
}

/// Connects and applies every migration not yet applied (safe to run from several
/// processes at once: sqlx takes an advisory lock).
pub async fn connect_and_migrate(url: &str) -> anyhow::Result<PgPool> {
    let pool = connect(url).await?;
    MIGRATOR
        .run(&pool)
        .await
        .context("applying database migrations")?;
    Ok(pool)
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let maintenance = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&maintenance)
        .await
        .context("connecting to the PostgreSQL server (is it running?)")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&statement).execute(&mut conn).await {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another process created it first.
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P04") => {}
            Err(error) => return Err(error).context("creating the database"),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
