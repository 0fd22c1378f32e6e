//! The one write path. Every command that changes a tenant account (`deploy`, `rollback`,
//! `infra apply`, `run`, `up`, `down`) goes through here: the refusals before the first write, the waves by ring
//! with windows, freezes, concurrency and failure tolerance, SIGINT/SIGTERM, one lock guard per
//! unit, a tenant's units side by side, per-unit retry attribution, health gates between rings
//! (alarms and the bake), the notifications at start and end, and the exit status.
//!
//! Commands only say *what* a unit changes; this module owns *how* and *in which order*. It
//! never decides what a service or stack should become.

mod ecs;
mod health;
mod lock;
mod notify;
mod report;
mod settings;
pub mod task;
mod units;
mod waves;

pub use ecs::{Roll, Target, note, owned, restore, retag};
pub use health::{Baked, Baseline, Gate, Health, Watch};
pub use lock::{Acquired, Guard, acquire};
pub use notify::{About, Notify};
pub use report::{Ending, finish};
pub use settings::{Settings, confirm, confirm_typed, refuse};
pub use task::shell_words;
pub use units::{Unit, each, shared_retries_on_first};
pub use waves::{
    Control, NoGate, RingGate, Start, UnitNames, row, run, run_gated, schedule, starting,
};

use crate::error::{Failure, Result};
use crate::fleet::{Outcome, Summary};

/// How a write command ends, decided here and nowhere else (DESIGN §5): 0 done, 1 a unit
/// failed or was rolled back, 2 refused before any write (a declined prompt included: it wrote
/// nothing), 130 interrupted twice (in-flight work abandoned, no summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done,
    UnitFailed,
    Interrupted,
}

impl Exit {
    pub fn of(summary: &Summary) -> Self {
        if summary.exit_code() == 0 {
            Exit::Done
        } else {
            Exit::UnitFailed
        }
    }

    /// A requested rollback: `rolled-back` is what was asked for, so only a row that failed
    /// (or needs a human) fails the run.
    pub fn of_rollback(summary: &Summary) -> Self {
        if summary
            .rows
            .iter()
            .all(|r| matches!(r.result, Outcome::RolledBack | Outcome::Skipped))
        {
            Exit::Done
        } else {
            Exit::UnitFailed
        }
    }

    /// The process exit code this status ends with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::UnitFailed => 1,
            Exit::Interrupted => 130,
        }
    }

    /// The command's result for `main`.
    pub fn into_result(self) -> Result<()> {
        match self {
            Exit::Done => Ok(()),
            Exit::UnitFailed => Err(Failure::Reported(1)),
            Exit::Interrupted => Err(Failure::Reported(130)),
        }
    }
}
