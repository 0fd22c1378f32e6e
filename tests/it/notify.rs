//! `[notify]` end to end: the real binary deploys a copy of the example fleet in the shared
//! emulator while a local HTTP receiver (a std `TcpListener` thread) plays the webhook. The
//! receiver sees the start and end messages; a receiver that answers 500 or never answers
//! costs a warning and nothing else; the URL (its path is the secret) shows nowhere.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::emulator::{BASE_ACCOUNT, Emulator, Fleet, example_fleet};
use crate::support::{Run, result, rows};

/// The variable the test fleet's `[notify]` names.
const VAR: &str = "STAMP_TEST_WEBHOOK";
/// A Slack webhook URL's secret is its path: it must appear in no output.
const SECRET_PATH: &str = "/services/T0TEST/B0TEST/s3cr3tW3bh00kT0k3n";

fn emu() -> &'static Emulator {
    Emulator::shared()
}

/// How the receiver answers.
#[derive(Clone, Copy)]
enum Answer {
    Ok,
    Status500,
    /// Reads the request, then holds the connection without a word.
    Never,
}

/// A webhook on loopback: every request body it reads, as JSON, arrives on the channel.
fn receiver(answer: Answer) -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}{SECRET_PATH}",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let Some(body) = read_request(&conn) else {
                continue;
            };
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            let mut w = conn;
            match answer {
                Answer::Ok => {
                    let _ = w.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                }
                Answer::Status500 => {
                    let _ = w.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops");
                }
                Answer::Never => held.push(w),
            }
        }
    });
    (url, rx)
}

/// One HTTP/1.1 request's body (`Content-Length` framed, as stamp sends it).
fn read_request(conn: &std::net::TcpStream) -> Option<Vec<u8>> {
    let mut r = BufReader::new(conn.try_clone().ok()?);
    let mut len = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// The example fleet in fresh accounts, every tenant always open, `[notify]` naming [`VAR`].
fn fleet() -> Fleet {
    let (root, params) = example_fleet();
    let f = emu().fresh_fleet(&root, &params);
    for t in f.tenants.keys() {
        open(&f, t);
    }
    let path = f.root().join("tenants/_defaults.toml");
    let text = std::fs::read_to_string(&path).expect("read defaults");
    std::fs::write(
        &path,
        format!("{text}\n[notify]\nwebhook_env = \"{VAR}\"\n"),
    )
    .expect("write defaults");
    f
}

/// Replaces the tenant's `[schedule]` with UTC, no windows: always open.
fn open(f: &Fleet, tenant: &str) {
    let path = f.root().join(format!("tenants/{tenant}.toml"));
    let text = std::fs::read_to_string(&path).expect("read tenant");
    let mut out = Vec::new();
    let mut skip = false;
    for line in text.lines() {
        if line.trim_start().starts_with('[') {
            skip = line.trim() == "[schedule]";
            if skip {
                out.push("[schedule]\ntimezone = \"UTC\"\nwindows = []\n".to_owned());
                continue;
            }
        }
        if !skip {
            out.push(line.to_owned());
        }
    }
    std::fs::write(&path, out.join("\n") + "\n").expect("write tenant");
}

/// `stamp deploy --all` with the webhook variable set to `url` (or unset).
fn deploy(f: &Fleet, url: Option<&str>, extra: &[&str]) -> (Run, Duration) {
    let mut args = vec!["deploy", "--all"];
    args.extend_from_slice(extra);
    stamp(f, url, &args)
}

/// A write command, non-interactive, JSON summary, with the webhook variable set to `url` (or
/// unset); never hangs the test: a run that outlives a minute is killed and fails it.
fn stamp(f: &Fleet, url: Option<&str>, args: &[&str]) -> (Run, Duration) {
    stamp_then(f, url, args, &[])
}

/// [`stamp`], with `trailing` after the common flags (`-- CMD…` of `stamp run`).
fn stamp_then(f: &Fleet, url: Option<&str>, args: &[&str], trailing: &[&str]) -> (Run, Duration) {
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .args([
            "--yes",
            "--allow-dirty",
            "--poll-interval",
            "20ms",
            "--output",
            "json",
        ])
        .args(trailing)
        .env_remove(VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = url {
        cmd.env(VAR, url);
    }
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn stamp");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(Duration::from_secs(60)) else {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("stamp (pid {pid}) did not exit within a minute");
    };
    let out = out.expect("wait for stamp");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.no_panic();
    (run, started.elapsed())
}

fn assert_url_hidden(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains("s3cr3tW3bh00kT0k3n") && !text.contains("/services/T0TEST"),
            "the webhook URL leaked on {name}:\n{text}"
        );
    }
}

