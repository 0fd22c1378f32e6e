//! Model ↔ SDK conversions: the task definition model ([`TaskDefinition`]) into an `aws-sdk-ecs` `RegisterTaskDefinition` request, and a `DescribeTaskDefinition` result back into the model; builds values only, never calls AWS.
//!
//! The SDK's types have no serde, so each shape is converted by hand. Three rules keep
//! the conversions honest:
//! * Every model struct is destructured without `..` on the way out, so a member added
//!   to [`crate::render::taskdef`] stops this file compiling instead of being dropped
//!   from the request without a word.
//! * The model and the SDK have the same members, checked both ways by the test
//!   `model_and_sdk_have_the_same_members` (it reads the SDK builders' member names), so
//!   a member ECS adds shows up as a failing test when the SDK is upgraded, not as a
//!   field a template can write and stamp cannot send.
//! * Enumerations are `String` in the model and go through the SDK enums' `From<&str>`;
//!   values the SDK does not know become its `Unknown` variant, which is sent verbatim,
//!   so ECS, not this build's SDK, decides whether a new value is valid.
//!
//! [`from_sdk`] undoes the SDK's and ECS's representation quirks (see its docs) so that
//! describing an unchanged definition gives back what was registered.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ecs::error::BuildError;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types as sdk;

use crate::render::taskdef::{self as model, TaskDefinition};

/// Why a model value cannot be put into an SDK request.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A union the template wrote with no member (`"sharingStrategy": {}`): the SDK
    /// has no value for "none of them". `path` is the union itself.
    #[error("{path}: write exactly one member (ECS takes `nvidiaMps`)")]
    Empty { path: String },
    /// An SDK builder refused a value. The model requires everything the SDK requires
    /// (except the unions, see [`ConvertError::Empty`]), so this means the two have
    /// drifted apart; it is reported rather than unwrapped so that it cannot crash a
    /// deployment.
    #[error("{path}: the AWS SDK refused the value: {source}")]
    Sdk {
        path: String,
        #[source]
        source: BuildError,
    },
}

impl ConvertError {
    /// JSON path of the offending value, in `taskdef::TaskDefError::path` notation.
    pub fn path(&self) -> &str {
        match self {
            Self::Empty { path } | Self::Sdk { path, .. } => path,
        }
    }
}

// ---------------------------------------------------------------------------
// Model → SDK
// ---------------------------------------------------------------------------

