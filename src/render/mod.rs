//! Rendering: minijinja templates plus the resolved environment into a checked ECS task
//! definition.
//!
//! Pure by construction: the template environment has no loader, no `env`, clock, file or
//! network function, and strict undefined; the context holds only `project`, `tenant`,
//! `service`, `release`, `image`, `env` and `secrets`. The same inputs give the same bytes.

pub mod bounds;
pub mod budget;
pub mod taskdef;

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

use crate::dsl::diag::{Diagnostic, Diagnostics, SourceFile};
use crate::dsl::fleet::TEMPLATES_DIR;
use crate::dsl::{Fleet, Layer, ReleaseChoice, Service, Tenant};
use crate::resolve::{self, Import, Kind, Lookups, Missing, Removed, Resolved, ServiceEnv};
pub use taskdef::TaskDefinition;

/// The task definition templates of a fleet, compiled once per run.
pub struct Templates {
    env: Environment<'static>,
    sources: BTreeMap<String, SourceFile>,
}

impl Templates {
    /// Compiles the templates the fleet's services use; syntax errors name the file and line.
    pub fn load(fleet: &Fleet) -> Result<Self, Diagnostics> {
        let mut names: Vec<&str> = fleet
            .tenants
            .iter()
            .flat_map(|t| t.services.iter().map(|s| s.template.value.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        Self::load_names(&fleet.root, &names)
    }

    fn load_names(root: &Path, names: &[&str]) -> Result<Self, Diagnostics> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Values go into JSON strings; escaping would double-quote them. Templates that need
        // arbitrary text use `|tojson`.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_keep_trailing_newline(true);
        bounds::install(&mut env);
        let mut diags = Diagnostics::default();
        let mut sources = BTreeMap::new();
        for name in names {
            let rel = format!("{TEMPLATES_DIR}/{name}");
            let text = match crate::input::read(root, &rel, crate::input::Kind::TaskTemplate) {
                Ok(t) => t,
                Err(refused) => {
                    diags.push(refused.into_diagnostic(&rel, || {
                        Diagnostic::general(
                            Some(&rel),
                            "cannot read the template: it is not there",
                            Some("create it, or name an existing template".into()),
                        )
                    }));
                    continue;
                }
            };
            let src = SourceFile::new(rel, text.clone());
            // Compiling folds constant expressions (`'x' * 100000000` is built here).
            let guard = budget::Budget::enter(out_of_memory(&src, None));
            let compiled = env.add_template_owned((*name).to_owned(), text);
            drop(guard);
            if let Err(e) = compiled {
                diags.push(template_diag(&src, &e, None));
            }
            sources.insert((*name).to_owned(), src);
        }
        if diags.is_empty() {
            Ok(Self { env, sources })
        } else {
            Err(diags.sorted())
        }
    }
}

/// A template problem at its place in the template. `ctx` is the render context when the
/// problem came up rendering (for an undefined name, what was meant); `None` at load time.
fn template_diag(
    src: &SourceFile,
    e: &minijinja::Error,
    ctx: Option<&serde_json::Value>,
) -> Diagnostic {
    if e.kind() == minijinja::ErrorKind::UndefinedError
        && let Some(range) = e.range()
    {
        let range = expression(&src.text, range);
        let expr = &src.text[range.clone()];
        return src.diag(
            &range,
            format!("template error: `{expr}` is undefined"),
            Some(undefined_hint(expr, ctx)),
        );
    }
    let mut detail = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_owned);
    if e.kind() == minijinja::ErrorKind::OutOfFuel {
        detail = format!(
            "it ran more than {} instructions (its fuel) without finishing",
            bounds::FUEL
        );
    }
    let what = format!("template error: {detail}");
    let hint = Some(match e.kind() {
        minijinja::ErrorKind::OutOfFuel => "look for a loop that runs too often (nested `range` loops multiply)",
        minijinja::ErrorKind::InvalidOperation if detail.contains("is too large (") => "stamp bounds what one filter may build: look for a filter given a huge number or a huge list",
        minijinja::ErrorKind::UnknownFilter => "the filters are minijinja's built-ins: https://docs.rs/minijinja/latest/minijinja/filters/",
        minijinja::ErrorKind::UnknownTest => "the tests are minijinja's built-ins: https://docs.rs/minijinja/latest/minijinja/tests/",
        minijinja::ErrorKind::UnknownFunction => "the functions are minijinja's built-ins: https://docs.rs/minijinja/latest/minijinja/functions/",
        _ => "see https://docs.rs/minijinja/latest/minijinja/syntax/",
    }.to_owned());
    match e.range() {
        Some(r) => src.diag(&r, what, hint),
        None => match e.line() {
            Some(l) => {
                let start = src
                    .text
                    .lines()
                    .take(l.saturating_sub(1))
                    .map(|x| x.len() + 1)
                    .sum::<usize>();
                src.diag(
                    &(start..start + src.line_text(u32::try_from(l).unwrap_or(1)).len()),
                    what,
                    hint,
                )
            }
            None => Diagnostic::general(Some(&src.path), what, hint),
        },
    }
}

