//! Sessions handed to a person (`login`, `exec`, `creds`, `whoami`): a tenant role assumed once,
//! checked by the account guard before anyone gets it.
//!
//! A [`HandedSession`] holds the credentials privately and has no `Display`; its `Debug` shows
//! no secret. They leave it only through the three methods made for that, each named for where
//! the credentials go: [`HandedSession::credential_process`] (the `creds` stdout),
//! [`HandedSession::environment`] (`exec`'s child) and the federation request of
//! [`super::console`]. Nothing here logs.

use std::fmt;
use std::time::Duration;

use aws_credential_types::Credentials;
use serde::Serialize;

use super::errors::describe;
use super::read::{TenantError, guard};
use super::session::{AssumeRequest, CHAINED_MAX, Session};
use crate::dsl::Tenant;

/// Which of a tenant's two roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `inspect_role`: read-only.
    Inspect,
    /// `deploy_role`: may write.
    Deploy,
}

impl Role {
    pub const BOTH: [Role; 2] = [Role::Inspect, Role::Deploy];

    /// The role's ARN for this tenant, placeholders resolved.
    pub fn arn(self, tenant: &Tenant) -> &str {
        match self {
            Role::Inspect => &tenant.inspect_role,
            Role::Deploy => &tenant.deploy_role,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inspect => "inspect",
            Role::Deploy => "deploy",
        }
    }
}

/// A tenant role's session, assumed and checked: in the tenant's account.
pub struct HandedSession {
    pub tenant: String,
    pub account_id: String,
    pub region: String,
    pub role: Role,
    pub role_arn: String,
    /// Who the session is, as STS says (`arn:aws:sts::…:assumed-role/ROLE/SESSION`).
    pub assumed_arn: String,
    pub session_name: String,
    /// When the credentials expire (AWS always says), in whole seconds.
    pub expires: Option<jiff::Timestamp>,
    credentials: Credentials,
}

impl fmt::Debug for HandedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandedSession")
            .field("tenant", &self.tenant)
            .field("assumed_arn", &self.assumed_arn)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl HandedSession {
    /// The `credential_process` document (version 1) the AWS CLI and SDKs read.
    pub fn credential_process(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "Version": 1,
            "AccessKeyId": self.credentials.access_key_id(),
            "SecretAccessKey": self.credentials.secret_access_key(),
            "SessionToken": self.credentials.session_token().unwrap_or_default(),
        });
        if let Some(t) = self.expires {
            doc["Expiration"] = serde_json::Value::String(rfc3339(t));
        }
        doc
    }

    /// The variables a child process gets: the keys, the token and when they expire.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            (
                "AWS_ACCESS_KEY_ID",
                self.credentials.access_key_id().to_owned(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                self.credentials.secret_access_key().to_owned(),
            ),
            (
                "AWS_SESSION_TOKEN",
                self.credentials
                    .session_token()
                    .unwrap_or_default()
                    .to_owned(),
            ),
        ];
        if let Some(t) = self.expires {
            env.push(("AWS_CREDENTIAL_EXPIRATION", rfc3339(t)));
        }
        env
    }

    /// The `Session` parameter of the federation endpoint's `getSigninToken`.
    pub(super) fn federation_session(&self) -> String {
        serde_json::json!({
            "sessionId": self.credentials.access_key_id(),
            "sessionKey": self.credentials.secret_access_key(),
            "sessionToken": self.credentials.session_token().unwrap_or_default(),
        })
        .to_string()
    }
}

/// `2026-05-04T10:11:12Z`: seconds, UTC, as `credential_process` and the SDKs expect.
fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Assumes `role` of `tenant` for `duration` (`None`: AWS's default hour) under
/// `session_name`, then checks with GetCallerIdentity, signed by the new credentials, that they
/// are in the tenant's account.
pub async fn hand(
    session: &Session,
    tenant: &Tenant,
    role: Role,
    session_name: &str,
    duration: Option<Duration>,
) -> Result<HandedSession, TenantError> {
    let role_arn = role.arn(tenant).to_owned();
    let fail = |detail: String| TenantError::Call {
        tenant: tenant.name.clone(),
        detail,
    };
    let request = AssumeRequest {
        role_arn: role_arn.clone(),
        session_name: session_name.to_owned(),
        external_id: tenant.external_id.clone(),
        duration,
    };
    let credentials = session
        .assume_once(&tenant.region, &request)
        .await
        .map_err(|e| fail(with_duration_hint(e, duration.unwrap_or(CHAINED_MAX))))?;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(
            &session.config_with(&tenant.region, credentials.clone()),
        )
        .interceptor(session.calls().clone())
        .build(),
    );
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| fail(describe("sts:GetCallerIdentity", &role_arn, &e)))?;
    guard(tenant, who.account.unwrap_or_default())?;
    Ok(HandedSession {
        tenant: tenant.name.clone(),
        account_id: tenant.account_id.clone(),
        region: tenant.region.clone(),
        role,
        role_arn,
        assumed_arn: who.arn.unwrap_or_default(),
        session_name: session_name.to_owned(),
        // Whole seconds: what STS grants, and what people read.
        expires: credentials
            .expiry()
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .and_then(|t| jiff::Timestamp::from_second(t.as_second()).ok()),
        credentials,
    })
}

