//! The ECS `RegisterTaskDefinition` input model (what `aws ecs register-task-definition --cli-input-json` accepts) and ECS's limits on it; no I/O, never calls AWS.
//!
//! Owns: the typed request, parsing it with precise error locations, its canonical
//! JSON form, and the limit checks that would otherwise only fail at registration time
//! in some customer account. Reading files and calling ECS belong to the callers.
//!
//! Field names, nesting, required/optional and scalar types follow the ECS Smithy
//! model as generated into `aws-sdk-ecs` 1.157.0 (the `RegisterTaskDefinitionInput`
//! schema and the `types::*` shapes), cross-checked against 1.86.0. Struct fields are
//! declared in that model's member order, which is also the order of the CLI's
//! `--generate-cli-skeleton` and of `register-task-definition` in the CLI reference
//! (the API reference web page lists members alphabetically instead). Because serde
//! serialises fields in declaration order, that order *is* the canonical output
//! order: do not sort or regroup fields; add new ones where the model puts them.
//!
//! Deliberate choices:
//! * Unknown fields are rejected everywhere (`deny_unknown_fields`) because the CLI
//!   rejects them too, and a typo such as `portMapping` would otherwise vanish silently
//!   from the rendered output.
//! * Optional lists are `Option<Vec<_>>` so an explicit `[]` in a template survives the
//!   round trip instead of being dropped or invented.
//! * String maps are `BTreeMap` so the canonical output does not depend on the key
//!   order the template happened to produce.
//! * Enumerations (`networkMode`, `protocol`, `logDriver`, ...) stay `String`: ECS adds
//!   values over time and validates them itself; this model only guards structure and
//!   the limits in [`TaskDefinition::check_limits`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// ECS rejects task definitions whose request body exceeds 64 KiB.
pub const MAX_TASK_DEFINITION_BYTES: usize = 65_536;

/// ECS accepts at most ten container definitions per task definition.
pub const MAX_CONTAINERS: usize = 10;

// ---------------------------------------------------------------------------
// Top level
// ---------------------------------------------------------------------------

/// The whole `RegisterTaskDefinition` request. `family` and `containerDefinitions`
/// are the only members the API requires.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDefinition {
    pub family: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    pub container_definitions: Vec<ContainerDefinition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement_constraints: Option<Vec<TaskDefinitionPlacementConstraint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<String>>,
    /// A string in the API (`"256"` or `"0.25 vCPU"`), unlike the container-level integer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// A string in the API (`"512"` or `"0.5 GB"`), unlike the container-level integer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_accelerators: Option<Vec<InferenceAccelerator>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
}

// ---------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------

/// One entry of `containerDefinitions`. Every member is optional in the API model;
/// `name` and `image` are nevertheless demanded by ECS and by [`TaskDefinition::check_limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDefinition {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_credentials: Option<RepositoryCredentials>,
    /// CPU units (1024 = one vCPU); an integer here, a string at task level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i32>,
    /// Hard limit in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    /// Soft limit in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<ContainerRestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<KeyValuePair>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_points: Option<Vec<MountPoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_from: Option<Vec<VolumeFrom>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<ContainerDependency>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_consistency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_networking: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_search_domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Vec<HostEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_security_options: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interactive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudo_terminal: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "unique_keys"
    )]
    pub docker_labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_controls: Option<Vec<SystemControl>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements: Option<Vec<ResourceRequirement>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_specs: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepositoryCredentials {
    pub credentials_parameter: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerRestartPolicy {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_exit_codes: Option<Vec<i32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_attempt_period: Option<i32>,
}

/// An `environment` entry (also used for `proxyConfiguration.properties`). Both
/// members are optional in the API, so both are `Option` here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyValuePair {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl KeyValuePair {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            value: Some(value.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentFile {
    pub value: String,
    #[serde(rename = "type")]
    pub r#type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountPoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeFrom {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinuxParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_memory_size: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Vec<Tmpfs>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_swap: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KernelCapabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Device {
    pub host_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tmpfs {
    pub container_path: String,
    /// MiB.
    pub size: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<Vec<String>>,
}

/// A `secrets` (or `logConfiguration.secretOptions`) entry; unlike [`KeyValuePair`]
/// both members are required by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    /// ARN (or, in the same region, name) of a Secrets Manager secret or SSM parameter.
    pub value_from: String,
}

impl Secret {
    pub fn new(name: impl Into<String>, value_from: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value_from: value_from.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDependency {
    pub container_name: String,
    pub condition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostEntry {
    pub hostname: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ulimit {
    pub name: String,
    pub soft_limit: i32,
    pub hard_limit: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfiguration {
    pub log_driver: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "unique_keys"
    )]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_options: Option<Vec<Secret>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// e.g. `["CMD-SHELL", "curl -f http://localhost/ || exit 1"]`.
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SystemControl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `value` became optional in the model when `sharingStrategy` arrived: a GPU shared
/// through MPS is sized by the strategy instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRequirement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "type")]
    pub r#type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharing_strategy: Option<SharingStrategy>,
}

/// A union in the model ("specify exactly one member"). Modelled as a struct of
/// optional members so that the JSON shape is exact; the exactly-one rule is left to
/// ECS, like the other enumerations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharingStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvidia_mps: Option<NvidiaMpsAllocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NvidiaMpsAllocation {
    /// GPU memory in MiB.
    pub memory: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_compute_percent: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FirelensConfiguration {
    #[serde(rename = "type")]
    pub r#type: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "unique_keys"
    )]
    pub options: Option<BTreeMap<String, String>>,
}

// ---------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
    // Spelled explicitly: the API writes `s3files`, not `s3Files`.
    #[serde(
        rename = "s3filesVolumeConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3files_volume_configuration: Option<S3FilesVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsx_windows_file_server_volume_configuration:
        Option<FSxWindowsFileServerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_at_launch: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostVolumeProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "unique_keys"
    )]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "unique_keys"
    )]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EfsVolumeConfiguration {
    pub file_system_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorizationConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EfsAuthorizationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam: Option<String>,
}

/// An Amazon S3 Files file system; the task needs a task role to mount it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3FilesVolumeConfiguration {
    pub file_system_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_arn: Option<String>,
}

