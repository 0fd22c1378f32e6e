//! The commit a run works from, and whether the fleet's inputs differ from it.
//!
//! git is run only for what it alone knows (the commit, the index, the ignore rules) and in a
//! way that runs nothing a repository configures: no fsmonitor, hooks, pager, external diff,
//! textconv or filter program, no lazy fetch, no system config. Whether `tenants/` and
//! `templates/` are dirty is decided here, by hashing the bytes on disk the way git names
//! blobs and comparing them with HEAD's tree, never by `git status`, which runs a
//! repository's clean filters and fsmonitor hook. Bytes are compared as they are, without
//! filters, which is also what stamp reads.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use sha2::Digest;

/// The folders whose files change what stamp produces.
const INPUTS: [&str; 2] = ["tenants", "templates"];

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
            format!("{}{DIRTY}", self.sha)
        } else {
            self.sha.clone()
        }
    }
}

/// A commit label as a table shows it: the sha cut to 12 characters, keeping `-dirty`, which
/// says the deploy did not come from that commit alone.
pub fn short_label(label: &str) -> String {
    let (sha, dirty) = match label.strip_suffix(DIRTY) {
        Some(sha) => (sha, DIRTY),
        None => (label, ""),
    };
    let cut = sha.char_indices().nth(12).map_or(sha.len(), |(i, _)| i);
    format!("{}{dirty}", &sha[..cut])
}

const DIRTY: &str = "-dirty";

/// What saved plans and tags record when the fleet is not committed anywhere.
pub const UNCOMMITTED: &str = "uncommitted";

/// The label of the fleet's commit, or [`UNCOMMITTED`]: the one spelling plan and deploy share.
pub fn label(root: &Path) -> String {
    commit(root).map_or_else(|| UNCOMMITTED.to_owned(), |c| c.label())
}

pub fn commit(root: &Path) -> Option<Commit> {
    let (files, sha) = changed(root)?;
    Some(Commit {
        sha,
        dirty: !files.is_empty(),
    })
}

/// The files under `dir` (relative to the root, `/`-separated) that are new or changed since
/// the last commit; `None` when git cannot tell (no repository, the fleet not tracked).
pub fn changed_files(root: &Path, dir: &str) -> Option<std::collections::BTreeSet<String>> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let (files, _) = changed(root)?;
    Some(
        files
            .into_iter()
            .filter(|f| f.starts_with(&prefix))
            .collect(),
    )
}

/// HEAD's sha and the input files that are new, changed or gone since HEAD; `None` when git
/// cannot tell (no repository, or git does not track the fleet).
fn changed(root: &Path) -> Option<(Vec<String>, String)> {
    // A fleet that git does not track (a copy inside an ignored folder of another repository,
    // say) has no commit of its own: HEAD would name some other tree.
    git(
        root,
        &[
            "ls-files",
            "--error-unmatch",
            "--",
            "tenants/_defaults.toml",
        ],
    )?;
    let sha = text(git(root, &["rev-parse", "--verify", "--quiet", "HEAD"])?);
    let format = text(git(root, &["rev-parse", "--show-object-format"])?);
    let head = head_tree(root)?;
    let index = paths(git(
        root,
        &over_inputs(&["ls-files", "-z", "--cached", "--"]),
    )?);
    let mut files = paths(git(
        root,
        &over_inputs(&["ls-files", "-z", "--others", "--exclude-standard", "--"]),
    )?);
    files.extend(index.iter().filter(|p| !head.contains_key(*p)).cloned());
    // Staged for removal but still on disk: the next commit will differ from what is read.
    files.extend(head.keys().filter(|p| !index.contains(p)).cloned());
    files.extend(
        head.iter()
            .filter(|(path, (mode, oid))| !same_blob(&root.join(path), mode, oid, &format))
            .map(|(path, _)| path.clone()),
    );
    files.sort();
    files.dedup();
    Some((files, sha))
}

