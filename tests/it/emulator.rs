//! Tests of the local AWS harness itself, through the Rust SDK against the real moto server:
//! account isolation, the ECS rollout simulation (complete, fail, hang, scale) and IAM
//! enforcement. stamp's own tests rely on exactly these behaviours.

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, DesiredStatus, NetworkMode};

use crate::support::emulator::{Emulator, Fleet, SeedOptions, example_fleet};

const DEPLOY: &str = "stamp-deploy";
const READONLY: &str = "stamp-readonly";

fn fleet_of(emu: &Emulator, tenants: &[&str]) -> Fleet {
    let (root, params) = example_fleet();
    let opts = SeedOptions {
        tenants: Some(tenants.iter().map(|t| (*t).to_owned()).collect()),
        services: true,
    };
    emu.fresh_fleet_with(&root, &params, &opts)
}

/// Register a new revision of `shop-api` running `image`; returns `family:revision`.
async fn register_api(cfg: &SdkConfig, image: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(cfg);
    let app = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .essential(true)
        .build();
    let td = ecs
        .register_task_definition()
        .family("shop-api")
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(app)
        .send()
        .await
        .expect("RegisterTaskDefinition")
        .task_definition
        .expect("task definition");
    format!("shop-api:{}", td.revision())
}

async fn update_api(cfg: &SdkConfig, cluster: &str, task_definition: &str) {
    aws_sdk_ecs::Client::new(cfg)
        .update_service()
        .cluster(cluster)
        .service("api")
        .task_definition(task_definition)
        .send()
        .await
        .expect("UpdateService");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_tenants_are_isolated_by_account() {
    let emu = Emulator::shared();
    let fleet = fleet_of(emu, &["acme", "globex"]);
    let (acme, globex) = (fleet.tenant("acme"), fleet.tenant("globex"));
    assert_ne!(acme.account_id, globex.account_id);

    let as_acme = emu
        .sdk_config_for(&acme.account_id, &globex.region, READONLY)
        .await;
    let as_globex = emu
        .sdk_config_for(&globex.account_id, &globex.region, READONLY)
        .await;

    let who = aws_sdk_sts::Client::new(&as_acme)
        .get_caller_identity()
        .send()
        .await
        .expect("whoami");
    assert_eq!(
        who.account(),
        Some(acme.account_id.as_str()),
        "assumed role lands in the tenant account"
    );

    // globex's parameter (with one history entry: version 2) exists for globex only.
    let p = emu
        .parameter(&as_globex, "/shop/globex/api_base")
        .await
        .expect("globex sees its parameter");
    assert_eq!((p.kind.as_str(), p.version), ("String", 2));
    assert_eq!(p.value.as_deref(), Some("https://api.globex.example/v2"));
    assert_eq!(
        emu.parameter(&as_acme, "/shop/globex/api_base").await,
        None,
        "acme must not see globex's parameter"
    );
    let secret = emu
        .parameter(&as_globex, "/shop/globex/database_url")
        .await
        .expect("secret exists");
    assert_eq!((secret.kind.as_str(), secret.value), ("SecureString", None));

    // globex's cluster and service are invisible from acme's account, even in globex's region.
    let seen = emu
        .describe_service(&as_globex, &globex.cluster, "api")
        .await;
    assert_eq!(
        seen.rollout_state.as_deref(),
        Some("COMPLETED"),
        "seeded services are settled"
    );
    assert_eq!(seen.running, seen.desired);
    let from_acme = aws_sdk_ecs::Client::new(&as_acme)
        .describe_services()
        .cluster(&globex.cluster)
        .services("api")
        .send()
        .await;
    match from_acme {
        Ok(out) => assert!(
            out.services().is_empty(),
            "acme sees globex's service: {out:?}"
        ),
        Err(e) => assert!(
            format!("{e:?}").contains("ClusterNotFound"),
            "unexpected error: {e:?}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_to_new_revision_completes() {
    let emu = Emulator::shared();
    let fleet = fleet_of(emu, &["umbrella"]);
    let t = fleet.tenant("umbrella");
    let cfg = emu.sdk_config_for(&t.account_id, &t.region, DEPLOY).await;
    let seeded = emu.describe_service(&cfg, &t.cluster, "api").await;

    let td = register_api(&cfg, "shop:v2").await;
    update_api(&cfg, &t.cluster, &td).await;

    let first = emu.describe_service(&cfg, &t.cluster, "api").await;
    assert!(
        first.task_definition.starts_with("arn:aws:ecs:"),
        "taskDefinition normalised to an ARN"
    );
    assert!(
        first
            .task_definition
            .ends_with(&format!("task-definition/{td}"))
    );
    assert_eq!(first.rollout_state.as_deref(), Some("IN_PROGRESS"));
    assert_eq!(
        first.deployments.len(),
        2,
        "new PRIMARY plus the old ACTIVE: {first:?}"
    );
    assert_eq!(first.deployments[1].status, "ACTIVE");
    assert_eq!(first.deployments[1].task_definition, seeded.task_definition);

    let done = emu.poll_rollout(&cfg, &t.cluster, "api", 10).await;
    assert_eq!(done.rollout_state.as_deref(), Some("COMPLETED"), "{done:?}");
    assert_eq!((done.running, done.pending), (done.desired, 0));
    assert_eq!(done.desired, 3, "umbrella's api desired_count from the DSL");
    assert_eq!(done.deployments.len(), 1, "old deployment drained");
    assert!(
        done.events[0].contains("has reached a steady state"),
        "{:?}",
        done.events
    );
    let revisions = emu.task_definition_revisions(&cfg, "shop-api").await;
    assert_eq!(revisions, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_of_broken_image_fails_and_keeps_previous_running() {
    let emu = Emulator::shared();
    let fleet = fleet_of(emu, &["umbrella"]);
    let t = fleet.tenant("umbrella");
    let cfg = emu.sdk_config_for(&t.account_id, &t.region, DEPLOY).await;

    let td = register_api(&cfg, "shop:v2-broken").await;
    update_api(&cfg, &t.cluster, &td).await;
    let failed = emu.poll_rollout(&cfg, &t.cluster, "api", 10).await;

    assert_eq!(
        failed.rollout_state.as_deref(),
        Some("FAILED"),
        "{failed:?}"
    );
    let reason = failed.rollout_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("circuit breaker"), "{reason}");
    assert_eq!(failed.deployments[0].running, 0);
    assert!(failed.deployments[0].failed_tasks > 0);
    let previous = &failed.deployments[1];
    assert_eq!(
        (previous.status.as_str(), previous.running),
        ("ACTIVE", 3),
        "previous keeps serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn armed_failure_fails_next_rollout_and_rollback_recovers() {
    let emu = Emulator::shared();
    let fleet = fleet_of(emu, &["umbrella"]);
    let t = fleet.tenant("umbrella");
    let cfg = emu.sdk_config_for(&t.account_id, &t.region, DEPLOY).await;
    let seeded = emu.describe_service(&cfg, &t.cluster, "api").await;

    emu.fail_next_rollout(&t.account_id, &t.region, &t.cluster, "api");
    let td = register_api(&cfg, "shop:v2").await;
    update_api(&cfg, &t.cluster, &td).await;
    let failed = emu.poll_rollout(&cfg, &t.cluster, "api", 10).await;
    assert_eq!(
        failed.rollout_state.as_deref(),
        Some("FAILED"),
        "{failed:?}"
    );
    assert!(
        failed
            .rollout_reason
            .as_deref()
            .unwrap_or_default()
            .contains("circuit breaker")
    );

    // The arm is consumed: rolling back to the seeded revision completes.
    update_api(&cfg, &t.cluster, &seeded.task_definition).await;
    let back = emu.poll_rollout(&cfg, &t.cluster, "api", 10).await;
    assert_eq!(back.rollout_state.as_deref(), Some("COMPLETED"), "{back:?}");
    assert_eq!(back.task_definition, seeded.task_definition);
    assert_eq!(back.running, back.desired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_rollout_stays_in_progress() {
    let emu = Emulator::shared();
    let fleet = fleet_of(emu, &["umbrella"]);
    let t = fleet.tenant("umbrella");
    let cfg = emu.sdk_config_for(&t.account_id, &t.region, DEPLOY).await;

    emu.hang_next_rollout(&t.account_id, &t.region, &t.cluster, "api");
    let td = register_api(&cfg, "shop:v2").await;
    update_api(&cfg, &t.cluster, &td).await;
    let view = emu.poll_rollout(&cfg, &t.cluster, "api", 15).await;
    assert_eq!(
        view.rollout_state.as_deref(),
        Some("IN_PROGRESS"),
        "{view:?}"
    );
    assert_eq!(view.deployments[0].running, 0);
}

/// (task definition ARN, lastStatus, group) of a service's tasks with that desired status.
async fn service_tasks(
    cfg: &SdkConfig,
    cluster: &str,
    service: &str,
    desired: DesiredStatus,
) -> Vec<(String, String, String)> {
    let ecs = aws_sdk_ecs::Client::new(cfg);
    let arns = ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(desired)
        .send()
        .await
        .expect("ListTasks")
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return Vec::new();
    }
    let out = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .expect("DescribeTasks");
    let mut tasks: Vec<_> = out
        .tasks()
        .iter()
        .map(|t| {
            (
                t.task_definition_arn().unwrap_or_default().to_owned(),
                t.last_status().unwrap_or_default().to_owned(),
                t.group().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    tasks.sort();
    tasks
}

/// fabfuel's ecs-deploy (the benchmark's peer) waits by counting the RUNNING tasks of the new
/// revision, so the simulation keeps task records the way ECS's service scheduler does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_tasks_follow_the_rollout() {
    let emu = Emulator::shared();
    let fleet = fleet_of(emu, &["umbrella"]);
    let t = fleet.tenant("umbrella");
    let cfg = emu.sdk_config_for(&t.account_id, &t.region, DEPLOY).await;
    let seeded = emu.describe_service(&cfg, &t.cluster, "api").await;
    let running = |td: &str| {
        (
            td.to_owned(),
            "RUNNING".to_owned(),
            "service:api".to_owned(),
        )
    };

    let before = service_tasks(&cfg, &t.cluster, "api", DesiredStatus::Running).await;
    assert_eq!(
        before,
        vec![running(&seeded.task_definition); 3],
        "seeded: 3 tasks"
    );
    // moto's own tasks move towards STOPPED on every DescribeTasks; a service's tasks do not.
    let again = service_tasks(&cfg, &t.cluster, "api", DesiredStatus::Running).await;
    assert_eq!(again, before);

    let td = register_api(&cfg, "shop:v2").await;
    update_api(&cfg, &t.cluster, &td).await;
    let first = emu.describe_service(&cfg, &t.cluster, "api").await;
    let new_td = first.task_definition.clone();
    let mid = service_tasks(&cfg, &t.cluster, "api", DesiredStatus::Running).await;
    assert_eq!(
        mid.len(),
        3 + first.deployments[0].running as usize,
        "old tasks keep running: {mid:?}"
    );

    let done = emu.poll_rollout(&cfg, &t.cluster, "api", 10).await;
    assert_eq!(done.rollout_state.as_deref(), Some("COMPLETED"), "{done:?}");
    let after = service_tasks(&cfg, &t.cluster, "api", DesiredStatus::Running).await;
    assert_eq!(
        after,
        vec![running(&new_td); 3],
        "only the new revision runs"
    );
    let stopped = service_tasks(&cfg, &t.cluster, "api", DesiredStatus::Stopped).await;
    let drained = (
        seeded.task_definition.clone(),
        "STOPPED".to_owned(),
        "service:api".to_owned(),
    );
    assert_eq!(
        stopped,
        vec![drained; 3],
        "the old deployment's tasks are stopped"
    );

    let worker = service_tasks(&cfg, &t.cluster, "worker", DesiredStatus::Running).await;
    assert!(
        !worker.is_empty() && worker.iter().all(|(_, _, g)| g == "service:worker"),
        "ListTasks filters by service: {worker:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_and_latency_overlaps() {
    let emu = Emulator::dedicated();
    let sts = aws_sdk_sts::Client::new(&emu.base_config("us-east-1"));
    emu.reset_request_counts();
    for _ in 0..2 {
        sts.get_caller_identity().send().await.expect("whoami");
    }
    let counts = emu.request_counts();
    assert_eq!(counts.get("sts:GetCallerIdentity"), Some(&2), "{counts:?}");
    assert_eq!(
        counts.values().sum::<u64>(),
        2,
        "only AWS requests count: {counts:?}"
    );

    // Each request waits 2 s; two sent at once wait side by side (on the server's timer). The
    // server counts the requests waiting at the same moment, so a loaded machine cannot make
    // this pass or fail by its clock.
    emu.set_latency_ms(2000);
    emu.reset_request_counts();
    let (a, b) = tokio::join!(
        sts.get_caller_identity().send(),
        sts.get_caller_identity().send()
    );
    emu.set_latency_ms(0);
    a.expect("whoami a");
    b.expect("whoami b");
    assert_eq!(
        emu.waiting_max(),
        2,
        "two concurrent requests waited one after the other"
    );
}

/// Sends `raw` on one connection and reads until the server closes it or `responses` complete
/// responses (by their `Content-Length`) have arrived; the bytes read.
fn exchange(port: u16, raw: &[&[u8]], responses: usize) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("timeout");
    let mut got = Vec::new();
    for part in raw {
        conn.write_all(part).expect("write");
        // `Expect: 100-continue`: the body goes only after the interim answer.
        if part.ends_with(b"Expect: 100-continue\r\n\r\n") {
            let mut buf = [0u8; 25];
            conn.read_exact(&mut buf).expect("100 Continue");
            got.extend_from_slice(&buf);
        }
    }
    let mut buf = [0u8; 4096];
    while complete_responses(&got) < responses {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "reading the answer: {e}; so far {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn complete_responses(bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let mut rest = text.as_ref();
    let mut n = 0;
    while let Some(head_end) = rest.find("\r\n\r\n") {
        let head = &rest[..head_end];
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then_some(value)
            })
            .map_or(0, |v| v.trim().parse().expect("length"));
        if !head.starts_with("HTTP/1.1 100") {
            if rest.len() < head_end + 4 + length {
                break;
            }
            n += 1;
        }
        rest = &rest[head_end + 4 + length..];
    }
    n
}

/// `speed.py` writes JSON answers its own way (a plan per class and shape) because moto's
/// writer was most of the heavy calls' cost: with the check on, every answer of a seeding and a
/// deploy is also written moto's way, and not one differs.
#[test]
fn answers_written_the_fast_way_are_the_bytes_moto_writes() {
    let emu = Emulator::dedicated();
    emu.check_answers(true);
    let fleet = fleet_of(&emu, &["acme", "globex"]);
    let mut deploy = emu.stamp(fleet.root());
    deploy.args([
        "deploy",
        "acme",
        "globex",
        "--yes",
        "--allow-dirty",
        "--ignore-window",
    ]);
    deploy.args(["--reason", "answer check", "--poll-interval", "20ms"]);
    crate::support::run_command(deploy).success();
    let checked = emu.checked_answers();
    let different = checked["different"].as_array().expect("different");
    assert!(different.is_empty(), "answers that differ: {different:#?}");
    // The heavy answers a deploy reads were among those checked, not only small ones.
    for op in [
        "DescribeServices",
        "DescribeTaskDefinition",
        "RegisterTaskDefinition",
        "UpdateService",
        "GetParameters",
        "DescribeImages",
    ] {
        let n = checked["operations"][op].as_u64().unwrap_or(0);
        assert!(n > 0, "no {op} answer was checked: {checked}");
    }
    emu.check_answers(false);
    let whoami = aws_sdk_sts::Client::new(&emu.base_config("us-east-1"));
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(whoami.get_caller_identity().send())
        .expect("GetCallerIdentity");
    assert_eq!(
        emu.checked_answers()["total"],
        checked["total"],
        "turned off, answers are written once again"
    );
}

/// The emulator's HTTP server (`http1.py`, one thread) reads what SDKs and CLIs send: several
/// requests on one kept-alive connection, chunked bodies, `Expect: 100-continue`; it closes
/// an HTTP/1.0 connection after its answer and refuses a request line it cannot read.
#[test]
fn the_server_reads_what_http_clients_send() {
    let emu = Emulator::dedicated();
    let port = emu.port();
    let get = b"GET /stamp-control/requests HTTP/1.1\r\nHost: x\r\n\r\n";
    let two = exchange(port, &[&[&get[..], &get[..]].concat()], 2);
    assert_eq!(
        two.matches("HTTP/1.1 200 OK").count(),
        2,
        "two requests in one write: {two}"
    );

    let chunked = b"POST /stamp-control/latency HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"ms\r\n5\r\n\": 0}\r\n0\r\n\r\n";
    let answer = exchange(port, &[chunked], 1);
    assert!(
        answer.contains("\"latency_ms\": 0"),
        "chunked body read whole: {answer}"
    );

    let head = b"POST /stamp-control/latency HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n";
    let answer = exchange(port, &[head, b"{\"ms\": 0}"], 1);
    assert!(
        answer.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"),
        "{answer}"
    );

    let old = b"GET /stamp-control/requests HTTP/1.0\r\n\r\n";
    let answer = exchange(port, &[old], usize::MAX);
    assert!(
        answer.starts_with("HTTP/1.1 200 OK"),
        "HTTP/1.0 answered, then closed: {answer}"
    );

    let answer = exchange(port, &[b"NONSENSE\r\n\r\n"], usize::MAX);
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
    let whoami = aws_sdk_sts::Client::new(&emu.base_config("us-east-1"));
    let after = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(whoami.get_caller_identity().send());
    after.expect("the server still answers after a bad request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_count_change_settles() {
    let emu = Emulator::shared();
    let fleet = fleet_of(emu, &["umbrella"]);
    let t = fleet.tenant("umbrella");
    let cfg = emu.sdk_config_for(&t.account_id, &t.region, DEPLOY).await;
    aws_sdk_ecs::Client::new(&cfg)
        .update_service()
        .cluster(&t.cluster)
        .service("worker")
        .desired_count(4)
        .send()
        .await
        .expect("UpdateService");
    let mut view = emu.describe_service(&cfg, &t.cluster, "worker").await;
    for _ in 0..10 {
        if view.running == 4 && view.events[0].contains("steady state") {
            break;
        }
        view = emu.describe_service(&cfg, &t.cluster, "worker").await;
    }
    assert_eq!(
        (view.desired, view.running, view.pending),
        (4, 4, 0),
        "{view:?}"
    );
    assert_eq!(
        view.deployments.len(),
        1,
        "a scale-out is not a new deployment"
    );
    assert_eq!(view.rollout_state.as_deref(), Some("COMPLETED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_processes_get_only_the_emulator_aws_environment() {
    let emu = Emulator::shared();
    let out = emu.command("env").output().expect("run env");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut seen: Vec<&str> = text.lines().filter(|l| l.starts_with("AWS_")).collect();
    seen.sort_unstable();
    let mut want: Vec<String> = emu
        .env()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    want.sort_unstable();
    assert_eq!(seen, want);
    assert!(
        want.iter()
            .any(|l| l == &format!("AWS_ENDPOINT_URL=http://127.0.0.1:{}", emu.port()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_enforcement_confines_readonly_role() {
    let emu = Emulator::dedicated();
    let fleet = fleet_of(&emu, &["globex"]);
    let t = fleet.tenant("globex");
    let base = emu.enforce_iam();
    assert!(base.access_key_id.starts_with("AKIA"));

    let ro = emu
        .sdk_config_with(&t.account_id, &t.region, READONLY, 1)
        .await;
    let view = emu.describe_service(&ro, &t.cluster, "api").await;
    assert_eq!(
        view.rollout_state.as_deref(),
        Some("COMPLETED"),
        "read-only may DescribeServices"
    );
    let got = aws_sdk_ssm::Client::new(&ro)
        .get_parameters()
        .names("/shop/globex/api_base")
        .send()
        .await
        .expect("read-only may GetParameters");
    assert_eq!(got.parameters().len(), 1);

    // moto answers a denial with an XML 403 the SDK cannot parse into an error code, so the
    // status is what we can assert on.
    let put = aws_sdk_ssm::Client::new(&ro)
        .put_parameter()
        .name("/shop/globex/new")
        .value("x")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await;
    let err = put.expect_err("read-only must not PutParameter");
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "{err:?}"
    );

    let app = ContainerDefinition::builder()
        .name("app")
        .image("shop:v2")
        .build();
    let reg = aws_sdk_ecs::Client::new(&ro)
        .register_task_definition()
        .family("shop-api")
        .container_definitions(app)
        .send()
        .await;
    let err = reg.expect_err("read-only must not RegisterTaskDefinition");
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "{err:?}"
    );

    // The deploy role still works under enforcement (readback goes through it).
    let deploy = emu
        .sdk_config_with(&t.account_id, &t.region, DEPLOY, 1)
        .await;
    assert_eq!(
        emu.task_definition_revisions(&deploy, "shop-api").await,
        vec![1]
    );
}

/// The README's main command runs `eval "$(scripts/emulator up)"` and `scripts/emulator down`
/// non-interactively (CI, `scripts/demo >log 2>&1`). The server was started from a shell function
/// in the background: the forked subshell kept the `$(...)` pipe open, so the caller waited
/// forever, and `down` killed that subshell instead of moto, which kept running.
#[test]
fn the_scripts_up_returns_to_a_caller_capturing_it_and_down_stops_the_server() {
    let state = tempfile::tempdir().expect("temp dir");
    let out = state.path().join("out");
    let err = state.path().join("err");
    let script = r#"set -euo pipefail
eval "$(scripts/emulator up --no-services --tenants acme)"
aws_endpoint="$AWS_ENDPOINT_URL"
eval "$(scripts/emulator down)"
echo "ended $aws_endpoint""#;
    let mut child = std::process::Command::new("bash")
        .args(["-c", script])
        .current_dir(crate::support::emulator::repo_root())
        .env("STAMP_EMULATOR_STATE", state.path().join("emu"))
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).expect("out"))
        .stderr(std::fs::File::create(&err).expect("err"))
        .spawn()
        .expect("bash");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "up/down did not return within 180 s; stderr:\n{}",
                read(&err)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let stderr = read(&err);
    assert!(status.success(), "{status}; stderr:\n{stderr}");
    assert!(
        read(&out).starts_with("ended http://127.0.0.1:"),
        "{}",
        read(&out)
    );
    let pid = stderr
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split([',', ')']).next())
        .expect("the started server's pid on stderr");
    assert!(
        !std::path::Path::new("/proc").join(pid).exists(),
        "moto (pid {pid}) still runs after `scripts/emulator down`:\n{stderr}"
    );
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
