//! The run's phases, in order. The service's: submit, accept and the two queries at each
//! concurrency; projection lag and subscription delay at half the best submit rate; then a
//! submit run at the highest concurrency with every subscriber still connected, during
//! which the service's peak RSS is taken. After the service has stopped: the raw ceilings
//! on the same database (run apart so the service's idle pool and the ceiling pool never
//! crowd PostgreSQL's 100 connections together), then the rebuild on a database of its own.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::postgres::PgPoolOptions;

use crate::ceiling::{self, Ceiling, Templates};
use crate::gql::Client;
use crate::load;
use crate::people::{self, Applicant, Person};
use crate::read_side::{self, Subscribers};
use crate::rebuild as rebuild_phase;
use crate::report::{Footprint, LagReport, Point, RebuildReport, Report, SubscriptionReport};
use crate::scenarios::{self, Submitted};
use crate::service::{self, Service};
use crate::Args;

/// How long the read models may take to catch up between phases.
const CATCH_UP: Duration = Duration::from_secs(120);

/// Requests outstanding at most in an open-loop phase.
const MAX_IN_FLIGHT: usize = 256;

/// The concurrency of untimed preparation (topping up submitted cases, approving).
const PREPARATION_CONCURRENCY: usize = 16;

/// Applicants ready to submit: prepared ones first, then fresh people from the registry
/// (uploading their materials), then people whose accepted case is approved (untimed) so
/// that they may apply again.
struct Applicants {
    fresh: VecDeque<Person>,
    prepared: VecDeque<Arc<Applicant>>,
    /// Applicants whose case was accepted: approving it closes it.
    recyclable: VecDeque<(Arc<Applicant>, String)>,
}

impl Applicants {
    fn available(&self) -> usize {
        self.fresh.len() + self.prepared.len() + self.recyclable.len()
    }

    /// Up to `count` applicants, each free to submit now. Untimed.
    async fn take(
        &mut self,
        client: &Client,
        approver: &str,
        count: usize,
    ) -> anyhow::Result<Vec<Arc<Applicant>>> {
        let mut ready: Vec<Arc<Applicant>> = Vec::with_capacity(count);
        while ready.len() < count {
            let Some(applicant) = self.prepared.pop_front() else {
                break;
            };
            ready.push(applicant);
        }
        let fresh: Vec<Person> = (0..count - ready.len())
            .map_while(|_| self.fresh.pop_front())
            .collect();
        if !fresh.is_empty() {
            let started = std::time::Instant::now();
            let prepared = people::prepare(client, &fresh).await?;
            eprintln!(
                "  prepared {} applicants (2 uploads each) in {:.1} s",
                fresh.len(),
                started.elapsed().as_secs_f64()
            );
            ready.extend(prepared.into_iter().map(Arc::new));
        }
        let recycle: Vec<(Arc<Applicant>, String)> = (0..count - ready.len())
            .map_while(|_| self.recyclable.pop_front())
            .collect();
        if !recycle.is_empty() {
            eprintln!(
                "  approving {} accepted cases to reuse their applicants",
                recycle.len()
            );
            let cases: Arc<Vec<String>> =
                Arc::new(recycle.iter().map(|(_, case)| case.clone()).collect());
            let (client, approver) = (client.clone(), approver.to_owned());
            load::closed_loop(
                PREPARATION_CONCURRENCY,
                Duration::from_secs(3_600),
                Some(cases.len()),
                move |index| {
                    let (client, approver, cases) =
                        (client.clone(), approver.clone(), Arc::clone(&cases));
                    async move { scenarios::approve(&client, &approver, &cases[index]).await }
                },
            )
            .await?;
            ready.extend(recycle.into_iter().map(|(applicant, _)| applicant));
        }
        Ok(ready)
    }

    /// Gives back applicants a phase did not use.
    fn give_back(&mut self, unused: impl IntoIterator<Item = Arc<Applicant>>) {
        for applicant in unused {
            self.prepared.push_front(applicant);
        }
    }
}

/// Everything the service phases share.
struct Driver<'a> {
    args: &'a Args,
    client: Client,
    database_url: &'a str,
    clerk: String,
    approver: String,
    applicants: Applicants,
    /// Submitted cases not yet accepted, oldest first.
    submitted: VecDeque<Submitted>,
    best_submit_rate: f64,
}

