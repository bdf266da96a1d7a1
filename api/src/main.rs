//! The `teacher-cert` binary: parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = api::cli::Cli::parse();
    api::telemetry::init(&cli.settings.log_format);
    match api::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "teacher-cert stopped with an error"
            );
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
