//! The bad-input corpus (`tests/corpus/**/*.toml`, format in `tests/corpus/README.md`): each
//! case is one mistake made in a copy of the example fleet, a saved plan file or the command
//! line. Every case must exit 2 without a panic, name where the mistake is (`--> file:line`, or
//! the argument) and give a hint; it is run again with `--output json`, which must agree.
//!
//! Set `STAMP_CORPUS=<substring>` to run only the cases whose path contains it.
//!
//! The stderr of every case (its refusal or its diagnostics) is an insta snapshot in
//! `tests/corpus/snapshots/`, so a change of wording shows up in review.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::support::emulator::{Emulator, example_fleet};
use crate::support::{Fixture, Run, repo_root, run_command, stamp_command};

/// The issue asks for at least this many; fewer means cases were lost, not merged.
const MIN_CASES: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// One sentence: the mistake, as a user would make it.
    about: String,
    /// Arguments after `stamp --root <fixture>`; `{plan}` is the written plan file.
    #[serde(default = "validate")]
    args: Vec<String>,
    /// Make the fixture a git repository with everything committed (after the edits).
    #[serde(default)]
    git: bool,
    /// Seed the fixture into fresh accounts of the test emulator and run against it (the
    /// account ids in the copy are new ones: edits must not name the example's).
    #[serde(default)]
    emulator: bool,
    /// Environment variables for every run of the case.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Run `args` on a pseudo-terminal (stdin and stderr are terminals; the two output
    /// streams arrive merged, and are checked as stderr).
    #[serde(default)]
    tty: bool,
    /// Commands run before `args` (after the edits and `git`), each of which must succeed.
    #[serde(default)]
    before: Vec<Vec<String>>,
    #[serde(default)]
    edit: Vec<Edit>,
    plan: Option<PlanFile>,
    expect: Expect,
}

fn validate() -> Vec<String> {
    vec!["validate".to_owned()]
}

/// One change to the fixture, applied in order: exactly one of `replace`, `append`, `write`,
/// `remove` or `rename`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    file: String,
    /// Text that must be in the file (once or more; the first is replaced).
    replace: Option<String>,
    /// What `replace` becomes.
    with: Option<String>,
    append: Option<String>,
    write: Option<String>,
    #[serde(default)]
    remove: bool,
    rename: Option<String>,
    /// Make `file` a symbolic link to this path (absolute, or relative to the link).
    link: Option<String>,
    /// Make `file` a named pipe (a reader that opens it waits for a writer forever).
    #[serde(default)]
    fifo: bool,
    /// Repeat `append`'s or `write`'s text this many times.
    repeat: Option<usize>,
    /// Apply after `git` and `plan` (a change made after committing, or after planning).
    #[serde(default)]
    late: bool,
}

/// A saved plan written to `plan.json` at the fixture root: the (edited) fleet planned
/// offline with valid digests, then damaged as described.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    /// The commit the plan claims (default: a commit that is not the fixture's).
    #[serde(default = "other_commit")]
    commit: String,
    /// Keep only this fraction of the bytes.
    truncate: Option<f64>,
    /// Drop this many bytes from the end.
    cut_end: Option<usize>,
    /// Text edits of the JSON, in order (no re-digesting: an edit is a tampering).
    #[serde(default)]
    edit: Vec<TextEdit>,
    /// The whole file instead of a generated plan.
    write: Option<String>,
}

fn other_commit() -> String {
    "0123456789abcdef0123456789abcdef01234567".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextEdit {
    replace: String,
    with: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default = "two")]
    code: i32,
    /// `file:line:col` (or a prefix: `file:line:`, `file`) after `-->` of the problem.
    at: Option<String>,
    /// For mistakes outside the files: text the error must contain (the argument, or its
    /// value).
    argument: Option<String>,
    /// Substrings of the problem's text.
    #[serde(default)]
    message: Vec<String>,
    /// Substring of the problem's hint (`= hint:` for stamp's own messages; anywhere after
    /// the `error:` line for the argument parser's, which writes `tip:` or possible values).
    /// Required unless the case exits 0.
    #[serde(default)]
    hint: String,
    /// Text that must appear in neither stream: what stamp wrongly said before, a linked
    /// file's content, a raw escape.
    #[serde(default)]
    absent: Vec<String>,
    /// How many `error:` lines stderr holds: a cause reported once, not once per tenant.
    errors: Option<usize>,
    /// Substrings of stdout, for cases whose truth is data (then stdout need not be empty).
    #[serde(default)]
    stdout: Vec<String>,
}

