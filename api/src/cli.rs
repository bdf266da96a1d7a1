//! The command line: `serve` (the default), `migrate`, `rebuild-projections`, `replay`,
//! `token` and `schema`.

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::auth::{sign_development_token, Claims};
use crate::settings::{Settings, DEV_JWT_SECRET};
use crate::{database, event_store, Application};

#[derive(Debug, Parser)]
#[command(
    name = "teacher-cert",
    version,
    about = "Teacher qualification certification service (教师资格认定)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Create the database if missing and apply migrations, then exit.
    Migrate,
    /// Rebuild read models from the ordered feed (all when no name is given).
    RebuildProjections { names: Vec<String> },
    /// Print one case's events, oldest first, with the status after each.
    Replay { case_number: String },
    /// Print a signed development token.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[arg(long)]
    pub sub: String,
    #[arg(long, default_value = "")]
    pub name: String,
    /// Repeat for several roles: applicant, clerk, approver, dispatcher, auditor.
    #[arg(long = "role", default_value = "applicant")]
    pub roles: Vec<String>,
    #[arg(long)]
    pub id_doc_number: Option<String>,
    #[arg(long, default_value = "RESIDENT_ID_CARD")]
    pub id_doc_type: String,
    #[arg(long, default_value = "L2")]
    pub acr: String,
    /// Seconds since the face verification; leave unset for "just now".
    #[arg(long, default_value_t = 0)]
    pub face_verified_seconds_ago: i64,
    /// Omit the face verification claim.
    #[arg(long)]
    pub no_face_verification: bool,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 12 * 3600)]
    pub ttl_seconds: i64,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings).await,
        Command::Migrate => {
            database::connect_and_migrate(&cli.settings.database_url).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::RebuildProjections { names } => {
            let pool = database::connect_and_migrate(&cli.settings.database_url).await?;
            rebuild_projections(&pool, &names).await
        }
        Command::Replay { case_number } => replay(&cli.settings, &case_number).await,
        Command::Token(args) => {
            println!("{}", token(&cli.settings, &args)?);
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    app.run_until(shutdown_signal()).await
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn token(settings: &Settings, args: &TokenArgs) -> anyhow::Result<String> {
    let secret = match &settings.auth_jwt_secret {
        Some(secret) if !secret.is_empty() => secret.clone(),
        _ => {
            eprintln!("note: AUTH_JWT_SECRET is unset; signing with the development secret");
            DEV_JWT_SECRET.to_owned()
        }
    };
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: args.sub.clone(),
        name: args.name.clone(),
        roles: args.roles.clone(),
        acr: Some(args.acr.clone()),
        id_doc_type: args
            .id_doc_number
            .as_ref()
            .map(|_| args.id_doc_type.clone()),
        id_doc_number: args.id_doc_number.clone(),
        face_verified_at: (!args.no_face_verification)
            .then(|| now - args.face_verified_seconds_ago),
        exp: now + args.ttl_seconds,
        iat: Some(now),
        iss: settings.auth_jwt_issuer.clone(),
    };
    sign_development_token(&claims, &secret)
}

async fn replay(settings: &Settings, case_number: &str) -> anyhow::Result<()> {
    let case_number = domain::CaseNumber::parse(case_number)
        .map_err(|error| anyhow::anyhow!("{case_number} is not a case number: {error}"))?;
    let pool = sqlx::PgPool::connect(&settings.database_url)
        .await
        .with_context(|| format!("connecting to {}", database::redact(&settings.database_url)))?;
    let events = event_store::case_events(&pool, case_number.as_str()).await?;
    anyhow::ensure!(!events.is_empty(), "no case {case_number}");
    for upto in 1..=events.len() {
        let event = &events[upto - 1];
        let status = crate::cases::fold_view(&events[..upto])
            .map(|view| view.status)
            .context("folding the case")?;
        let line = serde_json::json!({
            "sequence": event.sequence,
            "globalPosition": event.global_position,
            "eventType": event.event_type,
            "eventVersion": event.event_version,
            "recordedAt": event.recorded_at,
            "metadata": event.metadata,
            "payload": event.payload,
            "statusAfter": status,
        });
        println!("{line}");
    }
    Ok(())
}

/// Rebuilds the named read models (all when none is named) from the ordered feed beside the
/// live ones, and swaps each in once it has caught up. A running service keeps answering
/// from the old tables meanwhile and carries on with the new ones; events after the swap
/// are its projectors' to apply (or, with no service running, the next start's). Refuses
/// unknown names, and a read model another rebuild is working on.
async fn rebuild_projections(pool: &sqlx::PgPool, names: &[String]) -> anyhow::Result<()> {
    let all = projections::projector::all();
    let unknown: Vec<&String> = names
        .iter()
        .filter(|name| {
            !all.iter()
                .any(|projector| projector.name() == name.as_str())
        })
        .collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "unknown read models {unknown:?}; known: {:?}",
        all.iter()
            .map(|projector| projector.name())
            .collect::<Vec<_>>()
    );
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|projector| names.is_empty() || names.iter().any(|name| name == projector.name()))
        .collect();
    let progress = crate::progress::for_stderr();
    let report = projections::rebuild(pool, &chosen, progress.as_ref()).await?;
    tracing::info!(
        read_models = report.read_models.len(),
        "read models rebuilt"
    );
    Ok(())
}