/// Whether git tracks `dir` or anything under it (false outside any repository).
pub fn tracks_anything_under(dir: &Path) -> bool {
    git(dir, &["ls-files", "-z", "--cached", "--", "."]).is_some_and(|out| !out.is_empty())
}

/// `args` followed by the input folders as pathspecs.
fn over_inputs<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(INPUTS).collect()
}

/// HEAD's entries under the inputs: path → (mode, object id).
fn head_tree(root: &Path) -> Option<BTreeMap<String, (String, String)>> {
    let out = git(root, &over_inputs(&["ls-tree", "-r", "-z", "HEAD", "--"]))?;
    let mut tree = BTreeMap::new();
    for entry in out.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let (meta, path) = entry.split_once('\t')?;
        let mut meta = meta.split(' ');
        let (mode, _kind, oid) = (meta.next()?, meta.next()?, meta.next()?);
        tree.insert(path.to_owned(), (mode.to_owned(), oid.to_owned()));
    }
    Some(tree)
}

/// Whether the file at `path` is the blob `oid` (a symlink: its target's text, as git stores
/// it). A submodule is never looked into.
fn same_blob(path: &Path, mode: &str, oid: &str, format: &str) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    let kind = meta.file_type();
    if mode == "160000" {
        return true;
    }
    if mode == "120000" {
        return kind.is_symlink()
            && std::fs::read_link(path).is_ok_and(|target| {
                let bytes = target.as_os_str().as_encoded_bytes();
                blob_id(format, bytes.len() as u64, &mut &bytes[..]).as_deref() == Some(oid)
            });
    }
    // A FIFO or device is never opened: it could block or never end.
    if !kind.is_file() {
        return false;
    }
    std::fs::File::open(path)
        .ok()
        .and_then(|mut f| blob_id(format, meta.len(), &mut f))
        .is_some_and(|id| id == oid)
}

