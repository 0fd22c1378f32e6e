//! The offline commands as a user runs them: help, validate, render, explain, schedule.

use crate::support::{Fixture, repo_root, run_command, stamp_command};

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        "validate", "render", "explain", "schedule", "login", "exec", "creds", "profiles", "whoami",
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