fn duration(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.001))
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub async fn service_phases(
    args: &Args,
    service: &mut Service,
    database_url: &str,
    people: Vec<Person>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let baseline_rss_kb = service::proc_status_kb(service.pid, "VmRSS")?;
    let mut driver = Driver {
        args,
        client: Client::new(&service.base_url)?,
        database_url,
        clerk: people::staff_token("bench-clerk", "clerk")?,
        approver: people::staff_token("bench-approver", "approver")?,
        applicants: Applicants {
            fresh: people.into(),
            prepared: VecDeque::new(),
            recyclable: VecDeque::new(),
        },
        submitted: VecDeque::new(),
        best_submit_rate: 0.0,
    };

    let mut previous = 0;
    for &concurrency in &args.concurrency {
        let point = driver.submit_point(concurrency, previous).await?;
        report.points.push(point);
        service.check_alive()?;
        previous = concurrency;
    }
    driver.top_up_for_accepts().await?;
    for &concurrency in &args.concurrency {
        report.points.push(driver.accept_point(concurrency).await?);
        service.check_alive()?;
    }
    for &concurrency in &args.concurrency {
        report
            .points
            .push(driver.my_submissions_point(concurrency).await?);
    }
    for &concurrency in &args.concurrency {
        report.points.push(driver.queue_point(concurrency).await?);
    }
    service.check_alive()?;

    report.lag = Some(driver.lag_phase().await?);
    let subscribers = if args.subscribers > 0 {
        let (subscription, subscribers) = driver.subscription_phase().await?;
        report.subscriptions = Some(subscription);
        Some(subscribers)
    } else {
        None
    };
    let footprint = driver
        .footprint_phase(service, subscribers.as_ref(), baseline_rss_kb, report)
        .await;
    if let Some(subscribers) = subscribers {
        subscribers.close().await;
    }
    report.footprint = Some(footprint?);
    Ok(())
}

