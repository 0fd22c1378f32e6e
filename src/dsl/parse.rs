//! Walks one tenant file's spanned TOML into a typed [`FileLayer`], collecting every problem.
//!
//! This is a hand walk rather than `serde::Deserialize` on purpose: serde stops at the first
//! error and loses spans, while a deploy tool must report all mistakes at once, each with its
//! line, column and a hint. It never panics on any input.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::{Diagnostic, Diagnostics, Loc, Located, SourceFile, did_you_mean};
use super::model::{
    DesiredCount, EnvBlock, EnvEntry, FileKind, FileLayer, FreezeSpec, Hook, HookSpec,
    InfraSection, NotifySection, ProjectSection, ScheduleSection, ServiceSection, SmRef,
    TenantSection, ValueSpec, VarBlock, VarEntry, VarValue,
};

const TOP_KEYS_DEFAULTS: &[&str] = &[
    "env_from", "project", "tenant", "schedule", "env", "services", "infra", "notify",
];
const TOP_KEYS_TENANT: &[&str] = &["env_from", "tenant", "schedule", "env", "services", "infra"];
const INFRA_KEYS: &[&str] = &[
    "template",
    "stack_name",
    "parameters",
    "tags",
    "capabilities",
];
/// What CloudFormation accepts in `Capabilities`.
pub const CAPABILITIES: &[&str] = &[
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];
const PROJECT_KEYS: &[&str] = &["name", "image", "rings", "bake"];
const TENANT_KEYS: &[&str] = &[
    "account_id",
    "region",
    "cluster",
    "deploy_role",
    "inspect_role",
    "external_id",
    "ring",
    "release",
    "ephemeral",
    "vars",
];
const SCHEDULE_KEYS: &[&str] = &["timezone", "windows", "freeze"];
const NOTIFY_KEYS: &[&str] = &["webhook_env"];
const FREEZE_KEYS: &[&str] = &["from", "to", "reason"];
const SERVICE_KEYS: &[&str] = &[
    "template",
    "desired_count",
    "cpu",
    "memory",
    "inject_into",
    "ecs_service",
    "alarms",
    "before_deploy",
    "env_from",
    "vars",
    "env",
];
const HOOK_KEYS: &[&str] = &["command", "container", "timeout", "unset"];
const VALUE_FORM_KEYS: &[&str] = &[
    "ssm",
    "secret",
    "secretsmanager",
    "cfn_output",
    "unset",
    "version",
    "key",
    "version_stage",
    "version_id",
];
/// The keys that go with `secretsmanager` only.
const SM_KEYS: &[&str] = &["key", "version_stage", "version_id"];
const ENV_FROM_KEYS: &[&str] = &["ssm_path"];

type Table<'i> = DeTable<'i>;
type Value<'i> = Spanned<DeValue<'i>>;

/// Parses one file. Returns `None` only when the TOML itself cannot be read.
pub fn parse_file(
    src: &SourceFile,
    kind: FileKind,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<FileLayer> {
    let root = match DeTable::parse(&src.text) {
        Ok(t) => t,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim().to_owned();
            diags.push(src.diag(
                &span,
                format!("this is not valid TOML: {msg}"),
                Some("see https://toml.io for the syntax; strings need double quotes".into()),
            ));
            return None;
        }
    };
    let mut w = Walker { src, diags };
    Some(w.file(root.get_ref(), kind, name))
}

struct Walker<'a> {
    src: &'a SourceFile,
    diags: &'a mut Diagnostics,
}

