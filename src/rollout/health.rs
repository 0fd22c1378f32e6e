//! Health gates between rings. A service's `alarms` (CloudWatch, read with the tenant's inspect
//! role) are read once before its first write (the baseline), then watched while it rolls out
//! and, with `[project] bake`, for the bake after its ring. An alarm *moves* into ALARM when it
//! is in ALARM now and was not at the baseline, or entered it again since (its state timestamp
//! changed): as ECS's own deployment alarms, an alarm already firing before the deploy does not
//! fail it (a fix must be deployable), it is only said.
//!
//! A move fails the gate: the service is rolled back (during the rollout by the rollout itself,
//! during the bake here, under its lock again), its row names the alarm, and the later rings do
//! not start. During the bake only the services whose own alarm moved are rolled back; the
//! ring's other services stay deployed. An alarm that cannot be read (or no longer exists)
//! fails the gate the same way: a gate that cannot see is not passed. A bake read that fails
//! stops the later rings but rolls nothing back.
//!
//! Never decides what a service runs: it only says when the engine must stop or undo.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::aws::alarms::Alarm;
use crate::aws::deploy::{LockHolder, TenantDeployer, WaitLimits};
use crate::aws::{LiveEcsService, LiveTaskDefinition, TenantReader};
use crate::duration::show;
use crate::fleet::{Outcome, Row};
use crate::output::Printer;

use super::{Control, Roll, note};

/// The alarms of one service and how to read them.
pub struct Watch {
    reader: Arc<TenantReader>,
    names: Vec<String>,
}

/// The alarms as they were before the service's first write.
#[derive(Debug, Clone, Default)]
pub struct Baseline(BTreeMap<String, Alarm>);

impl Watch {
    pub fn new(reader: Arc<TenantReader>, names: Vec<String>) -> Self {
        Self { reader, names }
    }

    /// Reads the baseline; the names already in ALARM come back too, to be said.
    pub async fn baseline(&self) -> Result<(Baseline, Vec<String>), String> {
        let now = self
            .reader
            .alarms(&self.names)
            .await
            .map_err(|e| e.message())?;
        let firing = now
            .values()
            .filter(|a| a.firing)
            .map(|a| a.name.clone())
            .collect();
        Ok((Baseline(now), firing))
    }

    async fn moved(&self, base: &Baseline) -> Result<Option<Moved>, String> {
        let now = self
            .reader
            .alarms(&self.names)
            .await
            .map_err(|e| e.message())?;
        Ok(moved(&self.names, base, &now))
    }
}

/// Why a gate failed: `alarm api-5xx in ALARM` for the rows it holds back, and with
/// CloudWatch's reason for the row of the service itself.
#[derive(Debug, PartialEq, Eq)]
struct Moved {
    short: String,
    full: String,
}

/// Why the gate fails now: the first alarm of `names` that moved into ALARM since `base`, or
/// that no longer exists.
fn moved(names: &[String], base: &Baseline, now: &BTreeMap<String, Alarm>) -> Option<Moved> {
    names.iter().find_map(|n| match now.get(n) {
        None => {
            let short = format!("alarm {n} no longer exists");
            Some(Moved {
                full: short.clone(),
                short,
            })
        }
        Some(a)
            if a.firing
                && base
                    .0
                    .get(n)
                    .is_none_or(|b| !b.firing || b.since != a.since) =>
        {
            let short = format!("alarm {n} in ALARM");
            Some(Moved {
                full: match a.reason.as_str() {
                    "" => short.clone(),
                    r => format!("{short} ({r})"),
                },
                short,
            })
        }
        Some(_) => None,
    })
}

/// One service's gate while it rolls out.
pub struct Gate<'a> {
    pub watch: &'a Watch,
    pub base: &'a Baseline,
    pub health: &'a Health,
    pub ring: &'a str,
    /// `tenant/service`.
    pub who: String,
}

impl Gate<'_> {
    /// Polls every `poll` until the gate fails; never returns otherwise.
    pub async fn until_tripped(&self, poll: Duration) -> String {
        loop {
            if let Some(why) = self.tripped().await {
                return why;
            }
            tokio::time::sleep(poll.max(Duration::from_millis(10))).await;
        }
    }

    /// Why the gate fails now, if it does; recorded for the ring.
    pub async fn tripped(&self) -> Option<String> {
        let why = match self.watch.moved(self.base).await {
            Ok(None) => return None,
            Ok(Some(m)) => m,
            Err(e) => {
                let short = format!("its alarms could not be read: {e}");
                Moved {
                    full: short.clone(),
                    short,
                }
            }
        };
        self.health
            .trip(self.ring, format!("{}: {}", self.who, why.short));
        Some(why.full)
    }
}

