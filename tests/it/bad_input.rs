//! Bad input beyond one mistake at a time: the JSON diagnostics' shape, several mistakes in
//! several files reported together and sorted, and a mistake reported once however many
//! tenants inherit it. Single mistakes (tenant files, templates, saved plans, arguments) are
//! the data-driven corpus in `tests/corpus/`, run by `corpus.rs`.

use crate::support::{Fixture, Run};

const ACME: &str = "tenants/acme.toml";
const DEFAULTS: &str = "tenants/_defaults.toml";
const GLOBEX: &str = "tenants/globex.toml";
const UMBRELLA: &str = "tenants/umbrella.toml";

/// Runs `stamp validate` on a broken fleet: exit 2, no panic.
#[track_caller]
fn validate_fails(f: &Fixture) -> Run {
    let run = f.stamp(&["validate"]);
    run.no_panic().code(2);
    run
}

/// Asserts stderr reports a problem at `at` (`file:line:col`, or just `file`) whose message
/// contains `message`, followed by `= hint:` containing `hint` when one is given.
#[track_caller]
fn reported(run: &Run, at: &str, message: &str, hint: Option<&str>) {
    let arrow = format!("--> {at}");
    let pos = run
        .stderr
        .find(&arrow)
        .unwrap_or_else(|| panic!("stderr lacks {arrow:?}\n--- stderr\n{}", run.stderr));
    // The problem is the one whose `error:` line is the closest before the arrow.
    let start = run.stderr[..pos]
        .match_indices("error:")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || run.stderr.as_bytes()[i - 1] == b'\n')
        .last()
        .unwrap_or(0);
    let end = run.stderr[pos..]
        .find("\nerror:")
        .map_or(run.stderr.len(), |e| pos + e);
    let block = &run.stderr[start..end];
    assert!(
        block.contains(message),
        "the problem at {at} does not say {message:?}\n--- problem\n{block}\n--- stderr\n{}",
        run.stderr
    );
    if let Some(hint) = hint {
        let hint_line = block
            .lines()
            .find(|l| l.trim_start().starts_with("= hint:"))
            .unwrap_or_else(|| panic!("the problem at {at} has no hint\n--- problem\n{block}"));
        assert!(
            hint_line.contains(hint),
            "the hint at {at} does not say {hint:?}\n--- problem\n{block}"
        );
    }
}

/// `stamp validate --output json` on a broken fleet: exit 2, the documented shape, and the
/// diagnostics array.
#[track_caller]
fn validate_json(f: &Fixture) -> Vec<serde_json::Value> {
    let run = f.stamp(&["validate", "--output", "json"]);
    run.no_panic().code(2);
    let j = run.json();
    assert_eq!(j["ok"], false, "{j:#}");
    let diags = j["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics array: {j:#}"))
        .clone();
    assert!(!diags.is_empty(), "{j:#}");
    for d in &diags {
        let mut keys: Vec<&str> = d
            .as_object()
            .unwrap_or_else(|| panic!("a diagnostic is not an object: {d}"))
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["column", "file", "hint", "line", "message", "tenants"],
            "{d}"
        );
    }
    diags
}

/// Finds the one JSON diagnostic at `file:line` and returns it.
#[track_caller]
fn json_diag(diags: &[serde_json::Value], file: &str, line: u64) -> serde_json::Value {
    let hits: Vec<_> = diags
        .iter()
        .filter(|d| d["file"] == file && d["line"] == line)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "want one diagnostic at {file}:{line}: {diags:#?}"
    );
    hits[0].clone()
}

#[test]
fn unquoted_account_id_is_one_problem() {
    let f = Fixture::example();
    f.replace(ACME, "\"111111111111\"", "111111111111");
    let diags = validate_json(&f);
    let d = json_diag(&diags, ACME, 5);
    assert_eq!(d["hint"], "quote it: `account_id = \"111111111111\"`");
    assert_eq!(diags.len(), 1, "{diags:#?}");
}

#[test]
fn account_id_in_defaults() {
    let f = Fixture::example();
    f.replace(
        DEFAULTS,
        "region       = \"ap-northeast-1\"",
        "account_id   = \"999999999999\"\nregion       = \"ap-northeast-1\"",
    );
    let run = validate_fails(&f);
    reported(
        &run,
        "tenants/_defaults.toml:12:16",
        "`account_id` does not belong in _defaults.toml",
        Some("move it to the tenant files"),
    );
    // Reported once, not once per tenant.
    assert_eq!(run.stderr.matches("does not belong").count(), 1);
}

