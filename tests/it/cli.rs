//! The offline commands as a user runs them: help, validate, render, explain, schedule.

use crate::support::{Fixture, repo_root, run_command, stamp_command};

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        "validate",
        "render",
        "explain",
        "schedule",
        "login",
        "exec",
        "creds",
        "profiles",
        "whoami",
        "schema",
        "completions",
        "man",
    ] {
        let mut c = stamp_command();
        c.args([cmd, "--help"]);
        let run = run_command(c);
        run.success()
            .stdout_has(&["Examples:", &format!("stamp {cmd}")]);
    }
    let mut c = stamp_command();
    c.arg("--help");
    run_command(c)
        .success()
        .stdout_has(&["Examples:", "Exit codes"]);
}

#[test]
fn the_example_fleet_validates() {
    let f = Fixture::example();
    f.stamp(&["validate"])
        .success()
        .stdout_has(&["ok: 4 tenants, 8 services rendered"]);
    let j = f.stamp(&["validate", "--output", "json"]).success().json();
    assert_eq!(j["ok"], true);
    assert_eq!(j["diagnostics"].as_array().map(Vec::len), Some(0));
}

#[test]
fn the_root_is_found_from_a_subfolder() {
    let f = Fixture::example();
    f.stamp_in("templates", &["validate"]).success();
}

#[test]
fn render_without_credentials_fails_clearly_and_points_at_offline() {
    let mut c = stamp_command();
    c.current_dir(repo_root())
        .args(["render", "acme", "-s", "api"]);
    let run = run_command(c);
    run.code(1)
        .no_panic()
        .stderr_has(&["cannot identify the base credentials", "--offline"]);
    assert!(run.stderr.lines().count() <= 3, "{}", run.stderr);
}

/// Which commands print the flag-naming text of a source file: `(file, function, commands)`,
/// the function `*` standing for the rest of the file; `(all)` is every command, `(aws)` every
/// command that reaches AWS (has `--profile`). Text that says `stamp CMD …` names its command
/// itself; `aws …` and `git …` command lines are other tools' flags.
const PRINTED_BY: &[(&str, &str, &[&str])] = &[
    ("src/cli.rs", "*", &[]),
    ("src/commands/rollback.rs", "*", &["rollback"]),
    ("src/commands/deploy.rs", "*", &["deploy"]),
    ("src/commands/run.rs", "*", &["run"]),
    ("src/commands/infra.rs", "apply", &["infra apply"]),
    ("src/commands/infra.rs", "apply_stack", &["infra apply"]),
    ("src/commands/infra.rs", "*", &["infra plan", "infra apply"]),
    ("src/commands/mod.rs", "*", &["(aws)"]),
    // The rollout engine's refusals and skips, worded once for every write command.
    (
        "src/rollout/settings.rs",
        "check_ring",
        &["deploy", "infra apply", "run"],
    ),
    (
        "src/rollout/settings.rs",
        "*",
        &["deploy", "rollback", "infra apply", "up", "down", "run"],
    ),
    (
        "src/rollout/waves.rs",
        "*",
        &["deploy", "rollback", "infra apply", "up", "down", "run"],
    ),
    (
        "src/rollout/lock.rs",
        "*",
        &["deploy", "rollback", "infra apply", "up", "down", "run"],
    ),
    ("src/commands/plan.rs", "*", &["plan"]),
    ("src/commands/params.rs", "*", &["params"]),
    ("src/commands/verify.rs", "*", &["verify"]),
    ("src/commands/history.rs", "*", &["history"]),
    ("src/commands/schedule.rs", "*", &["schedule"]),
    ("src/commands/status.rs", "*", &["status"]),
    ("src/commands/explain.rs", "*", &["explain"]),
    ("src/commands/render.rs", "*", &["render"]),
    ("src/commands/validate.rs", "*", &["validate"]),
    // RenderError's one-liner and diagnostics; validate words its own.
    (
        "src/render/mod.rs",
        "*",
        &["render", "explain", "plan", "deploy", "status"],
    ),
    ("src/dsl/fleet.rs", "find_root", &["(all)"]),
    // The `--instance` layer of a stack parameter: only a command with --instance makes it.
    ("src/dsl/fleet.rs", "describe", &["up"]),
    ("src/fleet/select.rs", "*", &["deploy"]),
    ("src/plan/saved.rs", "*", &["deploy"]),
    // git's own arguments, not text for people.
    ("src/vcs.rs", "*", &["(git)"]),
    ("src/aws/access.rs", "*", &["login", "exec", "creds"]),
    ("src/aws/console.rs", "*", &["login"]),
    ("src/commands/login.rs", "*", &["login"]),
    ("src/commands/access.rs", "*", &["exec", "creds"]),
    ("src/commands/profiles.rs", "*", &["profiles"]),
    ("src/commands/out_dir.rs", "*", &["render"]),
    // Completes every command's line; names only the global --root.
    ("src/complete.rs", "*", &["(all)"]),
    ("src/commands/man.rs", "*", &["man"]),
    ("src/commands/tenant_new.rs", "*", &["tenant new"]),
    ("src/commands/bootstrap.rs", "*", &["bootstrap"]),
    ("src/commands/check.rs", "*", &["check"]),
    ("src/commands/up.rs", "*", &["up"]),
    ("src/commands/down.rs", "*", &["down"]),
    ("src/dsl/instance.rs", "*", &["status", "up", "down"]),
];

