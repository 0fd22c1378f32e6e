//! `stamp profiles [T…] [--role inspect|deploy]`: one `~/.aws/config` profile per tenant whose
//! `credential_process` is `stamp creds`, so any AWS tool reaches a tenant by name. Offline.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::{AccessRole, ProfilesArgs};
use crate::error::{Failure, Result};
use crate::output::Report;

#[derive(Debug, Serialize)]
struct Profiles {
    /// The base profile every `credential_process` line names.
    base_profile: String,
    profiles: Vec<Profile>,
}

#[derive(Debug, Serialize)]
struct Profile {
    /// `<project>-<tenant>`, `-deploy` appended for the deploy role.
    name: String,
    tenant: String,
    role: &'static str,
    region: String,
    credential_process: String,
}

impl Report for Profiles {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "# Written by `stamp profiles` for ~/.aws/config; base credentials from profile `{}`.",
            self.base_profile
        )?;
        for p in &self.profiles {
            writeln!(out, "\n[profile {}]", p.name)?;
            writeln!(out, "credential_process = {}", p.credential_process)?;
            writeln!(out, "region = {}", p.region)?;
        }
        Ok(())
    }
}

pub(super) fn run(ctx: &super::Ctx, args: &ProfilesArgs) -> Result<()> {
    let fleet = ctx.load_fleet()?;
    let tenants = super::select_tenants(&fleet, &args.tenants)?;
    let deploy = args.role == AccessRole::Deploy;
    let name = |tenant: &str| {
        let base = format!("{}-{tenant}", fleet.project.name);
        if deploy {
            format!("{base}-deploy")
        } else {
            base
        }
    };
    let base = base_profile(ctx.profile.as_deref(), std::env::var("AWS_PROFILE").ok());
    // A profile whose base is one of these would run itself as its own credential_process.
    let generated = |p: &str| {
        fleet.tenants.iter().any(|t| {
            let n = format!("{}-{}", fleet.project.name, t.name);
            p == n || p == format!("{n}-deploy")
        })
    };
    if generated(&base) {
        return Err(Failure::usage(
            format!(
                "the base profile `{base}` is one of the profiles stamp writes: its credential_process would call itself"
            ),
            Some("pass --profile NAME of your own credentials (or unset AWS_PROFILE)".to_owned()),
        ));
    }
    let root = std::fs::canonicalize(&ctx.root)?;
    let stamp = stamp_command();
    let role = if deploy { " --role deploy" } else { "" };
    let profiles = tenants
        .iter()
        .map(|t| Profile {
            name: name(&t.name),
            tenant: t.name.clone(),
            role: if deploy { "deploy" } else { "inspect" },
            region: t.region.clone(),
            credential_process: format!(
                "{stamp} --root {} creds --profile {} {}{role}",
                shell_word(&root.to_string_lossy()),
                shell_word(&base),
                t.name
            ),
        })
        .collect();
    ctx.printer.data(&Profiles {
        base_profile: base,
        profiles,
    })?;
    Ok(())
}

/// The base credentials' profile: `--profile`, else `AWS_PROFILE`, else `default` (what the AWS
/// tools use with neither). Written into every line, so the profile a tool selected through
/// `AWS_PROFILE` is never taken as stamp's own base.
fn base_profile(flag: Option<&str>, env: Option<String>) -> String {
    flag.map(str::to_owned)
        .or(env)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// `stamp` when that is the program running now (found on PATH), else its absolute path: the
/// profile must run this stamp wherever the AWS tool was started.
fn stamp_command() -> String {
    let me = std::env::current_exe().and_then(std::fs::canonicalize).ok();
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("stamp"))
            .find(|p| p.is_file())
            .and_then(|p| std::fs::canonicalize(p).ok())
    });
    match me {
        Some(me) if on_path.as_deref() == Some(me.as_path()) => "stamp".to_owned(),
        Some(me) => shell_word(&me.to_string_lossy()),
        None => "stamp".to_owned(),
    }
}

/// A word as a POSIX shell and Python's shlex read it (the Rust SDK runs `sh -c`, botocore
/// splits with shlex): bare when it is plain, single-quoted otherwise.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@%=:,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_profile_is_the_flag_then_aws_profile_then_default() {
        assert_eq!(base_profile(Some("work"), Some("other".into())), "work");
        assert_eq!(base_profile(None, Some("other".into())), "other");
        assert_eq!(base_profile(None, Some(String::new())), "default");
        assert_eq!(base_profile(None, None), "default");
    }

    #[test]
    fn paths_are_quoted_for_sh_and_shlex_only_when_they_need_it() {
        assert_eq!(shell_word("/home/a/fleet"), "/home/a/fleet");
        assert_eq!(shell_word("/home/a/my fleet"), "'/home/a/my fleet'");
        assert_eq!(shell_word("/x/it's"), r"'/x/it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
