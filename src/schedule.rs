//! Deploy windows and freezes: parses a tenant's `[schedule]` and says whether a deploy may run at a given instant; it never reads the clock, the environment or any file.
//!
//! Every instant is an argument and every zone comes from the tzdb compiled
//! into the binary, so two machines with different `TZ` settings or different
//! `/usr/share/zoneinfo` copies give the same answer for the same tenant.
//!
//! Windows are local civil times. On each local date a window opens on, its
//! start and end are turned into instants with jiff's `compatible`
//! disambiguation (a time in a spring-forward gap moves forward, a time in a
//! fall-back fold takes the earlier instant), so a `10:00` window opens at
//! local 10:00 on the day the clocks change.

use std::cmp::Reverse;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const DAY_ABBREVIATIONS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const ALL_DAYS: u8 = 0b111_1111;
const MINUTES_PER_DAY: u16 = 24 * 60;
const EXAMPLE_WINDOW: &str = "Mon-Fri 10:00-18:00";

/// How far ahead `next_open` looks past today or past the last freeze,
/// whichever is later. A year and a bit covers every weekly window even when
/// a DST quirk swallows one occurrence.
const SEARCH_DAYS: i32 = 410;
/// Days scanned on the first try; most answers lie within a week.
const FIRST_SCAN_DAYS: i32 = 16;
/// Slack between a local date and the instants of windows opening on it.
/// Offsets and their changes stay well under a day, except Samoa's 2011
/// skipped day, so two days bound every window that could reach across.
const SLACK_HOURS: i64 = 48;

/// The bundled tzdb, never `jiff::tz::db()`: that one prefers
/// `/usr/share/zoneinfo` (and honours `TZDIR`) as soon as any crate in the
/// build enables jiff's `tzdb-zoneinfo` feature, which would make answers
/// depend on the machine.
fn bundled_tzdb() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

/// A recurring deploy window such as `Mon-Fri 10:00-18:00`, in the local
/// time of the schedule it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Days the window opens on; bit 0 is Monday, bit 6 Sunday.
    days: u8,
    /// Minutes after local midnight, `0..1440`.
    start: u16,
    /// Minutes after local midnight, `1..=1440`; not after `start` means the
    /// window closes on the following day.
    end: u16,
}

impl Window {
    /// Whether the window closes on the day after it opens.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// Whether the window opens on `weekday` (a midnight-crossing window
    /// belongs to the day it opens on).
    pub fn opens_on(&self, weekday: jiff::civil::Weekday) -> bool {
        self.days & day_bit(weekday) != 0
    }
}

fn day_bit(weekday: jiff::civil::Weekday) -> u8 {
    1 << weekday.to_monday_zero_offset()
}

impl FromStr for Window {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let window = s.trim();
        // Day specs never contain digits and times always start with one, so
        // the first digit splits the two however the spaces fall.
        let Some(split) = window.find(|c: char| c.is_ascii_digit()) else {
            return Err(ScheduleError::MissingTimes {
                window: window.to_string(),
            });
        };
        let (day_spec, times) = window.split_at(split);
        if day_spec.trim().is_empty() {
            return Err(ScheduleError::MissingDays {
                window: window.to_string(),
            });
        }
        let days = parse_days(day_spec, window)?;
        let (start, end) = parse_times(times, window, days)?;
        if start == end {
            return Err(ScheduleError::EmptyWindow {
                window: window.to_string(),
                days: days_to_string(days),
            });
        }
        Ok(Window { days, start, end })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}-{}",
            days_to_string(self.days),
            minutes_to_string(self.start),
            minutes_to_string(self.end)
        )
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|e: ScheduleError| de::Error::custom(e.with_hint()))
    }
}

fn parse_days(spec: &str, window: &str) -> Result<u8, ScheduleError> {
    let mut mask = 0;
    for item in spec.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(ScheduleError::EmptyDay {
                window: window.to_string(),
            });
        }
        if item.eq_ignore_ascii_case("daily") {
            mask = ALL_DAYS;
            continue;
        }
        match item.split_once('-') {
            Some((first, last)) => {
                let first = parse_day(first.trim(), window)?;
                let last = parse_day(last.trim(), window)?;
                // Ranges run forward through the week, so `Fri-Mon` wraps.
                let mut day = first;
                loop {
                    mask |= 1 << day;
                    if day == last {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
            None => mask |= 1 << parse_day(item, window)?,
        }
    }
    Ok(mask)
}

fn parse_day(token: &str, window: &str) -> Result<usize, ScheduleError> {
    (0..7)
        .find(|&i| {
            token.eq_ignore_ascii_case(DAY_ABBREVIATIONS[i])
                || token.eq_ignore_ascii_case(DAY_NAMES[i])
        })
        .ok_or_else(|| ScheduleError::UnknownDay {
            window: window.to_string(),
            day: token.to_string(),
            suggestion: suggest_day(token),
        })
}

fn suggest_day(token: &str) -> Option<&'static str> {
    let lower = token.to_ascii_lowercase();
    match lower.as_str() {
        "weekday" | "weekdays" => return Some("Mon-Fri"),
        "weekend" | "weekends" => return Some("Sat-Sun"),
        "everyday" | "every day" | "all" | "always" => return Some("daily"),
        _ => {}
    }
    let names = DAY_NAMES.map(str::to_ascii_lowercase);
    // `Tues`, `Thurs`, `Wednes`: a clipped full name is the commonest slip.
    if lower.len() >= 2 {
        let mut prefixed = (0..7).filter(|&i| names[i].starts_with(&lower));
        if let (Some(i), None) = (prefixed.next(), prefixed.next()) {
            return Some(DAY_ABBREVIATIONS[i]);
        }
    }
    (0..7)
        .map(|i| {
            let abbreviation = DAY_ABBREVIATIONS[i].to_ascii_lowercase();
            let distance = strsim::damerau_levenshtein(&lower, &abbreviation)
                .min(strsim::damerau_levenshtein(&lower, &names[i]));
            (distance, i)
        })
        .min()
        .filter(|&(distance, _)| distance <= 2 && distance < lower.len())
        .map(|(_, i)| DAY_ABBREVIATIONS[i])
}

fn parse_times(times: &str, window: &str, days: u8) -> Result<(u16, u16), ScheduleError> {
    let compact: String = times.chars().filter(|c| !c.is_whitespace()).collect();
    let bad_range = |suggestion: Option<String>| ScheduleError::BadTimeRange {
        window: window.to_string(),
        times: times.trim().to_string(),
        suggestion,
    };
    let Some((start, end)) = compact.split_once('-') else {
        return Err(bad_range(None));
    };
    match (parse_clock(start), parse_clock(end)) {
        (Clock::Minutes(start), Clock::Minutes(end)) => {
            if start == MINUTES_PER_DAY {
                return Err(ScheduleError::TimeOutOfRange {
                    window: window.to_string(),
                    time: "24:00".to_string(),
                });
            }
            Ok((start, end))
        }
        (Clock::OutOfRange, _) => Err(ScheduleError::TimeOutOfRange {
            window: window.to_string(),
            time: start.to_string(),
        }),
        (_, Clock::OutOfRange) => Err(ScheduleError::TimeOutOfRange {
            window: window.to_string(),
            time: end.to_string(),
        }),
        _ => {
            // Bare hours (`10-18`) are common enough to spell out the fix.
            let hour = |s: &str| s.parse::<u8>().ok().filter(|&h| h <= 24);
            let suggestion = match (hour(start), hour(end)) {
                (Some(start), Some(end)) if start < 24 && start != end => Some(format!(
                    "{} {start:02}:00-{end:02}:00",
                    days_to_string(days)
                )),
                _ => None,
            };
            Err(bad_range(suggestion))
        }
    }
}

enum Clock {
    Minutes(u16),
    OutOfRange,
    Malformed,
}

fn parse_clock(s: &str) -> Clock {
    let Some((hours, minutes)) = s.split_once(':') else {
        return Clock::Malformed;
    };
    let digits = |part: &str, lengths: &[usize]| {
        lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, &[1, 2]) || !digits(minutes, &[2]) {
        return Clock::Malformed;
    }
    let (Ok(hours), Ok(minutes)) = (hours.parse::<u16>(), minutes.parse::<u16>()) else {
        return Clock::Malformed;
    };
    match (hours, minutes) {
        (0..=23, 0..=59) | (24, 0) => Clock::Minutes(hours * 60 + minutes),
        _ => Clock::OutOfRange,
    }
}

