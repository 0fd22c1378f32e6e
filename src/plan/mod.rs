//! Plan: the desired state of each service, its digest, its comparison with the live state (action, unified diff, list of changes) and the saved-plan file format; pure, no I/O, no AWS, no clock.
//!
//! Reading the live state and applying a plan belong to the callers (`aws`, `commands`);
//! this module only decides, so that the same inputs give the same plan on every
//! machine and every decision can be tested without an account.
//!
//! * [`normalize`] is the comparison form used on both sides;
//! * [`DesiredService::digest`] and [`plan_digest`] name the desired state;
//! * [`compare`] turns desired + live into a [`ServicePlan`];
//! * [`SavedPlan`] is what `plan --out` writes and `deploy --plan` reads.

mod digest;
mod normalize;
mod saved;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use similar::TextDiff;

use crate::dsl::DesiredCount;
use crate::render::Rendered;
use crate::render::taskdef::{ContainerDefinition, TaskDefinition};

pub use digest::plan_digest;
pub use normalize::{BOOKKEEPING_TAG_PREFIX, normalize};
pub use saved::{
    Inputs, PlanFileError, SAVED_PLAN_FORMAT, SAVED_PLAN_LIMIT, SavedPlan, SavedService,
    SavedTenant,
};

/// What stamp wants one service of one tenant to be. Everything here is hashed into
/// [`DesiredService::digest`], in this field order; reordering or renaming a field
/// changes every digest (a unit test pins the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredService {
    pub tenant: String,
    pub account_id: String,
    pub region: String,
    pub cluster: String,
    /// stamp's service name (the key under `[services]`).
    pub service: String,
    /// The ECS service's name in the tenant's cluster.
    pub ecs_service: String,
    pub desired_count: crate::dsl::DesiredCount,
    pub release: String,
    /// As rendered (not normalised): exactly what would be registered.
    pub task_definition: TaskDefinition,
    /// The task deploy runs before updating the service. Left out when there is none, so the
    /// digests of services without a hook are what they were before hooks existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_deploy: Option<crate::dsl::Hook>,
}

impl DesiredService {
    /// The desired state of a rendered service; the account and region come from the
    /// tenant, which `Rendered` does not carry.
    pub fn from_rendered(r: &Rendered, account_id: &str, region: &str) -> Self {
        Self {
            tenant: r.tenant.clone(),
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            cluster: r.cluster.clone(),
            service: r.service.clone(),
            ecs_service: r.ecs_service.clone(),
            desired_count: r.desired_count,
            release: r.release.release.clone(),
            task_definition: r.task_definition.clone(),
            before_deploy: r.before_deploy.clone(),
        }
    }
}

/// An Application Auto Scaling scalable target on a service's desired count: the autoscaler
/// moves the count between `min` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scaling {
    pub min: u32,
    pub max: u32,
}

/// The count a deploy sets: none when the files say `auto` or the service has a scalable
/// target (the autoscaler owns the count; setting it would fight it), else the number.
pub fn count_to_set(desired: DesiredCount, scaling: Option<Scaling>) -> Option<u32> {
    match scaling {
        Some(_) => None,
        None => desired.fixed(),
    }
}

/// Whether `live` is drift: outside `min..=max` with a scalable target; never for `auto`
/// without one (nothing says what it should be); otherwise anything but the number.
pub fn count_drifted(desired: DesiredCount, scaling: Option<Scaling>, live: Option<u32>) -> bool {
    match (scaling, desired.fixed()) {
        (Some(s), _) => live.is_none_or(|n| n < s.min || n > s.max),
        (None, None) => false,
        (None, Some(n)) => live != Some(n),
    }
}

/// `7`, or `auto` / `2–10` when stamp does not own the count: what plan and status show as
/// the desired side.
pub fn count_label(desired: DesiredCount, scaling: Option<Scaling>) -> String {
    match scaling {
        Some(s) => format!("{}–{} (scalable target)", s.min, s.max),
        None => desired.to_string(),
    }
}

