//! The preflight: before any write in any tenant, is everything a release needs there? Per
//! tenant, every image tag in its ECR repository, every role the task definitions name, every
//! awslogs log group. `stamp verify` prints every problem; `deploy` refuses the whole run when
//! any of them is certainly missing ([`TenantCheck::refuses_deploy`]).
//!
//! Every CloudWatch alarm a service's `alarms` names must exist too: a health gate on an alarm
//! that is not there would watch nothing.
//!
//! One entry function, [`check`]; it reads with the inspect role only and never writes. What a
//! task definition needs ([`needs`]) and how an image reference splits ([`EcrImage::parse`]) are
//! pure. Images outside ECR (Docker Hub, `public.ecr.aws`) and roles of another account are
//! not checked: stamp has no way to read them with the tenant's role.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;

use crate::aws::preflight::Found;
use crate::aws::{Session, TenantError, TenantReader};
use crate::dsl::{Fleet, Tenant};
use crate::render::{TaskDefinition, Templates, render_service};
use crate::resolve::{Lookups, Missing, references};

/// An image in a private ECR registry: `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EcrImage {
    pub registry: String,
    pub region: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl EcrImage {
    /// `None` for an image that is not in a private ECR registry.
    pub fn parse(image: &str) -> Option<Self> {
        let (host, path) = image.split_once('/')?;
        let mut parts = host.split('.');
        let (registry, dkr, ecr, region) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest: Vec<&str> = parts.collect();
        let ok_host = dkr == "dkr"
            && ecr == "ecr"
            && registry.len() == 12
            && registry.bytes().all(|b| b.is_ascii_digit())
            && rest.first().is_some_and(|d| d.starts_with("amazonaws"));
        if !ok_host {
            return None;
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_owned())),
            None => (path, None),
        };
        // A tag follows the last `:` of the last path segment (a repository has none).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_owned())),
            _ => (path, None),
        };
        Some(Self {
            registry: registry.to_owned(),
            region: region.to_owned(),
            repository: repository.to_owned(),
            tag: if digest.is_some() {
                None
            } else {
                tag.or(Some("latest".to_owned()))
            },
            digest,
        })
    }

    /// `repo:tag` or `repo@digest`, as the problem names it.
    pub fn reference(&self) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(d)) => format!("{}@{d}", self.repository),
            (Some(t), None) => format!("{}:{t}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }
}

/// What one tenant's task definitions need, each with the services that need it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Full image reference → its ECR parts.
    pub images: BTreeMap<String, (EcrImage, BTreeSet<String>)>,
    /// Role name (in the tenant's account) → services.
    pub roles: BTreeMap<String, BTreeSet<String>>,
    /// (region, log group) → services.
    pub log_groups: BTreeMap<(String, String), BTreeSet<String>>,
}

/// What `rendered` (service name, task definition) needs in `tenant`'s account.
pub fn needs(tenant: &Tenant, rendered: &[(String, TaskDefinition)]) -> Needs {
    let mut n = Needs::default();
    let role_prefix = format!("arn:aws:iam::{}:role/", tenant.account_id);
    for (service, td) in rendered {
        for arn in [&td.execution_role_arn, &td.task_role_arn]
            .into_iter()
            .flatten()
        {
            // A role path (`role/path/name`) is not part of its name.
            if let Some(name) = arn
                .strip_prefix(&role_prefix)
                .and_then(|p| p.rsplit('/').next())
            {
                n.roles
                    .entry(name.to_owned())
                    .or_default()
                    .insert(service.clone());
            }
        }
        for c in &td.container_definitions {
            if let Some(image) = c.image.as_deref()
                && let Some(ecr) = EcrImage::parse(image)
            {
                n.images
                    .entry(image.to_owned())
                    .or_insert_with(|| (ecr, BTreeSet::new()))
                    .1
                    .insert(service.clone());
            }
            let Some(log) = &c.log_configuration else {
                continue;
            };
            let options = log.options.clone().unwrap_or_default();
            if log.log_driver != "awslogs" {
                continue;
            }
            // `awslogs-create-group = true` makes the agent create it: nothing to check.
            if options.get("awslogs-create-group").map(String::as_str) == Some("true") {
                continue;
            }
            if let Some(group) = options.get("awslogs-group") {
                let region = options
                    .get("awslogs-region")
                    .cloned()
                    .unwrap_or_else(|| tenant.region.clone());
                n.log_groups
                    .entry((region, group.clone()))
                    .or_default()
                    .insert(service.clone());
            }
        }
    }
    n
}

/// One thing missing (or unreadable) in a tenant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// `image`, `role`, `log-group`, `alarm`, `render` or `account`.
    pub kind: &'static str,
    /// The image, role or log group; empty for `render` and `account`.
    pub name: String,
    /// The services that need it.
    pub services: Vec<String>,
    pub detail: String,
    /// The image, role or log group is certainly not there (not merely unreadable).
    pub missing: bool,
}