#[test]
fn a_deploy_posts_a_start_message_and_an_end_message_with_failures_first() {
    let f = fleet();
    let (url, got) = receiver(Answer::Ok);
    let acme = f.tenant("acme").clone();
    emu().fail_next_rollout(&acme.account_id, &acme.region, &acme.cluster, "api");
    let (run, _) = deploy(&f, Some(&url), &["--failure-tolerance", "5"]);
    run.code(1);
    assert_url_hidden(&run);
    assert!(!run.stderr.contains("warning: notify"), "{}", run.stderr);
    let rows = rows(&run);
    assert_eq!(result(&rows["acme/api"]), "rolled-back", "{}", run.stdout);

    let start = got
        .recv_timeout(Duration::from_secs(5))
        .expect("a start message");
    let end = got
        .recv_timeout(Duration::from_secs(5))
        .expect("an end message");
    assert!(got.try_recv().is_err(), "two messages, no more");

    let s = &start["stamp"];
    assert_eq!(s["event"], "started", "{start}");
    assert_eq!(s["command"], "deploy");
    assert!(
        s["who"]
            .as_str()
            .is_some_and(|w| w.starts_with("arn:aws:") && w.contains(BASE_ACCOUNT)),
        "the deployer the tags record: {start}"
    );
    assert_eq!(s["commit"], "uncommitted", "{start}");
    // acme pins v1.42.0; the others take the default.
    assert_eq!(s["release"], "v1.42.0 + v1.41.3", "{start}");
    assert_eq!(s["tenant_count"], 4);
    let names: Vec<&str> = s["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 4, "{start}");
    for t in ["acme", "globex", "initech", "umbrella"] {
        assert!(names.contains(&t), "{t} in {start}");
    }
    let text = start["text"].as_str().expect("Slack text");
    assert!(
        text.starts_with("stamp deploy started by arn:aws:"),
        "{text}"
    );
    assert!(text.contains("4 tenants in"), "{text}");

    let e = &end["stamp"];
    assert_eq!(e["event"], "finished", "{end}");
    assert_eq!(e["ok"], false);
    assert_eq!(e["exit_code"], 1);
    assert_eq!(e["counts"]["rolled-back"], 1, "{end}");
    assert_eq!(e["counts"]["deployed"], 7, "{end}");
    let problems = e["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{end}");
    assert_eq!(problems[0]["tenant"], "acme");
    assert_eq!(problems[0]["service"], "api");
    assert_eq!(problems[0]["result"], "rolled-back");
    let text = end["text"].as_str().expect("Slack text");
    assert!(
        text.starts_with("stamp deploy FAILED in "),
        "failures first: {text}"
    );
    let tally = text.lines().next().unwrap_or_default();
    assert!(
        tally.find("1 rolled-back") < tally.find("7 deployed"),
        "failures first: {text}"
    );
    assert!(text.contains("\n• acme/api rolled-back"), "{text}");
}

#[test]
fn a_rollback_notifies_through_the_same_engine() {
    let f = fleet();
    deploy(&f, None, &[]).0.success();
    stamp(&f, None, &["deploy", "umbrella", "--release", "v1.43.0"])
        .0
        .success();
    let (url, got) = receiver(Answer::Ok);
    let (run, _) = stamp(&f, Some(&url), &["rollback", "umbrella", "-s", "api"]);
    run.success();
    assert_url_hidden(&run);
    let start = got
        .recv_timeout(Duration::from_secs(5))
        .expect("a start message");
    let end = got
        .recv_timeout(Duration::from_secs(5))
        .expect("an end message");
    assert_eq!(start["stamp"]["command"], "rollback", "{start}");
    assert_eq!(start["stamp"]["tenant_count"], 1, "{start}");
    assert_eq!(start["stamp"]["release"], "v1.41.3 → revision 2", "{start}");
    assert_eq!(end["stamp"]["command"], "rollback", "{end}");
    assert_eq!(end["stamp"]["counts"]["rolled-back"], 1, "{end}");
    // What a rollback asks for is a rolled-back row: the run succeeded, as its exit code says.
    assert_eq!(end["stamp"]["ok"], true, "{end}");
    assert_eq!(end["stamp"]["exit_code"], 0, "{end}");
    assert!(
        end["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("stamp rollback finished in ")),
        "{end}"
    );
}

#[test]
fn a_one_off_task_notifies_with_its_command_and_its_failure() {
    let f = fleet();
    deploy(&f, None, &[]).0.success();
    let (url, got) = receiver(Answer::Ok);
    let (run, _) = stamp_then(
        &f,
        Some(&url),
        &["run", "umbrella", "-s", "api"],
        &["--", "./migrate", "up", "exit=3"],
    );
    run.code(3);
    assert_url_hidden(&run);
    let start = got
        .recv_timeout(Duration::from_secs(5))
        .expect("a start message");
    let end = got
        .recv_timeout(Duration::from_secs(5))
        .expect("an end message");
    assert_eq!(start["stamp"]["command"], "run", "{start}");
    assert_eq!(start["stamp"]["tenant_count"], 1, "{start}");
    let release = start["stamp"]["release"].as_str().unwrap_or_default();
    assert!(release.contains("`./migrate up exit=3` in api"), "{start}");
    assert_eq!(end["stamp"]["ok"], false, "{end}");
    assert_eq!(end["stamp"]["problems"][0]["tenant"], "umbrella", "{end}");
}

#[test]
fn an_endpoint_answering_500_is_a_warning_and_the_deploy_still_succeeds() {
    let f = fleet();
    let (url, got) = receiver(Answer::Status500);
    let (run, _) = deploy(&f, Some(&url), &[]);
    run.success();
    assert_url_hidden(&run);
    assert_eq!(run.json()["counts"]["deployed"], 8, "{}", run.stdout);
    run.stderr_has(&[
        &format!("warning: notify: the start message to ${VAR} was not delivered: the endpoint answered HTTP 500"),
        &format!("warning: notify: the end message to ${VAR} was not delivered: the endpoint answered HTTP 500"),
    ]);
    assert_eq!(got.iter().take(2).count(), 2, "both were tried");
}

#[test]
fn an_endpoint_that_never_answers_costs_a_warning_and_at_most_the_timeout() {
    let f = fleet();
    let (url, got) = receiver(Answer::Never);
    let (run, took) = deploy(&f, Some(&url), &[]);
    run.success();
    assert_url_hidden(&run);
    assert_eq!(run.json()["counts"]["deployed"], 8, "{}", run.stdout);
    run.stderr_has(&[&format!(
        "warning: notify: the start message to ${VAR} was not delivered: no answer within 5s"
    )]);
    // The start message was in flight (unanswered) while the services deployed: nothing
    // waited for it. Its row durations are the rollouts' own.
    let start = got
        .recv_timeout(Duration::from_secs(1))
        .expect("the start message arrived");
    assert_eq!(start["stamp"]["event"], "started");
    eprintln!("deploy with a silent webhook took {took:?}");
}

#[test]
fn an_unset_variable_is_one_warning_and_the_deploy_goes_on() {
    let f = fleet();
    let (run, _) = deploy(&f, None, &[]);
    run.success();
    assert_eq!(run.json()["counts"]["deployed"], 8, "{}", run.stdout);
    let warning = format!(
        "warning: [notify] webhook_env names ${VAR}, which is not set: this deploy sends no notifications"
    );
    assert_eq!(run.stderr.matches(&warning).count(), 1, "{}", run.stderr);
}

#[test]
fn a_url_in_notify_is_a_validate_error_that_does_not_repeat_it() {
    let f = fleet();
    let path = f.root().join("tenants/_defaults.toml");
    let text = std::fs::read_to_string(&path).expect("read defaults");
    let text = text.replace(
        &format!("webhook_env = \"{VAR}\""),
        &format!("webhook_url = \"https://hooks.slack.com{SECRET_PATH}\""),
    );
    std::fs::write(&path, text).expect("write defaults");
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root").arg(f.root()).arg("validate");
    let run = crate::support::run_command(cmd);
    assert_url_hidden(&run);
    run.code(2).stderr_has(&[
        "`webhook_url` in [notify] is a URL: a webhook URL is a secret and does not belong in the repository",
        "webhook_env = \"STAMP_SLACK_WEBHOOK\"",
    ]);
}
