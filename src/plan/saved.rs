//! The saved-plan file (`plan --out FILE`, read back by `deploy --plan FILE`): its format, writing it as text and reading it back with errors that say what is wrong; pure, the callers do the file I/O.
//!
//! A saved plan holds, per tenant, the version of every input that was read and, per
//! service, the desired state with its digest. It never holds a secret's value: stamp
//! has none, only ARNs (inside the task definitions) and parameter versions.
//!
//! Every map is a `BTreeMap` and every struct serialises in declaration order, so the
//! same plan gives the same bytes. Reading checks the format version before anything
//! else (a newer file fails on its version, not on some field), then every field, then
//! that each digest matches what it claims to digest, so a hand-edited or damaged file
//! is refused instead of deployed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DesiredService, plan_digest};
use crate::render::taskdef::TaskDefinition;

/// The format version this build writes and reads.
pub const SAVED_PLAN_FORMAT: u32 = 1;

/// The largest saved plan `deploy --plan` reads: room for a thousand services whose task
/// definitions are each at ECS's 64 KiB maximum (a typical one is 2 KiB).
pub const SAVED_PLAN_LIMIT: u64 = 64 * 1024 * 1024;

/// A whole saved plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    /// [`SAVED_PLAN_FORMAT`]; first, so a reader of the text sees it first too.
    pub format: u32,
    /// The git commit the plan was made from.
    pub commit: String,
    /// [`plan_digest`] over every service of every tenant.
    pub digest: String,
    pub tenants: Vec<SavedTenant>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedTenant {
    pub tenant: String,
    pub account_id: String,
    pub region: String,
    pub inputs: Inputs,
    pub services: Vec<SavedService>,
}

/// The version of every input read for a tenant, so a deploy can refuse when one moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// SSM parameter, as referenced (`name` or `name:version`) → version read.
    pub ssm: BTreeMap<String, u64>,
    /// Secret parameter, as referenced → version read (never its value).
    pub secrets: BTreeMap<String, u64>,
    /// `env_from` path → parameter name → version read.
    pub paths: BTreeMap<String, BTreeMap<String, u64>>,
    /// Stack → output key → value read.
    pub stack_outputs: BTreeMap<String, BTreeMap<String, String>>,
}

