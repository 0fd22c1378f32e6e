//! At home in editors and shells: the committed schemas and README key table are current, Taplo
//! accepts the example fleet and flags bad files at the right keys, the shells load the
//! completion scripts and Tab completes the fleet's names, `--version` says what was built.
//!
//! `STAMP_BLESS=1 cargo test --test it editor` rewrites schema/ and the README's key table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use stamp::dsl::keys;
use stamp::dsl::schema::{self, Which};

use crate::support::{Fixture, repo_root, run_command, stamp_command};

const README_BEGIN: &str = "<!-- generated from src/dsl/keys.rs: begin -->\n";
const README_END: &str = "<!-- generated from src/dsl/keys.rs: end -->";

fn bless() -> bool {
    std::env::var_os("STAMP_BLESS").is_some_and(|v| v == "1")
}

/// Compares a committed generated file with what the code generates now (or rewrites it).
fn current(path: &Path, want: &str, how: &str) {
    let have = std::fs::read_to_string(path).unwrap_or_default();
    if have == want {
        return;
    }
    if bless() {
        std::fs::write(path, want).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    panic!(
        "{} is not current with src/dsl/keys.rs: {how} (or STAMP_BLESS=1 cargo test --test it editor)",
        path.display()
    );
}

#[test]
fn the_committed_schemas_are_current() {
    for which in [Which::Tenant, Which::Defaults] {
        let path = repo_root().join("schema").join(which.file_name());
        current(
            &path,
            &schema::text(which),
            &format!(
                "regenerate it with `stamp schema > schema/{}`",
                which.file_name()
            ),
        );
    }
}

#[test]
fn stamp_schema_prints_the_committed_schemas_without_a_fleet() {
    for (arg, file) in [
        ("tenant", "tenant.schema.json"),
        ("defaults", "defaults.schema.json"),
    ] {
        let mut c = stamp_command();
        c.current_dir(std::env::temp_dir()).args(["schema", arg]);
        let run = run_command(c);
        run.success();
        assert_eq!(
            run.stdout,
            schema::text(if arg == "tenant" {
                Which::Tenant
            } else {
                Which::Defaults
            })
        );
        let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        assert_eq!(
            v["$schema"], "http://json-schema.org/draft-07/schema#",
            "{file}"
        );
    }
}

#[test]
fn the_readme_key_table_is_generated_from_the_key_table() {
    let path = repo_root().join("README.md");
    let text = std::fs::read_to_string(&path).expect("README");
    let (before, rest) = text
        .split_once(README_BEGIN)
        .expect("README has the begin marker");
    let (_, after) = rest
        .split_once(README_END)
        .expect("README has the end marker");
    let want = format!(
        "{before}{README_BEGIN}{}{README_END}{after}",
        keys::markdown()
    );
    current(&path, &want, "the table between the markers is generated");
}

#[test]
fn every_file_of_the_example_fleet_names_its_schema() {
    for e in std::fs::read_dir(repo_root().join("tenants"))
        .expect("tenants/")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".toml") {
            continue;
        }
        let which = if name == "_defaults.toml" {
            Which::Defaults
        } else {
            Which::Tenant
        };
        let first = std::fs::read_to_string(e.path())
            .expect("read")
            .lines()
            .next()
            .map(str::to_owned);
        assert_eq!(
            first.as_deref(),
            Some(format!("#:schema ../schema/{}", which.file_name()).as_str()),
            "tenants/{name} must start with its #:schema directive (Taplo reads it from the first line)"
        );
    }
}