/// Every runnable command as a path (`infra plan`), from the clap definition.
fn command_paths(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, bool)>) {
    for sub in cmd.get_subcommands() {
        let path = format!("{prefix}{}", sub.get_name());
        if sub.has_subcommands() {
            command_paths(sub, &format!("{path} "), out);
        }
        // A command whose subcommand is optional runs on its own too (`bootstrap T --apply`).
        if !sub.has_subcommands() || !sub.is_subcommand_required_set() {
            let aws = sub.get_arguments().any(|a| a.get_long() == Some("profile"));
            out.push((path, aws));
        }
    }
}

/// `(all)` and `(aws)` spelt out; other names as they are.
fn expand(commands: &[&str]) -> Vec<String> {
    let mut all = Vec::new();
    command_paths(
        &<stamp::cli::Cli as clap::CommandFactory>::command(),
        "",
        &mut all,
    );
    commands
        .iter()
        .flat_map(|c| match *c {
            "(all)" => all.iter().map(|(p, _)| p.clone()).collect(),
            "(aws)" => all
                .iter()
                .filter(|(_, aws)| *aws)
                .map(|(p, _)| p.clone())
                .collect(),
            other => vec![other.to_owned()],
        })
        .collect()
}

/// One `--flag` in a string literal of stamp's source, and the commands that print it.
#[derive(Debug)]
struct Mention {
    at: String,
    flag: String,
    commands: Vec<String>,
}

