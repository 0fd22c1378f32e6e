//! Turns SDK errors into one line a person can act on: the operation, the role, what went
//! wrong, and for denials the permission that is missing.

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// `ssm:GetParameters as arn:…:role/stamp-readonly: access denied (…)`.
pub fn describe<E>(operation: &str, role: &str, err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    SdkError<E, HttpResponse>: std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            let message = se.err().message().unwrap_or("");
            if is_denied(code, status) {
                denied(operation, role, message)
            } else if code.is_empty() {
                format!(
                    "{operation} as {role}: HTTP {status}{}",
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                )
            } else {
                format!("{operation} as {role}: {code}: {message}")
            }
        }
        SdkError::DispatchFailure(_) if credentials_error(err).is_some() => {
            // The request was never sent: the role's credentials could not be had (AssumeRole
            // refused, say). That reason, not the endpoint, is what the user must fix.
            format!(
                "{operation} as {role}: no credentials to send it with: {}",
                credentials_error(err).unwrap_or_default()
            )
        }
        SdkError::DispatchFailure(d) => {
            let why = if d.is_timeout() {
                "timed out".to_owned()
            } else if d.is_io() {
                "connection failed".to_owned()
            } else {
                format!("could not send the request: {}", innermost(err))
            };
            format!(
                "{operation} as {role}: {why} (is the endpoint reachable? AWS_ENDPOINT_URL={})",
                std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "unset".into())
            )
        }
        SdkError::TimeoutError(_) => format!("{operation} as {role}: timed out"),
        // moto under IAM enforcement (and some proxies) answer 403 with a body the SDK's JSON
        // protocols cannot parse at all: the status alone still means "denied".
        SdkError::ResponseError(r) if r.raw().status().as_u16() == 403 => {
            denied(operation, role, "")
        }
        SdkError::ResponseError(_) => format!(
            "{operation} as {role}: the response could not be read: {}",
            innermost(err)
        ),
        SdkError::ConstructionFailure(_) => {
            format!("{operation} as {role}: the request could not be built")
        }
        other => format!(
            "{operation} as {role}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(other)
        ),
    }
}

/// `OP as ROLE: access denied (…); hint: …`, the permission to grant named.
fn denied(operation: &str, role: &str, message: &str) -> String {
    let hint = if operation == "sts:AssumeRole" {
        // Assuming is decided by the caller's policy and the role's trust policy, not by what
        // the role itself may do.
        "the base identity must be allowed `sts:AssumeRole` on this role, and the role's trust policy must trust it".to_owned()
    } else {
        format!("the role's policy must allow `{operation}`")
    };
    let message = if message.is_empty() {
        String::new()
    } else {
        format!(" ({message})")
    };
    format!("{operation} as {role}: access denied{message}{HINT}{hint}")
}

/// Where a one-line error (`describe`'s, an account's) gives way to what to do about it; a
/// report that shows hints apart splits there ([`split_hint`]).
pub const HINT: &str = "; hint: ";

/// A one-line error and its hint, apart.
pub fn split_hint(line: &str) -> (&str, Option<&str>) {
    match line.split_once(HINT) {
        Some((what, hint)) => (what, Some(hint)),
        None => (line, None),
    }
}

/// The reason credentials could not be loaded, when that is why a request failed before it was
/// sent: the message of the provider's own error (for stamp's AssumeRole provider, already in
/// the form `describe` gives).
fn credentials_error(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(match std::error::Error::source(c) {
                Some(inner) => inner.to_string(),
                None => c.to_string(),
            });
        }
        next = e.source();
    }
    None
}

/// The message of the deepest error in the chain: the most specific one.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

/// What a failed call may have done on the server: what a write that is not idempotent needs
/// to know before sending itself again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// Refused before anything happened (throttling): safe to send again after a pause.
    NotApplied,
    /// It may have been applied: a 5xx, a timeout, a connection dropped mid-way, a response
    /// that could not be read. Look at the server's state before sending again.
    Unknown,
    /// A definite answer (invalid request, denial): sending it again gives the same.
    Final,
}

/// Error codes AWS uses for throttling (the SDK's own list, for the services stamp calls).
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
];

/// Classifies a failed write; see [`WriteFailure`].
pub fn write_failure<E>(err: &SdkError<E, HttpResponse>) -> WriteFailure
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            if THROTTLING.contains(&code) || status == 429 {
                WriteFailure::NotApplied
            } else if status >= 500 {
                WriteFailure::Unknown
            } else {
                WriteFailure::Final
            }
        }
        SdkError::ConstructionFailure(_) => WriteFailure::Final,
        // A denial whose body could not be parsed (see `describe`) was still a denial.
        SdkError::ResponseError(r) if r.raw().status().as_u16() == 403 => WriteFailure::Final,
        // Timeouts, dispatch failures (a reset may come after the server acted), responses
        // that could not be read, and anything the SDK adds later.
        _ => WriteFailure::Unknown,
    }
}

/// Whether an error is a denial, from its code or, failing that, its HTTP status.
pub fn is_denied(code: &str, status: u16) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
    ) || (code.is_empty() && status == 403)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_recognised_by_code_or_by_a_bare_403() {
        assert!(is_denied("AccessDeniedException", 400));
        assert!(is_denied("AccessDenied", 403));
        assert!(is_denied("", 403));
        assert!(!is_denied("ThrottlingException", 400));
        assert!(!is_denied("ParameterNotFound", 400));
    }

    fn service_error(
        status: u16,
        code: &str,
    ) -> SdkError<
        aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError,
        HttpResponse,
    > {
        let meta = aws_sdk_ecs::error::ErrorMetadata::builder()
            .code(code)
            .build();
        let err =
            aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError::generic(
                meta,
            );
        let raw = HttpResponse::new(
            status.try_into().expect("status code"),
            aws_smithy_types::body::SdkBody::from(""),
        );
        SdkError::service_error(err, raw)
    }

    #[test]
    fn throttling_was_not_applied_5xx_and_lost_connections_may_have_been() {
        assert_eq!(
            write_failure(&service_error(400, "ThrottlingException")),
            WriteFailure::NotApplied
        );
        assert_eq!(
            write_failure(&service_error(400, "Throttling")),
            WriteFailure::NotApplied
        );
        assert_eq!(
            write_failure(&service_error(500, "ServerException")),
            WriteFailure::Unknown
        );
        assert_eq!(
            write_failure(&service_error(503, "")),
            WriteFailure::Unknown
        );
        assert_eq!(
            write_failure(&service_error(400, "ClientException")),
            WriteFailure::Final
        );
        let timeout: SdkError<
            aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError,
            HttpResponse,
        > = SdkError::timeout_error("attempt timeout");
        assert_eq!(write_failure(&timeout), WriteFailure::Unknown);
        let reset: SdkError<
            aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError,
            HttpResponse,
        > = SdkError::dispatch_failure(aws_smithy_runtime_api::client::result::ConnectorError::io(
            "reset".into(),
        ));
        assert_eq!(write_failure(&reset), WriteFailure::Unknown);
    }
}