/// All three members are required by the model (the Rust SDK keeps
/// `authorizationConfig` optional only because it is a structure; its builder still
/// documents it as required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FSxWindowsFileServerVolumeConfiguration {
    pub file_system_id: String,
    pub root_directory: String,
    pub authorization_config: FSxWindowsFileServerAuthorizationConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FSxWindowsFileServerAuthorizationConfig {
    pub credentials_parameter: String,
    pub domain: String,
}

// ---------------------------------------------------------------------------
// Remaining task-level shapes
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDefinitionPlacementConstraint {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tag {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyConfiguration {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    pub container_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<KeyValuePair>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferenceAccelerator {
    pub device_name: String,
    pub device_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EphemeralStorage {
    // Spelled explicitly: camelCase of `size_in_gib` would be `sizeInGib`.
    #[serde(rename = "sizeInGiB")]
    pub size_in_gib: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimePlatform {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Parses `--cli-input-json` text into the model, rejecting unknown fields, wrong
/// types, missing required members and trailing garbage.
pub fn parse(json: &str) -> Result<TaskDefinition, TaskDefError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let td: TaskDefinition =
        serde_path_to_error::deserialize(&mut de).map_err(TaskDefError::from_path_error)?;
    // Without this, `{...} garbage` would parse: the CLI rejects it, so must we.
    de.end()
        .map_err(|e| TaskDefError::from_json(ROOT.to_owned(), e))?;
    Ok(td)
}

/// A string map in which a key written twice is an error, as a member written twice is in
/// the typed parts of the model (serde_json would otherwise keep the last value silently).
fn unique_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Unique(BTreeMap<String, String>);
    impl<'de> Deserialize<'de> for Unique {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Unique;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a map of strings")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Unique, A::Error> {
                    let mut out = BTreeMap::new();
                    while let Some((k, v)) = m.next_entry::<String, String>()? {
                        if out.contains_key(&k) {
                            return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                        }
                        out.insert(k, v);
                    }
                    Ok(Unique(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    Ok(Option::<Unique>::deserialize(d)?.map(|u| u.0))
}

/// The path of the document root, in `serde_path_to_error`'s notation.
const ROOT: &str = ".";

/// Members of a `DescribeTaskDefinition` response that `RegisterTaskDefinition`
/// rejects. Templates are often started from `describe-task-definition` output, so
/// these deserve a specific explanation rather than a spelling suggestion.
const DESCRIBE_ONLY_FIELDS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// 1-based line and column of a parse error, as serde_json counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why [`parse`] refused a document. The wording says what is wrong and where in the rendered
/// document; what to write instead ([`TaskDefError::hint`], the expected fields) is data, for
/// the hint line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskDefError {
    /// Not JSON at all (or not a single JSON value).
    #[error("invalid JSON at {at}: {message}")]
    Syntax { message: String, at: Position },
    /// A member the API does not define, at `path` (which ends with the member itself).
    #[error(
        "{}: unknown field `{field}`{}{}",
        display_path(.path),
        describe_note(.path, .field),
        position_suffix(*.at)
    )]
    UnknownField {
        path: String,
        field: String,
        expected: Vec<String>,
        hint: Option<String>,
        at: Option<Position>,
    },
    /// Well-formed JSON of the wrong shape: wrong type, missing required member,
    /// duplicate member, out-of-range integer.
    #[error("{}: {message}{}", display_path(.path), position_suffix(*.at))]
    Invalid {
        path: String,
        message: String,
        at: Option<Position>,
    },
}

impl TaskDefError {
    /// JSON path of the offending value (`containerDefinitions[0].portMapping`), `"."`
    /// for the document itself; `None` for syntax errors, which have no path yet.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Syntax { .. } => None,
            Self::UnknownField { path, .. } | Self::Invalid { path, .. } => Some(path),
        }
    }

    /// The wording without the position in the rendered document, for when the template
    /// line it comes from is shown instead.
    pub fn without_position(&self) -> String {
        match self {
            Self::Syntax { message, .. } => format!("invalid JSON: {message}"),
            Self::UnknownField { path, field, .. } => format!(
                "{}: unknown field `{field}`{}",
                display_path(path),
                describe_note(path, field)
            ),
            Self::Invalid { path, message, .. } => format!("{}: {message}", display_path(path)),
        }
    }

    /// An unknown top-level field that only `DescribeTaskDefinition` returns.
    pub fn describe_only(&self) -> bool {
        matches!(self, Self::UnknownField { path, field, .. } if is_describe_only(path, field))
    }

    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Syntax { at, .. } => Some(*at),
            Self::UnknownField { at, .. } | Self::Invalid { at, .. } => *at,
        }
    }

    pub fn line(&self) -> Option<usize> {
        self.position().map(|p| p.line)
    }

    pub fn column(&self) -> Option<usize> {
        self.position().map(|p| p.column)
    }

    /// For an unknown field, the known field at the same place that it most likely
    /// misspells (`portMapping` → `portMappings`, `port_mappings` → `portMappings`).
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::UnknownField { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    fn from_path_error(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        Self::from_json(path, err.into_inner())
    }

    fn from_json(path: String, err: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let pos = Position {
            line: err.line(),
            column: err.column(),
        };
        let message = strip_position(&err.to_string(), pos);
        // serde_json uses line 0 for "no position". With `from_str` every error has
        // one, but do not report a fake "line 0" should that ever change.
        let at = (pos.line != 0).then_some(pos);
        match err.classify() {
            Category::Syntax | Category::Eof | Category::Io => Self::Syntax { message, at: pos },
            Category::Data => match parse_unknown_field(&message) {
                Some((field, expected)) => {
                    let hint = if is_describe_only(&path, &field) {
                        None
                    } else {
                        closest_field(&field, &expected)
                    };
                    Self::UnknownField {
                        path,
                        field,
                        expected,
                        hint,
                        at,
                    }
                }
                None => Self::Invalid { path, message, at },
            },
        }
    }
}

/// True for a top-level member that only `DescribeTaskDefinition` returns.
fn is_describe_only(path: &str, field: &str) -> bool {
    path == field && DESCRIBE_ONLY_FIELDS.contains(&field)
}

fn describe_note(path: &str, field: &str) -> &'static str {
    if is_describe_only(path, field) {
        " (DescribeTaskDefinition output, which RegisterTaskDefinition does not accept: remove it)"
    } else {
        ""
    }
}

fn display_path(path: &str) -> &str {
    if path == ROOT { "top level" } else { path }
}

