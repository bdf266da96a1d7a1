//! The service as a separate operating-system process: started the way operators start it,
//! stopped with SIGTERM or killed with SIGKILL.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use teacher_cert_tests::people::{self, LI_SI, ZHANG_SAN};
use teacher_cert_tests::{database_server, eventually, staff_token, Person, TestApp, TEST_SECRET};
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

    /// Sends SIGKILL: no chance to finish anything.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
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

/// Every row of the read models, in a stable order, as JSON text.
async fn read_models(app: &TestApp) -> anyhow::Result<Vec<String>> {
    let mut db = app.db().await?;
    let mut rows: Vec<String> = sqlx::query_scalar(
        "SELECT json_build_object('case', case_number, 'applicant', applicant_id, 'status', status, 'view', view)::text \
         FROM my_submissions ORDER BY case_number",
    )
    .fetch_all(&mut db)
    .await?;
    let queues: Vec<String> = sqlx::query_scalar(
        "SELECT json_build_object('kind', kind, 'case', case_number, 'entered', entered_at, 'item', item)::text \
         FROM queue_items ORDER BY kind, case_number",
    )
    .fetch_all(&mut db)
    .await?;
    rows.extend(queues);
    Ok(rows)
}

#[tokio::test]
async fn a_subscriber_on_one_process_sees_a_case_submitted_through_another() -> anyhow::Result<()> {
    let mut app = fresh_database().await?;
    let watching = ServiceProcess::start(&app.database_name, &app.materials_dir).await?;
    let handling = ServiceProcess::start(&app.database_name, &app.materials_dir).await?;

    app.point_at(&watching.address);
    let mut subscription = app
        .subscribe(
            &staff_token("clerk"),
            "subscription { queueUpdates(kind: ACCEPTANCE) { change caseNumber } }",
            json!({}),
        )
        .await?;

    app.point_at(&handling.address);
    // Printed, not asserted (`--nocapture`): how long after the answer on one process the
    // subscriber on the other heard of the case.
    let mut delays = Vec::new();
    for n in 0..20 {
        let case = app
            .submit_case(&numbered_person(500 + n), json!({}))
            .await?;
        let answered = std::time::Instant::now();
        let update = subscription.next_data().await?;
        delays.push(answered.elapsed());
        assert_eq!(
            update.pointer("/data/queueUpdates"),
            Some(&json!({ "change": "ADDED", "caseNumber": case })),
            "{update}"
        );
    }
    delays.sort_unstable();
    eprintln!(
        "cross-process delivery after the answer, {} cases: median {:?}, max {:?}",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
    Ok(())
}

/// How many events lie past the furthest-behind projector's checkpoint.
async fn events_behind(app: &TestApp) -> anyhow::Result<i64> {
    let mut db = app.db().await?;
    let behind = sqlx::query_scalar(
        "SELECT count(*) FROM events e \
         WHERE (e.transaction_id, e.global_position) > \
             (SELECT transaction_id, global_position FROM projector_checkpoints \
              ORDER BY transaction_id, global_position LIMIT 1)",
    )
    .fetch_one(&mut db)
    .await?;
    Ok(behind)
}

/// Whether every projector's checkpoint has reached the newest event.
async fn projectors_caught_up(app: &TestApp) -> anyhow::Result<bool> {
    let mut db = app.db().await?;
    let behind: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM projector_checkpoints c \
         WHERE (c.transaction_id, c.global_position) < \
               (SELECT transaction_id, global_position FROM events \
                ORDER BY transaction_id DESC, global_position DESC LIMIT 1)",
    )
    .fetch_one(&mut db)
    .await?;
    let projectors: i64 = sqlx::query_scalar("SELECT count(*) FROM projector_checkpoints")
        .fetch_one(&mut db)
        .await?;
    Ok(behind == 0 && projectors == 2)
}

#[tokio::test]
async fn after_a_kill_no_acknowledged_command_is_missing_and_the_read_models_equal_a_rebuild(
) -> anyhow::Result<()> {
    let mut app = fresh_database().await?;
    let mut service = ServiceProcess::start(&app.database_name, &app.materials_dir).await?;
    app.point_at(&service.address);

    // A stream of commands, acknowledged one by one, with the service killed mid-stream.
    let app = std::sync::Arc::new(app);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stream = tokio::spawn({
        let app = app.clone();
        let acknowledged = acknowledged.clone();
        async move {
            let clerk = staff_token("clerk");
            for n in 0..200 {
                let Ok(case) = app.submit_case(&numbered_person(n), json!({})).await else {
                    return;
                };
                if let Ok(mut acknowledged) = acknowledged.lock() {
                    acknowledged.push(case.clone());
                }
                if n % 2 == 0 {
                    let accepted = app
                        .decide(&clerk, "acceptApplication", json!({ "caseNumber": case }))
                        .await;
                    if accepted.is_err() {
                        return;
                    }
                }
            }
        }
    });
    eventually("enough commands were acknowledged", || async {
        let count = acknowledged
            .lock()
            .map(|cases| cases.len())
            .unwrap_or_default();
        Ok((count >= 15).then_some(()))
    })
    .await?;
    service.kill().await?;
    stream.await?;
    let acknowledged = acknowledged
        .lock()
        .map(|cases| cases.clone())
        .unwrap_or_default();
    let Ok(mut app) = std::sync::Arc::try_unwrap(app) else {
        anyhow::bail!("the command stream still holds the app");
    };

    let behind = events_behind(&app).await?;
    let restarted = std::time::Instant::now();
    let service = ServiceProcess::start(&app.database_name, &app.materials_dir).await?;
    let listening = restarted.elapsed();
    app.point_at(&service.address);
    let auditor = staff_token("auditor");
    for case in &acknowledged {
        let history = app
            .graphql(
                Some(&auditor),
                "query($case: ID!) { caseHistory(caseNumber: $case) { caseNumber } }",
                json!({ "case": case }),
            )
            .await?;
        assert_eq!(history.data("/caseHistory/caseNumber")?, json!(case));
    }

    eventually("the projectors to catch up after the restart", || async {
        Ok(projectors_caught_up(&app).await?.then_some(()))
    })
    .await?;
    // Printed, not asserted (`--nocapture`).
    eprintln!(
        "after the kill: {} acknowledged cases, {behind} events not yet projected; restarted \
         and listening in {listening:?}, read models caught up {:?} after the restart",
        acknowledged.len(),
        restarted.elapsed()
    );
    let before = read_models(&app).await?;
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_teacher-cert-under-test"))
        .arg("rebuild-projections")
        .env(
            "DATABASE_URL",
            format!("{}/{}", database_server(), app.database_name),
        )
        .env("AUTH_JWT_SECRET", TEST_SECRET)
        .stderr(Stdio::null())
        .status()
        .await?;
    assert!(status.success(), "rebuild-projections failed: {status:?}");
    assert_eq!(read_models(&app).await?, before);
    Ok(())
}

/// A fictional person unknown to the registry, distinct for each `n`.
fn numbered_person(n: usize) -> Person {
    let number: &'static str = Box::leak(format!("11010119900101{:04}", 1000 + n).into_boxed_str());
    let sub: &'static str = Box::leak(format!("u-kill-{n}").into_boxed_str());
    Person {
        sub,
        name: "测试",
        id_doc_number: number,
        ..people::STRANGER
    }
}
