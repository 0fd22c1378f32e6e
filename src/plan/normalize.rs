//! The comparison form of a task definition, applied to both the desired (rendered) and the live (described) side before they are compared; pure, no I/O.
//!
//! Owns one function, [`normalize`], and its explicit list of rules. Each rule exists
//! because ECS (or stamp's own renderer) spells the *same* definition in two ways; none
//! may merge two definitions that ECS would run differently. A member that no rule
//! names compares exactly as it is, so a new member of the model can at worst show a
//! spurious difference, never hide a real one.

use std::collections::BTreeMap;

use crate::render::taskdef::{ContainerDefinition, PortMapping, TaskDefinition};

/// Tag keys stamp adds at registration (commit, digest, release, deployer). They are
/// bookkeeping about a registration, not part of the definition a template asks for:
/// the rendered side never has them and the live side always does, and `stamp:commit`
/// differs on every commit even when nothing else does.
pub const BOOKKEEPING_TAG_PREFIX: &str = "stamp:";

/// ECS's default `protocol` for a port mapping.
const DEFAULT_PROTOCOL: &str = "tcp";

/// The network mode in which a task gets its own ENI, so host and container port match.
const AWSVPC: &str = "awsvpc";

/// The form in which a rendered and a described task definition are compared.
///
/// Rules, each because the two sides would otherwise disagree about the same thing:
/// 1. `environment` and `secrets` of each container sorted by name: ECS keeps the order
///    it was given, but stamp sorts what it injects, so a template's own order (or a
///    definition registered by an older stamp or by hand) is not a change.
/// 2. A container's absent `essential` is `true`: ECS's default, which it echoes back.
/// 3. A port mapping's absent `protocol` is `"tcp"`: ECS's default, echoed back.
/// 4. With `networkMode` `"awsvpc"`, an absent `hostPort` equals `containerPort`: ECS
///    fills it in, and in that mode no other value is accepted.
/// 5. Empty lists and empty maps are absent: the SDK cannot tell them apart and ECS
///    echoes `[]` for lists never sent (see `aws::convert::from_sdk`), so an explicit
///    `[]` in a template must equal what comes back.
/// 6. Container `cpu` 0 is absent: ECS treats both as "no reservation" and the SDK
///    describes an unset one as 0 (which `from_sdk` turns back into absent), so a
///    template's `"cpu": 0` must equal that.
/// 7. `tags` sorted by key, without stamp's bookkeeping tags
///    ([`BOOKKEEPING_TAG_PREFIX`]): ECS does not promise an order, and the bookkeeping
///    tags describe a registration rather than the definition.
/// 8. `requiresCompatibilities` sorted: a set to ECS, whatever order it is listed in.
///
/// Container order, port mapping order and every other list keep their order: ECS
/// keeps it and some of it matters (for example `command`, `entryPoint`).
pub fn normalize(td: &TaskDefinition) -> TaskDefinition {
    let mut td = td.clone();
    let awsvpc = td.network_mode.as_deref() == Some(AWSVPC);
    for c in &mut td.container_definitions {
        normalize_container(c, awsvpc);
    }

    // Rule 7.
    if let Some(tags) = &mut td.tags {
        tags.retain(|t| {
            !t.key
                .as_deref()
                .is_some_and(|k| k.starts_with(BOOKKEEPING_TAG_PREFIX))
        });
        // Value as a tie-break only so that the result is a total order (ECS refuses
        // duplicate keys, but the comparison must be deterministic whatever it gets).
        tags.sort_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
    }
    // Rule 8.
    if let Some(compat) = &mut td.requires_compatibilities {
        compat.sort();
    }

    // Rule 5, task level.
    drop_empty(&mut td.volumes);
    drop_empty(&mut td.placement_constraints);
    drop_empty(&mut td.requires_compatibilities);
    drop_empty(&mut td.tags);
    drop_empty(&mut td.inference_accelerators);
    if let Some(p) = &mut td.proxy_configuration {
        drop_empty(&mut p.properties);
    }
    for v in td.volumes.iter_mut().flatten() {
        if let Some(d) = &mut v.docker_volume_configuration {
            drop_empty_map(&mut d.driver_opts);
            drop_empty_map(&mut d.labels);
        }
    }
    td
}

