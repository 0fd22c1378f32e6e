//! The fleet loop: who may start now (windows, freezes, overrides), waves in `project.rings`
//! order, up to `--concurrency` tenants at once, no new tenant after the failure tolerance or an
//! interrupt, and the rows of everything that did not start. After each ring a [`RingGate`] may
//! hold the later rings back (their rows say why). A second interrupt abandons the run: [`run`]
//! returns `None` and the command exits 130.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::dsl::{Fleet, Tenant};
use crate::fleet::{self, Gate, Outcome, Row, Tolerance};
use crate::output::Printer;

use super::{Notify, Settings};

/// What every tenant task shares: the stop flag, the failure count, the printer, and the
/// run's notifications.
pub struct Control {
    stop: AtomicBool,
    tolerance: Mutex<Tolerance>,
    pub printer: Printer,
    pub notify: Notify,
}

impl Control {
    pub fn new(s: &Settings, printer: Printer, notify: Notify) -> Arc<Self> {
        Arc::new(Self {
            stop: AtomicBool::new(false),
            tolerance: Mutex::new(Tolerance::new(s.failure_tolerance)),
            printer,
            notify,
        })
    }

    /// Whether an interrupt asked that nothing new start.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn may_start(&self) -> bool {
        self.tolerance.lock().is_ok_and(|t| t.may_start())
    }

    fn record(&self, rows: &[Row]) {
        if rows.iter().any(|r| r.result.is_failure())
            && let Ok(mut t) = self.tolerance.lock()
        {
            t.record_failure();
        }
    }
}

/// A tenant's unit names (`api`, `stack:app`), for the rows of tenants that do not start.
pub type UnitNames = Arc<dyn Fn(&Tenant) -> Vec<String> + Send + Sync>;

/// A tenant allowed to start, its ring, and the override that let it through (for the tags).
#[derive(Debug, Clone)]
pub struct Start {
    pub tenant: Tenant,
    pub ring: String,
    pub r#override: Option<String>,
}

/// The tenants the waves start, in wave order: what a command checks before the first write.
pub fn starting(waves: &[(String, Vec<Start>)]) -> Vec<&Tenant> {
    waves
        .iter()
        .flat_map(|(_, w)| w.iter().map(|s| &s.tenant))
        .collect()
}

/// A summary row with nothing done yet.
pub fn row(t: &Tenant, ring: &str, unit: &str, result: Outcome, detail: Option<String>) -> Row {
    Row {
        tenant: t.name.clone(),
        ring: ring.to_owned(),
        service: unit.to_owned(),
        result,
        revision: None,
        previous_revision: None,
        release: None,
        duration_ms: 0,
        detail,
        retries: 0,
        retried: BTreeMap::new(),
        exit_code: None,
        logs: None,
    }
}

fn skipped(t: &Tenant, units: &[String], why: &str) -> Vec<Row> {
    units
        .iter()
        .map(|u| row(t, &t.ring, u, Outcome::Skipped, Some(why.to_owned())))
        .collect()
}

/// Splits the selected tenants into rows for those held back now (closed window, freeze, with
/// the time it opens) and waves of those that may start. `units` names a tenant's units.
pub fn schedule(
    fleet: &Fleet,
    tenants: &[&Tenant],
    s: &Settings,
    now: jiff::Timestamp,
    units: &dyn Fn(&Tenant) -> Vec<String>,
    printer: &Printer,
) -> (Vec<Row>, Vec<(String, Vec<Start>)>) {
    let mut rows = Vec::new();
    let mut open: Vec<&Tenant> = Vec::new();
    let mut overrides = BTreeMap::new();
    for t in tenants
        .iter()
        .filter(|t| s.ring.as_ref().is_none_or(|r| &t.ring == r))
    {
        let why = match fleet::gate(t, now, &s.overrides) {
            Gate::Open => None,
            Gate::Overridden { what, reason } => {
                overrides.insert(t.name.clone(), format!("{what}: {reason}"));
                None
            }
            Gate::Closed { next_open } => Some(match next_open {
                Some(n) => format!("outside window, next opens at {n}"),
                None => "outside window, never opens".to_owned(),
            }),
            Gate::Frozen { reason, until } => Some(format!(
                "frozen until {until}: {reason} (override with --ignore-freeze --reason TEXT)"
            )),
        };
        match why {
            Some(why) => {
                printer.info(format_args!("{}: skipped, {why}", t.name));
                rows.extend(skipped(t, &units(t), &why));
            }
            None => open.push(t),
        }
    }
    let waves = fleet::waves(&fleet.project.rings, &open, s.ring.as_deref())
        .into_iter()
        .map(|w| {
            let starts = w
                .tenants
                .iter()
                .map(|t| Start {
                    tenant: (*t).clone(),
                    ring: w.ring.clone(),
                    r#override: overrides.get(&t.name).cloned(),
                })
                .collect();
            (w.ring, starts)
        })
        .collect();
    (rows, waves)
}

