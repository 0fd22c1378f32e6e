//! Console sign-in with a handed session: the AWS federation endpoint (not an SDK API, so it
//! goes through [`crate::http`]) exchanges the session for a sign-in token (`getSigninToken`),
//! and the `login` URL carries that token and the console page to land on.
//!
//! The token and the URL are credentials (the URL signs its holder in for the whole session):
//! nothing here logs them, and errors name the endpoint without its query.

use std::time::Duration;

use super::access::HandedSession;
use crate::http::{self, encode_query_value};

/// Overrides the federation endpoint (tests, and the local emulator's stand-in).
pub const ENDPOINT_ENV: &str = "STAMP_SIGNIN_ENDPOINT";

/// How long the federation endpoint may take to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The AWS partition a region belongs to, for its sign-in and console domains.
fn partition(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("signin.amazonaws.cn", "console.amazonaws.cn")
    } else if region.starts_with("us-gov-") {
        (
            "signin.amazonaws-us-gov.com",
            "console.amazonaws-us-gov.com",
        )
    } else {
        ("signin.aws.amazon.com", "console.aws.amazon.com")
    }
}

/// The federation endpoint for a tenant's region: `STAMP_SIGNIN_ENDPOINT` when set, else the
/// region's own sign-in endpoint (AWS lists one per commercial region; us-east-1's is the
/// global name), or the partition's for China and GovCloud. An override must be https: the
/// request carries the session's secret key, so only a loopback test endpoint may be http.
pub fn federation_endpoint(region: &str) -> Result<String, String> {
    if let Some(v) = std::env::var(ENDPOINT_ENV).ok().filter(|v| !v.is_empty()) {
        let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
            .iter()
            .any(|p| v.starts_with(p));
        if !v.starts_with("https://") && !loopback {
            return Err(format!(
                "{ENDPOINT_ENV}={} is not https: the sign-in request carries the session's secret key (http is allowed to 127.0.0.1 only)",
                http::redacted(&v)
            ));
        }
        return Ok(v);
    }
    let (signin, _) = partition(region);
    Ok(match region {
        "us-east-1" => format!("https://{signin}/federation"),
        _ if signin == "signin.aws.amazon.com" => format!("https://{region}.{signin}/federation"),
        _ => format!("https://{signin}/federation"),
    })
}

/// The console page to land on. None: the tenant's ECS cluster. A URL: taken as it is if it is
/// on the partition's console. A name: a few tenant-aware pages (`ecs`, `logs`, `ssm`,
/// `cloudformation`), else the console's own page for that service (`/NAME/home`).
pub fn destination(region: &str, cluster: &str, asked: Option<&str>) -> Result<String, String> {
    let (_, console) = partition(region);
    let base = format!("https://{region}.{console}");
    let q = format!("region={region}");
    let Some(asked) = asked.map(str::trim) else {
        return Ok(cluster_page(&base, cluster, &q));
    };
    if asked.contains("://") {
        let host = asked
            .strip_prefix("https://")
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .unwrap_or("");
        if host == console || host.ends_with(&format!(".{console}")) {
            return Ok(asked.to_owned());
        }
        return Err(format!(
            "--destination {asked}: not a page of the AWS console (https://…{console}/…)"
        ));
    }
    let name = asked.to_ascii_lowercase();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "--destination {asked}: expected a console service name (ecs, logs, ssm, cloudformation, s3, …) or a console URL"
        ));
    }
    Ok(match name.as_str() {
        "ecs" => cluster_page(&base, cluster, &q),
        "logs" => format!("{base}/cloudwatch/home?{q}#logsV2:log-groups"),
        "ssm" | "parameters" => format!("{base}/systems-manager/parameters?{q}"),
        "cloudformation" | "stacks" => format!("{base}/cloudformation/home?{q}#/stacks"),
        "home" => format!("{base}/console/home?{q}"),
        other => format!("{base}/{other}/home?{q}"),
    })
}

