//! Hostile and careless input (issue 20): a fleet repository that configures programs for
//! git to run, output folders that hold other people's files, inputs that are symlinks out of
//! the repository or never end, runaway templates, and control characters meant for the
//! terminal of whoever runs stamp. Single mistakes are in the corpus (`tests/corpus/`); these
//! are the cases that need more than one file edit or look at more than one stream.

use std::path::Path;
use std::process::Command;

use crate::support::Fixture;

/// Runs git in `root` with a fixed identity, failing the test if git fails.
fn git(root: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- git runs nothing the repository configures ----------------------------------------------

/// Every program a repository can ask git to run while reading status: each leaves a mark
/// file in `marks` when it runs.
fn plant_programs(root: &Path, marks: &Path) {
    let script = |name: &str, body: &str| {
        let path = marks.join(format!("{name}.sh"));
        let mark = marks.join(format!("{name}.ran"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\ntouch '{}'\n{body}\n", mark.display()),
        )
        .expect("write script");
        let _ = Command::new("chmod").arg("+x").arg(&path).status();
        path.display().to_string()
    };
    let hooks = root.join(".git/planted-hooks");
    std::fs::create_dir_all(&hooks).expect("mkdir hooks");
    for hook in [
        "post-index-change",
        "reference-transaction",
        "post-checkout",
    ] {
        let s = script(hook, "exit 0");
        std::fs::copy(&s, hooks.join(hook)).expect("copy hook");
        let _ = Command::new("chmod")
            .arg("+x")
            .arg(hooks.join(hook))
            .status();
    }
    let config: [(&str, String); 9] = [
        ("core.fsmonitor", script("fsmonitor", "exit 1")),
        ("core.hooksPath", hooks.display().to_string()),
        ("core.pager", script("pager", "cat")),
        ("pager.status", script("pager-status", "cat")),
        ("diff.external", script("external-diff", "exit 0")),
        ("filter.planted.clean", script("clean-filter", "cat")),
        ("filter.planted.smudge", script("smudge-filter", "cat")),
        ("filter.planted.process", script("process-filter", "exit 1")),
        ("diff.planted.textconv", script("textconv", "cat \"$1\"")),
    ];
    for (key, value) in &config {
        git(root, &["config", key, value]);
    }
    std::fs::write(
        root.join(".gitattributes"),
        "* filter=planted diff=planted\n",
    )
    .expect("write .gitattributes");
}

fn ran(marks: &Path) -> Vec<String> {
    let mut ran: Vec<String> = std::fs::read_dir(marks)
        .expect("read marks")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ran"))
        .collect();
    ran.sort();
    ran
}

#[test]
fn git_runs_no_program_the_fleet_repository_configures() {
    let f = Fixture::example();
    let marks = tempfile::tempdir().expect("temp dir");
    git(f.root(), &["init", "-q"]);
    git(f.root(), &["add", "-A"]);
    git(f.root(), &["commit", "-qm", "fleet"]);
    plant_programs(f.root(), marks.path());
    // A change of content, one of only the modification time (git compares content then),
    // and a new file: every path `git status` takes.
    f.append("tenants/acme.toml", "# an edit nobody committed");
    let t = f.read("tenants/globex.toml");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    f.write("tenants/globex.toml", &t);
    f.write("templates/new.json.j2", "{}");

    let run = f.stamp(&["deploy", "--all", "--yes"]);
    assert_eq!(ran(marks.path()), Vec::<String>::new(), "{}", run.stderr);
    run.no_panic().code(2).stderr_has(&["uncommitted changes"]);

    let commit = stamp::vcs::commit(f.root()).expect("a commit");
    assert!(commit.dirty);
    assert_eq!(ran(marks.path()), Vec::<String>::new());
}

/// The marks are real: the same repository makes plain `git status` run them.
#[test]
fn the_planted_programs_run_under_plain_git() {
    let f = Fixture::example();
    let marks = tempfile::tempdir().expect("temp dir");
    git(f.root(), &["init", "-q"]);
    git(f.root(), &["add", "-A"]);
    git(f.root(), &["commit", "-qm", "fleet"]);
    plant_programs(f.root(), marks.path());
    let t = f.read("tenants/globex.toml");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    f.write("tenants/globex.toml", &t);
    let _ = Command::new("git")
        .arg("-C")
        .arg(f.root())
        .args(["status", "--porcelain"])
        .output()
        .expect("git status");
    let ran = ran(marks.path());
    assert!(ran.contains(&"fsmonitor.ran".to_owned()), "{ran:?}");
    assert!(ran.iter().any(|r| r.contains("filter")), "{ran:?}");
}

// ---- inputs come from the repository only ------------------------------------------------------

/// A canary credentials file outside the fleet: its text must never reach any output.
const CANARY: &str = "aws_secret_access_key = CANARY0SECRET0VALUE";

fn outside_secret() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("credentials"),
        format!("[default]\n{CANARY}\nnot toml at all = = =\n"),
    )
    .expect("write");
    dir
}