/// What the tenant's account runs for one service, as the caller read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveService {
    /// False when the ECS service does not exist (or is INACTIVE, which is the same
    /// thing for a deploy: it has to be created).
    pub exists: bool,
    /// The task definition the service runs, already converted by
    /// `aws::convert::from_sdk` (with its tags); `None` if it could not be described.
    pub task_definition: Option<TaskDefinition>,
    pub task_definition_arn: Option<String>,
    pub desired_count: Option<u32>,
    /// The service's Application Auto Scaling target, if it has one.
    pub scaling: Option<Scaling>,
    /// From the live image tag or a `stamp:release` tag; the caller decides which.
    pub release: Option<String>,
}

impl LiveService {
    /// A service that does not exist yet.
    pub fn missing() -> Self {
        Self::default()
    }
}

/// What applying the plan would do to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

impl Action {
    /// The word used in JSON output, also right for text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One summarised difference. `from`/`to` are `None` where a side has no value (a
/// service, container or variable that does not exist yet, or no longer) and for the
/// catch-all `task_definition` entry. For `secrets:<NAME>` they are `valueFrom` ARNs:
/// stamp never holds a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Change {
    fn new(field: impl Into<String>, from: Option<String>, to: Option<String>) -> Self {
        Self {
            field: field.into(),
            from,
            to,
        }
    }
}

/// The plan for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    pub service: String,
    pub action: Action,
    /// [`DesiredService::digest`] of the desired state.
    pub digest: String,
    /// Unified diff of the normalised canonical JSON, live → desired (headers `live` and
    /// `desired`); for `create` the live side is empty. Empty when the task definitions
    /// compare equal (so always for `unchanged`, and for a count-only `update`).
    pub diff: String,
    /// Summary of the differences, in a fixed order (see [`compare`]); empty for
    /// `unchanged`.
    pub changes: Vec<Change>,
    /// When stamp does not set the count (`auto`, or a scalable target): what runs and the
    /// target's bounds, for plan and status to show. Absent for a count stamp sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<OwnedCount>,
    /// The `before_deploy` task a deploy of this service runs first (not when unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_deploy: Option<crate::dsl::Hook>,
}

/// The live count of a service whose count stamp leaves alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnedCount {
    pub live: Option<u32>,
    /// The scalable target's bounds; absent for `auto` without a target.
    pub scaling: Option<Scaling>,
}

impl std::fmt::Display for OwnedCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.live {
            Some(n) => write!(f, "{n} running, ")?,
            None => f.write_str("not running, ")?,
        }
        match self.scaling {
            Some(s) => write!(f, "scaled {}–{} by Application Auto Scaling", s.min, s.max),
            None => f.write_str("count set outside stamp (desired_count = \"auto\")"),
        }
    }
}

/// Field name of the catch-all change.
const TASK_DEFINITION: &str = "task_definition";

/// Compares desired with live.
///
/// `create` when the service does not exist; `update` when the normalised task
/// definitions differ or the desired count differs; `unchanged` otherwise. A release
/// that differs while nothing else does is not an update: registering and rolling out
/// an identical definition would only move a tag.
///
/// `changes`, in this order: `image:<container>` per container whose image differs
/// (desired's containers in order, then those only live has); `release`;
/// `desired_count`; task-level `cpu` and `memory`; `environment:<NAME>` and then
/// `secrets:<NAME>`, each sorted by name (a change made identically in several
/// containers is listed once); finally `task_definition`, without from/to, when
/// anything else in the definition differs, when the live definition is unknown, or
/// when nothing above explains a difference (so an `update` never has no reason).
/// For `create` every entry's `from` is `None` and there is no `task_definition` entry:
/// the diff shows the whole definition.
pub fn compare(desired: &DesiredService, live: &LiveService) -> ServicePlan {
    let digest = desired.digest();
    let want = normalize(&desired.task_definition);
    // A definition described for a service that does not exist means nothing.
    let have = live
        .exists
        .then(|| live.task_definition.as_ref().map(normalize))
        .flatten();
    let td_differs = have.as_ref() != Some(&want);
    // Only a count stamp would set makes an update; a scaled count out of its range is drift
    // for `status` and listed below, but a deploy leaves it to the autoscaler.
    let count_differs = count_to_set(desired.desired_count, live.scaling).is_some()
        && count_drifted(desired.desired_count, live.scaling, live.desired_count);
    let count = (live.exists && count_to_set(desired.desired_count, live.scaling).is_none())
        .then_some(OwnedCount {
            live: live.desired_count,
            scaling: live.scaling,
        });
    let action = if !live.exists {
        Action::Create
    } else if td_differs || count_differs {
        Action::Update
    } else {
        Action::Unchanged
    };

    if action == Action::Unchanged {
        return ServicePlan {
            service: desired.service.clone(),
            action,
            digest,
            diff: String::new(),
            changes: Vec::new(),
            count,
            before_deploy: desired.before_deploy.clone(),
        };
    }

    let diff = if td_differs {
        let old = have
            .as_ref()
            .map(TaskDefinition::to_canonical_json)
            .unwrap_or_default();
        let new = want.to_canonical_json();
        TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header("live", "desired")
            .to_string()
    } else {
        String::new()
    };

    let changes = list_changes(desired, live, &want, have.as_ref(), action, td_differs);
    ServicePlan {
        service: desired.service.clone(),
        action,
        digest,
        diff,
        changes,
        count,
        before_deploy: desired.before_deploy.clone(),
    }
}

