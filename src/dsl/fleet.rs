//! Combines `_defaults.toml` with each tenant file into checked [`Tenant`]s.
//!
//! Owns the "defaults, then tenant" rule for scalar settings, placeholder expansion in
//! cluster names and role ARNs, and every check that spans files (account guard on role ARNs,
//! duplicate accounts, rings, templates that exist). Environment layers are kept apart, in
//! precedence order, so `resolve` can merge them with provenance.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::diag::{Diagnostic, Diagnostics, Located, SourceFile, did_you_mean};
use super::model::{
    DesiredCount, EnvBlock, EnvEntry, FileKind, FileLayer, Hook, HookSpec, InfraSection,
    ServiceSection, VarBlock,
};
use super::parse::parse_file;
use crate::schedule::{Freeze, Schedule, Window, parse_freeze_time};

/// The folder and file names of DESIGN §1.
pub const TENANTS_DIR: &str = "tenants";
pub const TEMPLATES_DIR: &str = "templates";
pub const DEFAULTS_FILE: &str = "_defaults.toml";

/// How to write an account id. No example number: a plausible one is copied as is, and in
/// the example fleet every plausible one is already some tenant's.
const ACCOUNT_ID_HINT: &str = "write the customer's own 12-digit AWS account number as a quoted string: `account_id = \"<12 digits>\"`";
const ACCOUNT_ID_MISSING_HINT: &str = "add `account_id = \"<12 digits>\"` under [tenant]: the customer's own AWS account number, which no other tenant has";

/// Everything in `tenants/`, checked: what every command starts from.
#[derive(Debug)]
pub struct Fleet {
    pub root: PathBuf,
    pub project: Project,
    /// Sorted by name.
    pub tenants: Vec<Tenant>,
    /// File names present in `templates/`.
    pub template_files: BTreeSet<String>,
    /// `[notify]` of `_defaults.toml`.
    pub notify: Option<Notify>,
}

/// Where write runs announce themselves: only the *name* of the variable holding the URL.
#[derive(Debug, Clone, Serialize)]
pub struct Notify {
    pub webhook_env: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub name: String,
    pub image: String,
    pub rings: Vec<String>,
    /// How long a ring's deployed services must stay out of ALARM before the next ring starts.
    #[serde(skip)]
    pub bake: Option<std::time::Duration>,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    pub file: Arc<str>,
    pub account_id: String,
    pub region: String,
    pub cluster: String,
    pub deploy_role: String,
    pub inspect_role: String,
    pub external_id: Option<String>,
    pub ring: String,
    /// `release` in the tenant's own file: always wins.
    pub pinned_release: Option<Located<String>>,
    /// `release` in `_defaults.toml`: used when neither a pin nor `--release` gives one.
    pub default_release: Option<Located<String>>,
    pub schedule: Schedule,
    /// `[tenant] vars`, defaults first then the tenant's own.
    pub vars: Vec<Arc<VarBlock>>,
    pub services: Vec<Service>,
    /// `[infra.STACK]` of `_defaults.toml` and the tenant file, layered; sorted by key.
    pub infra: Vec<Stack>,
    /// `ephemeral = true` in the tenant's own file (never inherited): `stamp down` may remove
    /// everything stamp made in its account.
    pub ephemeral: bool,
    /// `--instance ID`: the suffix (`-ID`) every name stamp makes in the account carries.
    pub instance: Option<String>,
}

/// Where a stack parameter is written: the two layers of `[infra.STACK.parameters]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InfraLayer {
    Defaults,
    Tenant,
    /// `--instance ID`: the suffix, as `StampInstance` (see `dsl::instance`).
    Instance,
}

impl InfraLayer {
    pub fn describe(self, stack: &str) -> String {
        match self {
            InfraLayer::Defaults => format!("_defaults.toml [infra.{stack}.parameters]"),
            InfraLayer::Tenant => format!("tenant [infra.{stack}.parameters]"),
            InfraLayer::Instance => "--instance".to_owned(),
        }
    }
}

/// One CloudFormation stack of a tenant, defaults then tenant (tenant wins).
#[derive(Debug, Clone)]
pub struct Stack {
    /// The key in `[infra.KEY]`; what `cfn_output = "KEY.Output"` names.
    pub key: String,
    /// The real stack name, placeholders expanded.
    pub stack_name: String,
    pub template: Located<String>,
    pub capabilities: Vec<String>,
    /// Defaults' tags with the tenant's over them, key by key.
    pub tags: BTreeMap<String, String>,
    /// Parameter layers, lowest first.
    pub parameters: Vec<(InfraLayer, Arc<Vec<EnvEntry>>)>,
    /// The tenant's `[infra.KEY]` if it has one, else the defaults' table.
    pub at: crate::dsl::Loc,
}

impl Tenant {
    pub fn stack(&self, key: &str) -> Option<&Stack> {
        self.infra.iter().find(|s| s.key == key)
    }

    /// Stack key → CloudFormation stack name: what `cfn_output = "KEY.Output"` reads. Here,
    /// in the model, so that `resolve` and `infra` both read it without importing each other.
    pub fn stack_names(&self) -> std::collections::BTreeMap<String, String> {
        self.infra
            .iter()
            .map(|s| (s.key.clone(), s.stack_name.clone()))
            .collect()
    }
}

/// Which release a tenant gets, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseChoice {
    pub release: String,
    /// `pinned` (tenant file), `command-line` (`--release`) or `default` (`_defaults.toml`).
    pub source: &'static str,
}