fn minutes_to_string(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn days_to_string(mask: u8) -> String {
    if mask & ALL_DAYS == ALL_DAYS {
        return "daily".to_string();
    }
    let has = |day: usize| mask & (1 << (day % 7)) != 0;
    // Maximal runs of consecutive days, each starting after a day off; with
    // one day off at least, every run has such a start.
    let mut runs: Vec<(usize, usize)> = (0..7)
        .filter(|&day| has(day) && !has(day + 6))
        .map(|day| (day, (0..7).take_while(|&n| has(day + n)).count()))
        .collect();
    // A run through the weekend reads best first (`Sat-Mon,Wed`).
    runs.sort_by_key(|&(first, len)| (first + len <= 7, first));
    runs.iter()
        .map(|&(first, len)| match len {
            1 => DAY_ABBREVIATIONS[first].to_string(),
            _ => format!(
                "{}-{}",
                DAY_ABBREVIATIONS[first],
                DAY_ABBREVIATIONS[(first + len - 1) % 7]
            ),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A stretch during which deploys are stopped whatever the windows say.
/// `from` and `to` are local civil times in the schedule's zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Freeze {
    pub from: DateTime,
    pub to: DateTime,
    pub reason: String,
}

impl Freeze {
    /// A freeze checked for an end after its start and a non-empty reason.
    pub fn new(
        from: DateTime,
        to: DateTime,
        reason: impl Into<String>,
    ) -> Result<Self, ScheduleError> {
        let freeze = Freeze {
            from,
            to,
            reason: reason.into(),
        };
        freeze.validate()?;
        Ok(freeze)
    }

    fn validate(&self) -> Result<(), ScheduleError> {
        if self.reason.trim().is_empty() {
            return Err(ScheduleError::FreezeWithoutReason {
                from: self.from,
                to: self.to,
            });
        }
        if self.to <= self.from {
            return Err(ScheduleError::FreezeNotAfter {
                from: self.from,
                to: self.to,
                reason: self.reason.clone(),
            });
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Freeze {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawFreeze {
            from: FreezeTime,
            to: FreezeTime,
            // Optional here so a missing reason gets our error and hint
            // rather than serde's bare "missing field".
            reason: Option<String>,
        }
        let raw = RawFreeze::deserialize(deserializer)?;
        Freeze::new(raw.from.0, raw.to.0, raw.reason.unwrap_or_default())
            .map_err(|e| de::Error::custom(e.with_hint()))
    }
}

/// A freeze bound, written as a string or, in TOML, as an unquoted
/// date-time, which the toml crate hands over as a one-entry map.
struct FreezeTime(DateTime);

impl<'de> Deserialize<'de> for FreezeTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FreezeTimeVisitor;

        impl<'de> Visitor<'de> for FreezeTimeVisitor {
            type Value = FreezeTime;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a local date-time such as \"2026-12-01T00:00\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<FreezeTime, E> {
                parse_freeze_time(v)
                    .map(FreezeTime)
                    .map_err(|e| E::custom(e.with_hint()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FreezeTime, A::Error> {
                match map.next_entry::<String, String>()? {
                    Some((_, value)) => self.visit_str(&value),
                    None => Err(de::Error::invalid_length(0, &self)),
                }
            }
        }

        deserializer.deserialize_any(FreezeTimeVisitor)
    }
}

/// Parses a freeze bound: `YYYY-MM-DDTHH:MM`, optionally with seconds, or a
/// bare `YYYY-MM-DD` meaning midnight, local to the tenant's zone.
pub fn parse_freeze_time(s: &str) -> Result<DateTime, ScheduleError> {
    let input = s.trim();
    // jiff's civil parser accepts an offset and silently drops it, which
    // would shift the freeze by the difference; refuse instead.
    if let Some((local, offset)) = split_offset(input) {
        return Err(ScheduleError::FreezeOffset {
            input: input.to_string(),
            offset: offset.to_string(),
            local: local.to_string(),
        });
    }
    input
        .parse::<DateTime>()
        .map_err(|e| ScheduleError::BadFreezeTime {
            input: input.to_string(),
            detail: e.to_string(),
        })
}

/// The local part of `input` and the rest, when it carries an offset
/// (`+09:00`, `Z`) or a zone annotation (`[Asia/Tokyo]`).
fn split_offset(input: &str) -> Option<(&str, &str)> {
    let is_offset = |c: char| matches!(c, '+' | '-' | '\u{2212}' | 'Z' | 'z' | '[');
    // The date's own hyphens come first, so look only past the date: after
    // the time separator, or after a bare date's ten characters.
    let rest = input
        .char_indices()
        .skip(8)
        .find(|&(_, c)| matches!(c, 'T' | 't' | ' '))
        .map(|(i, c)| i + c.len_utf8())
        .or_else(|| input.get(10..).map(|_| 10))?;
    let end = rest + input.get(rest..)?.find(is_offset)?;
    let (local, offset) = input.split_at(end);
    Some((local.trim_end(), offset.trim()))
}

/// What went wrong reading a schedule; `hint()` says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("no time range after the days")]
    MissingTimes { window: String },
    #[error("no days before the time range")]
    MissingDays { window: String },
    #[error("empty entry in the list of days")]
    EmptyDay { window: String },
    #[error("unknown day `{day}`")]
    UnknownDay {
        window: String,
        day: String,
        suggestion: Option<&'static str>,
    },
    #[error("cannot read the time range `{times}`")]
    BadTimeRange {
        window: String,
        times: String,
        suggestion: Option<String>,
    },
    #[error("time `{time}` is out of range")]
    TimeOutOfRange { window: String, time: String },
    #[error("the window opens and closes at the same time")]
    EmptyWindow { window: String, days: String },
    #[error("unknown timezone `{name}`")]
    UnknownTimezone {
        name: String,
        suggestion: Option<String>,
    },
    #[error("unexpected UTC offset or zone `{offset}`")]
    FreezeOffset {
        input: String,
        offset: String,
        local: String,
    },
    #[error("not a local date-time: {detail}")]
    BadFreezeTime { input: String, detail: String },
    #[error("freeze \"{reason}\" ends at {to}, which is not after its start {from}")]
    FreezeNotAfter {
        from: DateTime,
        to: DateTime,
        reason: String,
    },
    #[error("freeze from {from} to {to} has no reason")]
    FreezeWithoutReason { from: DateTime, to: DateTime },
    #[error("freeze time {time} lies outside the instants timezone `{zone}` can express")]
    FreezeOutOfRange { time: DateTime, zone: String },
}

impl ScheduleError {
    /// What to write instead.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            ScheduleError::MissingTimes { .. } | ScheduleError::MissingDays { .. } => {
                format!("write windows as `{EXAMPLE_WINDOW}`")
            }
            ScheduleError::EmptyDay { .. } => {
                "separate days with single commas, e.g. `Tue,Thu`".to_string()
            }
            ScheduleError::UnknownDay {
                suggestion: Some(day),
                ..
            } => format!("did you mean `{day}`?"),
            ScheduleError::UnknownDay {
                suggestion: None, ..
            } => "days are `Mon` to `Sun` (or full names), ranges like `Mon-Fri`, \
                 lists like `Tue,Thu`, or `daily`"
                .to_string(),
            ScheduleError::BadTimeRange { suggestion, .. } => format!(
                "write windows as `{}`",
                suggestion.as_deref().unwrap_or(EXAMPLE_WINDOW)
            ),
            ScheduleError::TimeOutOfRange { .. } => {
                "hours run 00-23 and minutes 00-59; `24:00` may only end a window".to_string()
            }
            ScheduleError::EmptyWindow { days, .. } => format!(
                "for the whole day write `{days} 00:00-24:00`; a window that crosses \
                 midnight ends before it starts, e.g. `Sat 22:00-02:00`"
            ),
            ScheduleError::UnknownTimezone {
                suggestion: Some(name),
                ..
            } => format!("did you mean `{name}`?"),
            ScheduleError::UnknownTimezone {
                suggestion: None, ..
            } => "use an IANA name such as `Asia/Tokyo`, `Europe/Berlin` or `UTC`".to_string(),
            ScheduleError::FreezeOffset { local, .. } => format!(
                "freezes are local times in the tenant's timezone; drop the offset: `{local}`"
            ),
            ScheduleError::BadFreezeTime { .. } => {
                "write `YYYY-MM-DDTHH:MM` (seconds optional) or a bare date `YYYY-MM-DD`, \
                 local to the tenant's timezone"
                    .to_string()
            }
            ScheduleError::FreezeNotAfter { .. } => {
                "set `to` after `from`; swap them if they are the wrong way round".to_string()
            }
            ScheduleError::FreezeWithoutReason { .. } => {
                "add `reason = \"...\"` so whoever is blocked knows why".to_string()
            }
            ScheduleError::FreezeOutOfRange { .. } => {
                "use a date between the years 0001 and 9998".to_string()
            }
        };
        Some(hint)
    }

    /// The part of the written value that is wrong (`26:00` in `Sat 22:00-26:00`): where a
    /// diagnostic puts its caret. `None` when the whole value is.
    pub fn token(&self) -> Option<&str> {
        match self {
            ScheduleError::UnknownDay { day, .. } => Some(day),
            ScheduleError::BadTimeRange { times, .. } => Some(times),
            ScheduleError::TimeOutOfRange { time, .. } => Some(time),
            ScheduleError::FreezeOffset { offset, .. } => Some(offset),
            _ => None,
        }
    }

    fn with_hint(&self) -> String {
        match self.hint() {
            Some(hint) => format!("{self}; {hint}"),
            None => self.to_string(),
        }
    }
}

fn suggest_timezone(name: &str) -> Option<String> {
    let wanted = name.to_ascii_lowercase();
    let bare_city = !wanted.contains('/');
    bundled_tzdb()
        .available()
        .map(|candidate| {
            let lower = candidate.as_str().to_ascii_lowercase();
            let mut score = strsim::normalized_damerau_levenshtein(&wanted, &lower);
            // `Tokyo` alone should still find `Asia/Tokyo`.
            if bare_city && let Some((_, city)) = lower.rsplit_once('/') {
                score = score.max(strsim::normalized_damerau_levenshtein(&wanted, city));
            }
            (score, candidate.as_str().to_string())
        })
        .filter(|(score, _)| *score >= 0.7)
        .fold(
            None,
            |best: Option<(f64, String)>, (score, candidate)| match best {
                Some((best_score, _)) if best_score >= score => best,
                _ => Some((score, candidate)),
            },
        )
        .map(|(_, candidate)| candidate)
}

/// A half-open span of time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    start: Timestamp,
    end: Timestamp,
}