fn position_suffix(at: Option<Position>) -> String {
    at.map(|p| format!(" ({p})")).unwrap_or_default()
}

/// serde_json appends " at line L column C" to every message; we report the position
/// in our own fields and format, so drop it from the message.
fn strip_position(message: &str, at: Position) -> String {
    let suffix = format!(" at line {} column {}", at.line, at.column);
    message.strip_suffix(&suffix).unwrap_or(message).to_owned()
}

/// Extracts the field and the expected fields from serde's stable `unknown_field`
/// message (`unknown field `x`, expected one of `a`, `b``). Field names never
/// contain backticks, so every backtick-quoted token is a name.
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    message.strip_prefix("unknown field `")?;
    let mut names = message.split('`').skip(1).step_by(2).map(str::to_owned);
    let field = names.next()?;
    Some((field, names.collect()))
}

/// Closest candidate by edit distance, comparing case- and separator-insensitively so
/// that `PortMappings` and `port_mappings` both find `portMappings`. Distant matches
/// are not offered: a wrong suggestion is worse than none.
fn closest_field(unknown: &str, candidates: &[String]) -> Option<String> {
    fn norm(s: &str) -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }
    let needle = norm(unknown);
    if needle.is_empty() {
        return None;
    }
    candidates
        .iter()
        .filter_map(|candidate| {
            let norm_candidate = norm(candidate);
            let distance = strsim::levenshtein(&needle, &norm_candidate);
            // A truncated name (`logConfig`) is a prefix and worth suggesting even
            // though its edit distance is large.
            let is_prefix = needle.len() >= 4 && norm_candidate.starts_with(&needle);
            let close = distance <= (norm_candidate.len() / 3).max(2);
            (close || is_prefix).then_some((distance, candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.clone())
}

// ---------------------------------------------------------------------------
// Canonical form and limits
// ---------------------------------------------------------------------------

/// One way a task definition breaks an ECS limit. `path` uses the same notation as
/// [`TaskDefError::path`], `"."` being the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitViolation {
    pub path: String,
    pub message: String,
    /// What to change in the template.
    pub hint: String,
    /// What this rendering measured (`90176 bytes`), when another tenant's rendering of the
    /// same template would measure something else: kept out of `message`, so the template's
    /// one mistake is one problem.
    pub measured: Option<String>,
}

impl LimitViolation {
    fn new(path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
            measured: None,
        }
    }
}

impl fmt::Display for LimitViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", display_path(&self.path), self.message)
    }
}

impl std::error::Error for LimitViolation {}

impl TaskDefinition {
    /// Pretty-printed (two-space indent) JSON with a trailing newline: fields in model
    /// order, map keys sorted, absent options omitted. Equal values give equal bytes,
    /// which is what makes rendered output diffable and hashable.
    pub fn to_canonical_json(&self) -> String {
        // Cannot fail: every map is keyed by String and no type has a fallible
        // `Serialize`, so serde_json has nothing to reject.
        let mut out = serde_json::to_string_pretty(self)
            .expect("task definition model always serialises to JSON");
        out.push('\n');
        out
    }

    /// Size of the request body as the CLI sends it (compact JSON), which is what
    /// ECS measures against [`MAX_TASK_DEFINITION_BYTES`].
    pub fn request_size(&self) -> usize {
        // Same infallibility argument as `to_canonical_json`.
        serde_json::to_vec(self)
            .expect("task definition model always serialises to JSON")
            .len()
    }

    /// Checks the ECS limits that would otherwise only surface as a failed
    /// `RegisterTaskDefinition` call in some customer account. Returns every violation,
    /// in document order after the whole-document ones, so one run shows them all.
    pub fn check_limits(&self) -> Result<(), Vec<LimitViolation>> {
        let mut found = Vec::new();

        let size = self.request_size();
        if size > MAX_TASK_DEFINITION_BYTES {
            found.push(LimitViolation {
                measured: Some(format!("{size} bytes")),
                ..LimitViolation::new(
                    ROOT,
                    format!(
                        "task definition is larger than the {MAX_TASK_DEFINITION_BYTES} bytes ECS takes"
                    ),
                    "keep large configuration in SSM parameters (`env_from`) rather than in the template or environment values",
                )
            });
        }

        if crate::dsl::parse::check_ecs_name(&self.family).is_err() {
            found.push(LimitViolation::new(
                "family",
                format!(
                    "family {:?} is not a valid name: ECS takes 1 to 255 letters, digits, `-` and `_`",
                    self.family
                ),
                "build the family from plain names, e.g. `\"{{ project.name }}-{{ service.name }}\"`",
            ));
        }

        let count = self.container_definitions.len();
        if !(1..=MAX_CONTAINERS).contains(&count) {
            found.push(LimitViolation::new(
                "containerDefinitions",
                format!("{count} container definitions; ECS requires 1 to {MAX_CONTAINERS}"),
                format!("a task definition holds 1 to {MAX_CONTAINERS} containers: move sidecars to a service of their own"),
            ));
        }

        let fargate = self
            .requires_compatibilities
            .iter()
            .flatten()
            .any(|c| c == "FARGATE");
        if fargate {
            if !is_set(self.cpu.as_deref()) {
                found.push(LimitViolation::new(
                    "cpu",
                    "task-level cpu is required when requiresCompatibilities includes FARGATE",
                    "write `\"cpu\": \"{{ service.cpu }}\"` at the top level of the template and `cpu` under [services.S]",
                ));
            }
            if !is_set(self.memory.as_deref()) {
                found.push(LimitViolation::new(
                    "memory",
                    "task-level memory is required when requiresCompatibilities includes FARGATE",
                    "write `\"memory\": \"{{ service.memory }}\"` at the top level of the template and `memory` under [services.S]",
                ));
            }
            if self.network_mode.as_deref() != Some("awsvpc") {
                found.push(LimitViolation::new(
                    "networkMode",
                    format!(
                        "networkMode must be \"awsvpc\" when requiresCompatibilities includes FARGATE (found {})",
                        self.network_mode
                            .as_deref()
                            .map_or_else(|| "none".to_owned(), |m| format!("{m:?}"))
                    ),
                    "write `\"networkMode\": \"awsvpc\"` at the top level of the template",
                ));
            }
        }

        // Under FARGATE the missing task-level memory is already reported above;
        // repeating it for every container would bury the one fix that is needed.
        let containers_need_memory = !is_set(self.memory.as_deref()) && !fargate;
        let mut first_by_name: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, container) in self.container_definitions.iter().enumerate() {
            let at = format!("containerDefinitions[{i}]");
            match container.name.as_deref().filter(|n| is_set(Some(n))) {
                None => found.push(LimitViolation::new(
                    format!("{at}.name"),
                    "every container needs a name",
                    "give the container a `\"name\"`",
                )),
                Some(name) => {
                    if let Some(first) = first_by_name.get(name) {
                        found.push(LimitViolation::new(
                            format!("{at}.name"),
                            format!(
                                "container name {name:?} is already used by containerDefinitions[{first}]"
                            ),
                            "give every container of the template a different `\"name\"`",
                        ));
                    } else {
                        first_by_name.insert(name, i);
                    }
                }
            }
            if !is_set(container.image.as_deref()) {
                found.push(LimitViolation::new(
                    format!("{at}.image"),
                    "every container needs an image",
                    "give the container an `\"image\"`; the application's is `\"{{ image }}\"`",
                ));
            }
            if containers_need_memory
                && container.memory.is_none()
                && container.memory_reservation.is_none()
            {
                found.push(LimitViolation::new(
                    at.clone(),
                    "no memory limit: set task-level memory or this container's memory or memoryReservation",
                    "write `\"memory\": \"{{ service.memory }}\"` at the top level of the template",
                ));
            }
            check_unique_variables(container, &at, &mut found);
        }

