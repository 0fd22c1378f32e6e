//! Whether a tenant may start deploying: its windows and freezes at a given instant, the
//! `--ignore-window`/`--ignore-freeze` overrides, and the StackSets-style failure tolerance.
//! Pure: the instant is an argument.

use jiff::Timestamp;

use crate::dsl::Tenant;
use crate::schedule::Schedule;

/// The command-line overrides of DESIGN §4. The reason goes into the tags, so a deploy outside
/// the rules always says why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub ignore_window: bool,
    pub ignore_freeze: bool,
    pub reason: Option<String>,
}

/// The answer for one tenant at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Inside a window (or the tenant has none) and outside every freeze.
    Open,
    /// Would be closed or frozen, but an override lets it through. `what` is `"freeze"` when a
    /// freeze was overridden (even if the window was overridden too: the freeze is the stronger
    /// rule, so it is the one the record must show), else `"window"`.
    Overridden { what: &'static str, reason: String },
    /// Outside every window. `next_open` is `None` when nothing opens within the schedule's
    /// search horizon.
    Closed { next_open: Option<Timestamp> },
    /// Inside a freeze; `until` is when the freeze (with any freezes chained to it) lifts.
    Frozen { reason: String, until: Timestamp },
}

impl Gate {
    /// Whether the tenant may start now.
    pub fn allows(&self) -> bool {
        matches!(self, Gate::Open | Gate::Overridden { .. })
    }

    /// Why a tenant was held back, for a summary row's detail; `None` when it may deploy.
    pub fn detail(&self) -> Option<String> {
        match self {
            Gate::Open | Gate::Overridden { .. } => None,
            Gate::Closed {
                next_open: Some(at),
            } => Some(format!("outside its deploy windows; next opens {at}")),
            Gate::Closed { next_open: None } => Some(
                "outside its deploy windows; none opens within the schedule's horizon".to_owned(),
            ),
            Gate::Frozen { reason, until } => Some(format!("frozen ({reason}) until {until}")),
        }
    }
}

/// What an override records when the command line gave no `--reason` (the CLI should require
/// one; this keeps the tag honest if it does not).
const NO_REASON: &str = "no reason given";

/// Whether `tenant` may deploy at `at`: DESIGN §4 windows and freezes plus the overrides.
///
/// A freeze beats a window: frozen → `Frozen` unless `ignore_freeze`. Outside every window →
/// `Closed` unless `ignore_window`. Overriding a freeze does not also open a closed window.
pub fn gate(tenant: &Tenant, at: Timestamp, o: &Overrides) -> Gate {
    let state = tenant.schedule.state_at(at);
    if state.open {
        return Gate::Open;
    }
    let reason = || o.reason.clone().unwrap_or_else(|| NO_REASON.to_owned());
    let Some(freeze) = state.freeze else {
        return if o.ignore_window {
            Gate::Overridden {
                what: "window",
                reason: reason(),
            }
        } else {
            Gate::Closed {
                next_open: state.next_open,
            }
        };
    };
    if !o.ignore_freeze {
        return Gate::Frozen {
            reason: freeze.reason,
            until: freeze.until,
        };
    }
    // The freeze is overridden; the windows still apply, judged without any freeze.
    match windows_only(&tenant.schedule) {
        Some(windows) => {
            let w = windows.state_at(at);
            if w.open || o.ignore_window {
                Gate::Overridden {
                    what: "freeze",
                    reason: reason(),
                }
            } else {
                Gate::Closed {
                    next_open: w.next_open,
                }
            }
        }
        // Cannot happen (the zone was accepted once already); if it did, stay shut rather than
        // deploy on a guess.
        None => Gate::Closed {
            next_open: state.next_open,
        },
    }
}

/// The same schedule without its freezes.
fn windows_only(s: &Schedule) -> Option<Schedule> {
    Schedule::new(s.timezone(), s.windows().to_vec(), Vec::new()).ok()
}

/// StackSets-style failure tolerance: after more than `tolerance` failed tenants, no new tenant
/// starts. Tenants already running finish; the rest are reported as skipped.
#[derive(Debug, Clone)]
pub struct Tolerance {
    tolerance: u32,
    failed: u32,
}

impl Tolerance {
    pub fn new(tolerance: u32) -> Self {
        Self {
            tolerance,
            failed: 0,
        }
    }

    pub fn record_failure(&mut self) {
        self.failed = self.failed.saturating_add(1);
    }

    pub fn may_start(&self) -> bool {
        self.failed <= self.tolerance
    }

    pub fn failed(&self) -> u32 {
        self.failed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dsl::Fleet;
    use crate::fleet::testing::fleet;

    /// Tokyo, Mon-Fri 10:00-18:00, frozen 2026-12-01..04; and a UTC tenant with no windows.
    fn sample() -> Fleet {
        fleet(&[
            (
                "acme",
                "canary",
                r#"timezone = "Asia/Tokyo"
windows = ["Mon-Fri 10:00-18:00"]
freeze = [{ from = "2026-12-01T00:00", to = "2026-12-04T00:00", reason = "year-end sale" }]"#,
            ),
            ("umbrella", "stable", "windows = []"),
            (
                "frosty",
                "stable",
                r#"windows = []
freeze = [{ from = "2026-12-01T00:00", to = "2026-12-02T00:00", reason = "audit" }]"#,
            ),
        ])
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn tenant<'a>(f: &'a Fleet, name: &str) -> &'a Tenant {
        f.tenants.iter().find(|t| t.name == name).unwrap()
    }

