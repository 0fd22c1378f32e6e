//! `stamp status`: the read-only fleet view — per tenant service what runs, who deployed it,
//! the rollout, the deploy window, and drift from what this commit renders.
//!
//! Like `plan`, it holds only the read-only client set ([`crate::aws::TenantReader`] behind
//! [`read_tenants`]), built from each tenant's `inspect_role`; there is no write call it could
//! reach. Drift is `plan`'s comparison read the other way round: a service whose plan would be
//! `unchanged` is in sync; the change list of an `update` names what drifted.

use std::collections::BTreeMap;
use std::io::{self, Write};

use jiff::Timestamp;
use serde::Serialize;

use crate::audit::Audit;
use crate::aws::{Counts, StackRead, TenantRead, read_tenants};
use crate::cli::StatusArgs;
use crate::dsl::{Fleet, Service, Tenant};
use crate::error::{Failure, Result};
use crate::infra::template::StackTemplate;
use crate::output::escape::Shown;
use crate::output::table::{self, Tone};
use crate::output::{Report, count};
use crate::plan::{self, Action, DesiredService};
use crate::render::{RenderError, Templates, render_service};

mod html;

/// The documented JSON shape of `stamp status --output json`.
#[derive(Debug, Serialize)]
pub(super) struct StatusReport {
    /// When the accounts were read (RFC 3339, UTC).
    pub(super) taken_at: String,
    /// The base identity that read them.
    pub(super) taken_by: String,
    /// The commit the desired state was rendered from (`…-dirty` with local changes).
    pub(super) commit: Option<String>,
    pub(super) tenants: Vec<TenantStatus>,
    /// Services per state: `in-sync`, `drifted`, `not-deployed`, `unknown`.
    pub(super) counts: BTreeMap<State, usize>,
    /// Stacks per state: `in-sync`, `drifted`, `missing`, `unknown`.
    pub(super) stack_counts: BTreeMap<StackState, usize>,
    pub(super) api_calls: Counts,
    #[serde(skip)]
    styled: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct TenantStatus {
    pub(super) tenant: String,
    pub(super) account_id: String,
    pub(super) region: String,
    pub(super) ring: String,
    pub(super) window: WindowStatus,
    /// Why the account could not be read, in one line; every service is then `unknown`.
    pub(super) error: Option<String>,
    /// That problem in full (where, what, the hint), as every command reports problems.
    pub(super) problems: Vec<crate::dsl::Diagnostic>,
    pub(super) services: Vec<ServiceStatus>,
    /// The tenant's `[infra.KEY]` stacks against the repo (none when it declares none).
    pub(super) stacks: Vec<StackStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum StackState {
    InSync,
    Drifted,
    Missing,
    Unknown,
}

impl StackState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            StackState::InSync => "in-sync",
            StackState::Drifted => "drifted",
            StackState::Missing => "missing",
            StackState::Unknown => "unknown",
        }
    }
}

/// One stack: the deployed template, parameters and tags compared with the repo's, read with
/// DescribeStacks and GetTemplate only (no change set: that is a write, `infra plan` makes it).
#[derive(Debug, Serialize)]
pub(super) struct StackStatus {
    /// The `[infra.KEY]` key.
    pub(super) stack: String,
    pub(super) stack_name: String,
    pub(super) state: StackState,
    /// For `drifted`: `template`, `parameter:NAME`, `tag:KEY` (names only, never a value).
    pub(super) drift: Vec<String>,
    /// Parameters AWS masks (`NoEcho`) and status therefore cannot compare: `parameter:NAME`.
    pub(super) unverified: Vec<String>,
    /// CloudFormation's stack status (`UPDATE_COMPLETE`, `ROLLBACK_COMPLETE` …); none when
    /// missing.
    pub(super) status: Option<String>,
    /// For `unknown`: why.
    pub(super) reason: Option<String>,
}