impl Tenant {
    /// DESIGN §4: a tenant's own pin, else `--release`, else the defaults' release.
    pub fn release(&self, cli: Option<&str>) -> Option<ReleaseChoice> {
        if let Some(p) = &self.pinned_release {
            return Some(ReleaseChoice {
                release: p.value.clone(),
                source: "pinned",
            });
        }
        if let Some(r) = cli {
            return Some(ReleaseChoice {
                release: r.to_owned(),
                source: "command-line",
            });
        }
        self.default_release.as_ref().map(|r| ReleaseChoice {
            release: r.value.clone(),
            source: "default",
        })
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// The five layers of DESIGN §2, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    Template,
    Defaults,
    DefaultsService,
    Tenant,
    TenantService,
}

impl Layer {
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// Where the layer is written, for people.
    pub fn describe(self, service: &str) -> String {
        match self {
            Layer::Template => "template environment".to_owned(),
            Layer::Defaults => "_defaults.toml [env]".to_owned(),
            Layer::DefaultsService => format!("_defaults.toml [services.{service}.env]"),
            Layer::Tenant => "tenant [env]".to_owned(),
            Layer::TenantService => format!("tenant [services.{service}.env]"),
        }
    }
}

/// One environment layer as written (shared between tenants when it comes from defaults).
#[derive(Debug, Clone)]
pub struct EnvLayer {
    pub layer: Layer,
    pub block: Arc<EnvBlock>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    pub ecs_service: String,
    pub template: Located<String>,
    pub desired_count: DesiredCount,
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    pub inject_into: Option<Located<Vec<String>>>,
    /// CloudWatch alarms of the service in the tenant's account (the tenant file's list replaces
    /// the defaults'), with where the list is written.
    pub alarms: Option<Located<Vec<String>>>,
    /// The one-off task deploy runs before updating the service; the tenant's file over the
    /// defaults, `{ unset = true }` leaving none.
    pub before_deploy: Option<Located<Hook>>,
    /// Layers 2..=5 in precedence order (layer 1 comes from the rendered template).
    pub env: Vec<EnvLayer>,
    /// `vars` in precedence order: defaults tenant, defaults service, tenant, tenant service.
    pub vars: Vec<Arc<VarBlock>>,
}

/// Finds the fleet root: `--root`, or the first folder upwards holding `tenants/_defaults.toml`.
pub fn find_root(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, Diagnostic> {
    if let Some(root) = explicit {
        if root.join(TENANTS_DIR).join(DEFAULTS_FILE).is_file() {
            return Ok(root.to_path_buf());
        }
        return Err(Diagnostic::general(
            None,
            format!("`{}` has no tenants/_defaults.toml", root.display()),
            Some("--root must name the folder that holds tenants/ and templates/".into()),
        ));
    }
    cwd.ancestors()
        .find(|d| d.join(TENANTS_DIR).join(DEFAULTS_FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Diagnostic::general(
                None,
                format!(
                    "no tenants/_defaults.toml in `{}` or any folder above it",
                    cwd.display()
                ),
                Some("run stamp inside a fleet repository, or pass --root DIR".into()),
            )
        })
}

/// Loads and checks the whole fleet; every problem of every file is reported together.
pub fn load(root: &Path) -> Result<Fleet, Diagnostics> {
    match load_partial(root) {
        (Some(fleet), d) if d.is_empty() => Ok(fleet),
        (_, d) => Err(d),
    }
}

/// Loads what can be loaded: the fleet with every tenant that passed its checks, plus every
/// problem found. `validate` uses it to go on and render the good tenants, so one bad tenant
/// file does not hide a template error.
pub fn load_partial(root: &Path) -> (Option<Fleet>, Diagnostics) {
    let (fleet, mut diags) = load_inner(root);
    diags.attach_snippets(root);
    (fleet, diags.sorted())
}

fn load_inner(root: &Path) -> (Option<Fleet>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let tenants_dir = root.join(TENANTS_DIR);
    let mut tenant_files = Vec::new();
    match std::fs::read_dir(&tenants_dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                let Some(stem) = file_name.strip_suffix(".toml") else {
                    continue;
                };
                if file_name == DEFAULTS_FILE {
                    continue;
                }
                let rel = format!("{TENANTS_DIR}/{file_name}");
                if stem.starts_with('_') {
                    diags.push(Diagnostic::general(
                        Some(&rel),
                        format!("`{file_name}`: names starting with `_` are reserved"),
                        Some("only _defaults.toml is read; name tenant files after the tenant, e.g. acme.toml".into()),
                    ));
                    continue;
                }
                if let Err(why) = check_tenant_name(stem) {
                    diags.push(Diagnostic::general(
                        Some(&rel),
                        format!("`{stem}` is not a valid tenant name: {why}"),
                        Some(format!(
                            "rename the file, e.g. to `{}.toml`",
                            suggest_tenant_name(stem)
                        )),
                    ));
                    continue;
                }
                tenant_files.push((stem.to_owned(), rel));
            }
        }
        Err(e) => {
            diags.push(Diagnostic::general(
                Some(TENANTS_DIR),
                format!("cannot read the folder: {e}"),
                None,
            ));
            return (None, diags);
        }
    }
    tenant_files.sort();

    let defaults_rel = format!("{TENANTS_DIR}/{DEFAULTS_FILE}");
    let defaults = read_layer(
        root,
        &defaults_rel,
        FileKind::Defaults,
        "_defaults",
        &mut diags,
    );
    let template_files = list_templates(root, &mut diags);

    // Parsing is independent per file; the files of a large fleet are read on all cores.
    let layers = parse_all(root, &tenant_files, &mut diags);

