//! The audit trail stamp leaves on what it deploys: tag keys and their meaning, written on
//! task definitions and services by `deploy`, read back by `history` and `status`.
//!
//! All keys start with `stamp:`, the prefix the plan's comparison ignores, so recording who
//! deployed never makes a service look changed.

use std::collections::BTreeMap;

use serde::Serialize;

/// What every audit tag key starts with.
pub const PREFIX: &str = "stamp:";
pub const COMMIT: &str = "stamp:commit";
pub const DIGEST: &str = "stamp:digest";
pub const RELEASE: &str = "stamp:release";
pub const DEPLOYER: &str = "stamp:deployer";
pub const OVERRIDE: &str = "stamp:override";
pub const FORCED_UNLOCK: &str = "stamp:forced-unlock";
/// On one-off tasks (`stamp run`, `before_deploy`): the command's first word.
pub const COMMAND: &str = "stamp:command";

/// The `stamp:command` tag of a one-off task: its program, never its arguments (which may
/// carry values a person typed).
pub fn command_tag(command: &[String]) -> (String, String) {
    let first = command.first().map_or("", String::as_str);
    (COMMAND.to_owned(), clean(first))
}

/// What one deploy records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub commit: Option<String>,
    pub digest: Option<String>,
    pub release: Option<String>,
    pub deployer: Option<String>,
    /// `window: <reason>` or `freeze: <reason>` when a schedule was overridden.
    pub r#override: Option<String>,
    /// The holder of a lock that `--force-unlock` removed.
    pub forced_unlock: Option<String>,
}

/// ECS tag values: at most 256 characters of letters, digits, spaces and `_ . : / = + - @`.
fn clean(v: &str) -> String {
    let s: String = v
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.chars().take(256).collect()
}

impl Audit {
    pub fn to_tags(&self) -> Vec<(String, String)> {
        [
            (COMMIT, &self.commit),
            (DIGEST, &self.digest),
            (RELEASE, &self.release),
            (DEPLOYER, &self.deployer),
            (OVERRIDE, &self.r#override),
            (FORCED_UNLOCK, &self.forced_unlock),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), clean(v))))
        .collect()
    }

    pub fn from_tags(tags: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| tags.get(k).cloned();
        Self {
            commit: get(COMMIT),
            digest: get(DIGEST),
            release: get(RELEASE),
            deployer: get(DEPLOYER),
            r#override: get(OVERRIDE),
            forced_unlock: get(FORCED_UNLOCK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_stay_within_ecs_rules() {
        let a = Audit {
            commit: Some("abc123-dirty".into()),
            digest: Some("f".repeat(64)),
            release: Some("v1.42.0".into()),
            deployer: Some("arn:aws:sts::123456789012:assumed-role/Dev/alice@example.com".into()),
            r#override: Some("window: hotfix #42 (INC-7)".into()),
            forced_unlock: None,
        };
        let tags = a.to_tags();
        assert_eq!(tags.len(), 5);
        assert!(
            tags.iter()
                .all(|(k, _)| k.starts_with(crate::plan::BOOKKEEPING_TAG_PREFIX))
        );
        let map: BTreeMap<String, String> = tags.into_iter().collect();
        assert_eq!(map[OVERRIDE], "window: hotfix -42 -INC-7-");
        let back = Audit::from_tags(&map);
        assert_eq!(back.deployer, a.deployer);
        assert_eq!(back.digest, a.digest);
    }
}