/// What decides, after a ring, whether the later rings may start (deploy's health gates).
pub trait RingGate: Send + Sync {
    /// `Some(why)` holds the later rings back. `rows` are the ring's own (a gate may change them,
    /// e.g. to rolled back); `last`: no ring follows in this run.
    fn after_ring<'a>(
        &'a self,
        ring: &'a str,
        rows: &'a mut [Row],
        last: bool,
        ctl: &'a Control,
    ) -> impl Future<Output = Option<String>> + Send + 'a;
}

/// No gate: every ring starts after the one before (rollback, infra apply).
pub struct NoGate;

impl RingGate for NoGate {
    fn after_ring<'a>(
        &'a self,
        _: &'a str,
        _: &'a mut [Row],
        _: bool,
        _: &'a Control,
    ) -> impl Future<Output = Option<String>> + Send + 'a {
        std::future::ready(None)
    }
}

/// Runs `work` for every tenant of every wave; `None` when a second interrupt abandoned the
/// run. Rows come back in ring order, then tenant and unit.
pub async fn run<F, Fut>(
    ctl: Arc<Control>,
    rings: &[String],
    waves: Vec<(String, Vec<Start>)>,
    concurrency: usize,
    units: UnitNames,
    work: F,
) -> Option<Vec<Row>>
where
    F: Fn(Start) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Vec<Row>> + Send + 'static,
{
    run_gated(ctl, rings, waves, concurrency, units, work, &NoGate).await
}

/// [`run`], with `gate` asked after each ring.
pub async fn run_gated<F, Fut, G>(
    ctl: Arc<Control>,
    rings: &[String],
    waves: Vec<(String, Vec<Start>)>,
    concurrency: usize,
    units: UnitNames,
    work: F,
    gate: &G,
) -> Option<Vec<Row>>
where
    F: Fn(Start) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Vec<Row>> + Send + 'static,
    G: RingGate,
{
    let starting: Vec<(String, String)> = waves
        .iter()
        .flat_map(|(ring, w)| w.iter().map(|s| (ring.clone(), s.tenant.name.clone())))
        .collect();
    // Not awaited: a slow endpoint must not hold up the first wave.
    ctl.notify.started(&starting);
    let all = async {
        let mut out = Vec::new();
        let mut held: Option<String> = None;
        let n = waves.len();
        for (i, (ring, starts)) in waves.into_iter().enumerate() {
            if let Some(why) = &held {
                for s in &starts {
                    out.extend(skipped(&s.tenant, &units(&s.tenant), why));
                }
                continue;
            }
            ctl.printer
                .info(format_args!("wave {ring}: {} tenant(s)", starts.len()));
            let mut rows = wave(&ctl, starts, concurrency, &units, &work).await;
            if let Some(why) = gate.after_ring(&ring, &mut rows, i + 1 == n, &ctl).await {
                let why = format!("ring {ring} failed its health gate: {why}");
                if i + 1 < n {
                    ctl.printer
                        .error(format_args!("{why}; the later rings do not start"));
                }
                held = Some(why);
            }
            out.extend(rows);
        }
        out
    };
    let watcher = async {
        wait_for_signal().await;
        ctl.printer.error(
            "interrupted: finishing what is in flight, starting nothing new (interrupt again to exit now)",
        );
        ctl.stop.store(true, Ordering::SeqCst);
        wait_for_signal().await;
        ctl.printer
            .error("interrupted again: exiting now; locks still held will expire by themselves");
    };
    let mut rows = tokio::select! {
        rows = all => rows,
        () = watcher => return None,
    };
    let rank = |r: &str| rings.iter().position(|x| x == r).unwrap_or(usize::MAX);
    rows.sort_by(|a, b| {
        (rank(&a.ring), &a.tenant, &a.service).cmp(&(rank(&b.ring), &b.tenant, &b.service))
    });
    Some(rows)
}

async fn wave<F, Fut>(
    ctl: &Arc<Control>,
    starts: Vec<Start>,
    concurrency: usize,
    units: &UnitNames,
    work: &F,
) -> Vec<Row>
where
    F: Fn(Start) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Vec<Row>> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for start in starts {
        let (ctl, sem, units, work) = (ctl.clone(), sem.clone(), units.clone(), work.clone());
        set.spawn(async move {
            let _permit = sem.acquire().await;
            let t = &start.tenant;
            if ctl.stopped() {
                return skipped(t, &units(t), "interrupted before it started");
            }
            if !ctl.may_start() {
                return skipped(t, &units(t), "not started: failure tolerance reached");
            }
            let rows = work(start).await;
            ctl.record(&rows);
            rows
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.extend(r.unwrap_or_default());
    }
    out
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