fn cluster_page(base: &str, cluster: &str, q: &str) -> String {
    format!(
        "{base}/ecs/v2/clusters/{}/services?{q}",
        encode_query_value(cluster)
    )
}

/// Exchanges the session for a sign-in token and builds the `login` URL that lands on
/// `destination`. `session_duration` asks for a console session of that length (900 s to
/// 12 h); AWS refuses it for credentials of a chained role, so leave it out for those.
pub async fn login_url(
    endpoint: &str,
    session: &HandedSession,
    session_duration: Option<Duration>,
    destination: &str,
) -> Result<String, String> {
    let mut url = format!("{endpoint}?Action=getSigninToken");
    if let Some(d) = session_duration {
        url.push_str(&format!("&SessionDuration={}", d.as_secs()));
    }
    url.push_str("&Session=");
    url.push_str(&encode_query_value(&session.federation_session()));
    let client = http::Client::new(TIMEOUT)
        .map_err(|e| format!("cannot set up HTTPS (the system's root certificates): {e}"))?;
    let resp = client.get(&url).await.map_err(|e| e.to_string())?;
    let shown = http::redacted(endpoint);
    if !resp.is_success() {
        // The body is not shown: an endpoint may echo what it was sent.
        return Err(format!(
            "the federation endpoint {shown} refused the session (HTTP {}); hint: the role's credentials must be valid now, and {ENDPOINT_ENV} (if set) must point at a federation endpoint",
            resp.status
        ));
    }
    let token = serde_json::from_str::<serde_json::Value>(&resp.body)
        .ok()
        .and_then(|v| v["SigninToken"].as_str().map(str::to_owned))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("the federation endpoint {shown} answered without a SigninToken"))?;
    Ok(format!(
        "{endpoint}?Action=login&Destination={}&SigninToken={}",
        encode_query_value(destination),
        encode_query_value(&token)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_and_region_has_its_sign_in_endpoint() {
        // The override is read from the environment; these tests run without it.
        if std::env::var_os(ENDPOINT_ENV).is_some() {
            return;
        }
        let cases = [
            ("us-east-1", "https://signin.aws.amazon.com/federation"),
            (
                "ap-northeast-1",
                "https://ap-northeast-1.signin.aws.amazon.com/federation",
            ),
            ("cn-north-1", "https://signin.amazonaws.cn/federation"),
            (
                "us-gov-west-1",
                "https://signin.amazonaws-us-gov.com/federation",
            ),
        ];
        for (region, want) in cases {
            assert_eq!(federation_endpoint(region).as_deref(), Ok(want), "{region}");
        }
    }

    #[test]
    fn destinations_default_to_the_tenants_cluster_and_stay_on_the_console() {
        let d = |asked| destination("ap-northeast-1", "acme-shop", asked);
        assert_eq!(
            d(None).as_deref(),
            Ok(
                "https://ap-northeast-1.console.aws.amazon.com/ecs/v2/clusters/acme-shop/services?region=ap-northeast-1"
            )
        );
        assert_eq!(d(Some("ecs")), d(None));
        assert_eq!(
            d(Some("logs")).as_deref(),
            Ok(
                "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1#logsV2:log-groups"
            )
        );
        assert_eq!(
            d(Some("S3")).as_deref(),
            Ok("https://ap-northeast-1.console.aws.amazon.com/s3/home?region=ap-northeast-1")
        );
        let page = "https://ap-northeast-1.console.aws.amazon.com/rds/home?region=ap-northeast-1";
        assert_eq!(d(Some(page)).as_deref(), Ok(page));
        assert_eq!(
            destination("cn-north-1", "c", None).as_deref(),
            Ok(
                "https://cn-north-1.console.amazonaws.cn/ecs/v2/clusters/c/services?region=cn-north-1"
            )
        );
        for bad in [
            "https://evil.example/console.aws.amazon.com",
            "https://console.aws.amazon.com.evil.example/",
            "http://ap-northeast-1.console.aws.amazon.com/",
            "ecs/../x",
            "",
        ] {
            assert!(d(Some(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