fn normalize_container(c: &mut ContainerDefinition, awsvpc: bool) {
    // Rule 1. Name, then value, so that even duplicate names sort deterministically.
    if let Some(env) = &mut c.environment {
        env.sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
    }
    if let Some(secrets) = &mut c.secrets {
        secrets.sort_by(|a, b| (&a.name, &a.value_from).cmp(&(&b.name, &b.value_from)));
    }
    // Rule 2.
    if c.essential.is_none() {
        c.essential = Some(true);
    }
    // Rule 6.
    if c.cpu == Some(0) {
        c.cpu = None;
    }
    // Rules 3 and 4.
    for p in c.port_mappings.iter_mut().flatten() {
        normalize_port(p, awsvpc);
    }

    // Rule 5, container level: every optional list and map of the model.
    drop_empty(&mut c.links);
    drop_empty(&mut c.port_mappings);
    drop_empty(&mut c.entry_point);
    drop_empty(&mut c.command);
    drop_empty(&mut c.environment);
    drop_empty(&mut c.environment_files);
    drop_empty(&mut c.mount_points);
    drop_empty(&mut c.volumes_from);
    drop_empty(&mut c.secrets);
    drop_empty(&mut c.depends_on);
    drop_empty(&mut c.dns_servers);
    drop_empty(&mut c.dns_search_domains);
    drop_empty(&mut c.extra_hosts);
    drop_empty(&mut c.docker_security_options);
    drop_empty_map(&mut c.docker_labels);
    drop_empty(&mut c.ulimits);
    drop_empty(&mut c.system_controls);
    drop_empty(&mut c.resource_requirements);
    drop_empty(&mut c.credential_specs);
    if let Some(r) = &mut c.restart_policy {
        drop_empty(&mut r.ignored_exit_codes);
    }
    if let Some(l) = &mut c.linux_parameters {
        if let Some(k) = &mut l.capabilities {
            drop_empty(&mut k.add);
            drop_empty(&mut k.drop);
        }
        for d in l.devices.iter_mut().flatten() {
            drop_empty(&mut d.permissions);
        }
        for t in l.tmpfs.iter_mut().flatten() {
            drop_empty(&mut t.mount_options);
        }
        drop_empty(&mut l.devices);
        drop_empty(&mut l.tmpfs);
    }
    if let Some(l) = &mut c.log_configuration {
        drop_empty_map(&mut l.options);
        drop_empty(&mut l.secret_options);
    }
    if let Some(f) = &mut c.firelens_configuration {
        drop_empty_map(&mut f.options);
    }
}

fn normalize_port(p: &mut PortMapping, awsvpc: bool) {
    if p.protocol.is_none() {
        p.protocol = Some(DEFAULT_PROTOCOL.to_owned());
    }
    // Only when there is a container port to copy: a `containerPortRange` mapping has
    // none, and ECS assigns its host ports itself.
    if awsvpc && p.host_port.is_none() {
        p.host_port = p.container_port;
    }
}

fn drop_empty<T>(list: &mut Option<Vec<T>>) {
    if list.as_ref().is_some_and(Vec::is_empty) {
        *list = None;
    }
}

fn drop_empty_map<K, V>(map: &mut Option<BTreeMap<K, V>>) {
    if map.as_ref().is_some_and(BTreeMap::is_empty) {
        *map = None;
    }
}

