//! The one list of every AWS action stamp calls in a tenant account, by role, with the
//! resources each may be scoped to. `stamp bootstrap template`, `docs/ci.md` and the
//! least-privilege test are all generated from it: nothing else may list actions by hand.
//!
//! An action belongs here only if some command calls it; the test `least_privilege` removes
//! each one in turn and shows the command that then fails with access denied.

use serde::Serialize;

/// Which of a tenant's roles makes the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    /// `inspect_role`: every read-only command.
    Inspect,
    /// `deploy_role`: deploy, rollback, infra plan/apply (which also read through it).
    Deploy,
}

/// The resources an action can be limited to, where the API allows resource-level
/// permissions (else `Any`: the API only accepts `"*"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No resource-level permissions for this API.
    Any,
    /// Any parameter of the account in the tenant's region (the files name them).
    Parameters,
    /// stamp's lock parameters (`/stamp/locks/<cluster>/*`, and a stack's
    /// `/stamp/locks/cloudformation/<stack>`).
    Locks,
    /// The tenant's cluster.
    Cluster,
    /// The services of the tenant's cluster.
    Services,
    /// The services of the tenant's cluster and the revisions of its task definition families.
    ServicesAndFamilies,
    /// What stamp tags: the services and tasks of the tenant's cluster and the revisions of its
    /// families (RunTask with tags needs ecs:TagResource on the task it creates).
    Tagged,
    /// The tasks of the tenant's cluster (`stamp run`, `before_deploy`).
    Tasks,
    /// The tenant's stacks.
    Stacks,
}

/// One AWS action: its IAM name, the role calling it, its scope and why stamp calls it.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    pub name: &'static str,
    pub role: RoleKind,
    pub scope: Scope,
    pub why: &'static str,
}

const fn a(name: &'static str, role: RoleKind, scope: Scope, why: &'static str) -> Action {
    Action {
        name,
        role,
        scope,
        why,
    }
}

use RoleKind::{Deploy, Inspect};
use Scope::{
    Any, Cluster, Locks, Parameters, Services, ServicesAndFamilies, Stacks, Tagged, Tasks,
};

/// The reads every command makes through whichever role it holds.
const READS: &[(&str, Scope, &str)] = &[
    (
        "ssm:GetParameters",
        Parameters,
        "`{ ssm = … }` values, in batches of 10",
    ),
    (
        "ssm:GetParametersByPath",
        Parameters,
        "`env_from` imports (and, for deploy, the locks of a cluster)",
    ),
    (
        "ssm:DescribeParameters",
        Parameters,
        "the type and version of `{ secret = … }` parameters, never their value",
    ),
    (
        "cloudformation:DescribeStacks",
        Stacks,
        "`{ cfn_output = … }` values and the state of the tenant's stacks",
    ),
    (
        "cloudformation:GetTemplate",
        Stacks,
        "the deployed template of a stack, to compare with the repository's",
    ),
    (
        "ecs:DescribeServices",
        Services,
        "what runs: task definition, counts, rollout",
    ),
    (
        "ecs:DescribeTaskDefinition",
        Any,
        "the live task definition and its tags",
    ),
    (
        "secretsmanager:DescribeSecret",
        Any,
        "`{ secret = ARN }` and `{ secretsmanager = … }` values: the ARN and state, never the value",
    ),
    (
        "application-autoscaling:DescribeScalableTargets",
        Any,
        "whether an autoscaler owns a service's count",
    ),
];

/// Reads only one role makes: `inspect_role` for `stamp check` and `verify` (also deploy's
/// preflight); `deploy_role` for what `down` must find before it removes it.
const CHECKS: &[Action] = &[
    a(
        "ecs:ListTaskDefinitions",
        Deploy,
        Any,
        "down: every revision of the tenant's families, ACTIVE and INACTIVE",
    ),
    a(
        "ecs:ListTaskDefinitions",
        Inspect,
        Any,
        "the revisions of a family (history; rollback chooses its target with inspect_role)",
    ),
    a(
        "ecs:DescribeClusters",
        Inspect,
        Cluster,
        "stamp check: the tenant's cluster exists and is active",
    ),
    a(
        "ecr:DescribeImages",
        Inspect,
        Any,
        "verify and deploy's preflight: the release's image exists",
    ),
    a(
        "iam:GetRole",
        Inspect,
        Any,
        "verify and deploy's preflight: the task definitions' roles exist",
    ),
    a(
        "logs:DescribeLogGroups",
        Inspect,
        Any,
        "verify and deploy's preflight: the log groups exist",
    ),
    a(
        "cloudwatch:DescribeAlarms",
        Inspect,
        Any,
        "health gates: the state of each service's `alarms` during a rollout and the bake (verify: that they exist)",
    ),
];