        if found.is_empty() { Ok(()) } else { Err(found) }
    }
}

impl TaskDefinition {
    /// Variables defined twice in one container (see [`TaskDefinition::check_limits`]). The
    /// renderer asks before it merges the tenant files' values in, which would otherwise keep
    /// one of a template's two definitions without a word.
    pub fn duplicate_variables(&self) -> Vec<LimitViolation> {
        let mut found = Vec::new();
        for (i, c) in self.container_definitions.iter().enumerate() {
            check_unique_variables(c, &format!("containerDefinitions[{i}]"), &mut found);
        }
        found
    }
}

/// ECS refuses a container whose `environment` and `secrets` define the same variable
/// twice, since the container could only ever see one of the values.
fn check_unique_variables(
    container: &ContainerDefinition,
    at: &str,
    found: &mut Vec<LimitViolation>,
) {
    let plain = container
        .environment()
        .iter()
        .enumerate()
        .filter_map(|(j, kv)| {
            kv.name
                .as_deref()
                .map(|n| (n, format!("{at}.environment[{j}]")))
        });
    let secret = container
        .secrets()
        .iter()
        .enumerate()
        .map(|(j, s)| (s.name.as_str(), format!("{at}.secrets[{j}]")));
    let mut first_at: BTreeMap<&str, String> = BTreeMap::new();
    for (name, path) in plain.chain(secret) {
        match first_at.get(name) {
            Some(first) => found.push(LimitViolation::new(
                format!("{path}.name"),
                format!("environment variable {name:?} is already defined at {first}"),
                "define each variable once, in `environment` or in `secrets`; the tenant files say which a variable is",
            )),
            None => {
                first_at.insert(name, path);
            }
        }
    }
}

/// Templates render absent values as empty strings, which ECS treats as missing.
fn is_set(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

// ---------------------------------------------------------------------------
// Helpers for the renderer
// ---------------------------------------------------------------------------

impl ContainerDefinition {
    /// The `environment` list; empty when the member is absent.
    pub fn environment(&self) -> &[KeyValuePair] {
        self.environment.as_deref().unwrap_or_default()
    }

    /// The `secrets` list; empty when the member is absent.
    pub fn secrets(&self) -> &[Secret] {
        self.secrets.as_deref().unwrap_or_default()
    }

    /// Mutable `environment`, created (as `[]`) if absent.
    pub fn environment_mut(&mut self) -> &mut Vec<KeyValuePair> {
        self.environment.get_or_insert_with(Vec::new)
    }

    /// Mutable `secrets`, created (as `[]`) if absent.
    pub fn secrets_mut(&mut self) -> &mut Vec<Secret> {
        self.secrets.get_or_insert_with(Vec::new)
    }

    /// Sets a plain environment variable: replaces the value of the first entry with
    /// that name (keeping its position, so output stays stable) or appends one.
    /// A secret of the same name is left alone; `check_limits` reports the clash.
    pub fn set_env_var(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        let env = self.environment_mut();
        match env
            .iter_mut()
            .find(|kv| kv.name.as_deref() == Some(name.as_str()))
        {
            Some(existing) => existing.value = Some(value),
            None => env.push(KeyValuePair::new(name, value)),
        }
    }

    /// Sets a secret: replaces `valueFrom` of the first entry with that name or appends
    /// one. A plain variable of the same name is left alone; `check_limits` reports it.
    pub fn set_secret(&mut self, name: impl Into<String>, value_from: impl Into<String>) {
        let (name, value_from) = (name.into(), value_from.into());
        let secrets = self.secrets_mut();
        match secrets.iter_mut().find(|s| s.name == name) {
            Some(existing) => existing.value_from = value_from,
            None => secrets.push(Secret::new(name, value_from)),
        }
    }
}

/// proptest strategies for the model, shared by the tests of the modules that convert it.
#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn opt<T: std::fmt::Debug>(
        inner: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Option<T>> {
        proptest::option::of(inner)
    }

    pub(crate) fn container() -> impl Strategy<Value = ContainerDefinition> {
        let text = "\\PC{0,12}";
        (
            (
                opt("[a-z][a-z0-9_-]{0,10}"),
                opt(text),
                opt(any::<i32>()),
                opt(any::<i32>()),
                opt(any::<bool>()),
            ),
            (
                opt(proptest::collection::vec(
                    (opt(text), opt(text)).prop_map(|(name, value)| KeyValuePair { name, value }),
                    0..4,
                )),
                opt(proptest::collection::vec(
                    (text, text).prop_map(|(n, v)| Secret::new(n, v)),
                    0..3,
                )),
                opt(proptest::collection::vec(
                    (opt(any::<i32>()), opt(any::<i32>()), opt("tcp|udp")).prop_map(
                        |(container_port, host_port, protocol)| PortMapping {
                            container_port,
                            host_port,
                            protocol,
                            ..PortMapping::default()
                        },
                    ),
                    0..3,
                )),
                opt(proptest::collection::btree_map(text, text, 0..4)),
                opt(proptest::collection::vec(text, 0..4)),
                opt(
                    (proptest::collection::vec(text, 0..3), opt(any::<i32>())).prop_map(
                        |(command, retries)| HealthCheck {
                            command,
                            interval: None,
                            timeout: None,
                            retries,
                            start_period: None,
                        },
                    ),
                ),
            ),
        )
            .prop_map(
                |(
                    (name, image, cpu, memory, essential),
                    (environment, secrets, port_mappings, docker_labels, command, health_check),
                )| {
                    ContainerDefinition {
                        name,
                        image,
                        cpu,
                        memory,
                        essential,
                        environment,
                        secrets,
                        port_mappings,
                        docker_labels,
                        command,
                        health_check,
                        ..ContainerDefinition::default()
                    }
                },
            )
    }

    /// A task definition with generated containers, family and memory.
    pub(crate) fn task_definition() -> impl Strategy<Value = TaskDefinition> {
        (
            "\\PC{0,20}",
            proptest::collection::vec(container(), 0..5),
            opt("[0-9]{1,5}"),
            opt("awsvpc|bridge|host"),
            opt(proptest::collection::vec("FARGATE|EC2", 0..3)),
        )
            .prop_map(
                |(
                    family,
                    container_definitions,
                    memory,
                    network_mode,
                    requires_compatibilities,
                )| {
                    TaskDefinition {
                        family,
                        container_definitions,
                        memory,
                        network_mode,
                        requires_compatibilities,
                        ..TaskDefinition::default()
                    }
                },
            )
    }
}

