//! Properties of the whole offline pipeline (tenant files → precedence → render → digest),
//! generated with proptest over real TOML text written to disk and read back by the library:
//!
//! * writing the example fleet's files with their keys and tables in another order (tables
//!   as `[headers]` or `{ inline }`), and creating the files in another order, never changes a
//!   digest;
//! * changing any one value that reaches a task definition always changes a digest, and
//!   changing one that does not (schedules, rings, roles, offline imports, unused vars) never
//!   does;
//! * a variable's value and provenance follow the five layers of DESIGN §2;
//! * any edit of any file of the fleet is rendered, or every problem is reported with its
//!   file, a message and a hint.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use stamp::dsl::Layer;
use stamp::render::{RenderError, Templates, render_service};
use stamp::resolve::{Kind, Lookups};

use crate::support::repo_root;

// ---- a small deterministic generator for the choices inside one case ------------------------

/// xorshift64*: the case's seed decides every order and form, so a failure replays.
struct Choices(u64);

impl Choices {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

// ---- TOML written in any key order and table form -----------------------------------------

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        serde_json::to_string(k).expect("a string serialises")
    }
}

/// A TOML value on one line (strings in JSON's escapes, which TOML's basic strings share).
fn inline(v: &toml::Value, c: &mut Choices) -> String {
    match v {
        toml::Value::String(s) => serde_json::to_string(s).expect("a string serialises"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Float(f) => format!("{f:?}"),
        toml::Value::Datetime(d) => d.to_string(),
        // Array order is meaning (rings, windows): never shuffled.
        toml::Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| inline(x, c))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            c.shuffle(&mut keys);
            let body: Vec<String> = keys
                .iter()
                .map(|k| format!("{} = {}", key(k), inline(&t[k.as_str()], c)))
                .collect();
            if body.is_empty() {
                "{}".to_owned()
            } else {
                format!("{{ {} }}", body.join(", "))
            }
        }
    }
}

/// The body of the table at `path`: its keys in a random order, each sub-table either inline
/// or as its own `[path.key]` section (written after, in a random order).
fn body(path: &[String], t: &toml::Table, c: &mut Choices, out: &mut String) {
    let mut keys: Vec<&String> = t.keys().collect();
    c.shuffle(&mut keys);
    let mut sections = Vec::new();
    for k in keys {
        match &t[k.as_str()] {
            toml::Value::Table(sub) if c.below(3) != 0 => sections.push((k, sub)),
            v => out.push_str(&format!("{} = {}\n", key(k), inline(v, c))),
        }
    }
    for (k, sub) in sections {
        let mut p = path.to_vec();
        p.push(k.clone());
        out.push_str(&format!(
            "\n[{}]\n",
            p.iter().map(|s| key(s)).collect::<Vec<_>>().join(".")
        ));
        body(&p, sub, c, out);
    }
}

/// `doc` as TOML text in an order and form chosen by `c`; checked to read back as `doc`.
fn write_toml(doc: &toml::Table, c: &mut Choices) -> String {
    let mut out = String::new();
    body(&[], doc, c, &mut out);
    let back: toml::Table = toml::from_str(&out)
        .unwrap_or_else(|e| panic!("the generated TOML does not parse: {e}\n{out}"));
    assert_eq!(
        &back, doc,
        "the generated TOML means something else:\n{out}"
    );
    out
}

// ---- the example fleet, its files and its digests -------------------------------------------

/// `tenants/<file>` → its parsed TOML, for the example fleet.
fn example_files() -> &'static BTreeMap<String, toml::Table> {
    static FILES: OnceLock<BTreeMap<String, toml::Table>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = repo_root().join("tenants");
        std::fs::read_dir(&dir)
            .expect("read tenants/")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| {
                let name = p.file_name().expect("name").to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&p).expect("read tenant file");
                (name, toml::from_str(&text).expect("example files parse"))
            })
            .collect()
    })
}

