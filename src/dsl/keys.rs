//! The one table of every key a tenant file or `_defaults.toml` may hold: where it may be
//! written, its value form, its enum values and placeholders, and its description.
//!
//! The loader's allowed-key lists (`parse.rs`) are checked against it by a test, and the JSON
//! Schema (`schema.rs`, `stamp schema`) and the README's key table are generated from it, so
//! editors, docs and the loader cannot disagree. It never decides whether a value is valid:
//! the loader does that, with a hint; the schema only helps while typing.

/// Which files may hold a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    Both,
    DefaultsOnly,
    TenantOnly,
}

/// The value a key takes. Tables hold the rows below them (`a.b` below `a`); `Named` tables
/// hold one table per name (`services.*`), `TableList` an array of tables (`freeze[]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Table,
    Named,
    TableList,
    /// A non-empty string.
    Text,
    /// A string matching a regular expression (JSON Schema `pattern`).
    Pattern(&'static str),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A list of strings.
    TextList,
    /// A list of these strings.
    ListOf(&'static [&'static str]),
    /// A whole number from 0 to the maximum.
    Count(u32),
    /// A whole number from 0 to the maximum, or `"auto"` (the count is someone else's).
    CountOrAuto(u32),
    /// A whole number from 1.
    Positive,
    /// Only `true`.
    Flag,
    /// A local date-time as a string (`"2026-12-01T00:00"`) or a TOML date-time.
    DateTime,
    /// `NAME = value`: a string or one of the value forms (`{ ssm = … }`, `{ secret = … }`, …).
    Env,
    /// Stack parameters: like `Env`, names are CloudFormation logical names.
    Parameters,
    /// Free-form values for templates; a value may be `{ ssm = … }` or `{ cfn_output = … }`.
    Vars,
    /// `KEY = "value"` strings.
    StringMap,
}

/// One key of the DSL.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Dotted path from the top of the file: `tenant.region`, `services.*.cpu`,
    /// `schedule.freeze[].from`.
    pub path: &'static str,
    pub files: Files,
    pub form: Form,
    /// Placeholders expanded in the value (`{tenant}` …).
    pub placeholders: &'static [&'static str],
    /// One line, as shown in editors and the README.
    pub description: &'static str,
}

const PLACEHOLDERS: &[&str] = &["{tenant}", "{account_id}", "{region}", "{project}"];
const STACK_PLACEHOLDERS: &[&str] = &[
    "{tenant}",
    "{account_id}",
    "{region}",
    "{project}",
    "{stack}",
];

const fn key(path: &'static str, files: Files, form: Form, description: &'static str) -> Key {
    Key {
        path,
        files,
        form,
        placeholders: &[],
        description,
    }
}

const fn with_placeholders(mut k: Key, placeholders: &'static [&'static str]) -> Key {
    k.placeholders = placeholders;
    k
}

use Files::{Both, DefaultsOnly, TenantOnly};