    fn none() -> Overrides {
        Overrides::default()
    }

    fn with(window: bool, freeze: bool, reason: Option<&str>) -> Overrides {
        Overrides {
            ignore_window: window,
            ignore_freeze: freeze,
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn open_inside_a_window() {
        let f = sample();
        // Tuesday 2026-06-02 12:00 in Tokyo.
        let g = gate(tenant(&f, "acme"), t("2026-06-02T03:00:00Z"), &none());
        assert_eq!(g, Gate::Open);
        assert!(g.allows());
        assert_eq!(g.detail(), None);
        // Overrides change nothing when the gate is open anyway.
        let g = gate(
            tenant(&f, "acme"),
            t("2026-06-02T03:00:00Z"),
            &with(true, true, Some("x")),
        );
        assert_eq!(g, Gate::Open);
    }

    #[test]
    fn closed_says_when_it_next_opens() {
        let f = sample();
        // Saturday 2026-06-06 12:00 in Tokyo: next is Monday 10:00 JST.
        let g = gate(tenant(&f, "acme"), t("2026-06-06T03:00:00Z"), &none());
        assert_eq!(
            g,
            Gate::Closed {
                next_open: Some(t("2026-06-08T01:00:00Z"))
            }
        );
        assert!(!g.allows());
        assert!(g.detail().unwrap().contains("2026-06-08T01:00:00Z"));

        let g = gate(
            tenant(&f, "acme"),
            t("2026-06-06T03:00:00Z"),
            &with(true, false, Some("hotfix INC-42")),
        );
        assert_eq!(
            g,
            Gate::Overridden {
                what: "window",
                reason: "hotfix INC-42".into()
            }
        );
        assert!(g.allows());
    }

    #[test]
    fn a_freeze_beats_an_open_window() {
        let f = sample();
        // Wednesday 2026-12-02 12:00 in Tokyo: inside the window, inside the freeze.
        let at = t("2026-12-02T03:00:00Z");
        let frozen = Gate::Frozen {
            reason: "year-end sale".into(),
            until: t("2026-12-03T15:00:00Z"),
        };
        assert_eq!(gate(tenant(&f, "acme"), at, &none()), frozen);
        assert!(frozen.detail().unwrap().contains("year-end sale"));
        // Ignoring the window does not lift a freeze.
        assert_eq!(
            gate(tenant(&f, "acme"), at, &with(true, false, Some("hotfix"))),
            frozen
        );
    }

    #[test]
    fn ignore_freeze_records_the_reason() {
        let f = sample();
        let at = t("2026-12-02T03:00:00Z");
        assert_eq!(
            gate(
                tenant(&f, "acme"),
                at,
                &with(false, true, Some("security fix CVE-1"))
            ),
            Gate::Overridden {
                what: "freeze",
                reason: "security fix CVE-1".into()
            }
        );
        // Without a reason the record still says so.
        assert_eq!(
            gate(tenant(&f, "acme"), at, &with(false, true, None)),
            Gate::Overridden {
                what: "freeze",
                reason: NO_REASON.into()
            }
        );
    }

    #[test]
    fn ignore_freeze_does_not_open_a_closed_window() {
        let f = sample();
        // Wednesday 2026-12-02 20:00 in Tokyo: frozen and after hours.
        let at = t("2026-12-02T11:00:00Z");
        assert_eq!(
            gate(tenant(&f, "acme"), at, &with(false, true, Some("fix"))),
            // The next window ignoring the freeze: Thursday 10:00 JST.
            Gate::Closed {
                next_open: Some(t("2026-12-03T01:00:00Z"))
            }
        );
        assert_eq!(
            gate(tenant(&f, "acme"), at, &with(true, true, Some("fix"))),
            Gate::Overridden {
                what: "freeze",
                reason: "fix".into()
            }
        );
    }

    #[test]
    fn no_windows_means_open_outside_freezes() {
        let f = sample();
        for at in ["2026-06-06T03:00:00Z", "2026-06-07T23:59:00Z"] {
            assert_eq!(gate(tenant(&f, "umbrella"), t(at), &none()), Gate::Open);
        }
        let frosty = tenant(&f, "frosty");
        assert_eq!(
            gate(frosty, t("2026-12-01T12:00:00Z"), &none()),
            Gate::Frozen {
                reason: "audit".into(),
                until: t("2026-12-02T00:00:00Z")
            }
        );
        assert_eq!(
            gate(
                frosty,
                t("2026-12-01T12:00:00Z"),
                &with(false, true, Some("r"))
            ),
            Gate::Overridden {
                what: "freeze",
                reason: "r".into()
            }
        );
    }

    #[test]
    fn tolerance_zero_stops_after_the_first_failure() {
        let mut t = Tolerance::new(0);
        assert!(t.may_start());
        t.record_failure();
        assert!(!t.may_start());
        assert_eq!(t.failed(), 1);
    }

    #[test]
    fn tolerance_two_stops_after_the_third_failure() {
        let mut t = Tolerance::new(2);
        for _ in 0..2 {
            t.record_failure();
            assert!(t.may_start());
        }
        t.record_failure();
        assert!(!t.may_start());
        assert_eq!(t.failed(), 3);
    }
}