/// The string literals of Rust source (outside comments), with their byte offsets.
fn literals(src: &str) -> Vec<(usize, String)> {
    let b = src.as_bytes();
    let (mut i, mut out) = (0, Vec::new());
    while i < b.len() {
        let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        // Bytes, not `src[i..]`: `i` steps through multi-byte characters one byte at a time.
        if b[i..].starts_with(b"//") {
            i = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
        } else if b[i] == b'r'
            && !ident_before
            && src[i + 1..].trim_start_matches('#').starts_with('"')
        {
            // `r"…"`, `r#"…"#` (not a raw identifier such as `r#type`).
            let hashes = src[i + 1..].bytes().take_while(|&c| c == b'#').count();
            let start = i + 1 + hashes + 1;
            let end = format!("\"{}", "#".repeat(hashes));
            let len = src[start..].find(&end).unwrap_or(src.len() - start);
            out.push((i, src[start..start + len].to_owned()));
            i = start + len + end.len();
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push((i, src[i + 1..j.min(b.len())].to_owned()));
            i = j + 1;
        } else if b[i] == b'\'' && (b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\')) {
            // A char literal ('"', '\''), which would otherwise open a string.
            i += src[i + 1..].find('\'').map_or(1, |n| n + 2);
            if b.get(i - 2) == Some(&b'\\') && b.get(i) == Some(&b'\'') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

/// `stamp CMD …` (or `stamp infra SUB …`) at the end of `text`, as a command path.
fn stamp_command_in(text: &str) -> Option<String> {
    let after = &text[text.rfind("stamp ")? + "stamp ".len()..];
    let mut words = after.split_whitespace();
    let cmd = words.next()?;
    let path = match cmd {
        "infra" => format!("infra {}", words.next()?),
        c => c.to_owned(),
    };
    expand(&["(all)"]).contains(&path).then_some(path)
}

/// Every `--flag` in the literals of `file`, with the commands that print it.
fn mentions(file: &str, src: &str) -> Result<Vec<Mention>, String> {
    // Test code prints nothing to users.
    let src = &src[..src.find("#[cfg(test)]").unwrap_or(src.len())];
    let mut out = Vec::new();
    for (pos, lit) in literals(src) {
        let function = src[..pos]
            .rmatch_indices("fn ")
            .find_map(|(i, _)| {
                let name: String = src[i + 3..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                (!name.is_empty()).then_some(name)
            })
            .unwrap_or_default();
        let line = src[..pos].lines().count().max(1);
        for (k, _) in lit.match_indices("--") {
            let flag: String = lit[k + 2..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                .collect();
            let before = &lit[..k];
            let starts_a_flag = flag.starts_with(|c: char| c.is_ascii_lowercase());
            if !starts_a_flag || before.ends_with(|c: char| c.is_alphanumeric() || c == '-') {
                continue;
            }
            let this_line = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
            // The tool named last before the flag on its line is the one it belongs to.
            let last = |tool: &str| this_line.rfind(tool).map_or(-1, |i| i as isize);
            if last("aws ").max(last("git ")) > last("stamp ") {
                continue;
            }
            // Inside backticks, `deploy --plan` names its command as `stamp deploy --plan` does.
            let in_backticks = this_line.matches('`').count() % 2 == 1;
            let quoted = &this_line[this_line.rfind('`').map_or(0, |n| n + 1)..];
            let command = in_backticks
                .then(|| {
                    stamp_command_in(&format!("stamp {}", quoted.trim_start_matches("stamp ")))
                })
                .flatten()
                .or_else(|| stamp_command_in(this_line));
            let commands = match command {
                Some(c) => vec![c],
                None if file == "src/cli.rs" => stamp_command_in(&lit[..lit.find("stamp ").map_or(0, |s| {
                    s + lit[s..].find('\n').unwrap_or(lit.len() - s)
                })])
                .into_iter()
                .collect(),
                None => PRINTED_BY
                    .iter()
                    .find(|(f, func, _)| *f == file && (*func == function || *func == "*"))
                    .map(|(_, _, c)| expand(c))
                    .ok_or_else(|| {
                        format!(
                            "{file}:{line}: `--{flag}` in a message, but PRINTED_BY does not say which commands print {file}"
                        )
                    })?,
            };
            out.push(Mention {
                at: format!("{file}:{line}"),
                flag,
                commands,
            });
        }
    }
    Ok(out)
}

/// Why `m` is wrong: a command that prints it has no such flag.
fn check_mention(m: &Mention, cli: &clap::Command) -> Option<String> {
    let globals: Vec<&str> = cli
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(clap::Arg::get_long)
        .collect();
    for command in &m.commands {
        if command == "(git)" {
            continue;
        }
        let mut cmd = cli;
        for name in command.split(' ') {
            match cmd.find_subcommand(name) {
                Some(c) => cmd = c,
                None => return Some(format!("{}: `stamp {command}` does not exist", m.at)),
            }
        }
        let has = m.flag == "help"
            || globals.contains(&m.flag.as_str())
            || cmd
                .get_arguments()
                .any(|a| a.get_long() == Some(m.flag.as_str()));
        if !has {
            return Some(format!(
                "{}: `--{}` is printed by `stamp {command}`, which has no such flag",
                m.at, m.flag
            ));
        }
    }
    None
}

fn source_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Issue 13, item 3: `plan` and `status` hinted `--offline`, which neither has. Every flag a
/// message names, in every source file, must be one the command printing it has.
#[test]
fn every_flag_a_hint_names_is_one_the_command_has() {
    let cli = <stamp::cli::Cli as clap::CommandFactory>::command();
    let mut files = Vec::new();
    source_files(&repo_root().join("src"), &mut files);
    files.sort();
    let (mut checked, mut wrong) = (0, Vec::new());
    for path in files {
        let rel = path
            .strip_prefix(repo_root())
            .expect("under the repo")
            .to_string_lossy()
            .replace('\\', "/");
        let src = std::fs::read_to_string(&path).expect("read source");
        match mentions(&rel, &src) {
            Ok(found) => {
                for m in &found {
                    checked += 1;
                    wrong.extend(check_mention(m, &cli));
                }
            }
            Err(e) => wrong.push(e),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The walk found the hints it is there for (about 80 today).
    assert!(checked > 50, "only {checked} flags found in messages");
}

/// The walk catches what it is for: a made-up flag, a flag of another command, and a shared
/// message naming a flag that one of the commands printing it lacks.
#[test]
fn the_flag_walk_rejects_flags_the_command_lacks() {
    let cli = <stamp::cli::Cli as clap::CommandFactory>::command();
    let wrong = |file: &str, src: &str| -> Vec<String> {
        mentions(file, src)
            .expect("mapped file")
            .iter()
            .filter_map(|m| check_mention(m, &cli))
            .collect()
    };
    let fine = r#"fn run() { hint("pass --all, or `stamp render acme --offline`") }"#;
    assert_eq!(wrong("src/commands/plan.rs", fine), Vec::<String>::new());
    let made_up = r#"fn run() { hint("pass --frobnicate") }"#;
    assert_eq!(wrong("src/commands/plan.rs", made_up).len(), 1);
    let other_command = r#"fn run() { hint("or pass --offline to use placeholders") }"#;
    assert_eq!(wrong("src/commands/plan.rs", other_command).len(), 1);
    assert_eq!(wrong("src/commands/mod.rs", other_command).len(), 1);
    let named = r#"fn run() { hint("try `stamp plan --offline`") }"#;
    assert_eq!(wrong("src/commands/render.rs", named).len(), 1);
    let unmapped = mentions("src/new.rs", r#"fn f() { hint("pass --all") }"#);
    assert!(unmapped.is_err(), "{unmapped:?}");
}