    let Some(defaults) = defaults else {
        return (None, diags);
    };
    let project = project(&defaults, &mut diags);
    let shared = SharedDefaults::new(&defaults);
    let mut tenants = Vec::with_capacity(layers.len());
    for layer in &layers {
        let before = diags.len();
        if let Some(t) = tenant(
            &defaults,
            &shared,
            layer,
            project.as_ref(),
            &template_files,
            &mut diags,
        ) {
            tenants.push(t);
        }
        // Whatever combining this tenant found stops it: a mistake in _defaults.toml is then
        // one problem naming every tenant it stops.
        for d in &mut diags.0[before..] {
            if d.tenants.is_empty() {
                d.add_tenant(&layer.name);
            }
        }
    }
    check_accounts(root, &layers, &mut diags);
    let notify = notify(&defaults, &mut diags);
    let fleet = project.map(|project| Fleet {
        root: root.to_path_buf(),
        project,
        tenants,
        template_files,
        notify,
    });
    (fleet, diags)
}

fn parse_all(root: &Path, files: &[(String, String)], diags: &mut Diagnostics) -> Vec<FileLayer> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    let chunk = files.len().div_ceil(workers).max(64);
    let results: Vec<(Vec<FileLayer>, Diagnostics)> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                let worker = s.spawn(move || {
                    let mut d = Diagnostics::default();
                    let layers = part
                        .iter()
                        .filter_map(|(stem, rel)| {
                            read_layer(root, rel, FileKind::Tenant, stem, &mut d)
                        })
                        .collect();
                    (layers, d)
                });
                (part, worker)
            })
            .collect();
        // A reader that died takes its files with it: each is reported, so the fleet has
        // errors and no command acts on a fleet missing tenants.
        handles
            .into_iter()
            .map(|(part, worker)| {
                worker.join().unwrap_or_else(|payload| {
                    let why = crate::error::panic_text(payload.as_ref());
                    (Vec::new(), unread(part, &why))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(files.len());
    for (layers, d) in results {
        out.extend(layers);
        diags.0.extend(d.0);
    }
    out
}

/// The files of a reader thread that panicked: stamp's fault, said against each file.
fn unread(part: &[(String, String)], why: &str) -> Diagnostics {
    let mut d = Diagnostics::default();
    for (_, rel) in part {
        d.push(Diagnostic::general(
            Some(rel),
            format!("stamp failed while reading this file (internal error: {why})"),
            Some("this is a bug in stamp: please report it with the file".into()),
        ));
    }
    d
}

fn read_layer(
    root: &Path,
    rel: &str,
    kind: FileKind,
    name: &str,
    diags: &mut Diagnostics,
) -> Option<FileLayer> {
    match crate::input::read(root, rel, crate::input::Kind::TenantFile) {
        Ok(text) => parse_file(&SourceFile::new(rel, text), kind, name, diags),
        Err(refused) => {
            diags.push(refused.into_diagnostic(rel, || match kind {
                FileKind::Defaults => Diagnostic::general(
                    Some(rel),
                    "missing: every fleet needs tenants/_defaults.toml",
                    Some("create it with at least a [project] table".into()),
                ),
                FileKind::Tenant => Diagnostic::general(
                    Some(rel),
                    "the file disappeared while stamp read the folder",
                    Some("run stamp again".into()),
                ),
            }));
            None
        }
    }
}

fn list_templates(root: &Path, diags: &mut Diagnostics) -> BTreeSet<String> {
    match std::fs::read_dir(root.join(TEMPLATES_DIR)) {
        Ok(entries) => entries
            .flatten()
            // Links are listed too: reading one that leads out of the repository is refused
            // with its own error, rather than a misleading "not found".
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => {
            diags.push(Diagnostic::general(
                Some(TEMPLATES_DIR),
                format!("cannot read the folder: {e}"),
                None,
            ));
            BTreeSet::new()
        }
    }
}

fn notify(defaults: &FileLayer, diags: &mut Diagnostics) -> Option<Notify> {
    let n = defaults.notify.as_ref()?;
    if n.webhook_env.is_none() && !n.written {
        diags.push(Diagnostic::at(
            &defaults.top,
            "[notify] has no `webhook_env`",
            Some("name the environment variable that holds the webhook URL: `webhook_env = \"STAMP_SLACK_WEBHOOK\"`".into()),
        ));
    }
    Some(Notify {
        webhook_env: n.webhook_env.as_ref()?.value.clone(),
    })
}

fn project(defaults: &FileLayer, diags: &mut Diagnostics) -> Option<Project> {
    let Some(p) = &defaults.project else {
        diags.push(Diagnostic::at(
            &defaults.top,
            "tenants/_defaults.toml has no [project] table",
            Some("add `[project]` with `name`, `image` and `rings`".into()),
        ));
        return None;
    };
    let mut missing = |key: &str, example: &str| {
        if p.misspelt.contains(key) {
            return;
        }
        diags.push(Diagnostic::at(
            &defaults.top,
            format!("[project] has no `{key}`"),
            Some(format!("add `{key} = {example}` under [project]")),
        ));
    };
    let name = p.name.as_ref().map(|n| n.value.clone());
    let image = p.image.as_ref().map(|n| n.value.clone());
    let rings = p.rings.as_ref().map(|n| n.value.clone());
    if name.is_none() {
        missing("name", "\"shop\"");
    }
    if image.is_none() {
        missing(
            "image",
            "\"123456789012.dkr.ecr.us-east-1.amazonaws.com/shop\"",
        );
    }
    if rings.is_none() {
        missing("rings", "[\"canary\", \"stable\"]");
    }
    let (name, image, rings) = (name?, image?, rings?);
    let mut ok = true;
    if let Some(img) = &p.image
        && (img.value.contains('@')
            || img
                .value
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':')))
    {
        diags.push(Diagnostic::at(
            &img.at,
            format!("`image` must not carry a tag or digest: `{}`", img.value),
            Some("the tag is the release; write the repository only, e.g. `…/shop`".into()),
        ));
        ok = false;
    }
    if let Some(r) = &p.rings {
        let mut seen = BTreeSet::new();
        if r.value.is_empty() {
            diags.push(Diagnostic::at(
                &r.at,
                "`rings` is empty",
                Some("list the deploy waves in order, e.g. `[\"canary\", \"stable\"]`".into()),
            ));
            ok = false;
        }
        for ring in &r.value {
            if !seen.insert(ring) {
                diags.push(Diagnostic::at(
                    &r.at,
                    format!("ring `{ring}` is listed twice"),
                    Some("each ring once, in deploy order".into()),
                ));
                ok = false;
            }
        }
    }
    let bake = p.bake.as_ref().map(|b| b.value).filter(|b| !b.is_zero());
    ok.then_some(Project {
        name,
        image,
        rings,
        bake,
    })
}

/// The parts of `_defaults.toml` every tenant shares, built once rather than per tenant.
struct SharedDefaults {
    env: Arc<EnvBlock>,
    tenant_vars: Arc<VarBlock>,
    service_env: BTreeMap<String, Arc<EnvBlock>>,
    service_vars: BTreeMap<String, Arc<VarBlock>>,
}

impl SharedDefaults {
    fn new(d: &FileLayer) -> Self {
        Self {
            env: Arc::new(d.env.clone()),
            tenant_vars: Arc::new(d.tenant.vars.clone()),
            service_env: d
                .services
                .iter()
                .map(|(k, s)| (k.clone(), Arc::new(s.env.clone())))
                .collect(),
            service_vars: d
                .services
                .iter()
                .map(|(k, s)| (k.clone(), Arc::new(s.vars.clone())))
                .collect(),
        }
    }
}

fn pick<'a, T>(
    tenant: &'a Option<Located<T>>,
    defaults: &'a Option<Located<T>>,
) -> Option<&'a Located<T>> {
    tenant.as_ref().or(defaults.as_ref())
}

