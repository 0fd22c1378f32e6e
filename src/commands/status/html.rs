//! `stamp status --html FILE`: the fleet as one self-contained page (inline CSS and script, no
//! external asset), a matrix of tenants × services coloured by state and release.
//!
//! The page is rendered with minijinja with HTML auto-escaping on, so tenant files cannot
//! inject markup; the whole report is also embedded as JSON (`#stamp-status`) for tooling.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::{ServiceStatus, StackStatus, State, StatusReport, TenantStatus};

const TEMPLATE: &str = include_str!("report.html.j2");

#[derive(Serialize)]
struct Page<'a> {
    title: String,
    report: &'a StatusReport,
    counts: Vec<CountView>,
    releases: Vec<ReleaseView>,
    columns: Vec<&'a str>,
    /// `[infra.KEY]` keys, after the services.
    stack_columns: Vec<&'a str>,
    rows: Vec<RowView<'a>>,
}

#[derive(Serialize)]
struct CountView {
    state: &'static str,
    n: usize,
}

#[derive(Serialize)]
struct ReleaseView {
    release: String,
    colour: &'static str,
    n: usize,
}

#[derive(Serialize)]
struct RowView<'a> {
    tenant: &'a str,
    account_id: &'a str,
    ring: &'a str,
    window: &'static str,
    window_detail: String,
    /// `2 in-sync, 1 drifted` for the overview's tooltip.
    summary: String,
    cells: Vec<Option<CellView>>,
    stacks: Vec<Option<StackCellView>>,
}

#[derive(Serialize)]
struct StackCellView {
    state: &'static str,
    /// CloudFormation's status, in words (`update complete`), or `missing`.
    label: String,
    details: String,
}

#[derive(Serialize)]
struct CellView {
    state: &'static str,
    release: Option<String>,
    colour: &'static str,
    revision: Option<i32>,
    rollout: Option<String>,
    details: String,
}

/// Renders the page and writes it through a temporary file, so a reader never sees half a page.
pub(super) fn write(report: &StatusReport, path: &Path) -> anyhow::Result<()> {
    let html = render(report)?;
    let tmp = path.with_extension("html.tmp");
    std::fs::write(&tmp, html)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

pub(super) fn render(report: &StatusReport) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("report.html", TEMPLATE)?;
    let page = page(report);
    Ok(env.get_template("report.html")?.render(&page)?)
}

fn page(report: &StatusReport) -> Page<'_> {
    // Columns in the order services first appear, so the fleet's usual order is kept.
    let mut columns: Vec<&str> = Vec::new();
    for s in report.tenants.iter().flat_map(|t| &t.services) {
        if !columns.contains(&s.service.as_str()) {
            columns.push(&s.service);
        }
    }
    let mut stack_columns: Vec<&str> = Vec::new();
    for s in report.tenants.iter().flat_map(|t| &t.stacks) {
        if !stack_columns.contains(&s.stack.as_str()) {
            stack_columns.push(&s.stack);
        }
    }
    let mut per_release: BTreeMap<&str, usize> = BTreeMap::new();
    for l in report
        .tenants
        .iter()
        .flat_map(|t| &t.services)
        .filter_map(|s| s.live.as_ref())
    {
        if let Some(r) = &l.release {
            *per_release.entry(r).or_default() += 1;
        }
    }
    // Colours by the sorted releases: the same fleet always gets the same ones.
    let colours: BTreeMap<&str, &'static str> = per_release
        .keys()
        .enumerate()
        .map(|(i, r)| (*r, colour(i)))
        .collect();
    let rows = report
        .tenants
        .iter()
        .map(|t| RowView {
            tenant: &t.tenant,
            account_id: &t.account_id,
            ring: &t.ring,
            window: t.window.state,
            window_detail: window_detail(t),
            summary: summary(t),
            cells: columns
                .iter()
                .map(|c| {
                    t.services
                        .iter()
                        .find(|s| s.service == *c)
                        .map(|s| cell(report, t, s, &colours))
                })
                .collect(),
            stacks: stack_columns
                .iter()
                .map(|c| {
                    t.stacks
                        .iter()
                        .find(|s| s.stack == *c)
                        .map(|s| stack_cell(report, t, s))
                })
                .collect(),
        })
        .collect();
    Page {
        title: format!(
            "stamp status — {} × {}",
            crate::output::count(report.tenants.len(), "tenant"),
            crate::output::count(columns.len(), "service")
        ),
        report,
        counts: report
            .counts
            .iter()
            .map(|(s, n)| CountView {
                state: s.as_str(),
                n: *n,
            })
            .collect(),
        releases: per_release
            .iter()
            .map(|(r, n)| ReleaseView {
                release: (*r).to_owned(),
                colour: colours[r],
                n: *n,
            })
            .collect(),
        columns,
        stack_columns,
        rows,
    }
}

