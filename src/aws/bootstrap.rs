//! `stamp bootstrap --apply`: creates or updates the `stamp-bootstrap` stack with the caller's
//! own credentials (the base identity, which must be in the tenant's account). The only write
//! stamp makes without a tenant role, because it creates those roles.

use std::time::Duration;

use aws_config::Region;
use aws_sdk_cloudformation::types::Capability;

use super::Session;
use super::errors::describe;

/// What applying the stack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// Creates or updates `stack` from `body` in `region` and waits for it to settle.
pub async fn apply_stack(
    session: &Session,
    region: &str,
    stack: &str,
    body: &str,
) -> Result<Applied, String> {
    let cfg = session
        .base_config()
        .to_builder()
        .region(Region::new(region.to_owned()))
        .build();
    let cfn = aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&cfg)
            .interceptor(session.calls().clone())
            .build(),
    );
    let role = "the base credentials";
    let exists = match cfn.describe_stacks().stack_name(stack).send().await {
        Ok(out) => out.stacks().iter().any(|s| {
            s.stack_status()
                .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
        }),
        Err(e) if format!("{e:?}").contains("does not exist") => false,
        Err(e) => return Err(describe("cloudformation:DescribeStacks", role, &e)),
    };
    if exists {
        // The same template again is no write at all (moto, unlike AWS, would "update").
        let live = cfn
            .get_template()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| describe("cloudformation:GetTemplate", role, &e))?;
        if live.template_body() == Some(body) {
            return Ok(Applied::Unchanged);
        }
    }
    let applied = if exists {
        match cfn
            .update_stack()
            .stack_name(stack)
            .template_body(body)
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
        {
            Ok(_) => Applied::Updated,
            Err(e) if format!("{e:?}").contains("No updates are to be performed") => {
                return Ok(Applied::Unchanged);
            }
            Err(e) => return Err(describe("cloudformation:UpdateStack", role, &e)),
        }
    } else {
        cfn.create_stack()
            .stack_name(stack)
            .template_body(body)
            .capabilities(Capability::CapabilityNamedIam)
            .send()
            .await
            .map_err(|e| describe("cloudformation:CreateStack", role, &e))?;
        Applied::Created
    };
    wait(&cfn, stack).await?;
    Ok(applied)
}

/// Polls until the stack leaves its `*_IN_PROGRESS` state; a failure or rollback is an error.
async fn wait(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Result<(), String> {
    for _ in 0..600 {
        let out = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| describe("cloudformation:DescribeStacks", "the base credentials", &e))?;
        let status = out
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        if status.ends_with("_IN_PROGRESS") {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        if status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE" {
            return Ok(());
        }
        return Err(format!("stack {stack} ended in {status}"));
    }
    Err(format!("stack {stack} did not settle in 5 minutes"))
}