impl Interval {
    fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// Sorts and joins intervals that overlap or touch, so that an open stretch
/// made of back-to-back windows ends where the last of them ends.
fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort_by_key(|interval| interval.start);
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match merged.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
}

/// A tenant's deploy schedule: its zone, windows and freezes.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: String,
    tz: TimeZone,
    windows: Vec<Window>,
    freezes: Vec<Freeze>,
    /// The instants of each freeze, in the order of `freezes`.
    freeze_spans: Vec<Interval>,
    /// `freeze_spans` merged, so "frozen until" is when deploys may resume.
    frozen: Vec<Interval>,
}

/// Where an instant sits among the windows.
enum Stretch {
    Outside,
    Until(Timestamp),
    /// Open through the whole search horizon: `daily 00:00-24:00`.
    Unbounded,
}

impl Schedule {
    /// A schedule in the IANA zone `timezone` (matched without regard to case).
    /// No windows means always open outside freezes.
    pub fn new(
        timezone: &str,
        windows: Vec<Window>,
        freezes: Vec<Freeze>,
    ) -> Result<Self, ScheduleError> {
        let name = timezone.trim();
        let unknown = || ScheduleError::UnknownTimezone {
            name: name.to_string(),
            suggestion: suggest_timezone(name),
        };
        let tz = bundled_tzdb().get(name).map_err(|_| unknown())?;
        // `Etc/Unknown` resolves to jiff's "unknown" zone, which has no IANA
        // name and behaves as UTC: accepting it would hide a typo.
        let zone = tz.iana_name().ok_or_else(unknown)?.to_string();
        let mut freeze_spans = Vec::with_capacity(freezes.len());
        for freeze in &freezes {
            freeze.validate()?;
            let instant = |time: DateTime| {
                to_instant(&tz, time).ok_or_else(|| ScheduleError::FreezeOutOfRange {
                    time,
                    zone: zone.clone(),
                })
            };
            freeze_spans.push(Interval {
                start: instant(freeze.from)?,
                end: instant(freeze.to)?,
            });
        }
        // A freeze lying wholly in a DST gap can map to an empty span.
        let frozen = merge(
            freeze_spans
                .iter()
                .copied()
                .filter(|span| span.start < span.end)
                .collect(),
        );
        Ok(Schedule {
            zone,
            tz,
            windows,
            freezes,
            freeze_spans,
            frozen,
        })
    }

    /// UTC with no windows and no freezes: always open. What a tenant whose own schedule has
    /// problems carries while `validate` goes on checking the rest of it.
    pub fn always_open() -> Self {
        Schedule {
            zone: "UTC".to_owned(),
            tz: TimeZone::UTC,
            windows: Vec::new(),
            freezes: Vec::new(),
            freeze_spans: Vec::new(),
            frozen: Vec::new(),
        }
    }

    /// The canonical IANA name of the schedule's zone.
    pub fn timezone(&self) -> &str {
        &self.zone
    }