#[cfg(test)]
// The crate warns on `unwrap`; in tests a panic is exactly the failure report we want.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FARGATE_WEB: &str = r#"{
  "family": "acme-web",
  "taskRoleArn": "arn:aws:iam::123456789012:role/acme-web-task",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "512",
  "memory": "1024",
  "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
  "ephemeralStorage": {"sizeInGiB": 30},
  "tags": [{"key": "tenant", "value": "acme"}],
  "containerDefinitions": [
    {
      "name": "web",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2",
      "essential": true,
      "portMappings": [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"}
      ],
      "environment": [
        {"name": "RUST_LOG", "value": "info"},
        {"name": "TENANT", "value": "acme"}
      ],
      "secrets": [
        {"name": "DATABASE_URL", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/acme/db-url"}
      ],
      "healthCheck": {
        "command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
        "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10
      },
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-stream-prefix": "web",
          "awslogs-region": "eu-west-1",
          "awslogs-group": "/ecs/acme-web"
        }
      },
      "dockerLabels": {"team": "platform", "app": "web"},
      "readonlyRootFilesystem": true,
      "stopTimeout": 30,
      "versionConsistency": "enabled",
      "restartPolicy": {"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": 60}
    }
  ]
}"#;

    const EC2_WORKER: &str = r#"{
  "family": "acme-worker",
  "taskRoleArn": "arn:aws:iam::123456789012:role/acme-worker-task",
  "networkMode": "bridge",
  "requiresCompatibilities": ["EC2"],
  "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ m6i.*"}],
  "pidMode": "task",
  "ipcMode": "none",
  "volumes": [
    {"name": "scratch", "host": {"sourcePath": "/mnt/scratch"}},
    {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true, "driver": "local", "driverOpts": {"type": "tmpfs", "device": "tmpfs"}, "labels": {"b": "2", "a": "1"}}},
    {"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0", "rootDirectory": "/", "transitEncryption": "ENABLED", "transitEncryptionPort": 2049, "authorizationConfig": {"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"}}},
    {"name": "objects", "s3filesVolumeConfiguration": {"fileSystemArn": "arn:aws:s3files:eu-west-1:123456789012:file-system/fs-0abc", "rootDirectory": "/", "transitEncryptionPort": 2999, "accessPointArn": "arn:aws:s3files:eu-west-1:123456789012:access-point/ap-0abc"}},
    {"name": "ebs", "configuredAtLaunch": true}
  ],
  "containerDefinitions": [
    {
      "name": "worker",
      "image": "acme/worker:2024.06",
      "cpu": 1024,
      "memory": 2048,
      "memoryReservation": 1536,
      "essential": true,
      "command": ["worker", "--queue", "default"],
      "entryPoint": ["/usr/bin/tini", "--"],
      "workingDirectory": "/app",
      "user": "1000:1000",
      "mountPoints": [
        {"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": false},
        {"sourceVolume": "shared", "containerPath": "/shared", "readOnly": true}
      ],
      "linuxParameters": {
        "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW"]},
        "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse", "permissions": ["read", "write"]}],
        "initProcessEnabled": true,
        "sharedMemorySize": 256,
        "tmpfs": [{"containerPath": "/tmp", "size": 128, "mountOptions": ["noexec"]}],
        "maxSwap": 1024,
        "swappiness": 60
      },
      "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
      "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
      "extraHosts": [{"hostname": "metadata.local", "ipAddress": "169.254.169.254"}],
      "dnsServers": ["10.0.0.2"],
      "links": [],
      "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}],
      "environmentFiles": [{"value": "arn:aws:s3:::acme-config/worker.env", "type": "s3"}],
      "resourceRequirements": [{"value": "1", "type": "GPU"}],
      "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub"}
    },
    {
      "name": "migrate",
      "image": "acme/worker:2024.06",
      "memory": 256,
      "essential": false,
      "command": ["migrate"],
      "volumesFrom": [{"sourceContainer": "worker", "readOnly": true}],
      "resourceRequirements": [{"type": "GPU", "sharingStrategy": {"nvidiaMps": {"memory": 4096, "maxComputePercent": 25}}}]
    }
  ]
}"#;

    const FIRELENS: &str = r#"{
  "family": "acme-api",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "1024",
  "memory": "2048",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "containerDefinitions": [
    {
      "name": "log_router",
      "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
      "essential": true,
      "memoryReservation": 50,
      "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}},
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/firelens", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "firelens"}
      }
    },
    {
      "name": "api",
      "image": "acme/api:3.1.0",
      "essential": true,
      "portMappings": [{"containerPort": 3000, "protocol": "tcp"}],
      "dependsOn": [{"containerName": "log_router", "condition": "START"}],
      "logConfiguration": {
        "logDriver": "awsfirelens",
        "options": {"Name": "cloudwatch_logs", "region": "eu-west-1", "log_group_name": "/ecs/acme-api", "log_stream_prefix": "api-"},
        "secretOptions": [{"name": "apikey", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/acme/log-key"}]
      }
    }
  ]
}"#;

    /// Rebuilds every JSON object with its keys in reverse order, to show that the
    /// canonical form does not depend on the input's key order.
    fn reverse_keys(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.reverse();
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k, reverse_keys(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.into_iter().map(reverse_keys).collect()),
            other => other,
        }
    }

    fn assert_round_trip(fixture: &str) {
        let parsed = parse(fixture).unwrap();
        let canonical = parsed.to_canonical_json();
        let reparsed = parse(&canonical).unwrap();
        assert_eq!(
            reparsed, parsed,
            "parse → canonical → parse must be identity"
        );
        assert_eq!(
            reparsed.to_canonical_json(),
            canonical,
            "canonical form must be a fixed point"
        );

        let value: serde_json::Value = serde_json::from_str(fixture).unwrap();
        let shuffled = serde_json::to_string(&reverse_keys(value)).unwrap();
        assert_ne!(shuffled, serde_json::to_string(&parsed).unwrap());
        assert_eq!(parse(&shuffled).unwrap().to_canonical_json(), canonical);

        // Nothing may be dropped: the canonical text carries the same data as the input.
        let input_value: serde_json::Value = serde_json::from_str(fixture).unwrap();
        let canonical_value: serde_json::Value = serde_json::from_str(&canonical).unwrap();
        assert_eq!(sorted(input_value), sorted(canonical_value));

        assert_eq!(parsed.check_limits(), Ok(()));
    }

    /// Key order is irrelevant for equality of JSON documents; `preserve_order` makes
    /// `Value` compare it, so normalise through a BTreeMap first.
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<String, Value> =
                    map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }

    #[test]
    fn fargate_web_service_round_trips() {
        assert_round_trip(FARGATE_WEB);
    }

    #[test]
    fn ec2_task_with_volumes_round_trips() {
        assert_round_trip(EC2_WORKER);
    }

    #[test]
    fn firelens_sidecar_round_trips() {
        assert_round_trip(FIRELENS);
    }

    #[test]
    fn canonical_json_is_pretty_ordered_and_newline_terminated() {
        let canonical = parse(FARGATE_WEB).unwrap().to_canonical_json();
        assert!(canonical.starts_with("{\n  \"family\": \"acme-web\",\n  \"taskRoleArn\""));
        assert!(canonical.ends_with("}\n") && !canonical.ends_with("}\n\n"));
        // Model order, not input order: containerDefinitions precedes cpu and tags.
        let pos = |needle: &str| canonical.find(needle).unwrap();
        assert!(pos("\"containerDefinitions\"") < pos("\"requiresCompatibilities\""));
        assert!(pos("\"requiresCompatibilities\"") < pos("\"cpu\": \"512\""));
        assert!(pos("\"ephemeralStorage\"") < pos("\"runtimePlatform\""));
        // Map keys sorted.
        assert!(pos("\"awslogs-group\"") < pos("\"awslogs-region\""));
        assert!(pos("\"awslogs-region\"") < pos("\"awslogs-stream-prefix\""));
        assert!(pos("\"app\": \"web\"") < pos("\"team\": \"platform\""));
        assert!(canonical.contains("\n    {\n      \"name\": \"web\""));
    }

    #[test]
    fn explicit_empty_list_survives_and_absent_list_stays_absent() {
        let td = parse(EC2_WORKER).unwrap();
        assert_eq!(td.container_definitions[0].links, Some(vec![]));
        assert_eq!(td.container_definitions[1].links, None);
        let canonical = td.to_canonical_json();
        assert_eq!(canonical.matches("\"links\"").count(), 1);
        assert!(canonical.contains("\"links\": []"));
    }

    #[test]
    fn null_optional_members_read_as_absent() {
        let td = parse(r#"{"family":"f","taskRoleArn":null,"containerDefinitions":[{"name":"a","image":"i","memory":null}]}"#)
            .unwrap();
        assert_eq!(td.task_role_arn, None);
        assert_eq!(td.container_definitions[0].memory, None);
    }

    #[test]
    fn unknown_field_at_depth_reports_path_and_hint() {
        let json = r#"{
  "family": "f",
  "containerDefinitions": [
    {"name": "a", "image": "i", "memory": 128,
     "portMapping": [{"containerPort": 80}]}
  ]
}"#;
        let err = parse(json).unwrap_err();
        assert_eq!(err.path(), Some("containerDefinitions[0].portMapping"));
        assert_eq!(err.hint(), Some("portMappings"));
        assert_eq!(err.line(), Some(5));
        assert!(matches!(&err, TaskDefError::UnknownField { field, .. } if field == "portMapping"));
        // The ~43 fields a container allows are data for a hint, not part of every message.
        assert_eq!(
            err.to_string(),
            "containerDefinitions[0].portMapping: unknown field `portMapping` (line 5, column 18)"
        );
        assert!(
            matches!(&err, TaskDefError::UnknownField { expected, .. } if expected.iter().any(|f| f == "credentialSpecs")),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_field_deeper_still() {
        let json = r#"{"family":"f","containerDefinitions":[{"name":"a","image":"i"},
            {"name":"b","image":"i","linuxParameters":{"capabilities":{"adds":["NET_ADMIN"]}}}]}"#;
        let err = parse(json).unwrap_err();
        assert_eq!(
            err.path(),
            Some("containerDefinitions[1].linuxParameters.capabilities.adds")
        );
        assert_eq!(err.hint(), Some("add"));
        assert!(
            matches!(&err, TaskDefError::UnknownField { expected, .. } if expected == &["add", "drop"]),
            "{err:?}"
        );
    }

    #[test]
    fn hint_handles_case_separators_and_truncation() {
        let cases = [
            ("port_mappings", Some("portMappings")),
            ("PortMappings", Some("portMappings")),
            ("logConfig", Some("logConfiguration")),
            ("memoryReservaton", Some("memoryReservation")),
            ("zzzzzz", None),
        ];
        for (field, expected) in cases {
            let json = format!(r#"{{"family":"f","containerDefinitions":[{{"{field}":1}}]}}"#);
            let err = parse(&json).unwrap_err();
            assert_eq!(
                err.path(),
                Some(format!("containerDefinitions[0].{field}").as_str())
            );
            assert_eq!(err.hint(), expected, "{field}");
        }
    }

    #[test]
    fn top_level_unknown_field_has_bare_path() {
        let err = parse(r#"{"family":"f","containerDefinitions":[],"famly":"x"}"#).unwrap_err();
        assert_eq!(err.path(), Some("famly"));
        assert_eq!(err.hint(), Some("family"));
    }

    #[test]
    fn describe_output_field_is_not_misspelled_as_something_else() {
        // Templates copied from describe-task-definition output carry these members;
        // the fix is deleting them, not respelling them into a real field.
        let err =
            parse(r#"{"family":"f","containerDefinitions":[],"status":"ACTIVE"}"#).unwrap_err();
        assert_eq!(err.path(), Some("status"));
        assert_eq!(err.hint(), None);
        assert!(
            err.to_string()
                .starts_with("status: unknown field `status` (DescribeTaskDefinition output"),
            "{err}"
        );

        // The same name below the top level is just an unknown field.
        let err = parse(r#"{"family":"f","containerDefinitions":[{"status":"x"}]}"#).unwrap_err();
        assert!(!err.to_string().contains("DescribeTaskDefinition"), "{err}");
    }

    #[test]
    fn wrong_type_reports_path_and_position() {
        let json = "{\n  \"family\": \"f\",\n  \"containerDefinitions\": [\n    {\"name\": \"a\", \"image\": \"i\", \"memory\": \"512\"}\n  ]\n}";
        let err = parse(json).unwrap_err();
        assert_eq!(err.path(), Some("containerDefinitions[0].memory"));
        assert_eq!((err.line(), err.column()), (Some(4), Some(47)));
        assert_eq!(err.hint(), None);
        assert_eq!(
            err.to_string(),
            "containerDefinitions[0].memory: invalid type: string \"512\", expected i32 (line 4, column 47)"
        );

        // And the other way round: task-level cpu is a string in the API.
        let err = parse(r#"{"family":"f","cpu":256,"containerDefinitions":[]}"#).unwrap_err();
        assert_eq!(err.path(), Some("cpu"));
        assert!(
            err.to_string()
                .contains("invalid type: integer `256`, expected a string"),
            "{err}"
        );
    }

    #[test]
    fn missing_required_member_reports_enclosing_path() {
        let json =
            r#"{"family":"f","containerDefinitions":[{"name":"a","secrets":[{"name":"X"}]}]}"#;
        let err = parse(json).unwrap_err();
        assert_eq!(err.path(), Some("containerDefinitions[0].secrets[0]"));
        assert!(
            err.to_string().contains("missing field `valueFrom`"),
            "{err}"
        );

        let err = parse(r#"{"containerDefinitions":[]}"#).unwrap_err();
        assert_eq!(err.path(), Some("."));
        assert!(
            err.to_string()
                .starts_with("top level: missing field `family`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let json = "{\n  \"family\": \"f\",\n  \"containerDefinitions\": [\n    {\"name\": \"a\" \"image\": \"i\"}\n  ]\n}";
        let err = parse(json).unwrap_err();
        assert!(matches!(err, TaskDefError::Syntax { .. }), "{err:?}");
        assert_eq!((err.line(), err.column()), (Some(4), Some(18)));
        assert_eq!(err.path(), None);
        assert_eq!(
            err.to_string(),
            "invalid JSON at line 4, column 18: expected `,` or `}`"
        );
    }

    #[test]
    fn truncated_and_trailing_input_are_syntax_errors() {
        let err = parse("{\"family\": \"f\",\n").unwrap_err();
        assert!(matches!(err, TaskDefError::Syntax { .. }), "{err:?}");
        assert_eq!(err.line(), Some(2));
        assert!(err.to_string().contains("EOF while parsing"), "{err}");

        let err = parse("{\"family\":\"f\",\"containerDefinitions\":[]}\n{}").unwrap_err();
        assert!(matches!(err, TaskDefError::Syntax { .. }), "{err:?}");
        assert_eq!(err.position(), Some(Position { line: 2, column: 1 }));
        assert!(err.to_string().contains("trailing characters"), "{err}");
    }

    fn container(name: &str) -> ContainerDefinition {
        ContainerDefinition {
            name: Some(name.to_owned()),
            image: Some("img".to_owned()),
            memory: Some(128),
            ..ContainerDefinition::default()
        }
    }

    fn task(containers: Vec<ContainerDefinition>) -> TaskDefinition {
        TaskDefinition {
            family: "f".to_owned(),
            container_definitions: containers,
            ..TaskDefinition::default()
        }
    }

    fn violations(td: &TaskDefinition) -> Vec<(String, String)> {
        td.check_limits()
            .unwrap_err()
            .into_iter()
            .map(|v| (v.path, v.message))
            .collect()
    }

    #[test]
    fn size_limit_is_exact() {
        let mut td = task(vec![container("a")]);
        td.container_definitions[0].set_env_var("PAD", "");
        let base = td.request_size();
        td.container_definitions[0]
            .set_env_var("PAD", "x".repeat(MAX_TASK_DEFINITION_BYTES - base));
        assert_eq!(td.request_size(), MAX_TASK_DEFINITION_BYTES);
        assert_eq!(td.check_limits(), Ok(()));

        td.container_definitions[0]
            .set_env_var("PAD", "x".repeat(MAX_TASK_DEFINITION_BYTES - base + 1));
        let found = td.check_limits().unwrap_err();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, ".");
        // The size is this rendering's measurement, apart from the wording every tenant
        // rendering the same template shares.
        assert_eq!(found[0].measured.as_deref(), Some("65537 bytes"));
        assert!(!found[0].message.contains("65537"), "{}", found[0].message);
    }

    #[test]
    fn container_count_limits() {
        assert_eq!(
            violations(&task(vec![])),
            vec![(
                "containerDefinitions".to_owned(),
                "0 container definitions; ECS requires 1 to 10".to_owned()
            )]
        );
        let ten: Vec<_> = (0..10).map(|i| container(&format!("c{i}"))).collect();
        assert_eq!(task(ten.clone()).check_limits(), Ok(()));
        let mut eleven = ten;
        eleven.push(container("c10"));
        let found = violations(&task(eleven));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "containerDefinitions");
    }

    #[test]
    fn duplicate_container_names() {
        let found = violations(&task(vec![container("a"), container("b"), container("a")]));
        assert_eq!(
            found,
            vec![(
                "containerDefinitions[2].name".to_owned(),
                "container name \"a\" is already used by containerDefinitions[0]".to_owned()
            )]
        );
    }

    #[test]
    fn name_and_image_required() {
        let mut nameless = container("x");
        nameless.name = None;
        let mut blank_image = container("y");
        blank_image.image = Some("  ".to_owned());
        let found = violations(&task(vec![nameless, blank_image]));
        let paths: Vec<_> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "containerDefinitions[0].name",
                "containerDefinitions[1].image"
            ]
        );
    }

    #[test]
    fn memory_required_somewhere() {
        let mut no_memory = container("b");
        no_memory.memory = None;
        let mut reserved = container("c");
        reserved.memory = None;
        reserved.memory_reservation = Some(64);
        let mut td = task(vec![container("a"), no_memory, reserved]);
        let found = violations(&td);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "containerDefinitions[1]");

        // Task-level memory covers every container; an empty rendered value does not.
        td.memory = Some(String::new());
        assert_eq!(violations(&td).len(), 1);
        td.memory = Some("512".to_owned());
        assert_eq!(td.check_limits(), Ok(()));
    }

    #[test]
    fn fargate_requirements() {
        let mut no_memory = container("a");
        no_memory.memory = None;
        let mut td = task(vec![no_memory]);
        td.requires_compatibilities = Some(vec!["EC2".to_owned(), "FARGATE".to_owned()]);
        td.network_mode = Some("bridge".to_owned());
        let found = violations(&td);
        let paths: Vec<_> = found.iter().map(|(p, _)| p.as_str()).collect();
        // No per-container memory complaint: the task-level one is the fix.
        assert_eq!(paths, ["cpu", "memory", "networkMode"]);
        assert!(found[2].1.contains("found \"bridge\""), "{}", found[2].1);

        td.cpu = Some("256".to_owned());
        td.memory = Some("512".to_owned());
        td.network_mode = None;
        assert_eq!(violations(&td), vec![("networkMode".to_owned(), "networkMode must be \"awsvpc\" when requiresCompatibilities includes FARGATE (found none)".to_owned())]);
        td.network_mode = Some("awsvpc".to_owned());
        assert_eq!(td.check_limits(), Ok(()));
    }

    #[test]
    fn environment_names_unique_across_environment_and_secrets() {
        let mut c = container("a");
        c.set_env_var("A", "1");
        c.set_env_var("B", "2");
        c.environment_mut().push(KeyValuePair::new("A", "again"));
        c.set_secret("B", "arn:aws:ssm:eu-west-1:1:parameter/b");
        c.set_secret("C", "arn:aws:ssm:eu-west-1:1:parameter/c");
        // Unnamed entries are ECS's business, not a duplicate.
        c.environment_mut().push(KeyValuePair {
            name: None,
            value: Some("v".to_owned()),
        });
        let found = violations(&task(vec![c.clone(), c]));
        let paths: Vec<_> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "containerDefinitions[0].environment[2].name",
                "containerDefinitions[0].secrets[0].name",
                "containerDefinitions[1].name",
                "containerDefinitions[1].environment[2].name",
                "containerDefinitions[1].secrets[0].name",
            ]
        );
        assert_eq!(
            found[1].1,
            "environment variable \"B\" is already defined at containerDefinitions[0].environment[1]"
        );
    }

    #[test]
    fn violation_display_names_the_place() {
        let v = LimitViolation::new(".", "too big", "");
        assert_eq!(v.to_string(), "top level: too big");
        let v = LimitViolation::new("cpu", "required", "");
        assert_eq!(v.to_string(), "cpu: required");
    }

    #[test]
    fn environment_accessors_and_upserts() {
        let mut c = ContainerDefinition::default();
        assert!(c.environment().is_empty() && c.secrets().is_empty());
        assert_eq!(c.environment, None, "reading must not materialise the list");

        c.set_env_var("A", "1");
        c.set_env_var("B", "2");
        c.set_env_var("A", "3");
        assert_eq!(
            c.environment(),
            [KeyValuePair::new("A", "3"), KeyValuePair::new("B", "2")]
        );

        c.set_secret("S", "arn:1");
        c.set_secret("S", "arn:2");
        assert_eq!(c.secrets(), [Secret::new("S", "arn:2")]);

        let mut empty = ContainerDefinition::default();
        empty.environment_mut();
        assert!(
            serde_json::to_string(&empty)
                .unwrap()
                .contains("\"environment\":[]")
        );
    }

    proptest! {
        #[test]
        fn generated_container_lists_round_trip(
            family in "\\PC{0,20}",
            containers in proptest::collection::vec(arb::container(), 0..5),
            memory in arb::opt("[0-9]{1,5}"),
        ) {
            let td = TaskDefinition { family, container_definitions: containers, memory, ..TaskDefinition::default() };
            let canonical = td.to_canonical_json();
            let reparsed = parse(&canonical).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&reparsed, &td);
            prop_assert_eq!(reparsed.to_canonical_json(), canonical);
        }
    }

    #[test]
    fn a_key_twice_in_a_string_map_is_an_error_like_a_member_twice() {
        let doc = |inner: &str| {
            format!(
                r#"{{"family": "f", "containerDefinitions": [{{"name": "a", "image": "i", "memory": 8, {inner}}}]}}"#
            )
        };
        for (inner, path) in [
            (
                r#""dockerLabels": {"team": "a", "team": "b"}"#,
                "containerDefinitions[0].dockerLabels",
            ),
            (
                r#""logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "a", "awslogs-group": "b"}}"#,
                "containerDefinitions[0].logConfiguration.options",
            ),
        ] {
            let err = parse(&doc(inner)).expect_err("a duplicate key");
            let shown = err.to_string();
            assert!(shown.contains("duplicate key"), "{shown}");
            assert_eq!(err.path(), Some(path), "{shown}");
        }
        let fine = parse(&doc(r#""dockerLabels": {"team": "a", "tier": "b"}"#)).expect("parses");
        assert_eq!(
            fine.container_definitions[0]
                .docker_labels
                .as_ref()
                .map(BTreeMap::len),
            Some(2)
        );
    }
}