impl Driver<'_> {
    /// How many applicants a submit point at `concurrency` may use: a generous guess from
    /// the best rate so far (or a fixed first guess), capped by what is left.
    fn submit_budget(&self, concurrency: usize, previous: usize) -> usize {
        let rate = if self.best_submit_rate > 0.0 {
            let growth = if concurrency > previous { 2.0 } else { 1.3 };
            self.best_submit_rate * growth
        } else {
            #[expect(clippy::cast_precision_loss, reason = "a guess")]
            let guess = 300.0 * concurrency.min(4) as f64;
            guess
        };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a count"
        )]
        let budget = (rate * self.args.seconds * 1.2) as usize + 50;
        budget.min(self.applicants.available())
    }

    async fn submit_point(&mut self, concurrency: usize, previous: usize) -> anyhow::Result<Point> {
        let budget = self.submit_budget(concurrency, previous);
        let list = self
            .applicants
            .take(&self.client, &self.approver, budget)
            .await?;
        read_side::wait_caught_up(self.database_url, CATCH_UP).await?;
        eprintln!("submit c={concurrency} ({} applicants ready)", list.len());
        let (run, done) = self
            .submit_closed(concurrency, duration(self.args.seconds), list)
            .await?;
        let point = Point::new("submit", concurrency, &run);
        self.best_submit_rate = self.best_submit_rate.max(point.ops_per_second);
        self.submitted.extend(done);
        Ok(point)
    }

    /// A closed-loop submit run over `list`; unused applicants go back to the pool.
    async fn submit_closed(
        &mut self,
        concurrency: usize,
        length: Duration,
        list: Vec<Arc<Applicant>>,
    ) -> anyhow::Result<(load::Run, Vec<Submitted>)> {
        let list = Arc::new(list);
        let done = Arc::new(Mutex::new(Vec::new()));
        let (client, op_list, op_done) =
            (self.client.clone(), Arc::clone(&list), Arc::clone(&done));
        let run = load::closed_loop(concurrency, length, Some(list.len()), move |index| {
            let (client, list, done) = (client.clone(), Arc::clone(&op_list), Arc::clone(&op_done));
            async move {
                let submitted = scenarios::submit(&client, Arc::clone(&list[index])).await?;
                locked(&done).push(submitted);
                Ok(())
            }
        })
        .await?;
        let used = usize::try_from(run.ops).unwrap_or(usize::MAX);
        self.applicants.give_back(list.iter().skip(used).cloned());
        let done = std::mem::take(&mut *locked(&done));
        Ok((run, done))
    }

    /// Submits more cases (untimed) so that the accept points are unlikely to run out:
    /// acceptance is expected to run at most 1.5 times the best submit rate.
    async fn top_up_for_accepts(&mut self) -> anyhow::Result<()> {
        #[expect(clippy::cast_precision_loss, reason = "an estimate")]
        let points = self.args.concurrency.len() as f64;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a count"
        )]
        let wanted = (self.best_submit_rate * 1.5 * self.args.seconds * points) as usize;
        let missing = wanted.saturating_sub(self.submitted.len());
        // Keep applicants for the phases after the accept points.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a count"
        )]
        let reserve = (self.best_submit_rate
            * (self.args.seconds + self.args.read_side_seconds)
            * 1.3) as usize;
        let affordable = self.applicants.available().saturating_sub(reserve);
        let count = missing.min(affordable);
        if count == 0 {
            return Ok(());
        }
        let list = self
            .applicants
            .take(&self.client, &self.approver, count)
            .await?;
        eprintln!(
            "  submitting {} more cases for the accept points (untimed)",
            list.len()
        );
        let (_, done) = self
            .submit_closed(PREPARATION_CONCURRENCY, Duration::from_secs(3_600), list)
            .await?;
        self.submitted.extend(done);
        Ok(())
    }

    async fn accept_point(&mut self, concurrency: usize) -> anyhow::Result<Point> {
        read_side::wait_caught_up(self.database_url, CATCH_UP).await?;
        eprintln!(
            "accept c={concurrency} ({} submitted cases ready)",
            self.submitted.len()
        );
        let cases: Arc<Vec<Submitted>> = Arc::new(self.submitted.drain(..).collect());
        let (client, clerk, op_cases) =
            (self.client.clone(), self.clerk.clone(), Arc::clone(&cases));
        let run = load::closed_loop(
            concurrency,
            duration(self.args.seconds),
            Some(cases.len()),
            move |index| {
                let (client, clerk, cases) = (client.clone(), clerk.clone(), Arc::clone(&op_cases));
                async move { scenarios::accept(&client, &clerk, &cases[index].case_number).await }
            },
        )
        .await?;
        let used = usize::try_from(run.ops).unwrap_or(usize::MAX);
        for (index, case) in cases.iter().enumerate() {
            if index < used {
                let pair = (Arc::clone(&case.applicant), case.case_number.clone());
                self.applicants.recyclable.push_back(pair);
            } else {
                self.submitted.push_back(case.clone());
            }
        }
        Ok(Point::new("accept", concurrency, &run))
    }

    /// `mySubmissions` as applicants who have a case (cycling through up to 1,000 of them).
    async fn my_submissions_point(&mut self, concurrency: usize) -> anyhow::Result<Point> {
        let tokens: Vec<String> = self
            .submitted
            .iter()
            .map(|case| Arc::clone(&case.applicant))
            .chain(
                self.applicants
                    .recyclable
                    .iter()
                    .map(|(applicant, _)| Arc::clone(applicant)),
            )
            .take(1_000)
            .map(|applicant| people::applicant_token(&applicant.person))
            .collect::<anyhow::Result<_>>()?;
        if tokens.is_empty() {
            bail!("no applicant has a case to list");
        }
        read_side::wait_caught_up(self.database_url, CATCH_UP).await?;
        eprintln!("mySubmissions c={concurrency}");
        let tokens = Arc::new(tokens);
        let client = self.client.clone();
        let run =
            load::closed_loop(
                concurrency,
                duration(self.args.seconds),
                None,
                move |index| {
                    let (client, tokens) = (client.clone(), Arc::clone(&tokens));
                    async move {
                        scenarios::my_submissions(&client, &tokens[index % tokens.len()]).await
                    }
                },
            )
            .await?;
        Ok(Point::new("mySubmissions", concurrency, &run))
    }

    async fn queue_point(&mut self, concurrency: usize) -> anyhow::Result<Point> {
        read_side::wait_caught_up(self.database_url, CATCH_UP).await?;
        eprintln!("queue(ACCEPTANCE) c={concurrency}");
        let (client, clerk) = (self.client.clone(), self.clerk.clone());
        let run = load::closed_loop(concurrency, duration(self.args.seconds), None, move |_| {
            let (client, clerk) = (client.clone(), clerk.clone());
            async move { scenarios::acceptance_queue(&client, &clerk).await }
        })
        .await?;
        Ok(Point::new("queue(ACCEPTANCE)", concurrency, &run))
    }

    fn read_side_rate(&self) -> f64 {
        self.args
            .read_side_rate
            .unwrap_or(self.best_submit_rate / 2.0)
            .max(1.0)
    }

    /// Submissions at a fixed rate, open loop; answers them and the rate achieved.
    async fn submit_open(&mut self, rate: f64) -> anyhow::Result<(Vec<Submitted>, f64)> {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a count"
        )]
        let count = (rate * self.args.read_side_seconds).ceil() as usize;
        let list = self
            .applicants
            .take(&self.client, &self.approver, count)
            .await?;
        if list.len() < count {
            bail!(
                "only {} of {count} applicants left for the read-side phases; raise --people",
                list.len()
            );
        }
        read_side::wait_caught_up(self.database_url, CATCH_UP).await?;
        let list = Arc::new(list);
        let done = Arc::new(Mutex::new(Vec::with_capacity(count)));
        let (client, op_list, op_done) =
            (self.client.clone(), Arc::clone(&list), Arc::clone(&done));
        let wall = load::open_loop(rate, count, MAX_IN_FLIGHT, move |index| {
            let (client, list, done) = (client.clone(), Arc::clone(&op_list), Arc::clone(&op_done));
            async move {
                let submitted = scenarios::submit(&client, Arc::clone(&list[index])).await?;
                locked(&done).push(submitted);
                Ok(())
            }
        })
        .await?;
        let done = std::mem::take(&mut *locked(&done));
        #[expect(clippy::cast_precision_loss, reason = "a rate")]
        let achieved = count as f64 / wall.as_secs_f64().max(f64::EPSILON);
        Ok((done, achieved))
    }

    async fn lag_phase(&mut self) -> anyhow::Result<LagReport> {
        let rate = self.read_side_rate();
        eprintln!("projection lag at {rate:.0} submissions/s");
        read_side::wait_caught_up(self.database_url, CATCH_UP).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let follower =
            read_side::follow_checkpoints(self.database_url.to_owned(), Arc::clone(&stop));
        let submitted = self.submit_open(rate).await;
        let caught_up = read_side::wait_caught_up(self.database_url, CATCH_UP).await;
        stop.store(true, Ordering::SeqCst);
        let timeline = follower
            .await
            .context("the checkpoint follower panicked")??;
        let (submitted, achieved_rate) = submitted?;
        caught_up?;
        let lags = read_side::lags(&timeline, &submitted)?;
        self.submitted.extend(submitted.iter().cloned());
        Ok(LagReport {
            target_rate: rate,
            achieved_rate,
            submissions: submitted.len(),
            read_models: lags,
        })
    }

    async fn subscription_phase(&mut self) -> anyhow::Result<(SubscriptionReport, Subscribers)> {
        let count = self.args.subscribers;
        eprintln!("opening {count} subscriptions");
        let ws_url = format!(
            "{}/graphql/ws",
            self.client_base().replacen("http", "ws", 1)
        );
        let subscribers = Subscribers::open(&ws_url, &self.clerk, count).await?;
        subscribers.restart();
        let rate = self.read_side_rate();
        eprintln!("subscription delay at {rate:.0} submissions/s");
        let (submitted, achieved_rate) = match self.submit_open(rate).await {
            Ok(done) => done,
            Err(error) => {
                subscribers.close().await;
                return Err(error);
            }
        };
        let (missing, ended) = subscribers
            .wait_for(&submitted, Duration::from_secs(30))
            .await;
        if missing > 0 || ended > 0 {
            let failure = subscribers.first_failure();
            subscribers.close().await;
            bail!(
                "{missing} deliveries missing, {ended} subscriptions ended; first failure: {}",
                failure.unwrap_or_else(|| "none reported".to_owned())
            );
        }
        let (from_answer, from_request) = subscribers.delays(&submitted);
        let report = SubscriptionReport {
            subscribers: count,
            target_rate: rate,
            achieved_rate,
            cases: submitted.len(),
            deliveries: from_answer.count,
            from_answer,
            from_request,
        };
        self.submitted.extend(submitted);
        Ok((report, subscribers))
    }

    fn client_base(&self) -> String {
        self.client.base_url()
    }

    /// A submit run at the highest concurrency with the subscribers (if any) connected and
    /// counting; the peak RSS is reset at its start and read at its end.
    async fn footprint_phase(
        &mut self,
        service: &Service,
        subscribers: Option<&Subscribers>,
        baseline_rss_kb: u64,
        report: &mut Report,
    ) -> anyhow::Result<Footprint> {
        let concurrency = self.args.concurrency.iter().copied().max().unwrap_or(1);
        let budget = self.submit_budget(concurrency, concurrency);
        let list = self
            .applicants
            .take(&self.client, &self.approver, budget)
            .await?;
        read_side::wait_caught_up(self.database_url, CATCH_UP).await?;
        if let Some(subscribers) = subscribers {
            subscribers.restart();
        }
        eprintln!(
            "submit c={concurrency} with {} subscribers (footprint)",
            subscribers.map_or(0, |_| self.args.subscribers)
        );
        let pid = service.pid;
        let reset = service::reset_peak_rss(pid);
        let sampled_peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (sampled_peak, stop) = (Arc::clone(&sampled_peak), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(rss) = service::proc_status_kb(pid, "VmRSS") {
                        sampled_peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let ran = self
            .submit_closed(concurrency, duration(self.args.seconds), list)
            .await;
        stop.store(true, Ordering::SeqCst);
        sampler.await.ok();
        let peak_rss_kb = service::proc_status_kb(pid, "VmHWM")?;
        let (run, done) = ran?;
        let mut point = Point::new("submit +subscribers", concurrency, &run);
        point.scenario = format!(
            "submit +{} subs",
            subscribers.map_or(0, |_| self.args.subscribers)
        );
        report.points.push(point);

        let mut updates_counted = 0;
        if let Some(subscribers) = subscribers {
            let (missing, ended) = subscribers.wait_for(&done, Duration::from_secs(30)).await;
            let expected = (done.len() * self.args.subscribers) as u64;
            updates_counted = expected.saturating_sub(missing);
            if missing > 0 || ended > 0 {
                report.footprint = Some(self.footprint(
                    concurrency,
                    baseline_rss_kb,
                    peak_rss_kb,
                    reset,
                    &sampled_peak,
                    &run,
                    updates_counted,
                ));
                bail!(
                    "during the footprint run {missing} deliveries were missing and {ended} subscriptions ended; first failure: {}",
                    subscribers.first_failure().unwrap_or_else(|| "none reported".to_owned())
                );
            }
        }
        self.submitted.extend(done);
        Ok(self.footprint(
            concurrency,
            baseline_rss_kb,
            peak_rss_kb,
            reset,
            &sampled_peak,
            &run,
            updates_counted,
        ))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "assembles one report from one phase's figures"
    )]
    fn footprint(
        &self,
        concurrency: usize,
        baseline_rss_kb: u64,
        peak_rss_kb: u64,
        reset: bool,
        sampled_peak: &AtomicU64,
        run: &load::Run,
        updates_counted: u64,
    ) -> Footprint {
        Footprint {
            registry_people: self.args.people,
            subscribers: self.args.subscribers,
            concurrency,
            baseline_rss_kb,
            peak_rss_kb,
            peak_reset_at_phase_start: reset,
            sampled_peak_rss_kb: sampled_peak.load(Ordering::Relaxed),
            submit_ops_per_second: run.ops_per_second(),
            updates_counted,
        }
    }
}

