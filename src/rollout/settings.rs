//! What a write command settles before its first write, the same way for every command: the
//! commit it records (a dirty tree refused without `--allow-dirty`), overrides that need a
//! `--reason`, a known `--ring`, `--yes` off a terminal or with `CI` set, and the y/N question
//! asked only after the plan was shown. Every refusal is exit 2 and happens before any write.

use std::path::Path;
use std::time::Duration;

use crate::dsl::{Fleet, diag::did_you_mean};
use crate::error::{Failure, Result};
use crate::fleet::Overrides;

/// The engine's settings, resolved once from a command's flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What the command does, as the refusals and the question word it (`deploy`, `roll back`,
    /// `apply`).
    pub verb: &'static str,
    pub yes: bool,
    pub allow_dirty: bool,
    /// Tenants at once inside a ring.
    pub concurrency: usize,
    /// Units (services, stacks) of one tenant at once.
    pub unit_concurrency: usize,
    pub failure_tolerance: u32,
    pub ring: Option<String>,
    pub overrides: Overrides,
    pub force_unlock: bool,
    /// How long a lock lives if its holder dies: the wait timeout plus five minutes.
    pub lock_ttl: Duration,
}

impl Settings {
    /// The lock time to live for a run whose waits last at most `timeout`.
    pub fn ttl_for(timeout: Duration) -> Duration {
        timeout + Duration::from_secs(300)
    }

    /// The settings of a write command's shared flags, for waits of at most `wait`: one
    /// tenant and one unit at a time, no failure tolerated, every ring; a command widens what
    /// it offers flags for.
    pub fn from_flags(verb: &'static str, w: &crate::cli::WriteArgs, wait: Duration) -> Self {
        Self {
            verb,
            yes: w.yes,
            allow_dirty: w.allow_dirty,
            concurrency: 1,
            unit_concurrency: 1,
            failure_tolerance: 0,
            ring: None,
            overrides: Overrides {
                ignore_window: w.ignore_window,
                ignore_freeze: w.ignore_freeze,
                reason: w.reason.clone(),
            },
            force_unlock: w.force_unlock,
            lock_ttl: Self::ttl_for(wait),
        }
    }
}

/// The refusals before any write; returns the commit label every write records.
pub fn refuse(s: &Settings, root: &Path, fleet: &Fleet) -> Result<String> {
    let commit = commit_label(s, root)?;
    if (s.overrides.ignore_window || s.overrides.ignore_freeze)
        && s.overrides
            .reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        return Err(Failure::usage(
            "--ignore-window and --ignore-freeze need --reason TEXT",
            Some(format!(
                "the reason is recorded in the tags of everything {}",
                past(s.verb)
            )),
        ));
    }
    check_ring(fleet, s.ring.as_deref())?;
    if !s.yes
        && let Err(why) = crate::output::confirm::can_confirm()
    {
        return Err(Failure::usage(
            why.to_string(),
            Some(format!(
                "pass --yes to {} without confirmation (as CI does)",
                s.verb
            )),
        ));
    }
    Ok(commit)
}

/// `--ring R` must name one of `project.rings`.
fn check_ring(fleet: &Fleet, ring: Option<&str>) -> Result<()> {
    let Some(r) = ring else {
        return Ok(());
    };
    if fleet.project.rings.iter().any(|x| x == r) {
        return Ok(());
    }
    let rings = fleet.project.rings.iter().map(String::as_str);
    Err(Failure::usage(
        format!("--ring `{r}` is not in [project] rings"),
        Some(match did_you_mean(r, rings) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("the rings are: {}", fleet.project.rings.join(", ")),
        }),
    ))
}

/// A dirty tree is refused unless `--allow-dirty` (then the label ends in `-dirty`); outside git
/// only `--allow-dirty` lets a write through.
fn commit_label(s: &Settings, root: &Path) -> Result<String> {
    match crate::vcs::commit(root) {
        Some(c) if c.dirty && !s.allow_dirty => Err(Failure::usage(
            format!(
                "tenants/ or templates/ have uncommitted changes: {} must be reproducible from a commit",
                a_noun(s.verb)
            ),
            Some(
                "commit them, or pass --allow-dirty (the commit tag then ends in -dirty)"
                    .to_owned(),
            ),
        )),
        Some(c) => Ok(c.label()),
        None if s.allow_dirty => Ok(crate::vcs::UNCOMMITTED.to_owned()),
        None => Err(Failure::usage(
            format!(
                "{} is not in a git repository: stamp records the commit of every {}",
                root.display(),
                noun(s.verb)
            ),
            Some(format!(
                "{} from a clone of the fleet repository, or pass --allow-dirty",
                s.verb
            )),
        )),
    }
}

/// With `--yes`, nothing. Otherwise (`refuse` has checked that a person can answer) `show`
/// prints the plan, then the question goes to stderr. Anything but yes is a refusal before any
/// write: exit 2, for every command.
pub fn confirm(s: &Settings, question: &str, show: impl FnOnce() -> Result<()>) -> Result<()> {
    if s.yes {
        return Ok(());
    }
    show()?;
    eprint!("\n{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::usage(
            format!("not confirmed: nothing was {}", past(s.verb)),
            None,
        ))
    }
}

/// `stamp down` on a terminal: `show` says what goes, then each tenant's name must be typed
/// (not y/N: removing a tenant should take a moment's thought). With `--yes`, nothing.
pub fn confirm_typed(
    s: &Settings,
    names: &[&str],
    show: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if s.yes {
        return Ok(());
    }
    show()?;
    for name in names {
        eprint!("\ntype `{name}` to {} it: ", s.verb);
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != *name {
            return Err(Failure::usage(
                format!(
                    "not confirmed: `{name}` was not typed, nothing was {}",
                    past(s.verb)
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// What one run of the command is called: `deploy`, `rollback`, `infra apply`, `run`, `up`,
/// `down` (the refusals and the notifications say it alike).
pub(super) fn noun(verb: &str) -> &'static str {
    match verb {
        "deploy" => "deploy",
        "roll back" => "rollback",
        "build" => "up",
        "remove" => "down",
        "run" => "run",
        _ => "infra apply",
    }
}

fn a_noun(verb: &str) -> String {
    let n = noun(verb);
    let article = if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {n}")
}

fn past(verb: &str) -> &'static str {
    match verb {
        "deploy" => "deployed",
        "roll back" => "rolled back",
        "build" => "built",
        "remove" => "removed",
        "run" => "run",
        _ => "changed",
    }
}