fn two() -> i32 {
    2
}

fn corpus_dir() -> PathBuf {
    repo_root().join("tests/corpus")
}

fn case_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            case_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

fn load_cases() -> Vec<(String, Case)> {
    let mut files = Vec::new();
    case_files(&corpus_dir(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(corpus_dir())
                .expect("under the corpus")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&p).expect("read case");
            let case: Case =
                toml::from_str(&text).unwrap_or_else(|e| panic!("tests/corpus/{name}: {e}"));
            let e = &case.expect;
            if e.code == 0 {
                assert!(
                    e.at.is_none() && e.argument.is_none() && !e.stdout.is_empty(),
                    "tests/corpus/{name}: a case that exits 0 says what stdout must hold, no `at`"
                );
            } else {
                assert!(
                    e.at.is_some() != e.argument.is_some(),
                    "tests/corpus/{name}: give exactly one of expect.at and expect.argument"
                );
                assert!(
                    !e.hint.trim().is_empty(),
                    "tests/corpus/{name}: `expect.hint` must say something"
                );
            }
            assert!(
                !case.about.trim().is_empty(),
                "tests/corpus/{name}: `about` must say something"
            );
            (name, case)
        })
        .collect()
}

/// Where a case runs: a copy of the example fleet, or one seeded into the emulator.
enum Site {
    Offline(Fixture),
    Emulator(crate::support::emulator::Fleet),
}

impl Site {
    fn root(&self) -> &Path {
        match self {
            Site::Offline(f) => f.root(),
            Site::Emulator(f) => f.root(),
        }
    }

    /// The fixture's root, commit and accounts, as a snapshot shows them.
    fn filters(&self) -> Vec<(String, String)> {
        let mut out = vec![(self.root().display().to_string(), "[ROOT]".to_owned())];
        if let Some(head) = head(self.root()) {
            out.push((head[..12].to_owned(), "[HEAD:12]".to_owned()));
            out.insert(0, (head, "[HEAD]".to_owned()));
        }
        if let Site::Emulator(f) = self {
            out.push((
                Emulator::shared().endpoint().to_owned(),
                "[ENDPOINT]".to_owned(),
            ));
            for (tenant, account) in &f.accounts {
                out.push((account.clone(), format!("[{tenant}'s account]")));
            }
        }
        out
    }

    fn command(&self) -> std::process::Command {
        match self {
            Site::Offline(_) => stamp_command(),
            Site::Emulator(_) => Emulator::shared().command(env!("CARGO_BIN_EXE_stamp")),
        }
    }
}

/// Builds the case's fixture; returns it with the plan file's path.
fn fixture(case: &Case) -> (Site, PathBuf) {
    let site = if case.emulator {
        let (root, params) = example_fleet();
        Site::Emulator(Emulator::shared().fresh_fleet(&root, &params))
    } else {
        Site::Offline(Fixture::example())
    };
    let f = site.root();
    apply(f, case.edit.iter().filter(|e| !e.late));
    if case.git {
        git_commit_all(f);
    }
    let plan = f.join("plan.json");
    if let Some(p) = &case.plan {
        write_plan(f, p, &plan);
    }
    apply(f, case.edit.iter().filter(|e| e.late));
    for args in &case.before {
        let run = run(&site, case, args, &plan, false);
        assert_eq!(
            run.code, 0,
            "{args:?} before the case\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        );
    }
    (site, plan)
}

fn apply<'a>(root: &Path, edits: impl Iterator<Item = &'a Edit>) {
    let path = |rel: &str| root.join(rel);
    let read = |rel: &str| {
        std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    };
    let write = |rel: &str, text: &str| {
        let p = path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    };
    let remove = |rel: &str| {
        std::fs::remove_file(path(rel)).unwrap_or_else(|e| panic!("remove {rel}: {e}"));
    };
    for e in edits {
        let actions = [
            e.replace.is_some(),
            e.append.is_some(),
            e.write.is_some(),
            e.remove,
            e.rename.is_some(),
            e.link.is_some(),
            e.fifo,
        ];
        assert_eq!(
            actions.iter().filter(|a| **a).count(),
            1,
            "an edit of {} does exactly one thing",
            e.file
        );
        assert_eq!(
            e.replace.is_some(),
            e.with.is_some(),
            "`replace` needs `with`"
        );
        let times = e.repeat.unwrap_or(1);
        if let (Some(from), Some(to)) = (&e.replace, &e.with) {
            let text = read(&e.file);
            assert!(
                text.contains(from.as_str()),
                "{} does not contain {from:?}",
                e.file
            );
            write(&e.file, &text.replacen(from.as_str(), to, 1));
        } else if let Some(more) = &e.append {
            write(
                &e.file,
                &format!("{}\n{}", read(&e.file), more.repeat(times)),
            );
        } else if let Some(text) = &e.write {
            write(&e.file, &text.repeat(times));
        } else if let Some(target) = &e.link {
            let _ = std::fs::remove_file(path(&e.file));
            std::os::unix::fs::symlink(target, path(&e.file)).expect("symlink");
        } else if e.fifo {
            let _ = std::fs::remove_file(path(&e.file));
            let made = std::process::Command::new("mkfifo")
                .arg(path(&e.file))
                .status()
                .expect("mkfifo");
            assert!(made.success(), "mkfifo {}", e.file);
        } else if e.remove {
            remove(&e.file);
        } else if let Some(to) = &e.rename {
            let text = read(&e.file);
            remove(&e.file);
            write(to, &text);
        }
    }
}

