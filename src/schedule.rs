//! TEMPORARY stand-in until the schedule module lands (same API); replaced wholesale.
use std::str::FromStr;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window(String);
impl FromStr for Window {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Window(s.to_owned()))
    }
}
impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
#[derive(Debug, Clone)]
pub struct Freeze {
    pub from: jiff::civil::DateTime,
    pub to: jiff::civil::DateTime,
    pub reason: String,
}
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: String,
}
impl Schedule {
    pub fn new(timezone: &str, _w: Vec<Window>, _f: Vec<Freeze>) -> Result<Self, ScheduleError> {
        Ok(Self {
            tz: timezone.to_owned(),
        })
    }
    pub fn timezone(&self) -> &str {
        &self.tz
    }
    pub fn state_at(&self, _at: jiff::Timestamp) -> ScheduleState {
        ScheduleState {
            open: true,
            closes_at: None,
            next_open: None,
            freeze: None,
        }
    }
}
pub fn parse_freeze_time(s: &str) -> Result<jiff::civil::DateTime, ScheduleError> {
    s.parse().map_err(|_| ScheduleError::Bad)
}
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleState {
    pub open: bool,
    pub closes_at: Option<jiff::Timestamp>,
    pub next_open: Option<jiff::Timestamp>,
    pub freeze: Option<ActiveFreeze>,
}
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActiveFreeze {
    pub reason: String,
    pub until: jiff::Timestamp,
}
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("bad")]
    Bad,
}
impl ScheduleError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}
