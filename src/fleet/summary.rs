//! The deploy summary: one row per tenant service, its counts, exit code and table. Pure: the
//! rows come from the deploy; this only orders, counts and renders them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::output::table::{self, Tone};

/// What happened to one tenant service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Deployed,
    Unchanged,
    RolledBack,
    Failed,
    /// The rollback itself failed: the service may be in any state and a person must look.
    NeedsHuman,
    Skipped,
    /// The service's `before_deploy` task exited non-zero, timed out or did not start: the
    /// service was not touched.
    BeforeDeployFailed,
    /// A one-off task (`stamp run`) exited 0.
    Succeeded,
}

impl Outcome {
    /// Every outcome, in the order counts and JSON list them.
    pub const ALL: [Outcome; 8] = [
        Outcome::Deployed,
        Outcome::Unchanged,
        Outcome::RolledBack,
        Outcome::Failed,
        Outcome::NeedsHuman,
        Outcome::Skipped,
        Outcome::BeforeDeployFailed,
        Outcome::Succeeded,
    ];

    /// The name used in JSON and in the table, the same as the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::Unchanged => "unchanged",
            Outcome::RolledBack => "rolled-back",
            Outcome::Failed => "failed",
            Outcome::NeedsHuman => "needs-human",
            Outcome::Skipped => "skipped",
            Outcome::BeforeDeployFailed => "before-deploy-failed",
            Outcome::Succeeded => "succeeded",
        }
    }

    /// Whether this outcome makes the run fail: a rollback is safe but the release did not land.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failed
                | Outcome::RolledBack
                | Outcome::NeedsHuman
                | Outcome::BeforeDeployFailed
        )
    }

    fn tone(self) -> Tone {
        match self {
            Outcome::Deployed | Outcome::Succeeded => Tone::Good,
            Outcome::Unchanged => Tone::Plain,
            Outcome::RolledBack | Outcome::Skipped => Tone::Attention,
            Outcome::Failed | Outcome::NeedsHuman | Outcome::BeforeDeployFailed => Tone::Bad,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tenant service in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub tenant: String,
    pub ring: String,
    pub service: String,
    pub result: Outcome,
    /// The task definition revision the service runs after this deploy.
    pub revision: Option<i32>,
    /// The revision it ran before.
    pub previous_revision: Option<i32>,
    pub release: Option<String>,
    pub duration_ms: u64,
    /// Reason, lock holder, ECS reason…
    pub detail: Option<String>,
    /// AWS attempts that were retries, for this row: its service's calls, and on a tenant's
    /// first row also the calls the tenant's services share (AssumeRole, lookups), so a
    /// tenant's rows add up to all of its retries.
    pub retries: u64,
    /// The same per operation (`"ecs:RegisterTaskDefinition" -> 1`): what was retried.
    pub retried: BTreeMap<String, u64>,
    /// A one-off task's container exit code (`stamp run`, a `before_deploy` task).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Where a one-off task's output is: `awslogs group / stream`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

/// The result of a deploy. Serializes as `{"rows": [...], "counts": {...}, "ok": bool}`, rows
/// in the same order as the table.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rows: Vec<Row>,
}

impl Summary {
    /// 0 when every row is deployed, unchanged or skipped; 1 when any failed, rolled back or
    /// needs a human.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.rows.iter().any(|r| r.result.is_failure()))
    }

    /// Rows per outcome. Every outcome is present, zeros included, so a JSON consumer can read
    /// `counts.failed` without checking that the key exists.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            Outcome::ALL.iter().map(|o| (o.as_str(), 0)).collect();
        for r in &self.rows {
            *counts.entry(r.result.as_str()).or_default() += 1;
        }
        counts
    }

    /// Rows by ring, then tenant, then service. The ring order is the order rings first
    /// appear in `rows`: the deploy records wave by wave, so that is `project.rings` order,
    /// while rows inside a wave arrive in completion order and need sorting to be stable.
    fn ordered(&self) -> Vec<&Row> {
        let mut ring_rank: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.rows {
            let next = ring_rank.len();
            ring_rank.entry(r.ring.as_str()).or_insert(next);
        }
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by(|a, b| {
            (ring_rank.get(a.ring.as_str()), &a.tenant, &a.service).cmp(&(
                ring_rank.get(b.ring.as_str()),
                &b.tenant,
                &b.service,
            ))
        });
        rows
    }

    /// The table TENANT RING SERVICE RESULT REVISION DURATION DETAIL, colours only when
    /// `styled`.
    pub fn table(&self, styled: bool) -> String {
        let mut t = table::new(
            &[
                "TENANT", "RING", "SERVICE", "RESULT", "REVISION", "DURATION", "DETAIL",
            ],
            styled,
        );
        for r in self.ordered() {
            t.add_row(vec![
                comfy_table::Cell::new(&r.tenant),
                comfy_table::Cell::new(&r.ring),
                comfy_table::Cell::new(&r.service),
                table::state(r.result.as_str(), r.result.tone()),
                comfy_table::Cell::new(revision(r.previous_revision, r.revision)),
                comfy_table::Cell::new(duration(r.duration_ms)),
                table::cell(detail(r)),
            ]);
        }
        table::render(&t)
    }
}

impl Serialize for Summary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            rows: Vec<&'a Row>,
            counts: BTreeMap<&'static str, usize>,
            ok: bool,
        }
        Wire {
            rows: self.ordered(),
            counts: self.counts(),
            ok: self.exit_code() == 0,
        }
        .serialize(s)
    }
}

