//! `--instance ID`: one more copy of a tenant in the same account (two CI pipelines testing
//! the same ephemeral tenant at once). Every name stamp makes or addresses in the account
//! carries the suffix `-ID`: the cluster, the stacks, the ECS services, the task definition
//! families (added when rendering) and so the lock parameters, which are named after them.
//! A stack template names its own resources: stamp passes it the suffix as the parameter
//! [`STACK_PARAMETER`], and refuses `--instance` for a template that does not declare it.
//!
//! Pure: it only rewrites loaded tenants; it never reads AWS.

use std::sync::Arc;

use super::fleet::{Fleet, InfraLayer};
use super::model::{EnvEntry, ValueSpec};
use super::{Loc, Tenant};

/// The stack parameter that receives the suffix (`-ID`, or its `Default` without `--instance`).
pub const STACK_PARAMETER: &str = "StampInstance";

/// What a refused id is followed by.
pub const HINT: &str = "e.g. --instance $CIRCLE_WORKFLOW_ID (a UUID), or pr-42";

/// The longest instance id. A CircleCI workflow id (a UUID, 36 characters) fits; with it, the
/// longest name the example fleet derives, IAM role `shop-task-execution-ID`, stays within
/// IAM's 64 characters, and stack (128), cluster, service and family names (255) keep ample
/// room. Each derived name is checked against its own limit as well ([`apply`]).
pub const MAX_LEN: usize = 36;

/// AWS's limits on the names the suffix lengthens.
const STACK_NAME_MAX: usize = 128;
const ECS_NAME_MAX: usize = 255;

/// Lower-case letters, digits and `-`, starting with a letter or digit, at most [`MAX_LEN`]:
/// what every name that carries it (stack, cluster, service, family, IAM role, log group,
/// SSM path) accepts.
pub fn check(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_LEN {
        return Err(format!(
            "--instance `{id}`: it must have 1 to {MAX_LEN} characters"
        ));
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(format!(
            "--instance `{id}`: it must start with a lower-case letter or a digit"
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "--instance `{id}`: only lower-case letters, digits and `-` are allowed (every stack, cluster, service, family and role name carries it)"
        ));
    }
    Ok(())
}

/// The suffix names carry: `-ID`.
pub fn suffix(id: &str) -> String {
    format!("-{id}")
}

/// Rewrites every tenant of the fleet to its instance `id`; an error names the first name that
/// would break an AWS limit.
pub fn apply(fleet: &mut Fleet, id: &str) -> Result<(), String> {
    check(id)?;
    for t in &mut fleet.tenants {
        with_instance(t, id)?;
    }
    Ok(())
}

fn with_instance(t: &mut Tenant, id: &str) -> Result<(), String> {
    let sfx = suffix(id);
    let long = |what: &str, name: &str, max: usize| {
        Err(format!(
            "--instance `{id}` makes {what} `{name}` {} characters long; AWS allows {max}: use a shorter id",
            name.len()
        ))
    };
    t.cluster.push_str(&sfx);
    if t.cluster.len() > ECS_NAME_MAX {
        return long("the cluster name", &t.cluster, ECS_NAME_MAX);
    }
    for s in &mut t.services {
        s.ecs_service.push_str(&sfx);
        if s.ecs_service.len() > ECS_NAME_MAX {
            return long("the ECS service name", &s.ecs_service, ECS_NAME_MAX);
        }
    }
    let at = Loc::top(Arc::from("--instance"));
    for s in &mut t.infra {
        s.stack_name.push_str(&sfx);
        if s.stack_name.len() > STACK_NAME_MAX {
            return long("the stack name", &s.stack_name, STACK_NAME_MAX);
        }
        s.parameters.push((
            InfraLayer::Instance,
            Arc::new(vec![EnvEntry {
                name: STACK_PARAMETER.to_owned(),
                spec: ValueSpec::Literal { value: sfx.clone() },
                at: at.clone(),
            }]),
        ));
    }
    t.instance = Some(id.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_an_instance_and_odd_ids_are_refused() {
        assert!(check("0b7d4a5e-2f7c-4f0e-9d3c-8d1f2e3a4b5c").is_ok());
        assert!(check("pr-42").is_ok());
        for bad in [
            "",
            "-x",
            "Pr42",
            "a_b",
            "a.b",
            "a/b",
            &"x".repeat(MAX_LEN + 1),
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_name_of_the_example_tenant_carries_the_instance() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut fleet = crate::dsl::load(root).expect("example fleet");
        apply(&mut fleet, "ci7").expect("instance");
        let t = fleet
            .tenants
            .iter()
            .find(|t| t.name == "acme")
            .expect("acme");
        assert_eq!(t.cluster, "acme-shop-ci7");
        assert_eq!(t.instance.as_deref(), Some("ci7"));
        for s in &t.services {
            assert!(s.ecs_service.ends_with("-ci7"), "{}", s.ecs_service);
        }
        let app = t.stack("app").expect("app stack");
        assert_eq!(app.stack_name, "acme-app-ci7");
        let (layer, last) = app.parameters.last().expect("instance layer");
        assert_eq!(*layer, InfraLayer::Instance);
        assert_eq!(last[0].name, STACK_PARAMETER);
    }

    #[test]
    fn a_name_past_its_aws_limit_is_refused() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut fleet = crate::dsl::load(root).expect("example fleet");
        fleet.tenants[0].infra[0].stack_name = "s".repeat(100);
        let e = apply(&mut fleet, &"a".repeat(MAX_LEN)).expect_err("too long");
        assert!(e.contains("the stack name") && e.contains("128"), "{e}");
    }
}