/// Every key, parents before children.
pub const KEYS: &[Key] = &[
    key(
        "env_from",
        Both,
        Form::Table,
        "Imports every SSM parameter under `ssm_path` into this file's [env] layer (top level, before any table).",
    ),
    key(
        "env_from.ssm_path",
        Both,
        Form::Pattern("^/(.*/)?$"),
        "An SSM path starting and ending with `/`; names are the last segment, upper-cased, `-` and `.` as `_`.",
    ),
    key(
        "project",
        DefaultsOnly,
        Form::Table,
        "The project, the same for every tenant.",
    ),
    key(
        "project.name",
        DefaultsOnly,
        Form::Pattern("^[A-Za-z0-9_-]+$"),
        "Project name: goes into task definition families and role names.",
    ),
    key(
        "project.image",
        DefaultsOnly,
        Form::Text,
        "Image repository without a tag (the tag is the release).",
    ),
    key(
        "project.rings",
        DefaultsOnly,
        Form::TextList,
        "Deploy waves, in order; a tenant's `ring` is one of them.",
    ),
    key(
        "project.bake",
        DefaultsOnly,
        Form::Pattern("^[0-9]+(\\.[0-9]+)?(ms|s|m|h)?$"),
        "How long a ring's deployed services must stay out of ALARM before the next ring starts, e.g. `10m` (default: no bake).",
    ),
    key(
        "tenant",
        Both,
        Form::Table,
        "The tenant's account and settings; in _defaults.toml, defaults for every tenant.",
    ),
    key(
        "tenant.account_id",
        TenantOnly,
        Form::Pattern("^[0-9]{12}$"),
        "The tenant's own 12-digit AWS account, as a quoted string; required, unique in the fleet.",
    ),
    key(
        "tenant.region",
        Both,
        Form::Pattern("^[a-z0-9]+(-[a-z0-9]+)+-[0-9]+$"),
        "AWS region of the tenant's services, e.g. `ap-northeast-1`.",
    ),
    with_placeholders(
        key(
            "tenant.cluster",
            Both,
            Form::Text,
            "ECS cluster of the tenant's services, e.g. `{tenant}-shop`.",
        ),
        PLACEHOLDERS,
    ),
    with_placeholders(
        key(
            "tenant.deploy_role",
            Both,
            Form::Text,
            "Role ARN stamp assumes to write (deploy, rollback, infra), in the tenant's account.",
        ),
        PLACEHOLDERS,
    ),
    with_placeholders(
        key(
            "tenant.inspect_role",
            Both,
            Form::Text,
            "Read-only role ARN stamp assumes to read (plan, status, render), in the tenant's account.",
        ),
        PLACEHOLDERS,
    ),
    key(
        "tenant.external_id",
        Both,
        Form::Text,
        "ExternalId passed when assuming the tenant's roles, if their trust policy asks for one.",
    ),
    key(
        "tenant.ring",
        Both,
        Form::Text,
        "The tenant's deploy wave: one of project.rings (default: the last ring).",
    ),
    key(
        "tenant.release",
        Both,
        Form::Pattern("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"),
        "Image tag the tenant runs; a pin in a tenant file, the fleet's release in _defaults.toml.",
    ),
    key(
        "tenant.ephemeral",
        TenantOnly,
        Form::Flag,
        "`true`: a disposable copy `stamp down` may remove entirely; only in the tenant's own file.",
    ),
    key(
        "tenant.vars",
        Both,
        Form::Vars,
        "Free-form values for templates (`tenant.vars`).",
    ),
    key("schedule", Both, Form::Table, "When deploys may happen."),
    key(
        "schedule.timezone",
        Both,
        Form::Text,
        "IANA timezone the windows and freezes are read in, e.g. `Asia/Tokyo`.",
    ),
    key(
        "schedule.windows",
        Both,
        Form::TextList,
        "Deploy windows such as `Mon-Fri 10:00-18:00`; a tenant's list replaces the defaults'; [] is always open.",
    ),
    key(
        "schedule.freeze",
        Both,
        Form::TableList,
        "Freezes (no deploys); the lists of defaults and tenant add up.",
    ),
    key(
        "schedule.freeze[].from",
        Both,
        Form::DateTime,
        "Start of the freeze, local date-time: `2026-12-01T00:00`.",
    ),
    key(
        "schedule.freeze[].to",
        Both,
        Form::DateTime,
        "End of the freeze, local date-time: `2026-12-04T00:00`.",
    ),
    key(
        "schedule.freeze[].reason",
        Both,
        Form::Text,
        "Why: shown when a deploy is refused.",
    ),
    key(
        "notify",
        DefaultsOnly,
        Form::Table,
        "Webhook messages (Slack or any HTTP endpoint taking JSON) when a write run starts and ends.",
    ),
    key(
        "notify.webhook_env",
        DefaultsOnly,
        Form::Pattern("^[A-Za-z_][A-Za-z0-9_]*$"),
        "Name of the environment variable holding the webhook URL at run time (never the URL: it is a secret).",
    ),
    key(
        "env",
        Both,
        Form::Env,
        "Environment of every service of the tenant(s): NAME = \"text\" or a value form.",
    ),
    key(
        "services",
        Both,
        Form::Named,
        "The services, by name; the ECS service is named after the key unless `ecs_service` says otherwise.",
    ),
    key(
        "services.*.template",
        Both,
        Form::Text,
        "Task definition template in templates/, e.g. `api.json.j2`.",
    ),
    key(
        "services.*.desired_count",
        Both,
        Form::CountOrAuto(10_000),
        "Number of tasks (default 1), or \"auto\": stamp never sets the count (Application Auto Scaling owns it).",
    ),
    key(
        "services.*.cpu",
        Both,
        Form::Count(16_384),
        "Task CPU units (1024 = 1 vCPU).",
    ),
    key(
        "services.*.memory",
        Both,
        Form::Count(122_880),
        "Task memory in MiB.",
    ),
    key(
        "services.*.inject_into",
        Both,
        Form::TextList,
        "Containers of the template that get the environment (default: all).",
    ),
    key(
        "services.*.ecs_service",
        Both,
        Form::Pattern("^[A-Za-z0-9_-]+$"),
        "ECS service name, when it is not the key.",
    ),
    key(
        "services.*.alarms",
        Both,
        Form::TextList,
        "CloudWatch alarm names in the tenant's account: one moving to ALARM during the rollout or the bake rolls the service back and stops later rings.",
    ),
    key(
        "services.*.before_deploy",
        Both,
        Form::Table,
        "A one-off task `deploy` runs in each tenant with the new revision before it updates the service (a migration); a tenant's `{ unset = true }` removes an inherited one.",
    ),
    key(
        "services.*.before_deploy.command",
        Both,
        Form::TextList,
        "The container's command, e.g. [\"./migrate\", \"up\"]; every deploy that changes the service runs it, so it must be idempotent.",
    ),
    key(
        "services.*.before_deploy.container",
        Both,
        Form::Text,
        "The container it runs in (default: the task definition's first essential container).",
    ),
    key(
        "services.*.before_deploy.timeout",
        Both,
        Form::Pattern("^[0-9]+(\\.[0-9]+)?(ms|s|m|h)?$"),
        "How long it may run (e.g. \"15m\", the default): then stamp stops it (StopTask) and the tenant's deploy fails.",
    ),
    key(
        "services.*.before_deploy.unset",
        Both,
        Form::Flag,
        "Removes an inherited hook: `before_deploy = { unset = true }`.",
    ),
    key(
        "services.*.env_from",
        Both,
        Form::Table,
        "Imports every SSM parameter under `ssm_path` into this service's env layer.",
    ),
    key(
        "services.*.env_from.ssm_path",
        Both,
        Form::Pattern("^/(.*/)?$"),
        "An SSM path starting and ending with `/`.",
    ),
    key(
        "services.*.vars",
        Both,
        Form::Vars,
        "Free-form values for the template (`service.vars`), over the tenant's vars.",
    ),
    key(
        "services.*.env",
        Both,
        Form::Env,
        "Environment of this service only, over [env].",
    ),
    key(
        "infra",
        Both,
        Form::Named,
        "CloudFormation stacks, one per tenant each, by key (docs/cloudformation.md).",
    ),
    key(
        "infra.*.template",
        Both,
        Form::Pattern("\\.([Yy][Aa]?[Mm][Ll]|[Jj][Ss][Oo][Nn])$"),
        "CloudFormation template in templates/, e.g. `app.cfn.yaml`.",
    ),
    with_placeholders(
        key(
            "infra.*.stack_name",
            Both,
            Form::Text,
            "Stack name pattern (default `{tenant}-{stack}`).",
        ),
        STACK_PLACEHOLDERS,
    ),
    key(
        "infra.*.parameters",
        Both,
        Form::Parameters,
        "Stack parameters by logical name: \"text\" or a value form.",
    ),
    key(
        "infra.*.tags",
        Both,
        Form::StringMap,
        "Stack tags (keys 1 to 128 characters, not starting with `aws:`).",
    ),
    key(
        "infra.*.capabilities",
        Both,
        Form::ListOf(crate::dsl::parse::CAPABILITIES),
        "CloudFormation capabilities the template needs.",
    ),
];