/// The tenant's deploy window now, in its own timezone.
#[derive(Debug, Serialize)]
pub(super) struct WindowStatus {
    /// `open`, `closed` or `frozen`.
    pub(super) state: &'static str,
    pub(super) timezone: String,
    pub(super) closes_at: Option<Timestamp>,
    pub(super) next_open: Option<Timestamp>,
    pub(super) freeze: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum State {
    InSync,
    Drifted,
    NotDeployed,
    Unknown,
}

impl State {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            State::InSync => "in-sync",
            State::Drifted => "drifted",
            State::NotDeployed => "not-deployed",
            State::Unknown => "unknown",
        }
    }

    fn tone(self) -> Tone {
        match self {
            State::InSync => Tone::Good,
            State::Drifted => Tone::Attention,
            State::NotDeployed => Tone::Plain,
            State::Unknown => Tone::Bad,
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct ServiceStatus {
    pub(super) service: String,
    pub(super) ecs_service: String,
    pub(super) state: State,
    /// For `drifted`: what differs, as `plan` names it (`image:api`, `environment:NAME`,
    /// `secrets:NAME`, `cpu`, `memory`, `desired_count`, `release`, `task_definition`).
    /// Names only: a value, let alone a secret's, never appears here.
    pub(super) drift: Vec<String>,
    /// For `unknown`: why.
    pub(super) reason: Option<String>,
    /// The release the repo wants here (pin, `--release`, defaults, else what runs).
    pub(super) desired_release: Option<String>,
    pub(super) live: Option<LiveStatus>,
}

/// What runs, as ECS reports it.
#[derive(Debug, Serialize)]
pub(super) struct LiveStatus {
    pub(super) release: Option<String>,
    pub(super) image: Option<String>,
    pub(super) task_definition_arn: String,
    pub(super) revision: i32,
    /// Of the PRIMARY deployment: IN_PROGRESS, COMPLETED or FAILED.
    pub(super) rollout: Option<String>,
    pub(super) rollout_reason: Option<String>,
    pub(super) running: u32,
    pub(super) desired: u32,
    pub(super) pending: u32,
    /// The Application Auto Scaling target's bounds, when the autoscaler owns the count:
    /// drift is then a count outside them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) scaling: Option<crate::plan::Scaling>,
    /// When the running deployment started.
    pub(super) deployed_at: Option<String>,
    /// The `stamp:*` tags of the last deploy (the service's, else the task definition's);
    /// all empty when stamp never deployed it.
    pub(super) last_deploy: Audit,
}

impl StatusReport {
    fn services(&self) -> impl Iterator<Item = (&TenantStatus, &ServiceStatus)> {
        self.tenants
            .iter()
            .flat_map(|t| t.services.iter().map(move |s| (t, s)))
    }
}

impl Report for StatusReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table::new(
            &[
                "TENANT", "SERVICE", "STATE", "RELEASE", "REV", "ROLLOUT", "TASKS", "DEPLOYED",
                "BY", "WINDOW",
            ],
            self.styled,
        );
        for (ten, s) in self.services() {
            let live = s.live.as_ref();
            let dash = || "-".to_owned();
            let (window, wtone) = match ten.window.state {
                "open" => ("open", Tone::Good),
                "frozen" => ("frozen", Tone::Bad),
                other => (other, Tone::Attention),
            };
            let rollout = live.and_then(|l| l.rollout.as_deref()).map_or_else(
                || table::state("-", Tone::Plain),
                |r| {
                    let tone = match r {
                        "COMPLETED" => Tone::Plain,
                        "FAILED" => Tone::Bad,
                        _ => Tone::Attention,
                    };
                    table::state(&r.to_ascii_lowercase().replace('_', " "), tone)
                },
            );
            t.add_row(vec![
                table::cell(&ten.tenant),
                table::cell(&s.service),
                table::state(s.state.as_str(), s.state.tone()),
                table::cell(live.and_then(|l| l.release.clone()).unwrap_or_else(dash)),
                table::cell(live.map_or_else(dash, |l| l.revision.to_string())),
                rollout,
                table::cell(live.map_or_else(dash, |l| {
                    let mut s = format!("{}/{}", l.running, l.desired);
                    if l.pending > 0 {
                        s.push_str(&format!(" +{}", l.pending));
                    }
                    if let Some(b) = l.scaling {
                        s.push_str(&format!(" ({}–{})", b.min, b.max));
                    }
                    s
                })),
                table::cell(
                    live.and_then(|l| l.deployed_at.as_deref())
                        .map_or_else(dash, short_time),
                ),
                table::cell(
                    live.and_then(|l| l.last_deploy.deployer.as_deref())
                        .map_or_else(dash, short_deployer),
                ),
                table::state(window, wtone),
            ]);
        }
        out.write_all(table::render(&t).as_bytes())?;

        let drifted: Vec<_> = self
            .services()
            .filter(|(_, s)| s.state == State::Drifted)
            .collect();
        if !drifted.is_empty() {
            writeln!(out, "\ndrifted (run `stamp plan TENANT` for the diff):")?;
            for (t, s) in drifted {
                // A terminal line, not the record: JSON and the HTML page list every name.
                const SHOWN: usize = 6;
                let mut names = s
                    .drift
                    .iter()
                    .take(SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if s.drift.len() > SHOWN {
                    names.push_str(&format!(" (+{} more)", s.drift.len() - SHOWN));
                }
                writeln!(out, "  {}/{}: {}", t.tenant, s.service, Shown(&names))?;
            }
        }
        let unknown: Vec<_> = self
            .services()
            .filter(|(_, s)| s.state == State::Unknown)
            .collect();
        if !unknown.is_empty() {
            writeln!(out, "\nunknown:")?;
            let mut last_error: Option<&str> = None;
            for (t, s) in unknown {
                // An unreadable account makes every service unknown for the same reason.
                if t.error.is_some() {
                    if last_error != Some(t.tenant.as_str()) {
                        writeln!(
                            out,
                            "  {}: {}",
                            t.tenant,
                            Shown(t.error.as_deref().unwrap_or_default())
                        )?;
                        last_error = Some(&t.tenant);
                    }
                    continue;
                }
                writeln!(
                    out,
                    "  {}/{}: {}",
                    t.tenant,
                    s.service,
                    Shown(s.reason.as_deref().unwrap_or_default())
                )?;
            }
        }
        let stacks: Vec<_> = self
            .tenants
            .iter()
            .flat_map(|t| t.stacks.iter().map(move |s| (t, s)))
            .collect();
        if !stacks.is_empty() {
            writeln!(out, "\nstacks (`stamp infra plan TENANT` for the changes):")?;
            for (t, s) in &stacks {
                let mut line = format!(
                    "  {}/{} ({}): {}",
                    t.tenant,
                    s.stack,
                    s.stack_name,
                    s.state.as_str()
                );
                if !s.drift.is_empty() {
                    line.push_str(&format!(" [{}]", s.drift.join(", ")));
                }
                if let Some(st) = &s.status {
                    line.push_str(&format!(", {st}"));
                }
                if let Some(r) = &s.reason {
                    line.push_str(&format!(": {r}"));
                }
                writeln!(out, "{}", Shown(&line))?;
            }
        }
        let total: usize = self.counts.values().sum();
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {}", k.as_str()))
            .collect();
        let stack_parts: Vec<String> = self
            .stack_counts
            .iter()
            .map(|(k, v)| format!("{v} {}", k.as_str()))
            .collect();
        let stack_summary = if stack_parts.is_empty() {
            String::new()
        } else {
            format!(
                "; {}: {}",
                count(self.stack_counts.values().sum::<usize>(), "stack"),
                stack_parts.join(", ")
            )
        };
        writeln!(
            out,
            "\n{} in {}: {}{stack_summary}; read {} by {}",
            count(total, "service"),
            count(self.tenants.len(), "tenant"),
            parts.join(", "),
            self.taken_at,
            Shown(&self.taken_by)
        )
    }
}

/// `2026-11-22T05:40:12.123Z` → `11-22 05:40Z`: a table column, not a record.
fn short_time(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(ts) => ts.strftime("%m-%d %H:%MZ").to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

/// The person or job of a deployer tag (`arn:…:assumed-role/ci/circleci-job-42` → the last
/// path segment), at most 24 characters.
fn short_deployer(d: &str) -> String {
    let last = d.rsplit('/').next().unwrap_or(d);
    if last.chars().count() > 24 {
        let cut: String = last.chars().take(23).collect();
        format!("{cut}…")
    } else {
        last.to_owned()
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &StatusArgs) -> Result<()> {
    let fleet = ctx.load_instance(&args.instance)?;
    let templates = Templates::load(&fleet)?;
    if !args.all && args.tenants.is_empty() {
        return Err(Failure::usage(
            "name the tenants to show, or pass --all",
            Some("e.g. `stamp status acme globex` or `stamp status --all`".to_owned()),
        ));
    }
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    if let Some(s) = &args.service {
        for t in &tenants {
            super::service(t, s)?;
        }
    }
    let rt = super::runtime()?;
    let progress = ctx.printer.clone().with_live_status();
    progress.status(
        "status",
        format_args!("reading {}…", count(tenants.len(), "tenant account")),
    );
    let (reads, calls, taken_by) = rt.block_on(async {
        let session = ctx.session().await?;
        let reads = read_tenants(&session, &tenants, args.concurrency, true, true).await;
        anyhow::Ok((
            reads,
            session.calls().snapshot(),
            session.caller.arn.clone(),
        ))
    })?;
    progress.status_done(
        "status",
        format_args!("read {}", count(tenants.len(), "account")),
    );
    let taken_at = Timestamp::now();

    let mut report_tenants = Vec::with_capacity(tenants.len());
    let mut all_problems = crate::dsl::Diagnostics::default();
    // Each stack template read once for the whole fleet.
    let mut stack_templates = BTreeMap::new();
    for (t, read) in tenants.iter().zip(reads) {
        let services: Vec<&Service> = t
            .services
            .iter()
            .filter(|s| args.service.as_ref().is_none_or(|n| &s.name == n))
            .collect();
        let mut problems = Vec::new();
        let (error, rows, stacks) = match read {
            Ok(read) => (
                None,
                services
                    .iter()
                    .map(|s| service_status(&fleet, &templates, t, s, &read, args))
                    .collect(),
                t.infra
                    .iter()
                    .map(|s| stack_status(&fleet, t, s, &read, &mut stack_templates))
                    .collect(),
            ),
            Err(e) => {
                problems.push(e.diagnostic(t));
                let rows = services
                    .iter()
                    .map(|s| ServiceStatus {
                        service: s.name.clone(),
                        ecs_service: s.ecs_service.clone(),
                        state: State::Unknown,
                        drift: Vec::new(),
                        reason: Some("the account could not be read".to_owned()),
                        desired_release: None,
                        live: None,
                    })
                    .collect();
                let stacks = t
                    .infra
                    .iter()
                    .map(|s| StackStatus {
                        stack: s.key.clone(),
                        stack_name: s.stack_name.clone(),
                        state: StackState::Unknown,
                        drift: Vec::new(),
                        unverified: Vec::new(),
                        status: None,
                        reason: Some("the account could not be read".to_owned()),
                    })
                    .collect();
                (Some(e.message()), rows, stacks)
            }
        };
        all_problems.0.extend(problems.iter().cloned());
        report_tenants.push(TenantStatus {
            tenant: t.name.clone(),
            account_id: t.account_id.clone(),
            region: t.region.clone(),
            ring: t.ring.clone(),
            window: window(t, taken_at),
            error,
            problems,
            services: rows,
            stacks,
        });
    }

    let mut counts = BTreeMap::new();
    for s in report_tenants.iter().flat_map(|t| &t.services) {
        *counts.entry(s.state).or_default() += 1;
    }
    let mut stack_counts = BTreeMap::new();
    for s in report_tenants.iter().flat_map(|t| &t.stacks) {
        *stack_counts.entry(s.state).or_default() += 1;
    }
    // An unreadable account is data (state `unknown`, exit 0 without --check); why, once.
    ctx.report(all_problems);
    if args.stats {
        ctx.printer.info(&calls);
    }
    let report = StatusReport {
        taken_at: taken_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        taken_by,
        commit: crate::vcs::commit(&ctx.root).map(|c| c.label()),
        tenants: report_tenants,
        counts,
        stack_counts,
        api_calls: calls,
        styled: ctx.printer.stdout_styled(),
    };
    if let Some(path) = &args.html {
        html::write(&report, path)?;
        ctx.printer
            .info(format_args!("fleet report written to {}", path.display()));
    }
    ctx.printer.data(&report)?;
    let not_in_sync = report
        .counts
        .iter()
        .any(|(k, n)| *k != State::InSync && *n > 0)
        || report
            .stack_counts
            .iter()
            .any(|(k, n)| *k != StackState::InSync && *n > 0);
    if args.check && not_in_sync {
        return Err(Failure::Reported(1));
    }
    Ok(())
}

fn window(t: &Tenant, at: Timestamp) -> WindowStatus {
    let s = t.schedule.state_at(at);
    WindowStatus {
        state: match (s.open, &s.freeze) {
            (true, _) => "open",
            (false, Some(_)) => "frozen",
            (false, None) => "closed",
        },
        timezone: t.schedule.timezone().to_owned(),
        closes_at: s.closes_at,
        next_open: s.next_open,
        freeze: s.freeze.map(|f| f.reason),
    }
}

fn service_status(
    fleet: &Fleet,
    templates: &Templates,
    t: &Tenant,
    s: &Service,
    read: &TenantRead,
    args: &StatusArgs,
) -> ServiceStatus {
    let running = read.services.get(&s.ecs_service).and_then(Option::as_ref);
    let live_side = super::live_service(&fleet.project.image, running.map(|(svc, td)| (svc, td)));
    let live = running.map(|(svc, td)| {
        let prefix = format!("{}:", fleet.project.image);
        let images: Vec<&str> = td
            .task_definition
            .container_definitions
            .iter()
            .filter_map(|c| c.image.as_deref())
            .collect();
        // The service's tags carry the last deploy, rollbacks included; a revision's tags only
        // say who registered it.
        let mut last = Audit::from_tags(&svc.tags);
        if last == Audit::default() {
            last = Audit::from_tags(&td.tags);
        }
        LiveStatus {
            release: live_side.release.clone(),
            image: images
                .iter()
                .find(|i| i.starts_with(&prefix))
                .or(images.first())
                .map(|i| (*i).to_owned()),
            task_definition_arn: td.arn.clone(),
            revision: td.revision,
            rollout: svc.rollout_state.clone(),
            rollout_reason: svc.rollout_reason.clone(),
            running: svc.running_count,
            desired: svc.desired_count,
            pending: svc.pending_count,
            scaling: svc.scaling,
            deployed_at: svc.deployed_at.clone().or_else(|| td.registered_at.clone()),
            last_deploy: last,
        }
    });
    let mut row = ServiceStatus {
        service: s.name.clone(),
        ecs_service: s.ecs_service.clone(),
        state: State::Unknown,
        drift: Vec::new(),
        reason: None,
        desired_release: None,
        live,
    };
    if !read.missing.is_empty() {
        row.reason = Some(format!(
            "{} the tenant's account does not satisfy (see `stamp params {}`)",
            count(read.missing.len(), "reference"),
            t.name
        ));
        return row;
    }
    // Without a release in the repo, compare at the one that runs: status then reports
    // configuration drift rather than "no release".
    let release = match (&args.release, t.release(None)) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(_)) => None,
        (None, None) => live_side.release.clone(),
    };
    let rendered = match render_service(templates, fleet, t, s, release.as_deref(), &read.lookups) {
        Ok(r) => r,
        Err(e) => {
            row.reason = Some(match e {
                RenderError::NoRelease => {
                    "no release in the repo and none running; pass --release".to_owned()
                }
                e @ RenderError::Missing(_) => e.summary(),
                RenderError::Invalid(d) => format!(
                    "does not render at this commit ({}; see `stamp validate`)",
                    count(d.len(), "problem")
                ),
            });
            return row;
        }
    };
    let desired = DesiredService::from_rendered(&rendered, &t.account_id, &t.region);
    row.desired_release = Some(desired.release.clone());
    let p = plan::compare(&desired, &live_side);
    row.state = match p.action {
        Action::Unchanged => State::InSync,
        Action::Create => State::NotDeployed,
        Action::Update => State::Drifted,
    };
    if row.state == State::Drifted {
        row.drift = p.changes.into_iter().map(|c| c.field).collect();
    }
    // A scaled count outside its target's bounds is drift, though no deploy would set it (the
    // autoscaler will): `plan` calls it unchanged, status says what is off.
    if row.state == State::InSync
        && plan::count_drifted(
            desired.desired_count,
            live_side.scaling,
            live_side.desired_count,
        )
    {
        row.state = State::Drifted;
        row.drift = vec!["desired_count".to_owned()];
    }
    row
}

/// One stack against the repo: missing, or its template, parameters and tags compared
/// (`crate::infra::compare`, the same comparison `infra plan` makes before any change set).
fn stack_status(
    fleet: &Fleet,
    t: &Tenant,
    s: &crate::dsl::Stack,
    read: &TenantRead,
    templates: &mut BTreeMap<String, std::result::Result<StackTemplate, String>>,
) -> StackStatus {
    let mut row = StackStatus {
        stack: s.key.clone(),
        stack_name: s.stack_name.clone(),
        state: StackState::Unknown,
        drift: Vec::new(),
        unverified: Vec::new(),
        status: None,
        reason: None,
    };
    let (live, deployed) = match read.stacks.get(&s.key) {
        None => {
            row.reason = Some("not read".to_owned());
            return row;
        }
        Some(StackRead::Failed(e)) => {
            row.reason = Some(e.clone());
            return row;
        }
        Some(StackRead::Missing) => {
            row.state = StackState::Missing;
            return row;
        }
        Some(StackRead::Found { live, template }) => (live, template),
    };
    row.status = Some(live.status.clone());
    let repo = templates
        .entry(s.template.value.clone())
        .or_insert_with(|| {
            crate::infra::template::load(&fleet.root, &s.template.value).map_err(|d| d.message)
        });
    let repo = match repo {
        Ok(r) => r,
        Err(e) => {
            row.reason = Some(format!("templates/{}: {e}", s.template.value));
            return row;
        }
    };
    if !read.stack_missing.is_empty() {
        row.reason = Some(format!(
            "{} its parameters reference the tenant's account does not satisfy (see `stamp explain {} --stack {}`)",
            count(read.stack_missing.len(), "value"),
            t.name,
            s.key
        ));
        return row;
    }
    let mut missing = Vec::new();
    let params = crate::infra::parameters(s, &read.stack_lookups, &mut missing);
    let c = crate::infra::compare(
        repo,
        &params,
        &s.tags,
        deployed,
        &live.parameters,
        &live.tags,
    );
    row.state = if c.drift.is_empty() {
        StackState::InSync
    } else {
        StackState::Drifted
    };
    row.drift = c.drift;
    row.unverified = c.unverified;
    row
}
