//! The preflight's reads (`stamp verify`, and `deploy` before its first write): whether an image
//! tag is in its ECR repository, a role exists, a log group exists. Read-only calls on the
//! tenant's inspect role; what to check and how to report it is `crate::preflight`'s.

use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_iam::operation::get_role::GetRoleError;

use super::errors::describe;
use super::read::TenantReader;
use crate::preflight::EcrImage;

/// What a read found: there, absent (with why, in words), or not readable (the call's error
/// line, a denial with the permission to grant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Yes,
    No(String),
    Unreadable(String),
}

/// DescribeLogGroups pages read looking for one exact name among those sharing its prefix.
const LOG_GROUP_PAGES: usize = 5;

impl TenantReader {
    /// DescribeImages for one tag (or digest) in `image`'s registry, which may be another
    /// account's: its repository policy must let this account read it.
    pub async fn image_exists(&self, image: &EcrImage) -> Found {
        let ecr = aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(&self.cfg)
                .region(aws_sdk_ecr::config::Region::new(image.region.clone()))
                .interceptor(self.calls.clone())
                .build(),
        );
        let id = ImageIdentifier::builder()
            .set_image_tag(image.tag.clone())
            .set_image_digest(image.digest.clone())
            .build();
        let sent = ecr
            .describe_images()
            .registry_id(&image.registry)
            .repository_name(&image.repository)
            .image_ids(id)
            .send()
            .await;
        match sent {
            Ok(_) => Found::Yes,
            Err(e) => match e.as_service_error() {
                Some(DescribeImagesError::ImageNotFoundException(_)) => Found::No(format!(
                    "{} is not in repository {} (registry {}, {})",
                    image.reference(),
                    image.repository,
                    image.registry,
                    image.region
                )),
                Some(DescribeImagesError::RepositoryNotFoundException(_)) => Found::No(format!(
                    "repository {} does not exist in registry {} ({}), or its repository policy does not let account {} read it",
                    image.repository,
                    image.registry,
                    image.region,
                    self.account_id()
                )),
                _ => Found::Unreadable(describe("ecr:DescribeImages", self.role(), &e)),
            },
        }
    }

    /// IAM GetRole by name, in the tenant's account.
    pub async fn role_exists(&self, name: &str) -> Found {
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&self.cfg)
                .interceptor(self.calls.clone())
                .build(),
        );
        match iam.get_role().role_name(name).send().await {
            Ok(_) => Found::Yes,
            Err(e)
                if e.as_service_error()
                    .is_some_and(GetRoleError::is_no_such_entity_exception) =>
            {
                Found::No(format!(
                    "role {name} does not exist in account {}",
                    self.account_id()
                ))
            }
            Err(e) => Found::Unreadable(describe("iam:GetRole", self.role(), &e)),
        }
    }

    /// Which of `names`, log groups in `region`, exist. One DescribeLogGroups page under their
    /// common prefix answers for every name it lists (a tenant's groups usually share one, such
    /// as `/ecs/TENANT/`); a name it does not list is looked for by itself, as
    /// [`Self::log_group_exists`] does, so the answers are the same, in fewer calls.
    pub async fn log_groups_exist(&self, region: &str, names: &[&str]) -> Vec<Found> {
        let prefix = common_prefix(names);
        let listed = match names.len() > 1 && !prefix.is_empty() {
            true => self.log_groups_under(region, prefix).await,
            false => None,
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            out.push(match &listed {
                Some(listed) if listed.contains(*name) => Found::Yes,
                _ => self.log_group_exists(region, name).await,
            });
        }
        out
    }

    /// The first page of log groups whose name starts with `prefix`; `None` when it cannot be
    /// read (each name is then looked for by itself, which words the error).
    async fn log_groups_under(
        &self,
        region: &str,
        prefix: &str,
    ) -> Option<std::collections::BTreeSet<String>> {
        let page = self
            .logs(region)
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .limit(50)
            .send()
            .await
            .ok()?;
        Some(
            page.log_groups
                .unwrap_or_default()
                .into_iter()
                .filter_map(|g| g.log_group_name)
                .collect(),
        )
    }

    fn logs(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&self.cfg)
                .region(aws_sdk_cloudwatchlogs::config::Region::new(
                    region.to_owned(),
                ))
                .interceptor(self.calls.clone())
                .build(),
        )
    }

    /// DescribeLogGroups by prefix, looking for the exact name, in `region`.
    pub async fn log_group_exists(&self, region: &str, name: &str) -> Found {
        let logs = self.logs(region);
        let mut token = None;
        for _ in 0..LOG_GROUP_PAGES {
            let page = logs
                .describe_log_groups()
                .log_group_name_prefix(name)
                .set_next_token(token)
                .send()
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    return Found::Unreadable(describe("logs:DescribeLogGroups", self.role(), &e));
                }
            };
            let groups = page.log_groups.unwrap_or_default();
            if groups
                .iter()
                .any(|g| g.log_group_name.as_deref() == Some(name))
            {
                return Found::Yes;
            }
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        Found::No(format!(
            "log group {name} does not exist in account {} ({region})",
            self.account_id()
        ))
    }
}

/// The longest prefix every name shares, cut at a character boundary.
fn common_prefix<'a>(names: &[&'a str]) -> &'a str {
    let Some(first) = names.first() else {
        return "";
    };
    let mut end = first.len();
    for n in &names[1..] {
        end = first
            .bytes()
            .zip(n.bytes())
            .take(end)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    &first[..end]
}

#[cfg(test)]
mod tests {
    use super::common_prefix;

    #[test]
    fn the_common_prefix_is_what_every_name_starts_with_cut_at_a_character() {
        assert_eq!(
            common_prefix(&["/ecs/acme/api", "/ecs/acme/worker"]),
            "/ecs/acme/"
        );
        assert_eq!(common_prefix(&["/ecs/acme/api"]), "/ecs/acme/api");
        assert_eq!(common_prefix(&["/a", "/b", "/ab"]), "/");
        assert_eq!(common_prefix(&["api", "worker"]), "");
        assert_eq!(common_prefix(&[]), "");
        // "é" and "è" share their first UTF-8 byte: the prefix stops before the character.
        assert_eq!(common_prefix(&["/logs/é", "/logs/è"]), "/logs/");
    }
}