/// One value form of `env`, stack parameters and `vars`: `NAME = { KEY = … }`.
#[derive(Debug, Clone, Copy)]
pub struct ValueForm {
    pub key: &'static str,
    pub form: Form,
    /// Keys that may go with it (`version` with `ssm`).
    pub with: &'static [(&'static str, Form)],
    /// Whether a `vars` value may take this form (vars are rendered in plain text).
    pub in_vars: bool,
    pub description: &'static str,
}

/// Every value form, as the loader reads them.
pub const VALUE_FORMS: &[ValueForm] = &[
    ValueForm {
        key: "ssm",
        form: Form::Text,
        with: &[("version", Form::Positive)],
        in_vars: true,
        description: "A String/StringList SSM parameter of the tenant's account, read at plan time (optional `version = N`).",
    },
    ValueForm {
        key: "secret",
        form: Form::Text,
        with: &[],
        in_vars: false,
        description: "A SecureString SSM parameter, or a Secrets Manager secret's full ARN: an ECS `secrets` entry by ARN; stamp never reads the value.",
    },
    ValueForm {
        key: "secretsmanager",
        form: Form::Text,
        with: &[
            ("key", Form::Pattern("^[^:]+$")),
            ("version_stage", Form::Pattern("^[^:]+$")),
            ("version_id", Form::Pattern("^[^:]+$")),
        ],
        in_vars: false,
        description: "A Secrets Manager secret (name or ARN), checked with DescribeSecret: an ECS `secrets` entry whose `valueFrom` is `ARN:key:version_stage:version_id`; stamp never reads the value.",
    },
    ValueForm {
        key: "cfn_output",
        form: Form::Pattern("^[^.]+\\.[^.]+$"),
        with: &[],
        in_vars: true,
        description: "An output of one of the tenant's stacks: `STACK.OutputKey`.",
    },
    ValueForm {
        key: "unset",
        form: Form::Flag,
        with: &[],
        in_vars: false,
        description: "Removes an inherited variable: `{ unset = true }`.",
    },
];