/// Sets every `RegisterTaskDefinition` member of `b` from `td`, with `extra_tags`
/// appended after the model's own `tags` (stamp's bookkeeping tags, which templates do
/// not carry). Members absent from `td` are explicitly unset, so a reused builder keeps
/// nothing from an earlier definition.
// `inferenceAccelerators` is deprecated in the SDK since AWS retired Elastic Inference; the
// API still carries the member, so a template that has it round-trips unchanged.
#[allow(deprecated)]
pub fn fill_register(
    b: RegisterTaskDefinitionFluentBuilder,
    td: &TaskDefinition,
    extra_tags: &[(String, String)],
) -> Result<RegisterTaskDefinitionFluentBuilder, ConvertError> {
    let TaskDefinition {
        family,
        task_role_arn,
        execution_role_arn,
        network_mode,
        container_definitions,
        volumes,
        placement_constraints,
        requires_compatibilities,
        cpu,
        memory,
        tags,
        pid_mode,
        ipc_mode,
        proxy_configuration,
        inference_accelerators,
        ephemeral_storage,
        runtime_platform,
        enable_fault_injection,
    } = td;

    let containers = container_definitions
        .iter()
        .enumerate()
        .map(|(i, c)| container_to_sdk(c, &at("containerDefinitions", i)))
        .collect::<Result<Vec<_>, _>>()?;
    // No tags at all stays "no tags member"; an explicit `[]` in the template is kept.
    let tags = match (tags, extra_tags) {
        (None, []) => None,
        (own, extra) => Some(
            own.iter()
                .flatten()
                .map(tag_to_sdk)
                .chain(extra.iter().map(|(key, value)| {
                    sdk::Tag::builder()
                        .key(key.clone())
                        .value(value.clone())
                        .build()
                }))
                .collect(),
        ),
    };

    Ok(b.set_family(Some(family.clone()))
        .set_task_role_arn(task_role_arn.clone())
        .set_execution_role_arn(execution_role_arn.clone())
        .set_network_mode(sdk_enum(network_mode))
        .set_container_definitions(Some(containers))
        .set_volumes(try_list(volumes, "volumes", volume_to_sdk)?)
        .set_placement_constraints(list(placement_constraints, |p| {
            let model::TaskDefinitionPlacementConstraint { r#type, expression } = p;
            sdk::TaskDefinitionPlacementConstraint::builder()
                .set_type(sdk_enum(r#type))
                .set_expression(expression.clone())
                .build()
        }))
        .set_requires_compatibilities(list(requires_compatibilities, |c| {
            sdk::Compatibility::from(c.as_str())
        }))
        .set_cpu(cpu.clone())
        .set_memory(memory.clone())
        .set_tags(tags)
        .set_pid_mode(sdk_enum(pid_mode))
        .set_ipc_mode(sdk_enum(ipc_mode))
        .set_proxy_configuration(
            proxy_configuration
                .as_ref()
                .map(|p| proxy_to_sdk(p, "proxyConfiguration"))
                .transpose()?,
        )
        .set_inference_accelerators(try_list(
            inference_accelerators,
            "inferenceAccelerators",
            |a, path| {
                let model::InferenceAccelerator {
                    device_name,
                    device_type,
                } = a;
                built(
                    sdk::InferenceAccelerator::builder()
                        .device_name(device_name.clone())
                        .device_type(device_type.clone())
                        .build(),
                    path,
                )
            },
        )?)
        .set_ephemeral_storage(ephemeral_storage.as_ref().map(|e| {
            let model::EphemeralStorage { size_in_gib } = e;
            sdk::EphemeralStorage::builder()
                .size_in_gib(*size_in_gib)
                .build()
        }))
        .set_runtime_platform(runtime_platform.as_ref().map(|r| {
            let model::RuntimePlatform {
                cpu_architecture,
                operating_system_family,
            } = r;
            sdk::RuntimePlatform::builder()
                .set_cpu_architecture(sdk_enum(cpu_architecture))
                .set_operating_system_family(sdk_enum(operating_system_family))
                .build()
        }))
        .set_enable_fault_injection(*enable_fault_injection))
}

fn container_to_sdk(
    c: &model::ContainerDefinition,
    path: &str,
) -> Result<sdk::ContainerDefinition, ConvertError> {
    let model::ContainerDefinition {
        name,
        image,
        repository_credentials,
        cpu,
        memory,
        memory_reservation,
        links,
        port_mappings,
        essential,
        restart_policy,
        entry_point,
        command,
        environment,
        environment_files,
        mount_points,
        volumes_from,
        linux_parameters,
        secrets,
        depends_on,
        start_timeout,
        stop_timeout,
        version_consistency,
        hostname,
        user,
        working_directory,
        disable_networking,
        privileged,
        readonly_root_filesystem,
        dns_servers,
        dns_search_domains,
        extra_hosts,
        docker_security_options,
        interactive,
        pseudo_terminal,
        docker_labels,
        ulimits,
        log_configuration,
        health_check,
        system_controls,
        resource_requirements,
        firelens_configuration,
        credential_specs,
    } = c;

    let repository_credentials = repository_credentials
        .as_ref()
        .map(|r| repository_credentials_to_sdk(r, &member(path, "repositoryCredentials")))
        .transpose()?;
    let restart_policy = restart_policy
        .as_ref()
        .map(|r| restart_policy_to_sdk(r, &member(path, "restartPolicy")))
        .transpose()?;
    let environment_files = try_list(
        environment_files,
        &member(path, "environmentFiles"),
        environment_file_to_sdk,
    )?;
    let linux_parameters = linux_parameters
        .as_ref()
        .map(|l| linux_parameters_to_sdk(l, &member(path, "linuxParameters")))
        .transpose()?;
    let secrets = try_list(secrets, &member(path, "secrets"), secret_to_sdk)?;
    let depends_on = try_list(depends_on, &member(path, "dependsOn"), dependency_to_sdk)?;
    let extra_hosts = try_list(extra_hosts, &member(path, "extraHosts"), host_entry_to_sdk)?;
    let ulimits = try_list(ulimits, &member(path, "ulimits"), ulimit_to_sdk)?;
    let log_configuration = log_configuration
        .as_ref()
        .map(|l| log_configuration_to_sdk(l, &member(path, "logConfiguration")))
        .transpose()?;
    let health_check = health_check
        .as_ref()
        .map(|h| health_check_to_sdk(h, &member(path, "healthCheck")))
        .transpose()?;
    let resource_requirements = try_list(
        resource_requirements,
        &member(path, "resourceRequirements"),
        resource_requirement_to_sdk,
    )?;
    let firelens_configuration = firelens_configuration
        .as_ref()
        .map(|f| firelens_to_sdk(f, &member(path, "firelensConfiguration")))
        .transpose()?;

    Ok(sdk::ContainerDefinition::builder()
        .set_name(name.clone())
        .set_image(image.clone())
        .set_repository_credentials(repository_credentials)
        // The SDK models container `cpu` as a plain i32 and does not serialise 0, so
        // `Some(0)` reaches ECS as "no cpu"; ECS treats the two alike (see `from_sdk`).
        .set_cpu(*cpu)
        .set_memory(*memory)
        .set_memory_reservation(*memory_reservation)
        .set_links(links.clone())
        .set_port_mappings(list(port_mappings, port_mapping_to_sdk))
        .set_essential(*essential)
        .set_restart_policy(restart_policy)
        .set_entry_point(entry_point.clone())
        .set_command(command.clone())
        .set_environment(list(environment, key_value_to_sdk))
        .set_environment_files(environment_files)
        .set_mount_points(list(mount_points, mount_point_to_sdk))
        .set_volumes_from(list(volumes_from, volume_from_to_sdk))
        .set_linux_parameters(linux_parameters)
        .set_secrets(secrets)
        .set_depends_on(depends_on)
        .set_start_timeout(*start_timeout)
        .set_stop_timeout(*stop_timeout)
        .set_version_consistency(sdk_enum(version_consistency))
        .set_hostname(hostname.clone())
        .set_user(user.clone())
        .set_working_directory(working_directory.clone())
        .set_disable_networking(*disable_networking)
        .set_privileged(*privileged)
        .set_readonly_root_filesystem(*readonly_root_filesystem)
        .set_dns_servers(dns_servers.clone())
        .set_dns_search_domains(dns_search_domains.clone())
        .set_extra_hosts(extra_hosts)
        .set_docker_security_options(docker_security_options.clone())
        .set_interactive(*interactive)
        .set_pseudo_terminal(*pseudo_terminal)
        .set_docker_labels(hash_map(docker_labels))
        .set_ulimits(ulimits)
        .set_log_configuration(log_configuration)
        .set_health_check(health_check)
        .set_system_controls(list(system_controls, system_control_to_sdk))
        .set_resource_requirements(resource_requirements)
        .set_firelens_configuration(firelens_configuration)
        .set_credential_specs(credential_specs.clone())
        .build())
}

fn repository_credentials_to_sdk(
    r: &model::RepositoryCredentials,
    path: &str,
) -> Result<sdk::RepositoryCredentials, ConvertError> {
    let model::RepositoryCredentials {
        credentials_parameter,
    } = r;
    built(
        sdk::RepositoryCredentials::builder()
            .credentials_parameter(credentials_parameter.clone())
            .build(),
        path,
    )
}

fn restart_policy_to_sdk(
    r: &model::ContainerRestartPolicy,
    path: &str,
) -> Result<sdk::ContainerRestartPolicy, ConvertError> {
    let model::ContainerRestartPolicy {
        enabled,
        ignored_exit_codes,
        restart_attempt_period,
    } = r;
    built(
        sdk::ContainerRestartPolicy::builder()
            .enabled(*enabled)
            .set_ignored_exit_codes(ignored_exit_codes.clone())
            .set_restart_attempt_period(*restart_attempt_period)
            .build(),
        path,
    )
}

fn environment_file_to_sdk(
    f: &model::EnvironmentFile,
    path: &str,
) -> Result<sdk::EnvironmentFile, ConvertError> {
    let model::EnvironmentFile { value, r#type } = f;
    built(
        sdk::EnvironmentFile::builder()
            .value(value.clone())
            .r#type(sdk::EnvironmentFileType::from(r#type.as_str()))
            .build(),
        path,
    )
}

fn dependency_to_sdk(
    d: &model::ContainerDependency,
    path: &str,
) -> Result<sdk::ContainerDependency, ConvertError> {
    let model::ContainerDependency {
        container_name,
        condition,
    } = d;
    built(
        sdk::ContainerDependency::builder()
            .container_name(container_name.clone())
            .condition(sdk::ContainerCondition::from(condition.as_str()))
            .build(),
        path,
    )
}

fn host_entry_to_sdk(h: &model::HostEntry, path: &str) -> Result<sdk::HostEntry, ConvertError> {
    let model::HostEntry {
        hostname,
        ip_address,
    } = h;
    built(
        sdk::HostEntry::builder()
            .hostname(hostname.clone())
            .ip_address(ip_address.clone())
            .build(),
        path,
    )
}

fn ulimit_to_sdk(u: &model::Ulimit, path: &str) -> Result<sdk::Ulimit, ConvertError> {
    let model::Ulimit {
        name,
        soft_limit,
        hard_limit,
    } = u;
    built(
        sdk::Ulimit::builder()
            .name(sdk::UlimitName::from(name.as_str()))
            .soft_limit(*soft_limit)
            .hard_limit(*hard_limit)
            .build(),
        path,
    )
}

fn log_configuration_to_sdk(
    l: &model::LogConfiguration,
    path: &str,
) -> Result<sdk::LogConfiguration, ConvertError> {
    let model::LogConfiguration {
        log_driver,
        options,
        secret_options,
    } = l;
    let secret_options = try_list(
        secret_options,
        &member(path, "secretOptions"),
        secret_to_sdk,
    )?;
    built(
        sdk::LogConfiguration::builder()
            .log_driver(sdk::LogDriver::from(log_driver.as_str()))
            .set_options(hash_map(options))
            .set_secret_options(secret_options)
            .build(),
        path,
    )
}

fn health_check_to_sdk(
    h: &model::HealthCheck,
    path: &str,
) -> Result<sdk::HealthCheck, ConvertError> {
    let model::HealthCheck {
        command,
        interval,
        timeout,
        retries,
        start_period,
    } = h;
    built(
        sdk::HealthCheck::builder()
            .set_command(Some(command.clone()))
            .set_interval(*interval)
            .set_timeout(*timeout)
            .set_retries(*retries)
            .set_start_period(*start_period)
            .build(),
        path,
    )
}

fn firelens_to_sdk(
    f: &model::FirelensConfiguration,
    path: &str,
) -> Result<sdk::FirelensConfiguration, ConvertError> {
    let model::FirelensConfiguration { r#type, options } = f;
    built(
        sdk::FirelensConfiguration::builder()
            .r#type(sdk::FirelensConfigurationType::from(r#type.as_str()))
            .set_options(hash_map(options))
            .build(),
        path,
    )
}

fn port_mapping_to_sdk(p: &model::PortMapping) -> sdk::PortMapping {
    let model::PortMapping {
        container_port,
        host_port,
        protocol,
        name,
        app_protocol,
        container_port_range,
    } = p;
    sdk::PortMapping::builder()
        .set_container_port(*container_port)
        .set_host_port(*host_port)
        .set_protocol(sdk_enum(protocol))
        .set_name(name.clone())
        .set_app_protocol(sdk_enum(app_protocol))
        .set_container_port_range(container_port_range.clone())
        .build()
}

fn mount_point_to_sdk(m: &model::MountPoint) -> sdk::MountPoint {
    let model::MountPoint {
        source_volume,
        container_path,
        read_only,
    } = m;
    sdk::MountPoint::builder()
        .set_source_volume(source_volume.clone())
        .set_container_path(container_path.clone())
        .set_read_only(*read_only)
        .build()
}

fn volume_from_to_sdk(v: &model::VolumeFrom) -> sdk::VolumeFrom {
    let model::VolumeFrom {
        source_container,
        read_only,
    } = v;
    sdk::VolumeFrom::builder()
        .set_source_container(source_container.clone())
        .set_read_only(*read_only)
        .build()
}

fn system_control_to_sdk(s: &model::SystemControl) -> sdk::SystemControl {
    let model::SystemControl { namespace, value } = s;
    sdk::SystemControl::builder()
        .set_namespace(namespace.clone())
        .set_value(value.clone())
        .build()
}

fn linux_parameters_to_sdk(
    l: &model::LinuxParameters,
    path: &str,
) -> Result<sdk::LinuxParameters, ConvertError> {
    let model::LinuxParameters {
        capabilities,
        devices,
        init_process_enabled,
        shared_memory_size,
        tmpfs,
        max_swap,
        swappiness,
    } = l;
    let devices = try_list(devices, &member(path, "devices"), |d, path| {
        let model::Device {
            host_path,
            container_path,
            permissions,
        } = d;
        built(
            sdk::Device::builder()
                .host_path(host_path.clone())
                .set_container_path(container_path.clone())
                .set_permissions(list(permissions, |p| {
                    sdk::DeviceCgroupPermission::from(p.as_str())
                }))
                .build(),
            path,
        )
    })?;
    let tmpfs = try_list(tmpfs, &member(path, "tmpfs"), |t, path| {
        let model::Tmpfs {
            container_path,
            size,
            mount_options,
        } = t;
        built(
            sdk::Tmpfs::builder()
                .container_path(container_path.clone())
                .size(*size)
                .set_mount_options(mount_options.clone())
                .build(),
            path,
        )
    })?;
    Ok(sdk::LinuxParameters::builder()
        .set_capabilities(capabilities.as_ref().map(|k| {
            let model::KernelCapabilities { add, drop } = k;
            sdk::KernelCapabilities::builder()
                .set_add(add.clone())
                .set_drop(drop.clone())
                .build()
        }))
        .set_devices(devices)
        .set_init_process_enabled(*init_process_enabled)
        .set_shared_memory_size(*shared_memory_size)
        .set_tmpfs(tmpfs)
        .set_max_swap(*max_swap)
        .set_swappiness(*swappiness)
        .build())
}

fn resource_requirement_to_sdk(
    r: &model::ResourceRequirement,
    path: &str,
) -> Result<sdk::ResourceRequirement, ConvertError> {
    let model::ResourceRequirement {
        value,
        r#type,
        sharing_strategy,
    } = r;
    let sharing_strategy = sharing_strategy
        .as_ref()
        .map(|s| sharing_strategy_to_sdk(s, &member(path, "sharingStrategy")))
        .transpose()?;
    // The SDK's model still marks `value` required and sends `""` when it is unset; a GPU
    // sized by `sharingStrategy` has no value, and `from_sdk` reads `""` back as none.
    built(
        sdk::ResourceRequirement::builder()
            .set_value(value.clone())
            .r#type(sdk::ResourceType::from(r#type.as_str()))
            .set_sharing_strategy(sharing_strategy)
            .build(),
        path,
    )
}

/// A union in the SDK: exactly one member. The model's struct of optional members lets a
/// template write none, which the SDK cannot express; ECS decides, as for the other
/// unions, so an empty strategy is an SDK refusal with its path rather than a guess.
fn sharing_strategy_to_sdk(
    s: &model::SharingStrategy,
    path: &str,
) -> Result<sdk::SharingStrategy, ConvertError> {
    let model::SharingStrategy { nvidia_mps } = s;
    let Some(model::NvidiaMpsAllocation {
        memory,
        max_compute_percent,
    }) = nvidia_mps
    else {
        return Err(ConvertError::Empty {
            path: path.to_owned(),
        });
    };
    let allocation = built(
        sdk::NvidiaMpsAllocation::builder()
            .memory(*memory)
            .set_max_compute_percent(*max_compute_percent)
            .build(),
        &member(path, "nvidiaMps"),
    )?;
    Ok(sdk::SharingStrategy::NvidiaMps(allocation))
}

fn volume_to_sdk(v: &model::Volume, path: &str) -> Result<sdk::Volume, ConvertError> {
    let model::Volume {
        name,
        host,
        docker_volume_configuration,
        efs_volume_configuration,
        s3files_volume_configuration,
        fsx_windows_file_server_volume_configuration,
        configured_at_launch,
    } = v;
    let s3files = s3files_volume_configuration
        .as_ref()
        .map(|f| {
            let model::S3FilesVolumeConfiguration {
                file_system_arn,
                root_directory,
                transit_encryption_port,
                access_point_arn,
            } = f;
            built(
                sdk::S3FilesVolumeConfiguration::builder()
                    .file_system_arn(file_system_arn.clone())
                    .set_root_directory(root_directory.clone())
                    .set_transit_encryption_port(*transit_encryption_port)
                    .set_access_point_arn(access_point_arn.clone())
                    .build(),
                &member(path, "s3filesVolumeConfiguration"),
            )
        })
        .transpose()?;
    let efs = efs_volume_configuration
        .as_ref()
        .map(|e| {
            let model::EfsVolumeConfiguration {
                file_system_id,
                root_directory,
                transit_encryption,
                transit_encryption_port,
                authorization_config,
            } = e;
            built(
                sdk::EfsVolumeConfiguration::builder()
                    .file_system_id(file_system_id.clone())
                    .set_root_directory(root_directory.clone())
                    .set_transit_encryption(sdk_enum(transit_encryption))
                    .set_transit_encryption_port(*transit_encryption_port)
                    .set_authorization_config(authorization_config.as_ref().map(|a| {
                        let model::EfsAuthorizationConfig {
                            access_point_id,
                            iam,
                        } = a;
                        sdk::EfsAuthorizationConfig::builder()
                            .set_access_point_id(access_point_id.clone())
                            .set_iam(sdk_enum(iam))
                            .build()
                    }))
                    .build(),
                &member(path, "efsVolumeConfiguration"),
            )
        })
        .transpose()?;
    let fsx = fsx_windows_file_server_volume_configuration
        .as_ref()
        .map(|f| {
            let path = member(path, "fsxWindowsFileServerVolumeConfiguration");
            let model::FSxWindowsFileServerVolumeConfiguration {
                file_system_id,
                root_directory,
                authorization_config,
            } = f;
            let model::FSxWindowsFileServerAuthorizationConfig {
                credentials_parameter,
                domain,
            } = authorization_config;
            let authorization_config = built(
                sdk::FSxWindowsFileServerAuthorizationConfig::builder()
                    .credentials_parameter(credentials_parameter.clone())
                    .domain(domain.clone())
                    .build(),
                &member(&path, "authorizationConfig"),
            )?;
            built(
                sdk::FSxWindowsFileServerVolumeConfiguration::builder()
                    .file_system_id(file_system_id.clone())
                    .root_directory(root_directory.clone())
                    .authorization_config(authorization_config)
                    .build(),
                &path,
            )
        })
        .transpose()?;
    Ok(sdk::Volume::builder()
        .set_name(name.clone())
        .set_host(host.as_ref().map(|h| {
            let model::HostVolumeProperties { source_path } = h;
            sdk::HostVolumeProperties::builder()
                .set_source_path(source_path.clone())
                .build()
        }))
        .set_docker_volume_configuration(docker_volume_configuration.as_ref().map(|d| {
            let model::DockerVolumeConfiguration {
                scope,
                autoprovision,
                driver,
                driver_opts,
                labels,
            } = d;
            sdk::DockerVolumeConfiguration::builder()
                .set_scope(sdk_enum(scope))
                .set_autoprovision(*autoprovision)
                .set_driver(driver.clone())
                .set_driver_opts(hash_map(driver_opts))
                .set_labels(hash_map(labels))
                .build()
        }))
        .set_efs_volume_configuration(efs)
        .set_s3files_volume_configuration(s3files)
        .set_fsx_windows_file_server_volume_configuration(fsx)
        .set_configured_at_launch(*configured_at_launch)
        .build())
}

fn proxy_to_sdk(
    p: &model::ProxyConfiguration,
    path: &str,
) -> Result<sdk::ProxyConfiguration, ConvertError> {
    let model::ProxyConfiguration {
        r#type,
        container_name,
        properties,
    } = p;
    built(
        sdk::ProxyConfiguration::builder()
            .set_type(sdk_enum(r#type))
            .container_name(container_name.clone())
            .set_properties(list(properties, key_value_to_sdk))
            .build(),
        path,
    )
}

fn secret_to_sdk(s: &model::Secret, path: &str) -> Result<sdk::Secret, ConvertError> {
    let model::Secret { name, value_from } = s;
    built(
        sdk::Secret::builder()
            .name(name.clone())
            .value_from(value_from.clone())
            .build(),
        path,
    )
}

fn key_value_to_sdk(kv: &model::KeyValuePair) -> sdk::KeyValuePair {
    let model::KeyValuePair { name, value } = kv;
    sdk::KeyValuePair::builder()
        .set_name(name.clone())
        .set_value(value.clone())
        .build()
}

fn tag_to_sdk(t: &model::Tag) -> sdk::Tag {
    let model::Tag { key, value } = t;
    sdk::Tag::builder()
        .set_key(key.clone())
        .set_value(value.clone())
        .build()
}

fn built<T>(result: Result<T, BuildError>, path: &str) -> Result<T, ConvertError> {
    result.map_err(|source| ConvertError::Sdk {
        path: path.to_owned(),
        source,
    })
}

fn at(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

fn member(path: &str, field: &str) -> String {
    format!("{path}.{field}")
}

fn sdk_enum<E: for<'a> From<&'a str>>(value: &Option<String>) -> Option<E> {
    value.as_deref().map(E::from)
}

fn list<T, U>(items: &Option<Vec<T>>, convert: impl Fn(&T) -> U) -> Option<Vec<U>> {
    items
        .as_ref()
        .map(|items| items.iter().map(convert).collect())
}

/// Converts each element with its own path (`path[i]`) for error messages.
fn try_list<T, U>(
    items: &Option<Vec<T>>,
    path: &str,
    convert: impl Fn(&T, &str) -> Result<U, ConvertError>,
) -> Result<Option<Vec<U>>, ConvertError> {
    items
        .as_ref()
        .map(|items| {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, &at(path, i)))
                .collect()
        })
        .transpose()
}

fn hash_map(map: &Option<BTreeMap<String, String>>) -> Option<HashMap<String, String>> {
    map.as_ref().map(|m| m.clone().into_iter().collect())
}

// ---------------------------------------------------------------------------
// SDK → model
// ---------------------------------------------------------------------------

/// The `RegisterTaskDefinition` input that `td` (a `DescribeTaskDefinition` result)
/// describes, with `tags` from the same response (ECS returns them beside the task
/// definition, and only when asked with `include: [TAGS]`).
///
/// Output-only members (ARN, revision, status, requiresAttributes, compatibilities,
/// registeredAt/By, deregisteredAt) are dropped. So that an unchanged definition
/// compares equal to what was registered, the SDK's representation is normalised:
/// * an empty list or map becomes `None` (the SDK cannot tell `[]` from absent, and
///   ECS echoes `[]` for lists the request never had, e.g. `mountPoints`,
///   `volumesFrom`, `volumes`); an explicit `[]` in a template therefore comes back
///   as `None`;
/// * container `cpu` 0 becomes `None` (the SDK's `i32` cannot be absent, and ECS
///   treats 0 as unset; see `container_from_sdk`);
/// * `resourceRequirements[].value` `""` becomes `None` (the SDK's stand-in for a
///   missing required member; see `resource_requirement_from_sdk`).
#[allow(deprecated)] // `inferenceAccelerators`: see `fill_register`.
pub fn from_sdk(td: &sdk::TaskDefinition, tags: &[sdk::Tag]) -> TaskDefinition {
    TaskDefinition {
        // Always present in ECS's answers; the SDK keeps it optional only by convention.
        family: td.family.clone().unwrap_or_default(),
        task_role_arn: td.task_role_arn.clone(),
        execution_role_arn: td.execution_role_arn.clone(),
        network_mode: enum_name(&td.network_mode),
        container_definitions: td
            .container_definitions
            .iter()
            .flatten()
            .map(container_from_sdk)
            .collect(),
        volumes: list_from(&td.volumes, volume_from_sdk),
        placement_constraints: list_from(&td.placement_constraints, |p| {
            model::TaskDefinitionPlacementConstraint {
                r#type: enum_name(&p.r#type),
                expression: p.expression.clone(),
            }
        }),
        requires_compatibilities: list_from(&td.requires_compatibilities, |c| {
            c.as_str().to_owned()
        }),
        cpu: td.cpu.clone(),
        memory: td.memory.clone(),
        tags: (!tags.is_empty()).then(|| {
            tags.iter()
                .map(|t| model::Tag {
                    key: t.key.clone(),
                    value: t.value.clone(),
                })
                .collect()
        }),
        pid_mode: enum_name(&td.pid_mode),
        ipc_mode: enum_name(&td.ipc_mode),
        proxy_configuration: td
            .proxy_configuration
            .as_ref()
            .map(|p| model::ProxyConfiguration {
                r#type: enum_name(&p.r#type),
                container_name: p.container_name.clone(),
                properties: list_from(&p.properties, key_value_from_sdk),
            }),
        inference_accelerators: list_from(&td.inference_accelerators, |a| {
            model::InferenceAccelerator {
                device_name: a.device_name.clone(),
                device_type: a.device_type.clone(),
            }
        }),
        ephemeral_storage: td
            .ephemeral_storage
            .as_ref()
            .map(|e| model::EphemeralStorage {
                size_in_gib: e.size_in_gib,
            }),
        runtime_platform: td
            .runtime_platform
            .as_ref()
            .map(|r| model::RuntimePlatform {
                cpu_architecture: enum_name(&r.cpu_architecture),
                operating_system_family: enum_name(&r.operating_system_family),
            }),
        enable_fault_injection: td.enable_fault_injection,
    }
}

/// Container `cpu` is a plain `i32` in the SDK (absent reads as 0, and 0 is never
/// sent), so 0 maps to `None`. That loses nothing: ECS documents 0 and unset alike
/// (no CPU units reserved for the container; the agent passes both to Docker as the
/// same minimum CPU share).
/// `memory`, `memoryReservation` and the other integers are `Option` in the SDK and
/// pass through unchanged; a 0 there is a value ECS would have rejected, not "unset".
fn container_from_sdk(c: &sdk::ContainerDefinition) -> model::ContainerDefinition {
    model::ContainerDefinition {
        name: c.name.clone(),
        image: c.image.clone(),
        repository_credentials: c.repository_credentials.as_ref().map(|r| {
            model::RepositoryCredentials {
                credentials_parameter: r.credentials_parameter.clone(),
            }
        }),
        cpu: (c.cpu != 0).then_some(c.cpu),
        memory: c.memory,
        memory_reservation: c.memory_reservation,
        links: list_from(&c.links, Clone::clone),
        port_mappings: list_from(&c.port_mappings, |p| model::PortMapping {
            container_port: p.container_port,
            host_port: p.host_port,
            protocol: enum_name(&p.protocol),
            name: p.name.clone(),
            app_protocol: enum_name(&p.app_protocol),
            container_port_range: p.container_port_range.clone(),
        }),
        essential: c.essential,
        restart_policy: c
            .restart_policy
            .as_ref()
            .map(|r| model::ContainerRestartPolicy {
                enabled: r.enabled,
                ignored_exit_codes: list_from(&r.ignored_exit_codes, |code| *code),
                restart_attempt_period: r.restart_attempt_period,
            }),
        entry_point: list_from(&c.entry_point, Clone::clone),
        command: list_from(&c.command, Clone::clone),
        environment: list_from(&c.environment, key_value_from_sdk),
        environment_files: list_from(&c.environment_files, |f| model::EnvironmentFile {
            value: f.value.clone(),
            r#type: f.r#type.as_str().to_owned(),
        }),
        mount_points: list_from(&c.mount_points, |m| model::MountPoint {
            source_volume: m.source_volume.clone(),
            container_path: m.container_path.clone(),
            read_only: m.read_only,
        }),
        volumes_from: list_from(&c.volumes_from, |v| model::VolumeFrom {
            source_container: v.source_container.clone(),
            read_only: v.read_only,
        }),
        linux_parameters: c.linux_parameters.as_ref().map(linux_parameters_from_sdk),
        secrets: list_from(&c.secrets, secret_from_sdk),
        depends_on: list_from(&c.depends_on, |d| model::ContainerDependency {
            container_name: d.container_name.clone(),
            condition: d.condition.as_str().to_owned(),
        }),
        start_timeout: c.start_timeout,
        stop_timeout: c.stop_timeout,
        version_consistency: enum_name(&c.version_consistency),
        hostname: c.hostname.clone(),
        user: c.user.clone(),
        working_directory: c.working_directory.clone(),
        disable_networking: c.disable_networking,
        privileged: c.privileged,
        readonly_root_filesystem: c.readonly_root_filesystem,
        dns_servers: list_from(&c.dns_servers, Clone::clone),
        dns_search_domains: list_from(&c.dns_search_domains, Clone::clone),
        extra_hosts: list_from(&c.extra_hosts, |h| model::HostEntry {
            hostname: h.hostname.clone(),
            ip_address: h.ip_address.clone(),
        }),
        docker_security_options: list_from(&c.docker_security_options, Clone::clone),
        interactive: c.interactive,
        pseudo_terminal: c.pseudo_terminal,
        docker_labels: map_from(&c.docker_labels),
        ulimits: list_from(&c.ulimits, |u| model::Ulimit {
            name: u.name.as_str().to_owned(),
            soft_limit: u.soft_limit,
            hard_limit: u.hard_limit,
        }),
        log_configuration: c
            .log_configuration
            .as_ref()
            .map(|l| model::LogConfiguration {
                log_driver: l.log_driver.as_str().to_owned(),
                options: map_from(&l.options),
                secret_options: list_from(&l.secret_options, secret_from_sdk),
            }),
        health_check: c.health_check.as_ref().map(|h| model::HealthCheck {
            command: h.command.clone(),
            interval: h.interval,
            timeout: h.timeout,
            retries: h.retries,
            start_period: h.start_period,
        }),
        system_controls: list_from(&c.system_controls, |s| model::SystemControl {
            namespace: s.namespace.clone(),
            value: s.value.clone(),
        }),
        resource_requirements: list_from(&c.resource_requirements, resource_requirement_from_sdk),
        firelens_configuration: c.firelens_configuration.as_ref().map(|f| {
            model::FirelensConfiguration {
                r#type: f.r#type.as_str().to_owned(),
                options: map_from(&f.options),
            }
        }),
        credential_specs: list_from(&c.credential_specs, Clone::clone),
    }
}

fn linux_parameters_from_sdk(l: &sdk::LinuxParameters) -> model::LinuxParameters {
    model::LinuxParameters {
        capabilities: l.capabilities.as_ref().map(|k| model::KernelCapabilities {
            add: list_from(&k.add, Clone::clone),
            drop: list_from(&k.drop, Clone::clone),
        }),
        devices: list_from(&l.devices, |d| model::Device {
            host_path: d.host_path.clone(),
            container_path: d.container_path.clone(),
            permissions: list_from(&d.permissions, |p| p.as_str().to_owned()),
        }),
        init_process_enabled: l.init_process_enabled,
        shared_memory_size: l.shared_memory_size,
        tmpfs: list_from(&l.tmpfs, |t| model::Tmpfs {
            container_path: t.container_path.clone(),
            size: t.size,
            mount_options: list_from(&t.mount_options, Clone::clone),
        }),
        max_swap: l.max_swap,
        swappiness: l.swappiness,
    }
}

/// `value` is required in this SDK, which reads a response without it as `""`. An
/// empty value means nothing to ECS (it is a GPU count or an accelerator's name), so
/// `""` can only be ECS sending none (a GPU sized by its `sharingStrategy`): `None`, as
/// the model spells that.
fn resource_requirement_from_sdk(r: &sdk::ResourceRequirement) -> model::ResourceRequirement {
    model::ResourceRequirement {
        value: (!r.value.is_empty()).then(|| r.value.clone()),
        r#type: r.r#type.as_str().to_owned(),
        sharing_strategy: r.sharing_strategy.as_ref().map(sharing_strategy_from_sdk),
    }
}

/// A strategy this SDK does not know (`Unknown`) comes back empty, which differs from
/// any strategy a template can write, so a plan shows it as a change instead of hiding it.
fn sharing_strategy_from_sdk(s: &sdk::SharingStrategy) -> model::SharingStrategy {
    model::SharingStrategy {
        nvidia_mps: s.as_nvidia_mps().ok().map(|a| model::NvidiaMpsAllocation {
            memory: a.memory,
            max_compute_percent: a.max_compute_percent,
        }),
    }
}

fn volume_from_sdk(v: &sdk::Volume) -> model::Volume {
    model::Volume {
        name: v.name.clone(),
        host: v.host.as_ref().map(|h| model::HostVolumeProperties {
            source_path: h.source_path.clone(),
        }),
        docker_volume_configuration: v.docker_volume_configuration.as_ref().map(|d| {
            model::DockerVolumeConfiguration {
                scope: enum_name(&d.scope),
                autoprovision: d.autoprovision,
                driver: d.driver.clone(),
                driver_opts: map_from(&d.driver_opts),
                labels: map_from(&d.labels),
            }
        }),
        efs_volume_configuration: v.efs_volume_configuration.as_ref().map(|e| {
            model::EfsVolumeConfiguration {
                file_system_id: e.file_system_id.clone(),
                root_directory: e.root_directory.clone(),
                transit_encryption: enum_name(&e.transit_encryption),
                transit_encryption_port: e.transit_encryption_port,
                authorization_config: e.authorization_config.as_ref().map(|a| {
                    model::EfsAuthorizationConfig {
                        access_point_id: a.access_point_id.clone(),
                        iam: enum_name(&a.iam),
                    }
                }),
            }
        }),
        s3files_volume_configuration: v.s3files_volume_configuration.as_ref().map(|f| {
            model::S3FilesVolumeConfiguration {
                file_system_arn: f.file_system_arn.clone(),
                root_directory: f.root_directory.clone(),
                transit_encryption_port: f.transit_encryption_port,
                access_point_arn: f.access_point_arn.clone(),
            }
        }),
        fsx_windows_file_server_volume_configuration: v
            .fsx_windows_file_server_volume_configuration
            .as_ref()
            .map(|f| model::FSxWindowsFileServerVolumeConfiguration {
                file_system_id: f.file_system_id.clone(),
                root_directory: f.root_directory.clone(),
                // Required by the API, so ECS always returns it; the SDK keeps structure
                // members optional regardless. Should it ever be missing, empty strings
                // make the difference visible in a comparison instead of hiding the volume.
                authorization_config: f
                    .authorization_config
                    .as_ref()
                    .map(|a| model::FSxWindowsFileServerAuthorizationConfig {
                        credentials_parameter: a.credentials_parameter.clone(),
                        domain: a.domain.clone(),
                    })
                    .unwrap_or(model::FSxWindowsFileServerAuthorizationConfig {
                        credentials_parameter: String::new(),
                        domain: String::new(),
                    }),
            }),
        configured_at_launch: v.configured_at_launch,
    }
}

fn secret_from_sdk(s: &sdk::Secret) -> model::Secret {
    model::Secret::new(s.name.clone(), s.value_from.clone())
}

fn key_value_from_sdk(kv: &sdk::KeyValuePair) -> model::KeyValuePair {
    model::KeyValuePair {
        name: kv.name.clone(),
        value: kv.value.clone(),
    }
}

fn enum_name<E: AsRef<str>>(value: &Option<E>) -> Option<String> {
    value.as_ref().map(|e| e.as_ref().to_owned())
}

/// Empty and absent are the same to ECS and indistinguishable in its answers: `None`.
fn list_from<T, U>(items: &Option<Vec<T>>, convert: impl Fn(&T) -> U) -> Option<Vec<U>> {
    match items.as_deref() {
        None | Some([]) => None,
        Some(items) => Some(items.iter().map(convert).collect()),
    }
}

/// As [`list_from`], for string maps.
fn map_from(map: &Option<HashMap<String, String>>) -> Option<BTreeMap<String, String>> {
    map.as_ref()
        .filter(|m| !m.is_empty())
        .map(|m| m.clone().into_iter().collect())
}

#[cfg(test)]
// The crate warns on `unwrap`; in tests a panic is exactly the failure report we want.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::taskdef::parse;
    use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionInputBuilder;
    use aws_sdk_ecs::primitives::DateTime;
    use std::collections::BTreeSet;

    /// A client that is never used to send: building a request needs one.
    fn client() -> aws_sdk_ecs::Client {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    fn fill(
        td: &TaskDefinition,
        extra_tags: &[(String, String)],
    ) -> Result<RegisterTaskDefinitionFluentBuilder, ConvertError> {
        fill_register(client().register_task_definition(), td, extra_tags)
    }

    /// What `DescribeTaskDefinition` returns after `input` was registered: the same
    /// members, the output-only ones `from_sdk` must drop, and the lists ECS echoes as
    /// `[]` when the request had none. Container `cpu` needs no help: the SDK already
    /// holds 0 where the request had none.
    #[allow(deprecated)] // `inferenceAccelerators`: see `fill_register`.
    fn describe(
        input: &RegisterTaskDefinitionInputBuilder,
    ) -> (sdk::TaskDefinition, Vec<sdk::Tag>) {
        let containers = input.get_container_definitions().clone().map(|cs| {
            cs.into_iter()
                .map(|mut c| {
                    c.port_mappings.get_or_insert_with(Vec::new);
                    c.environment.get_or_insert_with(Vec::new);
                    c.mount_points.get_or_insert_with(Vec::new);
                    c.volumes_from.get_or_insert_with(Vec::new);
                    c.system_controls.get_or_insert_with(Vec::new);
                    c
                })
                .collect()
        });
        let td = sdk::TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/x:7")
            .set_container_definitions(containers)
            .set_family(input.get_family().clone())
            .set_task_role_arn(input.get_task_role_arn().clone())
            .set_execution_role_arn(input.get_execution_role_arn().clone())
            .set_network_mode(input.get_network_mode().clone())
            .revision(7)
            .set_volumes(Some(input.get_volumes().clone().unwrap_or_default()))
            .status(sdk::TaskDefinitionStatus::Active)
            .requires_attributes(
                sdk::Attribute::builder()
                    .name("com.amazonaws.ecs.capability.docker-remote-api.1.18")
                    .build()
                    .unwrap(),
            )
            .set_placement_constraints(Some(
                input
                    .get_placement_constraints()
                    .clone()
                    .unwrap_or_default(),
            ))
            .compatibilities(sdk::Compatibility::Ec2)
            .compatibilities(sdk::Compatibility::Fargate)
            .set_runtime_platform(input.get_runtime_platform().clone())
            .set_requires_compatibilities(input.get_requires_compatibilities().clone())
            .set_cpu(input.get_cpu().clone())
            .set_memory(input.get_memory().clone())
            .set_inference_accelerators(input.get_inference_accelerators().clone())
            .set_pid_mode(input.get_pid_mode().clone())
            .set_ipc_mode(input.get_ipc_mode().clone())
            .set_proxy_configuration(input.get_proxy_configuration().clone())
            .registered_at(DateTime::from_secs(1_700_000_000))
            .registered_by("arn:aws:sts::123456789012:assumed-role/deployer/stamp")
            .set_ephemeral_storage(input.get_ephemeral_storage().clone())
            .set_enable_fault_injection(*input.get_enable_fault_injection())
            .build();
        (td, input.get_tags().clone().unwrap_or_default())
    }

    /// Template → model → SDK request → describe → model gives back the same model.
    fn assert_round_trip(json: &str) -> TaskDefinition {
        let td = parse(json).unwrap();
        let request = fill(&td, &[]).unwrap();
        let (described, tags) = describe(request.as_input());
        let back = from_sdk(&described, &tags);
        // Canonical JSON first: on failure its diff is readable.
        assert_eq!(back.to_canonical_json(), td.to_canonical_json());
        assert_eq!(back, td);
        td
    }

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
  "enableFaultInjection": true,
  "tags": [{"key": "tenant", "value": "acme"}, {"key": "service", "value": "web"}],
  "containerDefinitions": [
    {
      "name": "web",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.4.2",
      "cpu": 256,
      "memoryReservation": 512,
      "essential": true,
      "portMappings": [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"},
        {"containerPortRange": "9000-9010", "protocol": "udp"}
      ],
      "environment": [
        {"name": "RUST_LOG", "value": "info"},
        {"name": "TENANT", "value": "acme"}
      ],
      "secrets": [
        {"name": "DATABASE_URL", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/acme/db-url"},
        {"name": "API_KEY", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/api-key"}
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
      "startTimeout": 60,
      "stopTimeout": 30,
      "versionConsistency": "disabled",
      "restartPolicy": {"enabled": true, "ignoredExitCodes": [0, 143], "restartAttemptPeriod": 60},
      "environmentFiles": [{"value": "arn:aws:s3:::acme-config/web.env", "type": "s3"}]
    }
  ]
}"#;

    const EC2_WORKER: &str = r#"{
  "family": "acme-worker",
  "taskRoleArn": "arn:aws:iam::123456789012:role/acme-worker-task",
  "networkMode": "bridge",
  "requiresCompatibilities": ["EC2"],
  "memory": "4096",
  "pidMode": "task",
  "ipcMode": "none",
  "volumes": [
    {"name": "scratch", "host": {"sourcePath": "/mnt/scratch"}},
    {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true, "driver": "local", "driverOpts": {"type": "tmpfs", "device": "tmpfs"}, "labels": {"b": "2", "a": "1"}}},
    {"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-0123456789abcdef0", "rootDirectory": "/", "transitEncryption": "ENABLED", "transitEncryptionPort": 2049, "authorizationConfig": {"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"}}},
    {"name": "ebs", "configuredAtLaunch": true},
    {"name": "empty-host", "host": {}}
  ],
  "containerDefinitions": [
    {
      "name": "worker",
      "image": "acme/worker:2024.06",
      "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub"},
      "cpu": 1024,
      "memory": 2048,
      "memoryReservation": 1536,
      "links": ["migrate:db-migrate"],
      "essential": true,
      "command": ["worker", "--queue", "default"],
      "entryPoint": ["/usr/bin/tini", "--"],
      "workingDirectory": "/app",
      "user": "1000:1000",
      "hostname": "worker",
      "mountPoints": [
        {"sourceVolume": "scratch", "containerPath": "/scratch", "readOnly": false},
        {"sourceVolume": "shared", "containerPath": "/shared", "readOnly": true},
        {"sourceVolume": "cache", "containerPath": "/cache"}
      ],
      "linuxParameters": {
        "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW", "MKNOD"]},
        "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse", "permissions": ["read", "write", "mknod"]}],
        "initProcessEnabled": true,
        "sharedMemorySize": 256,
        "tmpfs": [{"containerPath": "/tmp", "size": 128, "mountOptions": ["noexec", "nosuid"]}, {"containerPath": "/run", "size": 16}],
        "maxSwap": 1024,
        "swappiness": 60
      },
      "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}, {"name": "core", "softLimit": 0, "hardLimit": 0}],
      "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
      "extraHosts": [{"hostname": "metadata.local", "ipAddress": "169.254.169.254"}],
      "dnsServers": ["10.0.0.2"],
      "dnsSearchDomains": ["internal.acme.example"],
      "dockerSecurityOptions": ["no-new-privileges", "apparmor:docker-default"],
      "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}],
      "dockerLabels": {"com.acme.role": "worker"},
      "resourceRequirements": [{"value": "1", "type": "GPU"}],
      "disableNetworking": false,
      "privileged": false,
      "interactive": true,
      "pseudoTerminal": true
    },
    {
      "name": "migrate",
      "image": "acme/worker:2024.06",
      "memory": 256,
      "essential": false,
      "command": ["migrate"],
      "volumesFrom": [{"sourceContainer": "worker", "readOnly": true}],
      "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "10m"}}
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
      "user": "0",
      "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true", "config-file-type": "file", "config-file-value": "/fluent-bit/configs/parse-json.conf"}},
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "/ecs/firelens", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "firelens"}
      }
    },
    {
      "name": "api",
      "image": "acme/api:3.1.0",
      "essential": true,
      "portMappings": [{"containerPort": 3000, "protocol": "tcp", "name": "api", "appProtocol": "http2"}],
      "dependsOn": [{"containerName": "log_router", "condition": "START"}],
      "logConfiguration": {
        "logDriver": "awsfirelens",
        "options": {"Name": "datadog", "Host": "http-intake.logs.datadoghq.eu", "TLS": "on", "provider": "ecs"},
        "secretOptions": [{"name": "apikey", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/acme/datadog-key"}]
      }
    }
  ]
}"#;

    const APPMESH: &str = r#"{
  "family": "acme-mesh",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["EC2"],
  "cpu": "512",
  "memory": "1024",
  "placementConstraints": [
    {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ g4dn.*"},
    {"type": "memberOf", "expression": "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"}
  ],
  "proxyConfiguration": {
    "type": "APPMESH",
    "containerName": "envoy",
    "properties": [
      {"name": "IgnoredUID", "value": "1337"},
      {"name": "ProxyIngressPort", "value": "15000"},
      {"name": "ProxyEgressPort", "value": "15001"},
      {"name": "AppPorts", "value": "9080"},
      {"name": "EgressIgnoredIPs", "value": "169.254.170.2,169.254.169.254"}
    ]
  },
  "inferenceAccelerators": [{"deviceName": "device1", "deviceType": "eia2.medium"}],
  "containerDefinitions": [
    {
      "name": "app",
      "image": "acme/app:1.0",
      "essential": true,
      "portMappings": [{"containerPort": 9080}],
      "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
      "resourceRequirements": [{"type": "InferenceAccelerator", "value": "device1"}]
    },
    {
      "name": "envoy",
      "image": "840364872350.dkr.ecr.us-east-1.amazonaws.com/aws-appmesh-envoy:v1.29.6.0-prod",
      "essential": true,
      "user": "1337",
      "environment": [{"name": "APPMESH_RESOURCE_ARN", "value": "arn:aws:appmesh:us-east-1:123456789012:mesh/acme/virtualNode/app"}],
      "healthCheck": {"command": ["CMD-SHELL", "curl -s http://localhost:9901/server_info | grep state | grep -q LIVE"], "retries": 3}
    }
  ]
}"#;

    const WINDOWS_FSX: &str = r#"{
  "family": "acme-legacy",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "1024",
  "memory": "4096",
  "runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE", "cpuArchitecture": "X86_64"},
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "volumes": [{
    "name": "share",
    "fsxWindowsFileServerVolumeConfiguration": {
      "fileSystemId": "fs-0123456789abcdef0",
      "rootDirectory": "share",
      "authorizationConfig": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:123456789012:secret:fsx", "domain": "corp.acme.example"}
    }
  }],
  "containerDefinitions": [{
    "name": "iis",
    "image": "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
    "essential": true,
    "entryPoint": ["powershell", "-Command"],
    "command": ["C:\\ServiceMonitor.exe w3svc"],
    "mountPoints": [{"sourceVolume": "share", "containerPath": "C:\\share"}],
    "credentialSpecs": ["credentialspecdomainless:arn:aws:s3:::acme-gmsa/spec.json"]
  }]
}"#;

    #[test]
    fn fargate_web_service_round_trips() {
        let td = assert_round_trip(FARGATE_WEB);
        // Enumerations arrive in the request as the SDK's known variants.
        let request = fill(&td, &[]).unwrap();
        let input = request.as_input();
        assert_eq!(input.get_network_mode(), &Some(sdk::NetworkMode::Awsvpc));
        let web = &input.get_container_definitions().as_ref().unwrap()[0];
        assert_eq!(web.cpu, 256);
        assert_eq!(
            web.port_mappings()[1].protocol,
            Some(sdk::TransportProtocol::Udp)
        );
        assert_eq!(
            web.log_configuration.as_ref().unwrap().log_driver,
            sdk::LogDriver::Awslogs
        );
    }

    #[test]
    fn ec2_worker_with_volumes_and_linux_parameters_round_trips() {
        assert_round_trip(EC2_WORKER);
    }

    #[test]
    fn firelens_sidecar_round_trips() {
        assert_round_trip(FIRELENS);
    }

    #[test]
    fn proxy_configuration_and_placement_constraints_round_trip() {
        assert_round_trip(APPMESH);
    }

    #[test]
    fn windows_task_with_fsx_volume_round_trips() {
        assert_round_trip(WINDOWS_FSX);
    }

    #[test]
    fn values_unknown_to_the_sdk_pass_through_verbatim() {
        let json = r#"{"family": "f", "networkMode": "quantum", "pidMode": "sandbox",
            "containerDefinitions": [{"name": "a", "image": "i", "memory": 128,
              "logConfiguration": {"logDriver": "vector"},
              "ulimits": [{"name": "newlimit", "softLimit": 1, "hardLimit": 2}]}]}"#;
        let td = assert_round_trip(json);
        let request = fill(&td, &[]).unwrap();
        assert_eq!(
            request
                .as_input()
                .get_network_mode()
                .as_ref()
                .map(|m| m.as_str()),
            Some("quantum")
        );
    }

    #[test]
    fn extra_tags_follow_the_templates_own() {
        let td = parse(FARGATE_WEB).unwrap();
        let extra = [("stamp:release".to_owned(), "r42".to_owned())];
        let request = fill(&td, &extra).unwrap();
        let tags: Vec<_> = request
            .as_input()
            .get_tags()
            .iter()
            .flatten()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(
            tags,
            [
                ("tenant", "acme"),
                ("service", "web"),
                ("stamp:release", "r42")
            ]
        );

        // Without tags in the template, the extra ones are the whole list.
        let bare = parse(FIRELENS).unwrap();
        let request = fill(&bare, &extra).unwrap();
        assert_eq!(
            request.as_input().get_tags().as_ref().map(Vec::len),
            Some(1)
        );
        let request = fill(&bare, &[]).unwrap();
        assert_eq!(request.as_input().get_tags(), &None);
    }

    #[test]
    fn a_reused_builder_keeps_nothing_from_the_previous_definition() {
        let first = fill(&parse(EC2_WORKER).unwrap(), &[]).unwrap();
        let second = parse(FIRELENS).unwrap();
        let refilled = fill_register(first, &second, &[]).unwrap();
        let input = refilled.as_input();
        assert_eq!(input.get_volumes(), &None);
        assert_eq!(input.get_pid_mode(), &None);
        assert_eq!(input.get_task_role_arn(), &None);
        let (described, tags) = describe(input);
        assert_eq!(from_sdk(&described, &tags), second);
    }

    #[test]
    fn shared_gpu_without_value_round_trips() {
        let td = assert_round_trip(
            r#"{"family": "f", "containerDefinitions": [
            {"name": "a", "image": "i", "memory": 128},
            {"name": "b", "image": "i", "memory": 128, "resourceRequirements": [
              {"value": "1", "type": "GPU"},
              {"type": "GPU", "sharingStrategy": {"nvidiaMps": {"memory": 4096, "maxComputePercent": 25}}}
            ]}]}"#,
        );
        let request = fill(&td, &[]).unwrap();
        let sent = request
            .as_input()
            .get_container_definitions()
            .clone()
            .unwrap();
        let shared = &sent[1].resource_requirements.as_ref().unwrap()[1];
        let mps = shared
            .sharing_strategy
            .as_ref()
            .unwrap()
            .as_nvidia_mps()
            .unwrap();
        assert_eq!((mps.memory, mps.max_compute_percent), (4096, Some(25)));
    }

    #[test]
    fn s3files_volume_round_trips() {
        let td = assert_round_trip(
            r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "memory": 128}],
            "volumes": [{"name": "ok", "host": {}}, {"name": "objects", "s3filesVolumeConfiguration":
              {"fileSystemArn": "arn:aws:s3files:eu-west-1:123456789012:file-system/fs-0abc",
               "rootDirectory": "/data", "transitEncryptionPort": 2999,
               "accessPointArn": "arn:aws:s3files:eu-west-1:123456789012:access-point/ap-0abc"}}]}"#,
        );
        let request = fill(&td, &[]).unwrap();
        let volumes = request.as_input().get_volumes().clone().unwrap();
        let sent = volumes[1].s3files_volume_configuration.as_ref().unwrap();
        assert_eq!(
            sent.file_system_arn,
            "arn:aws:s3files:eu-west-1:123456789012:file-system/fs-0abc"
        );
        assert_eq!(sent.transit_encryption_port, Some(2999));
    }

    #[test]
    fn empty_sharing_strategy_is_refused_with_its_path() {
        let json = r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "memory": 128,
            "resourceRequirements": [{"type": "GPU", "sharingStrategy": {}}]}]}"#;
        let err = fill(&parse(json).unwrap(), &[]).unwrap_err();
        assert_eq!(
            err.path(),
            "containerDefinitions[0].resourceRequirements[0].sharingStrategy"
        );
        assert!(matches!(err, ConvertError::Empty { .. }), "{err:?}");
    }

    /// The member names serde reads for `T` (after `rename_all` and `rename`), found by
    /// asking its `Deserialize` to read a struct from a deserializer that only records
    /// which members the struct has.
    fn model_members<T: for<'de> serde::Deserialize<'de>>() -> BTreeSet<String> {
        use serde::de::{Error as _, Visitor};
        struct Probe(Vec<&'static str>);
        impl<'de> serde::Deserializer<'de> for &mut Probe {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(Self::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.extend(fields);
                Err(Self::Error::custom("probed"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                enum identifier ignored_any
            }
        }
        let mut probe = Probe(Vec::new());
        let _ = T::deserialize(&mut probe);
        probe.0.into_iter().map(str::to_owned).collect()
    }

    /// The member names of an SDK builder, from its `Debug` (generated for every member,
    /// redacted or not), in the API's camelCase: `fsx_windows_file_server_volume_configuration`
    /// → `fsxWindowsFileServerVolumeConfiguration`, `r#type` → `type`. The one API name
    /// snake_case cannot give back (`sizeInGiB`) is spelled out.
    fn sdk_members(builder: &impl std::fmt::Debug) -> BTreeSet<String> {
        format!("{builder:#?}")
            .lines()
            .filter_map(|line| line.strip_prefix("    ")?.split_once(": ").map(|(n, _)| n))
            .filter(|name| !name.starts_with(' '))
            .map(|name| {
                let name = name.trim_start_matches("r#");
                let mut parts = name.split('_');
                let mut camel = parts.next().unwrap_or_default().to_owned();
                for part in parts {
                    let mut chars = part.chars();
                    camel.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                    camel.push_str(chars.as_str());
                }
                match camel.as_str() {
                    "sizeInGib" => "sizeInGiB".to_owned(),
                    _ => camel,
                }
            })
            .collect()
    }

    /// The next member ECS adds to a task definition fails here when the SDK is upgraded
    /// (in the model's or the SDK's column), instead of a template being refused or a
    /// member silently dropped. `sharingStrategy` is a union in the SDK (an enum, no
    /// builder); its one member's shape, `NvidiaMpsAllocation`, is compared.
    #[test]
    #[allow(deprecated)] // `InferenceAccelerator`: see `fill_register`.
    fn model_and_sdk_have_the_same_members() {
        use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionInput;
        let pairs = [
            (
                "TaskDefinition",
                model_members::<TaskDefinition>(),
                sdk_members(&RegisterTaskDefinitionInput::builder()),
            ),
            (
                "ContainerDefinition",
                model_members::<model::ContainerDefinition>(),
                sdk_members(&sdk::ContainerDefinition::builder()),
            ),
            (
                "RepositoryCredentials",
                model_members::<model::RepositoryCredentials>(),
                sdk_members(&sdk::RepositoryCredentials::builder()),
            ),
            (
                "PortMapping",
                model_members::<model::PortMapping>(),
                sdk_members(&sdk::PortMapping::builder()),
            ),
            (
                "ContainerRestartPolicy",
                model_members::<model::ContainerRestartPolicy>(),
                sdk_members(&sdk::ContainerRestartPolicy::builder()),
            ),
            (
                "KeyValuePair",
                model_members::<model::KeyValuePair>(),
                sdk_members(&sdk::KeyValuePair::builder()),
            ),
            (
                "EnvironmentFile",
                model_members::<model::EnvironmentFile>(),
                sdk_members(&sdk::EnvironmentFile::builder()),
            ),
            (
                "MountPoint",
                model_members::<model::MountPoint>(),
                sdk_members(&sdk::MountPoint::builder()),
            ),
            (
                "VolumeFrom",
                model_members::<model::VolumeFrom>(),
                sdk_members(&sdk::VolumeFrom::builder()),
            ),
            (
                "LinuxParameters",
                model_members::<model::LinuxParameters>(),
                sdk_members(&sdk::LinuxParameters::builder()),
            ),
            (
                "KernelCapabilities",
                model_members::<model::KernelCapabilities>(),
                sdk_members(&sdk::KernelCapabilities::builder()),
            ),
            (
                "Device",
                model_members::<model::Device>(),
                sdk_members(&sdk::Device::builder()),
            ),
            (
                "Tmpfs",
                model_members::<model::Tmpfs>(),
                sdk_members(&sdk::Tmpfs::builder()),
            ),
            (
                "Secret",
                model_members::<model::Secret>(),
                sdk_members(&sdk::Secret::builder()),
            ),
            (
                "ContainerDependency",
                model_members::<model::ContainerDependency>(),
                sdk_members(&sdk::ContainerDependency::builder()),
            ),
            (
                "HostEntry",
                model_members::<model::HostEntry>(),
                sdk_members(&sdk::HostEntry::builder()),
            ),
            (
                "Ulimit",
                model_members::<model::Ulimit>(),
                sdk_members(&sdk::Ulimit::builder()),
            ),
            (
                "LogConfiguration",
                model_members::<model::LogConfiguration>(),
                sdk_members(&sdk::LogConfiguration::builder()),
            ),
            (
                "HealthCheck",
                model_members::<model::HealthCheck>(),
                sdk_members(&sdk::HealthCheck::builder()),
            ),
            (
                "SystemControl",
                model_members::<model::SystemControl>(),
                sdk_members(&sdk::SystemControl::builder()),
            ),
            (
                "ResourceRequirement",
                model_members::<model::ResourceRequirement>(),
                sdk_members(&sdk::ResourceRequirement::builder()),
            ),
            (
                "NvidiaMpsAllocation",
                model_members::<model::NvidiaMpsAllocation>(),
                sdk_members(&sdk::NvidiaMpsAllocation::builder()),
            ),
            (
                "FirelensConfiguration",
                model_members::<model::FirelensConfiguration>(),
                sdk_members(&sdk::FirelensConfiguration::builder()),
            ),
            (
                "Volume",
                model_members::<model::Volume>(),
                sdk_members(&sdk::Volume::builder()),
            ),
            (
                "HostVolumeProperties",
                model_members::<model::HostVolumeProperties>(),
                sdk_members(&sdk::HostVolumeProperties::builder()),
            ),
            (
                "DockerVolumeConfiguration",
                model_members::<model::DockerVolumeConfiguration>(),
                sdk_members(&sdk::DockerVolumeConfiguration::builder()),
            ),
            (
                "EfsVolumeConfiguration",
                model_members::<model::EfsVolumeConfiguration>(),
                sdk_members(&sdk::EfsVolumeConfiguration::builder()),
            ),
            (
                "EfsAuthorizationConfig",
                model_members::<model::EfsAuthorizationConfig>(),
                sdk_members(&sdk::EfsAuthorizationConfig::builder()),
            ),
            (
                "S3FilesVolumeConfiguration",
                model_members::<model::S3FilesVolumeConfiguration>(),
                sdk_members(&sdk::S3FilesVolumeConfiguration::builder()),
            ),
            (
                "FSxWindowsFileServerVolumeConfiguration",
                model_members::<model::FSxWindowsFileServerVolumeConfiguration>(),
                sdk_members(&sdk::FSxWindowsFileServerVolumeConfiguration::builder()),
            ),
            (
                "FSxWindowsFileServerAuthorizationConfig",
                model_members::<model::FSxWindowsFileServerAuthorizationConfig>(),
                sdk_members(&sdk::FSxWindowsFileServerAuthorizationConfig::builder()),
            ),
            (
                "TaskDefinitionPlacementConstraint",
                model_members::<model::TaskDefinitionPlacementConstraint>(),
                sdk_members(&sdk::TaskDefinitionPlacementConstraint::builder()),
            ),
            (
                "Tag",
                model_members::<model::Tag>(),
                sdk_members(&sdk::Tag::builder()),
            ),
            (
                "ProxyConfiguration",
                model_members::<model::ProxyConfiguration>(),
                sdk_members(&sdk::ProxyConfiguration::builder()),
            ),
            (
                "InferenceAccelerator",
                model_members::<model::InferenceAccelerator>(),
                sdk_members(&sdk::InferenceAccelerator::builder()),
            ),
            (
                "EphemeralStorage",
                model_members::<model::EphemeralStorage>(),
                sdk_members(&sdk::EphemeralStorage::builder()),
            ),
            (
                "RuntimePlatform",
                model_members::<model::RuntimePlatform>(),
                sdk_members(&sdk::RuntimePlatform::builder()),
            ),
        ];
        let mut drift = Vec::new();
        for (shape, model, sdk) in &pairs {
            // An empty side means the probe or the Debug parse broke, not that they agree.
            assert!(
                !model.is_empty() && !sdk.is_empty(),
                "{shape}: no members read"
            );
            for m in model.difference(sdk) {
                drift.push(format!("{shape}.{m}: in the model, not in aws-sdk-ecs"));
            }
            for m in sdk.difference(model) {
                drift.push(format!("{shape}.{m}: in aws-sdk-ecs, not in the model"));
            }
        }
        assert!(
            drift.is_empty(),
            "model and SDK differ:\n{}",
            drift.join("\n")
        );
    }

    #[test]
    fn sdk_empty_lists_maps_and_zero_cpu_normalise_to_none() {
        let container = sdk::ContainerDefinition::builder()
            .name("a")
            .image("i")
            .memory(128)
            // What the SDK reads when ECS sends no cpu, and what it holds for an unset one.
            .cpu(0)
            .set_links(Some(vec![]))
            .set_port_mappings(Some(vec![]))
            .set_environment(Some(vec![]))
            .set_environment_files(Some(vec![]))
            .set_mount_points(Some(vec![]))
            .set_volumes_from(Some(vec![]))
            .set_secrets(Some(vec![]))
            .set_system_controls(Some(vec![]))
            .set_docker_labels(Some(HashMap::new()))
            .set_ulimits(Some(vec![]))
            .set_credential_specs(Some(vec![]))
            .linux_parameters(
                sdk::LinuxParameters::builder()
                    .capabilities(
                        sdk::KernelCapabilities::builder()
                            .set_add(Some(vec![]))
                            .build(),
                    )
                    .set_devices(Some(vec![]))
                    .set_tmpfs(Some(vec![]))
                    .build(),
            )
            .log_configuration(
                sdk::LogConfiguration::builder()
                    .log_driver(sdk::LogDriver::Awslogs)
                    .set_options(Some(HashMap::new()))
                    .set_secret_options(Some(vec![]))
                    .build()
                    .unwrap(),
            )
            .resource_requirements(
                // The SDK's stand-in for a requirement ECS sent without a value.
                sdk::ResourceRequirement::builder()
                    .value("")
                    .r#type(sdk::ResourceType::Gpu)
                    .build()
                    .unwrap(),
            )
            .build();
        let described = sdk::TaskDefinition::builder()
            .family("f")
            .container_definitions(container)
            .set_volumes(Some(vec![]))
            .set_placement_constraints(Some(vec![]))
            .set_requires_compatibilities(Some(vec![]))
            .set_inference_accelerators(Some(vec![]))
            .build();

        let expected = parse(
            r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "memory": 128,
                "linuxParameters": {"capabilities": {}},
                "logConfiguration": {"logDriver": "awslogs"},
                "resourceRequirements": [{"type": "GPU"}]}]}"#,
        )
        .unwrap();
        assert_eq!(from_sdk(&described, &[]), expected);
    }

    #[test]
    fn explicit_empty_lists_and_zero_cpu_come_back_as_absent() {
        // The documented cost of the normalisation: a template's `[]` or `"cpu": 0`
        // means the same to ECS as leaving it out, and is described as left out.
        let json = r#"{"family": "f", "volumes": [], "tags": [],
            "containerDefinitions": [{"name": "a", "image": "i", "memory": 128, "cpu": 0, "links": []}]}"#;
        let td = parse(json).unwrap();
        let request = fill(&td, &[]).unwrap();
        let (described, tags) = describe(request.as_input());
        assert_eq!(
            from_sdk(&described, &tags),
            parse(r#"{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "memory": 128}]}"#).unwrap()
        );
    }

    proptest::proptest! {
        /// Whatever the model holds, registering it and describing it back gives the same
        /// definition in the comparison form: what `plan` relies on to call a service that
        /// runs what the repo says "unchanged".
        #[test]
        fn generated_definitions_survive_register_and_describe(
            td in crate::render::taskdef::arb::task_definition(),
        ) {
            use crate::plan::normalize;
            // A value the SDK cannot carry is refused with its path, never dropped.
            let request = match fill(&td, &[]) {
                Ok(r) => r,
                Err(e) => {
                    proptest::prop_assert!(!e.path().is_empty(), "{}", e);
                    return Ok(());
                }
            };
            let (described, tags) = describe(request.as_input());
            let back = from_sdk(&described, &tags);
            proptest::prop_assert_eq!(
                normalize(&back).to_canonical_json(),
                normalize(&td).to_canonical_json()
            );
        }
    }
}