impl Inputs {
    /// The versions (and stack outputs) a tenant's lookups read: what a saved plan records.
    pub fn from_lookups(l: &crate::resolve::Lookups) -> Self {
        Self {
            ssm: l
                .ssm
                .iter()
                .map(|((n, pin), p)| {
                    (
                        pin.map_or_else(|| n.clone(), |v| format!("{n}:{v}")),
                        p.version,
                    )
                })
                .collect(),
            secrets: l
                .secret_versions
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            paths: l
                .paths
                .iter()
                .map(|(k, ps)| {
                    (
                        k.clone(),
                        ps.iter().map(|p| (p.name.clone(), p.version)).collect(),
                    )
                })
                .collect(),
            stack_outputs: l
                .stack_outputs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Every input that differs between this (a plan's) and `now`, in both directions: one
    /// read now that the plan did not have, and one the plan had that is gone.
    pub fn moved(&self, now: &Inputs) -> Vec<String> {
        fn diff<V: PartialEq>(
            a: &BTreeMap<String, V>,
            b: &BTreeMap<String, V>,
            mut say: impl FnMut(&str, Option<&V>, Option<&V>) -> String,
        ) -> Vec<String> {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| say(k, a.get(k), b.get(k)))
                .collect()
        }
        let version = |v: Option<&u64>| v.map_or_else(|| "absent".to_owned(), u64::to_string);
        let mut out = diff(&self.ssm, &now.ssm, |k, was, is| {
            format!("{k} is at version {} (plan: {})", version(is), version(was))
        });
        out.extend(diff(&self.secrets, &now.secrets, |k, was, is| {
            format!(
                "secret {k} is at version {} (plan: {})",
                version(is),
                version(was)
            )
        }));
        out.extend(diff(&self.paths, &now.paths, |k, _, _| {
            format!("parameters under {k} changed")
        }));
        out.extend(diff(&self.stack_outputs, &now.stack_outputs, |k, _, _| {
            format!("outputs of stack {k} changed")
        }));
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedService {
    pub service: String,
    pub ecs_service: String,
    pub cluster: String,
    pub desired_count: crate::dsl::DesiredCount,
    pub release: String,
    /// [`DesiredService::digest`].
    pub digest: String,
    /// The task definition's canonical JSON, parsed (fields in model order).
    pub task_definition: Value,
    /// The `before_deploy` hook the plan runs, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_deploy: Option<crate::dsl::Hook>,
}

impl SavedService {
    /// The saved form of a desired service (its tenant, account and region go into the
    /// enclosing [`SavedTenant`]).
    pub fn from_desired(d: &DesiredService) -> Self {
        Self {
            service: d.service.clone(),
            ecs_service: d.ecs_service.clone(),
            cluster: d.cluster.clone(),
            desired_count: d.desired_count,
            release: d.release.clone(),
            digest: d.digest(),
            // Cannot fail: the model always serialises (see `to_canonical_json`), and
            // with `preserve_order` the value keeps the model's field order.
            task_definition: serde_json::to_value(&d.task_definition)
                .expect("task definition model always serialises to JSON"),
            before_deploy: d.before_deploy.clone(),
        }
    }

    /// The desired state this entry saved, for deploying it. `at` is the entry's path
    /// in the file, for the error.
    fn desired_at(&self, tenant: &SavedTenant, at: &str) -> Result<DesiredService, PlanFileError> {
        let task_definition: TaskDefinition =
            serde_path_to_error::deserialize(&self.task_definition).map_err(|e| {
                let inner = e.path().to_string();
                PlanFileError::Invalid {
                    path: if inner == "." {
                        format!("{at}.task_definition")
                    } else {
                        format!("{at}.task_definition.{inner}")
                    },
                    message: e.into_inner().to_string(),
                }
            })?;
        Ok(DesiredService {
            tenant: tenant.tenant.clone(),
            account_id: tenant.account_id.clone(),
            region: tenant.region.clone(),
            cluster: self.cluster.clone(),
            service: self.service.clone(),
            ecs_service: self.ecs_service.clone(),
            desired_count: self.desired_count,
            release: self.release.clone(),
            task_definition,
            before_deploy: self.before_deploy.clone(),
        })
    }

    /// The desired state this entry saved, for deploying it.
    pub fn desired(&self, tenant: &SavedTenant) -> Result<DesiredService, PlanFileError> {
        self.desired_at(tenant, &format!("{}/{}", tenant.tenant, self.service))
    }
}

impl SavedPlan {
    /// A plan of `tenants` made from `commit`, with its digest computed.
    pub fn new(commit: impl Into<String>, tenants: Vec<SavedTenant>) -> Self {
        let digest = Self::digest_of(&tenants);
        Self {
            format: SAVED_PLAN_FORMAT,
            commit: commit.into(),
            digest,
            tenants,
        }
    }

    fn digest_of(tenants: &[SavedTenant]) -> String {
        let entries: Vec<(&str, &str, &str)> = tenants
            .iter()
            .flat_map(|t| {
                t.services
                    .iter()
                    .map(|s| (t.tenant.as_str(), s.service.as_str(), s.digest.as_str()))
            })
            .collect();
        plan_digest(&entries)
    }

    /// Pretty JSON (two-space indent) with a trailing newline.
    pub fn to_json(&self) -> String {
        // Cannot fail: maps are keyed by String and no member has a fallible Serialize.
        let mut out =
            serde_json::to_string_pretty(self).expect("saved plan always serialises to JSON");
        out.push('\n');
        out
    }

    /// Reads a saved plan: JSON, then the format version, then every field, then every
    /// digest against what it digests. Never panics, whatever `text` is.
    pub fn from_json(text: &str) -> Result<Self, PlanFileError> {
        if text.trim().is_empty() {
            return Err(PlanFileError::Empty);
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            if e.is_eof() {
                PlanFileError::Truncated {
                    line: e.line(),
                    column: e.column(),
                }
            } else {
                PlanFileError::NotJson {
                    line: e.line(),
                    column: e.column(),
                    message: without_position(&e),
                }
            }
        })?;
        let Value::Object(fields) = &value else {
            return Err(PlanFileError::NotAPlan);
        };
        match fields.get("format") {
            None => return Err(PlanFileError::MissingFormat),
            Some(v) if v.as_u64() == Some(u64::from(SAVED_PLAN_FORMAT)) => {}
            Some(v) => {
                return Err(PlanFileError::UnsupportedFormat {
                    found: v.to_string(),
                });
            }
        }
        let plan: Self =
            serde_path_to_error::deserialize(value).map_err(|e| PlanFileError::Invalid {
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
        plan.verify()?;
        Ok(plan)
    }

    /// Checks that every service's digest matches its contents and the plan's digest
    /// matches the services'.
    pub fn verify(&self) -> Result<(), PlanFileError> {
        for (i, t) in self.tenants.iter().enumerate() {
            for (j, s) in t.services.iter().enumerate() {
                let at = format!("tenants[{i}].services[{j}]");
                let desired = s.desired_at(t, &at)?;
                if desired.digest() != s.digest {
                    return Err(PlanFileError::DigestMismatch {
                        what: format!("{}/{} ({at})", t.tenant, s.service),
                    });
                }
            }
        }
        if Self::digest_of(&self.tenants) != self.digest {
            return Err(PlanFileError::DigestMismatch {
                what: "the plan digest".to_owned(),
            });
        }
        Ok(())
    }
}

/// serde_json appends " at line L column C" to its messages; we report the position in
/// our own words.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

/// Why a saved plan could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanFileError {
    Empty,
    /// The JSON stops before it is complete.
    Truncated {
        line: usize,
        column: usize,
    },
    NotJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON, but not an object.
    NotAPlan,
    MissingFormat,
    /// `found` as it appears in the file (`2`, `"1"`, ...).
    UnsupportedFormat {
        found: String,
    },
    /// A field is missing, unknown or of the wrong type. `path` in
    /// `serde_path_to_error` notation (`tenants[0].services[1].digest`, `.` the root).
    Invalid {
        path: String,
        message: String,
    },
    /// A digest does not match what it digests: the file was edited or damaged.
    DigestMismatch {
        what: String,
    },
}

impl fmt::Display for PlanFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the plan file is empty"),
            Self::Truncated { line, column } => write!(
                f,
                "the plan file ends too early (line {line}, column {column}): it is truncated"
            ),
            Self::NotJson {
                line,
                column,
                message,
            } => write!(
                f,
                "the plan file is not valid JSON: {message} (line {line}, column {column})"
            ),
            Self::NotAPlan => f.write_str(
                "the plan file is JSON but not a saved plan: expected an object with `format`, `commit`, `digest` and `tenants`",
            ),
            Self::MissingFormat => f.write_str(
                "the plan file has no `format` field: it was not written by `stamp plan --out`",
            ),
            Self::UnsupportedFormat { found } => write!(
                f,
                "the plan file has format {found}, but this stamp reads format {SAVED_PLAN_FORMAT}"
            ),
            Self::Invalid { path, message } => {
                write!(f, "the plan file is invalid at `{path}`: {message}")
            }
            Self::DigestMismatch { what } => write!(
                f,
                "the plan file does not match its digests: {what} was changed after the plan was made"
            ),
        }
    }
}

impl std::error::Error for PlanFileError {}

#[cfg(test)]
// The crate warns on `unwrap`; in tests a panic is exactly the failure report we want.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn moved_inputs_are_found_in_both_directions() {
        let mut plan = Inputs::default();
        plan.ssm.insert("/a".into(), 1);
        plan.ssm.insert("/gone".into(), 3);
        plan.secrets.insert("/s".into(), 1);
        let mut now = plan.clone();
        assert!(plan.moved(&now).is_empty());
        now.ssm.insert("/a".into(), 2);
        now.ssm.remove("/gone");
        now.secrets.insert("/new".into(), 1);
        assert_eq!(
            plan.moved(&now),
            vec![
                "/a is at version 2 (plan: 1)".to_owned(),
                "/gone is at version absent (plan: 3)".to_owned(),
                "secret /new is at version 1 (plan: absent)".to_owned(),
            ]
        );
    }
    use crate::render::taskdef::parse;
    use proptest::prelude::*;

    fn desired(tenant: &str, service: &str, env: &str) -> DesiredService {
        let mut td = parse(
            r#"{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app",
                "image": "acme/app:r1", "portMappings": [{"containerPort": 80}],
                "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"}]}]}"#,
        )
        .unwrap();
        td.container_definitions[0].set_env_var("VALUE", env);
        DesiredService {
            tenant: tenant.to_owned(),
            account_id: "123456789012".to_owned(),
            region: "eu-west-1".to_owned(),
            cluster: tenant.to_owned(),
            service: service.to_owned(),
            ecs_service: format!("{tenant}-{service}"),
            desired_count: crate::dsl::DesiredCount::Fixed(2),
            release: "r1".to_owned(),
            task_definition: td,
            before_deploy: None,
        }
    }

    fn plan_with(commit: &str, env: &str) -> SavedPlan {
        let tenant = |name: &str| SavedTenant {
            tenant: name.to_owned(),
            account_id: "123456789012".to_owned(),
            region: "eu-west-1".to_owned(),
            inputs: Inputs {
                ssm: BTreeMap::from([("/acme/log".to_owned(), 3), ("/acme/x:2".to_owned(), 2)]),
                secrets: BTreeMap::from([("/acme/db".to_owned(), 7)]),
                paths: BTreeMap::from([(
                    "/acme/env/".to_owned(),
                    BTreeMap::from([("/acme/env/A".to_owned(), 1)]),
                )]),
                stack_outputs: BTreeMap::from([(
                    "net".to_owned(),
                    BTreeMap::from([("Subnet".to_owned(), "subnet-1".to_owned())]),
                )]),
            },
            services: vec![
                SavedService::from_desired(&desired(name, "api", env)),
                SavedService::from_desired(&desired(name, "worker", env)),
            ],
        };
        SavedPlan::new(commit, vec![tenant("acme"), tenant("globex")])
    }

    fn plan() -> SavedPlan {
        plan_with("0123abc", "info")
    }

    #[test]
    fn round_trip_gives_the_same_plan_and_bytes() {
        let p = plan();
        let text = p.to_json();
        assert!(text.ends_with("}\n"));
        assert!(text.starts_with("{\n  \"format\": 1,\n  \"commit\": \"0123abc\",\n"));
        let back = SavedPlan::from_json(&text).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.to_json(), text);
        // The task definition keeps the model's field order, not an alphabetical one.
        let td = text.find("\"family\"").unwrap();
        assert!(td < text.find("\"networkMode\"").unwrap());
        assert!(
            text.find("\"networkMode\"").unwrap() < text.find("\"containerDefinitions\"").unwrap()
        );
        // The saved entry gives back the desired state it was made from.
        let t = &back.tenants[0];
        assert_eq!(
            t.services[0].desired(t).unwrap(),
            desired("acme", "api", "info")
        );
    }

    #[test]
    fn no_secret_value_only_arns() {
        let text = plan().to_json();
        assert!(text.contains("arn:aws:ssm:eu-west-1:123456789012:parameter/db"));
    }

    #[test]
    fn a_truncated_file_says_so() {
        let text = plan().to_json();
        let err = SavedPlan::from_json(&text[..text.len() / 2]).unwrap_err();
        assert!(matches!(err, PlanFileError::Truncated { .. }), "{err:?}");
        assert!(err.to_string().contains("truncated"), "{err}");
        assert_eq!(SavedPlan::from_json("").unwrap_err(), PlanFileError::Empty);
        assert_eq!(
            SavedPlan::from_json(" \n").unwrap_err(),
            PlanFileError::Empty
        );
    }

    #[test]
    fn a_wrong_format_is_refused_before_any_field() {
        let text = plan().to_json().replace("\"format\": 1,", "\"format\": 2,");
        let err = SavedPlan::from_json(&text).unwrap_err();
        assert_eq!(
            err,
            PlanFileError::UnsupportedFormat {
                found: "2".to_owned()
            }
        );
        assert!(err.to_string().contains("format 2"), "{err}");
        // Even when the rest would not parse as this version's plan.
        let err = SavedPlan::from_json(r#"{"format": "1", "other": true}"#).unwrap_err();
        assert_eq!(
            err,
            PlanFileError::UnsupportedFormat {
                found: "\"1\"".to_owned()
            }
        );
        assert_eq!(
            SavedPlan::from_json(r#"{"commit": "x"}"#).unwrap_err(),
            PlanFileError::MissingFormat
        );
        assert_eq!(
            SavedPlan::from_json("[1]").unwrap_err(),
            PlanFileError::NotAPlan
        );
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        let p = plan();
        let mut value = serde_json::to_value(&p).unwrap();
        value["tenants"][1]["services"][0]
            .as_object_mut()
            .unwrap()
            .remove("digest");
        let err = SavedPlan::from_json(&value.to_string()).unwrap_err();
        let PlanFileError::Invalid { path, message } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(path, "tenants[1].services[0]");
        assert!(message.contains("missing field `digest`"), "{message}");
        assert!(err.to_string().contains("tenants[1].services[0]"), "{err}");

        // Inside a task definition, the path continues into it.
        let mut value = serde_json::to_value(&p).unwrap();
        value["tenants"][0]["services"][1]["task_definition"]["containerDefinitions"][0]["portMappings"] =
            serde_json::json!("80");
        let err = SavedPlan::from_json(&value.to_string()).unwrap_err();
        let PlanFileError::Invalid { path, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(
            path,
            "tenants[0].services[1].task_definition.containerDefinitions[0].portMappings"
        );
    }

    #[test]
    fn other_damage_is_named() {
        let text = plan().to_json();
        let err = SavedPlan::from_json(&format!("{text}x")).unwrap_err();
        assert!(matches!(err, PlanFileError::NotJson { .. }), "{err:?}");
        let err = SavedPlan::from_json(&text.replacen("\"commit\"", "\"comit\"", 1)).unwrap_err();
        assert!(
            matches!(&err, PlanFileError::Invalid { message, .. } if message.contains("unknown field `comit`")),
            "{err:?}"
        );
    }

    #[test]
    fn an_edited_plan_is_refused() {
        let text = plan().to_json();
        // The image of one service, without updating its digest.
        let edited = text.replacen("acme/app:r1", "acme/app:evil", 1);
        let err = SavedPlan::from_json(&edited).unwrap_err();
        assert_eq!(
            err,
            PlanFileError::DigestMismatch {
                what: "acme/api (tenants[0].services[0])".to_owned()
            }
        );
        // A service dropped from the plan, every remaining digest intact.
        let mut p = plan();
        p.tenants[1].services.pop();
        let err = SavedPlan::from_json(&p.to_json()).unwrap_err();
        assert_eq!(
            err,
            PlanFileError::DigestMismatch {
                what: "the plan digest".to_owned()
            }
        );
    }

    #[test]
    fn the_plan_digest_ignores_tenant_order() {
        let mut p = plan();
        p.tenants.reverse();
        assert_eq!(
            SavedPlan::new(p.commit.clone(), p.tenants).digest,
            plan().digest
        );
    }

    proptest! {
        #[test]
        fn any_prefix_parses_to_the_same_plan_or_errors(
            commit in "[0-9a-f]{0,40}",
            env in "\\PC{0,20}",
            cut in 0.0f64..=1.0,
        ) {
            let p = plan_with(&commit, &env);
            let text = p.to_json();
            // A byte position at or below the cut that is a char boundary.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let mut end = (text.len() as f64 * cut) as usize;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            match SavedPlan::from_json(&text[..end]) {
                Ok(back) => prop_assert_eq!(back, p),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn every_prefix_of_a_small_plan_is_handled() {
        // Exhaustive over one plan, to be sure no cut position is missed.
        let p = plan();
        let text = p.to_json();
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            match SavedPlan::from_json(&text[..end]) {
                Ok(back) => assert_eq!(back, p, "prefix of {end} bytes"),
                Err(e) => assert!(end + 1 < text.len(), "{end}: {e}"),
            }
        }
    }
}