/// A fleet folder with the example templates and `files` written in the order of `names`.
fn fleet_dir(files: &BTreeMap<String, String>, names: &[&String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("tenants")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
    for t in std::fs::read_dir(repo_root().join("templates")).expect("templates/") {
        let p = t.expect("entry").path();
        std::fs::copy(
            &p,
            dir.path()
                .join("templates")
                .join(p.file_name().expect("name")),
        )
        .expect("copy template");
    }
    for name in names {
        std::fs::write(dir.path().join("tenants").join(name), &files[*name]).expect("write");
    }
    dir
}

/// `tenant/service` → digest of every service rendered offline, and the plan digest.
fn digests(root: &Path) -> (BTreeMap<String, String>, String) {
    let fleet = stamp::dsl::load(root).unwrap_or_else(|d| panic!("the fleet loads:\n{d}"));
    let templates = Templates::load(&fleet).unwrap_or_else(|d| panic!("templates load:\n{d}"));
    let lookups = Lookups::offline();
    let mut out = BTreeMap::new();
    for t in &fleet.tenants {
        for s in &t.services {
            let r = render_service(&templates, &fleet, t, s, None, &lookups)
                .unwrap_or_else(|e| panic!("{}/{} renders: {e:?}", t.name, s.name));
            let d = stamp::plan::DesiredService::from_rendered(&r, &t.account_id, &t.region);
            out.insert(format!("{}/{}", t.name, s.name), d.digest());
        }
    }
    let entries: Vec<(&str, &str, &str)> = out
        .iter()
        .map(|(k, d)| {
            let (t, s) = k.split_once('/').expect("tenant/service");
            (t, s, d.as_str())
        })
        .collect();
    let plan = stamp::plan::plan_digest(&entries);
    (out, plan)
}

fn example_digests() -> &'static (BTreeMap<String, String>, String) {
    static D: OnceLock<(BTreeMap<String, String>, String)> = OnceLock::new();
    D.get_or_init(|| digests(&repo_root()))
}

/// Writes `files` (parsed TOML) in random key orders and forms, in a random file order.
fn written(files: &BTreeMap<String, toml::Table>, c: &mut Choices) -> tempfile::TempDir {
    let texts: BTreeMap<String, String> = files
        .iter()
        .map(|(n, doc)| (n.clone(), write_toml(doc, c)))
        .collect();
    let mut names: Vec<&String> = texts.keys().collect();
    c.shuffle(&mut names);
    fleet_dir(&texts, &names)
}

// ---- which values reach a task definition -------------------------------------------------

/// Every leaf of a document with its path (arrays are leaves: their order is meaning).
fn leaves(t: &toml::Table, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, toml::Value)>) {
    for (k, v) in t {
        path.push(k.clone());
        match v {
            toml::Value::Table(sub) => leaves(sub, path, out),
            leaf => out.push((path.clone(), leaf.clone())),
        }
        path.pop();
    }
}

/// For one leaf of the example fleet: a changed value that keeps the fleet valid, and
/// whether it must change a digest (offline). `None` for leaves no valid change exists for
/// here (rings, template names, timezones, lists, `unset = true`).
fn change(path: &[String], v: &toml::Value) -> Option<(toml::Value, bool)> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let last = *p.last()?;
    let reaches = match p.as_slice() {
        ["schedule", "timezone"] => false,
        ["schedule", ..] | ["tenant", "ring"] => return None,
        ["tenant", "deploy_role" | "inspect_role"] => false,
        // Offline, an import reads nothing, so its path reaches no definition.
        [.., "env_from", "ssm_path"] => false,
        // No template uses it.
        [.., "vars", "log_retention_days"] => false,
        [.., "template"] => return None,
        // Stack parameters and tags shape the tenant's CloudFormation stack (`infra plan`
        // has its own comparison), not a task definition.
        ["infra", _, "parameters" | "tags", ..] => false,
        _ => true,
    };
    let changed = match (last, v) {
        ("account_id", toml::Value::String(s)) => {
            let mut s = s.clone();
            let d = s.pop()?;
            s.push(if d == '9' { '8' } else { '9' });
            toml::Value::String(s)
        }
        ("timezone", toml::Value::String(s)) => toml::Value::String(
            if s == "Europe/Paris" {
                "UTC"
            } else {
                "Europe/Paris"
            }
            .to_owned(),
        ),
        ("region", toml::Value::String(s)) => toml::Value::String(
            if s == "eu-north-1" {
                "eu-south-1"
            } else {
                "eu-north-1"
            }
            .to_owned(),
        ),
        ("ssm_path", toml::Value::String(s)) => {
            toml::Value::String(format!("{}x/", s.trim_end_matches('/')))
        }
        (_, toml::Value::String(s)) => toml::Value::String(format!("{s}x")),
        (_, toml::Value::Integer(i)) => toml::Value::Integer(i + 1),
        _ => return None,
    };
    Some((changed, reaches))
}

