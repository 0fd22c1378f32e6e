//! Shared test helpers: fleet fixtures in temp dirs and running the `stamp` binary the way a
//! user would, with an environment scrubbed of anything that could reach real AWS.

#![allow(dead_code, unreachable_pub)]

pub mod emulator;
pub mod faults;
pub mod genfleet;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's own example fleet (tenants/ + templates/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The result of one `stamp` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing both streams when it is wrong.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(
            self.code, want,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    /// Asserts that stderr contains every needle.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}\n--- stderr\n{}",
                self.stderr
            );
        }
        self
    }

    /// Asserts that stderr contains none of the needles: what stamp must not say.
    #[track_caller]
    pub fn stderr_lacks(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(
                !self.stderr.contains(n),
                "stderr says {n:?}\n--- stderr\n{}",
                self.stderr
            );
        }
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(
                self.stdout.contains(n),
                "stdout lacks {n:?}\n--- stdout\n{}",
                self.stdout
            );
        }
        self
    }

    /// A Rust panic message never reaches a user.
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        assert!(
            !self.stderr.contains("panicked at"),
            "stamp panicked:\n{}",
            self.stderr
        );
        assert_ne!(self.code, 101, "stamp panicked:\n{}", self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// A `stamp` command with a clean environment: no AWS credentials, profiles or endpoints from
/// the developer's shell, a fixed locale, and no colour.
pub fn stamp_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stamp"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("AWS_")
            || k == "NO_COLOR"
            || k == "CLICOLOR_FORCE"
            || k == "RUST_BACKTRACE"
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    cmd
}

pub fn run_command(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run stamp");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` under `script`, which gives it a pseudo-terminal: what a person at a terminal
/// (or a CI runner that allocates one) sees. Both streams come back as stderr.
pub fn on_a_terminal(cmd: std::process::Command) -> Run {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect();
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let run = run_command(script);
    Run {
        code: run.code,
        stdout: String::new(),
        stderr: run.stdout.replace("\r\n", "\n"),
    }
}

/// A fleet in a temporary folder: a copy of the example fleet, or an empty one.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A copy of the repository's example fleet, free to edit.
    pub fn example() -> Self {
        let f = Self::empty();
        for sub in ["tenants", "templates"] {
            copy_dir(&repo_root().join(sub), &f.root().join(sub));
        }
        f
    }

    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        self
    }

    /// Replaces `from` with `to` in a file; the text must be there, so a stale test fails loudly.
    pub fn replace(&self, rel: &str, from: &str, to: &str) -> &Self {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1))
    }

    /// Appends text to a file.
    pub fn append(&self, rel: &str, more: &str) -> &Self {
        let text = self.read(rel);
        self.write(rel, &format!("{text}\n{more}"))
    }

    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.path(rel)).unwrap_or_else(|e| panic!("remove {rel}: {e}"));
        self
    }

    /// Runs `stamp --root <fixture> ARGS`.
    pub fn stamp(&self, args: &[&str]) -> Run {
        let mut cmd = stamp_command();
        cmd.arg("--root").arg(self.root()).args(args);
        run_command(cmd)
    }

    /// Runs `stamp ARGS` from a folder inside the fixture, without `--root`.
    pub fn stamp_in(&self, sub: &str, args: &[&str]) -> Run {
        let mut cmd = stamp_command();
        cmd.current_dir(self.path(sub)).args(args);
        run_command(cmd)
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

/// `text` without its `[infra.*]` tables (they run to the next table that is not one).
pub fn without_infra(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            skipping = t.starts_with("[infra.") || t.starts_with("[infra]");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A runtime for the SDK calls a test makes to read the emulator back.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `tenant/service -> row` of a deploy, rollback or infra summary; a row twice is an error.
pub fn rows(run: &Run) -> std::collections::BTreeMap<String, serde_json::Value> {
    let j = run.json();
    let mut out = std::collections::BTreeMap::new();
    for r in j["rows"].as_array().expect("rows").iter() {
        let key = format!(
            "{}/{}",
            r["tenant"].as_str().expect("tenant"),
            r["service"].as_str().expect("service")
        );
        assert!(
            out.insert(key.clone(), r.clone()).is_none(),
            "{key} twice in {j}"
        );
    }
    out
}

pub fn result(row: &serde_json::Value) -> &str {
    row["result"].as_str().unwrap_or("")
}

pub fn detail(row: &serde_json::Value) -> &str {
    row["detail"].as_str().unwrap_or("")
}
