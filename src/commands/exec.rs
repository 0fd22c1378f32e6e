//! `stamp exec T [--role inspect|deploy] -- CMD…`: runs CMD with a tenant's credentials in its
//! environment and exits with CMD's exit code. The credentials go to the child's environment
//! and nowhere else.

use std::ffi::OsStr;
use std::process::Command;

use super::access::TENANT_VAR;
use crate::aws::access::HandedSession;
use crate::cli::ExecArgs;
use crate::error::{Failure, Result};

/// Removed from the child's environment: every other way to pick credentials (profiles, web
/// identity, container credentials, stale keys), which would compete with the tenant's.
const CLEARED: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

pub(super) fn run(ctx: &super::Ctx, args: &ExecArgs) -> Result<()> {
    let handed = super::access::take_for(ctx, &args.tenant, &args.session)?;
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| Failure::usage("no command to run", None))?;
    ctx.printer.info(format_args!(
        "{}: running {} as {} in {}{}",
        handed.tenant,
        program.to_string_lossy(),
        handed.assumed_arn,
        handed.region,
        handed
            .expires
            .map_or_else(String::new, |t| format!(" (credentials until {t})"))
    ));
    let mut cmd = Command::new(program);
    cmd.args(rest);
    child_environment(&mut cmd, &handed);
    run_as_child(ctx, cmd, program)
}

/// The tenant's credentials and region, and nothing that could compete with them.
fn child_environment(cmd: &mut Command, handed: &HandedSession) {
    for v in CLEARED {
        cmd.env_remove(v);
    }
    cmd.envs(handed.environment())
        .env("AWS_REGION", &handed.region)
        .env("AWS_DEFAULT_REGION", &handed.region)
        .env(TENANT_VAR, &handed.tenant)
        .env("STAMP_ROLE", handed.role.as_str());
}

/// Becomes CMD (Unix `exec`: its exit code and signals are the process's own), or runs it and
/// passes its exit code on elsewhere.
fn run_as_child(ctx: &super::Ctx, mut cmd: Command, program: &OsStr) -> Result<()> {
    #[cfg(unix)]
    let err = {
        use std::os::unix::process::CommandExt;
        // Returns only when CMD could not be started.
        cmd.exec()
    };
    #[cfg(not(unix))]
    let err = match cmd.status() {
        Ok(status) if status.success() => return Ok(()),
        Ok(status) => {
            let code = status.code().unwrap_or(1).clamp(1, 255);
            return Err(Failure::Reported(u8::try_from(code).unwrap_or(1)));
        }
        Err(e) => e,
    };
    // As a shell (and env(1)) say it: 127 not found, 126 found but not runnable.
    let (code, hint) = if err.kind() == std::io::ErrorKind::NotFound {
        (127, "is it installed and on PATH?")
    } else {
        (126, "is it executable?")
    };
    ctx.printer.error(format_args!(
        "error: cannot run `{}`: {err}\n  = hint: {hint}",
        program.to_string_lossy()
    ));
    Err(Failure::Reported(code))
}
