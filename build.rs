//! Build metadata for `stamp --version`: the commit stamp was built from (`-dirty` when the
//! work tree had uncommitted changes) and the target triple.
//!
//! A build outside a git checkout (a source archive, a vendored copy) says `unknown commit`
//! unless `STAMP_BUILD_COMMIT` names it; a checkout nested in another repository never reports
//! the outer repository's commit.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=STAMP_BUILD_COMMIT");
    // An edit makes the tree dirty; the package's sources are rebuilt then anyway.
    for path in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let commit = std::env::var("STAMP_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git_commit(Path::new(&manifest_dir)))
        .unwrap_or_else(|| "unknown commit".to_owned());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown target".to_owned());
    println!("cargo:rustc-env=STAMP_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=STAMP_BUILD_TARGET={target}");
}

/// `abcdef123456` or `abcdef123456-dirty`; `None` outside a git checkout of this package.
fn git_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // Rebuild when HEAD moves or the index changes (a commit, a checkout, a `git add`).
    for path in ["HEAD", "index"] {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={}", dir.join(p).display());
        }
    }
    if let Some(head_ref) = git(dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(dir, &["rev-parse", "--git-path", &head_ref])
    {
        println!("cargo:rerun-if-changed={}", dir.join(p).display());
    }
    let commit = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    // Tracked files only: a build's own target/ or an editor's swap file is not a change.
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        // Nothing the repository configures runs during a build (hooks, fsmonitor).
        .args(["-c", "core.fsmonitor=false"])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
