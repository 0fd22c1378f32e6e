//! Shell completion: the registration scripts (`stamp completions SHELL`) and the dynamic
//! candidates (tenant, service and stack names of the fleet at hand).
//!
//! clap_complete's dynamic engine runs when the shell calls `STAMP_COMPLETE=SHELL stamp -- …`.
//! The candidates come from a cheap look at the files (names only); nothing here loads or
//! checks the fleet, reaches AWS, or writes anything. Any problem means no candidates.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap_complete::engine::CompletionCandidate;

use crate::dsl::fleet::{DEFAULTS_FILE, TENANTS_DIR};

/// The environment variable that switches `stamp` into completion mode.
pub const VAR: &str = "STAMP_COMPLETE";

/// If the shell asked for completions, answers and returns `true`; otherwise `false`.
pub fn answer_if_asked() -> Result<bool, clap::Error> {
    clap_complete::CompleteEnv::with_factory(<crate::cli::Cli as clap::CommandFactory>::command)
        .var(VAR)
        .try_complete(std::env::args_os(), std::env::current_dir().ok().as_deref())
}

/// The script a shell sources to complete `stamp`: what `STAMP_COMPLETE=SHELL stamp` prints.
pub fn registration(shell: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(shell)
        .ok_or_else(|| std::io::Error::other(format!("no completion for shell `{shell}`")))?;
    completer.write_registration(VAR, "stamp", "stamp", &self_path(), out)
}

/// How the registration script calls stamp back: as it was called now, so a stamp run by path
/// completes with itself rather than with whichever stamp is first on PATH.
fn self_path() -> String {
    let argv0 = PathBuf::from(std::env::args_os().next().unwrap_or_else(|| "stamp".into()));
    let path = if argv0.components().count() > 1 {
        std::env::current_dir().map_or(argv0.clone(), |d| d.join(&argv0))
    } else {
        argv0
    };
    path.to_string_lossy().into_owned()
}

/// Tenant names: the stems of `tenants/*.toml` other than `_defaults.toml`.
pub fn tenants(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(root) = root() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(root.join(TENANTS_DIR)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".toml")?;
            (!stem.starts_with('_')).then(|| stem.to_owned())
        })
        .collect();
    names.sort();
    candidates(names, current)
}

/// Service names: the `[services.S]` tables of every file in `tenants/`.
pub fn services(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(table_names("services"), current)
}

/// Stack keys: the `[infra.STACK]` tables of every file in `tenants/`.
pub fn stacks(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(table_names("infra"), current)
}

fn candidates(names: Vec<String>, current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    names
        .into_iter()
        .filter(|n| n.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// The keys of the top-level table `section` across the fleet's files, sorted, once each.
fn table_names(section: &str) -> Vec<String> {
    let Some(root) = root() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(root.join(TENANTS_DIR)) else {
        return Vec::new();
    };
    let mut names = std::collections::BTreeSet::new();
    for e in entries.flatten() {
        let Ok(file) = e.file_name().into_string() else {
            continue;
        };
        if !file.ends_with(".toml") {
            continue;
        }
        // The loader's own reader: plain files inside the root, within the size limit.
        let rel = format!("{TENANTS_DIR}/{file}");
        let Ok(text) = crate::input::read(&root, &rel, crate::input::Kind::TenantFile) else {
            continue;
        };
        if let Ok(doc) = toml::from_str::<toml::Table>(&text)
            && let Some(toml::Value::Table(t)) = doc.get(section)
        {
            names.extend(t.keys().cloned());
        }
    }
    names.into_iter().collect()
}

/// The fleet root: `--root DIR` on the command line being completed, else upwards from here.
fn root() -> Option<PathBuf> {
    let explicit = root_flag(std::env::args_os());
    let cwd = std::env::current_dir().ok()?;
    let root = crate::dsl::find_root(explicit.as_deref(), &cwd).ok()?;
    root.join(TENANTS_DIR)
        .join(DEFAULTS_FILE)
        .is_file()
        .then_some(root)
}

/// The value of `--root DIR` or `--root=DIR` among the words being completed.
fn root_flag(args: impl Iterator<Item = OsString>) -> Option<PathBuf> {
    let mut args = args.skip_while(|a| a != "--");
    let mut found = None;
    while let Some(a) = args.next() {
        let a = a.to_string_lossy().into_owned();
        if a == "--root" {
            found = args.next().map(PathBuf::from);
        } else if let Some(v) = a.strip_prefix("--root=") {
            found = Some(PathBuf::from(v));
        }
    }
    found.filter(|p| Path::new(p).is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_flag_is_read_after_the_escape() {
        let words = |s: &str| s.split(' ').map(OsString::from).collect::<Vec<_>>();
        let tmp = std::env::temp_dir();
        let t = tmp.to_string_lossy();
        assert_eq!(
            root_flag(words(&format!("stamp -- stamp plan --root {t} ac")).into_iter()),
            Some(tmp.clone())
        );
        assert_eq!(
            root_flag(words(&format!("stamp -- stamp --root={t} plan ac")).into_iter()),
            Some(tmp.clone())
        );
        // Before `--` are stamp's own arguments, not the command line being completed.
        assert_eq!(
            root_flag(words(&format!("stamp --root {t} -- stamp plan ac")).into_iter()),
            None
        );
    }
}
