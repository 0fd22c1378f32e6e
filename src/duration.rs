//! The one duration syntax of stamp, on the command line (`--timeout 10m`) and in the tenant
//! files (`[project] bake = "10m"`): a number and a unit (`ms`, `s`, `m`, `h`; none = seconds),
//! at most 24 hours. Parsing and showing only; nothing here waits.

use std::time::Duration;

/// The longest wait stamp takes: far beyond any rollout or bake, and it keeps lock expiries and
/// deadlines (now plus the wait) from overflowing.
const MAX_SECS: f64 = 24.0 * 3600.0;

/// `90s`, `10m`, `1.5h`, `250ms`; the error says what to write instead.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (write e.g. 90s, 10m, 1h)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("`{s}` is not a duration (write e.g. 90s, 10m, 1h)"));
    }
    if secs > MAX_SECS {
        return Err(format!(
            "`{s}` is longer than 24h, the longest wait stamp takes (write e.g. 30m or 2h)"
        ));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("`{s}` is not a duration (write e.g. 90s, 10m, 1h)"))
}

/// Whole seconds as people write them: `45s`, `2m`, `2m30s`, `1h5m`.
pub fn show(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_show_back() {
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(show(Duration::from_secs(600)), "10m");
        assert_eq!(show(Duration::from_secs(150)), "2m30s");
        assert_eq!(show(Duration::from_secs(3900)), "1h5m");
        assert_eq!(show(Duration::from_millis(400)), "0s");
    }

    #[test]
    fn nonsense_and_too_long_are_refused_with_what_to_write() {
        assert!(
            parse("10 minutes")
                .expect_err("a unit in words")
                .contains("unknown unit")
        );
        assert!(parse("ten").expect_err("no number").contains("write e.g."));
        assert!(
            parse("25h")
                .expect_err("over a day")
                .contains("longer than 24h")
        );
    }
}