#[cfg(test)]
// The crate warns on `unwrap`; in tests a panic is exactly the failure report we want.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::taskdef::parse;

    /// What stamp renders: sorted environment, no defaults spelled out, an explicit `[]`.
    const RENDERED: &str = r#"{
      "family": "acme-api",
      "networkMode": "awsvpc",
      "requiresCompatibilities": ["FARGATE", "EC2"],
      "cpu": "512",
      "memory": "1024",
      "tags": [{"key": "tenant", "value": "acme"}, {"key": "app", "value": "api"}],
      "containerDefinitions": [{
        "name": "api",
        "image": "acme/api:2024.06",
        "cpu": 0,
        "portMappings": [{"containerPort": 8080}],
        "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"},
                    {"name": "KEY", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/key"}],
        "mountPoints": [],
        "dockerLabels": {},
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/api"}}
      }]
    }"#;

    /// The same definition as ECS describes it back.
    const ECHOED: &str = r#"{
      "family": "acme-api",
      "networkMode": "awsvpc",
      "requiresCompatibilities": ["EC2", "FARGATE"],
      "cpu": "512",
      "memory": "1024",
      "tags": [{"key": "app", "value": "api"}, {"key": "stamp:commit", "value": "abc123"},
               {"key": "tenant", "value": "acme"}, {"key": "stamp:digest", "value": "ff"}],
      "containerDefinitions": [{
        "name": "api",
        "image": "acme/api:2024.06",
        "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
        "essential": true,
        "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
        "secrets": [{"name": "KEY", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/key"},
                    {"name": "DB", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"}],
        "volumesFrom": [],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/api"}, "secretOptions": []}
      }],
      "volumes": [],
      "placementConstraints": []
    }"#;

    fn norm(json: &str) -> TaskDefinition {
        normalize(&parse(json).unwrap())
    }

    #[test]
    fn an_ecs_echoed_definition_compares_equal_to_the_rendered_one() {
        assert_ne!(parse(RENDERED).unwrap(), parse(ECHOED).unwrap());
        assert_eq!(norm(RENDERED), norm(ECHOED));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        let once = norm(ECHOED);
        assert_eq!(normalize(&once), once);
    }

    #[test]
    fn defaults_are_spelled_out_not_removed() {
        let td = norm(RENDERED);
        let c = &td.container_definitions[0];
        assert_eq!(c.essential, Some(true));
        let p = &c.port_mappings.as_ref().unwrap()[0];
        assert_eq!(p.protocol.as_deref(), Some("tcp"));
        assert_eq!(p.host_port, Some(8080));
        assert_eq!(c.mount_points, None);
        assert_eq!(c.docker_labels, None);
        assert_eq!(
            td.requires_compatibilities,
            Some(vec!["EC2".to_owned(), "FARGATE".to_owned()])
        );
    }

    #[test]
    fn an_explicit_non_default_is_kept() {
        let td = norm(
            r#"{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a", "image": "i",
                "essential": false, "portMappings": [{"containerPort": 53, "protocol": "udp"}]}]}"#,
        );
        let c = &td.container_definitions[0];
        assert_eq!(c.essential, Some(false));
        let p = &c.port_mappings.as_ref().unwrap()[0];
        assert_eq!(p.protocol.as_deref(), Some("udp"));
    }

    #[test]
    fn host_port_is_filled_only_in_awsvpc_mode() {
        // In bridge mode an absent hostPort means "dynamic", not "same as the container".
        let td = norm(
            r#"{"family": "f", "networkMode": "bridge", "containerDefinitions": [{"name": "a", "image": "i",
                "portMappings": [{"containerPort": 80}]}]}"#,
        );
        let p = &td.container_definitions[0].port_mappings.as_ref().unwrap()[0];
        assert_eq!(p.host_port, None);
        // A different host port in bridge mode is a real change.
        let other = norm(
            r#"{"family": "f", "networkMode": "bridge", "containerDefinitions": [{"name": "a", "image": "i",
                "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]}"#,
        );
        assert_ne!(td, other);
    }

    #[test]
    fn real_changes_are_never_hidden() {
        let base = norm(RENDERED);
        for (from, to) in [
            ("acme/api:2024.06", "acme/api:2024.07"),
            (r#""value": "2""#, r#""value": "3""#),
            ("parameter/key", "parameter/key2"),
            (r#""cpu": "512""#, r#""cpu": "1024""#),
            (r#""memory": "1024""#, r#""memory": "2048""#),
            (r#""containerPort": 8080"#, r#""containerPort": 8081"#),
            (r#""key": "tenant""#, r#""key": "owner""#),
            ("/ecs/api", "/ecs/api2"),
            (r#""name": "B""#, r#""name": "C""#),
        ] {
            assert!(RENDERED.contains(from), "{from}");
            let changed = norm(&RENDERED.replacen(from, to, 1));
            assert_ne!(changed, base, "{from} -> {to} was hidden");
        }
    }

    #[test]
    fn container_and_command_order_are_kept() {
        let a = norm(
            r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "command": ["x", "y"]},
                {"name": "b", "image": "i"}]}"#,
        );
        let b = norm(
            r#"{"family": "f", "containerDefinitions": [{"name": "b", "image": "i"},
                {"name": "a", "image": "i", "command": ["x", "y"]}]}"#,
        );
        assert_ne!(a, b);
        let c = norm(
            r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "command": ["y", "x"]},
                {"name": "b", "image": "i"}]}"#,
        );
        assert_ne!(a, c);
    }

    #[test]
    fn only_bookkeeping_tags_are_dropped() {
        let td = norm(ECHOED);
        let keys: Vec<_> = td
            .tags
            .iter()
            .flatten()
            .map(|t| t.key.as_deref().unwrap())
            .collect();
        assert_eq!(keys, ["app", "tenant"]);
        // Nothing but bookkeeping tags: the same as no tags at all.
        let only = norm(
            r#"{"family": "f", "tags": [{"key": "stamp:release", "value": "r1"}],
                "containerDefinitions": [{"name": "a", "image": "i"}]}"#,
        );
        assert_eq!(only.tags, None);
    }
}
