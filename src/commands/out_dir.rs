//! The folder of `render --out-dir`: stamp writes there only what it owns, all or nothing.
//!
//! A marker file (`.stamp-render.json`) records every file stamp wrote. A folder that holds
//! anything else is refused before anything is written, as are `/`, the fleet root and the
//! folders above it, the fleet's own `tenants/` and `templates/`, and any folder git tracks
//! files in. Output goes to a staging folder inside DIR first; only when every service has
//! rendered does each tenant folder move into place, one rename each (the old one moved aside
//! first, and moved back if a later rename fails). Staging is removed on every path,
//! including an error, a panic, a render that runs out of memory (`render::budget`), and
//! SIGINT/SIGTERM while rendering; a staging folder left by a
//! killed run is recognised by its name and removed by the next.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Failure, Result};

/// The marker's name inside DIR.
pub(super) const MARKER: &str = ".stamp-render.json";
const STAGING_PREFIX: &str = ".stamp-render-";
/// A marker lists a few names per service; this is room for a hundred thousand services.
const MARKER_LIMIT: u64 = 16 * 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marker {
    /// Always "stamp render": says what the file is to someone who finds it.
    written_by: String,
    /// `tenant/service.json`, sorted.
    files: BTreeSet<String>,
}

/// An output folder checked to hold only stamp's own output.
#[derive(Debug)]
pub(super) struct OutDir {
    dir: PathBuf,
    marker: Marker,
    existed: bool,
}

fn refuse(message: String, hint: &str) -> Failure {
    Failure::usage(format!("--out-dir {message}"), Some(hint.to_owned()))
}

impl OutDir {
    /// Checks `dir` before anything is written: refusals are usage errors (exit 2).
    pub(super) fn check(root: &Path, dir: &Path) -> Result<Self> {
        let shown = dir.display();
        let real = real_path(dir).map_err(|e| {
            refuse(
                format!("`{shown}` cannot be used: {e}"),
                "name a folder you may write",
            )
        })?;
        let real_root = std::fs::canonicalize(root)?;
        if real.parent().is_none() {
            return Err(refuse(
                format!("`{shown}` is the file system's root"),
                "name a folder of its own for the output, e.g. `--out-dir rendered`",
            ));
        }
        if real_root.starts_with(&real) {
            return Err(refuse(
                format!("`{shown}` holds the fleet repository"),
                "name a folder of its own for the output, e.g. `--out-dir rendered` (add it to .gitignore)",
            ));
        }
        let inputs = [
            crate::dsl::fleet::TENANTS_DIR,
            crate::dsl::fleet::TEMPLATES_DIR,
        ];
        if inputs.iter().any(|i| real.starts_with(real_root.join(i))) {
            return Err(refuse(
                format!("`{shown}` is inside the fleet's own tenants/ or templates/"),
                "name a folder outside them, e.g. `--out-dir rendered`",
            ));
        }
        let existed = match std::fs::symlink_metadata(&real) {
            Ok(m) if m.is_dir() => true,
            Ok(_) => {
                return Err(refuse(
                    format!("`{shown}` is a file, not a folder"),
                    "name a new or empty folder",
                ));
            }
            Err(_) => false,
        };
        if existed && crate::vcs::tracks_anything_under(&real) {
            return Err(refuse(
                format!(
                    "`{shown}` is inside the repository's tracked tree: git tracks files there"
                ),
                "write rendered output to a folder git ignores, e.g. `--out-dir rendered` with `rendered/` in .gitignore",
            ));
        }
        let marker = if existed {
            read_marker(&real)?
        } else {
            Marker::default()
        };
        if existed {
            let foreign = foreign_entries(&real, &marker)?;
            if let Some(first) = foreign.first() {
                let more = match foreign.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                return Err(refuse(
                    format!("`{shown}` holds `{first}`{more}, which stamp did not write"),
                    "stamp replaces only its own output: name a new or empty folder, or one that only `stamp render --out-dir` wrote to",
                ));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            marker,
            existed,
        })
    }