impl Walker<'_> {
    fn err(&mut self, span: &Range<usize>, msg: impl Into<String>, hint: Option<String>) {
        let d = self.src.diag(span, msg, hint);
        self.diags.push(d);
    }

    fn loc(&self, span: &Range<usize>) -> Loc {
        self.src.loc(span)
    }

    /// Reports an unknown key; returns the key it most likely misspells. A table's checks for
    /// missing keys count that one as written: a misspelt key is one mistake, reported once as
    /// unknown, not again as the missing key it was meant to be.
    fn unknown_key(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        table: &str,
        allowed: &[&str],
    ) -> Option<String> {
        let k = key.get_ref();
        let meant = did_you_mean(k, allowed.iter().copied()).map(str::to_owned);
        let hint = match &meant {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("the keys allowed here are: {}", allowed.join(", ")),
        };
        self.err(
            &key.span(),
            format!("unknown key `{k}` in {table}"),
            Some(hint),
        );
        meant
    }

    fn file(&mut self, root: &Table<'_>, kind: FileKind, name: &str) -> FileLayer {
        let mut layer = FileLayer {
            kind,
            name: name.to_owned(),
            path: self.src.path.clone(),
            project: None,
            notify: None,
            tenant: TenantSection::default(),
            schedule: ScheduleSection::default(),
            env: EnvBlock::default(),
            services: BTreeMap::new(),
            infra: BTreeMap::new(),
            top: Loc::top(self.src.path.clone()),
        };
        let allowed = match kind {
            FileKind::Defaults => TOP_KEYS_DEFAULTS,
            FileKind::Tenant => TOP_KEYS_TENANT,
        };
        let mut env_from = None;
        for (key, value) in root.iter() {
            match key.get_ref().as_ref() {
                "project" if kind == FileKind::Defaults => {
                    if let Some(t) = self.table(value, "[project]") {
                        layer.project = Some(self.project(t));
                    }
                }
                "project" => self.err(
                    &key.span(),
                    "`[project]` belongs in tenants/_defaults.toml",
                    Some("the project is the same for every tenant; move this table to _defaults.toml".into()),
                ),
                "notify" if kind == FileKind::Defaults => {
                    if let Some(t) = self.table(value, "[notify]") {
                        layer.notify = Some(self.notify(t));
                    }
                }
                "notify" => self.err(
                    &key.span(),
                    "`[notify]` belongs in tenants/_defaults.toml",
                    Some("one run notifies once for the whole fleet; move this table to _defaults.toml".into()),
                ),
                "tenant" => {
                    if let Some(t) = self.table(value, "[tenant]") {
                        layer.tenant = self.tenant(t);
                    }
                }
                "schedule" => {
                    if let Some(t) = self.table(value, "[schedule]") {
                        layer.schedule = self.schedule(t);
                    }
                }
                "env" => {
                    if let Some(t) = self.table(value, "[env]") {
                        layer.env.vars = self.env_table(t, "[env]");
                    }
                }
                "env_from" => env_from = self.env_from(value),
                "services" => {
                    if let Some(t) = self.table(value, "[services]") {
                        layer.services = self.services(t);
                    }
                }
                "infra" => {
                    if let Some(t) = self.table(value, "[infra]") {
                        layer.infra = self.infra(t);
                    }
                }
                _ => drop(self.unknown_key(key, "the top level", allowed)),
            }
        }
        layer.env.import = env_from;
        layer
    }

    fn table<'v, 'i>(&mut self, v: &'v Value<'i>, what: &str) -> Option<&'v Table<'i>> {
        if let DeValue::Table(t) = v.get_ref() {
            Some(t)
        } else {
            self.err(
                &v.span(),
                format!("{what} must be a table, found {}", type_name(v.get_ref())),
                Some(format!("write it as a table header, e.g. `{what}`")),
            );
            None
        }
    }

    fn string(&mut self, v: &Value<'_>, key: &str) -> Option<Located<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Located::new(s.to_string(), self.loc(&v.span()))),
            other => {
                let hint = match other {
                    DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => {
                        let raw = self.src.text.get(v.span()).unwrap_or("").trim().to_owned();
                        format!("quote it: `{key} = \"{raw}\"`")
                    }
                    _ => format!("write a string: `{key} = \"...\"`"),
                };
                self.err(
                    &v.span(),
                    format!("`{key}` must be a string, found {}", type_name(other)),
                    Some(hint),
                );
                None
            }
        }
    }

    fn nonempty_string(&mut self, v: &Value<'_>, key: &str) -> Option<Located<String>> {
        let s = self.string(v, key)?;
        if s.value.trim().is_empty() {
            let example = match key {
                "release" => "v1.42.0",
                "timezone" => "Europe/Berlin",
                "reason" => "year-end sale",
                "template" => "api.json.j2",
                "image" => "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop",
                _ => "...",
            };
            self.err(
                &v.span(),
                format!("`{key}` must not be empty"),
                Some(format!(
                    "write a value, e.g. `{key} = \"{example}\"`, or delete the line"
                )),
            );
            return None;
        }
        Some(s)
    }

    /// A key that only takes `true` (`ephemeral`): its place, or `None` with the error said.
    fn only_true(&mut self, v: &Value<'_>, key: &str) -> Option<Loc> {
        if let DeValue::Boolean(true) = v.get_ref() {
            return Some(self.loc(&v.span()));
        }
        self.err(
            &v.span(),
            format!("`{key}` only takes `true`"),
            Some(format!("write `{key} = true`, or delete the line")),
        );
        None
    }

    /// A whole number, or `"auto"` (stamp never sets the count).
    fn desired_count(&mut self, v: &Value<'_>) -> Option<Located<DesiredCount>> {
        if let DeValue::String(s) = v.get_ref()
            && s.as_ref() == "auto"
        {
            return Some(Located::new(DesiredCount::Auto, self.loc(&v.span())));
        }
        if let DeValue::String(s) = v.get_ref()
            && s.parse::<u64>().is_err()
        {
            self.err(
                &v.span(),
                format!("`desired_count` must be a whole number or \"auto\", found \"{s}\""),
                Some("write e.g. `desired_count = 2`, or `desired_count = \"auto\"` for a service another owner scales".to_owned()),
            );
            return None;
        }
        self.count(v, "desired_count", 10_000)
            .map(|l| Located::new(DesiredCount::Fixed(l.value), l.at))
    }

    fn count(&mut self, v: &Value<'_>, key: &str, max: u64) -> Option<Located<u32>> {
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(s) => {
                let hint = if s.parse::<u64>().is_ok() {
                    format!("drop the quotes: `{key} = {s}`")
                } else {
                    format!("write a whole number: `{key} = 2`")
                };
                self.err(
                    &v.span(),
                    format!("`{key}` must be a number, found a string"),
                    Some(hint),
                );
                return None;
            }
            other => {
                self.err(
                    &v.span(),
                    format!("`{key}` must be a whole number, found {}", type_name(other)),
                    Some(format!("write e.g. `{key} = 2`")),
                );
                return None;
            }
        };
        match parsed
            .filter(|n| *n <= max)
            .and_then(|n| u32::try_from(n).ok())
        {
            Some(n) => Some(Located::new(n, self.loc(&v.span()))),
            None => {
                self.err(
                    &v.span(),
                    format!("`{key}` must be between 0 and {max}"),
                    Some(format!("write e.g. `{key} = 2`")),
                );
                None
            }
        }
    }

    fn string_list(&mut self, v: &Value<'_>, key: &str) -> Option<Located<Vec<Located<String>>>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.err(
                &v.span(),
                format!(
                    "`{key}` must be a list of strings, found {}",
                    type_name(v.get_ref())
                ),
                Some(format!("write `{key} = [\"...\"]`")),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            if let Some(s) = self.string(item, key) {
                out.push(s);
            }
        }
        Some(Located::new(out, self.loc(&v.span())))
    }

    /// A duration in stamp's one syntax (`90s`, `10m`, `1h`).
    fn duration(&mut self, v: &Value<'_>, key: &str) -> Option<Located<std::time::Duration>> {
        let s = self.nonempty_string(v, key)?;
        match crate::duration::parse(&s.value) {
            Ok(d) => Some(Located::new(d, s.at)),
            Err(why) => {
                self.err(
                    &v.span(),
                    format!("`{key}`: {why}"),
                    Some(format!("write e.g. `{key} = \"10m\"` (units: ms, s, m, h)")),
                );
                None
            }
        }
    }

    /// `alarms = ["name", …]`: CloudWatch alarm names (1 to 255 characters), each once.
    fn alarm_names(&mut self, v: &Value<'_>) -> Option<Located<Vec<String>>> {
        let list = self.string_list(v, "alarms")?;
        let mut names: Vec<String> = Vec::new();
        for n in list.value {
            if n.value.trim().is_empty() || n.value.chars().count() > 255 {
                self.err(
                    &v.span(),
                    format!("`{}` is not a CloudWatch alarm name", n.value),
                    Some("an alarm name is 1 to 255 characters, as CloudWatch shows it".into()),
                );
                return None;
            }
            if !names.contains(&n.value) {
                names.push(n.value);
            }
        }
        Some(Located::new(names, list.at))
    }

    fn project(&mut self, t: &Table<'_>) -> ProjectSection {
        let mut p = ProjectSection::default();
        for (key, v) in t.iter() {
            match key.get_ref().as_ref() {
                "name" => {
                    p.name = self.nonempty_string(v, "name");
                    if let Some(n) = &p.name
                        && let Err(why) = check_ecs_name(&n.value)
                    {
                        self.err(
                                &v.span(),
                                format!("`{}` is not a valid project name: {why}", n.value),
                                Some("it goes into task definition families and role names; write e.g. `name = \"shop\"`".into()),
                            );
                    }
                }
                "image" => p.image = self.nonempty_string(v, "image"),
                "rings" => {
                    p.rings = self.string_list(v, "rings").map(|l| {
                        Located::new(l.value.into_iter().map(|s| s.value).collect(), l.at)
                    });
                }
                "bake" => p.bake = self.duration(v, "bake"),
                _ => {
                    if let Some(meant) = self.unknown_key(key, "[project]", PROJECT_KEYS) {
                        p.misspelt.insert(meant);
                    }
                }
            }
        }
        p
    }

    /// `[notify]`: only the *name* of the variable holding the webhook URL. A URL written here
    /// would put a secret (a Slack webhook URL grants posting) into the repository.
    fn notify(&mut self, t: &Table<'_>) -> NotifySection {
        let mut n = NotifySection::default();
        for (key, v) in t.iter() {
            let k = key.get_ref().as_ref();
            let url = matches!(v.get_ref(), DeValue::String(s) if looks_like_url(s));
            if url {
                let d = self.src.diag(
                    &v.span(),
                    format!("`{k}` in [notify] is a URL: a webhook URL is a secret and does not belong in the repository"),
                    Some("set the URL in an environment variable (a CI secret) and name it: `webhook_env = \"STAMP_SLACK_WEBHOOK\"`".into()),
                );
                self.diags.push(d.masked());
                n.written = true;
                continue;
            }
            match k {
                "webhook_env" => {
                    n.written = true;
                    n.webhook_env = self.nonempty_string(v, k);
                    if let Some(name) = &n.webhook_env
                        && !is_env_name(&name.value)
                    {
                        self.err(
                            &v.span(),
                            format!("`{}` is not an environment variable name", name.value),
                            Some("letters, digits and `_`, not starting with a digit, e.g. `webhook_env = \"STAMP_SLACK_WEBHOOK\"`".into()),
                        );
                        n.webhook_env = None;
                    }
                }
                _ => {
                    if self.unknown_key(key, "[notify]", NOTIFY_KEYS).is_some() {
                        n.written = true;
                    }
                }
            }
        }
        n
    }

    fn tenant(&mut self, t: &Table<'_>) -> TenantSection {
        let mut s = TenantSection::default();
        for (key, v) in t.iter() {
            let k = key.get_ref().as_ref();
            s.written.insert(k.to_owned());
            let slot = match k {
                "account_id" => &mut s.account_id,
                "region" => &mut s.region,
                "cluster" => &mut s.cluster,
                "deploy_role" => &mut s.deploy_role,
                "inspect_role" => &mut s.inspect_role,
                "external_id" => &mut s.external_id,
                "ring" => &mut s.ring,
                "release" => &mut s.release,
                "vars" => {
                    s.vars = self.vars(v, "[tenant] vars");
                    continue;
                }
                "ephemeral" => {
                    s.ephemeral = self.only_true(v, "ephemeral");
                    continue;
                }
                _ => {
                    s.written
                        .extend(self.unknown_key(key, "[tenant]", TENANT_KEYS));
                    continue;
                }
            };
            *slot = self.nonempty_string(v, k);
        }
        s
    }

    fn schedule(&mut self, t: &Table<'_>) -> ScheduleSection {
        let mut s = ScheduleSection::default();
        for (key, v) in t.iter() {
            match key.get_ref().as_ref() {
                "timezone" => s.timezone = self.nonempty_string(v, "timezone"),
                "windows" => s.windows = self.string_list(v, "windows").map(|l| l.value),
                "freeze" => s.freezes = self.freezes(v),
                _ => drop(self.unknown_key(key, "[schedule]", SCHEDULE_KEYS)),
            }
        }
        s
    }

    fn freezes(&mut self, v: &Value<'_>) -> Vec<Located<FreezeSpec>> {
        const EXAMPLE: &str = "freeze = [{ from = \"2026-12-01T00:00\", to = \"2026-12-04T00:00\", reason = \"year-end sale\" }]";
        let DeValue::Array(items) = v.get_ref() else {
            self.err(
                &v.span(),
                format!(
                    "`freeze` must be a list of tables, found {}",
                    type_name(v.get_ref())
                ),
                Some(format!("write `{EXAMPLE}`")),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items.iter() {
            let DeValue::Table(t) = item.get_ref() else {
                self.err(
                    &item.span(),
                    format!(
                        "each freeze must be a table, found {}",
                        type_name(item.get_ref())
                    ),
                    Some(format!("write `{EXAMPLE}`")),
                );
                continue;
            };
            let (mut from, mut to, mut reason) = (None, None, None);
            let mut misspelt = Vec::new();
            for (key, fv) in t.iter() {
                match key.get_ref().as_ref() {
                    "from" => from = self.freeze_time(fv, "from"),
                    "to" => to = self.freeze_time(fv, "to"),
                    "reason" => reason = self.nonempty_string(fv, "reason"),
                    _ => misspelt.extend(self.unknown_key(key, "a freeze", FREEZE_KEYS)),
                }
            }
            let missing: Vec<&str> = [
                ("from", from.is_none()),
                ("to", to.is_none()),
                ("reason", reason.is_none()),
            ]
            .into_iter()
            .filter_map(|(k, m)| m.then_some(k))
            .collect();
            // Keys that were present but invalid, or misspelt, were reported already; report
            // only absent ones.
            let absent: Vec<&str> = missing
                .iter()
                .copied()
                .filter(|k| !t.iter().any(|(key, _)| key.get_ref() == k))
                .filter(|k| !misspelt.iter().any(|m| m == k))
                .collect();
            if !absent.is_empty() {
                self.err(
                    &item.span(),
                    format!("this freeze has no `{}`", absent.join("`, `")),
                    Some(format!("write `{EXAMPLE}`")),
                );
            }
            if let (Some(from), Some(to), Some(reason)) = (from, to, reason) {
                out.push(Located::new(
                    FreezeSpec {
                        from,
                        to,
                        reason: reason.value,
                    },
                    self.loc(&item.span()),
                ));
            }
        }
        out
    }

    /// Freeze bounds are local date-times; TOML's own datetime syntax is accepted too.
    fn freeze_time(&mut self, v: &Value<'_>, key: &str) -> Option<Located<String>> {
        match v.get_ref() {
            DeValue::Datetime(d) => Some(Located::new(d.to_string(), self.loc(&v.span()))),
            _ => self.string(v, key),
        }
    }

    fn env_from(&mut self, v: &Value<'_>) -> Option<Located<String>> {
        const HINT: &str = "write `env_from = { ssm_path = \"/shop/api/\" }`";
        let DeValue::Table(t) = v.get_ref() else {
            self.err(
                &v.span(),
                format!(
                    "`env_from` must be a table, found {}",
                    type_name(v.get_ref())
                ),
                Some(HINT.into()),
            );
            return None;
        };
        let mut path = None;
        let mut misspelt = false;
        for (key, pv) in t.iter() {
            if key.get_ref() == "ssm_path" {
                path = self.string(pv, "ssm_path");
            } else {
                misspelt |= self.unknown_key(key, "`env_from`", ENV_FROM_KEYS).is_some();
            }
        }
        let Some(path) = path else {
            if !misspelt && !t.iter().any(|(k, _)| k.get_ref() == "ssm_path") {
                self.err(
                    &v.span(),
                    "`env_from` needs an `ssm_path`",
                    Some(HINT.into()),
                );
            }
            return None;
        };
        if !path.value.starts_with('/') || !path.value.ends_with('/') {
            self.err(
                &v.span(),
                format!(
                    "`ssm_path` must start and end with `/`, found `{}`",
                    path.value
                ),
                Some(format!(
                    "write `ssm_path = \"/{}/\"`",
                    path.value.trim_matches('/')
                )),
            );
            return None;
        }
        Some(path)
    }

    fn env_table(&mut self, t: &Table<'_>, where_: &str) -> Vec<EnvEntry> {
        let mut out = Vec::with_capacity(t.len());
        for (key, v) in t.iter() {
            let name = key.get_ref().as_ref();
            if let Err(why) = check_env_name(name) {
                self.err(
                    &key.span(),
                    format!("`{name}` in {where_} is not a valid environment variable name: {why}"),
                    Some(format!(
                        "use letters, digits and `_`, not starting with a digit, e.g. `{}`",
                        suggest_env_name(name)
                    )),
                );
                continue;
            }
            if let Some(spec) = self.value_spec(v, name) {
                out.push(EnvEntry {
                    name: name.to_owned(),
                    spec,
                    at: self.loc(&key.span()),
                });
            }
        }
        out
    }

    /// One `env` value: a string, or an inline table in one of the value forms.
    fn value_spec(&mut self, v: &Value<'_>, name: &str) -> Option<ValueSpec> {
        match v.get_ref() {
            DeValue::String(s) if s.contains('\0') => {
                self.err(
                    &v.span(),
                    format!("`{name}` holds a NUL character, which no process environment can"),
                    Some("remove the `\\u0000` from the value".into()),
                );
                None
            }
            DeValue::String(s) => Some(ValueSpec::Literal {
                value: s.to_string(),
            }),
            DeValue::Table(t) => self.value_form(t, &v.span(), name, true),
            other @ (DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_)) => {
                let raw = self.src.text.get(v.span()).unwrap_or("").trim().to_owned();
                self.err(
                    &v.span(),
                    format!(
                        "`{name}` is {}, but environment values are strings",
                        type_name(other)
                    ),
                    Some(format!("quote it: `{name} = \"{raw}\"`")),
                );
                None
            }
            other => {
                self.err(
                    &v.span(),
                    format!(
                        "`{name}` is {}, but environment values are strings or value forms",
                        type_name(other)
                    ),
                    Some(value_forms_hint(name)),
                );
                None
            }
        }
    }

    /// Reads `{ ssm = .. [, version = N] }`, `{ secret = .. }`, `{ cfn_output = "STACK.Key" }`
    /// or `{ unset = true }`. `for_env` allows the forms that only make sense in `env`.
    fn value_form(
        &mut self,
        t: &Table<'_>,
        span: &Range<usize>,
        name: &str,
        for_env: bool,
    ) -> Option<ValueSpec> {
        let mut form: Option<(&str, &Value<'_>)> = None;
        let mut version: Option<&Value<'_>> = None;
        let mut sm_keys: Vec<(&'static str, &Value<'_>)> = Vec::new();
        let mut bad = false;
        for (key, v) in t.iter() {
            let k = key.get_ref().as_ref();
            match k {
                "ssm" | "secret" | "secretsmanager" | "cfn_output" | "unset" => {
                    if let Some((prev, _)) = form {
                        self.err(
                            &key.span(),
                            format!("`{name}` has both `{prev}` and `{k}`; a value has exactly one source"),
                            Some(value_forms_hint(name)),
                        );
                        bad = true;
                    } else {
                        form = Some((key_static(k), v));
                    }
                }
                "version" => version = Some(v),
                k if SM_KEYS.contains(&k) => {
                    sm_keys.push((
                        SM_KEYS.iter().find(|s| **s == k).copied().unwrap_or("key"),
                        v,
                    ));
                }
                _ => {
                    self.unknown_key(key, &format!("the value of `{name}`"), VALUE_FORM_KEYS);
                    bad = true;
                }
            }
        }
        let Some((kind, v)) = form else {
            if !bad {
                self.err(
                    span,
                    format!("`{name}` names no value source"),
                    Some(value_forms_hint(name)),
                );
            }
            return None;
        };
        if bad {
            return None;
        }
        if kind == "secretsmanager" || !sm_keys.is_empty() {
            return self.secrets_manager(kind, v, &sm_keys, version, span, name, for_env);
        }
        let version = match version {
            None => None,
            Some(vv) if kind == "ssm" => match vv.get_ref() {
                DeValue::Integer(i) => match u64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) if n >= 1 => Some(n),
                    _ => {
                        self.err(
                            &vv.span(),
                            "`version` must be 1 or more",
                            Some(
                                "SSM numbers versions from 1; `stamp params` shows the current one"
                                    .into(),
                            ),
                        );
                        return None;
                    }
                },
                other => {
                    self.err(
                        &vv.span(),
                        format!(
                            "`version` must be a whole number, found {}",
                            type_name(other)
                        ),
                        Some("write e.g. `version = 3`".into()),
                    );
                    return None;
                }
            },
            Some(vv) => {
                self.err(
                    &vv.span(),
                    format!("`version` goes with `ssm`, not with `{kind}`"),
                    Some(if kind == "secret" {
                        "ECS always reads an SSM secret's current version; remove `version` (Secrets Manager takes `version_stage` or `version_id`)".into()
                    } else {
                        "remove `version`".into()
                    }),
                );
                return None;
            }
        };
        match kind {
            "unset" => match v.get_ref() {
                DeValue::Boolean(true) if for_env => Some(ValueSpec::Unset),
                DeValue::Boolean(true) => {
                    self.err(
                        span,
                        "`unset` is only for environment variables",
                        Some("to drop a template value, delete its line from `vars`".into()),
                    );
                    None
                }
                _ => {
                    self.err(
                        &v.span(),
                        "`unset` only takes `true`",
                        Some(format!(
                            "write `{name} = {{ unset = true }}`, or delete the line to inherit"
                        )),
                    );
                    None
                }
            },
            "secret" if !for_env => {
                self.err(
                    span,
                    format!("`{name}` is a secret, but template vars are rendered into the task definition in plain text"),
                    Some("put secrets in `env` as `{ secret = \"/path\" }`: ECS then fetches them at task start".into()),
                );
                None
            }
            _ => {
                let s = self.string(v, kind)?;
                let value = s.value;
                match kind {
                    "ssm" | "secret" => {
                        if kind == "secret" && value.starts_with("arn:") {
                            return self.secret_arn(value, &v.span());
                        }
                        if let Err(why) = check_parameter_name(&value) {
                            self.err(
                                &v.span(),
                                format!("`{value}` is not a valid SSM parameter name: {why}"),
                                Some("write a full path such as `/shop/acme/api_base`".into()),
                            );
                            return None;
                        }
                        if kind == "ssm" {
                            Some(ValueSpec::Ssm {
                                name: value,
                                version,
                            })
                        } else {
                            Some(ValueSpec::Secret { name: value })
                        }
                    }
                    _ => match value.split_once('.') {
                        Some((stack, output))
                            if !stack.is_empty() && !output.is_empty() && !output.contains('.') =>
                        {
                            Some(ValueSpec::CfnOutput {
                                stack: stack.to_owned(),
                                output: output.to_owned(),
                            })
                        }
                        _ => {
                            self.err(
                                &v.span(),
                                format!("`cfn_output` must be `STACK.OutputKey`, found `{value}`"),
                                Some(
                                    "write e.g. `{ cfn_output = \"network.PrivateSubnets\" }`"
                                        .into(),
                                ),
                            );
                            None
                        }
                    },
                }
            }
        }
    }

    /// `{ secret = "arn:…:secretsmanager:…:secret:NAME-AbCdEf" }`: a whole Secrets Manager secret.
    fn secret_arn(&mut self, value: String, span: &Range<usize>) -> Option<ValueSpec> {
        if let Err(why) = check_secret_arn(&value) {
            self.err(
                span,
                format!("`{value}` is not a Secrets Manager secret ARN: {why}"),
                Some("write `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf`, or `{ secretsmanager = \"NAME\" }`".into()),
            );
            return None;
        }
        Some(ValueSpec::SecretsManager(SmRef {
            secret: value,
            key: None,
            version_stage: None,
            version_id: None,
        }))
    }

    /// `{ secretsmanager = "name" [, key = "k"] [, version_stage = "S" | version_id = "I"] }`.
    #[allow(clippy::too_many_arguments)]
    fn secrets_manager(
        &mut self,
        kind: &str,
        v: &Value<'_>,
        sm_keys: &[(&'static str, &Value<'_>)],
        version: Option<&Value<'_>>,
        span: &Range<usize>,
        name: &str,
        for_env: bool,
    ) -> Option<ValueSpec> {
        if kind != "secretsmanager" {
            let (k, kv) = sm_keys[0];
            self.err(
                &kv.span(),
                format!("`{k}` goes with `secretsmanager`, not with `{kind}`"),
                Some(format!(
                    "write `{name} = {{ secretsmanager = \"NAME\", {k} = … }}`"
                )),
            );
            return None;
        }
        if let Some(vv) = version {
            self.err(
                &vv.span(),
                "`version` goes with `ssm`, not with `secretsmanager`",
                Some("write `version_stage = \"AWSPREVIOUS\"` or `version_id = \"…\"`".into()),
            );
            return None;
        }
        if !for_env {
            self.err(
                span,
                format!("`{name}` is a secret, but template vars are rendered into the task definition in plain text"),
                Some("put secrets in `env` as `{ secretsmanager = \"NAME\" }`: ECS then fetches them at task start".into()),
            );
            return None;
        }
        let secret = self.string(v, "secretsmanager")?.value;
        if secret.is_empty() || (secret.starts_with("arn:") && check_secret_arn(&secret).is_err()) {
            self.err(
                &v.span(),
                format!("`{secret}` is not a Secrets Manager secret name or ARN"),
                Some("write the secret's name, e.g. `{ secretsmanager = \"acme/db\" }`, or its full ARN".into()),
            );
            return None;
        }
        let mut r = SmRef {
            secret,
            key: None,
            version_stage: None,
            version_id: None,
        };
        for (k, kv) in sm_keys {
            let text = self.string(kv, k)?.value;
            if text.is_empty() || text.contains(':') {
                self.err(
                    &kv.span(),
                    format!("`{k}` must be non-empty and without `:`, found `{text}`"),
                    Some(
                        "ECS joins the reference with `:`; write e.g. `key = \"password\"`".into(),
                    ),
                );
                return None;
            }
            match *k {
                "key" => r.key = Some(text),
                "version_stage" => r.version_stage = Some(text),
                _ => r.version_id = Some(text),
            }
        }
        if r.version_stage.is_some() && r.version_id.is_some() {
            self.err(
                span,
                format!("`{name}` has both `version_stage` and `version_id`"),
                Some("a secret version is named one way: keep one of them".into()),
            );
            return None;
        }
        Some(ValueSpec::SecretsManager(r))
    }

    fn vars(&mut self, v: &Value<'_>, where_: &str) -> VarBlock {
        let Some(t) = self.table(v, where_) else {
            return VarBlock::default();
        };
        let mut out = Vec::new();
        for (key, vv) in t.iter() {
            let name = key.get_ref().to_string();
            let value = match vv.get_ref() {
                DeValue::Table(inner)
                    if inner.iter().any(|(k, _)| {
                        let k = k.get_ref().as_ref();
                        // `key` and versions alone leave a JSON table a JSON table.
                        VALUE_FORM_KEYS.contains(&k) && !SM_KEYS.contains(&k)
                    }) =>
                {
                    match self.value_form(inner, &vv.span(), &name, false) {
                        Some(ValueSpec::Ssm { name, version }) => VarValue::Ssm { name, version },
                        Some(ValueSpec::CfnOutput { stack, output }) => {
                            VarValue::CfnOutput { stack, output }
                        }
                        _ => continue,
                    }
                }
                other => match to_json(other) {
                    Some(j) => VarValue::Json(j),
                    None => {
                        self.err(
                            &vv.span(),
                            format!("`{name}` has a value that cannot be passed to a template"),
                            Some("numbers must fit in 64 bits and be finite; quote anything else as a string".into()),
                        );
                        continue;
                    }
                },
            };
            out.push(VarEntry {
                name,
                value,
                at: self.loc(&key.span()),
            });
        }
        VarBlock(out)
    }

    /// `before_deploy = { command = [...], container = "app", timeout = "15m" }`, or
    /// `{ unset = true }` (a tenant removing the hook its defaults give).
    fn before_deploy(&mut self, v: &Value<'_>) -> Option<Located<HookSpec>> {
        const HINT: &str = "write `before_deploy = { command = [\"./migrate\", \"up\"], container = \"app\", timeout = \"15m\" }`, or `{ unset = true }`";
        let DeValue::Table(t) = v.get_ref() else {
            self.err(
                &v.span(),
                format!(
                    "`before_deploy` must be a table, found {}",
                    type_name(v.get_ref())
                ),
                Some(HINT.into()),
            );
            return None;
        };
        let at = self.loc(&v.span());
        let (mut command, mut container, mut timeout) = (None, None, None);
        let (mut unset, mut wrong) = (false, false);
        for (key, hv) in t.iter() {
            match key.get_ref().as_ref() {
                "command" => command = self.hook_command(hv),
                "container" => container = self.nonempty_string(hv, "container"),
                "timeout" => timeout = self.hook_timeout(hv),
                "unset" if matches!(hv.get_ref(), DeValue::Boolean(true)) => unset = true,
                "unset" => self.err(
                    &hv.span(),
                    "`unset` can only be `true`",
                    Some("write `before_deploy = { unset = true }`, or leave the key out".into()),
                ),
                _ => {
                    drop(self.unknown_key(key, "`before_deploy`", HOOK_KEYS));
                    wrong = true;
                }
            }
        }
        if unset {
            if t.len() > 1 {
                self.err(
                    &v.span(),
                    "`before_deploy = { unset = true }` takes no other key",
                    Some(
                        "either remove the inherited hook, or write a hook of this file's own"
                            .into(),
                    ),
                );
            }
            return Some(Located::new(HookSpec::Unset, at));
        }
        let Some(command) = command else {
            if !wrong && !t.iter().any(|(k, _)| k.get_ref() == "command") {
                self.err(
                    &v.span(),
                    "`before_deploy` needs a `command`",
                    Some(HINT.into()),
                );
            }
            return None;
        };
        Some(Located::new(
            HookSpec::Run(Hook {
                command,
                container: container.map(|c| c.value),
                timeout_secs: timeout.unwrap_or(Hook::DEFAULT_TIMEOUT_SECS),
            }),
            at,
        ))
    }

    /// A hook's command: a non-empty list of strings, the first not blank.
    fn hook_command(&mut self, v: &Value<'_>) -> Option<Vec<String>> {
        let list = self.string_list(v, "command")?;
        let items: Vec<String> = list.value.into_iter().map(|s| s.value).collect();
        if items.first().is_none_or(|first| first.trim().is_empty()) {
            self.err(
                &v.span(),
                "`command` must name a program: the list is empty or starts with a blank",
                Some("write e.g. `command = [\"./migrate\", \"up\"]`".into()),
            );
            return None;
        }
        Some(items)
    }

    /// A hook's timeout: `90s`, `15m`, `1h`, at least a second and at most 24h.
    fn hook_timeout(&mut self, v: &Value<'_>) -> Option<u64> {
        let s = self.string(v, "timeout")?;
        match crate::cli::duration(&s.value) {
            Ok(d) if d.as_secs() >= 1 => Some(d.as_secs()),
            Ok(_) => {
                self.err(
                    &v.span(),
                    format!("`timeout = \"{}\"` is shorter than a second", s.value),
                    Some("write e.g. `timeout = \"15m\"`".into()),
                );
                None
            }
            Err(why) => {
                self.err(
                    &v.span(),
                    why,
                    Some("write e.g. `timeout = \"15m\"`".into()),
                );
                None
            }
        }
    }

    fn services(&mut self, t: &Table<'_>) -> BTreeMap<String, ServiceSection> {
        let mut out = BTreeMap::new();
        for (key, v) in t.iter() {
            let name = key.get_ref().to_string();
            if let Err(why) = check_service_name(&name) {
                self.err(
                    &key.span(),
                    format!("`{name}` is not a valid service name: {why}"),
                    Some("use lowercase letters, digits and `-`, e.g. `api`".into()),
                );
                continue;
            }
            let Some(st) = self.table(v, &format!("[services.{name}]")) else {
                continue;
            };
            let mut s = ServiceSection {
                at: self.loc(&key.span()),
                template: None,
                desired_count: None,
                cpu: None,
                memory: None,
                inject_into: None,
                ecs_service: None,
                alarms: None,
                before_deploy: None,
                env: EnvBlock::default(),
                vars: VarBlock::default(),
            };
            let where_ = format!("[services.{name}]");
            for (k, sv) in st.iter() {
                match k.get_ref().as_ref() {
                    "template" => s.template = self.nonempty_string(sv, "template"),
                    "desired_count" => s.desired_count = self.desired_count(sv),
                    // ECS's own ceilings: 16 vCPU (16384 units) and 120 GiB.
                    "cpu" => s.cpu = self.count(sv, "cpu", 16_384),
                    "memory" => s.memory = self.count(sv, "memory", 122_880),
                    "inject_into" => {
                        s.inject_into = self.string_list(sv, "inject_into").map(|l| {
                            Located::new(l.value.into_iter().map(|s| s.value).collect(), l.at)
                        });
                    }
                    "alarms" => s.alarms = self.alarm_names(sv),
                    "ecs_service" => {
                        s.ecs_service = self.nonempty_string(sv, "ecs_service");
                        if let Some(n) = &s.ecs_service
                            && let Err(why) = check_ecs_name(&n.value)
                        {
                            self.err(
                                &sv.span(),
                                format!("`{}` is not a valid ECS service name: {why}", n.value),
                                Some("use letters, digits, `-` and `_`, e.g. `shop-api`".into()),
                            );
                            s.ecs_service = None;
                        }
                    }
                    "before_deploy" => s.before_deploy = self.before_deploy(sv),
                    "env_from" => s.env.import = self.env_from(sv),
                    "vars" => s.vars = self.vars(sv, &format!("{where_} vars")),
                    "env" => {
                        let label = format!("[services.{name}.env]");
                        if let Some(et) = self.table(sv, &label) {
                            s.env.vars = self.env_table(et, &label);
                        }
                    }
                    _ => drop(self.unknown_key(k, &where_, SERVICE_KEYS)),
                }
            }
            out.insert(name, s);
        }
        out
    }
}