/// The keys a value form table may hold, as the loader's list spells them.
#[must_use]
pub fn value_form_keys() -> Vec<&'static str> {
    let mut out: Vec<&str> = VALUE_FORMS.iter().map(|f| f.key).collect();
    for f in VALUE_FORMS {
        out.extend(
            f.with
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| !out.contains(k))
                .collect::<Vec<_>>(),
        );
    }
    out
}

/// The keys a table at `parent` may hold (`""` for the top level), in table order.
#[must_use]
pub fn children(parent: &str, file: Files) -> Vec<&'static str> {
    KEYS.iter()
        .filter(|k| k.files == Files::Both || file == Files::Both || k.files == file)
        .filter_map(|k| {
            let rest = if parent.is_empty() {
                k.path
            } else {
                k.path.strip_prefix(parent)?.strip_prefix('.')?
            };
            (!rest.contains('.')).then_some(rest)
        })
        .collect()
}

/// The row of a path, if it has one.
#[must_use]
pub fn get(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

/// The README's table of keys, one row per key: the text between the markers in README.md.
#[must_use]
pub fn markdown() -> String {
    let mut out = String::from("| key | file | value | meaning |\n|---|---|---|---|\n");
    for k in KEYS {
        let file = match k.files {
            Both => "either",
            DefaultsOnly => "_defaults.toml",
            TenantOnly => "tenant file",
        };
        let mut meaning = k.description.to_owned();
        if !k.placeholders.is_empty() {
            meaning.push_str(&format!(" Placeholders: {}.", k.placeholders.join(", ")));
        }
        out.push_str(&format!(
            "| `{}` | {file} | {} | {} |\n",
            display_path(k.path),
            value_text(k.form),
            meaning.replace('|', "\\|")
        ));
    }
    out
}

/// `services.*.cpu` → `[services.S] cpu`: how a person finds the key in a file.
fn display_path(path: &str) -> String {
    path.replace("services.*", "services.S")
        .replace("infra.*", "infra.STACK")
}

fn value_text(form: Form) -> String {
    match form {
        Form::Table => "table".into(),
        Form::Named => "tables by name".into(),
        Form::TableList => "list of tables".into(),
        Form::Text | Form::Pattern(_) => "string".into(),
        Form::OneOf(v) => v.join(" \\| "),
        Form::TextList => "list of strings".into(),
        Form::ListOf(v) => format!("list of {}", v.join(", ")),
        Form::Count(max) => format!("0 to {max}"),
        Form::CountOrAuto(max) => format!("0 to {max}, or \"auto\""),
        Form::Positive => "1 or more".into(),
        Form::Flag => "`true`".into(),
        Form::DateTime => "local date-time".into(),
        Form::Env | Form::Parameters => "NAME = string or value form".into(),
        Form::Vars => "table of any values".into(),
        Form::StringMap => "table of strings".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_has_its_parent_table() {
        for k in KEYS {
            let Some((parent, _)) = k.path.rsplit_once('.') else {
                continue;
            };
            let parent = parent.trim_end_matches(".*").trim_end_matches("[]");
            let p = get(parent).unwrap_or_else(|| panic!("`{}` has no row for `{parent}`", k.path));
            assert!(
                matches!(p.form, Form::Table | Form::Named | Form::TableList),
                "`{parent}` holds keys but is not a table"
            );
        }
    }

    #[test]
    fn descriptions_are_one_line_sentences() {
        for k in KEYS {
            assert!(!k.description.contains('\n'), "{}", k.path);
            assert!(k.description.ends_with('.'), "{}", k.path);
        }
    }
}