/// The writes only `deploy_role` makes.
const WRITES: &[Action] = &[
    a(
        "cloudformation:DeleteStack",
        Deploy,
        Stacks,
        "down: remove the tenant's stacks, in reverse dependency order",
    ),
    a(
        "ecs:DeleteService",
        Deploy,
        Services,
        "down: remove a service once scaled to zero",
    ),
    a(
        "ecs:DeregisterTaskDefinition",
        Deploy,
        Any,
        "down: deregister the revisions of the tenant's families",
    ),
    a(
        "ecs:DeleteTaskDefinitions",
        Deploy,
        Any,
        "down: delete the deregistered revisions",
    ),
    a(
        "ssm:PutParameter",
        Deploy,
        Locks,
        "take a service's deploy lock (Overwrite=false)",
    ),
    a(
        "ssm:GetParameter",
        Deploy,
        Locks,
        "read a held lock and its journal",
    ),
    a(
        "ssm:DeleteParameter",
        Deploy,
        Locks,
        "release a lock; down: the locks killed runs left",
    ),
    a(
        "ecs:RegisterTaskDefinition",
        Deploy,
        Any,
        "a new revision of a family",
    ),
    a(
        "ecs:UpdateService",
        Deploy,
        Services,
        "roll a service to a revision and count",
    ),
    a(
        "ecs:TagResource",
        Deploy,
        Tagged,
        "the audit tags on task definitions, services and one-off tasks",
    ),
    a(
        "ecs:UntagResource",
        Deploy,
        Services,
        "rollback: drops the service's audit tags the revision it returns to lacks",
    ),
    a(
        "ecs:RunTask",
        Deploy,
        ServicesAndFamilies,
        "run and before_deploy: a one-off task of a service's revision",
    ),
    a(
        "ecs:DescribeTasks",
        Deploy,
        Tasks,
        "run and before_deploy: follow the task to its exit code",
    ),
    a(
        "ecs:StopTask",
        Deploy,
        Tasks,
        "run and before_deploy: stop a task that outlived its timeout",
    ),
    a(
        "iam:PassRole",
        Deploy,
        Any,
        "run and before_deploy: RunTask hands the task definition's task and execution roles to ECS",
    ),
    a(
        "cloudformation:CreateChangeSet",
        Deploy,
        Stacks,
        "infra plan/apply: what a stack update would change",
    ),
    a(
        "cloudformation:DescribeChangeSet",
        Deploy,
        Stacks,
        "infra plan/apply: wait for the change set and read it",
    ),
    a(
        "cloudformation:DeleteChangeSet",
        Deploy,
        Stacks,
        "infra plan: remove the change set it made",
    ),
    a(
        "cloudformation:ExecuteChangeSet",
        Deploy,
        Stacks,
        "infra apply: carry out the change set",
    ),
    a(
        "cloudformation:DescribeStackEvents",
        Deploy,
        Stacks,
        "infra apply: the resource and reason of a failed stack",
    ),
];

/// Every action of `role`, sorted by name.
pub fn for_role(role: RoleKind) -> Vec<Action> {
    let mut out: Vec<Action> = READS
        .iter()
        .map(|&(name, scope, why)| a(name, role, scope, why))
        .chain(
            CHECKS
                .iter()
                .chain(WRITES)
                .copied()
                .filter(|w| w.role == role),
        )
        .collect();
    out.sort_by_key(|x| x.name);
    out.dedup_by_key(|x| x.name);
    out
}

/// The action names of `role`, sorted.
pub fn names(role: RoleKind) -> Vec<&'static str> {
    for_role(role).into_iter().map(|x| x.name).collect()
}

/// Every action stamp calls in a tenant account, whatever the role, sorted.
pub fn all_names() -> Vec<&'static str> {
    let mut out = names(RoleKind::Deploy);
    out.extend(names(RoleKind::Inspect));
    out.sort_unstable();
    out.dedup();
    out
}