impl Walker<'_> {
    /// `[infra.STACK]` tables: template, stack name pattern, parameters, tags, capabilities.
    fn infra(&mut self, t: &Table<'_>) -> BTreeMap<String, InfraSection> {
        let mut out = BTreeMap::new();
        for (key, v) in t.iter() {
            let name = key.get_ref().to_string();
            if let Err(why) = check_plain_name(&name, 64) {
                self.err(
                    &key.span(),
                    format!("`{name}` is not a valid stack key: {why}"),
                    Some("use lowercase letters, digits and `-`, e.g. `[infra.app]`".into()),
                );
                continue;
            }
            let where_ = format!("[infra.{name}]");
            let Some(st) = self.table(v, &where_) else {
                continue;
            };
            let mut s = InfraSection {
                at: self.loc(&key.span()),
                template: None,
                stack_name: None,
                parameters: Vec::new(),
                tags: BTreeMap::new(),
                capabilities: None,
            };
            for (k, sv) in st.iter() {
                match k.get_ref().as_ref() {
                    "template" => s.template = self.infra_template(sv),
                    "stack_name" => s.stack_name = self.nonempty_string(sv, "stack_name"),
                    "parameters" => {
                        let label = format!("[infra.{name}.parameters]");
                        if let Some(pt) = self.table(sv, &label) {
                            s.parameters = self.parameters(pt, &label);
                        }
                    }
                    "tags" => {
                        let label = format!("[infra.{name}.tags]");
                        if let Some(tt) = self.table(sv, &label) {
                            for (tk, tv) in tt.iter() {
                                let tag = tk.get_ref().to_string();
                                if tag.is_empty() || tag.len() > 128 || tag.starts_with("aws:") {
                                    self.err(
                                        &tk.span(),
                                        format!("`{tag}` cannot be a stack tag key"),
                                        Some("tag keys have 1 to 128 characters and do not start with `aws:`".into()),
                                    );
                                    continue;
                                }
                                if let Some(val) = self.string(tv, &tag) {
                                    s.tags.insert(tag, val);
                                }
                            }
                        }
                    }
                    "capabilities" => s.capabilities = self.capabilities(sv),
                    _ => drop(self.unknown_key(k, &where_, INFRA_KEYS)),
                }
            }
            out.insert(name, s);
        }
        out
    }

    fn infra_template(&mut self, v: &Value<'_>) -> Option<Located<String>> {
        let t = self.nonempty_string(v, "template")?;
        let lower = t.value.to_ascii_lowercase();
        if [".yaml", ".yml", ".json"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            Some(t)
        } else {
            self.err(
                &v.span(),
                format!("`{}` is not a CloudFormation template file name", t.value),
                Some("a stack template is YAML or JSON in templates/, e.g. `template = \"app.cfn.yaml\"`".into()),
            );
            None
        }
    }

    /// Stack parameters: CloudFormation logical names (letters and digits), values as in `env`.
    fn parameters(&mut self, t: &Table<'_>, where_: &str) -> Vec<EnvEntry> {
        let mut out = Vec::with_capacity(t.len());
        for (key, v) in t.iter() {
            let name = key.get_ref().as_ref();
            if name.is_empty()
                || name.len() > 255
                || !name.chars().all(|c| c.is_ascii_alphanumeric())
            {
                let suggestion: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
                self.err(
                    &key.span(),
                    format!("`{name}` in {where_} is not a CloudFormation parameter name"),
                    Some(format!(
                        "parameter names are letters and digits only, e.g. `{}`",
                        if suggestion.is_empty() {
                            "LogRetentionDays"
                        } else {
                            &suggestion
                        }
                    )),
                );
                continue;
            }
            if let Some(spec) = self.value_spec(v, name) {
                out.push(EnvEntry {
                    name: name.to_owned(),
                    spec,
                    at: self.loc(&key.span()),
                });
            }
        }
        out
    }

    fn capabilities(&mut self, v: &Value<'_>) -> Option<Located<Vec<String>>> {
        let list = self.string_list(v, "capabilities")?;
        let mut ok = Vec::new();
        for c in list.value {
            if CAPABILITIES.contains(&c.value.as_str()) {
                ok.push(c.value);
            } else {
                let hint = match did_you_mean(&c.value, CAPABILITIES.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!("the capabilities are: {}", CAPABILITIES.join(", ")),
                };
                self.diags.push(Diagnostic::at(
                    &c.at,
                    format!("`{}` is not a CloudFormation capability", c.value),
                    Some(hint),
                ));
            }
        }
        Some(Located::new(ok, list.at))
    }
}