/// The whole dotted expression around minijinja's span of an undefined attribute, which
/// covers only its tail (`.vars.queu` of `service.vars.queu`).
fn expression(text: &str, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    // A filter that refuses an undefined operand (`tojson`) is blamed with its own span: the
    // undefined name is the operand before the `|`.
    let before = text[..range.start].trim_end();
    if let Some(operand) = before.strip_suffix('|') {
        let end = operand.trim_end().len();
        if end > 0 && operand[..end].ends_with(part) {
            return expression(text, end..end);
        }
    }
    let start = text[..range.start]
        .char_indices()
        .rev()
        .take_while(|(_, c)| part(*c))
        .last()
        .map_or(range.start, |(i, _)| i);
    start..range.end.min(text.len())
}

/// For `service.vars.queu`: the closest name that exists where the expression went wrong
/// (`service.vars.queue`), or the names that do, or what the context holds at all.
fn undefined_hint(expr: &str, ctx: Option<&serde_json::Value>) -> String {
    const CONTEXT: &str = "the context has only project, tenant, service, release, image, env and secrets; give template values through `vars` in the tenant files";
    let path: Vec<&str> = expr
        .split(['.', '[', ']', '\'', '"'])
        .filter(|p| !p.is_empty())
        .collect();
    let Some(mut here) = ctx else {
        return CONTEXT.to_owned();
    };
    for (i, name) in path.iter().enumerate() {
        let Some(map) = here.as_object() else {
            break;
        };
        match map.get(*name) {
            Some(next) => here = next,
            None => {
                let parent = path[..i].join(".");
                let full = |key: &str| {
                    if parent.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{parent}.{key}")
                    }
                };
                if let Some(m) =
                    crate::dsl::diag::did_you_mean(name, map.keys().map(String::as_str))
                {
                    return format!("did you mean `{}`?", full(m));
                }
                if parent.is_empty() {
                    return CONTEXT.to_owned();
                }
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                return match keys.as_slice() {
                    [] => format!(
                        "`{parent}` is empty; give template values through `vars` in the tenant files"
                    ),
                    keys => format!("`{parent}` has: {}", keys.join(", ")),
                };
            }
        }
    }
    CONTEXT.to_owned()
}

/// A service rendered for a tenant: the task definition and how every variable got there.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub tenant: String,
    pub service: String,
    pub ecs_service: String,
    pub cluster: String,
    pub desired_count: crate::dsl::DesiredCount,
    pub release: ReleaseChoice,
    #[serde(skip)]
    pub task_definition: TaskDefinition,
    /// Canonical JSON of the task definition: what is printed, hashed and registered.
    #[serde(skip)]
    pub json: String,
    /// The winning value of every variable of the injected containers, sorted by name.
    pub variables: Vec<Resolved>,
    pub removed: Vec<Removed>,
    pub imports: Vec<Import>,
    /// The service's `before_deploy` hook: part of the desired state, not of the definition.
    #[serde(skip)]
    pub before_deploy: Option<crate::dsl::Hook>,
}

/// Why one service could not be rendered.
#[derive(Debug)]
pub enum RenderError {
    /// No release from the tenant, the command line or the defaults.
    NoRelease,
    /// References the account could not satisfy (live mode only).
    Missing(Vec<Missing>),
    /// Template or task definition problems.
    Invalid(Vec<Diagnostic>),
}

