//! The commit a run works from: `git rev-parse HEAD`, marked `-dirty` when `tenants/` or
//! `templates/` have uncommitted changes (the only files that change what stamp produces).

use std::path::Path;
use std::process::Command;

/// The fleet's commit, or `None` when the root is not inside a git repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Commit {
    pub sha: String,
    pub dirty: bool,
}

impl Commit {
    /// `<sha>` or `<sha>-dirty`: what saved plans and tags record.
    pub fn label(&self) -> String {
        if self.dirty {
            format!("{}-dirty", self.sha)
        } else {
            self.sha.clone()
        }
    }
}

/// What saved plans and tags record when the fleet is not committed anywhere.
pub const UNCOMMITTED: &str = "uncommitted";

/// The label of the fleet's commit, or [`UNCOMMITTED`]: the one spelling plan and deploy share.
pub fn label(root: &Path) -> String {
    commit(root).map_or_else(|| UNCOMMITTED.to_owned(), |c| c.label())
}

pub fn commit(root: &Path) -> Option<Commit> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    // A fleet that git does not track (a copy inside an ignored folder of another repository,
    // say) has no commit of its own: HEAD would name some other tree.
    git(&[
        "ls-files",
        "--error-unmatch",
        "--",
        "tenants/_defaults.toml",
    ])?;
    let sha = git(&["rev-parse", "HEAD"])?;
    let status = git(&["status", "--porcelain", "--", "tenants", "templates"])?;
    Some(Commit {
        sha,
        dirty: !status.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_outside_git_has_no_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(commit(dir.path()), None);
    }

    #[test]
    fn a_fleet_git_does_not_track_has_no_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .map(|o| o.status.success());
            assert_eq!(ok.ok(), Some(true), "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(root.join(".gitignore"), "fleet/\n").expect("write");
        git(&["add", "."]);
        git(&[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "x",
        ]);
        std::fs::create_dir_all(root.join("fleet/tenants")).expect("mkdir");
        std::fs::write(root.join("fleet/tenants/_defaults.toml"), "x").expect("write");
        assert_eq!(commit(&root.join("fleet")), None);
        assert_eq!(label(&root.join("fleet")), UNCOMMITTED);
    }

    #[test]
    fn uncommitted_fleet_changes_make_the_commit_dirty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .map(|o| o.status.success());
            assert_eq!(ok.ok(), Some(true), "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::create_dir_all(root.join("tenants")).expect("mkdir");
        std::fs::write(root.join("tenants/_defaults.toml"), "x").expect("write");
        std::fs::write(root.join("tenants/a.toml"), "x").expect("write");
        git(&["add", "."]);
        git(&[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "x",
        ]);
        let clean = commit(root).expect("a commit");
        assert!(!clean.dirty);
        assert_eq!(clean.label().len(), 40);
        std::fs::write(root.join("README"), "not fleet input").expect("write");
        assert!(
            !commit(root).expect("a commit").dirty,
            "files outside tenants/ and templates/ do not matter"
        );
        std::fs::write(root.join("tenants/a.toml"), "y").expect("write");
        let dirty = commit(root).expect("a commit");
        assert!(dirty.dirty);
        assert!(dirty.label().ends_with("-dirty"));
    }
}