/// A service this run deployed, for the bake after its ring.
pub struct Baked {
    pub tenant: String,
    /// Its name in the summary.
    pub service: String,
    pub deployer: Arc<TenantDeployer>,
    pub cluster: String,
    pub ecs_service: String,
    /// What it runs now, and what a rollback returns to.
    pub revision: i32,
    pub back: LiveTaskDefinition,
    pub live: LiveEcsService,
    pub watch: Option<(Arc<Watch>, Baseline)>,
}

/// What decides whether the next ring may start: every failed gate of a ring, and its bake.
pub struct Health {
    bake: Option<Duration>,
    limits: WaitLimits,
    holder: LockHolder,
    lock_ttl: Duration,
    printer: Printer,
    trips: Mutex<BTreeMap<String, Vec<String>>>,
    baking: Mutex<BTreeMap<String, Vec<Baked>>>,
}

impl Health {
    pub fn new(
        bake: Option<Duration>,
        limits: WaitLimits,
        holder: LockHolder,
        lock_ttl: Duration,
        printer: Printer,
    ) -> Self {
        Self {
            bake,
            limits,
            holder,
            lock_ttl,
            printer,
            trips: Mutex::default(),
            baking: Mutex::default(),
        }
    }

    fn trip(&self, ring: &str, why: String) {
        if let Ok(mut t) = self.trips.lock() {
            t.entry(ring.to_owned()).or_default().push(why);
        }
    }

    /// A service of `ring` this run deployed: watched during the bake.
    pub fn deployed(&self, ring: &str, b: Baked) {
        if let Ok(mut m) = self.baking.lock() {
            m.entry(ring.to_owned()).or_default().push(b);
        }
    }

    /// After `ring`'s wave: why the later rings must not start, if they must not.
    async fn gate(
        &self,
        ring: &str,
        rows: &mut [Row],
        last: bool,
        ctl: &Control,
    ) -> Option<String> {
        let baked = self
            .baking
            .lock()
            .ok()
            .and_then(|mut m| m.remove(ring))
            .unwrap_or_default();
        if let Some(trips) = self.trips.lock().ok().and_then(|mut t| t.remove(ring)) {
            return Some(trips.join("; "));
        }
        let bake = self.bake?;
        if last || baked.is_empty() || ctl.stopped() {
            return None;
        }
        self.bake(ring, bake, baked, rows, ctl).await
    }

    async fn bake(
        &self,
        ring: &str,
        total: Duration,
        baked: Vec<Baked>,
        rows: &mut [Row],
        ctl: &Control,
    ) -> Option<String> {
        let alarms: usize = baked
            .iter()
            .filter_map(|b| b.watch.as_ref())
            .map(|(w, _)| w.names.len())
            .sum();
        self.printer.info(format_args!(
            "bake: ring {ring}: {} deployed, watching {alarms} alarm(s) for {} before the next ring",
            crate::output::count(baked.len(), "service"),
            show(total)
        ));
        let started = Instant::now();
        let every = (total / 10).max(Duration::from_secs(1));
        let mut said = Duration::ZERO;
        loop {
            if ctl.stopped() {
                return None;
            }
            match self.look(&baked).await {
                Look::Healthy => {}
                Look::Unreadable(why) => return Some(why),
                Look::Tripped(tripped) => {
                    return Some(self.undo(ring, &baked, tripped, rows).await);
                }
            }
            let elapsed = started.elapsed();
            if elapsed >= total {
                self.printer.status_done(
                    "bake",
                    format_args!("ring {ring} healthy for {} of {}", show(total), show(total)),
                );
                return None;
            }
            if elapsed >= said + every {
                said = elapsed;
                self.printer.status(
                    "bake",
                    format_args!(
                        "ring {ring} healthy for {} of {}",
                        show(elapsed),
                        show(total)
                    ),
                );
            }
            tokio::time::sleep(self.limits.poll.min(total - elapsed)).await;
        }
    }

    /// One read of every baked service's alarms, one DescribeAlarms per tenant.
    async fn look(&self, baked: &[Baked]) -> Look {
        let mut tenants: BTreeMap<&str, Vec<(usize, &Watch, &Baseline)>> = BTreeMap::new();
        for (i, b) in baked.iter().enumerate() {
            if let Some((w, base)) = &b.watch {
                tenants.entry(&b.tenant).or_default().push((i, w, base));
            }
        }
        let mut tripped = Vec::new();
        for (tenant, watched) in tenants {
            let mut names: Vec<String> = watched
                .iter()
                .flat_map(|(_, w, _)| w.names.clone())
                .collect();
            names.sort();
            names.dedup();
            let now = match watched[0].1.reader.alarms(&names).await {
                Ok(now) => now,
                Err(e) => {
                    return Look::Unreadable(format!(
                        "{tenant}: the alarms could not be read during the bake: {}",
                        e.message()
                    ));
                }
            };
            for (i, w, base) in watched {
                if let Some(why) = moved(&w.names, base, &now) {
                    tripped.push((i, why));
                }
            }
        }
        if tripped.is_empty() {
            Look::Healthy
        } else {
            Look::Tripped(tripped)
        }
    }