#[test]
fn validate_json_gives_file_line_column_message_hint() {
    let f = Fixture::example();
    f.replace(ACME, "ring       = \"canary\"", "rign       = \"canary\"");
    let diags = validate_json(&f);
    assert_eq!(
        diags,
        [serde_json::json!({
            "file": "tenants/acme.toml",
            "line": 7,
            "column": 1,
            "message": "unknown key `rign` in [tenant]",
            "hint": "did you mean `ring`?",
            "tenants": [],
        })]
    );
}

#[test]
fn validate_json_for_a_cross_file_check() {
    let f = Fixture::example();
    f.replace(GLOBEX, "\"222222222222\"", "\"111111111111\"");
    let diags = validate_json(&f);
    let d = json_diag(&diags, GLOBEX, 4);
    assert_eq!(d["column"], 14);
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("account 111111111111 is already tenant `acme`'s")),
        "{d}"
    );
    assert!(d["hint"].is_string(), "{d}");
}

#[test]
fn validate_json_for_a_problem_with_a_whole_file() {
    let f = Fixture::example();
    let text = f.read(ACME);
    f.remove(ACME).write("tenants/Acme.toml", &text);
    let diags = validate_json(&f);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["file"], "tenants/Acme.toml");
    assert!(diags[0]["line"].is_null(), "{:#}", diags[0]);
    assert_eq!(diags[0]["hint"], "rename the file, e.g. to `acme.toml`");
}

#[test]
fn validate_json_keeps_stdout_pure_json() {
    let f = Fixture::example();
    f.replace(ACME, "desired_count = 6", "desired_count = \"6\"");
    let run = f.stamp(&["validate", "--output", "json"]);
    run.no_panic().code(2);
    // The whole of stdout parses; nothing else is mixed in.
    let _ = run.json();
    assert!(!run.stdout.contains("error:"), "{}", run.stdout);
}

#[test]
fn several_mistakes_in_several_files_are_reported_together_and_sorted() {
    let f = Fixture::example();
    f.replace(UMBRELLA, "desired_count = 3", "desired_count = \"3\"") // :38 → line 16
        .replace(
            GLOBEX,
            "[services.worker]\n",
            "[services.worker]\ntemplat = \"x\"\n",
        ) // line 18
        .replace(DEFAULTS, "LOG_LEVEL = \"info\"", "LOG_LEVEL = 1") // line 25
        .replace(ACME, "NEW_CHECKOUT = \"true\"", "NEW-CHECKOUT = \"true\"") // line 16
        .replace(ACME, "ring       = \"canary\"", "rign       = \"canary\""); // line 7
    let diags = validate_json(&f);
    let at: Vec<(String, u64)> = diags
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap_or_default().to_owned(),
                d["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = [
        (DEFAULTS, 25),
        (ACME, 7),
        (ACME, 16),
        (GLOBEX, 18),
        (UMBRELLA, 16),
    ]
    .into_iter()
    .map(|(f, l)| (f.to_owned(), l))
    .collect();
    assert_eq!(at, want, "{diags:#?}");

    // The text form reports the same problems, in the same order, and counts them.
    let run = validate_fails(&f);
    let arrows: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .collect();
    assert_eq!(
        arrows,
        [
            "tenants/_defaults.toml:25:13",
            "tenants/acme.toml:7:1",
            "tenants/acme.toml:16:1",
            "tenants/globex.toml:18:1",
            "tenants/umbrella.toml:16:17",
        ],
        "{}",
        run.stderr
    );
    run.stderr_has(&["5 problems found"]);
}

#[test]
fn template_errors_are_reported_with_tenant_file_errors() {
    let f = Fixture::example();
    f.replace(ACME, "ring       = \"canary\"", "rign       = \"canary\"")
        .replace(
            "templates/api.json.j2",
            "{{ service.name }}-task",
            "{{ service.name -task",
        );
    let run = validate_fails(&f);
    reported(&run, "tenants/acme.toml:7:1", "unknown key `rign`", None);
    reported(&run, "templates/api.json.j2:8:", "template error", None);
}