fn key_static(k: &str) -> &'static str {
    match k {
        "ssm" => "ssm",
        "secret" => "secret",
        "secretsmanager" => "secretsmanager",
        "cfn_output" => "cfn_output",
        _ => "unset",
    }
}

fn value_forms_hint(name: &str) -> String {
    format!(
        "write one of: `{name} = \"text\"`, `{name} = {{ ssm = \"/path\" }}`, `{name} = {{ secret = \"/path\" }}`, `{name} = {{ secretsmanager = \"NAME\", key = \"k\" }}`, `{name} = {{ cfn_output = \"STACK.Key\" }}`, `{name} = {{ unset = true }}`"
    )
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a number",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

fn to_json(v: &DeValue<'_>) -> Option<serde_json::Value> {
    Some(match v {
        DeValue::String(s) => serde_json::Value::String(s.to_string()),
        DeValue::Integer(i) => {
            serde_json::Value::from(i64::from_str_radix(i.as_str(), i.radix()).ok()?)
        }
        DeValue::Float(f) => serde_json::Value::from(
            f.as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())?,
        ),
        DeValue::Boolean(b) => serde_json::Value::Bool(*b),
        DeValue::Datetime(d) => serde_json::Value::String(d.to_string()),
        DeValue::Array(a) => serde_json::Value::Array(
            a.iter()
                .map(|x| to_json(x.get_ref()))
                .collect::<Option<_>>()?,
        ),
        DeValue::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, x)| Some((k.get_ref().to_string(), to_json(x.get_ref())?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// The portable rule for environment variable names: what ECS, Docker and shells all accept.
pub fn check_env_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("it is empty"),
        Some(c) if c.is_ascii_digit() => Err("it starts with a digit"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            Err("it has a character other than letters, digits and `_`")
        }
        _ if chars.any(|c| !(c.is_ascii_alphanumeric() || c == '_')) => {
            Err("it has a character other than letters, digits and `_`")
        }
        _ if name.len() > 255 => Err("it is longer than 255 characters"),
        _ => Ok(()),
    }
}

fn suggest_env_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// A Secrets Manager secret ARN: `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`.
fn check_secret_arn(arn: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", p, "secretsmanager", region, account, "secret", name]
            if !p.is_empty() && !region.is_empty() && !name.is_empty() =>
        {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                Err("the account must be 12 digits")
            } else if name.contains(':') {
                Err("a JSON key or version goes in `secretsmanager = …, key = …`, not in the ARN")
            } else {
                Ok(())
            }
        }
        _ => Err("it must read `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`"),
    }
}

