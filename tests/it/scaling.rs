//! Autoscaled services against the emulator: a service with an Application Auto Scaling
//! target, or `desired_count = "auto"`, keeps the count the autoscaler (or a person) set
//! through a deploy; plan and status show it with the target's bounds and call it drift only
//! outside them.

use std::process::Stdio;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use serde_json::Value;

use crate::support::emulator::{Emulator, Fleet, example_fleet};
use crate::support::{Run, rt, run_command};

fn emu() -> &'static Emulator {
    Emulator::shared()
}

fn stamp(f: &Fleet, args: &[&str]) -> Run {
    let mut cmd = emu().command(env!("CARGO_BIN_EXE_stamp"));
    cmd.arg("--root")
        .arg(f.root())
        .args(args)
        .stdin(Stdio::null());
    let run = run_command(cmd);
    run.no_panic();
    run
}

fn set_count(f: &Fleet, service: &str, n: i32) {
    let u = f.tenant("umbrella").clone();
    rt().block_on(async {
        let cfg = emu()
            .sdk_config_for(&u.account_id, &u.region, "stamp-deploy")
            .await;
        aws_sdk_ecs::Client::new(&cfg)
            .update_service()
            .cluster(&u.cluster)
            .service(service)
            .desired_count(n)
            .send()
            .await
            .expect("UpdateService");
    });
}

fn live_count(f: &Fleet, service: &str) -> i32 {
    let u = f.tenant("umbrella").clone();
    rt().block_on(async {
        let cfg = emu()
            .sdk_config_for(&u.account_id, &u.region, "stamp-deploy")
            .await;
        emu()
            .describe_service(&cfg, &u.cluster, service)
            .await
            .desired
    })
}

fn service<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["tenants"][0]["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

#[test]
fn deploy_leaves_autoscaled_and_auto_counts_alone_and_status_calls_drift_only_outside_the_bounds() {
    let (root, params) = example_fleet();
    let f = emu().fresh_fleet(&root, &params);
    let u = f.tenant("umbrella").clone();
    // umbrella's api (desired_count = 3 in its file) gets a scalable target 2–10; its worker
    // says "auto" and runs what someone set.
    rt().block_on(async {
        let cfg = emu()
            .sdk_config_for(&u.account_id, &u.region, "stamp-deploy")
            .await;
        aws_sdk_applicationautoscaling::Client::new(&cfg)
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(format!("service/{}/api", u.cluster))
            .min_capacity(2)
            .max_capacity(10)
            .send()
            .await
            .expect("RegisterScalableTarget");
    });
    let path = f.root().join("tenants/umbrella.toml");
    let text = std::fs::read_to_string(&path).expect("read umbrella");
    std::fs::write(
        &path,
        text.replace(
            "[services.api]\n",
            "[services.worker]\ndesired_count = \"auto\"\n\n[services.api]\n",
        ),
    )
    .expect("write umbrella");
    set_count(&f, "api", 5);
    set_count(&f, "worker", 4);

    let run = stamp(
        &f,
        &[
            "deploy",
            "umbrella",
            "--yes",
            "--allow-dirty",
            "--release",
            "v1.43.0",
            "--poll-interval",
            "20ms",
            "--output",
            "json",
        ],
    );
    run.success();
    let rows = run.json()["rows"].clone();
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .all(|r| r["result"] == "deployed"),
        "{rows}"
    );
    assert_eq!(live_count(&f, "api"), 5, "the autoscaler's count stays");
    assert_eq!(live_count(&f, "worker"), 4, "an auto count stays");

    let plan = stamp(
        &f,
        &[
            "plan",
            "umbrella",
            "--release",
            "v1.43.0",
            "--output",
            "json",
        ],
    );
    plan.success();
    let doc = plan.json();
    let api = service(&doc, "api");
    assert_eq!(api["action"], "unchanged", "{doc}");
    assert_eq!(api["count"]["live"], 5);
    assert_eq!(api["count"]["scaling"]["min"], 2);
    assert_eq!(api["count"]["scaling"]["max"], 10);
    assert_eq!(service(&doc, "worker")["count"]["live"], 4);
    assert!(service(&doc, "worker")["count"]["scaling"].is_null());
    stamp(&f, &["plan", "umbrella", "--release", "v1.43.0"])
        .success()
        .stdout_has(&["count: 5 running, scaled 2–10 by Application Auto Scaling"]);

    let status = stamp(
        &f,
        &[
            "status",
            "umbrella",
            "--release",
            "v1.43.0",
            "--output",
            "json",
        ],
    );
    status.success();
    let doc = status.json();
    let api = service(&doc, "api");
    assert_eq!(api["state"], "in-sync", "{doc}");
    assert_eq!(api["live"]["scaling"]["max"], 10);
    assert_eq!(service(&doc, "worker")["state"], "in-sync", "{doc}");

    // Outside the bounds it is drift (status), which a deploy still leaves to the autoscaler.
    set_count(&f, "api", 12);
    let doc = stamp(
        &f,
        &[
            "status",
            "umbrella",
            "--release",
            "v1.43.0",
            "--output",
            "json",
        ],
    )
    .json();
    let api = service(&doc, "api");
    assert_eq!(api["state"], "drifted", "{doc}");
    assert_eq!(api["drift"], serde_json::json!(["desired_count"]), "{doc}");
}
