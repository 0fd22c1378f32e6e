//! How a write command ends, the same for all: the summary (the table for people; for CI the
//! summary's JSON, with the AWS calls the run made as `api_calls` where the command reports
//! them), `--stats` on stderr, and the exit status.

use crate::aws::Counts;
use crate::error::Result;
use crate::fleet::{Row, Summary};
use crate::output::{Printer, Report};

use super::Exit;

struct SummaryReport {
    summary: Summary,
    calls: Option<Counts>,
    styled: bool,
}

impl serde::Serialize for SummaryReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut v = serde_json::to_value(&self.summary).map_err(S::Error::custom)?;
        if let (Some(obj), Some(calls)) = (v.as_object_mut(), &self.calls) {
            obj.insert(
                "api_calls".to_owned(),
                serde_json::to_value(calls).map_err(S::Error::custom)?,
            );
        }
        v.serialize(s)
    }
}

impl Report for SummaryReport {
    fn text(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(self.summary.table(self.styled).as_bytes())
    }
}

/// What a run left for its end.
pub struct Ending {
    /// Rows of tenants the schedule held back.
    pub skipped: Vec<Row>,
    /// The engine's rows and the run's AWS calls; `None` when a second interrupt abandoned it.
    pub ended: Option<(Vec<Row>, Counts)>,
    /// `--stats`: the calls on stderr.
    pub stats: bool,
    /// Whether the JSON carries `api_calls`.
    pub api_calls: bool,
    /// Which rows make the run a failure (a requested rollback is done when rolled back).
    pub rule: fn(&Summary) -> Exit,
    /// The run's notifications: the end message goes out here, with the summary.
    pub notify: super::Notify,
}

/// Prints the summary and returns the command's exit status: the one place it is decided.
pub fn finish(printer: &Printer, e: Ending) -> Result<()> {
    let Some((rows, calls)) = e.ended else {
        return Exit::Interrupted.into_result();
    };
    let summary = Summary {
        rows: e.skipped.into_iter().chain(rows).collect(),
    };
    if e.stats {
        printer.info(&calls);
    }
    let exit = (e.rule)(&summary);
    let report = SummaryReport {
        summary,
        calls: e.api_calls.then_some(calls),
        styled: printer.stdout_styled(),
    };
    let printed = printer.data(&report);
    // After the summary is out: a slow endpoint delays only the exit, by at most its timeout.
    e.notify.finished(&report.summary, exit.code());
    printed?;
    exit.into_result()
}
