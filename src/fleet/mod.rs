//! Fleet orchestration decisions, pure: which tenants a CI shard owns, the ring-by-ring waves,
//! whether a tenant's schedule lets it deploy at a given instant, when failures stop a rollout,
//! and the deploy summary. No I/O, no clock (every instant is an argument), no AWS.
//!
//! `commands` run the deploy; this module only decides, so every rule of DESIGN §4 can be
//! tested without a network or a clock.

mod gate;
mod select;
mod summary;

pub use gate::{Gate, Overrides, Tolerance, gate};
pub use select::{Shard, Wave, shard, waves};
pub use summary::{Outcome, Row, Summary};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod testing {
    //! A small fleet on disk, loaded through `crate::dsl::load`, so tests use real `Tenant`s.

    use crate::dsl::{Fleet, load};

    /// `(name, ring, [schedule] body)` per tenant; rings are `canary`, `early`, `stable`.
    pub(crate) fn fleet(tenants: &[(&str, &str, &str)]) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("tenants")).unwrap();
        std::fs::create_dir_all(root.join("templates")).unwrap();
        std::fs::write(
            root.join("templates/api.json.j2"),
            r#"{"family": "{{ tenant }}-api", "containerDefinitions": []}"#,
        )
        .unwrap();
        std::fs::write(
            root.join("tenants/_defaults.toml"),
            r#"
[project]
name  = "shop"
image = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/shop"
rings = ["canary", "early", "stable"]

[tenant]
region       = "ap-northeast-1"
cluster      = "{tenant}-shop"
deploy_role  = "arn:aws:iam::{account_id}:role/stamp-deploy"
inspect_role = "arn:aws:iam::{account_id}:role/stamp-readonly"
ring         = "stable"
release      = "v1.0.0"

[schedule]
timezone = "UTC"
windows  = []

[services.api]
template      = "api.json.j2"
desired_count = 1
"#,
        )
        .unwrap();
        for (i, (name, ring, schedule)) in tenants.iter().enumerate() {
            std::fs::write(
                root.join(format!("tenants/{name}.toml")),
                format!(
                    "[tenant]\naccount_id = \"{:012}\"\nring = \"{ring}\"\n\n[schedule]\n{schedule}\n",
                    100_000_000_000u64 + i as u64
                ),
            )
            .unwrap();
        }
        match load(root) {
            Ok(f) => f,
            Err(d) => panic!("test fleet does not load: {d:?}"),
        }
    }
}