fn write_plan(root: &Path, p: &PlanFile, plan: &Path) {
    let mut text = match &p.write {
        Some(t) => t.clone(),
        None => offline_plan(root, &p.commit).to_json(),
    };
    let boundary = |text: &str, mut end: usize| {
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        end
    };
    if let Some(keep) = p.truncate {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let end = boundary(&text, (text.len() as f64 * keep) as usize);
        text.truncate(end);
    }
    if let Some(n) = p.cut_end {
        let end = boundary(&text, text.len().saturating_sub(n));
        text.truncate(end);
    }
    for e in &p.edit {
        assert!(
            text.contains(&e.replace),
            "the plan does not contain {:?}",
            e.replace
        );
        text = text.replacen(&e.replace, &e.with, 1);
    }
    std::fs::write(plan, text).expect("write plan");
}

/// The saved plan of every tenant and service of the fleet at `root`, rendered offline
/// (placeholders for parameter values): what `plan --all --out` writes, minus the account reads.
pub(crate) fn offline_plan(root: &Path, commit: &str) -> stamp::plan::SavedPlan {
    use stamp::plan::{DesiredService, Inputs, SavedPlan, SavedService, SavedTenant};
    let fleet = stamp::dsl::load(root).unwrap_or_else(|d| panic!("the fleet loads: {d}"));
    let templates = stamp::render::Templates::load(&fleet).unwrap_or_else(|d| panic!("{d}"));
    let lookups = stamp::resolve::Lookups::offline();
    let tenants = fleet
        .tenants
        .iter()
        .map(|t| SavedTenant {
            tenant: t.name.clone(),
            account_id: t.account_id.clone(),
            region: t.region.clone(),
            inputs: Inputs::default(),
            services: t
                .services
                .iter()
                .map(|s| {
                    let r = stamp::render::render_service(&templates, &fleet, t, s, None, &lookups)
                        .unwrap_or_else(|e| panic!("{}/{} renders: {e:?}", t.name, s.name));
                    SavedService::from_desired(&DesiredService::from_rendered(
                        &r,
                        &t.account_id,
                        &t.region,
                    ))
                })
                .collect(),
        })
        .collect();
    SavedPlan::new(commit, tenants)
}

/// The fixture's commit, if `git` made one.
fn head(root: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .output()
        .ok()?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && sha.len() == 40 && root.join(".git").exists()).then_some(sha)
}

