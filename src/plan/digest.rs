//! Digests of the desired state: one per service ([`DesiredService::digest`]) and one per plan ([`plan_digest`]); pure, no I/O.
//!
//! A digest is the promise "same commit + same parameter versions ⇒ same bytes ⇒ same
//! digest, on every machine". So what is hashed is built only from the inputs:
//! serde's struct field order (fixed at compile time), `BTreeMap`s inside the task
//! definition model (sorted keys), and compact JSON (no indentation, no platform line
//! endings). Nothing from the environment, the clock, the locale or a `HashMap` enters.

use sha2::{Digest, Sha256};

use super::DesiredService;

impl DesiredService {
    /// Lowercase hex sha256 of the compact JSON of `self`: fields in declaration order,
    /// the task definition in its canonical field order (the same rules as
    /// [`crate::render::taskdef::TaskDefinition::to_canonical_json`], compact instead
    /// of pretty). The task definition is hashed as rendered, not normalised: the
    /// digest names exactly what would be registered.
    pub fn digest(&self) -> String {
        sha256_hex(&self.canonical_bytes())
    }

    /// The bytes [`DesiredService::digest`] hashes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Cannot fail, for the same reason as `TaskDefinition::to_canonical_json`: every
        // map is keyed by String and no member has a fallible `Serialize`.
        serde_json::to_vec(self).expect("desired service always serialises to JSON")
    }
}

/// The digest of a whole plan: sha256 over the lines `tenant/service digest\n`, sorted,
/// so the order in which tenants are listed or processed never changes it.
pub fn plan_digest(services: &[(&str, &str, &str)]) -> String {
    let mut lines: Vec<String> = services
        .iter()
        .map(|(tenant, service, digest)| format!("{tenant}/{service} {digest}\n"))
        .collect();
    lines.sort_unstable();
    sha256_hex(lines.concat().as_bytes())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
// The crate warns on `unwrap`; in tests a panic is exactly the failure report we want.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::taskdef::parse;

    fn small() -> DesiredService {
        DesiredService {
            tenant: "acme".to_owned(),
            account_id: "123456789012".to_owned(),
            region: "eu-west-1".to_owned(),
            cluster: "acme".to_owned(),
            service: "api".to_owned(),
            ecs_service: "acme-api".to_owned(),
            desired_count: crate::dsl::DesiredCount::Fixed(2),
            release: "2024.06".to_owned(),
            task_definition: parse(
                r#"{"family": "acme-api", "containerDefinitions": [{"name": "api",
                    "image": "acme/api:2024.06", "environment": [{"name": "LOG", "value": "info"}],
                    "dockerLabels": {"z": "1", "a": "2"}}]}"#,
            )
            .unwrap(),
            before_deploy: None,
        }
    }

    #[test]
    fn the_canonical_form_is_pinned() {
        // If this fails, the serialisation changed and so did the digest of every
        // service of every fleet: every tenant will show as changed on the next plan,
        // and saved plans stop verifying. Change the expected values only on purpose.
        let d = small();
        assert_eq!(
            String::from_utf8(d.canonical_bytes()).unwrap(),
            concat!(
                r#"{"tenant":"acme","account_id":"123456789012","region":"eu-west-1","#,
                r#""cluster":"acme","service":"api","ecs_service":"acme-api","desired_count":2,"#,
                r#""release":"2024.06","task_definition":{"family":"acme-api","#,
                r#""containerDefinitions":[{"name":"api","image":"acme/api:2024.06","#,
                r#""environment":[{"name":"LOG","value":"info"}],"dockerLabels":{"a":"2","z":"1"}}]}}"#
            )
        );
        assert_eq!(d.digest(), PINNED);
        assert_eq!(d.digest(), small().digest());
    }

    const PINNED: &str = "fc3fb37d8d6b403afe3864aba0cda3ed62a804e014e7c4f6e9e56f2e39f7c6e9";

    #[test]
    fn any_single_field_changes_the_digest() {
        let base = small().digest();
        type Edit = fn(&mut DesiredService);
        let variants: Vec<(&str, Edit)> = vec![
            ("tenant", |d| d.tenant.push('x')),
            ("account_id", |d| d.account_id = "210987654321".to_owned()),
            ("region", |d| d.region = "us-east-1".to_owned()),
            ("cluster", |d| d.cluster.push('x')),
            ("service", |d| d.service.push('x')),
            ("ecs_service", |d| d.ecs_service.push('x')),
            ("desired_count", |d| {
                d.desired_count = crate::dsl::DesiredCount::Fixed(3)
            }),
            ("release", |d| d.release = "2024.07".to_owned()),
            ("env value", |d| {
                d.task_definition.container_definitions[0].set_env_var("LOG", "debug");
            }),
            ("image", |d| {
                d.task_definition.container_definitions[0].image = Some("acme/api:x".to_owned());
            }),
        ];
        for (what, change) in variants {
            let mut d = small();
            change(&mut d);
            assert_ne!(d.digest(), base, "changing {what} left the digest alone");
        }
    }

    #[test]
    fn digest_is_lowercase_hex_sha256() {
        let d = small().digest();
        assert_eq!(d.len(), 64);
        assert!(d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        // The known sha256 of the empty input, to pin the hash function and the hex.
        assert_eq!(
            plan_digest(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn plan_digest_ignores_input_order() {
        let a = [
            ("acme", "api", "11"),
            ("acme", "worker", "22"),
            ("globex", "api", "33"),
        ];
        let mut b = a;
        b.reverse();
        let c = [a[1], a[2], a[0]];
        assert_eq!(plan_digest(&a), plan_digest(&b));
        assert_eq!(plan_digest(&a), plan_digest(&c));
        // But not the pairing of service and digest.
        let swapped = [
            ("acme", "api", "22"),
            ("acme", "worker", "11"),
            ("globex", "api", "33"),
        ];
        assert_ne!(plan_digest(&a), plan_digest(&swapped));
        assert_ne!(plan_digest(&a), plan_digest(&a[..2]));
    }
}