fn list_changes(
    desired: &DesiredService,
    live: &LiveService,
    want: &TaskDefinition,
    have: Option<&TaskDefinition>,
    action: Action,
    td_differs: bool,
) -> Vec<Change> {
    let mut out = Vec::new();
    let pairs = pair_containers(want, have);
    // Changes that explain a task definition difference, for the catch-all's safety net.
    let mut explained = 0;

    for (name, d, l) in &pairs {
        let (from, to) = (
            l.and_then(|c| c.image.clone()),
            d.and_then(|c| c.image.clone()),
        );
        if from != to {
            out.push(Change::new(format!("image:{name}"), from, to));
            explained += 1;
        }
    }

    if live.release.as_deref() != Some(desired.release.as_str()) {
        out.push(Change::new(
            "release",
            live.release.clone(),
            Some(desired.release.clone()),
        ));
    }
    if count_drifted(desired.desired_count, live.scaling, live.desired_count) {
        out.push(Change::new(
            "desired_count",
            live.desired_count.map(|n| n.to_string()),
            Some(count_label(desired.desired_count, live.scaling)),
        ));
    }

    for (field, from, to) in [
        ("cpu", have.and_then(|t| t.cpu.clone()), want.cpu.clone()),
        (
            "memory",
            have.and_then(|t| t.memory.clone()),
            want.memory.clone(),
        ),
    ] {
        if from != to {
            out.push(Change::new(field, from, to));
            explained += 1;
        }
    }

    let env = variable_changes(&pairs, |c| {
        c.environment()
            .iter()
            .map(|kv| {
                (
                    kv.name.clone().unwrap_or_default(),
                    kv.value.clone().unwrap_or_default(),
                )
            })
            .collect()
    });
    let secrets = variable_changes(&pairs, |c| {
        c.secrets()
            .iter()
            .map(|s| (s.name.clone(), s.value_from.clone()))
            .collect()
    });
    for (prefix, found) in [("environment", env), ("secrets", secrets)] {
        for (name, from, to) in found {
            out.push(Change::new(format!("{prefix}:{name}"), from, to));
            explained += 1;
        }
    }

    // For a new service the diff already shows everything; there is nothing "else".
    if action == Action::Update && td_differs {
        let other = match have {
            None => true,
            Some(have) => without_summarised(have) != without_summarised(want),
        };
        if other || explained == 0 {
            out.push(Change::new(TASK_DEFINITION, None, None));
        }
    }
    out
}

/// A container's name with its desired and its live definition (`None`: not on that side).
type Pair<'a> = (
    String,
    Option<&'a ContainerDefinition>,
    Option<&'a ContainerDefinition>,
);