fn set(t: &mut toml::Table, path: &[String], v: toml::Value) {
    match path {
        [last] => {
            t.insert(last.clone(), v);
        }
        [first, rest @ ..] => match t.get_mut(first) {
            Some(toml::Value::Table(sub)) => set(sub, rest, v),
            _ => panic!("no table at {first}"),
        },
        [] => {}
    }
}

/// One changeable leaf of the example fleet: file, path, new value, reaches a digest.
type Change = (String, Vec<String>, toml::Value, bool);

/// Every changeable leaf of the example fleet.
fn changes() -> &'static Vec<Change> {
    static C: OnceLock<Vec<Change>> = OnceLock::new();
    C.get_or_init(|| {
        let mut out = Vec::new();
        for (file, doc) in example_files() {
            let mut ls = Vec::new();
            leaves(doc, &mut Vec::new(), &mut ls);
            for (path, v) in ls {
                if let Some((new, reaches)) = change(&path, &v) {
                    out.push((file.clone(), path, new, reaches));
                }
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn reordering_keys_tables_or_files_never_changes_a_digest(seed in any::<u64>()) {
        let mut c = Choices::new(seed);
        let dir = written(example_files(), &mut c);
        let (services, plan) = digests(dir.path());
        let (base_services, base_plan) = example_digests();
        prop_assert_eq!(&services, base_services);
        prop_assert_eq!(&plan, base_plan);
    }

}

/// Every changeable value of the example fleet, one at a time (each written in its own
/// random order): exhaustive rather than sampled, so no value can be missed.
#[test]
fn changing_one_value_changes_a_digest_exactly_when_it_reaches_a_task_definition() {
    let (base_services, base_plan) = example_digests();
    let mut wrong = Vec::new();
    for (i, (file, path, new, reaches)) in changes().iter().enumerate() {
        let mut files = example_files().clone();
        set(files.get_mut(file).expect("file"), path, new.clone());
        let seed = u64::try_from(i)
            .unwrap_or(0)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let dir = written(&files, &mut Choices::new(seed));
        let (services, plan) = digests(dir.path());
        let what = format!("{file} {} = {new:?}", path.join("."));
        match (*reaches, &services == base_services, &plan == base_plan) {
            (true, false, false) | (false, true, true) => {}
            (true, _, _) => wrong.push(format!("{what}: changed no digest (or not the plan's)")),
            (false, _, _) => wrong.push(format!("{what}: changed a digest")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_value_changes_cover_every_kind_of_file_and_both_outcomes() {
    // Guards the property above against a `change` that silently skips everything.
    let c = changes();
    assert!(c.len() >= 40, "only {} changeable values", c.len());
    assert!(
        c.iter().any(|x| !x.3),
        "no value that must leave digests alone"
    );
    for file in example_files().keys() {
        assert!(c.iter().any(|x| &x.0 == file), "no change in {file}");
    }
}

// ---- precedence ---------------------------------------------------------------------------

/// One definition of a variable in one layer.
#[derive(Debug, Clone, PartialEq)]
enum Def {
    Literal(String),
    Secret(String),
    Unset,
}

const NAMES: [&str; 5] = ["A", "B", "C", "D", "E"];

/// Per layer (template, defaults, defaults service, tenant, tenant service), the variables it
/// defines. The template can only give literals.
fn layers() -> impl Strategy<Value = Vec<BTreeMap<&'static str, Def>>> {
    let def = |layer: usize| {
        let literal = "[a-z0-9]{0,4}".prop_map(Def::Literal).boxed();
        if layer == 0 {
            literal
        } else {
            prop_oneof![
                3 => literal,
                1 => "[a-z]{1,4}".prop_map(|p| Def::Secret(format!("/p/{p}"))),
                1 => Just(Def::Unset),
            ]
            .boxed()
        }
    };
    (0..5)
        .map(|layer| {
            proptest::collection::btree_map(
                proptest::sample::select(NAMES.to_vec()),
                def(layer),
                0..4,
            )
        })
        .collect::<Vec<_>>()
}

fn env_lines(defs: &BTreeMap<&str, Def>) -> String {
    defs.iter()
        .map(|(n, d)| match d {
            Def::Literal(v) => format!("{n} = \"{v}\"\n"),
            Def::Secret(p) => format!("{n} = {{ secret = \"{p}\" }}\n"),
            Def::Unset => format!("{n} = {{ unset = true }}\n"),
        })
        .collect()
}

/// A one-tenant, one-service fleet whose five layers define `layers`.
fn precedence_fleet(layers: &[BTreeMap<&'static str, Def>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let env: Vec<String> = layers[0]
        .iter()
        .map(|(n, d)| match d {
            Def::Literal(v) => format!("{{ \"name\": \"{n}\", \"value\": \"{v}\" }}"),
            _ => unreachable!("the template layer only has literals"),
        })
        .collect();
    let template = format!(
        r#"{{ "family": "p-{{{{ service.name }}}}", "memory": "512",
  "containerDefinitions": [{{ "name": "app", "image": "{{{{ image }}}}", "environment": [{}] }}] }}
"#,
        env.join(", ")
    );
    let defaults = format!(
        "[project]\nname = \"p\"\nimage = \"example.com/p\"\nrings = [\"all\"]\n\n\
         [tenant]\nregion = \"eu-west-1\"\ncluster = \"{{tenant}}\"\nring = \"all\"\nrelease = \"r1\"\n\
         deploy_role = \"arn:aws:iam::{{account_id}}:role/d\"\ninspect_role = \"arn:aws:iam::{{account_id}}:role/i\"\n\n\
         [schedule]\ntimezone = \"UTC\"\nwindows = []\n\n\
         [env]\n{}\n[services.svc]\ntemplate = \"t.json.j2\"\n\n[services.svc.env]\n{}",
        env_lines(&layers[1]),
        env_lines(&layers[2])
    );
    let tenant = format!(
        "[tenant]\naccount_id = \"123456789012\"\n\n[env]\n{}\n[services.svc.env]\n{}",
        env_lines(&layers[3]),
        env_lines(&layers[4])
    );
    for (rel, text) in [
        ("templates/t.json.j2", template),
        ("tenants/_defaults.toml", defaults),
        ("tenants/t.toml", tenant),
    ] {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

const LAYERS: [Layer; 5] = [
    Layer::Template,
    Layer::Defaults,
    Layer::DefaultsService,
    Layer::Tenant,
    Layer::TenantService,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The model: for each variable, its definitions from the lowest layer up; the highest
    /// wins (an `unset` there removes it); what it overrode is every lower definition,
    /// nearest first; and the container gets the winners only, secrets by ARN.
    #[test]
    fn a_variable_resolves_to_its_highest_layer_with_every_lower_one_as_overridden(
        layers in layers(),
    ) {
        let dir = precedence_fleet(&layers);
        let fleet = stamp::dsl::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
        let templates = Templates::load(&fleet).unwrap_or_else(|d| panic!("{d}"));
        let t = &fleet.tenants[0];
        let r = render_service(&templates, &fleet, t, &t.services[0], None, &Lookups::offline())
            .unwrap_or_else(|e| panic!("{e:?}"));
        let container = &r.task_definition.container_definitions[0];
        for name in NAMES {
            let defs: Vec<(usize, &Def)> = layers
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.get(name).map(|d| (i, d)))
                .collect();
            let resolved = r.variables.iter().find(|v| v.name == name);
            let removed = r.removed.iter().find(|v| v.name == name);
            let env = container.environment().iter().find(|kv| kv.name.as_deref() == Some(name));
            let secret = container.secrets().iter().find(|s| s.name == name);
            let Some(&(top, winner)) = defs.last() else {
                prop_assert!(resolved.is_none() && removed.is_none() && env.is_none() && secret.is_none());
                continue;
            };
            // Nearest first: the lower layers' definitions, highest of them first.
            let lower: Vec<(Layer, Option<String>)> = defs[..defs.len() - 1]
                .iter()
                .rev()
                .map(|(i, d)| (LAYERS[*i], match d { Def::Literal(v) => Some(v.clone()), _ => None }))
                .collect();
            match winner {
                Def::Unset => {
                    prop_assert!(resolved.is_none() && env.is_none() && secret.is_none(), "{name} was unset");
                    let removed = removed.expect("an unset variable is listed as removed");
                    prop_assert_eq!(removed.layer, LAYERS[top]);
                    let shadowed: Vec<(Layer, Option<String>)> =
                        removed.overrides.iter().map(|s| (s.layer, s.value.clone())).collect();
                    prop_assert_eq!(shadowed, lower, "{} removal history", name);
                }
                Def::Literal(v) => {
                    let resolved = resolved.expect("a set variable is resolved");
                    prop_assert_eq!(resolved.layer, LAYERS[top]);
                    prop_assert_eq!(resolved.value.as_deref(), Some(v.as_str()));
                    prop_assert_eq!(env.and_then(|kv| kv.value.as_deref()), Some(v.as_str()));
                    prop_assert!(secret.is_none() && removed.is_none());
                    let shadowed: Vec<(Layer, Option<String>)> =
                        resolved.overrides.iter().map(|s| (s.layer, s.value.clone())).collect();
                    prop_assert_eq!(shadowed, lower, "{} overrides", name);
                }
                Def::Secret(p) => {
                    let resolved = resolved.expect("a secret variable is resolved");
                    prop_assert_eq!(resolved.kind, Kind::Secret);
                    prop_assert_eq!(resolved.layer, LAYERS[top]);
                    prop_assert!(resolved.value.is_none(), "a secret never has a value");
                    let arn = format!("arn:aws:ssm:eu-west-1:123456789012:parameter{p}");
                    prop_assert_eq!(secret.map(|s| s.value_from.as_str()), Some(arn.as_str()));
                    prop_assert!(env.is_none() && removed.is_none());
                    let shadowed: Vec<(Layer, Option<String>)> =
                        resolved.overrides.iter().map(|s| (s.layer, s.value.clone())).collect();
                    prop_assert_eq!(shadowed, lower, "{} overrides", name);
                }
            }
        }
        // Nothing but the five names reaches the container.
        for kv in container.environment() {
            prop_assert!(kv.name.as_deref().is_some_and(|n| NAMES.contains(&n)), "{:?}", kv);
        }
    }
}

// ---- any edit of any file -----------------------------------------------------------------

/// Every file of the example fleet as text, relative to the fleet root.
fn example_texts() -> &'static Vec<(String, String)> {
    static T: OnceLock<Vec<(String, String)>> = OnceLock::new();
    T.get_or_init(|| {
        let mut out = Vec::new();
        for sub in ["tenants", "templates"] {
            for e in std::fs::read_dir(repo_root().join(sub)).expect("read dir") {
                let p = e.expect("entry").path();
                let name = p.file_name().expect("name").to_string_lossy().into_owned();
                out.push((
                    format!("{sub}/{name}"),
                    std::fs::read_to_string(&p).expect("read"),
                ));
            }
        }
        out.sort();
        out
    })
}

fn boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// What `stamp validate` does, after one random edit of one file: every service renders,
    /// or every problem names its file, says what is wrong and gives a hint. Never a panic.
    #[test]
    fn any_edit_of_any_fleet_file_is_rendered_or_reported_with_a_hint(
        which in any::<prop::sample::Index>(),
        at in 0.0f64..=1.0,
        cut in 0usize..12,
        insert in prop_oneof![
            "\\PC{0,8}",
            "[\\[\\]{}=\"',.#%\n a-z0-9_-]{0,8}",
        ],
    ) {
        let files = example_texts();
        let (rel, base) = which.get(files);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let start = boundary(base, (base.len() as f64 * at) as usize);
        let end = boundary(base, (start + cut).min(base.len()));
        let edited = format!("{}{insert}{}", &base[..start], &base[end..]);
        let texts: BTreeMap<String, String> = files
            .iter()
            .map(|(n, t)| (n.clone(), if n == rel { edited.clone() } else { t.clone() }))
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        for (n, t) in &texts {
            let p = dir.path().join(n);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, t).expect("write");
        }
        let (fleet, mut diags) = stamp::dsl::load_partial(dir.path());
        if let Some(fleet) = fleet {
            match Templates::load(&fleet) {
                Err(d) => diags.0.extend(d.0),
                Ok(templates) => {
                    for t in &fleet.tenants {
                        for s in &t.services {
                            match render_service(&templates, &fleet, t, s, None, &Lookups::offline()) {
                                Ok(_) | Err(RenderError::NoRelease | RenderError::Missing(_)) => {}
                                Err(RenderError::Invalid(d)) => diags.0.extend(d),
                            }
                        }
                    }
                }
            }
        }
        for d in &diags.0 {
            let shown = d.to_string();
            prop_assert!(d.file.is_some(), "no file: {}", shown);
            prop_assert!(!d.message.is_empty(), "no message: {}", shown);
            prop_assert!(d.hint.as_deref().is_some_and(|h| !h.is_empty()), "no hint: {}", shown);
            if d.file.as_deref().is_some_and(|f| f.starts_with("tenants/")) && d.file.as_deref() != Some("tenants") {
                // A problem inside a tenant file names its line, unless it is about the
                // whole file (its name).
                prop_assert!(d.line.is_some() || d.message.contains("not a valid tenant name"), "no line: {}", shown);
            }
        }
    }
}
