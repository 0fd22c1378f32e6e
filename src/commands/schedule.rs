//! `stamp schedule`: per tenant, whether its deploy window is open, until when, next opening.

use std::io::{self, Write};

use jiff::Timestamp;
use serde::Serialize;

use crate::cli::ScheduleArgs;
use crate::error::{Failure, Result};

use crate::output::Report;
use crate::output::table::{self, Tone};
use crate::schedule::ActiveFreeze;

#[derive(Serialize)]
struct Row {
    tenant: String,
    timezone: String,
    open: bool,
    closes_at: Option<Timestamp>,
    next_open: Option<Timestamp>,
    freeze: Option<ActiveFreeze>,
    #[serde(skip)]
    tz: jiff::tz::TimeZone,
}

/// Serialises as the bare array of rows (the documented JSON shape).
struct Rows {
    rows: Vec<Row>,
    styled: bool,
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.rows.serialize(s)
    }
}

impl Report for Rows {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table::new(
            &[
                "TENANT",
                "TIMEZONE",
                "STATE",
                "CLOSES / NEXT OPENS (local)",
                "FREEZE",
            ],
            self.styled,
        );
        for r in &self.rows {
            let local = |ts: Timestamp| {
                ts.to_zoned(r.tz.clone())
                    .strftime("%a %Y-%m-%d %H:%M %Z")
                    .to_string()
            };
            let (state, tone) = match (r.open, &r.freeze) {
                (true, _) => ("open", Tone::Good),
                (false, Some(_)) => ("frozen", Tone::Bad),
                (false, None) => ("closed", Tone::Attention),
            };
            let when = match (r.open, r.closes_at, r.next_open) {
                (true, Some(c), _) => format!("closes {}", local(c)),
                (true, None, _) => "always open".to_owned(),
                (false, _, Some(n)) => format!("opens {}", local(n)),
                (false, _, None) => "never opens".to_owned(),
            };
            let freeze = r.freeze.as_ref().map_or_else(String::new, |f| {
                format!("{} (until {})", f.reason, local(f.until))
            });
            t.add_row(vec![
                table::cell(&r.tenant),
                table::cell(&r.timezone),
                table::state(state, tone),
                table::cell(when),
                table::cell(freeze),
            ]);
        }
        out.write_all(table::render(&t).as_bytes())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &ScheduleArgs) -> Result<()> {
    let at = match &args.at {
        Some(s) => s.parse::<Timestamp>().map_err(|e| {
            Failure::usage(
                format!("--at `{s}` is not an RFC 3339 instant: {e}"),
                Some(
                    "write e.g. `--at 2026-12-02T03:00:00Z` or `--at 2026-12-02T12:00:00+09:00`"
                        .to_owned(),
                ),
            )
        })?,
        None => Timestamp::now(),
    };
    let fleet = ctx.load_fleet()?;
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    let rows = tenants
        .into_iter()
        .map(|t| {
            let s = t.schedule.state_at(at);
            Row {
                tenant: t.name.clone(),
                timezone: t.schedule.timezone().to_owned(),
                open: s.open,
                closes_at: s.closes_at,
                next_open: s.next_open,
                freeze: s.freeze,
                tz: jiff::tz::db()
                    .get(t.schedule.timezone())
                    .unwrap_or(jiff::tz::TimeZone::UTC),
            }
        })
        .collect();
    ctx.printer.data(&Rows {
        rows,
        styled: ctx.printer.stdout_styled(),
    })?;
    Ok(())
}
