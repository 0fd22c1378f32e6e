//! A generated fleet for the fault, kill and timeout tests: N tenants × M services, every tenant
//! always open (UTC, no windows), every service reading one SecureString whose value is a
//! unique canary (so a test can grep everything stamp printed for it) and one String.
//!
//! The layout follows the benchmark generator's (`gen_fleet.py`), which `stamp_moto.seed`
//! reads; it lives here so the tests need nothing outside the repository. Seeded services run a
//! first revision with release `v0.0.0-seed`, the fleet says `v1.0.0`: every service changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const TEMPLATE: &str = r#"{
  "family": "{{ tenant.name }}-{{ service.name }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "{{ service.cpu }}",
  "memory": "{{ service.memory }}",
  "executionRoleArn": "arn:aws:iam::{{ tenant.account_id }}:role/ecsTaskExecutionRole",
  "containerDefinitions": [
    {
      "name": "app",
      "image": "{{ image }}",
      "essential": true,
      "portMappings": [{ "containerPort": {{ service.vars.port }}, "protocol": "tcp" }],
      "environment": [{ "name": "SERVICE_NAME", "value": "{{ service.name }}" }]
    }
  ],
  "tags": [{ "key": "tenant", "value": "{{ tenant.name }}" }]
}
"#;

/// A generated fleet on disk (to be seeded with `Emulator::fresh_fleet`), removed on drop.
pub struct GenFleet {
    dir: tempfile::TempDir,
    pub params: PathBuf,
    pub tenants: Vec<String>,
    pub services: Vec<String>,
    /// Every SecureString value of the fleet.
    pub canaries: Vec<String>,
}

impl GenFleet {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// How many tenant services the fleet has.
    pub fn size(&self) -> usize {
        self.tenants.len() * self.services.len()
    }
}

/// `tenants` × `services`; the first tenant is the canary ring, the others stable.
pub fn generate(tenants: usize, services: usize) -> GenFleet {
    generate_rings(tenants, services, true)
}

/// As [`generate`], every tenant in the stable ring: one wave, so all tenants deploy at once.
pub fn generate_one_wave(tenants: usize, services: usize) -> GenFleet {
    generate_rings(tenants, services, false)
}

fn generate_rings(tenants: usize, services: usize, canary: bool) -> GenFleet {
    let dir = tempfile::Builder::new()
        .prefix("stamp-genfleet-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create generated fleet dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("tenants")).expect("mkdir tenants");
    std::fs::create_dir_all(root.join("templates")).expect("mkdir templates");
    std::fs::write(root.join("templates/app.json.j2"), TEMPLATE).expect("write template");

    let service_names: Vec<String> = (0..services).map(|i| format!("svc{i}")).collect();
    let mut d = String::from(
        r#"[project]
name  = "faults"
image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/faults"
rings = ["canary", "stable"]

[tenant]
region       = "us-east-1"
cluster      = "{tenant}-faults"
deploy_role  = "arn:aws:iam::{account_id}:role/stamp-deploy"
inspect_role = "arn:aws:iam::{account_id}:role/stamp-readonly"
ring         = "stable"
release      = "v1.0.0"

[schedule]
timezone = "UTC"
windows  = []

[env]
LOG_LEVEL = "info"
"#,
    );
    for (i, s) in service_names.iter().enumerate() {
        d.push_str(&format!(
            "\n[services.{s}]\ntemplate      = \"app.json.j2\"\ndesired_count = 2\ncpu           = 256\nmemory        = 512\nvars          = {{ port = {} }}\n",
            8000 + i
        ));
    }
    std::fs::write(root.join("tenants/_defaults.toml"), d).expect("write defaults");

    // Unique per generation, so a canary found in output cannot come from another test.
    let salt = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or(0)
        ^ u128::from(std::process::id());
    let mut params: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut canaries = Vec::new();
    let mut tenant_names = Vec::new();
    for t in 0..tenants {
        let name = format!("f{t:02}");
        let account = format!("{}", 510_000_000_000u64 + t as u64);
        let ring = if t == 0 && canary { "canary" } else { "stable" };
        let mut text = format!("[tenant]\naccount_id = \"{account}\"\nring       = \"{ring}\"\n");
        let mut p = serde_json::Map::new();
        for s in &service_names {
            let secret = format!("/faults/{name}/{s}/db_password");
            let plain = format!("/faults/{name}/{s}/api_url");
            text.push_str(&format!(
                "\n[services.{s}.env]\nDB_PASSWORD = {{ secret = \"{secret}\" }}\nAPI_URL     = {{ ssm = \"{plain}\" }}\n"
            ));
            let canary = format!("canary-{name}-{s}-{:x}", salt % (1 << 48));
            p.insert(
                secret,
                serde_json::json!({ "type": "SecureString", "value": canary }),
            );
            p.insert(
                plain,
                serde_json::json!({ "type": "String", "value": format!("https://{name}.example/{s}") }),
            );
            canaries.push(canary);
        }
        std::fs::write(root.join(format!("tenants/{name}.toml")), text).expect("write tenant");
        params.insert(account, serde_json::Value::Object(p));
        tenant_names.push(name);
    }
    let params_path = root.join("params.json");
    std::fs::write(
        &params_path,
        serde_json::to_vec_pretty(&params).expect("serialise params"),
    )
    .expect("write params");
    GenFleet {
        dir,
        params: params_path,
        tenants: tenant_names,
        services: service_names,
        canaries,
    }
}