/// `11 → 12` when the revision moved, `12` when it did not or the previous is unknown.
fn revision(previous: Option<i32>, now: Option<i32>) -> String {
    match (previous, now) {
        (Some(p), Some(n)) if p != n => format!("{p} → {n}"),
        (_, Some(n)) => n.to_string(),
        (Some(p), None) => p.to_string(),
        (None, None) => "-".to_owned(),
    }
}

/// Short and readable at a glance: `850ms`, `12.3s`, `2m05s`, `1h02m`.
fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}.{}s", ms / 1_000, ms % 1_000 / 100),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1_000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// The detail, with retries appended because a slow deploy is often explained by them:
/// `(3 retries: ecs:DescribeServices 2, sts:AssumeRole 1)`.
fn detail(r: &Row) -> String {
    let what = r
        .retried
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let retries = match (r.retries, what.is_empty()) {
        (0, _) => None,
        (1, true) => Some("1 retry".to_owned()),
        (n, true) => Some(format!("{n} retries")),
        (1, false) => Some(format!("1 retry: {what}")),
        (n, false) => Some(format!("{n} retries: {what}")),
    };
    match (r.detail.as_deref(), retries) {
        (Some(d), Some(n)) => format!("{d} ({n})"),
        (Some(d), None) => d.to_owned(),
        (None, Some(n)) => n,
        (None, None) => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row(tenant: &str, ring: &str, service: &str, result: Outcome) -> Row {
        Row {
            tenant: tenant.into(),
            ring: ring.into(),
            service: service.into(),
            result,
            revision: Some(12),
            previous_revision: Some(11),
            release: Some("v1.42.0".into()),
            duration_ms: 65_400,
            detail: None,
            retries: 0,
            retried: BTreeMap::new(),
            exit_code: None,
            logs: None,
        }
    }

    fn summary(results: &[Outcome]) -> Summary {
        Summary {
            rows: results
                .iter()
                .enumerate()
                .map(|(i, &o)| row(&format!("t{i}"), "stable", "api", o))
                .collect(),
        }
    }

    #[test]
    fn exit_codes() {
        use Outcome::*;
        assert_eq!(summary(&[]).exit_code(), 0);
        assert_eq!(summary(&[Deployed, Unchanged, Skipped]).exit_code(), 0);
        for bad in [Failed, RolledBack, NeedsHuman, BeforeDeployFailed] {
            assert_eq!(summary(&[Deployed, bad, Skipped]).exit_code(), 1, "{bad}");
        }
    }

    #[test]
    fn counts_list_every_outcome() {
        use Outcome::*;
        let s = summary(&[Deployed, Deployed, Failed, Skipped]);
        let counts = s.counts();
        assert_eq!(counts.len(), 8);
        assert_eq!(counts["before-deploy-failed"], 0);
        assert_eq!(counts["succeeded"], 0);
        assert_eq!(counts["deployed"], 2);
        assert_eq!(counts["failed"], 1);
        assert_eq!(counts["skipped"], 1);
        assert_eq!(counts["rolled-back"], 0);
        assert_eq!(counts["needs-human"], 0);
        assert_eq!(counts["unchanged"], 0);
    }

    #[test]
    fn json_shape() {
        let s = Summary {
            rows: vec![
                row("b", "stable", "api", Outcome::RolledBack),
                row("a", "canary", "api", Outcome::Deployed),
            ],
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["counts"]["rolled-back"], 1);
        assert_eq!(v["rows"][0]["tenant"], "b");
        assert_eq!(v["rows"][0]["result"], "rolled-back");
        assert_eq!(v["rows"][1]["previous_revision"], 11);
        assert_eq!(
            serde_json::to_value(Outcome::NeedsHuman).unwrap(),
            "needs-human"
        );
    }

    #[test]
    fn table_orders_by_ring_then_tenant_then_service() {
        let mut rows = vec![
            row("acme", "canary", "worker", Outcome::Deployed),
            row("acme", "canary", "api", Outcome::Unchanged),
            row("umbrella", "stable", "api", Outcome::Failed),
            row("initech", "stable", "api", Outcome::Skipped),
        ];
        rows[2].detail = Some("ECS: CannotPullContainerError".into());
        rows[2].retries = 2;
        rows[1].retries = 3;
        rows[1].retried = [
            ("ecs:DescribeServices".to_owned(), 2),
            ("sts:AssumeRole".to_owned(), 1),
        ]
        .into_iter()
        .collect();
        rows[3].revision = None;
        rows[3].previous_revision = None;
        rows[3].duration_ms = 0;
        let text = Summary { rows }.table(false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TENANT"), "{text}");
        for col in [
            "RING", "SERVICE", "RESULT", "REVISION", "DURATION", "DETAIL",
        ] {
            assert!(lines[0].contains(col), "{text}");
        }
        let firsts: Vec<(&str, &str)> = lines[1..]
            .iter()
            .map(|l| {
                let mut w = l.split_whitespace();
                (w.next().unwrap(), w.nth(1).unwrap())
            })
            .collect();
        assert_eq!(
            firsts,
            [
                ("acme", "api"),
                ("acme", "worker"),
                ("initech", "api"),
                ("umbrella", "api")
            ]
        );
        assert!(
            lines[1].contains("11 → 12") && lines[1].contains("1m05s"),
            "{text}"
        );
        assert!(
            lines[3].contains(" - ") && lines[3].contains("0ms"),
            "{text}"
        );
        assert!(
            lines[4].contains("ECS: CannotPullContainerError (2 retries)"),
            "{text}"
        );
        assert!(
            lines[1].contains("3 retries: ecs:DescribeServices 2, sts:AssumeRole 1"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn durations() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(125_000), "2m05s");
        assert_eq!(duration(3_720_000), "1h02m");
    }
}