/// AWS refuses a session longer than the role's `MaxSessionDuration` (one hour unless raised):
/// say what to do about it.
fn with_duration_hint(error: String, duration: Duration) -> String {
    if error.contains("MaxSessionDuration") {
        format!(
            "{error}\n  = hint: ask for less (--duration 1h; every role allows an hour), or raise the role's maximum session duration to at least {}s (aws iam update-role --max-session-duration)",
            duration.as_secs()
        )
    } else {
        error
    }
}

/// Whether one role of a tenant can be assumed now, and where it lands.
#[derive(Debug, Clone, Serialize)]
pub struct RoleCheck {
    pub role: Role,
    pub arn: String,
    /// Assumed, and in the tenant's account.
    pub ok: bool,
    /// The account the role landed in (even the wrong one), when it could be assumed.
    pub account: Option<String>,
    /// Who the session was (`arn:aws:sts::…:assumed-role/ROLE/SESSION`).
    pub assumed_as: Option<String>,
    /// Why not.
    pub error: Option<String>,
}

/// Assumes each of `roles` for the shortest session AWS allows, and forgets the credentials.
pub async fn check(session: &Session, tenant: &Tenant, roles: &[Role]) -> Vec<RoleCheck> {
    let mut out = Vec::with_capacity(roles.len());
    for &role in roles {
        let arn = role.arn(tenant).to_owned();
        let check = match hand(session, tenant, role, &session.session_name, Some(SHORTEST)).await {
            Ok(h) => RoleCheck {
                role,
                arn,
                ok: true,
                account: Some(h.account_id.clone()),
                assumed_as: Some(h.assumed_arn.clone()),
                error: None,
            },
            Err(e) => RoleCheck {
                role,
                arn,
                ok: false,
                account: match &e {
                    TenantError::WrongAccount { actual, .. } => Some(actual.clone()),
                    _ => None,
                },
                assumed_as: None,
                error: Some(e.to_string()),
            },
        };
        out.push(check);
    }
    out
}

/// The shortest session STS grants (15 minutes).
pub const SHORTEST: Duration = Duration::from_secs(900);

#[cfg(test)]
mod tests {
    use super::*;

    fn handed() -> HandedSession {
        HandedSession {
            tenant: "acme".into(),
            account_id: "111111111111".into(),
            region: "ap-northeast-1".into(),
            role: Role::Inspect,
            role_arn: "arn:aws:iam::111111111111:role/stamp-readonly".into(),
            assumed_arn: "arn:aws:sts::111111111111:assumed-role/stamp-readonly/stamp-alice".into(),
            session_name: "stamp-alice".into(),
            expires: Some("2026-05-04T10:11:12.5Z".parse().expect("time")),
            credentials: Credentials::new(
                "ASIAEXAMPLEKEYID0001",
                "SECRET-KEY-VALUE",
                Some("SESSION-TOKEN-VALUE".into()),
                None,
                "test",
            ),
        }
    }

    #[test]
    fn credentials_leave_only_through_the_methods_named_for_it() {
        let h = handed();
        let debug = format!("{h:?}");
        assert!(
            !debug.contains("SECRET-KEY-VALUE") && !debug.contains("SESSION-TOKEN-VALUE"),
            "{debug}"
        );
        assert_eq!(
            h.credential_process(),
            serde_json::json!({
                "Version": 1,
                "AccessKeyId": "ASIAEXAMPLEKEYID0001",
                "SecretAccessKey": "SECRET-KEY-VALUE",
                "SessionToken": "SESSION-TOKEN-VALUE",
                "Expiration": "2026-05-04T10:11:12Z",
            })
        );
        let env: std::collections::BTreeMap<_, _> = h.environment().into_iter().collect();
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "SECRET-KEY-VALUE");
        assert_eq!(env["AWS_SESSION_TOKEN"], "SESSION-TOKEN-VALUE");
        assert_eq!(env["AWS_CREDENTIAL_EXPIRATION"], "2026-05-04T10:11:12Z");
        let session: serde_json::Value =
            serde_json::from_str(&h.federation_session()).expect("JSON");
        assert_eq!(session["sessionKey"], "SECRET-KEY-VALUE");
    }

    #[test]
    fn a_session_longer_than_the_role_allows_says_what_to_do() {
        let e = with_duration_hint(
            "sts:AssumeRole as arn:x: ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(),
            Duration::from_secs(8 * 3600),
        );
        assert!(e.contains("--duration 1h") && e.contains("28800s"), "{e}");
        assert_eq!(with_duration_hint("other".into(), SHORTEST), "other");
    }
}