/// SSM's rule for parameter names (fully qualified, as stamp always writes them).
pub fn check_parameter_name(name: &str) -> Result<(), &'static str> {
    if !name.starts_with('/') {
        return Err("it must start with `/`");
    }
    if name.ends_with('/') {
        return Err("it must not end with `/`");
    }
    if name.len() > 1011 {
        return Err("it is longer than 1011 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        return Err("only letters, digits and `_ . - /` are allowed");
    }
    if name.to_ascii_lowercase().starts_with("/aws")
        || name.to_ascii_lowercase().starts_with("/ssm")
    {
        return Err("names under `/aws` and `/ssm` are reserved by AWS");
    }
    Ok(())
}

/// ECS cluster, service and task definition family names: 1 to 255 letters, digits, `-`, `_`.
pub fn check_ecs_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 255 {
        return Err("it must have 1 to 255 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("only letters, digits, `-` and `_` are allowed");
    }
    Ok(())
}

fn check_service_name(name: &str) -> Result<(), String> {
    check_plain_name(name, 64)
}

/// Names that end up in AWS resource names, session names and tags: lowercase letters, digits
/// and `-`, starting with a letter or digit.
pub fn check_plain_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() || name.len() > max {
        return Err(format!("it must have 1 to {max} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err("it must start with a lowercase letter or digit".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("only lowercase letters, digits and `-` are allowed".into());
    }
    Ok(())
}

/// `https://…`: a value that is a URL rather than the name of a variable.
fn looks_like_url(s: &str) -> bool {
    s.contains("://")
}

/// A POSIX environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::diag::Diagnostic;

    fn parse(kind: FileKind, text: &str) -> (Option<FileLayer>, Diagnostics) {
        let src = SourceFile::new("tenants/x.toml", text.to_owned());
        let mut d = Diagnostics::default();
        let l = parse_file(&src, kind, "x", &mut d);
        (l, d)
    }

    fn only_error(kind: FileKind, text: &str) -> Diagnostic {
        let (_, d) = parse(kind, text);
        assert_eq!(d.len(), 1, "expected exactly one problem, got: {d}");
        d.0.into_iter().next().expect("one diagnostic")
    }

    #[test]
    fn reads_every_value_form() {
        let (l, d) = parse(
            FileKind::Tenant,
            r#"
[env]
A = "x"
B = { ssm = "/p/b" }
C = { ssm = "/p/c", version = 3 }
D = { secret = "/p/d" }
E = { cfn_output = "net.Subnets" }
F = { unset = true }
G = { secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/db-AbCdEf" }
H = { secretsmanager = "acme/db", key = "password", version_stage = "AWSPREVIOUS" }
"#,
        );
        assert!(d.is_empty(), "{d}");
        let specs: Vec<_> = l
            .expect("parsed")
            .env
            .vars
            .into_iter()
            .map(|e| (e.name, e.spec))
            .collect();
        assert_eq!(
            specs,
            vec![
                ("A".into(), ValueSpec::Literal { value: "x".into() }),
                (
                    "B".into(),
                    ValueSpec::Ssm {
                        name: "/p/b".into(),
                        version: None
                    }
                ),
                (
                    "C".into(),
                    ValueSpec::Ssm {
                        name: "/p/c".into(),
                        version: Some(3)
                    }
                ),
                (
                    "D".into(),
                    ValueSpec::Secret {
                        name: "/p/d".into()
                    }
                ),
                (
                    "E".into(),
                    ValueSpec::CfnOutput {
                        stack: "net".into(),
                        output: "Subnets".into()
                    }
                ),
                ("F".into(), ValueSpec::Unset),
                (
                    "G".into(),
                    ValueSpec::SecretsManager(SmRef {
                        secret:
                            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/db-AbCdEf"
                                .into(),
                        key: None,
                        version_stage: None,
                        version_id: None,
                    })
                ),
                (
                    "H".into(),
                    ValueSpec::SecretsManager(SmRef {
                        secret: "acme/db".into(),
                        key: Some("password".into()),
                        version_stage: Some("AWSPREVIOUS".into()),
                        version_id: None,
                    })
                ),
            ]
        );
    }

    #[test]
    fn desired_count_is_a_number_or_auto() {
        let (l, d) = parse(
            FileKind::Tenant,
            "[services.api]\ndesired_count = \"auto\"\n[services.worker]\ndesired_count = 3\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let l = l.expect("parsed");
        let count = |s: &str| l.services[s].desired_count.as_ref().map(|c| c.value);
        assert_eq!(count("api"), Some(DesiredCount::Auto));
        assert_eq!(count("worker"), Some(DesiredCount::Fixed(3)));
        let e = only_error(
            FileKind::Tenant,
            "[services.api]\ndesired_count = \"automatic\"\n",
        );
        assert_eq!(
            e.message,
            "`desired_count` must be a whole number or \"auto\", found \"automatic\""
        );
        let e = only_error(FileKind::Tenant, "[services.api]\ndesired_count = \"3\"\n");
        assert_eq!(
            e.hint.as_deref(),
            Some("drop the quotes: `desired_count = 3`")
        );
    }

    #[test]
    fn env_entries_carry_their_line() {
        let (l, _) = parse(FileKind::Tenant, "\n[env]\n\nA = \"x\"\n");
        assert_eq!(l.expect("parsed").env.vars[0].at.line, 4);
    }

    /// The gate: every key the loader accepts has a row in keys.rs (which the schema, the
    /// editors and the README are generated from), and every row is a key the loader accepts.
    #[test]
    fn every_key_the_loader_knows_has_a_row_in_the_key_table() {
        use super::super::keys::{Files, children, value_form_keys};
        fn sorted<'a>(v: &[&'a str]) -> Vec<&'a str> {
            let mut v = v.to_vec();
            v.sort_unstable();
            v
        }
        for (loader, table, files) in [
            (TOP_KEYS_DEFAULTS, "", Files::DefaultsOnly),
            (TOP_KEYS_TENANT, "", Files::TenantOnly),
            (PROJECT_KEYS, "project", Files::DefaultsOnly),
            (NOTIFY_KEYS, "notify", Files::DefaultsOnly),
            (TENANT_KEYS, "tenant", Files::Both),
            (SCHEDULE_KEYS, "schedule", Files::Both),
            (FREEZE_KEYS, "schedule.freeze[]", Files::Both),
            (SERVICE_KEYS, "services.*", Files::Both),
            (INFRA_KEYS, "infra.*", Files::Both),
            (ENV_FROM_KEYS, "env_from", Files::Both),
            (ENV_FROM_KEYS, "services.*.env_from", Files::Both),
            (HOOK_KEYS, "services.*.before_deploy", Files::Both),
        ] {
            assert_eq!(
                sorted(loader),
                sorted(&children(table, files)),
                "the loader's keys of `{table}` differ from src/dsl/keys.rs: add a row there for a new key"
            );
        }
        assert_eq!(
            sorted(VALUE_FORM_KEYS),
            sorted(&value_form_keys()),
            "the loader's value forms differ from VALUE_FORMS in src/dsl/keys.rs"
        );
    }

    #[test]
    fn a_webhook_url_in_notify_is_refused_naming_the_variable_to_use() {
        let d = only_error(
            FileKind::Defaults,
            "[notify]\nwebhook = \"https://hooks.slack.com/services/T0/B0/XYZ\"\n",
        );
        assert_eq!((d.line, d.column), (Some(2), Some(11)));
        assert!(
            d.message.contains("a webhook URL is a secret"),
            "{}",
            d.message
        );
        assert!(!d.to_string().contains("XYZ"), "the URL is not shown: {d}");
        assert!(d.to_string().contains("webhook = \"…\""), "{d}");
        assert!(
            d.hint
                .as_deref()
                .is_some_and(|h| h.contains("webhook_env = "))
        );
        let d = only_error(
            FileKind::Defaults,
            "[notify]\nwebhook_env = \"https://hooks.slack.com/services/T0/B0/XYZ\"\n",
        );
        assert!(d.message.contains("is a URL"), "{}", d.message);
    }

    #[test]
    fn notify_names_an_environment_variable_in_defaults_only() {
        let d = only_error(FileKind::Defaults, "[notify]\nwebhook_env = \"1-BAD\"\n");
        assert_eq!(d.message, "`1-BAD` is not an environment variable name");
        let d = only_error(FileKind::Tenant, "[notify]\nwebhook_env = \"HOOK\"\n");
        assert_eq!(d.message, "`[notify]` belongs in tenants/_defaults.toml");
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let d = only_error(FileKind::Tenant, "[services.api]\ndesired_cont = 3\n");
        assert_eq!((d.line, d.column), (Some(2), Some(1)));
        assert_eq!(d.hint.as_deref(), Some("did you mean `desired_count`?"));
    }

    #[test]
    fn numbers_in_env_must_be_quoted() {
        let d = only_error(FileKind::Tenant, "[env]\nPORT = 8080\n");
        assert_eq!(d.line, Some(2));
        assert_eq!(d.hint.as_deref(), Some("quote it: `PORT = \"8080\"`"));
    }

    #[test]
    fn all_errors_of_a_file_are_reported() {
        let (_, d) = parse(
            FileKind::Tenant,
            "[tenant]\nregion = 1\nfoo = \"x\"\n[env]\n1X = \"y\"\n",
        );
        assert_eq!(d.len(), 3, "{d}");
    }

    #[test]
    fn project_is_rejected_in_a_tenant_file() {
        let d = only_error(FileKind::Tenant, "[project]\nname = \"x\"\n");
        assert!(d.message.contains("_defaults.toml"), "{}", d.message);
    }

    #[test]
    fn malformed_value_forms_are_explained() {
        for (text, needle) in [
            (
                "[env]\nA = { ssm = \"/a\", secret = \"/b\" }\n",
                "exactly one source",
            ),
            ("[env]\nA = { sssm = \"/a\" }\n", "did you mean `ssm`?"),
            (
                "[env]\nA = { secret = \"/a\", version = 2 }\n",
                "`version` goes with `ssm`",
            ),
            ("[env]\nA = { unset = false }\n", "only takes `true`"),
            ("[env]\nA = { cfn_output = \"nodot\" }\n", "STACK.OutputKey"),
            ("[env]\nA = { ssm = \"relative\" }\n", "start with `/`"),
            ("[env]\nA = {}\n", "names no value source"),
            (
                "[env]\nA = { secret = \"arn:aws:ssm:eu-west-1:123456789012:parameter/x\" }\n",
                "not a Secrets Manager secret ARN",
            ),
            (
                "[env]\nA = { secret = \"/a\", key = \"k\" }\n",
                "`key` goes with `secretsmanager`, not with `secret`",
            ),
            (
                "[env]\nA = { secretsmanager = \"a\", version_stage = \"S\", version_id = \"I\" }\n",
                "both `version_stage` and `version_id`",
            ),
            (
                "[env]\nA = { secretsmanager = \"a\", key = \"x:y\" }\n",
                "without `:`",
            ),
            (
                "[env]\nA = { secretsmanager = \"a\", version = 2 }\n",
                "`version` goes with `ssm`, not with `secretsmanager`",
            ),
            (
                "[tenant]\nvars = { a = { secretsmanager = \"a\" } }\n",
                "rendered into the task definition in plain text",
            ),
        ] {
            let d = only_error(FileKind::Tenant, text);
            let shown = d.to_string();
            assert!(shown.contains(needle), "{text:?}: {shown}");
        }
    }

    #[test]
    fn invalid_toml_is_a_diagnostic_not_a_panic() {
        let d = only_error(FileKind::Tenant, "[env\nA = \"x\"\n");
        assert_eq!(d.line, Some(1));
    }

    #[test]
    fn vars_keep_types_and_references() {
        let (l, d) = parse(
            FileKind::Tenant,
            "[tenant]\nvars = { port = 8080, on = true, sub = { cfn_output = \"net.Subnets\" } }\n",
        );
        assert!(d.is_empty(), "{d}");
        let vars = l.expect("parsed").tenant.vars.0;
        assert_eq!(vars[0].value, VarValue::Json(serde_json::json!(true)));
        assert_eq!(vars[1].value, VarValue::Json(serde_json::json!(8080)));
        assert_eq!(
            vars[2].value,
            VarValue::CfnOutput {
                stack: "net".into(),
                output: "Subnets".into()
            }
        );
    }

    #[test]
    fn env_names_follow_the_portable_rule() {
        assert!(check_env_name("API_BASE").is_ok());
        assert!(check_env_name("_x1").is_ok());
        assert!(check_env_name("1X").is_err());
        assert!(check_env_name("A-B").is_err());
        assert!(check_env_name("").is_err());
        assert_eq!(suggest_env_name("api-base"), "API_BASE");
    }

    mod edits {
        use super::*;
        use proptest::prelude::*;

        const FILES: [(&str, FileKind); 3] = [
            (
                include_str!("../../tenants/_defaults.toml"),
                FileKind::Defaults,
            ),
            (include_str!("../../tenants/acme.toml"), FileKind::Tenant),
            (include_str!("../../tenants/globex.toml"), FileKind::Tenant),
        ];

        fn boundary(text: &str, mut i: usize) -> usize {
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// One random edit of a real tenant file (some bytes cut, some text put in,
            /// including TOML's own punctuation): parsed, or every problem reported with its
            /// line in the file, a message and a hint. Never a panic.
            #[test]
            fn any_edit_of_a_tenant_file_is_read_or_reported_with_line_and_hint(
                which in 0..FILES.len(),
                at in 0.0f64..=1.0,
                cut in 0usize..12,
                insert in prop_oneof![
                    "\\PC{0,8}",
                    "[\\[\\]{}=\"',.#\\n a-z0-9_-]{0,8}",
                ],
            ) {
                let (base, kind) = FILES[which];
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
                let start = boundary(base, (base.len() as f64 * at) as usize);
                let end = boundary(base, (start + cut).min(base.len()));
                let text = format!("{}{insert}{}", &base[..start], &base[end..]);
                let lines = u32::try_from(text.lines().count() + 1).unwrap_or(u32::MAX);
                let (_, d) = parse(kind, &text);
                for diag in &d.0 {
                    prop_assert_eq!(diag.file.as_deref(), Some("tenants/x.toml"), "{}", diag);
                    prop_assert!(diag.line.is_some_and(|l| l >= 1 && l <= lines), "{}", diag);
                    prop_assert!(!diag.message.is_empty());
                    prop_assert!(diag.hint.as_deref().is_some_and(|h| !h.is_empty()), "no hint: {}", diag);
                }
                let _ = d.to_string();
            }
        }
    }
}
