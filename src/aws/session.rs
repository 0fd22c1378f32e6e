//! Credentials: the base identity from the standard chain, and per tenant an assumed role
//! whose account is checked before any other call (the account guard).
//!
//! `--profile` only picks the base credentials. Region always comes from the tenant, never
//! from the caller's environment. Assumed credentials are cached for the run and refreshed
//! before they expire (role chaining caps sessions at one hour; deploy waits can be longer).
//!
//! Every client retries in the SDK's standard mode (throttling, 5xx, timeouts and dropped
//! connections, exponential backoff with jitter) with [`Retries`]: more attempts than the SDK's
//! default three, because a fleet deploy makes thousands of calls and one exhausted call fails
//! a tenant; and a timeout per attempt, because a response that never comes would otherwise
//! hang the deploy instead of being retried. Writes that are not idempotent opt out of SDK
//! retries and retry themselves (`aws::deploy`).

use std::fmt;
use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, error::CredentialsError, future,
};

use super::calls::CallCounter;
use super::errors::describe;

/// Who runs stamp: the base caller, before any role is assumed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Caller {
    pub arn: String,
    pub account: String,
}

/// How every AWS call of a run is retried and timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Attempts per call, the first included (SDK standard mode).
    pub max_attempts: u32,
    /// How long one attempt may take before it is abandoned and retried.
    pub attempt_timeout: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            attempt_timeout: Duration::from_secs(20),
        }
    }
}

impl Retries {
    /// The defaults, or `STAMP_MAX_ATTEMPTS` / `STAMP_ATTEMPT_TIMEOUT_MS` when set: test knobs
    /// (the fault-injection tests shorten the timeout so a delayed response costs seconds, not
    /// twenty), documented in the README but not meant for everyday use.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut r = Self::default();
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = get("STAMP_MAX_ATTEMPTS") {
            r.max_attempts = v.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                anyhow::anyhow!("STAMP_MAX_ATTEMPTS={v}: expected a whole number, at least 1")
            })?;
        }
        if let Some(v) = get("STAMP_ATTEMPT_TIMEOUT_MS") {
            let ms: u64 = v.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                anyhow::anyhow!("STAMP_ATTEMPT_TIMEOUT_MS={v}: expected milliseconds, at least 1")
            })?;
            r.attempt_timeout = Duration::from_millis(ms);
        }
        Ok(r)
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }

    fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(3100).min(self.attempt_timeout))
            .operation_attempt_timeout(self.attempt_timeout)
            .build()
    }

    /// An upper bound for assuming a role: every attempt timing out, plus the backoffs between
    /// them (the SDK caps one at 20 s). The identity cache's own default (5 s) would cut the
    /// STS client's retries short.
    fn credentials_timeout(&self) -> Duration {
        self.attempt_timeout * self.max_attempts + Duration::from_secs(20) * self.max_attempts
    }
}

/// The base configuration of a run: credentials chain, endpoint (`AWS_ENDPOINT_URL`), retries.
#[derive(Clone)]
pub struct Session {
    base: SdkConfig,
    pub calls: CallCounter,
    pub caller: Caller,
    pub session_name: String,
    pub retries: Retries,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("caller", &self.caller)
            .field("session_name", &self.session_name)
            .finish_non_exhaustive()
    }
}

/// The base credentials could not be loaded, or STS does not know them.
#[derive(Debug, thiserror::Error)]
#[error("cannot identify the base credentials: {detail}")]
pub struct NoBaseIdentity {
    pub detail: String,
}