/// Replaces `rel` in the fixture with a symbolic link to `target`.
fn link(f: &Fixture, rel: &str, target: &Path) {
    let _ = std::fs::remove_file(f.path(rel));
    std::os::unix::fs::symlink(target, f.path(rel)).expect("symlink");
}

/// Runs stamp and kills it if it has not finished within `secs`: a hang is a failure.
fn stamp_within(f: &Fixture, args: &[&str], secs: u64) -> crate::support::Run {
    let mut cmd = crate::support::stamp_command();
    cmd.arg("--root").arg(f.root()).args(args);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn stamp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("stamp {args:?} did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn input_files_linked_out_of_the_repository_are_refused_and_nothing_of_them_is_shown() {
    let secret = outside_secret();
    let target = secret.path().join("credentials");
    for rel in [
        "tenants/acme.toml",
        "tenants/_defaults.toml",
        "templates/worker.json.j2",
    ] {
        let f = Fixture::example();
        link(&f, rel, &target);
        for args in [&["validate"][..], &["validate", "--output", "json"]] {
            let run = f.stamp(args);
            run.no_panic().code(2);
            let both = format!("{}{}", run.stdout, run.stderr);
            assert!(
                !both.contains("CANARY0SECRET0VALUE"),
                "{rel}: leaked\n{both}"
            );
            assert!(!both.contains(&*secret.path().to_string_lossy()), "{both}");
            assert!(
                both.contains("leads out of the repository"),
                "{rel}:\n{both}"
            );
        }
    }
}

#[test]
fn a_tenant_file_linked_to_an_endless_device_or_a_pipe_is_refused_at_once() {
    let f = Fixture::example();
    link(&f, "tenants/acme.toml", Path::new("/dev/zero"));
    stamp_within(&f, &["validate"], 10)
        .no_panic()
        .code(2)
        .stderr_has(&["tenants/acme.toml", "leads out of the repository"]);

    let f = Fixture::example();
    f.remove("tenants/globex.toml");
    let made = Command::new("mkfifo")
        .arg(f.path("tenants/globex.toml"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    stamp_within(&f, &["validate"], 10)
        .no_panic()
        .code(2)
        .stderr_has(&["tenants/globex.toml", "not a regular file but a named pipe"]);
}

#[test]
fn a_link_that_stays_inside_the_repository_is_read() {
    let f = Fixture::example();
    f.write("shared/umbrella.toml", &f.read("tenants/umbrella.toml"));
    link(&f, "tenants/umbrella.toml", &f.path("shared/umbrella.toml"));
    f.write("shared/worker.json.j2", &f.read("templates/worker.json.j2"));
    link(
        &f,
        "templates/worker.json.j2",
        Path::new("../shared/worker.json.j2"),
    );
    f.stamp(&["validate"]).no_panic().success();
}

#[test]
fn an_oversize_tenant_file_is_refused_with_the_limit() {
    let f = Fixture::example();
    f.append(
        "tenants/acme.toml",
        &"# padding padding padding\n".repeat(45_000),
    );
    f.stamp(&["validate"]).no_panic().code(2).stderr_has(&[
        "tenants/acme.toml",
        "the limit for a tenant file is 1048576 bytes",
    ]);
}

#[test]
fn a_template_with_a_byte_order_mark_renders_like_one_without() {
    let f = Fixture::example();
    let text = f.read("templates/worker.json.j2");
    f.write("templates/worker.json.j2", &format!("\u{feff}{text}"));
    f.stamp(&["validate"]).no_panic().success();
}

// ---- render --out-dir writes only what stamp owns ---------------------------------------------

/// Every file under `dir` with its bytes, to show a refused run changed nothing.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read dir").flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(base)
                .expect("under base")
                .display()
                .to_string();
            if p.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(base, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn render_to(f: &Fixture, dir: &str) -> crate::support::Run {
    f.stamp(&["render", "--all", "--offline", "--out-dir", dir])
}

#[test]
fn out_dir_refuses_the_repository_itself_and_deletes_nothing() {
    let f = Fixture::example();
    // Tenants named like the repository's own folders, as in the report.
    f.write(
        "tenants/templates.toml",
        &f.read("tenants/umbrella.toml")
            .replace("444444444444", "555555555555"),
    );
    f.write("src/main.rs", "fn main() {}\n");
    f.write(
        "tenants/src.toml",
        &f.read("tenants/umbrella.toml")
            .replace("444444444444", "666666666666"),
    );
    git(f.root(), &["init", "-q"]);
    git(f.root(), &["add", "-A"]);
    git(f.root(), &["commit", "-qm", "fleet"]);
    let before = snapshot(f.root());
    let root = f.root().display().to_string();
    for dir in [
        root.as_str(),
        &format!("{root}/tenants"),
        &format!("{root}/src"),
    ] {
        let run = render_to(&f, dir);
        run.no_panic().code(2).stderr_has(&["--out-dir"]);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    let run = f.stamp_in(
        "tenants",
        &["render", "--all", "--offline", "--out-dir", ".."],
    );
    run.no_panic()
        .code(2)
        .stderr_has(&["holds the fleet repository"]);
    let mut after = snapshot(f.root());
    after.retain(|k, _| !k.starts_with(".git/"));
    let mut before = before;
    before.retain(|k, _| !k.starts_with(".git/"));
    assert_eq!(after, before);
}

#[test]
fn out_dir_refuses_the_file_system_root() {
    let f = Fixture::example();
    render_to(&f, "/")
        .no_panic()
        .code(2)
        .stderr_has(&["--out-dir `/` is the file system's root"]);
}

#[test]
fn out_dir_refuses_a_folder_holding_files_stamp_did_not_write_before_writing_anything() {
    let f = Fixture::example();
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().display().to_string();
    std::fs::write(out.path().join("notes.txt"), "mine").expect("write");
    // A plain file named like a tenant: the old code replaced acme/ first, then failed on it.
    std::fs::write(out.path().join("globex"), "also mine").expect("write");
    let before = snapshot(out.path());
    render_to(&f, &dir).no_panic().code(2).stderr_has(&[
        "holds `globex` (and 1 more), which stamp did not write",
        "hint:",
    ]);
    assert_eq!(snapshot(out.path()), before);

    // stamp's own output is replaced, but a file put among it is not.
    std::fs::remove_file(out.path().join("notes.txt")).expect("rm");
    std::fs::remove_file(out.path().join("globex")).expect("rm");
    render_to(&f, &dir).no_panic().success();
    render_to(&f, &dir).no_panic().success();
    std::fs::write(out.path().join("acme/mine.json"), "{}").expect("write");
    let before = snapshot(out.path());
    render_to(&f, &dir)
        .no_panic()
        .code(2)
        .stderr_has(&["holds `acme/mine.json`"]);
    assert_eq!(snapshot(out.path()), before);
}

#[test]
fn out_dir_refuses_a_folder_git_tracks() {
    let f = Fixture::example();
    f.write(".gitignore", "");
    render_to(&f, &f.path("rendered").display().to_string())
        .no_panic()
        .success();
    git(f.root(), &["init", "-q"]);
    git(f.root(), &["add", "-A"]);
    git(f.root(), &["commit", "-qm", "fleet and its output"]);
    render_to(&f, &f.path("rendered").display().to_string())
        .no_panic()
        .code(2)
        .stderr_has(&["inside the repository's tracked tree"]);
}

#[test]
fn a_failed_render_leaves_the_output_folder_as_it_was() {
    let f = Fixture::example();
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().join("rendered");
    let shown = dir.display().to_string();
    render_to(&f, &shown).no_panic().success();
    let before = snapshot(&dir);
    assert!(before.contains_key("acme/api.json") && before.contains_key(".stamp-render.json"));
    // One tenant's worker no longer renders: every other tenant's output must stay too.
    f.append("tenants/umbrella.toml", "[services.worker]\ncpu = 2048\n");
    f.replace(
        "templates/worker.json.j2",
        "\"stopTimeout\": 120,",
        "\"stopTimeout\": {{ 120 if service.cpu != 2048 else '\"x\"' }},",
    );
    render_to(&f, &shown).no_panic().code(2);
    assert_eq!(snapshot(&dir), before);
    // A folder the failed run would have created is not left behind either.
    let fresh = out.path().join("fresh");
    render_to(&f, &fresh.display().to_string())
        .no_panic()
        .code(2);
    assert!(!fresh.exists());
}

// ---- runaway templates stop with exit 2, naming the template and the tenant ----------------------

#[test]
fn runaway_templates_stop_with_exit_2_naming_template_and_tenant() {
    for (runaway, says) in [
        (
            "{{ 'x'|indent(2000000000, true)|length }}",
            "filter `indent`",
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "instructions (its fuel)",
        ),
        (
            "{% for i in range(3000) %}{{ 'x' * 1000 }}{% endfor %}",
            "the output passed 1048576 bytes",
        ),
    ] {
        let f = Fixture::example();
        let text = f.read("templates/worker.json.j2");
        f.write("templates/worker.json.j2", &format!("{runaway}{text}"));
        let run = stamp_within(&f, &["render", "acme", "-s", "worker", "--offline"], 60);
        run.no_panic()
            .code(2)
            .stderr_has(&["templates/worker.json.j2", "tenant acme", says]);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

/// What minijinja's own operators build, with no filter to guard: each took gigabytes, or
/// aborted the process (exit 134) under a memory limit. Each comes with who is named.
const GREEDY_OPERATORS: [(&str, &str); 5] = [
    // `~` of three 40 MB strings.
    (
        "{% set s = tenant.name * 10000000 %}{% set t = s ~ s ~ s %}",
        "affects tenant acme",
    ),
    // `~` doubling a string in a loop: 40 turns are well within the fuel.
    (
        "{% set ns = namespace(s=tenant.name) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "affects tenant acme",
    ),
    // `+` doubling a list in a loop.
    (
        "{% set ns = namespace(l=[tenant.name]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
        "affects tenant acme",
    ),
    // `*` making a lazy list of a billion items, which `~` then writes out whole.
    (
        "{% set x = ([tenant.name] * 10**9) ~ '' %}",
        "affects tenant acme",
    ),
    // A constant expression is folded when the template is compiled, before any tenant.
    (
        "{% set s = ('x' * 100000000) ~ ('x' * 100000000) %}",
        "compiling it",
    ),
];

/// A memory limit well above what stamp needs (about 300 MB of address space), well below
/// what the greedy templates took.
const ADDRESS_SPACE: &str = "1000000000";

#[test]
fn greedy_operators_stop_with_exit_2_naming_template_and_tenant_even_under_a_memory_limit() {
    for (greedy, names) in GREEDY_OPERATORS {
        let f = Fixture::example();
        f.replace(
            "templates/worker.json.j2",
            "\"stopTimeout\": 120,",
            &format!("\"stopTimeout\": 120,{greedy}"),
        );
        let args = ["render", "acme", "-s", "worker", "--offline"];
        for limited in [false, true] {
            let mut cmd = if limited {
                let mut c = Command::new("prlimit");
                c.arg(format!("--as={ADDRESS_SPACE}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_stamp"));
                c
            } else {
                crate::support::stamp_command()
            };
            cmd.env_remove("RUST_BACKTRACE")
                .arg("--root")
                .arg(f.root())
                .args(args);
            let run = crate::support::run_command(cmd);
            assert_eq!(
                run.code, 2,
                "{greedy} (limited: {limited}): exit {}\n{}",
                run.code, run.stderr
            );
            run.no_panic().stderr_has(&[
                "--> templates/worker.json.j2",
                names,
                "MiB of memory",
                "hint: look for a string or list that grows",
            ]);
            assert!(run.stdout.is_empty(), "{}", run.stdout);
        }
    }
}

#[test]
fn a_render_out_of_memory_leaves_no_staging_folder_behind() {
    let f = Fixture::example();
    f.replace(
        "templates/worker.json.j2",
        "\"stopTimeout\": 120,",
        &format!("\"stopTimeout\": 120,{}", GREEDY_OPERATORS[1].0),
    );
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().join("rendered");
    std::fs::create_dir(&dir).expect("mkdir");
    render_to(&f, &dir.display().to_string())
        .no_panic()
        .code(2)
        .stderr_has(&["MiB of memory"]);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

// ---- nothing reaches a terminal raw -----------------------------------------------------------

/// No escape, bell, backspace, carriage return or C1 control in what stamp printed.
#[track_caller]
fn no_raw_controls(run: &crate::support::Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let bad: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
            .collect();
        assert!(bad.is_empty(), "{name} holds {bad:?}:\n{text}");
    }
}

#[test]
fn control_characters_in_values_reach_no_terminal_raw() {
    let f = Fixture::example();
    f.replace(
        "tenants/acme.toml",
        "\"111111111111\"",
        "\"\\u001b[2J\\u001b]0;pwned\\u0007\"",
    );
    let run = f.stamp(&["validate"]);
    run.no_panic()
        .code(2)
        .stderr_has(&["\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"]);
    no_raw_controls(&run);
    let run = f.stamp(&["validate", "--output", "json"]);
    run.no_panic().code(2);
    no_raw_controls(&run);
    assert!(run.stdout.contains("\\u001b[2J"), "{}", run.stdout);

    let f = Fixture::example();
    f.replace(
        "tenants/acme.toml",
        "NEW_CHECKOUT = \"true\"",
        "NEW_CHECKOUT = \"\\u001b[31mred\\r\\u009b2J\\u202etxt\"",
    )
    .replace(
        "tenants/acme.toml",
        "reason = \"year-end sale\"",
        "reason = \"sale\\u001b[2J\"",
    );
    for args in [
        &["explain", "acme", "-s", "api", "--offline"][..],
        &["explain", "acme", "-s", "api", "NEW_CHECKOUT", "--offline"],
        &["schedule", "acme", "--at", "2026-12-02T03:00:00Z"],
        &[
            "explain",
            "acme",
            "-s",
            "api",
            "--offline",
            "--output",
            "json",
        ],
    ] {
        let run = f.stamp(args);
        run.no_panic().success();
        no_raw_controls(&run);
        assert!(
            run.stdout.contains("\\u{1b}") || run.stdout.contains("\\u001b"),
            "{args:?}:\n{}",
            run.stdout
        );
    }
}

/// `plan`'s text output against the emulator: its change lines and diff lines carry values
/// from the tenant files, and the JSON of the diff leaves DEL, C1 controls and bidirectional
/// overrides raw (JSON allows them).
#[test]
fn control_characters_in_a_planned_value_reach_no_terminal_raw() {
    use crate::support::emulator::{Emulator, example_fleet};
    let (root, params) = example_fleet();
    let f = Emulator::shared().fresh_fleet(&root, &params);
    let acme = f.root().join("tenants/acme.toml");
    let text = std::fs::read_to_string(&acme).expect("read acme");
    assert!(text.contains("NEW_CHECKOUT = \"true\""));
    std::fs::write(
        &acme,
        text.replacen(
            "NEW_CHECKOUT = \"true\"",
            "NEW_CHECKOUT = \"\\u009b2J\\u007f\\u202etxt\"",
            1,
        ),
    )
    .expect("write acme");
    let mut cmd = Emulator::shared().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root").arg(f.root()).args(["plan", "acme"]);
    let run = crate::support::run_command(cmd);
    run.no_panic().success();
    no_raw_controls(&run);
    assert!(
        run.stdout.contains("\\u{9b}2J\\u{7f}\\u{202e}txt"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_huge_line_is_cut_in_errors() {
    let f = Fixture::example();
    let key = "k".repeat(200_000);
    f.replace(
        "tenants/acme.toml",
        "ring       = \"canary\"",
        &format!("{key} = 1"),
    );
    let run = f.stamp(&["validate"]);
    run.no_panic()
        .code(2)
        .stderr_has(&["characters cut]", "tenants/acme.toml:7:1"]);
    assert!(
        run.stderr.len() < 8_000,
        "{} bytes of stderr",
        run.stderr.len()
    );
    let run = f.stamp(&["validate", "--output", "json"]);
    assert!(
        run.stdout.len() < 8_000,
        "{} bytes of stdout",
        run.stdout.len()
    );
}

// ---- the example templates take values through tojson -------------------------------------------

#[test]
fn a_vars_value_cannot_add_an_element_to_the_example_health_check() {
    let f = Fixture::example();
    f.replace(
        "tenants/_defaults.toml",
        "health_path = \"/healthz\"",
        "health_path = '/healthz || exit 1\", \"INJECTED'",
    );
    let run = f.stamp(&["render", "acme", "-s", "api", "--offline"]);
    run.no_panic().success();
    let td: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let command = &td["containerDefinitions"][0]["healthCheck"]["command"];
    assert_eq!(
        command,
        &serde_json::json!([
            "CMD-SHELL",
            "wget -qO- http://127.0.0.1:8080/healthz || exit 1\", \"INJECTED || exit 1"
        ])
    );
}

// ---- bounded-time fuzzing of the loader and the renderer ----------------------------------------

mod fuzz {
    use proptest::prelude::*;
    use stamp::render::{RenderError, Templates, render_service};
    use stamp::resolve::Lookups;

    use crate::support::Fixture;

    const TOKENS: &[&str] = &[
        "{{",
        "}}",
        "{%",
        "%}",
        "for",
        "in",
        "range(",
        ")",
        "if",
        "endif",
        "endfor",
        "set",
        "=",
        "~",
        "+",
        "*",
        "|",
        "indent(",
        "replace(",
        "join",
        "tojson",
        "'x'",
        "\"",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "10**9",
        "2000000000",
        "service.vars",
        "tenant.name",
        "env",
        "\n",
        " ",
        "namespace()",
        "loop",
        "\u{1b}[2J",
        "\u{0}",
        "\u{feff}",
    ];

    fn soup() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(TOKENS), 0..40).prop_map(|t| t.concat())
    }

    /// Loads and renders the fixture the way `validate` does; every problem must be a
    /// diagnostic with a file and a hint, never a panic.
    fn validate(f: &Fixture) -> Result<(), TestCaseError> {
        let (fleet, mut diags) = stamp::dsl::load_partial(f.root());
        if let Some(fleet) = fleet {
            match Templates::load(&fleet) {
                Err(d) => diags.0.extend(d.0),
                Ok(t) => {
                    for tenant in &fleet.tenants {
                        for s in &tenant.services {
                            let r =
                                render_service(&t, &fleet, tenant, s, None, &Lookups::offline());
                            if let Err(RenderError::Invalid(d)) = r {
                                diags.0.extend(d);
                            }
                        }
                    }
                }
            }
        }
        for d in &diags.0 {
            let shown = d.to_string();
            prop_assert!(d.file.is_some() && d.hint.is_some(), "{}", shown);
            prop_assert!(
                !shown
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{}",
                shown
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Arbitrary bytes as a tenant file: read or reported, never a panic or a raw control.
        #[test]
        fn arbitrary_bytes_as_a_tenant_file(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let f = Fixture::example();
            std::fs::write(f.path("tenants/acme.toml"), &bytes).expect("write");
            validate(&f)?;
        }

        /// A soup of template tokens put in front of a real template: rendered, or stopped
        /// with a diagnostic, within the limits (no panic, no abort, no hang).
        #[test]
        fn a_token_soup_in_a_template(prefix in soup()) {
            let f = Fixture::example();
            let text = f.read("templates/worker.json.j2");
            f.write("templates/worker.json.j2", &format!("{prefix}{text}"));
            validate(&f)?;
        }
    }
}