/// The three raw ceilings at each concurrency, on scratch tables in the service's database.
pub async fn ceilings(args: &Args, database_url: &str, report: &mut Report) -> anyhow::Result<()> {
    let setup = PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await
        .context("connecting for the ceilings")?;
    let templates = Arc::new(Templates::read(&setup).await?);
    report.template_sizes = Some(templates.sizes());
    ceiling::create_tables(&setup).await?;
    let cases = Arc::new(ceiling::Cases::default());
    let mut best_rate: f64 = 0.0;
    for kind in [
        Ceiling::Insert,
        Ceiling::ReadInsert,
        Ceiling::ReadInsertView,
    ] {
        for &concurrency in &args.concurrency {
            let size = u32::try_from(concurrency).unwrap_or(u32::MAX);
            let pool = ceiling::pool(database_url, size).await?;
            // Enough seeded cases for 1.5 times the best ceiling rate seen so far.
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a count"
            )]
            let budget = (best_rate * 1.5 * args.seconds) as usize + 1_000;
            eprintln!("{} c={concurrency}", kind.label());
            let run = ceiling::run(
                kind,
                pool.clone(),
                &setup,
                Arc::clone(&templates),
                Arc::clone(&cases),
                concurrency,
                duration(args.seconds),
                budget,
            )
            .await?;
            pool.close().await;
            best_rate = best_rate.max(run.ops_per_second());
            report
                .ceilings
                .push(Point::new(kind.label(), concurrency, &run));
        }
    }
    setup.close().await;
    Ok(())
}

/// Generates the rebuild database through the store's append path, then times the rebuild.
pub async fn rebuild(
    args: &Args,
    binary: &Path,
    work_dir: &Path,
    database_url: &str,
    registry_file: &Path,
    people: &[Person],
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!(
        "generating {} events through the store ({} workers)",
        args.rebuild_events, args.rebuild_workers
    );
    let generated = rebuild_phase::generate(
        database_url,
        registry_file,
        people,
        args.rebuild_events,
        args.rebuild_workers,
    )
    .await?;
    eprintln!(
        "  {} events in {:.1} s; running rebuild-projections",
        generated.events, generated.seconds
    );
    let rebuilt = rebuild_phase::rebuild(binary, work_dir, database_url).await?;
    report.rebuild = Some(RebuildReport { generated, rebuilt });
    Ok(())
}