impl Session {
    /// Loads base credentials from the standard chain (environment, profile, SSO, web
    /// identity) and asks STS who they belong to.
    pub async fn connect(profile: Option<&str>) -> anyhow::Result<Self> {
        let retries = Retries::from_env()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retries.retry_config())
            .timeout_config(retries.timeout_config())
            // STS needs some region for the base identity call; tenants bring their own.
            .region(
                aws_config::meta::region::RegionProviderChain::default_provider()
                    .or_else(Region::new("us-east-1")),
            );
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        let base = loader.http_client(shared_http_client()).load().await;
        let calls = CallCounter::default();
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&base)
                .interceptor(calls.clone())
                .build(),
        );
        // The hint is the command's to give: only it knows which of its flags could help.
        let who = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| NoBaseIdentity {
                detail: describe("sts:GetCallerIdentity", "the base credentials", &e),
            })?;
        let arn = who.arn.unwrap_or_default();
        let caller = Caller {
            account: who.account.unwrap_or_default(),
            arn: arn.clone(),
        };
        let session_name = session_name(&arn, &ci_job());
        Ok(Self {
            base,
            calls,
            caller,
            session_name,
            retries,
        })
    }

    /// The same session counting its calls in a counter of its own as well as the run's: one
    /// per tenant, so a deploy can say which tenant's calls were retried.
    pub fn for_tenant(&self) -> Self {
        Self {
            calls: self.calls.child(),
            ..self.clone()
        }
    }

    /// The SDK configuration for one tenant: its region, the assumed role's credentials,
    /// a cache that refreshes them five minutes before expiry.
    pub fn tenant_config(
        &self,
        region: &str,
        role_arn: &str,
        external_id: Option<&str>,
    ) -> SdkConfig {
        let provider = AssumedRole {
            sts: self.sts_in(region),
            request: AssumeRequest {
                role_arn: role_arn.to_owned(),
                session_name: self.session_name.clone(),
                external_id: external_id.map(str::to_owned),
                // Role chaining (CI's web identity → tenant role) caps a session at one hour.
                duration: Some(CHAINED_MAX),
            },
        };
        self.base
            .to_builder()
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .identity_cache(
                IdentityCache::lazy()
                    .buffer_time(Duration::from_secs(300))
                    .load_timeout(self.retries.credentials_timeout())
                    .build(),
            )
            .build()
    }

    /// The base identity's own configuration: for `bootstrap --apply`, which writes with the
    /// caller's credentials for the tenant account (it creates the roles stamp assumes).
    pub fn base_config(&self) -> &SdkConfig {
        &self.base
    }

    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    /// Whether the base identity is itself an assumed role (SSO, CI's web identity, a role
    /// profile): assuming a tenant role from it is role chaining, which AWS caps at one hour.
    pub fn base_is_assumed_role(&self) -> bool {
        self.caller.arn.contains(":assumed-role/")
    }

    /// Assumes a role once and returns the credentials themselves: for the commands that hand a
    /// person a session (`exec`, `creds`, `login`), which must see its keys and expiry. The
    /// error is one line naming the role (as `describe` words it).
    pub async fn assume_once(
        &self,
        region: &str,
        request: &AssumeRequest,
    ) -> Result<Credentials, String> {
        request.send(&self.sts_in(region)).await
    }

    /// An SDK configuration for `region` that signs with fixed `credentials`: how a handed
    /// session is checked (the account guard) before anyone gets it.
    pub fn config_with(&self, region: &str, credentials: Credentials) -> SdkConfig {
        self.base
            .to_builder()
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build()
    }

    /// An STS client of the base identity in `region`, counting its calls.
    fn sts_in(&self, region: &str) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&self.base)
                .region(Region::new(region.to_owned()))
                .interceptor(self.calls.clone())
                .build(),
        )
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxy settings from the
/// environment), built once per run and given to every SDK client through the base config.
///
/// Without it, every service client builds a default client of its own: a tenant's reader and
/// deployer make five or six, and each parses the trust store and opens connections of its
/// own (`stamp plan` of one example tenant opened 6 connections, of four tenants 21; with one
/// client, 1 and 1). One client keeps one connection pool per endpoint, shared by every tenant
/// of that region, and builds its TLS connector once per timeout setting.
///
/// Built as aws-smithy-runtime's own default is (its `default_https_client` is crate-private),
/// not with `Builder::build_https`, which takes no proxy settings: `HTTPS_PROXY` and `NO_PROXY`
/// keep working as they did with the SDK's default client.
fn shared_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        conn.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            conn.set_sleep_impl(c.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

/// The longest session AWS grants a role assumed from another role's session.
pub const CHAINED_MAX: Duration = Duration::from_secs(3600);

/// One AssumeRole request: the role, the session name CloudTrail shows, the session's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRequest {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    /// `None` leaves `DurationSeconds` out: AWS's default, one hour.
    pub duration: Option<Duration>,
}

impl AssumeRequest {
    async fn send(&self, sts: &aws_sdk_sts::Client) -> Result<Credentials, String> {
        let out = sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .set_external_id(self.external_id.clone())
            .set_duration_seconds(
                self.duration
                    .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)),
            )
            .send()
            .await
            .map_err(|e| describe("sts:AssumeRole", &self.role_arn, &e))?;
        let c = out.credentials.ok_or_else(|| {
            format!(
                "sts:AssumeRole as {}: no credentials in the answer",
                self.role_arn
            )
        })?;
        let expiry = std::time::SystemTime::try_from(c.expiration).ok();
        Ok(Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expiry,
            "stamp-assume-role",
        ))
    }
}