/// Containers of both sides matched by name: desired's in order, then live-only ones
/// in live's order. ECS requires unique names, so the name is the identity.
fn pair_containers<'a>(
    want: &'a TaskDefinition,
    have: Option<&'a TaskDefinition>,
) -> Vec<Pair<'a>> {
    let live: &[ContainerDefinition] = have.map_or(&[], |t| &t.container_definitions);
    let name = |c: &ContainerDefinition| c.name.clone().unwrap_or_default();
    let mut pairs: Vec<_> = want
        .container_definitions
        .iter()
        .map(|d| {
            let n = name(d);
            let l = live.iter().find(|l| name(l) == n);
            (n, Some(d), l)
        })
        .collect();
    for l in live {
        let n = name(l);
        if !want.container_definitions.iter().any(|d| name(d) == n) {
            pairs.push((n, None, Some(l)));
        }
    }
    pairs
}

/// Added, removed and changed variables over all container pairs, as
/// `(name, from, to)`, sorted and without duplicates: stamp injects the same variables
/// into several containers, and one change should read as one change.
fn variable_changes(
    pairs: &[Pair<'_>],
    vars: impl Fn(&ContainerDefinition) -> BTreeMap<String, String>,
) -> BTreeSet<(String, Option<String>, Option<String>)> {
    let mut out = BTreeSet::new();
    for (_, d, l) in pairs {
        let want = d.map(&vars).unwrap_or_default();
        let have = l.map(&vars).unwrap_or_default();
        for name in want.keys().chain(have.keys()) {
            let (from, to) = (have.get(name), want.get(name));
            if from != to {
                out.insert((name.clone(), from.cloned(), to.cloned()));
            }
        }
    }
    out
}

/// `td` without what [`list_changes`] reports by name, to tell whether anything else
/// differs.
fn without_summarised(td: &TaskDefinition) -> TaskDefinition {
    let mut td = td.clone();
    td.cpu = None;
    td.memory = None;
    for c in &mut td.container_definitions {
        c.image = None;
        c.environment = None;
        c.secrets = None;
    }
    td
}

#[cfg(test)]
// The crate warns on `unwrap`; in tests a panic is exactly the failure report we want.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::taskdef::parse;

    const TD: &str = r#"{
      "family": "acme-api",
      "networkMode": "awsvpc",
      "requiresCompatibilities": ["FARGATE"],
      "cpu": "512",
      "memory": "1024",
      "containerDefinitions": [{
        "name": "api",
        "image": "acme/api:2024.06",
        "portMappings": [{"containerPort": 8080}],
        "environment": [{"name": "LOG", "value": "info"}, {"name": "MODE", "value": "web"}],
        "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/acme/db"}]
      }]
    }"#;

    fn desired() -> DesiredService {
        DesiredService {
            tenant: "acme".to_owned(),
            account_id: "123456789012".to_owned(),
            region: "eu-west-1".to_owned(),
            cluster: "acme".to_owned(),
            service: "api".to_owned(),
            ecs_service: "acme-api".to_owned(),
            desired_count: DesiredCount::Fixed(2),
            release: "2024.06".to_owned(),
            task_definition: parse(TD).unwrap(),
            before_deploy: None,
        }
    }

    /// The live side of an up-to-date service, as ECS echoes the definition back.
    fn live() -> LiveService {
        let echoed = TD
            .replace(
                r#""containerPort": 8080}"#,
                r#""containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}"#,
            )
            .replace(
                r#""image": "acme/api:2024.06","#,
                r#""image": "acme/api:2024.06", "essential": true, "mountPoints": [],"#,
            );
        let mut td = parse(&echoed).unwrap();
        td.tags = Some(vec![crate::render::taskdef::Tag {
            key: Some("stamp:commit".to_owned()),
            value: Some("abc".to_owned()),
        }]);
        LiveService {
            exists: true,
            task_definition: Some(td),
            task_definition_arn: Some(
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/acme-api:7".to_owned(),
            ),
            desired_count: Some(2),
            scaling: None,
            release: Some("2024.06".to_owned()),
        }
    }

    const TARGET: Scaling = Scaling { min: 2, max: 10 };

    #[test]
    fn a_scaled_count_inside_its_bounds_is_not_drift_and_never_set() {
        let mut l = live();
        l.scaling = Some(TARGET);
        for n in [2, 7, 10] {
            l.desired_count = Some(n);
            let p = compare(&desired(), &l);
            assert_eq!(p.action, Action::Unchanged, "{n}");
            assert_eq!(
                p.count,
                Some(OwnedCount {
                    live: Some(n),
                    scaling: Some(TARGET)
                })
            );
        }
        // A number in the files does not make stamp fight the autoscaler.
        assert_eq!(count_to_set(DesiredCount::Fixed(2), Some(TARGET)), None);
        assert_eq!(count_to_set(DesiredCount::Auto, None), None);
        assert_eq!(count_to_set(DesiredCount::Fixed(2), None), Some(2));
    }

    #[test]
    fn a_scaled_count_outside_its_bounds_is_listed_but_not_an_update() {
        let mut l = live();
        l.scaling = Some(TARGET);
        l.desired_count = Some(12);
        let p = compare(&desired(), &l);
        // A deploy would not set it (the autoscaler will): nothing to apply.
        assert_eq!(p.action, Action::Unchanged);
        assert!(count_drifted(
            DesiredCount::Fixed(2),
            Some(TARGET),
            Some(12)
        ));
        assert!(count_drifted(DesiredCount::Auto, Some(TARGET), Some(1)));
        // With the definition changed too, the change list names the count and the bounds.
        let mut d = desired();
        d.task_definition.cpu = Some("1024".to_owned());
        let p = compare(&d, &l);
        assert_eq!(p.action, Action::Update);
        let c = p
            .changes
            .iter()
            .find(|c| c.field == "desired_count")
            .unwrap();
        assert_eq!(c.from.as_deref(), Some("12"));
        assert_eq!(c.to.as_deref(), Some("2–10 (scalable target)"));
    }

    #[test]
    fn an_auto_count_without_a_target_is_never_drift() {
        let mut d = desired();
        d.desired_count = DesiredCount::Auto;
        let mut l = live();
        l.desired_count = Some(9);
        let p = compare(&d, &l);
        assert_eq!(p.action, Action::Unchanged);
        assert_eq!(
            p.count.map(|c| c.to_string()).as_deref(),
            Some("9 running, count set outside stamp (desired_count = \"auto\")")
        );
    }

    fn fields(plan: &ServicePlan) -> Vec<&str> {
        plan.changes.iter().map(|c| c.field.as_str()).collect()
    }

    fn change<'a>(plan: &'a ServicePlan, field: &str) -> &'a Change {
        plan.changes.iter().find(|c| c.field == field).unwrap()
    }

    #[test]
    fn an_up_to_date_service_is_unchanged_with_no_diff() {
        let plan = compare(&desired(), &live());
        assert_eq!(plan.action, Action::Unchanged);
        assert_eq!(plan.diff, "");
        assert!(plan.changes.is_empty());
        assert_eq!(plan.digest, desired().digest());
        assert_eq!(plan.service, "api");
    }

    #[test]
    fn a_missing_service_is_created() {
        let plan = compare(&desired(), &LiveService::missing());
        assert_eq!(plan.action, Action::Create);
        assert_eq!(
            fields(&plan),
            [
                "image:api",
                "release",
                "desired_count",
                "cpu",
                "memory",
                "environment:LOG",
                "environment:MODE",
                "secrets:DB"
            ]
        );
        assert!(plan.changes.iter().all(|c| c.from.is_none()));
        assert_eq!(
            change(&plan, "secrets:DB").to.as_deref(),
            Some("arn:aws:ssm:eu-west-1:123456789012:parameter/acme/db")
        );
        assert!(
            plan.diff.starts_with("--- live\n+++ desired\n"),
            "{}",
            plan.diff
        );
        assert!(plan.diff.contains("+  \"family\": \"acme-api\",\n"));
    }

    #[test]
    fn a_new_image_and_release_is_an_update_naming_the_line() {
        let mut d = desired();
        d.release = "2024.07".to_owned();
        d.task_definition.container_definitions[0].image = Some("acme/api:2024.07".to_owned());
        let plan = compare(&d, &live());
        assert_eq!(plan.action, Action::Update);
        assert_eq!(fields(&plan), ["image:api", "release"]);
        let image = change(&plan, "image:api");
        assert_eq!(image.from.as_deref(), Some("acme/api:2024.06"));
        assert_eq!(image.to.as_deref(), Some("acme/api:2024.07"));
        assert!(
            plan.diff.starts_with("--- live\n+++ desired\n"),
            "{}",
            plan.diff
        );
        assert!(
            plan.diff.contains(
                "-      \"image\": \"acme/api:2024.06\",\n+      \"image\": \"acme/api:2024.07\",\n"
            ),
            "{}",
            plan.diff
        );
    }

    #[test]
    fn a_count_only_change_is_an_update_without_diff() {
        let mut d = desired();
        d.desired_count = DesiredCount::Fixed(4);
        let plan = compare(&d, &live());
        assert_eq!(plan.action, Action::Update);
        assert_eq!(plan.diff, "");
        assert_eq!(
            plan.changes,
            [Change::new(
                "desired_count",
                Some("2".to_owned()),
                Some("4".to_owned())
            )]
        );
    }

    #[test]
    fn environment_and_secret_changes_show_names_and_arns() {
        let mut d = desired();
        let c = &mut d.task_definition.container_definitions[0];
        c.set_env_var("LOG", "debug");
        c.set_env_var("NEW", "1");
        c.environment_mut()
            .retain(|kv| kv.name.as_deref() != Some("MODE"));
        c.set_secret(
            "DB",
            "arn:aws:ssm:eu-west-1:123456789012:parameter/acme/db2",
        );
        d.task_definition.cpu = Some("1024".to_owned());
        let plan = compare(&d, &live());
        assert_eq!(plan.action, Action::Update);
        assert_eq!(
            plan.changes,
            [
                Change::new("cpu", Some("512".to_owned()), Some("1024".to_owned())),
                Change::new(
                    "environment:LOG",
                    Some("info".to_owned()),
                    Some("debug".to_owned())
                ),
                Change::new("environment:MODE", Some("web".to_owned()), None),
                Change::new("environment:NEW", None, Some("1".to_owned())),
                Change::new(
                    "secrets:DB",
                    Some("arn:aws:ssm:eu-west-1:123456789012:parameter/acme/db".to_owned()),
                    Some("arn:aws:ssm:eu-west-1:123456789012:parameter/acme/db2".to_owned())
                ),
            ]
        );
        assert!(
            plan.diff.contains("+          \"value\": \"debug\"\n"),
            "{}",
            plan.diff
        );
    }

    #[test]
    fn any_other_difference_gets_the_catch_all() {
        let mut d = desired();
        d.task_definition.container_definitions[0].stop_timeout = Some(30);
        let plan = compare(&d, &live());
        assert_eq!(plan.action, Action::Update);
        assert_eq!(plan.changes, [Change::new(TASK_DEFINITION, None, None)]);
        assert!(
            plan.diff.contains("+      \"stopTimeout\": 30\n"),
            "{}",
            plan.diff
        );

        // Unknown live definition: an update, with the catch-all.
        let mut l = live();
        l.task_definition = None;
        let plan = compare(&desired(), &l);
        assert_eq!(plan.action, Action::Update);
        assert_eq!(fields(&plan).last(), Some(&TASK_DEFINITION));
    }

    #[test]
    fn an_added_container_is_listed_by_image() {
        let mut d = desired();
        d.task_definition
            .container_definitions
            .push(ContainerDefinition {
                name: Some("sidecar".to_owned()),
                image: Some("envoy:1".to_owned()),
                ..ContainerDefinition::default()
            });
        let plan = compare(&d, &live());
        assert_eq!(fields(&plan), ["image:sidecar", TASK_DEFINITION]);
        assert_eq!(change(&plan, "image:sidecar").from, None);
    }

    #[test]
    fn a_release_alone_is_not_an_update() {
        let mut l = live();
        l.release = Some("2024.05".to_owned());
        assert_eq!(compare(&desired(), &l).action, Action::Unchanged);
    }

    #[test]
    fn the_plan_serialises_with_lowercase_actions() {
        let plan = compare(&desired(), &live());
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["action"], "unchanged");
        assert_eq!(
            serde_json::to_value(Action::Create).unwrap(),
            serde_json::json!("create")
        );
    }
}