#[allow(clippy::too_many_lines)]
fn tenant(
    d: &FileLayer,
    shared: &SharedDefaults,
    t: &FileLayer,
    project: Option<&Project>,
    templates: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Option<Tenant> {
    let before = diags.len();
    let need = |diags: &mut Diagnostics, key: &str, example: &str| {
        if t.tenant.written.contains(key) || d.tenant.written.contains(key) {
            return;
        }
        diags.push(Diagnostic::at(
            &t.top,
            format!("tenant `{}` has no `{key}`", t.name),
            Some(format!(
                "add `{key} = {example}` under [tenant] in {} (or in _defaults.toml)",
                t.path
            )),
        ));
    };
    let account_id = match &t.tenant.account_id {
        Some(a) if is_account_id(&a.value) => Some(a.value.clone()),
        Some(a) => {
            diags.push(Diagnostic::at(
                &a.at,
                format!("`account_id` must be 12 digits, found `{}`", a.value),
                Some(ACCOUNT_ID_HINT.into()),
            ));
            None
        }
        // Written but invalid (unquoted, say): already reported where it is written.
        None if t.tenant.written.contains("account_id") => None,
        None => {
            let hint = if d.tenant.account_id.is_some() {
                "every tenant has its own account: set `account_id` in the tenant's file, not in _defaults.toml"
            } else {
                ACCOUNT_ID_MISSING_HINT
            };
            diags.push(Diagnostic::at(
                &t.top,
                format!("tenant `{}` has no `account_id`", t.name),
                Some(hint.into()),
            ));
            None
        }
    };
    if let Some(at) = &d.tenant.ephemeral {
        diags.push(Diagnostic::at(
            at,
            "`ephemeral` does not belong in _defaults.toml",
            Some("only a tenant's own file can say that stamp may tear it down: write `ephemeral = true` there".into()),
        ));
    }
    if let Some(a) = &d.tenant.account_id {
        diags.push(Diagnostic::at(
            &a.at,
            "`account_id` does not belong in _defaults.toml",
            Some("each tenant has its own account: move it to the tenant files".into()),
        ));
    }
    let region = pick(&t.tenant.region, &d.tenant.region);
    let region = match region {
        Some(r) if is_region(&r.value) => Some(r.value.clone()),
        Some(r) => {
            diags.push(Diagnostic::at(
                &r.at,
                format!("`{}` is not an AWS region name", r.value),
                Some("write e.g. `region = \"ap-northeast-1\"`".into()),
            ));
            None
        }
        None => {
            need(diags, "region", "\"ap-northeast-1\"");
            None
        }
    };
    let ring = pick(&t.tenant.ring, &d.tenant.ring);
    let ring = match (ring, project) {
        (Some(r), Some(p)) if !p.rings.contains(&r.value) => {
            let hint = match did_you_mean(&r.value, p.rings.iter().map(String::as_str)) {
                Some(m) => format!("did you mean `{m}`? the rings are {}", p.rings.join(", ")),
                None => format!("the rings in [project] are: {}", p.rings.join(", ")),
            };
            diags.push(Diagnostic::at(
                &r.at,
                format!("ring `{}` is not in [project] rings", r.value),
                Some(hint),
            ));
            None
        }
        (Some(r), _) => Some(r.value.clone()),
        (None, Some(p)) => p.rings.last().cloned(),
        (None, None) => None,
    };
    for r in [&t.tenant.release, &d.tenant.release].into_iter().flatten() {
        if let Err(why) = check_release(&r.value) {
            let d = Diagnostic::at(
                &r.at,
                format!("release `{}` cannot be an image tag: {why}", r.value),
                Some("a tag has letters, digits, `.`, `_` and `-` only, starting with a letter, digit or `_`: e.g. `v1.43.0-beta`".into()),
            );
            diags.push(match tag_char_not_allowed(&r.value) {
                Some(c) => d.focus(c.to_string()),
                None => d,
            });
        }
    }

    let vars = Vars {
        tenant: &t.name,
        stack: None,
        account_id: account_id.as_deref(),
        region: region.as_deref(),
        project: project.map(|p| p.name.as_str()),
    };
    let cluster = match pick(&t.tenant.cluster, &d.tenant.cluster) {
        Some(c) => expand(c, &vars, diags).and_then(|name| {
            match super::parse::check_ecs_name(&name) {
                Ok(()) => Some(name),
                Err(why) => {
                    // Worded with what is written, not what it expands to: a pattern in
                    // _defaults.toml is one mistake, however many tenants expand it.
                    diags.push(Diagnostic::at(
                        &c.at,
                        format!(
                            "cluster `{}` is not a valid ECS cluster name: {why}",
                            c.value
                        ),
                        Some(
                            "use letters, digits, `-` and `_`, e.g. `cluster = \"{tenant}-shop\"`"
                                .into(),
                        ),
                    ));
                    None
                }
            }
        }),
        None => {
            need(diags, "cluster", "\"{tenant}-shop\"");
            None
        }
    };
    let role = |key: &str,
                slot: &Option<Located<String>>,
                dslot: &Option<Located<String>>,
                diags: &mut Diagnostics| {
        let Some(r) = pick(slot, dslot) else {
            need(
                diags,
                key,
                "\"arn:aws:iam::{account_id}:role/stamp-deploy\"",
            );
            return None;
        };
        let arn = expand(r, &vars, diags)?;
        match role_account(&arn) {
            None => {
                diags.push(Diagnostic::at(
                    &r.at,
                    format!("`{key}` is not an IAM role ARN: `{arn}`"),
                    Some("write `arn:aws:iam::{account_id}:role/NAME`".into()),
                ));
                None
            }
            Some(acct) if account_id.as_deref().is_some_and(|a| a != acct) => {
                diags.push(Diagnostic::at(
                    &r.at,
                    format!("`{key}` is in account {acct}, not in the tenant's own"),
                    Some("a tenant's roles live in its own account: use `{account_id}` in the ARN".into()),
                ).account(&t.name, account_id.as_deref().unwrap_or("?")));
                None
            }
            Some(_) => Some(arn),
        }
    };
    let deploy_role = role(
        "deploy_role",
        &t.tenant.deploy_role,
        &d.tenant.deploy_role,
        diags,
    );
    let inspect_role = role(
        "inspect_role",
        &t.tenant.inspect_role,
        &d.tenant.inspect_role,
        diags,
    );
    let external_id = pick(&t.tenant.external_id, &d.tenant.external_id).and_then(|e| {
        match check_external_id(&e.value) {
            Ok(()) => Some(e.value.clone()),
            Err(why) => {
                diags.push(Diagnostic::at(
                    &e.at,
                    format!("`external_id` is not one STS accepts: {why}"),
                    Some("use 2 to 1224 letters, digits and `+ = , . @ : / - _`, as the role's trust policy says".into()),
                ));
                None
            }
        }
    });

    let schedule = schedule(d, t, diags);

    let mut services = Vec::new();
    let names: BTreeSet<&String> = d.services.keys().chain(t.services.keys()).collect();
    for name in names {
        if let Some(s) = service(
            name,
            d.services.get(name),
            t.services.get(name),
            shared,
            t,
            templates,
            diags,
        ) {
            services.push(s);
        }
    }
    let infra = stacks(d, t, &vars, templates, diags);
    if services.is_empty() && diags.len() == before {
        diags.push(Diagnostic::at(
            &t.top,
            format!("tenant `{}` has no services", t.name),
            Some("declare services in _defaults.toml as `[services.api]`".into()),
        ));
    }
    // A tenant with problems is still built when what rendering needs is there, so `validate`
    // also renders it and reports every problem of the fleet in one run; `load` refuses the
    // fleet all the same. A schedule or release with problems is left out of it.
    let valid_release =
        |r: &Option<Located<String>>| r.clone().filter(|r| check_release(&r.value).is_ok());
    Some(Tenant {
        name: t.name.clone(),
        file: t.path.clone(),
        account_id: account_id?,
        region: region?,
        cluster: cluster?,
        deploy_role: deploy_role?,
        inspect_role: inspect_role?,
        external_id,
        ring: ring?,
        pinned_release: valid_release(&t.tenant.release),
        default_release: valid_release(&d.tenant.release),
        schedule: schedule.unwrap_or_else(Schedule::always_open),
        vars: vec![shared.tenant_vars.clone(), Arc::new(t.tenant.vars.clone())],
        services,
        infra,
        ephemeral: t.tenant.ephemeral.is_some(),
        instance: None,
    })
}

fn service(
    name: &str,
    d: Option<&ServiceSection>,
    t: Option<&ServiceSection>,
    shared: &SharedDefaults,
    tenant: &FileLayer,
    templates: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Option<Service> {
    let pick = |f: fn(&ServiceSection) -> Option<&Located<u32>>| {
        t.and_then(f).or_else(|| d.and_then(f)).map(|l| l.value)
    };
    let anchor = t.or(d).map(|s| s.at.clone())?;
    let template = t
        .and_then(|s| s.template.clone())
        .or_else(|| d.and_then(|s| s.template.clone()));
    let Some(template) = template else {
        diags.push(Diagnostic::at(
            &anchor,
            format!("service `{name}` has no `template`"),
            Some(format!(
                "add `template = \"{name}.json.j2\"` under [services.{name}]"
            )),
        ));
        return None;
    };
    if !templates.contains(&template.value) {
        let hint = match did_you_mean(&template.value, templates.iter().map(String::as_str)) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!(
                "create templates/{} or name an existing template",
                template.value
            ),
        };
        diags.push(Diagnostic::at(
            &template.at,
            format!("template `{}` not found in templates/", template.value),
            Some(hint),
        ));
        return None;
    }
    let empty_env = || Arc::new(EnvBlock::default());
    let empty_vars = || Arc::new(VarBlock::default());
    Some(Service {
        name: name.to_owned(),
        ecs_service: t
            .and_then(|s| s.ecs_service.as_ref())
            .or_else(|| d.and_then(|s| s.ecs_service.as_ref()))
            .map_or_else(|| name.to_owned(), |l| l.value.clone()),
        template,
        desired_count: t
            .and_then(|s| s.desired_count.as_ref())
            .or_else(|| d.and_then(|s| s.desired_count.as_ref()))
            .map_or(DesiredCount::Fixed(1), |l| l.value),
        cpu: pick(|s| s.cpu.as_ref()),
        memory: pick(|s| s.memory.as_ref()),
        inject_into: t
            .and_then(|s| s.inject_into.clone())
            .or_else(|| d.and_then(|s| s.inject_into.clone())),
        alarms: t
            .and_then(|s| s.alarms.clone())
            .or_else(|| d.and_then(|s| s.alarms.clone())),
        before_deploy: match t
            .and_then(|s| s.before_deploy.as_ref())
            .or_else(|| d.and_then(|s| s.before_deploy.as_ref()))
        {
            Some(Located {
                value: HookSpec::Run(h),
                at,
            }) => Some(Located::new(h.clone(), at.clone())),
            Some(_) | None => None,
        },
        env: vec![
            EnvLayer {
                layer: Layer::Defaults,
                block: shared.env.clone(),
            },
            EnvLayer {
                layer: Layer::DefaultsService,
                block: shared
                    .service_env
                    .get(name)
                    .cloned()
                    .unwrap_or_else(empty_env),
            },
            EnvLayer {
                layer: Layer::Tenant,
                block: Arc::new(tenant.env.clone()),
            },
            EnvLayer {
                layer: Layer::TenantService,
                block: t.map_or_else(empty_env, |s| Arc::new(s.env.clone())),
            },
        ],
        vars: vec![
            shared.tenant_vars.clone(),
            shared
                .service_vars
                .get(name)
                .cloned()
                .unwrap_or_else(empty_vars),
            Arc::new(tenant.tenant.vars.clone()),
            t.map_or_else(empty_vars, |s| Arc::new(s.vars.clone())),
        ],
    })
}

/// Layers `[infra.STACK]` of the defaults and the tenant file: scalars tenant-over-defaults,
/// tags key by key, parameters kept as two layers for provenance.
fn stacks(
    d: &FileLayer,
    t: &FileLayer,
    vars: &Vars<'_>,
    templates: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Vec<Stack> {
    let keys: BTreeSet<&String> = d.infra.keys().chain(t.infra.keys()).collect();
    let mut out: Vec<Stack> = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for key in keys {
        let (ds, ts) = (d.infra.get(key), t.infra.get(key));
        let Some(anchor) = ts.or(ds).map(|s| s.at.clone()) else {
            continue;
        };
        let pick_s = |f: fn(&InfraSection) -> &Option<Located<String>>| {
            ts.and_then(|s| f(s).clone())
                .or_else(|| ds.and_then(|s| f(s).clone()))
        };
        let Some(template) = pick_s(|s| &s.template) else {
            diags.push(Diagnostic::at(
                &anchor,
                format!("stack `{key}` has no `template`"),
                Some(format!(
                    "add `template = \"{key}.cfn.yaml\"` under [infra.{key}]"
                )),
            ));
            continue;
        };
        if !templates.contains(&template.value) {
            let hint = match did_you_mean(&template.value, templates.iter().map(String::as_str)) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!(
                    "create templates/{} or name an existing template",
                    template.value
                ),
            };
            diags.push(Diagnostic::at(
                &template.at,
                format!("template `{}` not found in templates/", template.value),
                Some(hint),
            ));
            continue;
        }
        let pattern = pick_s(|s| &s.stack_name)
            .unwrap_or_else(|| Located::new("{tenant}-{stack}".to_owned(), anchor.clone()));
        let v = Vars {
            stack: Some(key),
            ..*vars
        };
        let Some(stack_name) = expand(&pattern, &v, diags) else {
            continue;
        };
        if let Err(why) = check_stack_name(&stack_name) {
            diags.push(Diagnostic::at(
                &pattern.at,
                format!("stack name `{stack_name}` is not valid for CloudFormation: {why}"),
                Some(
                    "use letters, digits and `-`, starting with a letter, e.g. `{tenant}-{stack}`"
                        .into(),
                ),
            ));
            continue;
        }
        if let Some(other) = names.insert(stack_name.clone(), key.clone()) {
            diags.push(Diagnostic::at(
                &pattern.at,
                format!("stacks `{other}` and `{key}` would both be named `{stack_name}`"),
                Some("give each stack its own name; `{stack}` in the pattern does that".into()),
            ));
            continue;
        }
        let mut tags: BTreeMap<String, String> = BTreeMap::new();
        for s in [ds, ts].into_iter().flatten() {
            for (k, val) in &s.tags {
                tags.insert(k.clone(), val.value.clone());
            }
        }
        let capabilities = ts
            .and_then(|s| s.capabilities.clone())
            .or_else(|| ds.and_then(|s| s.capabilities.clone()))
            .map(|c| c.value)
            .unwrap_or_default();
        let mut parameters = Vec::new();
        if let Some(s) = ds {
            parameters.push((InfraLayer::Defaults, Arc::new(s.parameters.clone())));
        }
        if let Some(s) = ts {
            parameters.push((InfraLayer::Tenant, Arc::new(s.parameters.clone())));
        }
        out.push(Stack {
            key: key.clone(),
            stack_name,
            template,
            capabilities,
            tags,
            parameters,
            at: anchor,
        });
    }
    out
}

/// CloudFormation's rule for stack names.
fn check_stack_name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > 128 {
        return Err("it must have 1 to 128 characters");
    }
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("it must start with a letter");
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("only letters, digits and `-` are allowed");
    }
    Ok(())
}