/// The pinned taplo binary (scripts/taplo installs it from PyPI into the user cache once).
fn taplo() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/taplo"))
            .arg("path")
            .output()
            .expect("run scripts/taplo");
        assert!(
            out.status.success(),
            "scripts/taplo path failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// `taplo check FILES` in `dir`: (success, everything it printed).
fn taplo_check(dir: &Path, files: &[&str]) -> (bool, String) {
    let out = Command::new(taplo())
        .current_dir(dir)
        .arg("check")
        .args(files)
        .env("NO_COLOR", "1")
        .output()
        .expect("run taplo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn taplo_accepts_the_example_fleet_against_the_committed_schemas() {
    let files: Vec<String> = std::fs::read_dir(repo_root().join("tenants"))
        .expect("tenants/")
        .flatten()
        .map(|e| format!("tenants/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".toml"))
        .collect();
    assert_eq!(files.len(), 5, "{files:?}");
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let (ok, out) = taplo_check(&repo_root(), &refs);
    assert!(ok, "taplo check failed on the example fleet:\n{out}");
}

#[test]
fn taplo_accepts_a_count_left_to_the_autoscaler() {
    let f = fleet_with_schemas();
    let text = f.read("tenants/acme.toml");
    assert!(text.contains("desired_count = 6"), "{text}");
    f.write(
        "tenants/acme.toml",
        &text.replace("desired_count = 6", "desired_count = \"auto\""),
    );
    let (ok, out) = taplo_check(f.root(), &["tenants/acme.toml"]);
    assert!(ok, "taplo refused desired_count = \"auto\":\n{out}");
}

/// A copy of the example fleet with schema/, where taplo resolves the #:schema directives.
fn fleet_with_schemas() -> Fixture {
    let f = Fixture::example();
    for which in [Which::Tenant, Which::Defaults] {
        f.write(
            &format!("schema/{}", which.file_name()),
            &schema::text(which),
        );
    }
    f
}

#[test]
fn taplo_flags_each_mistake_at_its_key() {
    // (what is wrong, the edit, the line taplo must point at, a word of its message)
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "misspelt key",
            "desired_count = 6",
            "desired_cont = 6",
            "desired_cont = 6",
            "'desired_cont' was unexpected",
        ),
        (
            "short account",
            "account_id = \"111111111111\"",
            "account_id = \"1111\"",
            "account_id = \"1111\"",
            "does not match",
        ),
        (
            "number in env",
            "NEW_CHECKOUT = \"true\"",
            "NEW_CHECKOUT = true",
            "NEW_CHECKOUT = true",
            "oneOf",
        ),
        (
            "two sources",
            "LEGACY    = { unset = true }",
            "LEGACY = { unset = true, ssm = \"/x\" }",
            "LEGACY = { unset = true, ssm",
            "oneOf",
        ),
        (
            "project in a tenant file",
            "[tenant]\n",
            "[project]\nname = \"x\"\n\n[tenant]\n",
            "[project]",
            "'project' was unexpected",
        ),
        (
            "count as a string (only \"auto\" is one)",
            "desired_count = 6",
            "desired_count = \"6\"",
            "desired_count = \"6\"",
            "'anyOf'",
        ),
        (
            "unknown capability",
            "[infra.app.parameters]",
            "[infra.app]\ncapabilities = [\"CAPABILITY_IM\"]\n\n[infra.app.parameters]",
            "\"CAPABILITY_IM\"",
            "is not one of",
        ),
    ];
    let f = fleet_with_schemas();
    for (what, from, to, line, message) in cases {
        let original = f.read("tenants/acme.toml");
        f.replace("tenants/acme.toml", from, to);
        let (ok, out) = taplo_check(f.root(), &["tenants/acme.toml"]);
        f.write("tenants/acme.toml", &original);
        assert!(!ok, "{what}: taplo accepted it:\n{out}");
        let at = f
            .read("tenants/acme.toml")
            .replacen(from, to, 1)
            .lines()
            .position(|l| l.contains(line))
            .map(|i| i + 1)
            .expect("the edited line");
        assert!(
            out.contains(&format!("acme.toml:{at}:")),
            "{what}: taplo does not point at line {at}:\n{out}"
        );
        assert!(out.contains(message), "{what}: no `{message}` in:\n{out}");
    }
}

#[test]
fn taplo_requires_the_account_of_a_tenant_but_not_of_the_defaults() {
    let f = fleet_with_schemas();
    f.replace("tenants/acme.toml", "account_id = \"111111111111\"\n", "");
    let (ok, out) = taplo_check(f.root(), &["tenants/acme.toml"]);
    assert!(
        !ok && out.contains("\"account_id\" is a required property"),
        "{out}"
    );
    let (ok, out) = taplo_check(f.root(), &["tenants/_defaults.toml"]);
    assert!(ok, "{out}");
}

/// What the shell's completion function asks stamp for the word at `index` of `words`.
fn complete(root: &Path, words: &[&str], index: usize) -> Vec<String> {
    let mut c = stamp_command();
    c.current_dir(root)
        .env("STAMP_COMPLETE", "bash")
        .env("_CLAP_IFS", "\n")
        .env("_CLAP_COMPLETE_INDEX", index.to_string())
        .arg("--")
        .args(words);
    let run = run_command(c);
    run.success();
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn tab_completes_the_tenants_of_the_fleet_at_hand() {
    let got = complete(&repo_root(), &["stamp", "plan", ""], 2);
    for t in ["acme", "globex", "initech", "umbrella"] {
        assert!(got.iter().any(|c| c == t), "no `{t}` in {got:?}");
    }
    assert!(!got.iter().any(|c| c == "_defaults"), "{got:?}");
    assert_eq!(
        complete(&repo_root(), &["stamp", "deploy", "gl"], 2),
        ["globex"]
    );
    // Another fleet's tenants, from its --root: the file names are what counts.
    let f = Fixture::example();
    std::fs::rename(f.path("tenants/acme.toml"), f.path("tenants/zeta.toml")).expect("rename");
    let root = f.root().to_string_lossy().into_owned();
    let got = complete(
        &std::env::temp_dir(),
        &["stamp", "--root", &root, "status", "z"],
        4,
    );
    assert_eq!(got, ["zeta"]);
}

#[test]
fn tab_completes_services_and_stacks() {
    let got = complete(&repo_root(), &["stamp", "explain", "acme", "-s", ""], 4);
    assert_eq!(got, ["api", "worker"]);
    let got = complete(&repo_root(), &["stamp", "infra", "plan", "--stack", ""], 4);
    assert_eq!(got, ["app"]);
}

#[test]
fn the_bash_completion_script_loads_and_registers_stamp() {
    let mut c = stamp_command();
    c.current_dir(std::env::temp_dir())
        .args(["completions", "bash"]);
    let run = run_command(c);
    run.success();
    let script = std::env::temp_dir().join(format!("stamp-completion-{}.bash", std::process::id()));
    std::fs::write(&script, &run.stdout).expect("write script");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source '{}'; complete -p stamp",
            script.display()
        ))
        .output()
        .expect("run bash");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("_clap_complete_stamp") && text.contains("stamp"),
        "bash did not load the script: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_shell_gets_a_script_that_calls_stamp_back() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let mut c = stamp_command();
        c.args(["completions", shell]);
        let run = run_command(c);
        run.success();
        assert!(
            run.stdout.contains("STAMP_COMPLETE"),
            "{shell}:\n{}",
            run.stdout
        );
    }
    // The other shells, where this machine has them: the script must at least parse.
    for (shell, check) in [("zsh", &["-n"][..]), ("fish", &["--no-execute"][..])] {
        if Command::new(shell).arg("--version").output().is_err() {
            eprintln!("{shell} is not installed: only its script's text was checked");
            continue;
        }
        let mut c = stamp_command();
        c.args(["completions", shell]);
        let script = run_command(c).stdout;
        let path =
            std::env::temp_dir().join(format!("stamp-completion-{}.{shell}", std::process::id()));
        std::fs::write(&path, script).expect("write");
        let out = Command::new(shell)
            .args(check)
            .arg(&path)
            .output()
            .expect("run shell");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn version_names_the_commit_and_target() {
    let mut c = stamp_command();
    c.arg("--version");
    let run = run_command(c);
    run.success();
    let line = run.stdout.trim();
    let want = format!("stamp {} (", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&want), "{line}");
    let inner = line.trim_start_matches(&want).trim_end_matches(')');
    let (commit, target) = inner.rsplit_once(' ').expect("commit and target");
    // build.rs computed it for this build (the test binary was built beside the binary).
    assert_eq!(commit, env!("STAMP_BUILD_COMMIT"), "{line}");
    // In a git checkout it is a commit of this repository, `-dirty` or not; HEAD itself may
    // have moved since the build.
    let in_git = repo_root().join(".git").exists();
    if in_git {
        let hash = commit.trim_end_matches("-dirty");
        assert!(
            hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{line}"
        );
        let known = Command::new("git")
            .current_dir(repo_root())
            .args(["cat-file", "-e", &format!("{hash}^{{commit}}")])
            .status()
            .is_ok_and(|s| s.success());
        assert!(known, "{hash} is not a commit of this repository");
    } else {
        assert_eq!(commit, "unknown commit", "{line}");
    }
    assert!(
        target.contains(std::env::consts::ARCH),
        "the target `{target}` does not name this machine's architecture"
    );
}

#[test]
fn man_writes_one_page_per_command() {
    let f = Fixture::empty();
    let mut c = stamp_command();
    c.args(["man", "--out-dir"]).arg(f.path("man"));
    run_command(c).success();
    for page in [
        "stamp.1",
        "stamp-deploy.1",
        "stamp-infra-apply.1",
        "stamp-schema.1",
    ] {
        let text = f.read(&format!("man/{page}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    let deploy = f.read("man/stamp-deploy.1");
    assert!(deploy.contains("failure\\-tolerance"), "{deploy}");
}