/// How many of each were checked in a tenant.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Checked {
    pub images: usize,
    pub roles: usize,
    pub log_groups: usize,
    pub alarms: usize,
}

/// The preflight of one tenant: what was checked and every problem found.
#[derive(Debug, Clone, Serialize)]
pub struct TenantCheck {
    pub tenant: String,
    pub account_id: String,
    pub checked: Checked,
    pub problems: Vec<Problem>,
    /// The tenant's parameters, secrets and stack outputs as the preflight read them (with what
    /// was missing), when they could be read: `deploy` renders from these, so what it deploys is
    /// what was checked.
    #[serde(skip)]
    pub read: Option<Arc<Values>>,
}

/// What one read of a tenant's references answered: the values, and what did not resolve.
#[derive(Debug)]
pub struct Values {
    pub lookups: Lookups,
    pub missing: Vec<Missing>,
}

impl Values {
    /// Every reference of `t`'s services, read with `reader`'s role.
    pub async fn read(reader: &TenantReader, t: &Tenant) -> Result<Self, TenantError> {
        let (lookups, missing) = reader.lookups(&references(t)).await?;
        Ok(Self { lookups, missing })
    }

    /// The preflight's read of `t` when it has one (`checked`), else a read with `reader`'s role:
    /// a tenant the preflight could not read, or a command with no preflight (`up`).
    pub async fn checked_or_read(
        checked: Option<&Arc<Values>>,
        reader: &TenantReader,
        t: &Tenant,
    ) -> Result<Arc<Self>, TenantError> {
        match checked {
            Some(values) => Ok(values.clone()),
            None => Self::read(reader, t).await.map(Arc::new),
        }
    }

    /// The one-line refusal of a tenant whose references did not all resolve.
    pub fn unresolved(&self) -> Option<String> {
        (!self.missing.is_empty()).then(|| crate::resolve::missing_line(&self.missing))
    }
}

/// What the preflight read, by tenant (a tenant it could not read is absent).
pub type Reads = BTreeMap<String, Arc<Values>>;

/// The reads of a passed preflight, for the command to render from.
pub fn reads(checks: Vec<TenantCheck>) -> Reads {
    checks
        .into_iter()
        .filter_map(|c| Some((c.tenant, c.read?)))
        .collect()
}

impl TenantCheck {
    /// What `deploy` refuses the whole run for: an image, role or log group that is certainly
    /// absent. An account that cannot be read, or a service that does not render, fails that
    /// tenant's own rows as before (with its reason), without stopping the others.
    pub fn refuses_deploy(&self) -> bool {
        self.problems.iter().any(|p| p.missing)
    }
}

/// The release a tenant's services render with: `deploy --plan` has its own per tenant.
pub type ReleaseFor<'a> = &'a (dyn Fn(&Tenant) -> Option<String> + Sync);