fn schedule(d: &FileLayer, t: &FileLayer, diags: &mut Diagnostics) -> Option<Schedule> {
    let tz = pick(&t.schedule.timezone, &d.schedule.timezone);
    // A tenant's windows replace the defaults' (a tenant narrows or widens its own);
    // freezes add up, so a fleet-wide freeze in _defaults.toml holds for everyone.
    let windows = t.schedule.windows.as_ref().or(d.schedule.windows.as_ref());
    let mut ok = true;
    let mut parsed = Vec::new();
    for w in windows.into_iter().flatten() {
        match w.value.parse::<Window>() {
            Ok(win) => parsed.push(win),
            Err(e) => {
                let d =
                    Diagnostic::at(&w.at, format!("deploy window `{}`: {e}", w.value), e.hint());
                diags.push(match e.token() {
                    Some(token) => d.focus(token),
                    None => d,
                });
                ok = false;
            }
        }
    }
    let mut freezes = Vec::new();
    for f in d.schedule.freezes.iter().chain(&t.schedule.freezes) {
        let from = parse_freeze_time(&f.value.from.value);
        let to = parse_freeze_time(&f.value.to.value);
        match (from, to) {
            (Ok(from), Ok(to)) => match Freeze::new(from, to, f.value.reason.clone()) {
                Ok(fr) => freezes.push(fr),
                Err(e) => {
                    diags.push(Diagnostic::at(&f.value.to.at, e.to_string(), e.hint()));
                    ok = false;
                }
            },
            (from, to) => {
                for (r, at, raw) in [
                    (from.err(), &f.value.from.at, &f.value.from.value),
                    (to.err(), &f.value.to.at, &f.value.to.value),
                ] {
                    if let Some(e) = r {
                        let d = Diagnostic::at(
                            at,
                            format!("freeze time `{raw}`: {e}"),
                            e.hint().or_else(|| {
                                Some("write a local date-time such as `2026-12-01T00:00`".into())
                            }),
                        );
                        diags.push(match e.token() {
                            Some(token) => d.focus(token),
                            None => d,
                        });
                    }
                }
                ok = false;
            }
        }
    }
    let tz_name = tz.map_or("UTC", |z| z.value.as_str());
    match Schedule::new(tz_name, parsed, freezes) {
        Ok(s) if ok => Some(s),
        Ok(_) => None,
        Err(e) => {
            let at = tz.map_or_else(|| t.top.clone(), |z| z.at.clone());
            // The error names the zone already ("unknown timezone `X`").
            diags.push(Diagnostic::at(&at, e.to_string(), e.hint()));
            None
        }
    }
}

