//! `stamp login T [--print] [--destination SERVICE|URL] [--duration D]`: the tenant's AWS
//! console, signed in with its read-only `inspect_role`, in the browser or as a URL.
//!
//! The sign-in URL is a credential for the whole console session. It goes to the platform's
//! opener, or to stdout (`--print`, off a terminal, in CI), and nowhere else: never to stderr,
//! a log line or an error.

use std::io::{self, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

use super::access::{refuse_nested, take};
use crate::aws::access::Role;
use crate::aws::console;
use crate::cli::LoginArgs;
use crate::error::{Failure, Result};
use crate::output::Report;

/// `--output json`: where the session lands and until when; the URL only when printed.
#[derive(Debug, Serialize)]
struct Login {
    tenant: String,
    account_id: String,
    role_arn: String,
    assumed_as: String,
    destination: String,
    /// When the role session ends (the console session ends with it at the latest).
    expires: Option<jiff::Timestamp>,
    /// Whether the browser was opened (then `url` is null).
    opened: bool,
    url: Option<String>,
}

impl Report for Login {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        match &self.url {
            Some(url) => writeln!(out, "{url}"),
            None => Ok(()),
        }
    }
}

/// How the URL reaches the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    Print,
    Open(&'static str),
}

/// The browser only on a desktop terminal: asked not to, stdout piped or redirected, CI, or no
/// display (an SSH session) print instead.
fn how_to_show(
    print: bool,
    stdout_is_terminal: bool,
    ci: bool,
    opener: Option<&'static str>,
) -> Show {
    match opener {
        Some(o) if !print && stdout_is_terminal && !ci => Show::Open(o),
        _ => Show::Print,
    }
}

/// The platform's opener, when there is a desktop to open on.
fn opener() -> Option<&'static str> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if cfg!(target_os = "macos") {
        Some("open")
    } else if cfg!(unix) && (set("DISPLAY") || set("WAYLAND_DISPLAY")) {
        Some("xdg-open")
    } else {
        None
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &LoginArgs) -> Result<()> {
    refuse_nested()?;
    let fleet = ctx.load_fleet()?;
    let tenant = super::tenant(&fleet, &args.tenant)?;
    let destination =
        console::destination(&tenant.region, &tenant.cluster, args.destination.as_deref())
            .map_err(|e| {
                Failure::usage(
                    e,
                    Some("e.g. --destination logs, or a URL copied from the console".to_owned()),
                )
            })?;
    let endpoint =
        console::federation_endpoint(&tenant.region).map_err(|e| Failure::usage(e, None))?;
    let rt = super::runtime()?;
    let (handed, url) = rt
        .block_on(async {
            let session = ctx.session().await?;
            let handed = take(
                ctx,
                &session,
                tenant,
                Role::Inspect,
                &session.session_name,
                args.duration,
                true,
            )
            .await?;
            // AWS refuses a console session length for a chained role's credentials; the
            // console session then lasts as long as they do (AWS's default hour).
            let console_for = (!session.base_is_assumed_role()).then_some(args.duration);
            let url = console::login_url(&endpoint, &handed, console_for, &destination)
                .await
                .map_err(|e| anyhow::anyhow!("tenant `{}`: {e}", tenant.name))?;
            anyhow::Ok((handed, url))
        })
        .map_err(Failure::Failed)?;
    drop(rt);
    let show = how_to_show(
        args.print,
        io::stdout().is_terminal(),
        std::env::var_os("CI").is_some(),
        opener(),
    );
    let opened = matches!(show, Show::Open(o) if open(ctx, o, &url));
    let until = handed
        .expires
        .map_or_else(String::new, |t| format!(", session until {t}"));
    if opened {
        ctx.printer.info(format_args!(
            "{}: opened the AWS console in your browser as {} (read-only){until}",
            tenant.name, handed.assumed_arn
        ));
    } else {
        ctx.printer.info(format_args!(
            "{}: sign-in URL for the AWS console as {} (read-only){until}; open it within 15 minutes, and share it with no one: it signs its holder in",
            tenant.name, handed.assumed_arn
        ));
    }
    ctx.printer.data(&Login {
        tenant: tenant.name.clone(),
        account_id: handed.account_id.clone(),
        role_arn: handed.role_arn.clone(),
        assumed_as: handed.assumed_arn.clone(),
        destination,
        expires: handed.expires,
        opened,
        url: (!opened).then_some(url),
    })?;
    Ok(())
}

/// Hands the URL to the opener. It returns at once on most desktops, but may stay for as long
/// as a browser it started: a short wait tells a failure from a browser that is running.
fn open(ctx: &super::Ctx, opener: &str, url: &str) -> bool {
    let child = Command::new(opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            ctx.printer.error(format_args!(
                "note: cannot start {opener} ({e}); printing the URL instead"
            ));
            return false;
        }
    };
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return true,
            Ok(Some(status)) => {
                ctx.printer.error(format_args!(
                    "note: {opener} failed ({status}); printing the URL instead"
                ));
                return false;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return true,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_opens_only_on_a_desktop_terminal() {
        let o = Some("xdg-open");
        assert_eq!(how_to_show(false, true, false, o), Show::Open("xdg-open"));
        assert_eq!(how_to_show(true, true, false, o), Show::Print, "--print");
        assert_eq!(
            how_to_show(false, false, false, o),
            Show::Print,
            "stdout piped"
        );
        assert_eq!(how_to_show(false, true, true, o), Show::Print, "CI");
        assert_eq!(
            how_to_show(false, true, false, None),
            Show::Print,
            "no display"
        );
    }
}