fn git_commit_all(root: &Path) {
    for args in [
        &["init", "-q"][..],
        &["add", "-A"][..],
        &["commit", "-qm", "fleet"][..],
    ] {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args([
                "-c",
                "user.email=test@example.com",
                "-c",
                "user.name=test",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn run(site: &Site, case: &Case, args: &[String], plan: &Path, json: bool) -> Run {
    let plan = plan.to_string_lossy();
    let root = site.root().to_string_lossy();
    let mut args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{plan}", &plan).replace("{root}", &root))
        .collect();
    if json {
        args.extend(["--output".to_owned(), "json".to_owned()]);
    }
    let mut cmd = site.command();
    // Only a case that sets CI runs as in CI, whatever the test runner's own environment says.
    cmd.env_remove("CI").envs(&case.env);
    cmd.arg("--root").arg(site.root()).args(&args);
    if case.tty && !json {
        crate::support::on_a_terminal(cmd)
    } else {
        run_command(cmd)
    }
}

/// The text of the problem reported at `at`: from its `error:` line to the next one.
fn problem_at<'a>(stderr: &'a str, at: &str) -> Result<&'a str, String> {
    let arrow = format!("--> {at}");
    let pos = stderr
        .find(&arrow)
        .ok_or_else(|| format!("stderr lacks {arrow:?}"))?;
    let start = stderr[..pos]
        .match_indices("error:")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || stderr.as_bytes()[i - 1] == b'\n')
        .last()
        .unwrap_or(0);
    let end = stderr[pos..]
        .find("\nerror:")
        .map_or(stderr.len(), |e| pos + e);
    Ok(&stderr[start..end])
}

/// Every way the text-mode run falls short of the case's expectations.
fn check_text(case: &Case, run: &Run) -> Vec<String> {
    let mut bad = Vec::new();
    let e = &case.expect;
    if run.stderr.contains("panicked at") || run.code == 101 {
        bad.push("panicked".to_owned());
    }
    if run.code != e.code {
        bad.push(format!("exit code {} (want {})", run.code, e.code));
    }
    bad.extend(check_streams(e, run));
    if e.code != 0 {
        bad.extend(check_problem(e, run));
    }
    if e.stdout.is_empty() && !run.stdout.trim().is_empty() {
        bad.push("text mode printed data on stdout for a failure".to_owned());
    }
    bad
}

/// What must be on stdout, what must be nowhere, how many errors.
fn check_streams(e: &Expect, run: &Run) -> Vec<String> {
    let mut bad = Vec::new();
    for a in &e.absent {
        if run.stderr.contains(a.as_str()) || run.stdout.contains(a.as_str()) {
            bad.push(format!("says {a:?}, which it must not"));
        }
    }
    for want in &e.stdout {
        if !run.stdout.contains(want.as_str()) {
            bad.push(format!("stdout does not say {want:?}"));
        }
    }
    if let Some(n) = e.errors {
        let errors = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count();
        if errors != n {
            bad.push(format!("{errors} `error:` lines on stderr (want {n})"));
        }
    }
    bad
}

/// The reported problem: where, what, and the hint.
fn check_problem(e: &Expect, run: &Run) -> Vec<String> {
    let mut bad = Vec::new();
    if !run.stderr.lines().any(|l| l.starts_with("error:")) {
        bad.push("no `error:` line on stderr".to_owned());
    }
    let (block, hint_text) = if let Some(at) = &e.at {
        match problem_at(&run.stderr, at) {
            Ok(block) => {
                let hint = block
                    .lines()
                    .find(|l| l.trim_start().starts_with("= hint:"))
                    .unwrap_or("");
                (block, hint)
            }
            Err(why) => {
                bad.push(why);
                ("", "")
            }
        }
    } else {
        let from_error = run.stderr.find("error:").map_or("", |i| &run.stderr[i..]);
        let arg = e.argument.as_deref().unwrap_or_default();
        if !from_error.contains(arg) {
            bad.push(format!("the error does not name {arg:?}"));
        }
        (from_error, from_error)
    };
    for m in &e.message {
        if !block.contains(m.as_str()) {
            bad.push(format!("the problem does not say {m:?}"));
        }
    }
    if !hint_text.contains(e.hint.as_str()) {
        bad.push(format!("the hint does not say {:?}", e.hint));
    }
    bad
}

/// The `expect.absent` texts found on either stream.
fn absent(case: &Case, run: &Run) -> Vec<String> {
    case.expect
        .absent
        .iter()
        .filter(|a| run.stdout.contains(a.as_str()) || run.stderr.contains(a.as_str()))
        .map(|a| format!("printed {a:?}, which must not be shown"))
        .collect()
}

/// The same mistake with `--output json`: the same exit code, stdout empty or one JSON
/// document, and for `validate`, a diagnostic at the expected file and line with a hint,
/// whose message has the first `message` substring.
fn check_json(case: &Case, run: &Run) -> Vec<String> {
    let mut bad = Vec::new();
    if run.stderr.contains("panicked at") || run.code == 101 {
        bad.push("json: panicked".to_owned());
    }
    if run.code != case.expect.code {
        bad.push(format!(
            "json: exit code {} (want {})",
            run.code, case.expect.code
        ));
    }
    bad.extend(absent(case, run));
    if run.stdout.trim().is_empty() {
        return bad;
    }
    let j: serde_json::Value = match serde_json::from_str(&run.stdout) {
        Ok(j) => j,
        Err(e) => {
            bad.push(format!("json: stdout is not one JSON document ({e})"));
            return bad;
        }
    };
    if let (Some("validate"), Some(at)) = (
        case.args.first().map(String::as_str),
        case.expect.at.as_deref(),
    ) {
        let mut parts = at.split(':');
        let file = parts.next().unwrap_or_default();
        let line: Option<u64> = parts.next().and_then(|l| l.parse().ok());
        let found = j["diagnostics"].as_array().into_iter().flatten().any(|d| {
            d["file"] == file
                && line.is_none_or(|l| d["line"] == l)
                && d["hint"].is_string()
                // The first substring is the message proper; later ones may quote the snippet.
                && case.expect.message.first().is_none_or(|m| {
                    d["message"]
                        .as_str()
                        .is_some_and(|s| s.contains(m.as_str()))
                })
        });
        if !found {
            bad.push(format!(
                "json: no diagnostic at {at} with the message and a hint"
            ));
        }
    }
    bad
}

#[test]
fn every_corpus_case_exits_2_says_where_and_hints() {
    let filter = std::env::var("STAMP_CORPUS").ok();
    let cases = load_cases();
    assert!(
        cases.len() >= MIN_CASES,
        "only {} cases in tests/corpus",
        cases.len()
    );
    let selected: Vec<&(String, Case)> = cases
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    // Each case runs the binary twice; a few threads keep the corpus quick on two cores.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let shown = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((name, case)) = selected.get(i) else {
                        break;
                    };
                    let (site, plan) = fixture(case);
                    let text = run(&site, case, &case.args, &plan, false);
                    let mut bad = check_text(case, &text);
                    if !case.args.iter().any(|a| a == "--output") {
                        bad.extend(check_json(case, &run(&site, case, &case.args, &plan, true)));
                    }
                    shown
                        .lock()
                        .expect("snapshots")
                        .push((name.clone(), as_shown(case, &text, &site.filters())));
                    if !bad.is_empty() {
                        failures.lock().expect("failures").push(format!(
                            "tests/corpus/{name} ({}):\n  - {}\n--- stderr\n{}--- stdout\n{}",
                            case.about,
                            bad.join("\n  - "),
                            text.stderr,
                            text.stdout
                        ));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures");
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n\n{}",
        failures.len(),
        selected.len(),
        failures.join("\n\n")
    );
    let mut shown = shown.into_inner().expect("snapshots");
    shown.sort();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../corpus/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    // What no run gives twice: times, commits, digests, run ids.
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]");
    settings.add_filter(r"\b[0-9a-f]{64}\b", "[DIGEST]");
    settings.add_filter(r"\b[0-9a-f]{40}\b", "[COMMIT]");
    // Why the SDK found no credentials depends on the machine (instance metadata or not).
    settings.add_filter(
        r"no credentials to send it with: [^\n]*",
        "no credentials to send it with: [the SDK's reason]",
    );
    settings.bind(|| {
        for (name, text) in shown {
            let snapshot = name.trim_end_matches(".toml").replace('/', "__");
            insta::assert_snapshot!(snapshot, text);
        }
    });
}

/// What a person running the case sees: the exit code and stderr (and stdout, for a case
/// whose truth is data), with the fixture's root and accounts named.
fn as_shown(case: &Case, run: &Run, filters: &[(String, String)]) -> String {
    let mut text = format!("exit {}\n--- stderr\n{}", run.code, run.stderr);
    if !case.expect.stdout.is_empty() {
        text.push_str(&format!("--- stdout\n{}", short_digests(&run.stdout)));
    }
    for (from, to) in filters {
        text = text.replace(from.as_str(), to);
    }
    text
}

/// Digests cut to 12 hex digits (tables show them so) as `[DIGEST:12]`: they hash the fresh
/// account ids of an emulator case. Twelve decimal digits are an account id, not a digest.
fn short_digests(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let token = word.trim_end();
            let hex = token.len() == 12 && token.bytes().all(|b| b.is_ascii_hexdigit());
            if hex && token.bytes().any(|b| b.is_ascii_alphabetic()) {
                word.replacen(token, "[DIGEST:12]", 1)
            } else {
                word.to_owned()
            }
        })
        .collect()
}