/// Checks `tenants`, `concurrency` accounts at a time, in input order: render every service
/// with the release `release_for` gives, then read what the definitions need.
pub async fn check(
    session: &Session,
    fleet: &Fleet,
    templates: &Templates,
    tenants: &[&Tenant],
    release_for: ReleaseFor<'_>,
    concurrency: usize,
) -> Vec<TenantCheck> {
    use futures_util::StreamExt as _;
    futures_util::stream::iter(tenants.iter().map(|t| {
        let release = release_for(t);
        async move { check_tenant(session, fleet, templates, t, release.as_deref()).await }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}

async fn check_tenant(
    session: &Session,
    fleet: &Fleet,
    templates: &Templates,
    t: &Tenant,
    release: Option<&str>,
) -> TenantCheck {
    let mut out = TenantCheck {
        tenant: t.name.clone(),
        account_id: t.account_id.clone(),
        checked: Checked::default(),
        problems: Vec::new(),
        read: None,
    };
    let reader = match TenantReader::connect(session, t).await {
        Ok(r) => r,
        Err(e) => {
            out.problems
                .push(problem("account", "", Vec::new(), e.message()));
            return out;
        }
    };
    let (rendered, render_problems, read) = render_all(&reader, fleet, templates, t, release).await;
    out.problems.extend(render_problems);
    out.read = read;
    let n = needs(t, &rendered);
    let alarms = alarms_of(t);
    out.checked = Checked {
        images: n.images.len(),
        roles: n.roles.len(),
        log_groups: n.log_groups.len(),
        alarms: alarms.len(),
    };
    for (image, (ecr, services)) in &n.images {
        found(
            &mut out,
            "image",
            image,
            services,
            reader.image_exists(ecr).await,
        );
    }
    for (role, services) in &n.roles {
        found(
            &mut out,
            "role",
            role,
            services,
            reader.role_exists(role).await,
        );
    }
    let mut by_region: BTreeMap<&str, Vec<(&str, &BTreeSet<String>)>> = BTreeMap::new();
    for ((region, group), services) in &n.log_groups {
        by_region.entry(region).or_default().push((group, services));
    }
    for (region, groups) in by_region {
        let names: Vec<&str> = groups.iter().map(|(g, _)| *g).collect();
        let answers = reader.log_groups_exist(region, &names).await;
        for ((group, services), f) in groups.into_iter().zip(answers) {
            found(&mut out, "log-group", group, services, f);
        }
    }
    check_alarms(&reader, t, &alarms, &mut out).await;
    out
}

/// Alarm name → (the services naming it, where the first `alarms` list naming it is written).
type AlarmNeeds = BTreeMap<String, (BTreeSet<String>, String)>;

fn alarms_of(t: &Tenant) -> AlarmNeeds {
    let mut out = AlarmNeeds::new();
    for s in &t.services {
        let Some(list) = &s.alarms else { continue };
        for name in &list.value {
            out.entry(name.clone())
                .or_insert_with(|| (BTreeSet::new(), list.at.to_string()))
                .0
                .insert(s.name.clone());
        }
    }
    out
}

/// One DescribeAlarms for all of the tenant's alarm names (in batches of 100).
async fn check_alarms(
    reader: &TenantReader,
    t: &Tenant,
    needs: &AlarmNeeds,
    out: &mut TenantCheck,
) {
    if needs.is_empty() {
        return;
    }
    let names: Vec<String> = needs.keys().cloned().collect();
    let read = reader.alarms(&names).await;
    for (name, (services, at)) in needs {
        let f = match &read {
            Ok(found) if found.contains_key(name) => Found::Yes,
            Ok(_) => Found::No(format!(
                "alarm {name} does not exist in account {} ({}); `alarms` at {at}",
                t.account_id, t.region
            )),
            Err(e) => Found::Unreadable(e.message()),
        };
        found(out, "alarm", name, services, f);
    }
}

/// Every service rendered as it would deploy; one that cannot be is a problem of its own.
async fn render_all(
    reader: &TenantReader,
    fleet: &Fleet,
    templates: &Templates,
    t: &Tenant,
    release: Option<&str>,
) -> (
    Vec<(String, TaskDefinition)>,
    Vec<Problem>,
    Option<Arc<Values>>,
) {
    let read = match Values::read(reader, t).await {
        Ok(read) => Arc::new(read),
        Err(e) => {
            return (
                Vec::new(),
                vec![problem("account", "", Vec::new(), e.message())],
                None,
            );
        }
    };
    let (mut rendered, mut problems) = (Vec::new(), Vec::new());
    for s in &t.services {
        match render_service(templates, fleet, t, s, release, &read.lookups) {
            Ok(r) => rendered.push((s.name.clone(), r.task_definition)),
            Err(e) => problems.push(problem("render", "", vec![s.name.clone()], e.summary())),
        }
    }
    (rendered, problems, Some(read))
}

fn found(
    out: &mut TenantCheck,
    kind: &'static str,
    name: &str,
    services: &BTreeSet<String>,
    f: Found,
) {
    let (detail, missing) = match f {
        Found::Yes => return,
        Found::No(why) => (why, true),
        Found::Unreadable(why) => (why, false),
    };
    let mut p = problem(kind, name, services.iter().cloned().collect(), detail);
    p.missing = missing;
    out.problems.push(p);
}

fn problem(kind: &'static str, name: &str, services: Vec<String>, detail: String) -> Problem {
    Problem {
        kind,
        name: name.to_owned(),
        services,
        detail,
        missing: false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ecr_images_split_into_registry_region_repository_and_tag() {
        let i =
            EcrImage::parse("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/team/shop:v1.42.0")
                .unwrap();
        assert_eq!(
            (
                i.registry.as_str(),
                i.region.as_str(),
                i.repository.as_str(),
                i.tag.as_deref()
            ),
            (
                "123456789012",
                "ap-northeast-1",
                "team/shop",
                Some("v1.42.0")
            )
        );
        let d = EcrImage::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/shop@sha256:abc")
            .unwrap();
        assert_eq!((d.tag, d.digest.as_deref()), (None, Some("sha256:abc")));
        let latest = EcrImage::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop").unwrap();
        assert_eq!(latest.tag.as_deref(), Some("latest"));
    }

    #[test]
    fn images_outside_private_ecr_are_not_checked() {
        for image in [
            "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1",
            "nginx:1.27",
            "ghcr.io/acme/app:1",
            "localhost:5000/app:1",
        ] {
            assert_eq!(EcrImage::parse(image), None, "{image}");
        }
    }
}