    /// The zone itself, from the bundled tzdb, for showing instants in
    /// local time the same way they were computed.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    pub fn freezes(&self) -> &[Freeze] {
        &self.freezes
    }

    /// Whether a deploy may run at `at`, and until or from when.
    pub fn state_at(&self, at: Timestamp) -> ScheduleState {
        if let Some(stretch) = self.frozen.iter().find(|span| span.contains(at)) {
            // Of the freezes in force, name the one lasting longest: it is the
            // one that explains the wait.
            let reason = self
                .freeze_spans
                .iter()
                .zip(&self.freezes)
                .filter(|(span, _)| span.contains(at))
                .min_by_key(|(span, _)| Reverse(span.end))
                .map(|(_, freeze)| freeze.reason.clone())
                .unwrap_or_default();
            return ScheduleState {
                open: false,
                closes_at: None,
                next_open: self.next_open_after(at),
                freeze: Some(ActiveFreeze {
                    reason,
                    until: stretch.end,
                }),
            };
        }
        let next_freeze = self
            .frozen
            .iter()
            .find(|span| span.start > at)
            .map(|span| span.start);
        let window_end = if self.windows.is_empty() {
            None
        } else {
            match self.window_stretch(at) {
                Stretch::Until(end) => Some(end),
                Stretch::Unbounded => None,
                Stretch::Outside => {
                    return ScheduleState {
                        open: false,
                        closes_at: None,
                        next_open: self.next_open_after(at),
                        freeze: None,
                    };
                }
            }
        };
        let closes_at = match (window_end, next_freeze) {
            (Some(end), Some(freeze)) => Some(end.min(freeze)),
            (end, freeze) => end.or(freeze),
        };
        ScheduleState {
            open: true,
            closes_at,
            next_open: None,
            freeze: None,
        }
    }

    /// The first open instant after `at`, which must be closed.
    fn next_open_after(&self, at: Timestamp) -> Option<Timestamp> {
        if self.windows.is_empty() {
            // Closed only because frozen; the merged freeze ends unfrozen.
            return self
                .frozen
                .iter()
                .find(|span| span.contains(at))
                .map(|span| span.end);
        }
        self.scan(at, |windows, settled, _| {
            for window in windows.iter().filter(|window| window.end > at) {
                let candidate = self.skip_frozen(window.start.max(at));
                if candidate >= settled {
                    return None;
                }
                if candidate < window.end {
                    return Some(candidate);
                }
            }
            None
        })
    }

    fn window_stretch(&self, at: Timestamp) -> Stretch {
        self.scan(at, |windows, settled, last| {
            match windows.iter().find(|window| window.contains(at)) {
                None if at < settled || last => Some(Stretch::Outside),
                None => None,
                Some(window) if window.end < settled => Some(Stretch::Until(window.end)),
                Some(_) if last => Some(Stretch::Unbounded),
                Some(_) => None,
            }
        })
        .unwrap_or(Stretch::Unbounded)
    }

    fn skip_frozen(&self, mut at: Timestamp) -> Timestamp {
        // `frozen` is sorted and merged, so one pass moves past chains.
        for span in &self.frozen {
            if span.contains(at) {
                at = span.end;
            }
        }
        at
    }

    /// Feeds `decide` the merged window intervals of local days from just
    /// before `at` over ever longer stretches, until it decides or the search
    /// horizon is reached. Days past the stretch can still add intervals
    /// starting (or lengthen one ending) at or after `settled`, so `decide`
    /// may only trust what lies before it; `last` says no longer stretch
    /// will be tried.
    fn scan<T>(
        &self,
        at: Timestamp,
        mut decide: impl FnMut(&[Interval], Timestamp, bool) -> Option<T>,
    ) -> Option<T> {
        let today = self.tz.to_datetime(at).date();
        // A window that opened up to two days ago (with DST slack) may still
        // be open.
        let first = today.saturating_sub(3.days());
        let horizon = self.horizon(today);
        let mut days = FIRST_SCAN_DAYS;
        loop {
            let last_day = first.saturating_add(days.days()).min(horizon);
            let last = last_day >= horizon;
            let settled = match to_instant(&self.tz, last_day.to_datetime(Time::midnight())) {
                Some(midnight) => midnight
                    .checked_sub(SignedDuration::from_hours(SLACK_HOURS))
                    .unwrap_or(Timestamp::MIN),
                None => Timestamp::MAX,
            };
            let windows = self.window_intervals(first, last_day);
            if let Some(decided) = decide(&windows, settled, last) {
                return Some(decided);
            }
            if last {
                return None;
            }
            days = days.saturating_mul(4);
        }
    }

    fn horizon(&self, today: Date) -> Date {
        let last_freeze = self.freezes.iter().map(|freeze| freeze.to.date()).max();
        let base = last_freeze.map_or(today, |end| end.max(today));
        base.saturating_add(SEARCH_DAYS.days())
    }

    fn window_intervals(&self, first: Date, last: Date) -> Vec<Interval> {
        let mut intervals = Vec::new();
        let mut day = first;
        loop {
            let bit = day_bit(day.weekday());
            for window in self.windows.iter().filter(|window| window.days & bit != 0) {
                if let Some(interval) = self.window_on(window, day) {
                    intervals.push(interval);
                }
            }
            match day.tomorrow() {
                Ok(next) if next <= last => day = next,
                _ => break,
            }
        }
        merge(intervals)
    }

    fn window_on(&self, window: &Window, day: Date) -> Option<Interval> {
        let start = self.local_instant(day, window.start)?;
        let end_day = if window.crosses_midnight() {
            day.tomorrow().ok()?
        } else {
            day
        };
        let end = self.local_instant(end_day, window.end)?;
        // Compatible disambiguation moves gap times forward, so a window
        // lying inside a spring-forward gap can come out empty or reversed:
        // it does not open that day.
        (start < end).then_some(Interval { start, end })
    }

    fn local_instant(&self, day: Date, minute: u16) -> Option<Timestamp> {
        let (day, minute) = if minute >= MINUTES_PER_DAY {
            (day.tomorrow().ok()?, minute - MINUTES_PER_DAY)
        } else {
            (day, minute)
        };
        let hour = i8::try_from(minute / 60).ok()?;
        let minute = i8::try_from(minute % 60).ok()?;
        let time = Time::new(hour, minute, 0, 0).ok()?;
        to_instant(&self.tz, day.to_datetime(time))
    }
}

fn to_instant(tz: &TimeZone, time: DateTime) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(time).compatible().ok()
}

/// Whether a deploy may run at one instant. Instants serialize as RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleState {
    pub open: bool,
    /// When open: the end of the current open stretch, the earlier of the
    /// window's end and the next freeze's start; `None` if nothing ends it.
    pub closes_at: Option<Timestamp>,
    /// When closed: the next instant it is open; `None` if none within the
    /// search horizon (400 days past today or the last freeze).
    pub next_open: Option<Timestamp>,
    /// The freeze in force, if any.
    pub freeze: Option<ActiveFreeze>,
}