    /// Rolls back every service whose alarm moved during the bake; returns why the ring failed.
    async fn undo(
        &self,
        ring: &str,
        baked: &[Baked],
        tripped: Vec<(usize, Moved)>,
        rows: &mut [Row],
    ) -> String {
        let mut whys = Vec::new();
        for (i, why) in tripped {
            let b = &baked[i];
            let who = format!("{}/{}", b.tenant, b.service);
            let reason = format!("{} during the bake of ring {ring}", why.full);
            if let Some(row) = rows
                .iter_mut()
                .find(|r| r.tenant == b.tenant && r.service == b.service)
            {
                self.roll_back(b, &who, &reason, row).await;
            }
            whys.push(format!("{who}: {}", why.short));
        }
        whys.join("; ")
    }

    /// The service back to what ran before this run, under its lock again.
    async fn roll_back(&self, b: &Baked, who: &str, reason: &str, row: &mut Row) {
        let acquired = super::acquire(
            &b.deployer,
            &b.cluster,
            &b.ecs_service,
            &self.holder,
            self.lock_ttl,
            false,
        )
        .await;
        let guard = match acquired {
            Ok(a) => a.guard,
            Err(why) => {
                row.result = Outcome::NeedsHuman;
                note(
                    row,
                    format!(
                        "{reason}; it could not be rolled back to revision {}: {why}",
                        b.back.revision
                    ),
                );
                return;
            }
        };
        let roll = Roll {
            deployer: &b.deployer,
            cluster: &b.cluster,
            service: &b.ecs_service,
            who: who.to_owned(),
            limits: self.limits,
            printer: &self.printer,
        };
        roll.back(b.revision, reason, &b.back, &b.live, row).await;
        if let Err(e) = guard.release().await {
            note(row, format!("the lock could not be released: {e}"));
        }
    }
}

enum Look {
    Healthy,
    Tripped(Vec<(usize, Moved)>),
    Unreadable(String),
}

impl super::RingGate for Health {
    fn after_ring<'a>(
        &'a self,
        ring: &'a str,
        rows: &'a mut [Row],
        last: bool,
        ctl: &'a Control,
    ) -> impl Future<Output = Option<String>> + Send + 'a {
        self.gate(ring, rows, last, ctl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, firing: bool, since: i64) -> Alarm {
        Alarm {
            name: name.to_owned(),
            firing,
            reason: String::new(),
            since: (since, 0),
        }
    }

    fn map(alarms: &[Alarm]) -> BTreeMap<String, Alarm> {
        alarms.iter().map(|a| (a.name.clone(), a.clone())).collect()
    }

    #[test]
    fn only_a_move_into_alarm_fails_the_gate() {
        let names = vec!["api-5xx".to_owned(), "api-latency".to_owned()];
        let base = Baseline(map(&[
            alarm("api-5xx", false, 1),
            alarm("api-latency", true, 1),
        ]));
        // Already firing before the deploy, unchanged: not this deploy's doing.
        let now = map(&[alarm("api-5xx", false, 1), alarm("api-latency", true, 1)]);
        assert_eq!(moved(&names, &base, &now), None);
        let short = |m: Option<Moved>| m.map(|m| m.short);
        // OK → ALARM.
        let now = map(&[alarm("api-5xx", true, 5), alarm("api-latency", true, 1)]);
        assert_eq!(
            short(moved(&names, &base, &now)).as_deref(),
            Some("alarm api-5xx in ALARM")
        );
        // Out of ALARM and back in since the baseline: a new state change.
        let now = map(&[alarm("api-5xx", false, 1), alarm("api-latency", true, 7)]);
        assert_eq!(
            short(moved(&names, &base, &now)).as_deref(),
            Some("alarm api-latency in ALARM")
        );
        // CloudWatch's reason goes with the service's own row.
        let mut firing = alarm("api-5xx", true, 5);
        firing.reason = "Threshold Crossed".to_owned();
        let now = map(&[firing, alarm("api-latency", true, 1)]);
        assert_eq!(
            moved(&names, &base, &now).map(|m| m.full).as_deref(),
            Some("alarm api-5xx in ALARM (Threshold Crossed)")
        );
        // Deleted while watched: the gate cannot see, so it fails.
        let now = map(&[alarm("api-5xx", false, 1)]);
        assert_eq!(
            short(moved(&names, &base, &now)).as_deref(),
            Some("alarm api-latency no longer exists")
        );
    }
}
