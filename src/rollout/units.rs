//! A tenant's units (services, stacks) side by side, each under its own lock: up to `at_once`
//! at a time, started in the order given. Once one fails, the units not yet started are not
//! started (skipped, naming the one that failed); those in flight finish. Each row carries the
//! retries of its own calls; the tenant's shared calls go on its first row.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::dsl::Tenant;
use crate::fleet::{Outcome, Row};

use super::{Control, row};

/// One unit: its name in the summary (`api`, `stack:app`) and what the work needs.
pub struct Unit<U> {
    pub name: String,
    pub item: U,
}

/// Runs `work` for each unit and returns one row per unit, in the order given.
pub async fn each<U, F, Fut>(
    ctl: &Arc<Control>,
    t: &Tenant,
    ring: &str,
    units: Vec<Unit<U>>,
    at_once: usize,
    work: F,
) -> Vec<Row>
where
    U: Send + 'static,
    F: Fn(U) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Row> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(at_once.max(1)));
    let failed: Arc<Mutex<Option<String>>> = Arc::default();
    let mut set = tokio::task::JoinSet::new();
    let mut rows: Vec<(usize, Row)> = Vec::new();
    for (i, u) in units.into_iter().enumerate() {
        // Permits are taken here, in order: with one at a time the units start as listed.
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        let why = if ctl.stopped() {
            Some("interrupted before it started".to_owned())
        } else {
            failed.lock().ok().and_then(|f| f.clone()).map(|f| {
                format!(
                    "not started: {f} failed in this tenant, so this release goes no further here"
                )
            })
        };
        if let Some(why) = why {
            rows.push((i, row(t, ring, &u.name, Outcome::Skipped, Some(why))));
            continue;
        }
        let (work, failed, ctl) = (work.clone(), failed.clone(), ctl.clone());
        let who = format!("{}/{}", t.name, u.name);
        set.spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            let (mut r, calls) = crate::aws::calls::scoped(work(u.item)).await;
            r.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            r.retried = calls.retries;
            r.retries = r.retried.values().sum();
            if r.result.is_failure()
                && let Ok(mut f) = failed.lock()
            {
                f.get_or_insert_with(|| r.service.clone());
            }
            ctl.printer.status_done(&who, format_args!("{}", said(&r)));
            (i, r)
        });
    }
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            rows.push(r);
        }
    }
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().map(|(_, r)| r).collect()
}

/// `deployed`, `rolled back (why)`: the line a unit ends with on stderr.
fn said(r: &Row) -> String {
    let word = match r.result {
        Outcome::RolledBack => "rolled back",
        Outcome::NeedsHuman => "NEEDS A HUMAN",
        o => o.as_str(),
    };
    match &r.detail {
        Some(d) => format!("{word} ({d})"),
        None => word.to_owned(),
    }
}

/// The tenant's retries outside its units (AssumeRole, the account guard, lookups) go on its
/// first row, so that a tenant's rows add up to every retry its calls needed.
pub fn shared_retries_on_first(rows: &mut [Row], mut all: BTreeMap<String, u64>) {
    for r in rows.iter() {
        for (op, n) in &r.retried {
            if let Some(total) = all.get_mut(op) {
                *total = total.saturating_sub(*n);
            }
        }
    }
    all.retain(|_, n| *n > 0);
    if let Some(first) = rows.first_mut() {
        for (op, n) in all {
            *first.retried.entry(op).or_insert(0) += n;
        }
        first.retries = first.retried.values().sum();
    }
}
