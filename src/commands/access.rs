//! What `login`, `exec`, `creds` and `whoami` share: the refusals before any AWS call, and a
//! person's session in one tenant account, taken through the account guard for as long as AWS
//! allows. No credential is ever printed here; the commands decide where they go.

use std::time::Duration;

use crate::aws::Session;
use crate::aws::access::{self, HandedSession, Role};
use crate::aws::session::{CHAINED_MAX, session_name_with_reason};
use crate::cli::{AccessRole, SessionArgs};
use crate::dsl::Tenant;
use crate::error::{Failure, Result};

/// Set in `exec`'s child: a stamp started there would take the tenant's role for its own.
pub(super) const TENANT_VAR: &str = "STAMP_TENANT";

impl From<AccessRole> for Role {
    fn from(r: AccessRole) -> Self {
        match r {
            AccessRole::Inspect => Role::Inspect,
            AccessRole::Deploy => Role::Deploy,
        }
    }
}

/// Inside `stamp exec T`, the AWS credentials are T's role, not the person's: assuming another
/// tenant's role from there fails on its trust policy, far from the cause. Say it up front.
pub(super) fn refuse_nested() -> Result<()> {
    match std::env::var(TENANT_VAR) {
        Ok(t) if !t.is_empty() => Err(Failure::usage(
            format!(
                "this shell runs inside `stamp exec {t}` ({TENANT_VAR}={t}): its AWS credentials are {t}'s role, not yours"
            ),
            Some("leave it (exit) and run stamp from your own shell".to_owned()),
        )),
        _ => Ok(()),
    }
}

/// Refuses, before the base identity is even asked who it is, `--role deploy` without a reason
/// and a reason of which nothing fits an STS session name.
fn require_reason(args: &SessionArgs) -> Result<()> {
    match reason(args) {
        None if args.role == AccessRole::Deploy => Err(Failure::usage(
            "--role deploy needs --reason (or STAMP_REASON): the deploy role may write",
            Some("say why, e.g. --reason \"INC-42 restart api\"; it goes into the STS session name CloudTrail shows".to_owned()),
        )),
        Some(r) if session_name_with_reason("stamp", r).is_none() => Err(Failure::usage(
            format!("--reason `{r}`: none of it fits an STS session name (letters, digits and +=,.@_-)"),
            Some("add a ticket or a word in ASCII, e.g. --reason \"INC-42 restart\"".to_owned()),
        )),
        _ => Ok(()),
    }
}

fn reason(args: &SessionArgs) -> Option<&str> {
    args.reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

/// The session name for `args` (checked by [`require_reason`]): the person's, with the reason
/// when there is one.
fn session_name(session: &Session, args: &SessionArgs) -> String {
    reason(args)
        .and_then(|r| session_name_with_reason(&session.session_name, r))
        .unwrap_or_else(|| session.session_name.clone())
}

/// The `DurationSeconds` to ask for (`None`: leave it out, AWS's default hour), and what to
/// tell the person when they get less than they asked. A role assumed from an assumed role
/// (role chaining) gets one hour at most. For the console AWS documents more: the federation
/// endpoint refuses credentials obtained with `DurationSeconds` unless an IAM user asked for
/// them, so a chained role's console session is left at AWS's default hour.
pub(super) fn granted_duration(
    asked: Duration,
    chained_from: Option<&str>,
    console: bool,
) -> (Option<Duration>, Option<String>) {
    let Some(base) = chained_from else {
        return (Some(asked), None);
    };
    let granted = if console {
        CHAINED_MAX
    } else {
        asked.min(CHAINED_MAX)
    };
    let note = (granted != asked).then(|| {
        format!(
            "your identity {base} is itself an assumed role, and AWS allows a role assumed from one (role chaining) {}: the session lasts {}, not {}",
            if console { "a console session of its default hour only" } else { "an hour at most" },
            human(granted),
            human(asked)
        )
    });
    (if console { None } else { Some(granted) }, note)
}

/// `8h`, `90m`, `1h30m`.
pub(super) fn human(d: Duration) -> String {
    let (h, m) = (d.as_secs() / 3600, d.as_secs() % 3600 / 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// Takes `role` of `tenant` for `asked` (or what AWS allows) under `session_name`; `console`
/// when the session is for `login`.
pub(super) async fn take(
    ctx: &super::Ctx,
    session: &Session,
    tenant: &Tenant,
    role: Role,
    session_name: &str,
    asked: Duration,
    console: bool,
) -> anyhow::Result<HandedSession> {
    let chained = session
        .base_is_assumed_role()
        .then_some(session.caller.arn.as_str());
    let (duration, note) = granted_duration(asked, chained, console);
    if let Some(note) = note {
        ctx.printer
            .error(format_args!("note: {}: {note}", tenant.name));
    }
    let handed = access::hand(session, tenant, role, session_name, duration).await?;
    ctx.printer.debug(format_args!(
        "{}: {} session {} in account {}, expires {}",
        tenant.name,
        role.as_str(),
        handed.assumed_arn,
        handed.account_id,
        handed
            .expires
            .map_or_else(|| "-".to_owned(), |t| t.to_string())
    ));
    Ok(handed)
}

/// The session `args` asks for in `tenant`'s account (`exec`, `creds`): refusals first, then
/// the base identity, the role, the account guard.
pub(super) fn take_for(
    ctx: &super::Ctx,
    tenant: &str,
    args: &SessionArgs,
) -> Result<HandedSession> {
    refuse_nested()?;
    require_reason(args)?;
    let fleet = ctx.load_fleet()?;
    let tenant = super::tenant(&fleet, tenant)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let session = ctx.session().await?;
        let name = session_name(&session, args);
        announce_deploy(ctx, tenant, args, &name);
        take(
            ctx,
            &session,
            tenant,
            Role::from(args.role),
            &name,
            args.duration,
            false,
        )
        .await
    })
    .map_err(Failure::Failed)
}

/// The deploy role may write: who takes it and why is always shown, whatever `-q` says.
fn announce_deploy(ctx: &super::Ctx, tenant: &Tenant, args: &SessionArgs, name: &str) {
    if args.role == AccessRole::Deploy {
        ctx.printer.error(format_args!(
            "{}: deploy_role {} (may write) for: {} (STS session name {name})",
            tenant.name,
            tenant.deploy_role,
            reason(args).unwrap_or_default()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chained_identity_gets_an_hour_and_is_told_so() {
        let h = Duration::from_secs(3600);
        let alice = Some("arn:aws:sts::1:assumed-role/Dev/alice");
        // An IAM user gets what it asks for, for the console too.
        assert_eq!(granted_duration(8 * h, None, false), (Some(8 * h), None));
        assert_eq!(granted_duration(8 * h, None, true), (Some(8 * h), None));
        // Chained: at most an hour, and said so.
        let (d, note) = granted_duration(8 * h, alice, false);
        assert_eq!(d, Some(h));
        let note = note.expect("a note");
        assert!(
            note.contains("assumed-role/Dev/alice") && note.contains("1h, not 8h"),
            "{note}"
        );
        assert_eq!(granted_duration(h / 2, alice, false), (Some(h / 2), None));
        // Chained, for the console: no DurationSeconds at all, so AWS's hour, whatever was asked.
        assert_eq!(granted_duration(h, alice, true), (None, None));
        let (d, note) = granted_duration(h / 2, alice, true);
        assert_eq!(d, None);
        assert!(note.is_some_and(|n| n.contains("1h, not 30m")));
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human(Duration::from_secs(900)), "15m");
    }
}