    /// Creates DIR and an empty staging folder in it, removing staging left by killed runs.
    pub(super) fn stage(&self) -> Result<Staging> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", self.dir.display()))?;
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            if is_staging(&entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let path = self
            .dir
            .join(format!("{STAGING_PREFIX}{}", std::process::id()));
        std::fs::create_dir(&path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        Ok(Staging {
            _on_overrun: crate::render::budget::RemoveOnOverrun::new(&path),
            path,
            dir: self.dir.clone(),
            remove_dir: !self.existed,
        })
    }

    /// Moves each tenant folder of `staging` into place and records the files; on a failed
    /// move, the folders already moved go back and the old ones return.
    pub(super) fn commit(
        mut self,
        staging: Staging,
        tenants: &[&str],
        files: &[String],
    ) -> Result<()> {
        let new: BTreeSet<String> = files.iter().cloned().collect();
        let replaced = |f: &String| tenants.iter().any(|t| f.split('/').next() == Some(*t));
        // Recorded first as old ∪ new: a run killed mid-way leaves a marker that still covers
        // every file stamp may have put there.
        self.marker.written_by = "stamp render".to_owned();
        self.marker.files.extend(new.iter().cloned());
        write_marker(&self.dir, &self.marker)?;
        let aside = staging.path.join(".old");
        std::fs::create_dir(&aside)?;
        let mut moved: Vec<&str> = Vec::new();
        for t in tenants {
            if let Err(e) = swap(&self.dir, &staging.path, &aside, t) {
                for done in moved.iter().rev() {
                    let _ = unswap(&self.dir, &staging.path, &aside, done);
                }
                return Err(anyhow::anyhow!(
                    "cannot move {}/{t} into place: {e}; nothing was changed",
                    self.dir.display()
                )
                .into());
            }
            moved.push(t);
        }
        self.marker
            .files
            .retain(|f| !replaced(f) || new.contains(f));
        write_marker(&self.dir, &self.marker)?;
        drop(staging);
        Ok(())
    }
}

/// The staging folder of one run; removed when dropped, whatever happened.
#[derive(Debug)]
pub(super) struct Staging {
    pub(super) path: PathBuf,
    dir: PathBuf,
    /// DIR was created by this run: removed too if nothing else ends up in it.
    remove_dir: bool,
    /// A render that runs out of memory exits the process at once, with no drop: then the
    /// allocator removes the folder.
    _on_overrun: crate::render::budget::RemoveOnOverrun,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        if self.remove_dir {
            // Fails (as it should) unless the folder is empty.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

fn swap(dir: &Path, staging: &Path, aside: &Path, t: &str) -> std::io::Result<()> {
    let target = dir.join(t);
    if std::fs::symlink_metadata(&target).is_ok() {
        std::fs::rename(&target, aside.join(t))?;
    }
    std::fs::rename(staging.join(t), &target).inspect_err(|_| {
        let _ = std::fs::rename(aside.join(t), &target);
    })
}

fn unswap(dir: &Path, staging: &Path, aside: &Path, t: &str) -> std::io::Result<()> {
    std::fs::rename(dir.join(t), staging.join(t))?;
    if std::fs::symlink_metadata(aside.join(t)).is_ok() {
        std::fs::rename(aside.join(t), dir.join(t))?;
    }
    Ok(())
}

fn is_staging(name: &str) -> bool {
    name.strip_prefix(STAGING_PREFIX)
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// `dir` with links resolved, for a folder that may not exist yet: its nearest existing
/// ancestor resolved, and the rest appended (`..` is resolved against what exists).
fn real_path(dir: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(dir)?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(existing).is_err() {
        let Some(parent) = existing.parent() else {
            break;
        };
        rest.push(existing.file_name().map(ToOwned::to_owned));
        existing = parent;
    }
    let mut real = std::fs::canonicalize(existing)?;
    for part in rest.into_iter().rev() {
        match part {
            Some(name) => real.push(name),
            None => {
                real.pop();
            }
        }
    }
    // `absolute` keeps `..`; a missing part cannot be a link, so popping is exact.
    let mut out = PathBuf::new();
    for c in real.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn read_marker(dir: &Path) -> Result<Marker> {
    let path = dir.join(MARKER);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(Marker::default());
    };
    let unreadable = |why: &str| {
        refuse(
            format!(
                "`{}` has a {MARKER} that stamp cannot read: {why}",
                dir.display()
            ),
            "it is stamp's record of what it wrote there; name another folder, or delete the folder if it is only old output",
        )
    };
    if !meta.is_file() || meta.len() > MARKER_LIMIT {
        return Err(unreadable("it is not a small regular file"));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&e.kind().to_string()))?;
    let marker: Marker = serde_json::from_str(&text).map_err(|e| unreadable(&e.to_string()))?;
    let bad = marker.files.iter().find(|f| {
        let mut parts = f.split('/');
        let (t, s, extra) = (parts.next(), parts.next(), parts.next());
        let tenant_ok = t.is_some_and(|t| crate::dsl::fleet::check_tenant_name(t).is_ok());
        let service_ok = s.is_some_and(|s| s.ends_with(".json") && !s.starts_with('.'));
        extra.is_some() || !tenant_ok || !service_ok
    });
    if let Some(f) = bad {
        return Err(unreadable(&format!("`{f}` is not a file stamp writes")));
    }
    Ok(marker)
}

fn write_marker(dir: &Path, marker: &Marker) -> Result<()> {
    let tmp = dir.join(format!("{MARKER}.{}", std::process::id()));
    let mut text = serde_json::to_string_pretty(marker).map_err(anyhow::Error::from)?;
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(MARKER))?;
    Ok(())
}

/// What is in DIR that the marker does not account for (by path relative to DIR).
fn foreign_entries(dir: &Path, marker: &Marker) -> Result<Vec<String>> {
    let tenants: BTreeSet<&str> = marker
        .files
        .iter()
        .filter_map(|f| f.split('/').next())
        .collect();
    let mut foreign = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name == MARKER || is_staging(&name) {
            continue;
        }
        let path = dir.join(&name);
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if !tenants.contains(name.as_str()) || !is_dir {
            foreign.push(name);
            continue;
        }
        let mut inner: Vec<String> = std::fs::read_dir(&path)?
            .flatten()
            .map(|e| format!("{name}/{}", e.file_name().to_string_lossy()))
            .filter(|f| !marker.files.contains(f))
            .collect();
        inner.sort();
        foreign.extend(inner);
    }
    Ok(foreign)
}

/// Set when SIGINT or SIGTERM arrives (once installed, the signals no longer end the
/// process: whoever installed it must look at the flag).
pub(super) fn interrupted_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            let _ = ready_tx.send(());
            return;
        };
        rt.block_on(async move {
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
            let _ = ready_tx.send(());
            if let (Ok(mut term), Ok(mut int)) = (term, int) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                set.store(true, Ordering::SeqCst);
            }
        });
    });
    // The handlers are in place before rendering starts.
    let _ = ready_rx.recv();
    flag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_stamps_own_pattern_only() {
        assert!(is_staging(".stamp-render-1234"));
        assert!(!is_staging(".stamp-render-"));
        assert!(!is_staging(".stamp-render-12x"));
        assert!(!is_staging("stamp-render-12"));
    }

    #[test]
    fn a_folder_that_does_not_exist_yet_resolves_through_its_parent() {
        let d = tempfile::tempdir().expect("temp dir");
        let real = std::fs::canonicalize(d.path()).expect("canonical");
        let p = real_path(&d.path().join("a/b/../c")).expect("resolves");
        assert_eq!(p, real.join("a/c"));
        assert_eq!(real_path(Path::new("/")).expect("root"), PathBuf::from("/"));
    }
}