#[derive(Clone, Copy)]
struct Vars<'a> {
    tenant: &'a str,
    /// Only in `stack_name` patterns.
    stack: Option<&'a str>,
    account_id: Option<&'a str>,
    region: Option<&'a str>,
    project: Option<&'a str>,
}

/// Expands `{tenant}`, `{account_id}`, `{region}`, `{project}`; anything else in braces is an error.
fn expand(s: &Located<String>, v: &Vars<'_>, diags: &mut Diagnostics) -> Option<String> {
    let mut out = String::with_capacity(s.value.len() + 16);
    let mut rest = s.value.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            diags.push(Diagnostic::at(
                &s.at,
                format!("unclosed `{{` in `{}`", s.value),
                Some(
                    "placeholders are written `{tenant}`, `{account_id}`, `{region}`, `{project}`"
                        .into(),
                ),
            ));
            return None;
        };
        let key = &rest[open + 1..open + close];
        let value = match key {
            "tenant" => Some(v.tenant),
            "account_id" => v.account_id,
            "region" => v.region,
            "project" => v.project,
            "stack" if v.stack.is_some() => v.stack,
            _ => {
                let mut names = vec!["tenant", "account_id", "region", "project"];
                if v.stack.is_some() {
                    names.push("stack");
                }
                let hint = match did_you_mean(key, names.iter().copied()) {
                    Some(m) => format!("did you mean `{{{m}}}`?"),
                    None => format!(
                        "the placeholders are {}",
                        names
                            .iter()
                            .map(|n| format!("`{{{n}}}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                diags.push(Diagnostic::at(
                    &s.at,
                    format!("unknown placeholder `{{{key}}}` in `{}`", s.value),
                    Some(hint),
                ));
                return None;
            }
        };
        // A missing value (no account_id, say) was reported where it is missing.
        out.push_str(value?);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The account of `arn:PARTITION:iam::ACCOUNT:role/NAME`.
fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let ok = arn_ == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource
            .strip_prefix("role/")
            .is_some_and(is_role_path_and_name);
    ok.then_some(account)
}

/// IAM's rules: a path of printable ASCII between slashes (at most 512), then a name of 1 to
/// 64 letters, digits and `+ = , . @ _ -`. Anything else (a newline, `:`, NUL) no role has.
fn is_role_path_and_name(s: &str) -> bool {
    let (path, name) = s.rsplit_once('/').map_or(("", s), |(p, n)| (p, n));
    path.len() <= 511
        && path.bytes().all(|b| (0x21..=0x7e).contains(&b))
        && !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// STS's rule for `ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`.
fn check_external_id(s: &str) -> Result<(), &'static str> {
    if !(2..=1224).contains(&s.len()) {
        return Err("it must have 2 to 1224 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
    {
        return Err("only letters, digits and `+ = , . @ : / - _` are allowed");
    }
    Ok(())
}

/// One customer is one tenant file: an account in two files is reported at the file that
/// introduced it (new or changed since the last commit; without git, the one modified last),
/// naming the tenant that had it first. Read from the files as written, so the duplicate shows
/// up in the same run as any other problem of those files.
fn check_accounts(root: &Path, layers: &[FileLayer], diags: &mut Diagnostics) {
    let mut by_account: BTreeMap<&str, Vec<(&FileLayer, &Located<String>)>> = BTreeMap::new();
    for l in layers {
        if let Some(a) = l
            .tenant
            .account_id
            .as_ref()
            .filter(|a| is_account_id(&a.value))
        {
            by_account.entry(&a.value).or_default().push((l, a));
        }
    }
    by_account.retain(|_, files| files.len() > 1);
    if by_account.is_empty() {
        return;
    }
    let changed = crate::vcs::changed_files(root, TENANTS_DIR);
    let newness = |l: &FileLayer| match &changed {
        Some(changed) => (changed.contains(&*l.path), None),
        None => (
            false,
            std::fs::metadata(root.join(&*l.path))
                .and_then(|m| m.modified())
                .ok(),
        ),
    };
    for (account, mut files) in by_account {
        // Oldest first, then by name: the first keeps the account.
        files.sort_by_cached_key(|(l, _)| (newness(l), l.name.clone()));
        let (first, first_at) = files[0];
        for (l, at) in &files[1..] {
            diags.push(
                Diagnostic::at(
                    &at.at,
                    format!(
                        "account {account} is already tenant `{}`'s ({first_at})",
                        first.name,
                        first_at = first_at.at
                    ),
                    Some(format!(
                        "one customer is one tenant file with its own account: correct the account id, or merge this file into {}",
                        first.path
                    )),
                )
                .tenant(&l.name),
            );
        }
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

pub fn check_release(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        None => Err("it is empty".to_owned()),
        Some(c) if !(c.is_ascii_alphanumeric() || c == '_') => {
            Err(format!("it starts with {}", describe_char(c)))
        }
        _ if s.len() > 128 => Err("it is longer than 128 characters".to_owned()),
        _ => match tag_char_not_allowed(s) {
            Some(c) => Err(format!("it has {}", describe_char(c))),
            None => Ok(()),
        },
    }
}

/// The first character an image tag may not hold (after its first).
fn tag_char_not_allowed(s: &str) -> Option<char> {
    s.chars()
        .skip(1)
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
}

/// A character named so it is seen: a space is not visible between backticks.
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        c => format!("`{c}`"),
    }
}

/// Tenant names appear in cluster names, session names and tags: keep them plain.
pub fn check_tenant_name(s: &str) -> Result<(), String> {
    super::parse::check_plain_name(s, 40)
}

fn suggest_tenant_name(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let t = t.trim_matches('-');
    if t.is_empty() {
        "tenant".into()
    } else {
        t.chars().take(40).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_died_reports_every_file_it_held() {
        let part = [
            ("acme".to_owned(), "tenants/acme.toml".to_owned()),
            ("globex".to_owned(), "tenants/globex.toml".to_owned()),
        ];
        let d = unread(&part, "boom");
        let files: Vec<_> = d.0.iter().filter_map(|d| d.file.as_deref()).collect();
        assert_eq!(files, ["tenants/acme.toml", "tenants/globex.toml"]);
        assert!(
            d.0.iter()
                .all(|d| d.message.contains("internal error: boom"))
        );
    }

    #[test]
    fn role_account_reads_iam_role_arns_only() {
        assert_eq!(
            role_account("arn:aws:iam::111111111111:role/stamp-deploy"),
            Some("111111111111")
        );
        assert_eq!(
            role_account("arn:aws:iam::111111111111:role/path/x"),
            Some("111111111111")
        );
        assert_eq!(role_account("arn:aws:iam::111111111111:user/x"), None);
        assert_eq!(role_account("arn:aws:iam::1111:role/x"), None);
        assert_eq!(role_account("stamp-deploy"), None);
        for bad in ["stamp\ndeploy", "stamp:deploy", "stamp\0", "x/", "a b"] {
            let arn = format!("arn:aws:iam::111111111111:role/{bad}");
            assert_eq!(role_account(&arn), None, "{arn:?}");
        }
        assert!(check_external_id("tenant-7:prod/x@y").is_ok());
        for bad in ["x", "new\nline", "nul\0", "sp ace"] {
            assert!(check_external_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn regions_and_releases() {
        assert!(is_region("ap-northeast-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("tokyo"));
        assert!(!is_region("ap-northeast"));
        assert!(check_release("v1.42.0").is_ok());
        assert!(check_release("v1/2").is_err());
        assert!(check_release(".x").is_err());
    }

    #[test]
    fn tenant_names() {
        assert!(check_tenant_name("acme").is_ok());
        assert!(check_tenant_name("t00001").is_ok());
        assert!(check_tenant_name("Acme").is_err());
        assert_eq!(suggest_tenant_name("Acme Corp"), "acme-corp");
    }
}
