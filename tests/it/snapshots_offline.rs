//! Snapshots of the offline commands on the example fleet (insta, files in `snapshots/`),
//! plus plain assertions on precedence that fail even if someone re-accepts snapshots blindly.

use serde_json::Value;

use crate::support::{Fixture, Run};

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];
const SERVICES: [&str; 2] = ["api", "worker"];

/// Runs stamp on a fresh copy of the example fleet and asserts success.
#[track_caller]
fn ok(args: &[&str]) -> Run {
    let f = Fixture::example();
    let run = f.stamp(args);
    run.no_panic().success();
    // Paths in output are relative to the fleet root; a temp path must never leak.
    let root = f.root().to_string_lossy().into_owned();
    assert!(
        !run.stdout.contains(&root),
        "stdout shows the fleet's absolute path:\n{}",
        run.stdout
    );
    run
}

/// insta settings shared by every snapshot here: no source path noise in the `.snap` files.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(true);
    s.set_omit_expression(true);
    s
}

// ---------------------------------------------------------------------------------------------
// Snapshots.

#[test]
fn render_every_tenant_and_service() {
    let settings = settings();
    for t in TENANTS {
        for s in SERVICES {
            let run = ok(&["render", t, "-s", s, "--offline"]);
            settings.bind(|| {
                insta::assert_snapshot!(format!("render_{t}_{s}"), run.stdout);
            });
        }
    }
}

#[test]
fn explain_acme_api_text() {
    let run = ok(&["explain", "acme", "-s", "api", "--offline"]);
    settings().bind(|| insta::assert_snapshot!("explain_acme_api", run.stdout));
}

#[test]
fn explain_acme_api_json() {
    let run = ok(&[
        "explain",
        "acme",
        "-s",
        "api",
        "--offline",
        "--output",
        "json",
    ]);
    settings().bind(|| insta::assert_snapshot!("explain_acme_api_json", run.stdout));
}

#[test]
fn explain_acme_api_one_overridden_variable() {
    let run = ok(&["explain", "acme", "-s", "api", "LOG_LEVEL", "--offline"]);
    settings().bind(|| insta::assert_snapshot!("explain_acme_api_log_level", run.stdout));
}

#[test]
fn explain_acme_api_one_removed_variable() {
    let run = ok(&["explain", "acme", "-s", "api", "LEGACY", "--offline"]);
    settings().bind(|| insta::assert_snapshot!("explain_acme_api_legacy", run.stdout));
}

#[test]
fn validate_json_on_the_example_fleet() {
    let run = ok(&["validate", "--output", "json"]);
    settings().bind(|| insta::assert_snapshot!("validate_json", run.stdout));
}

#[test]
fn schedule_json_at_a_fixed_instant() {
    let run = ok(&[
        "schedule",
        "--at",
        "2026-12-02T03:00:00Z",
        "--output",
        "json",
    ]);
    settings().bind(|| insta::assert_snapshot!("schedule_json_2026_12_02T03Z", run.stdout));
}

// ---------------------------------------------------------------------------------------------
// Precedence, asserted directly (DESIGN §2).

fn explain_json(tenant: &str, service: &str) -> Value {
    ok(&[
        "explain",
        tenant,
        "-s",
        service,
        "--offline",
        "--output",
        "json",
    ])
    .json()
}

#[track_caller]
fn variable<'a>(explained: &'a Value, name: &str) -> &'a Value {
    explained["variables"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("no variable {name}: {explained:#}"))
}

fn has_variable(explained: &Value, name: &str) -> bool {
    explained["variables"]
        .as_array()
        .is_some_and(|vs| vs.iter().any(|v| v["name"] == name))
}

/// The rendered task definition of a tenant's service, parsed.
fn render_json(tenant: &str, service: &str) -> Value {
    let run = ok(&["render", tenant, "-s", service, "--offline"]);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("render output is not JSON ({e}):\n{}", run.stdout))
}

/// `(name, value)` pairs in the order the task definition lists them.
type Pairs = Vec<(String, String)>;