fn stack_cell(report: &StatusReport, t: &TenantStatus, s: &StackStatus) -> StackCellView {
    let mut d = format!(
        "{} / stack {} ({}) — {}",
        t.tenant,
        s.stack,
        s.stack_name,
        s.state.as_str()
    );
    if let Some(st) = &s.status {
        let _ = write!(d, "\nstatus {st}");
    }
    if !s.drift.is_empty() {
        let _ = write!(d, "\ndrift: {}", s.drift.join(", "));
    }
    if !s.unverified.is_empty() {
        let _ = write!(d, "\nnot comparable (NoEcho): {}", s.unverified.join(", "));
    }
    if let Some(r) = &s.reason {
        let _ = write!(d, "\nreason: {r}");
    }
    let _ = write!(d, "\nas of {} ({})", report.taken_at, report.taken_by);
    StackCellView {
        state: s.state.as_str(),
        label: s.status.as_deref().map_or_else(
            || s.state.as_str().to_owned(),
            |st| st.to_ascii_lowercase().replace('_', " "),
        ),
        details: d,
    }
}

/// Release colours keep clear of the state colours (green, amber, red): twelve blues,
/// purples, teals and greys, cycling for fleets that run more releases than that.
fn colour(i: usize) -> &'static str {
    const COLOURS: [&str; 12] = [
        "#1f6feb", "#8250df", "#0f7b7b", "#bf3989", "#3b4cc0", "#57606a", "#0a3069", "#5a32a3",
        "#1b5e63", "#7d2457", "#6e7781", "#24292f",
    ];
    COLOURS[i % COLOURS.len()]
}

fn summary(t: &TenantStatus) -> String {
    let mut n: BTreeMap<State, usize> = BTreeMap::new();
    for s in &t.services {
        *n.entry(s.state).or_default() += 1;
    }
    n.iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn window_detail(t: &TenantStatus) -> String {
    let w = &t.window;
    let mut s = format!("{} ({})", w.state, w.timezone);
    if let Some(f) = &w.freeze {
        let _ = write!(s, "\nfreeze: {f}");
    }
    if let Some(c) = w.closes_at {
        let _ = write!(s, "\ncloses {c}");
    }
    if let Some(n) = w.next_open {
        let _ = write!(s, "\nnext opens {n}");
    }
    s
}

fn cell(
    report: &StatusReport,
    t: &TenantStatus,
    s: &ServiceStatus,
    colours: &BTreeMap<&str, &'static str>,
) -> CellView {
    let live = s.live.as_ref();
    let release = live.and_then(|l| l.release.clone());
    let mut d = format!("{} / {} — {}", t.tenant, s.service, s.state.as_str());
    if !s.drift.is_empty() {
        let _ = write!(d, "\ndrift: {}", s.drift.join(", "));
    }
    if let Some(r) = &s.reason {
        let _ = write!(d, "\nreason: {r}");
    }
    if let (State::Unknown, Some(e)) = (s.state, &t.error) {
        let _ = write!(d, "\n{e}");
    }
    if let Some(l) = live {
        let _ = write!(
            d,
            "\nrelease {}{}",
            l.release.as_deref().unwrap_or("?"),
            match &s.desired_release {
                Some(want) if Some(want) != l.release.as_ref() => format!(" (repo: {want})"),
                _ => String::new(),
            }
        );
        if let Some(i) = &l.image {
            let _ = write!(d, "\nimage {i}");
        }
        let _ = write!(
            d,
            "\nrevision {} · rollout {} · tasks {}/{} running, {} pending",
            l.revision,
            l.rollout.as_deref().unwrap_or("-"),
            l.running,
            l.desired,
            l.pending
        );
        if let Some(r) = &l.rollout_reason {
            let _ = write!(d, "\nrollout: {r}");
        }
        let a = &l.last_deploy;
        let _ = write!(
            d,
            "\ndeployed {} by {}",
            l.deployed_at.as_deref().unwrap_or("?"),
            a.deployer.as_deref().unwrap_or("(not by stamp)")
        );
        if let Some(c) = &a.commit {
            let _ = write!(d, "\ncommit {c}");
        }
        if let Some(g) = &a.digest {
            let _ = write!(d, "\ndigest {g}");
        }
        if let Some(o) = &a.r#override {
            let _ = write!(d, "\noverride: {o}");
        }
    }
    let _ = write!(d, "\nas of {} ({})", report.taken_at, report.taken_by);
    CellView {
        state: s.state.as_str(),
        colour: release
            .as_deref()
            .and_then(|r| colours.get(r).copied())
            .unwrap_or("#57606a"),
        release,
        revision: live.map(|l| l.revision),
        rollout: live
            .and_then(|l| l.rollout.as_deref())
            .map(str::to_ascii_lowercase),
        details: d,
    }
}