/// A policy document allowing exactly `actions` on `"*"`: what `docs/ci.md` shows and what
/// the least-privilege test grants (moto evaluates actions reliably only with `"*"`).
pub fn wildcard_policy(actions: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "*" }],
    })
}

/// How a scope reads in `docs/ci.md`.
fn scope_text(scope: Scope) -> &'static str {
    match scope {
        Scope::Any => "`*` (the API has no resource-level permissions)",
        Scope::Parameters => "`parameter/*` of the tenant's account and region",
        Scope::Locks => {
            "`parameter/stamp/locks/<cluster>/*` and `parameter/stamp/locks/cloudformation/<stack>` of each stack"
        }
        Scope::Cluster => "`cluster/<cluster>`",
        Scope::Services => "`service/<cluster>/*`",
        Scope::ServicesAndFamilies => {
            "`service/<cluster>/*` and `task-definition/<family>:*` of each family the templates render"
        }
        Scope::Tasks => "`task/<cluster>/*`",
        Scope::Tagged => {
            "`service/<cluster>/*`, `task/<cluster>/*` and `task-definition/<family>:*` of each family the templates render"
        }
        Scope::Stacks => "`stack/<name>/*` of each stack the tenant's files name",
    }
}

/// The generated part of `docs/ci.md`: per role, every action with its scope and reason.
pub fn docs_block() -> String {
    let mut out = String::new();
    for (role, title) in [
        (RoleKind::Inspect, "`inspect_role`"),
        (RoleKind::Deploy, "`deploy_role`"),
    ] {
        let list = for_role(role);
        out.push_str(&format!(
            "{title}: {} actions\n\n| action | resources | why stamp calls it |\n|---|---|---|\n",
            list.len()
        ));
        for x in &list {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                x.name,
                scope_text(x.scope),
                x.why
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "As a policy on `\"*\"` (what the least-privilege test grants), `inspect_role`:\n\n```json\n{}\n```\n",
        serde_json::to_string_pretty(&wildcard_policy(&names(RoleKind::Inspect))).unwrap_or_default()
    ));
    out.push_str(&format!(
        "\n`deploy_role`:\n\n```json\n{}\n```\n",
        serde_json::to_string_pretty(&wildcard_policy(&names(RoleKind::Deploy)))
            .unwrap_or_default()
    ));
    out
}

/// The markers around the generated block in `docs/ci.md`.
pub const DOCS_BEGIN: &str =
    "<!-- BEGIN generated by stamp::aws::actions::docs_block; do not edit -->\n";
pub const DOCS_END: &str = "<!-- END generated -->\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/ci.md` shows exactly the list in the code. `STAMP_UPDATE_DOCS=1 cargo test --lib
    /// docs_ci` rewrites the block.
    #[test]
    fn docs_ci_shows_the_generated_lists() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ci.md");
        let doc = std::fs::read_to_string(path).expect("read docs/ci.md");
        let (before, rest) = doc
            .split_once(DOCS_BEGIN)
            .expect("docs/ci.md has the BEGIN marker");
        let (current, after) = rest
            .split_once(DOCS_END)
            .expect("docs/ci.md has the END marker");
        let want = docs_block();
        if current != want && std::env::var_os("STAMP_UPDATE_DOCS").is_some() {
            std::fs::write(path, format!("{before}{DOCS_BEGIN}{want}{DOCS_END}{after}"))
                .expect("write docs/ci.md");
            return;
        }
        assert_eq!(
            current, want,
            "docs/ci.md is not current: run STAMP_UPDATE_DOCS=1 cargo test --lib docs_ci"
        );
    }

    #[test]
    fn inspect_role_has_no_write() {
        for n in names(RoleKind::Inspect) {
            assert!(
                !WRITES.iter().any(|w| w.name == n),
                "{n} is a write in the inspect list"
            );
        }
    }

    #[test]
    fn deploy_role_has_every_read_and_every_write() {
        let d = names(RoleKind::Deploy);
        for n in READS
            .iter()
            .map(|r| r.0)
            .chain(WRITES.iter().map(|w| w.name))
        {
            assert!(d.contains(&n), "{n} missing from deploy");
        }
    }
}