/// `name → value` of a container's `environment`, and `name → valueFrom` of its `secrets`.
fn container_env(td: &Value, container: &str) -> (Pairs, Pairs) {
    let c = td["containerDefinitions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .unwrap_or_else(|| panic!("no container {container}: {td:#}"));
    let pairs = |key: &str, value: &str| -> Pairs {
        c[key].as_array().map_or_else(Vec::new, |a| {
            a.iter()
                .map(|kv| {
                    (
                        kv["name"].as_str().unwrap_or_default().to_owned(),
                        kv[value].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
    };
    (pairs("environment", "value"), pairs("secrets", "valueFrom"))
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn tenant_service_layer_beats_defaults_env() {
    let e = explain_json("acme", "api");
    let v = variable(&e, "LOG_LEVEL");
    assert_eq!(v["value"], "debug", "{v:#}");
    assert_eq!(v["layer"], "tenant-service", "{v:#}");
    assert_eq!(v["source"], "tenants/acme.toml:22", "{v:#}");
    assert_eq!(v["overrides"][0]["value"], "info", "{v:#}");
    assert_eq!(v["overrides"][0]["layer"], "defaults", "{v:#}");
    assert_eq!(
        v["overrides"][0]["source"], "tenants/_defaults.toml:25",
        "{v:#}"
    );

    // Only acme's api: its worker keeps the fleet default.
    let w = explain_json("acme", "worker");
    let v = variable(&w, "LOG_LEVEL");
    assert_eq!(
        (&v["value"], &v["layer"]),
        (&"info".into(), &"defaults".into())
    );
}

#[test]
fn unset_removes_an_inherited_variable_for_one_service_only() {
    let api = explain_json("acme", "api");
    assert!(!has_variable(&api, "LEGACY"), "{api:#}");
    let removed = &api["removed"];
    assert_eq!(removed[0]["name"], "LEGACY", "{api:#}");
    assert_eq!(removed[0]["layer"], "tenant-service", "{api:#}");
    assert_eq!(removed[0]["source"], "tenants/acme.toml:23", "{api:#}");
    let (env, _) = container_env(&render_json("acme", "api"), "app");
    assert_eq!(get(&env, "LEGACY"), None, "{env:?}");

    let worker = explain_json("acme", "worker");
    let v = variable(&worker, "LEGACY");
    assert_eq!(
        (&v["value"], &v["layer"]),
        (&"false".into(), &"defaults".into())
    );
    let (env, _) = container_env(&render_json("acme", "worker"), "worker");
    assert_eq!(get(&env, "LEGACY"), Some("false"), "{env:?}");
}

#[test]
fn tenant_service_layer_beats_defaults_service_layer() {
    let e = explain_json("globex", "worker");
    let v = variable(&e, "WORKER_CONCURRENCY");
    assert_eq!(v["value"], "16", "{v:#}");
    assert_eq!(v["layer"], "tenant-service", "{v:#}");
    assert_eq!(v["source"], "tenants/globex.toml:22", "{v:#}");
    assert_eq!(v["overrides"][0]["value"], "4", "{v:#}");
    assert_eq!(v["overrides"][0]["layer"], "defaults-service", "{v:#}");
    let (env, _) = container_env(&render_json("globex", "worker"), "worker");
    assert_eq!(get(&env, "WORKER_CONCURRENCY"), Some("16"), "{env:?}");

    // Another tenant keeps the defaults' service value.
    let (env, _) = container_env(&render_json("initech", "worker"), "worker");
    assert_eq!(get(&env, "WORKER_CONCURRENCY"), Some("4"), "{env:?}");
}

#[test]
fn secrets_are_only_value_from_arns() {
    for t in TENANTS {
        let td = render_json(t, "api");
        let (env, secrets) = container_env(&td, "app");
        assert_eq!(get(&env, "DATABASE_URL"), None, "{t}: {env:?}");
        let arn = get(&secrets, "DATABASE_URL").unwrap_or_else(|| panic!("{t}: {secrets:?}"));
        let account = td["executionRoleArn"]
            .as_str()
            .and_then(|a| a.split(':').nth(4))
            .unwrap_or_default()
            .to_owned();
        assert!(
            arn.starts_with("arn:aws:ssm:")
                && arn.contains(&format!(":{account}:parameter/shop/{t}/database_url")),
            "{t}: {arn}"
        );
        let e = explain_json(t, "api");
        let v = variable(&e, "DATABASE_URL");
        assert_eq!(v["secret"], true, "{v:#}");
        assert!(v["value"].is_null(), "a secret shows a value: {v:#}");
        assert_eq!(v["value_from"], arn, "{v:#}");
    }
    let (_, secrets) = container_env(&render_json("acme", "worker"), "worker");
    assert!(
        get(&secrets, "PAYMENT_KEY")
            .is_some_and(|a| a.ends_with(":111111111111:parameter/shop/acme/payment_key")),
        "{secrets:?}"
    );
}

#[test]
fn inject_into_leaves_the_sidecar_alone() {
    let td = render_json("acme", "api");
    let (env, secrets) = container_env(&td, "otel-collector");
    assert!(env.is_empty() && secrets.is_empty(), "{td:#}");
    let (env, _) = container_env(&td, "app");
    assert_eq!(get(&env, "PORT"), Some("8080"), "{env:?}");
}

#[test]
fn injected_environment_is_sorted_by_name() {
    for t in TENANTS {
        for s in SERVICES {
            let td = render_json(t, s);
            let container = if s == "api" { "app" } else { "worker" };
            let (env, secrets) = container_env(&td, container);
            for list in [&env, &secrets] {
                let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
                let mut sorted = names.clone();
                sorted.sort_unstable();
                assert_eq!(names, sorted, "{t}/{s}");
            }
        }
    }
}

#[test]
fn template_environment_is_the_lowest_layer_and_release_follows_the_pin() {
    // acme pins v1.42.0; globex follows the defaults' v1.41.3.
    for (t, release, source) in [
        ("acme", "v1.42.0", "pinned"),
        ("globex", "v1.41.3", "default"),
    ] {
        let e = explain_json(t, "api");
        assert_eq!(e["release"]["release"], release, "{e:#}");
        assert_eq!(e["release"]["source"], source, "{e:#}");
        let v = variable(&e, "RELEASE");
        assert_eq!(
            (&v["value"], &v["layer"]),
            (&release.into(), &"template".into())
        );
        let td = render_json(t, "api");
        let image = td["containerDefinitions"][0]["image"]
            .as_str()
            .unwrap_or_default();
        assert!(image.ends_with(&format!("/shop:{release}")), "{image}");
    }
}

#[test]
fn tenant_env_layer_reaches_every_service_of_that_tenant_only() {
    for s in SERVICES {
        let e = explain_json("acme", s);
        let v = variable(&e, "NEW_CHECKOUT");
        assert_eq!(
            (&v["value"], &v["layer"]),
            (&"true".into(), &"tenant".into())
        );
        assert!(!has_variable(&explain_json("globex", s), "NEW_CHECKOUT"));
    }
    // initech's FEATURE_FLAGS is in its api only.
    assert!(has_variable(
        &explain_json("initech", "api"),
        "FEATURE_FLAGS"
    ));
    assert!(!has_variable(
        &explain_json("initech", "worker"),
        "FEATURE_FLAGS"
    ));
}

#[test]
fn ssm_values_are_placeholders_offline_with_their_version() {
    let e = explain_json("globex", "api");
    let v = variable(&e, "API_BASE");
    assert_eq!(v["kind"], "ssm", "{v:#}");
    assert_eq!(v["layer"], "tenant", "{v:#}");
    assert!(
        v["value"]
            .as_str()
            .is_some_and(|s| s.starts_with("<ssm:/shop/globex/api_base") && s.contains('2')),
        "{v:#}"
    );
}

#[test]
fn desired_count_and_sizes_follow_defaults_then_tenant() {
    // cpu/memory come from _defaults.toml; the tenant file does not change them.
    for t in TENANTS {
        let td = render_json(t, "api");
        assert_eq!(
            (&td["cpu"], &td["memory"]),
            (&"256".into(), &"512".into()),
            "{t}"
        );
        let td = render_json(t, "worker");
        assert_eq!(
            (&td["cpu"], &td["memory"]),
            (&"512".into(), &"1024".into()),
            "{t}"
        );
    }
}

#[test]
fn schedule_windows_and_freezes_at_a_fixed_instant() {
    // 2026-12-02T03:00Z is Wed 12:00 in Tokyo, Tue 22:00 in New York, Wed 04:00 in Berlin.
    let j = ok(&[
        "schedule",
        "--at",
        "2026-12-02T03:00:00Z",
        "--output",
        "json",
    ])
    .json();
    let row = |t: &str| -> Value {
        j.as_array()
            .and_then(|rows| rows.iter().find(|r| r["tenant"] == t))
            .cloned()
            .unwrap_or_else(|| panic!("no row for {t}: {j:#}"))
    };
    let acme = row("acme");
    assert_eq!(acme["open"], false, "{acme:#}");
    assert_eq!(acme["freeze"]["reason"], "year-end sale", "{acme:#}");
    // The freeze ends Fri 2026-12-04 00:00 Tokyo; Thu's window is frozen, so Tue 10:00 next.
    assert_eq!(acme["freeze"]["until"], "2026-12-03T15:00:00Z", "{acme:#}");
    assert_eq!(acme["next_open"], "2026-12-08T01:00:00Z", "{acme:#}");
    let globex = row("globex");
    assert_eq!(globex["open"], false, "{globex:#}");
    assert_eq!(globex["next_open"], "2026-12-02T14:00:00Z", "{globex:#}");
    // Sat 22:00-02:00 Berlin crosses midnight; next is Sat 2026-12-05 22:00 CET.
    let initech = row("initech");
    assert_eq!(initech["open"], false, "{initech:#}");
    assert_eq!(initech["next_open"], "2026-12-05T21:00:00Z", "{initech:#}");
    // `windows = []`: always open outside freezes.
    let umbrella = row("umbrella");
    assert_eq!(umbrella["open"], true, "{umbrella:#}");
    assert!(umbrella["closes_at"].is_null(), "{umbrella:#}");
}