/// AssumeRole as a credentials provider, so the SDK's identity cache handles expiry.
#[derive(Debug, Clone)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    request: AssumeRequest,
}

impl AssumedRole {
    async fn assume(&self) -> aws_credential_types::provider::Result {
        self.request
            .send(&self.sts)
            .await
            .map_err(CredentialsError::provider_error)
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// CircleCI's job, when stamp runs in one: the session name then names the job, not a person.
fn ci_job() -> Option<String> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (get("CIRCLE_PROJECT_REPONAME"), get("CIRCLE_BUILD_NUM")) {
        (Some(repo), Some(build)) => Some(format!("ci-{repo}-{build}")),
        _ => None,
    }
}

/// `stamp-<who>`: the CI job, else the last part of the caller's ARN (user or session name).
/// STS allows `[\w+=,.@-]`, 2 to 64 characters.
pub fn session_name(caller_arn: &str, ci_job: &Option<String>) -> String {
    let who = ci_job.clone().unwrap_or_else(|| {
        caller_arn
            .rsplit('/')
            .next()
            .unwrap_or("unknown")
            .to_owned()
    });
    let clean: String = format!("stamp-{who}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if clean.len() < 2 {
        "stamp".to_owned()
    } else {
        clean
    }
}

/// `stamp-<who>,<reason>`: the session name of a session taken with a reason (`exec --role
/// deploy --reason`), which CloudTrail shows on every call the session makes. STS allows
/// `[\w+=,.@-]` and 64 characters: the reason keeps those (`,` aside, the separator) and
/// everything else becomes `-`; the person keeps at most 32 characters, the reason the rest.
/// `None` when no letter or digit of the reason survives (a reason in another script).
pub fn session_name_with_reason(session_name: &str, reason: &str) -> Option<String> {
    let mut slug = String::new();
    for c in reason.trim().chars() {
        let c = if c.is_ascii_alphanumeric() || "+=.@_-".contains(c) {
            c
        } else {
            '-'
        };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let slug = slug.trim_matches('-');
    if !slug.chars().any(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let who: String = session_name.chars().take(32).collect();
    let room = 64 - who.len() - 1;
    let slug: String = slug.chars().take(room).collect();
    Some(format!("{who},{}", slug.trim_end_matches('-')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_name_the_person_or_the_job_within_sts_limits() {
        assert_eq!(
            session_name("arn:aws:iam::1:user/alice", &None),
            "stamp-alice"
        );
        assert_eq!(
            session_name("arn:aws:sts::1:assumed-role/Dev/alice@example.com", &None),
            "stamp-alice@example.com"
        );
        assert_eq!(
            session_name("arn:aws:iam::1:user/a b:c", &None),
            "stamp-a-b-c"
        );
        assert_eq!(
            session_name("x", &Some("ci-shop-42".into())),
            "stamp-ci-shop-42"
        );
        assert_eq!(
            session_name(&format!("arn:aws:iam::1:user/{}", "x".repeat(100)), &None).len(),
            64
        );
    }
    #[test]
    fn a_reason_joins_the_session_name_in_stss_characters_and_length() {
        assert_eq!(
            session_name_with_reason("stamp-alice", "hotfix INC-42: restart api").as_deref(),
            Some("stamp-alice,hotfix-INC-42-restart-api")
        );
        // Other scripts and punctuation collapse; what is left of the reason still names it.
        assert_eq!(
            session_name_with_reason("stamp-alice", "障害対応 INC-42 (顧客)").as_deref(),
            Some("stamp-alice,INC-42")
        );
        assert_eq!(session_name_with_reason("stamp-alice", "障害対応"), None);
        assert_eq!(session_name_with_reason("stamp-alice", "  -- "), None);
        let long = session_name_with_reason(&format!("stamp-{}", "p".repeat(60)), &"r".repeat(100))
            .expect("a name");
        assert_eq!(long.len(), 64);
        assert!(
            long.starts_with(&format!("stamp-{},", "p".repeat(26))),
            "{long}"
        );
        for name in [
            long,
            session_name_with_reason("stamp-a", "x/y,z").expect("name"),
        ] {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)),
                "{name}"
            );
        }
    }
}