impl RenderError {
    /// Every problem as a diagnostic at the line that caused it, for commands that stop on
    /// bad input (`render`, `explain`) or report a tenant's problems in full (`plan`).
    pub fn into_diagnostics(self, tenant: &Tenant) -> Vec<Diagnostic> {
        match self {
            RenderError::Invalid(d) => d,
            RenderError::NoRelease => vec![
                Diagnostic::general(
                    None,
                    "no release: the tenant pins none, none is given on the command line, and _defaults.toml has none",
                    Some(
                        "pass --release X, pin `release` in the tenant file, or set it in _defaults.toml"
                            .into(),
                    ),
                )
                .tenant(&tenant.name),
            ],
            RenderError::Missing(m) => m.iter().map(|m| m.diagnostic(tenant)).collect(),
        }
    }

    /// One line for a summary row or a tenant's error, for commands that go on with the other
    /// tenants (`plan`, `deploy`, `status`).
    pub fn summary(&self) -> String {
        match self {
            RenderError::NoRelease => {
                "no release: not pinned, no --release, none in _defaults.toml (pass --release X)"
                    .to_owned()
            }
            RenderError::Missing(m) => resolve::missing_line(m),
            RenderError::Invalid(d) => d
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// Renders one service of one tenant. `release` is `--release`, if given.
pub fn render_service(
    templates: &Templates,
    fleet: &Fleet,
    tenant: &Tenant,
    service: &Service,
    release: Option<&str>,
    lookups: &Lookups,
) -> Result<Rendered, RenderError> {
    let release = tenant.release(release).ok_or(RenderError::NoRelease)?;
    let mut missing = Vec::new();
    let env = resolve::service_env(tenant, service, lookups, &mut missing);
    let tenant_vars =
        resolve::merge_vars(tenant.vars.iter().map(AsRef::as_ref), lookups, &mut missing);
    let vars = resolve::merge_vars(
        service.vars.iter().map(AsRef::as_ref),
        lookups,
        &mut missing,
    );
    if !missing.is_empty() {
        return Err(RenderError::Missing(missing));
    }
    let image = format!("{}:{}", fleet.project.image, release.release);
    let ctx = Context {
        project: &fleet.project,
        tenant: TenantCtx {
            name: &tenant.name,
            instance: tenant
                .instance
                .as_deref()
                .map(crate::dsl::instance::suffix)
                .unwrap_or_default(),
            account_id: &tenant.account_id,
            region: &tenant.region,
            cluster: &tenant.cluster,
            ring: &tenant.ring,
            vars: tenant_vars
                .iter()
                .map(|(k, v)| (k.as_str(), &v.value))
                .collect(),
        },
        service: ServiceCtx {
            name: &service.name,
            ecs_service: &service.ecs_service,
            desired_count: service.desired_count,
            cpu: service.cpu,
            memory: service.memory,
            vars: vars.iter().map(|(k, v)| (k.as_str(), &v.value)).collect(),
        },
        release: &release.release,
        image: &image,
        env: env
            .vars
            .values()
            .filter(|v| !v.is_secret())
            .filter_map(|v| Some((v.name.as_str(), v.value.as_deref()?)))
            .collect(),
        secrets: env
            .vars
            .values()
            .filter_map(|v| Some((v.name.as_str(), v.value_from.as_deref()?)))
            .collect(),
    };
    let Some(src) = templates.sources.get(&service.template.value) else {
        return Err(RenderError::Invalid(vec![
            Diagnostic::at(
                &service.template.at,
                format!("template `{}` is not loaded", service.template.value),
                None,
            )
            .tenant(&tenant.name),
        ]));
    };
    let (td, json, variables, removed) =
        render_checked(templates, &ctx, service, &env, src, &tenant.name)
            .map_err(RenderError::Invalid)?;
    Ok(Rendered {
        tenant: tenant.name.clone(),
        service: service.name.clone(),
        ecs_service: service.ecs_service.clone(),
        cluster: tenant.cluster.clone(),
        desired_count: service.desired_count,
        release,
        task_definition: td,
        json,
        variables,
        removed,
        imports: env.imports,
        before_deploy: service.before_deploy.as_ref().map(|h| h.value.clone()),
    })
}

fn too_much_output(src: &SourceFile) -> Diagnostic {
    Diagnostic::general(
        Some(&src.path),
        format!(
            "template error: the output passed {} bytes",
            bounds::OUTPUT_LIMIT
        ),
        Some(
            "a task definition is at most 64 KiB: look for a loop or filter that repeats text"
                .into(),
        ),
    )
}

/// What the user reads if compiling `src`, or rendering it for a tenant, runs out of memory,
/// worded before it starts (see `budget`).
fn out_of_memory(src: &SourceFile, tenant: Option<&str>) -> String {
    let mib = budget::MEMORY_LIMIT / (1024 * 1024);
    let what = if tenant.is_some() {
        "rendering it"
    } else {
        "compiling it"
    };
    let mut d = Diagnostic::general(
        Some(&src.path),
        format!("template error: {what} took more than {mib} MiB of memory; stamp stopped there"),
        Some("look for a string or list that grows without bound: `~` or `+` in a loop, or a huge number multiplying a string or list".into()),
    );
    if let Some(t) = tenant {
        d.add_tenant(t);
    }
    crate::output::for_stderr(&d)
}

type Checked = (TaskDefinition, String, Vec<Resolved>, Vec<Removed>);

/// The template rendered with `ctx`, parsed, injected and checked against ECS limits. The
/// wording names no tenant (the same template line is the same problem in every tenant that
/// renders it); the tenant is data of each diagnostic.
fn render_checked(
    templates: &Templates,
    ctx: &Context<'_>,
    service: &Service,
    env: &ServiceEnv,
    src: &SourceFile,
    tenant: &str,
) -> Result<Checked, Vec<Diagnostic>> {
    let one = |d: Diagnostic| vec![d.tenant(tenant)];
    let guard = budget::Budget::enter(out_of_memory(src, Some(tenant)));
    let mut out = bounds::Capped::default();
    let rendered = templates
        .env
        .get_template(&service.template.value)
        .and_then(|t| t.render_captured_to(ctx, &mut out).map(drop));
    drop(guard);
    if let Err(e) = rendered {
        return Err(one(if out.overflowed {
            too_much_output(src)
        } else {
            let ctx = serde_json::to_value(ctx).ok();
            template_diag(src, &e, ctx.as_ref())
        }));
    }
    let text = String::from_utf8(out.bytes).map_err(|_| {
        one(Diagnostic::general(
            Some(&src.path),
            "the template rendered bytes that are not UTF-8",
            Some("see https://docs.rs/minijinja/latest/minijinja/syntax/".into()),
        ))
    })?;
    let mut td = taskdef::parse(&text).map_err(|e| one(output_diag(src, &text, &e)))?;
    // A family is a name stamp makes in the account: an instance's carries its suffix.
    if !ctx.tenant.instance.is_empty() && !td.family.ends_with(&ctx.tenant.instance) {
        td.family.push_str(&ctx.tenant.instance);
    }
    let limit_diags = |violations: Vec<taskdef::LimitViolation>| {
        violations
            .into_iter()
            .map(|v| {
                let what = format!("the task definition breaks an ECS limit: {v}");
                let hint = Some(v.hint);
                let d = match template_key(src, &v.path) {
                    Some(at) => src.diag(&at, what, hint),
                    None => Diagnostic::general(Some(&src.path), what, hint),
                };
                d.tenant_detail(tenant, v.measured)
            })
            .collect::<Vec<_>>()
    };
    let twice = td.duplicate_variables();
    if !twice.is_empty() {
        return Err(limit_diags(twice));
    }
    let (variables, removed) = inject(&mut td, service, env, src)
        .map_err(|d| d.into_iter().map(|d| d.tenant(tenant)).collect::<Vec<_>>())?;
    if let Err(violations) = td.check_limits() {
        return Err(limit_diags(violations));
    }
    let json = td.to_canonical_json();
    Ok((td, json, variables, removed))
}

/// A rendered output that is not a valid RegisterTaskDefinition input: point at the template,
/// show the offending rendered line.
fn output_diag(src: &SourceFile, text: &str, e: &taskdef::TaskDefError) -> Diagnostic {
    let at = e
        .line()
        .and_then(|l| template_line(src, text, l))
        .or_else(|| e.path().and_then(|p| template_key(src, p)));
    // Where the template line is known, the rendered line only helps when rendering changed
    // it (a value with a quote); where it is not, it is all there is to go by.
    let rendered = e
        .line()
        .and_then(|line| Some((line, text.lines().nth(line.checked_sub(1)?)?.trim())))
        .filter(|(_, l)| {
            at.as_ref()
                .is_none_or(|at| src.text.get(at.clone()) != Some(*l))
        });
    let mut msg = format!(
        "the rendered task definition is not valid: {}",
        if at.is_some() {
            e.without_position()
        } else {
            e.to_string()
        }
    );
    if let Some((line, l)) = rendered {
        msg.push_str(&format!("\n  rendered line {line}: {l}"));
    }
    let hint = e.hint().map(|h| format!("did you mean `{h}`?")).or_else(|| {
        Some(match e {
            taskdef::TaskDefError::Syntax { message, .. } if message.contains("trailing comma") => "JSON has no comma after the last item of a list or object".to_owned(),
            taskdef::TaskDefError::Syntax { .. } => "values with quotes or newlines need `{{ value|tojson }}` instead of `\"{{ value }}\"`".to_owned(),
            e if e.describe_only() => "remove it: a template started from `aws ecs describe-task-definition` output keeps fields RegisterTaskDefinition does not accept".to_owned(),
            taskdef::TaskDefError::UnknownField { expected, .. } if !expected.is_empty() => format!("the fields allowed here are: {}", expected.join(", ")),
            _ => "the template must render a RegisterTaskDefinition input: see https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html".to_owned(),
        })
    });
    match at {
        Some(at) => src.diag(&at, msg, hint),
        None => Diagnostic::general(Some(&src.path), msg, hint),
    }
}

/// The one line of the template that renders as line `n` (1-based) of `rendered`: the same
/// text, with each `{{ ... }}` standing for any text (block tags excluded). Several candidates
/// (a lone `]`, say) are told apart by the lines before them; `None` unless one remains.
fn template_line(src: &SourceFile, rendered: &str, n: usize) -> Option<std::ops::Range<usize>> {
    let out: Vec<&str> = rendered.lines().map(str::trim).collect();
    let want = *out.get(n.checked_sub(1)?)?;
    if want.is_empty() {
        return None;
    }
    let lines: Vec<(usize, &str)> = src
        .text
        .split_inclusive('\n')
        .scan(0, |start, line| {
            let at = *start;
            *start += line.len();
            Some((at, line))
        })
        .collect();
    let matches = |t: usize, o: usize| {
        let line = lines[t].1.trim();
        !line.contains("{%") && renders_as(line, out[o])
    };
    let mut candidates: Vec<usize> = (0..lines.len()).filter(|&t| matches(t, n - 1)).collect();
    let mut back = 1;
    while candidates.len() > 1 && back <= 5 && back < n {
        candidates.retain(|&t| t >= back && matches(t - back, n - 1 - back));
        back += 1;
    }
    match candidates[..] {
        [t] => {
            let (start, line) = lines[t];
            let lead = line.len() - line.trim_start().len();
            Some(start + lead..start + lead + line.trim().len())
        }
        _ => None,
    }
}

/// Whether template text `line` can render as `out`: its literal pieces in order, each
/// `{{ ... }}` matching anything between them.
fn renders_as(line: &str, out: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find("{{") {
        pieces.push(&rest[..open]);
        match rest[open..].find("}}") {
            Some(close) => rest = &rest[open + close + 2..],
            None => return false,
        }
    }
    pieces.push(rest);
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if pieces.len() == 1 {
        return line == out;
    }
    let Some(mut out) = out.strip_prefix(first) else {
        return false;
    };
    for piece in &pieces[1..pieces.len() - 1] {
        match out.find(piece) {
            Some(i) => out = &out[i + piece.len()..],
            None => return false,
        }
    }
    out.ends_with(last)
}

/// Where the template writes the member at `path` of its output (`containerDefinitions[1].name`):
/// the one `"key":` in the template source for the deepest key of the path that the template
/// writes exactly once. `None` when no key of the path is written exactly once (a key built by
/// the template, or written in several places): the file is then named without a line.
fn template_key(src: &SourceFile, path: &str) -> Option<std::ops::Range<usize>> {
    let keys: Vec<&str> = path
        .split('.')
        .map(|seg| seg.split('[').next().unwrap_or(seg))
        .filter(|k| !k.is_empty())
        .collect();
    keys.iter().rev().find_map(|key| {
        let quoted = format!("\"{key}\"");
        let mut found = src
            .text
            .match_indices(&quoted)
            .filter(|(i, q)| src.text[i + q.len()..].trim_start().starts_with(':'));
        match (found.next(), found.next()) {
            (Some((i, _)), None) => Some(i + 1..i + 1 + key.len()),
            _ => None,
        }
    })
}

/// Puts the resolved variables into the target containers, sorted by name, with the
/// template's own entries as layer 1.
fn inject(
    td: &mut TaskDefinition,
    service: &Service,
    env: &ServiceEnv,
    src: &SourceFile,
) -> Result<(Vec<Resolved>, Vec<Removed>), Vec<Diagnostic>> {
    let names: Vec<String> = td
        .container_definitions
        .iter()
        .map(|c| c.name.clone().unwrap_or_default())
        .collect();
    let targets: Vec<usize> = match &service.inject_into {
        None => (0..names.len()).collect(),
        Some(list) => {
            let mut idx = Vec::new();
            let mut bad = Vec::new();
            for want in &list.value {
                match names.iter().position(|n| n == want) {
                    Some(i) => idx.push(i),
                    None => bad.push(Diagnostic::at(
                        &list.at,
                        format!(
                            "`inject_into` names container `{want}`, but {} has no such container",
                            src.path
                        ),
                        Some(format!("the containers are: {}", names.join(", "))),
                    )),
                }
            }
            if !bad.is_empty() {
                return Err(bad);
            }
            idx
        }
    };
    let mut shown: BTreeMap<String, Resolved> = BTreeMap::new();
    let mut removed_all: BTreeMap<String, Removed> = BTreeMap::new();
    for i in targets {
        let c = &mut td.container_definitions[i];
        let source = format!("{} (container {})", src.path, names[i]);
        let template_entries = c
            .environment()
            .iter()
            .filter_map(|kv| {
                Some(Resolved {
                    name: kv.name.clone()?,
                    kind: Kind::Template,
                    value: Some(kv.value.clone().unwrap_or_default()),
                    value_from: None,
                    layer: Layer::Template,
                    source: source.clone(),
                    reference: None,
                    overrides: Vec::new(),
                    parameter: None,
                })
            })
            .chain(c.secrets().iter().map(|s| Resolved {
                name: s.name.clone(),
                kind: Kind::Template,
                value: None,
                value_from: Some(s.value_from.clone()),
                layer: Layer::Template,
                source: source.clone(),
                reference: None,
                overrides: Vec::new(),
                parameter: None,
            }))
            .collect::<Vec<_>>();
        let (vars, removed) = env.with_template(template_entries);
        let mut environment = Vec::new();
        let mut secrets = Vec::new();
        for v in &vars {
            match (&v.value_from, &v.value) {
                (Some(from), _) => secrets.push(taskdef::Secret::new(v.name.clone(), from.clone())),
                (None, Some(value)) => {
                    environment.push(taskdef::KeyValuePair::new(v.name.clone(), value.clone()))
                }
                (None, None) => {}
            }
        }
        // `vars` is sorted by name already (it comes out of a BTreeMap).
        c.environment = (!environment.is_empty()).then_some(environment);
        c.secrets = (!secrets.is_empty()).then_some(secrets);
        for v in vars {
            shown.entry(v.name.clone()).or_insert(v);
        }
        for r in removed {
            removed_all.entry(r.name.clone()).or_insert(r);
        }
    }
    Ok((
        shown.into_values().collect(),
        removed_all.into_values().collect(),
    ))
}

#[derive(Serialize)]
struct Context<'a> {
    project: &'a crate::dsl::Project,
    tenant: TenantCtx<'a>,
    service: ServiceCtx<'a>,
    release: &'a str,
    image: &'a str,
    env: BTreeMap<&'a str, &'a str>,
    secrets: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
struct TenantCtx<'a> {
    name: &'a str,
    /// `-ID` with `--instance ID`, else empty: for the names a template refers to that the
    /// tenant's stacks create (roles, log groups).
    instance: String,
    account_id: &'a str,
    region: &'a str,
    cluster: &'a str,
    ring: &'a str,
    vars: BTreeMap<&'a str, &'a serde_json::Value>,
}

#[derive(Serialize)]
struct ServiceCtx<'a> {
    name: &'a str,
    ecs_service: &'a str,
    /// A number, or `"auto"`.
    desired_count: crate::dsl::DesiredCount,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<u32>,
    vars: BTreeMap<&'a str, &'a serde_json::Value>,
}

#[cfg(test)]
// The crate warns on `unwrap`; in tests a panic is exactly the failure report we want.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{
  "family": "{{ project.name }}-{{ service.name }}",
  "containerDefinitions": [
    { "name": "app", "image": "{{ image }}", "essential": true },
    { "name": "side", "image": "busybox", "essential": true }
  ]
}
"#;

    fn line_of(src: &SourceFile, r: Option<std::ops::Range<usize>>) -> Option<u32> {
        r.map(|r| src.line_col(r.start).0)
    }

    #[test]
    fn a_rendered_line_is_traced_to_the_one_template_line_that_renders_it() {
        let src = SourceFile::new("templates/t.json.j2", TEMPLATE.to_owned());
        let rendered = r#"{
  "family": "shop-api",
  "containerDefinitions": [
    { "name": "app", "image": "x:1", "essential": true },
    { "name": "side", "image": "busybox", "essential": true }
  ],
  "nothing": "like it",

  ]
}
"#;
        let at = |n: usize| line_of(&src, template_line(&src, rendered, n));
        assert_eq!(at(2), Some(2));
        assert_eq!(at(4), Some(4));
        // A literal line matches only itself.
        assert_eq!(at(5), Some(5));
        assert_eq!(at(7), None);
        assert_eq!(at(8), None);
        assert_eq!(at(0), None);
        assert_eq!(at(99), None);

        // Two `]` in the template: the lines before them tell which one rendered.
        let lists = "{\n  \"a\": [\n    1\n  ]\n  ,\"b\": [\n    {{ b }}\n  ]\n}\n";
        let src = SourceFile::new("templates/t.json.j2", lists.to_owned());
        let rendered = lists.replace("{{ b }}", "2");
        let at = |n: usize| line_of(&src, template_line(&src, &rendered, n));
        assert_eq!(at(4), Some(4));
        assert_eq!(at(7), Some(7));
    }

    #[test]
    fn an_undefined_attribute_is_shown_whole_with_the_name_it_misspells() {
        let text = "x {{ service.vars.queu }} y";
        // minijinja's span of an undefined attribute covers only its tail.
        assert_eq!(&text[expression(text, 12..22)], "service.vars.queu");
        let ctx = serde_json::json!({
            "service": {"name": "worker", "vars": {"queue": "orders", "port": 80}},
            "tenant": {"name": "acme"},
        });
        let hint = |expr: &str| undefined_hint(expr, Some(&ctx));
        assert_eq!(
            hint("service.vars.queu"),
            "did you mean `service.vars.queue`?"
        );
        assert_eq!(hint("servce.name"), "did you mean `service`?");
        assert_eq!(hint("service.vars.zzz"), "`service.vars` has: queue, port");
        assert!(hint("nothing.here").starts_with("the context has only"));
        assert!(undefined_hint("service.vars.queu", None).starts_with("the context has only"));
    }

    #[test]
    fn an_output_path_is_traced_to_a_key_written_once() {
        let src = SourceFile::new("templates/t.json.j2", TEMPLATE.to_owned());
        let at = |p: &str| line_of(&src, template_key(&src, p));
        assert_eq!(at("family"), Some(2));
        // `name` is written twice: the nearest key written once is the list's.
        assert_eq!(at("containerDefinitions[1].name"), Some(3));
        assert_eq!(at("cpu"), None);
        assert_eq!(at("."), None);
    }
}