/// git's name for a blob: the hash of `blob <len>\0` and the bytes, in the repository's
/// object format. `None` if the content is not `len` bytes long after all.
fn blob_id(format: &str, len: u64, content: &mut dyn Read) -> Option<String> {
    fn hash<H: Digest>(len: u64, content: &mut dyn Read) -> Option<String> {
        let mut h = H::new();
        h.update(format!("blob {len}\0"));
        let mut buf = [0u8; 64 * 1024];
        let mut seen = 0u64;
        loop {
            let n = content.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            seen += n as u64;
            h.update(&buf[..n]);
        }
        (seen == len).then(|| {
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
    }
    match format {
        "sha256" => hash::<sha2::Sha256>(len, content),
        _ => hash::<sha1::Sha1>(len, content),
    }
}

fn paths(out: Vec<u8>) -> Vec<String> {
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn text(out: Vec<u8>) -> String {
    String::from_utf8_lossy(&out).trim().to_owned()
}

/// Settings that keep git from running anything a repository (or a stray environment)
/// configures; `-c` on the command line beats every config file.
const NO_PROGRAMS: &[&str] = &[
    "--no-pager",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.untrackedCache=false",
    "-c",
    "core.pager=cat",
    "-c",
    "diff.external=",
    "-c",
    "protocol.allow=never",
    "-c",
    "submodule.recurse=false",
];

/// Environment variables git would take a program or another repository from.
const CLEARED_ENV: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXTERNAL_DIFF",
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
];

/// Runs `git -C dir ARGS` with [`NO_PROGRAMS`]; its stdout, or `None` if it failed.
fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(NO_PROGRAMS).args(args);
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_NO_LAZY_FETCH", "1")
        .env("GIT_PAGER", "cat")
        .env("PAGER", "cat")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_git(root: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .map(|o| o.status.success());
        assert_eq!(ok.ok(), Some(true), "git {args:?}");
    }

    /// A repository at `root` holding a two-file fleet, committed.
    fn committed_fleet(root: &Path, init: &[&str]) {
        run_git(root, init);
        std::fs::create_dir_all(root.join("tenants")).expect("mkdir");
        std::fs::create_dir_all(root.join("templates")).expect("mkdir");
        std::fs::write(root.join("tenants/_defaults.toml"), "x").expect("write");
        std::fs::write(root.join("tenants/a.toml"), "x").expect("write");
        std::fs::write(root.join("templates/t.json.j2"), "{}").expect("write");
        run_git(root, &["add", "."]);
        run_git(root, &["commit", "-qm", "x"]);
    }

    #[test]
    fn a_short_commit_keeps_dirty() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(short_label(sha), "0123456789ab");
        assert_eq!(short_label(&format!("{sha}-dirty")), "0123456789ab-dirty");
        assert_eq!(short_label(UNCOMMITTED), UNCOMMITTED);
        assert_eq!(short_label("abc-dirty"), "abc-dirty");
    }

    #[test]
    fn a_folder_outside_git_has_no_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(commit(dir.path()), None);
        assert!(!tracks_anything_under(dir.path()));
    }

    #[test]
    fn a_fleet_git_does_not_track_has_no_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        run_git(root, &["init", "-q"]);
        std::fs::write(root.join(".gitignore"), "fleet/\n").expect("write");
        run_git(root, &["add", "."]);
        run_git(root, &["commit", "-qm", "x"]);
        std::fs::create_dir_all(root.join("fleet/tenants")).expect("mkdir");
        std::fs::write(root.join("fleet/tenants/_defaults.toml"), "x").expect("write");
        assert_eq!(commit(&root.join("fleet")), None);
        assert_eq!(label(&root.join("fleet")), UNCOMMITTED);
        assert!(tracks_anything_under(root));
        assert!(!tracks_anything_under(&root.join("fleet")));
    }

    #[test]
    fn uncommitted_fleet_changes_make_the_commit_dirty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        committed_fleet(root, &["init", "-q"]);
        let clean = commit(root).expect("a commit");
        assert!(!clean.dirty);
        assert_eq!(clean.label().len(), 40);
        std::fs::write(root.join("README"), "not fleet input").expect("write");
        assert!(
            !commit(root).expect("a commit").dirty,
            "files outside tenants/ and templates/ do not matter"
        );
        let dirty = |change: &dyn Fn(), undo: &dyn Fn(), what: &str| {
            change();
            let c = commit(root).expect("a commit");
            assert!(c.dirty, "{what}");
            assert!(c.label().ends_with("-dirty"));
            undo();
            assert!(!commit(root).expect("a commit").dirty, "undoing {what}");
        };
        let a = root.join("tenants/a.toml");
        let b = root.join("tenants/b.toml");
        let write = |p: &Path, s: &str| std::fs::write(p, s).expect("write");
        let remove = |p: &Path| std::fs::remove_file(p).expect("remove");
        dirty(&|| write(&a, "y"), &|| write(&a, "x"), "a changed file");
        dirty(&|| remove(&a), &|| write(&a, "x"), "a deleted file");
        dirty(&|| write(&b, "x"), &|| remove(&b), "an untracked file");
        dirty(
            &|| {
                write(&b, "x");
                run_git(root, &["add", "tenants/b.toml"]);
            },
            &|| {
                run_git(root, &["rm", "-q", "--cached", "tenants/b.toml"]);
                remove(&b);
            },
            "a staged, uncommitted file",
        );
        std::fs::write(root.join(".gitignore"), "*.swp\n").expect("write");
        write(&root.join("tenants/.a.toml.swp"), "editor");
        assert!(
            !commit(root).expect("a commit").dirty,
            "ignored files do not matter"
        );
    }

    #[test]
    fn a_sha256_repository_is_read_too() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        committed_fleet(root, &["init", "-q", "--object-format=sha256"]);
        let c = commit(root).expect("a commit");
        assert_eq!((c.sha.len(), c.dirty), (64, false));
        std::fs::write(root.join("templates/t.json.j2"), "{ }").expect("write");
        assert!(commit(root).expect("a commit").dirty);
    }
}
