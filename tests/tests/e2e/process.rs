//! The service as a separate operating-system process: started the way operators start it,
//! stopped with SIGTERM or killed with SIGKILL.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use teacher_cert_tests::people::{LI_SI, ZHANG_SAN};
use teacher_cert_tests::{database_server, TestApp, TEST_SECRET};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `teacher-cert serve` process.
pub struct ServiceProcess {
    child: Child,
    pub address: String,
}

impl ServiceProcess {
    /// Starts the binary on an existing database and waits for its `listening on` line.
    pub async fn start(database_name: &str, materials_dir: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_teacher-cert-under-test"))
            .arg("serve")
            .env(
                "DATABASE_URL",
                format!("{}/{database_name}", database_server()),
            )
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("AUTH_JWT_SECRET", TEST_SECRET)
            .env(
                "MATERIALS_URL",
                format!("file://{}", materials_dir.display()),
            )
            .env("CASE_NUMBER_KEY", "12345")
            .env("LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the service binary")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(at) = line.find("listening on ") {
                    return Ok(line[at + "listening on ".len()..].trim().to_owned());
                }
            }
            bail!("the service exited before it listened")
        })
        .await
        .context("the service did not listen within 60 s")??;
        // Keep reading so that the service never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, address })
    }

    /// Sends SIGTERM, as an operator or an orchestrator stops the service.
    pub async fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the service has already exited")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// Waits for the process to exit, for at most `limit`.
    pub async fn wait(&mut self, limit: Duration) -> anyhow::Result<ExitStatus> {
        Ok(tokio::time::timeout(limit, self.child.wait())
            .await
            .context("the service did not exit in time")??)
    }
}

/// A fresh database and materials folder, removed when the returned app is dropped. The
/// in-process service that created them is stopped: the tests start their own processes.
pub async fn fresh_database() -> anyhow::Result<TestApp> {
    let mut app = TestApp::spawn().await?;
    app.stop().await?;
    Ok(app)
}

#[tokio::test]
async fn sigterm_stops_the_service_with_exit_code_zero_and_keeps_what_it_acknowledged(
) -> anyhow::Result<()> {
    let mut app = fresh_database().await?;
    let mut service = ServiceProcess::start(&app.database_name, &app.materials_dir).await?;
    app.point_at(&service.address);
    let case = app.submit_case(&ZHANG_SAN, json!({})).await?;

    service.terminate().await?;
    let status = service.wait(Duration::from_secs(30)).await?;
    assert_eq!(status.code(), Some(0), "{status:?}");

    let service = ServiceProcess::start(&app.database_name, &app.materials_dir).await?;
    app.point_at(&service.address);
    let other = app.submit_case(&LI_SI, json!({})).await?;
    assert_ne!(case, other);
    let history = app
        .graphql(
            Some(&teacher_cert_tests::staff_token("auditor")),
            "query($case: ID!) { caseHistory(caseNumber: $case) { events { eventType } } }",
            json!({ "case": case }),
        )
        .await?;
    assert_eq!(
        history.data("/caseHistory/events")?,
        json!([{ "eventType": "ApplicationSubmitted" }])
    );
    Ok(())
}