/// The freeze in force at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveFreeze {
    pub reason: String,
    /// When the freeze lifts: the end of the stretch of overlapping or
    /// back-to-back freezes. A window may open later still; see `next_open`.
    pub until: Timestamp,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use jiff::civil::Weekday;
    use proptest::prelude::*;

    fn window(s: &str) -> Window {
        s.parse().unwrap()
    }

    fn schedule(zone: &str, windows: &[&str], freezes: &[(&str, &str, &str)]) -> Schedule {
        let freezes = freezes
            .iter()
            .map(|(from, to, reason)| {
                Freeze::new(
                    parse_freeze_time(from).unwrap(),
                    parse_freeze_time(to).unwrap(),
                    *reason,
                )
                .unwrap()
            })
            .collect();
        Schedule::new(zone, windows.iter().map(|w| window(w)).collect(), freezes).unwrap()
    }

    /// A local civil time in the schedule's zone, as an instant.
    fn local(schedule: &Schedule, s: &str) -> Timestamp {
        to_instant(&schedule.tz, s.parse().unwrap()).unwrap()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn open_until(schedule: &Schedule, at: &str, until: Option<&str>) {
        let state = schedule.state_at(local(schedule, at));
        assert_eq!(
            state,
            ScheduleState {
                open: true,
                closes_at: until.map(|u| local(schedule, u)),
                next_open: None,
                freeze: None,
            },
            "at {at}"
        );
    }

    fn closed_until(schedule: &Schedule, at: &str, next: &str) {
        let state = schedule.state_at(local(schedule, at));
        assert!(!state.open, "at {at}: {state:?}");
        assert_eq!(state.closes_at, None, "at {at}");
        assert_eq!(state.next_open, Some(local(schedule, next)), "at {at}");
    }

    fn err(s: &str) -> ScheduleError {
        s.parse::<Window>().unwrap_err()
    }

    // 2026-06-01 is a Monday; Asia/Tokyo has no DST.

    #[test]
    fn parses_every_day_spec_form() {
        let cases = [
            ("daily 09:00-17:00", 0b111_1111, "daily 09:00-17:00"),
            ("Mon 10:00-18:00", 0b000_0001, "Mon 10:00-18:00"),
            ("monday 10:00-18:00", 0b000_0001, "Mon 10:00-18:00"),
            ("SUNDAY 10:00-18:00", 0b100_0000, "Sun 10:00-18:00"),
            ("mOn-fRi 10:00-18:00", 0b001_1111, "Mon-Fri 10:00-18:00"),
            ("Fri-Mon 10:00-18:00", 0b111_0001, "Fri-Mon 10:00-18:00"),
            ("Sun-Sat 10:00-18:00", 0b111_1111, "daily 10:00-18:00"),
            ("Wed-Wed 10:00-18:00", 0b000_0100, "Wed 10:00-18:00"),
            ("Tue,Thu 10:00-16:00", 0b000_1010, "Tue,Thu 10:00-16:00"),
            (
                "Mon-Wed,Fri 10:00-16:00",
                0b001_0111,
                "Mon-Wed,Fri 10:00-16:00",
            ),
            (
                "Wed,Sun-Mon 10:00-16:00",
                0b100_0101,
                "Sun-Mon,Wed 10:00-16:00",
            ),
            ("Sat,Sun 10:00-16:00", 0b110_0000, "Sat-Sun 10:00-16:00"),
            ("Mon,daily 10:00-16:00", 0b111_1111, "daily 10:00-16:00"),
            (
                "  Mon - Wed ,  Friday   9:00 - 16:30 ",
                0b001_0111,
                "Mon-Wed,Fri 09:00-16:30",
            ),
            ("Mon-Fri10:00-18:00", 0b001_1111, "Mon-Fri 10:00-18:00"),
        ];
        for (input, days, canonical) in cases {
            let parsed = window(input);
            assert_eq!(parsed.days, days, "{input}");
            assert_eq!(parsed.to_string(), canonical, "{input}");
            assert_eq!(window(canonical), parsed, "{input}");
        }
    }

    #[test]
    fn parses_times() {
        let w = window("Sat 22:00-02:00");
        assert_eq!((w.start, w.end), (22 * 60, 2 * 60));
        assert!(w.crosses_midnight());
        assert!(w.opens_on(Weekday::Saturday));
        assert!(!w.opens_on(Weekday::Sunday));
        let w = window("Mon 18:00-24:00");
        assert_eq!((w.start, w.end), (18 * 60, 24 * 60));
        assert!(!w.crosses_midnight());
        assert_eq!(w.to_string(), "Mon 18:00-24:00");
        assert_eq!(window("daily 00:00-24:00").to_string(), "daily 00:00-24:00");
        assert!(window("Mon 23:59-00:00").crosses_midnight());
    }

    #[test]
    fn bad_windows_say_what_to_write() {
        let cases: [(&str, &str); 16] = [
            ("Tues 10:00-18:00", "did you mean `Tue`?"),
            ("Thurs 10:00-18:00", "did you mean `Thu`?"),
            ("Mon-Fir 10:00-18:00", "did you mean `Fri`?"),
            ("Mnday 10:00-18:00", "did you mean `Mon`?"),
            ("weekdays 10:00-18:00", "did you mean `Mon-Fri`?"),
            ("Xyz 10:00-18:00", "days are `Mon` to `Sun`"),
            ("Mon-Wed-Fri 10:00-18:00", "days are `Mon` to `Sun`"),
            ("Mon,,Fri 10:00-18:00", "separate days with single commas"),
            ("Mon-Fri 10-18", "write windows as `Mon-Fri 10:00-18:00`"),
            ("Sat 22-2", "write windows as `Sat 22:00-02:00`"),
            ("Mon-Fri 10:00", "write windows as `Mon-Fri 10:00-18:00`"),
            ("Mon-Fri", "write windows as `Mon-Fri 10:00-18:00`"),
            ("10:00-18:00", "write windows as `Mon-Fri 10:00-18:00`"),
            ("Mon 25:00-26:00", "hours run 00-23"),
            ("Mon 24:00-02:00", "`24:00` may only end a window"),
            (
                "Mon-Fri 10:00-10:00",
                "for the whole day write `Mon-Fri 00:00-24:00`",
            ),
        ];
        for (input, hint) in cases {
            let e = err(input);
            assert!(
                e.hint().unwrap().contains(hint),
                "{input}: {e}: {}",
                e.hint().unwrap()
            );
        }
        assert_eq!(
            err("Tues 10:00-18:00").hint().unwrap(),
            "did you mean `Tue`?"
        );
        assert_eq!(
            err("Mon-Fri 10-18").hint().unwrap(),
            "write windows as `Mon-Fri 10:00-18:00`"
        );
        assert_eq!(err("Tues 10:00-18:00").to_string(), "unknown day `Tues`");
        assert!(
            matches!(err("Mon 10:60-11:00"), ScheduleError::TimeOutOfRange { time, .. } if time == "10:60")
        );
        assert!(matches!(
            err("Mon 10:00-24:30"),
            ScheduleError::TimeOutOfRange { .. }
        ));
        assert!(matches!(
            err("Mon 1000-1800"),
            ScheduleError::BadTimeRange { .. }
        ));
        assert!(matches!(
            err("Mon 10:0-18:00"),
            ScheduleError::BadTimeRange { .. }
        ));
        assert!(matches!(
            err("Mon 10:00-18:00 UTC"),
            ScheduleError::BadTimeRange { .. }
        ));
        assert!(matches!(err(""), ScheduleError::MissingTimes { .. }));
    }

    #[test]
    fn windows_and_freezes_deserialize_from_a_tenant_file() {
        #[derive(Deserialize)]
        struct Tenant {
            schedule: Section,
        }
        #[derive(Deserialize)]
        struct Section {
            timezone: String,
            windows: Vec<Window>,
            freeze: Vec<Freeze>,
        }
        let tenant: Tenant = toml::from_str(
            r#"
            [schedule]
            timezone = "Asia/Tokyo"
            windows  = ["Mon-Fri 10:00-18:00", "Tue,Thu 10:00-16:00", "Sat 22:00-02:00", "daily 09:00-17:00"]
            freeze   = [
                { from = "2026-12-01T00:00", to = "2026-12-04T00:00", reason = "year-end sale" },
                { from = 2026-12-24T00:00:00, to = 2026-12-26, reason = "unquoted" },
            ]
            "#,
        )
        .unwrap();
        let section = tenant.schedule;
        assert_eq!(section.windows.len(), 4);
        assert_eq!(section.windows[2], window("Sat 22:00-02:00"));
        assert_eq!(
            section.freeze[0],
            Freeze::new(
                "2026-12-01T00:00".parse().unwrap(),
                "2026-12-04T00:00".parse().unwrap(),
                "year-end sale"
            )
            .unwrap()
        );
        assert_eq!(section.freeze[1].to, "2026-12-26T00:00".parse().unwrap());
        let schedule = Schedule::new(&section.timezone, section.windows, section.freeze).unwrap();
        assert_eq!(schedule.timezone(), "Asia/Tokyo");
        assert_eq!(schedule.freezes().len(), 2);

        let bad = |text: &str| {
            toml::from_str::<Section>(text)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let message = bad(r#"timezone = "UTC"
            windows = ["Tues 10:00-18:00"]
            freeze = []"#);
        assert!(message.contains("did you mean `Tue`?"), "{message}");
        let message = bad(r#"timezone = "UTC"
            windows = []
            freeze = [{ from = "2026-12-01T00:00+09:00", to = "2026-12-02", reason = "x" }]"#);
        assert!(
            message.contains("drop the offset: `2026-12-01T00:00`"),
            "{message}"
        );
        let message = bad(r#"timezone = "UTC"
            windows = []
            freeze = [{ from = 2026-12-01T00:00:00+09:00, to = "2026-12-02", reason = "x" }]"#);
        assert!(message.contains("drop the offset"), "{message}");
        let message = bad(r#"timezone = "UTC"
            windows = []
            freeze = [{ from = "2026-12-01", to = "2026-12-02" }]"#);
        assert!(message.contains("has no reason"), "{message}");
        assert_eq!(
            serde_json::to_string(&window("mon-fri 9:00-18:00")).unwrap(),
            r#""Mon-Fri 09:00-18:00""#
        );
    }

    #[test]
    fn freeze_times() {
        let dt = |s: &str| s.parse::<DateTime>().unwrap();
        assert_eq!(
            parse_freeze_time("2026-12-01T09:30").unwrap(),
            dt("2026-12-01T09:30:00")
        );
        assert_eq!(
            parse_freeze_time(" 2026-12-01T09:30:15 ").unwrap(),
            dt("2026-12-01T09:30:15")
        );
        assert_eq!(
            parse_freeze_time("2026-12-01").unwrap(),
            dt("2026-12-01T00:00:00")
        );
        let offset = parse_freeze_time("2026-12-01T00:00+09:00").unwrap_err();
        assert_eq!(
            offset.hint().unwrap(),
            "freezes are local times in the tenant's timezone; drop the offset: `2026-12-01T00:00`"
        );
        for zoned in [
            "2026-12-01T00:00Z",
            "2026-12-01T00:00:00-05:00",
            "2026-12-01T00:00[Asia/Tokyo]",
            "2026-12-01Z",
        ] {
            assert!(
                matches!(
                    parse_freeze_time(zoned),
                    Err(ScheduleError::FreezeOffset { .. })
                ),
                "{zoned}"
            );
        }
        for bad in ["2026-13-01", "tomorrow", "", "2026-12-01T25:00"] {
            let e = parse_freeze_time(bad).unwrap_err();
            assert!(matches!(e, ScheduleError::BadFreezeTime { .. }), "{bad}");
            assert!(e.hint().unwrap().contains("YYYY-MM-DDTHH:MM"));
        }
    }

    #[test]
    fn bad_freezes_and_zones() {
        let from = parse_freeze_time("2026-12-04").unwrap();
        let to = parse_freeze_time("2026-12-01").unwrap();
        let e = Freeze::new(from, to, "sale").unwrap_err();
        assert!(matches!(e, ScheduleError::FreezeNotAfter { .. }));
        assert!(e.hint().unwrap().contains("swap"));
        assert!(matches!(
            Freeze::new(from, from, "sale"),
            Err(ScheduleError::FreezeNotAfter { .. })
        ));
        let e = Freeze::new(to, from, "  ").unwrap_err();
        assert!(matches!(e, ScheduleError::FreezeWithoutReason { .. }));
        // Fields are public, so `Schedule::new` checks again.
        let unchecked = Freeze {
            from,
            to,
            reason: "sale".into(),
        };
        assert!(Schedule::new("UTC", vec![], vec![unchecked]).is_err());

        let e = Schedule::new("Asia/Tokio", vec![], vec![]).unwrap_err();
        assert_eq!(e.to_string(), "unknown timezone `Asia/Tokio`");
        assert_eq!(e.hint().unwrap(), "did you mean `Asia/Tokyo`?");
        let e = Schedule::new("Tokyo", vec![], vec![]).unwrap_err();
        assert_eq!(e.hint().unwrap(), "did you mean `Asia/Tokyo`?");
        let e = Schedule::new("Europe/Berln", vec![], vec![]).unwrap_err();
        assert_eq!(e.hint().unwrap(), "did you mean `Europe/Berlin`?");
        let e = Schedule::new("Mars/Olympus_Mons", vec![], vec![]).unwrap_err();
        assert!(
            e.hint().unwrap().contains("IANA name"),
            "{}",
            e.hint().unwrap()
        );
        assert!(Schedule::new("Etc/Unknown", vec![], vec![]).is_err());
        assert!(Schedule::new("+09:00", vec![], vec![]).is_err());
        assert_eq!(
            Schedule::new(" asia/tokyo ", vec![], vec![])
                .unwrap()
                .timezone(),
            "Asia/Tokyo"
        );
        assert_eq!(
            Schedule::new("UTC", vec![], vec![]).unwrap().timezone(),
            "UTC"
        );
    }

    #[test]
    fn inside_outside_and_boundaries() {
        let s = schedule("Asia/Tokyo", &["Mon-Fri 10:00-18:00"], &[]);
        closed_until(&s, "2026-06-01T09:59:59", "2026-06-01T10:00");
        open_until(&s, "2026-06-01T10:00", Some("2026-06-01T18:00"));
        open_until(&s, "2026-06-01T17:59:59.999", Some("2026-06-01T18:00"));
        closed_until(&s, "2026-06-01T18:00", "2026-06-02T10:00");
        closed_until(&s, "2026-06-05T18:00", "2026-06-08T10:00");
        closed_until(&s, "2026-06-06T12:00", "2026-06-08T10:00");
        // Asia/Tokyo is +09:00: the instant is in UTC.
        assert_eq!(
            s.state_at(utc("2026-06-01T01:30:00Z")).closes_at,
            Some(utc("2026-06-01T09:00:00Z"))
        );
    }

    #[test]
    fn midnight_crossing_window_on_both_sides() {
        let s = schedule("Asia/Tokyo", &["Sat 22:00-02:00"], &[]);
        closed_until(&s, "2026-06-06T21:59", "2026-06-06T22:00");
        open_until(&s, "2026-06-06T22:00", Some("2026-06-07T02:00"));
        open_until(&s, "2026-06-06T23:59:59", Some("2026-06-07T02:00"));
        open_until(&s, "2026-06-07T00:00", Some("2026-06-07T02:00"));
        open_until(&s, "2026-06-07T01:59", Some("2026-06-07T02:00"));
        closed_until(&s, "2026-06-07T02:00", "2026-06-13T22:00");
        // The day spec names the opening day: Sunday night is not a window.
        closed_until(&s, "2026-06-07T23:00", "2026-06-13T22:00");
    }

    #[test]
    fn sunday_windows_wrap_the_week() {
        let s = schedule("Asia/Tokyo", &["Sun 22:00-02:00"], &[]);
        open_until(&s, "2026-06-07T23:30", Some("2026-06-08T02:00"));
        open_until(&s, "2026-06-08T01:00", Some("2026-06-08T02:00"));
        closed_until(&s, "2026-06-08T02:00", "2026-06-14T22:00");
        let s = schedule("Asia/Tokyo", &["Sun 10:00-12:00"], &[]);
        closed_until(&s, "2026-06-08T09:00", "2026-06-14T10:00");
        let s = schedule("Asia/Tokyo", &["Fri-Mon 10:00-12:00"], &[]);
        open_until(&s, "2026-06-07T11:00", Some("2026-06-07T12:00"));
        open_until(&s, "2026-06-08T11:00", Some("2026-06-08T12:00"));
        closed_until(&s, "2026-06-08T12:00", "2026-06-12T10:00");
    }

    #[test]
    fn overlapping_and_back_to_back_windows_merge() {
        let s = schedule(
            "Asia/Tokyo",
            &[
                "Mon-Fri 10:00-18:00",
                "Tue,Thu 10:00-16:00",
                "daily 09:00-17:00",
                "Mon 17:30-20:00",
            ],
            &[],
        );
        open_until(&s, "2026-06-01T09:00", Some("2026-06-01T20:00"));
        open_until(&s, "2026-06-02T09:00", Some("2026-06-02T18:00"));
        open_until(&s, "2026-06-06T09:00", Some("2026-06-06T17:00"));
        let s = schedule("Asia/Tokyo", &["Mon 10:00-12:00", "Mon 12:00-14:00"], &[]);
        open_until(&s, "2026-06-01T11:00", Some("2026-06-01T14:00"));
        let s = schedule("Asia/Tokyo", &["daily 00:00-24:00"], &[]);
        open_until(&s, "2026-06-01T11:00", None);
        let s = schedule(
            "Asia/Tokyo",
            &["daily 12:00-12:01", "daily 12:01-12:00"],
            &[],
        );
        open_until(&s, "2026-06-01T11:00", None);
        let s = schedule(
            "Asia/Tokyo",
            &["daily 00:00-24:00"],
            &[("2027-01-01", "2027-01-02", "new year")],
        );
        open_until(&s, "2026-06-01T11:00", Some("2027-01-01T00:00"));
    }

    #[test]
    fn freeze_beats_window() {
        let s = schedule(
            "Asia/Tokyo",
            &["Mon-Fri 10:00-18:00"],
            &[("2026-06-02", "2026-06-04T00:00", "release train")],
        );
        let state = s.state_at(local(&s, "2026-06-02T11:00"));
        assert_eq!(
            state,
            ScheduleState {
                open: false,
                closes_at: None,
                next_open: Some(local(&s, "2026-06-04T10:00")),
                freeze: Some(ActiveFreeze {
                    reason: "release train".into(),
                    until: local(&s, "2026-06-04T00:00"),
                }),
            }
        );
        // The freeze starts inclusive and ends exclusive.
        assert!(s.state_at(local(&s, "2026-06-02T00:00")).freeze.is_some());
        assert!(s.state_at(local(&s, "2026-06-04T00:00")).freeze.is_none());
        assert!(
            s.state_at(local(&s, "2026-06-01T23:59:59"))
                .freeze
                .is_none()
        );
    }

    #[test]
    fn closes_at_picks_a_freeze_starting_before_the_window_ends() {
        let s = schedule(
            "Asia/Tokyo",
            &["Mon-Fri 10:00-18:00"],
            &[("2026-06-01T15:00", "2026-06-01T16:00", "db migration")],
        );
        open_until(&s, "2026-06-01T11:00", Some("2026-06-01T15:00"));
        let frozen = s.state_at(local(&s, "2026-06-01T15:30"));
        assert_eq!(frozen.next_open, Some(local(&s, "2026-06-01T16:00")));
        assert_eq!(frozen.freeze.unwrap().until, local(&s, "2026-06-01T16:00"));
        open_until(&s, "2026-06-01T16:00", Some("2026-06-01T18:00"));
    }

    #[test]
    fn next_open_skips_a_freeze_covering_the_next_window() {
        let s = schedule(
            "Asia/Tokyo",
            &["Tue,Thu 10:00-16:00"],
            &[("2026-06-02", "2026-06-03", "audit")],
        );
        closed_until(&s, "2026-06-01T12:00", "2026-06-04T10:00");
        // A freeze lifting mid-window opens at the lift, not the window start.
        let s = schedule(
            "Asia/Tokyo",
            &["Tue,Thu 10:00-16:00"],
            &[("2026-06-02", "2026-06-02T12:00", "audit")],
        );
        closed_until(&s, "2026-06-01T12:00", "2026-06-02T12:00");
        // A freeze far longer than the search horizon still finds the window after.
        let s = schedule(
            "Asia/Tokyo",
            &["Tue,Thu 10:00-16:00"],
            &[("2026-06-01", "2028-06-01", "moratorium")],
        );
        closed_until(&s, "2026-06-02T12:00", "2028-06-01T10:00");
    }

    #[test]
    fn chained_freezes_report_when_deploys_resume() {
        let s = schedule(
            "Asia/Tokyo",
            &[],
            &[
                ("2026-12-01", "2026-12-04", "year-end sale"),
                ("2026-12-03", "2026-12-10", "inventory"),
                ("2026-12-10", "2026-12-11", "recovery"),
            ],
        );
        let state = s.state_at(local(&s, "2026-12-03T12:00"));
        assert!(!state.open);
        assert_eq!(state.next_open, Some(local(&s, "2026-12-11T00:00")));
        assert_eq!(
            state.freeze,
            Some(ActiveFreeze {
                reason: "inventory".into(),
                until: local(&s, "2026-12-11T00:00"),
            })
        );
        assert_eq!(
            s.state_at(local(&s, "2026-12-01T12:00"))
                .freeze
                .unwrap()
                .reason,
            "year-end sale"
        );
    }

    #[test]
    fn no_windows_means_open_outside_freezes() {
        let s = schedule("UTC", &[], &[]);
        let state = s.state_at(utc("2026-06-01T03:00:00Z"));
        assert_eq!(
            state,
            ScheduleState {
                open: true,
                closes_at: None,
                next_open: None,
                freeze: None
            }
        );
        let s = schedule(
            "Asia/Tokyo",
            &[],
            &[("2026-12-01", "2026-12-04", "year-end sale")],
        );
        open_until(&s, "2026-06-01T03:00", Some("2026-12-01T00:00"));
        let state = s.state_at(local(&s, "2026-12-02T00:00"));
        assert!(!state.open);
        assert_eq!(state.next_open, Some(utc("2026-12-03T15:00:00Z")));
        open_until(&s, "2026-12-04T00:00", None);
    }

    #[test]
    fn state_serializes_instants_as_rfc3339() {
        let s = schedule(
            "Asia/Tokyo",
            &["Mon-Fri 10:00-18:00"],
            &[("2026-06-02", "2026-06-03", "audit")],
        );
        let frozen = serde_json::to_value(s.state_at(utc("2026-06-02T03:00:00Z"))).unwrap();
        assert_eq!(
            frozen,
            serde_json::json!({
                "open": false,
                "closes_at": null,
                "next_open": "2026-06-03T01:00:00Z",
                "freeze": { "reason": "audit", "until": "2026-06-02T15:00:00Z" },
            })
        );
    }

    #[test]
    fn new_york_spring_forward() {
        // 2026-03-08 is a Sunday; clocks jump from 02:00 EST to 03:00 EDT.
        let s = schedule("America/New_York", &["daily 10:00-18:00"], &[]);
        let saturday = s.state_at(utc("2026-03-07T14:59:00Z"));
        assert_eq!(saturday.next_open, Some(utc("2026-03-07T15:00:00Z")));
        let sunday = s.state_at(utc("2026-03-08T12:00:00Z"));
        assert_eq!(sunday.next_open, Some(utc("2026-03-08T14:00:00Z")));
        let open = s.state_at(utc("2026-03-08T14:00:00Z"));
        assert!(open.open);
        assert_eq!(open.closes_at, Some(utc("2026-03-08T22:00:00Z")));
        assert!(!s.state_at(utc("2026-03-08T13:59:59Z")).open);

        // A window across the change is an hour shorter in real time.
        let s = schedule("America/New_York", &["Sat 22:00-04:00"], &[]);
        let state = s.state_at(utc("2026-03-08T03:00:00Z"));
        assert!(state.open);
        assert_eq!(state.closes_at, Some(utc("2026-03-08T08:00:00Z")));

        // A start inside the gap resolves forward: 02:30 becomes 03:30 EDT.
        let s = schedule("America/New_York", &["Sun 02:30-05:00"], &[]);
        let state = s.state_at(utc("2026-03-08T06:00:00Z"));
        assert_eq!(state.next_open, Some(utc("2026-03-08T07:30:00Z")));
        // The week before, 02:30 EST.
        let state = s.state_at(utc("2026-03-01T06:00:00Z"));
        assert_eq!(state.next_open, Some(utc("2026-03-01T07:30:00Z")));

        // A window wholly inside the gap does not open that day.
        let s = schedule("America/New_York", &["Sun 02:10-02:50"], &[]);
        let state = s.state_at(utc("2026-03-08T06:00:00Z"));
        assert!(!state.open);
        assert_eq!(state.next_open, Some(utc("2026-03-08T07:10:00Z")));
        let s = schedule("America/New_York", &["Sun 02:30-03:10"], &[]);
        let state = s.state_at(utc("2026-03-08T06:00:00Z"));
        assert_eq!(state.next_open, Some(utc("2026-03-15T06:30:00Z")));
    }

    #[test]
    fn new_york_fall_back() {
        // 2026-11-01 is a Sunday; clocks fall from 02:00 EDT to 01:00 EST.
        let s = schedule("America/New_York", &["Sun 10:00-18:00"], &[]);
        let state = s.state_at(utc("2026-11-01T12:00:00Z"));
        assert_eq!(state.next_open, Some(utc("2026-11-01T15:00:00Z")));
        let state = s.state_at(utc("2026-10-25T12:00:00Z"));
        assert_eq!(state.next_open, Some(utc("2026-10-25T14:00:00Z")));
        let open = s.state_at(utc("2026-11-01T15:00:00Z"));
        assert_eq!(open.closes_at, Some(utc("2026-11-01T23:00:00Z")));

        // A start inside the fold takes the earlier instant: 01:30 EDT.
        let s = schedule("America/New_York", &["Sun 01:30-03:00"], &[]);
        let state = s.state_at(utc("2026-11-01T05:00:00Z"));
        assert_eq!(state.next_open, Some(utc("2026-11-01T05:30:00Z")));
        let open = s.state_at(utc("2026-11-01T05:30:00Z"));
        assert_eq!(open.closes_at, Some(utc("2026-11-01T08:00:00Z")));

        // Across the change the window is an hour longer in real time.
        let s = schedule("America/New_York", &["Sat 22:00-04:00"], &[]);
        let open = s.state_at(utc("2026-11-01T02:00:00Z"));
        assert!(open.open);
        assert_eq!(open.closes_at, Some(utc("2026-11-01T09:00:00Z")));
    }

    #[test]
    fn berlin_both_changes() {
        // 2026-03-29 and 2026-10-25 are the last Sundays of March and October.
        let s = schedule("Europe/Berlin", &["Sun 10:00-12:00"], &[]);
        let before = s.state_at(utc("2026-03-22T00:00:00Z"));
        assert_eq!(before.next_open, Some(utc("2026-03-22T09:00:00Z")));
        let spring = s.state_at(utc("2026-03-29T00:00:00Z"));
        assert_eq!(spring.next_open, Some(utc("2026-03-29T08:00:00Z")));
        let autumn = s.state_at(utc("2026-10-25T00:00:00Z"));
        assert_eq!(autumn.next_open, Some(utc("2026-10-25T09:00:00Z")));

        // Initech's window: Saturday 22:00 to Sunday 02:00, which on 03-29
        // falls in the gap and so ends at 03:00 CEST.
        let s = schedule("Europe/Berlin", &["Sat 22:00-02:00"], &[]);
        let spring = s.state_at(utc("2026-03-28T21:00:00Z"));
        assert!(spring.open);
        assert_eq!(spring.closes_at, Some(utc("2026-03-29T01:00:00Z")));
        let autumn = s.state_at(utc("2026-10-24T20:00:00Z"));
        assert!(autumn.open);
        // 02:00 on 10-25 is in the fold: the earlier, CEST, instant.
        assert_eq!(autumn.closes_at, Some(utc("2026-10-25T00:00:00Z")));
        assert!(!s.state_at(utc("2026-10-24T19:59:59Z")).open);
    }

    // ---- properties ----

    const ZONES: [&str; 7] = [
        "UTC",
        "Asia/Tokyo",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kolkata",
    ];

    fn minute_strategy() -> impl Strategy<Value = u16> {
        prop_oneof![
            0u16..MINUTES_PER_DAY,
            (0u16..48).prop_map(|half_hours| half_hours * 30)
        ]
    }

    fn window_strategy() -> impl Strategy<Value = Window> {
        (
            1u8..=ALL_DAYS,
            minute_strategy(),
            minute_strategy().prop_map(|m| m + 1),
        )
            .prop_filter("start == end", |(_, start, end)| start != end)
            .prop_map(|(days, start, end)| Window { days, start, end })
    }

    fn freeze_strategy() -> impl Strategy<Value = Freeze> {
        (0i64..2 * 365 * 24 * 60, 1i64..14 * 24 * 60).prop_map(|(offset, length)| {
            let base: DateTime = "2026-01-01T00:00".parse().unwrap();
            let from = base.checked_add(offset.minutes()).unwrap();
            let to = from.checked_add(length.minutes()).unwrap();
            Freeze {
                from,
                to,
                reason: "freeze".into(),
            }
        })
    }

    fn schedule_strategy() -> impl Strategy<Value = Schedule> {
        (
            proptest::sample::select(ZONES.to_vec()),
            proptest::collection::vec(window_strategy(), 0..4),
            proptest::collection::vec(freeze_strategy(), 0..3),
        )
            .prop_map(|(zone, windows, freezes)| Schedule::new(zone, windows, freezes).unwrap())
    }

    fn instant_strategy() -> impl Strategy<Value = Timestamp> {
        let from = utc("2025-12-01T00:00:00Z").as_second();
        let to = utc("2028-03-01T00:00:00Z").as_second();
        prop_oneof![
            (from..to).prop_map(|s| Timestamp::from_second(s).unwrap()),
            (from / 60..to / 60).prop_map(|m| Timestamp::from_second(m * 60).unwrap()),
        ]
    }

    /// Open or not by direct definition: no merging, no scanning, no
    /// horizon; each window occurrence near `at` checked on its own.
    fn brute_open(s: &Schedule, at: Timestamp) -> bool {
        let frozen = s.freezes.iter().any(|f| {
            let from = to_instant(&s.tz, f.from).unwrap();
            let to = to_instant(&s.tz, f.to).unwrap();
            from <= at && at < to
        });
        if frozen {
            return false;
        }
        if s.windows.is_empty() {
            return true;
        }
        let today = s.tz.to_datetime(at).date();
        (-2i32..=1).any(|offset| {
            let day = today.checked_add(offset.days()).unwrap();
            s.windows.iter().any(|w| {
                if !w.opens_on(day.weekday()) {
                    return false;
                }
                let civil = |day: Date, minutes: u16| {
                    day.to_datetime(Time::midnight())
                        .checked_add(i64::from(minutes).minutes())
                        .unwrap()
                };
                let start = civil(day, w.start);
                let end_day = if w.end <= w.start {
                    day.tomorrow().unwrap()
                } else {
                    day
                };
                let end = civil(end_day, w.end);
                let start = to_instant(&s.tz, start).unwrap();
                let end = to_instant(&s.tz, end).unwrap();
                start <= at && at < end
            })
        })
    }

    /// Minute-aligned instants strictly between `from` and `to`, at most
    /// `limit` of them. Every boundary in these zones falls on a whole
    /// minute, so an open stretch between two instants always starts on one.
    fn minutes_between(
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> impl Iterator<Item = Timestamp> {
        let first = from.as_second().div_euclid(60) + 1;
        (first..)
            .map(|minute| Timestamp::from_second(minute * 60).unwrap())
            .take_while(move |t| *t < to)
            .take(limit)
    }

    proptest! {
        #[test]
        fn window_display_round_trips(w in window_strategy()) {
            prop_assert_eq!(w.to_string().parse::<Window>(), Ok(w));
        }

        /// Any text at all, and text made of the characters windows are written with (so
        /// the near misses reach every branch): an error with a message or a window that
        /// reads back the same, never a panic.
        #[test]
        fn the_window_parser_takes_any_text(
            s in prop_oneof![
                "\\PC{0,30}",
                "[MTWFSmtwfsouehaird ,:0-9-]{0,24}",
                "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)(-(Mon|Fri|Sun))?(,Sat)? [0-2]?[0-9]:[0-6][0-9]-[0-2]?[0-9]:[0-6][0-9]",
            ],
        ) {
            match s.parse::<Window>() {
                Ok(w) => prop_assert_eq!(w.to_string().parse::<Window>(), Ok(w)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn the_freeze_time_parser_takes_any_text(
            s in prop_oneof!["\\PC{0,30}", "[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2})?)?([+-][0-9]{2}:[0-9]{2}|Z)?"],
        ) {
            if let Err(e) = parse_freeze_time(&s) {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn open_agrees_with_brute_force(s in schedule_strategy(), at in instant_strategy()) {
            let state = s.state_at(at);
            prop_assert_eq!(state.open, brute_open(&s, at));
            prop_assert_eq!(state.open, state.next_open.is_none());
            prop_assert!(state.open || state.closes_at.is_none());
            prop_assert!(!state.open || state.freeze.is_none());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn next_open_is_the_first_open_instant(s in schedule_strategy(), at in instant_strategy()) {
            let state = s.state_at(at);
            if let Some(next) = state.next_open {
                prop_assert!(!state.open);
                prop_assert!(next > at);
                prop_assert!(brute_open(&s, next));
                for t in minutes_between(at, next, 4 * 24 * 60) {
                    prop_assert!(!brute_open(&s, t), "open at {} before next_open {}", t, next);
                }
            }
        }

        #[test]
        fn closes_at_ends_the_open_stretch(s in schedule_strategy(), at in instant_strategy()) {
            let state = s.state_at(at);
            if !state.open {
                return Ok(());
            }
            match state.closes_at {
                Some(close) => {
                    prop_assert!(close > at);
                    prop_assert!(!brute_open(&s, close));
                    for t in minutes_between(at, close, 4 * 24 * 60) {
                        prop_assert!(brute_open(&s, t), "closed at {} before closes_at {}", t, close);
                    }
                }
                None => {
                    for hour in 1..=24 * 8 {
                        let t = at.checked_add(SignedDuration::from_hours(hour)).unwrap();
                        prop_assert!(brute_open(&s, t), "closed at {} with no closes_at", t);
                    }
                }
            }
        }

        #[test]
        fn utc_matches_plain_minute_of_week_arithmetic(
            windows in proptest::collection::vec(window_strategy(), 1..4),
            at in instant_strategy(),
        ) {
            let s = Schedule::new("UTC", windows, vec![]).unwrap();
            let civil = jiff::tz::TimeZone::UTC.to_datetime(at);
            let day = usize::try_from(civil.weekday().to_monday_zero_offset()).unwrap();
            let minute = u16::try_from(civil.hour()).unwrap() * 60 + u16::try_from(civil.minute()).unwrap();
            let expected = s.windows.iter().any(|w| {
                let today = w.days & (1 << day) != 0;
                let yesterday = w.days & (1 << ((day + 6) % 7)) != 0;
                if w.crosses_midnight() {
                    (today && minute >= w.start) || (yesterday && minute < w.end)
                } else {
                    today && minute >= w.start && minute < w.end
                }
            });
            prop_assert_eq!(s.state_at(at).open, expected);
        }
    }
}
