//! Reading the fleet's input files: from the repository only, plain files only, within a size.
//!
//! A tenant file, `_defaults.toml` or template that is a symbolic link leading out of the
//! fleet root, or that is not a regular file (a FIFO would block, `/dev/zero` never ends), is
//! refused before it is opened, and the error names only the file in the repository: nothing
//! of the link's target is read or printed, so a link to a credentials file cannot leak into
//! `stamp validate`'s output. Links that stay inside the root are followed.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::dsl::Diagnostic;

/// What an input file is, for its size limit and the wording of its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `tenants/_defaults.toml` and `tenants/<tenant>.toml`.
    TenantFile,
    /// `templates/<name>.json.j2`.
    TaskTemplate,
    /// `templates/<name>.cfn.yaml`, sent whole as CloudFormation's `TemplateBody`.
    StackTemplate,
}

impl Kind {
    /// The largest file stamp reads. Tenant files are a few KiB (a thousand variables is
    /// 40 KiB); a task definition template renders at most ECS's 64 KiB; CloudFormation takes
    /// at most 51,200 bytes in `TemplateBody`, so a larger stack template could never apply.
    pub const fn limit(self) -> u64 {
        match self {
            Kind::TenantFile => 1024 * 1024,
            Kind::TaskTemplate => 256 * 1024,
            Kind::StackTemplate => 51_200,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::TenantFile => "a tenant file",
            Kind::TaskTemplate => "a task definition template",
            Kind::StackTemplate => {
                "a CloudFormation template (CloudFormation's own limit for a template body)"
            }
        }
    }
}

/// Why an input could not be read.
#[derive(Debug)]
pub enum Refused {
    /// The file does not exist (or is a link to nothing).
    Missing,
    /// Anything else, worded for the user.
    Problem(Diagnostic),
}

/// Reads a file given on the command line (`deploy --plan FILE`) as text, refusing one over
/// `limit` bytes without reading past it: `/dev/zero` or a runaway pipe would otherwise fill
/// memory. Pipes are read (`--plan <(…)` is one); only their size is bounded. The error is
/// worded for the user; `what` names the kind of file (`a saved plan`).
pub fn read_argument(path: &Path, what: &str, limit: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "it is larger than {limit} bytes, the limit for {what}"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// Reads `root/rel` as text, refusing links out of the root, anything but a regular file, a
/// file over the kind's limit and anything that is not UTF-8. A leading byte-order mark is
/// dropped: it carries nothing in UTF-8, and editors on Windows write one.
pub fn read(root: &Path, rel: &str, kind: Kind) -> Result<String, Refused> {
    let bytes = read_bytes(root, rel, kind)?;
    let mut text = String::from_utf8(bytes).map_err(|_| {
        problem(
            rel,
            "the file is not UTF-8 text".to_owned(),
            "save it as UTF-8",
        )
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

fn read_bytes(root: &Path, rel: &str, kind: Kind) -> Result<Vec<u8>, Refused> {
    let path = inside(root, rel)?;
    let meta = std::fs::metadata(&path).map_err(|e| io_problem(rel, &e))?;
    if !meta.is_file() {
        return Err(problem(
            rel,
            format!("the file is not a regular file but {}", file_kind(&meta)),
            "tenant files and templates are plain files committed to the repository",
        ));
    }
    let limit = kind.limit();
    let too_big = |size: u64| {
        problem(
            rel,
            format!(
                "the file is {size} bytes; the limit for {} is {limit} bytes",
                kind.what()
            ),
            "split it up, or take out what stamp does not need (generated data, long comments)",
        )
    };
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(&path).map_err(|e| io_problem(rel, &e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may have grown since it was measured: never read past the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_problem(rel, &e))?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The real path of `root/rel`, if it is inside the (real) root.
fn inside(root: &Path, rel: &str) -> Result<PathBuf, Refused> {
    let real_root = std::fs::canonicalize(root).map_err(|e| io_problem(rel, &e))?;
    let path = match std::fs::canonicalize(root.join(rel)) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refused::Missing),
        Err(e) => return Err(io_problem(rel, &e)),
    };
    if path.starts_with(&real_root) {
        Ok(path)
    } else {
        Err(problem(
            rel,
            "the file is a symbolic link (or inside a linked folder) that leads out of the repository".to_owned(),
            "stamp reads its inputs from the fleet repository only: put the file itself there instead of a link",
        ))
    }
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "something else"
    }
}

fn problem(rel: &str, message: String, hint: &str) -> Refused {
    Refused::Problem(Diagnostic::general(
        Some(rel),
        message,
        Some(hint.to_owned()),
    ))
}

fn io_problem(rel: &str, e: &std::io::Error) -> Refused {
    // The kind, not the OS message with its path: the path may be a link's target.
    problem(
        rel,
        format!("cannot read the file: {}", e.kind()),
        "check that the file exists and that you may read it",
    )
}

impl Refused {
    /// The problem as a diagnostic; `missing` words the case of a file that is not there.
    pub fn into_diagnostic(self, rel: &str, missing: impl FnOnce() -> Diagnostic) -> Diagnostic {
        match self {
            Refused::Missing => missing(),
            Refused::Problem(d) => {
                debug_assert_eq!(d.file.as_deref(), Some(rel));
                d
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(r: Result<String, Refused>) -> Diagnostic {
        match r {
            Err(Refused::Problem(d)) => d,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_link_out_of_the_root_is_refused_without_a_word_of_its_target() {
        let outside = tempfile::tempdir().expect("temp dir");
        let secret = outside.path().join("credentials");
        std::fs::write(&secret, "aws_secret_access_key = SECRET\n").expect("write");
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join("tenants")).expect("mkdir");
        std::os::unix::fs::symlink(&secret, root.path().join("tenants/acme.toml")).expect("ln");
        let d = refused(read(root.path(), "tenants/acme.toml", Kind::TenantFile));
        let shown = format!("{d}");
        assert!(shown.contains("leads out of the repository"), "{shown}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("credentials"),
            "{shown}"
        );
        assert_eq!(d.line, None);
    }

    #[test]
    fn a_link_inside_the_root_is_followed_and_a_byte_order_mark_dropped() {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join("tenants")).expect("mkdir");
        std::fs::write(root.path().join("tenants/base.toml"), "\u{feff}a = 1\n").expect("write");
        std::os::unix::fs::symlink("base.toml", root.path().join("tenants/acme.toml")).expect("ln");
        let text = read(root.path(), "tenants/acme.toml", Kind::TenantFile).map_err(|_| ());
        assert_eq!(text, Ok("a = 1\n".to_owned()));
    }

    #[test]
    fn a_folder_a_fifo_and_an_oversize_file_are_refused_unread() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("templates");
        std::fs::create_dir_all(dir.join("x.json.j2")).expect("mkdir");
        let d = refused(read(root.path(), "templates/x.json.j2", Kind::TaskTemplate));
        assert!(d.message.contains("a folder"), "{d}");
        let fifo = std::process::Command::new("mkfifo")
            .arg(dir.join("p.json.j2"))
            .status()
            .is_ok_and(|s| s.success());
        if fifo {
            let d = refused(read(root.path(), "templates/p.json.j2", Kind::TaskTemplate));
            assert!(d.message.contains("named pipe"), "{d}");
        }
        let big = vec![b'x'; 51_201];
        std::fs::write(dir.join("app.cfn.yaml"), big).expect("write");
        let d = refused(read(
            root.path(),
            "templates/app.cfn.yaml",
            Kind::StackTemplate,
        ));
        assert!(d.message.contains("51201 bytes"), "{d}");
        assert!(d.message.contains("limit"), "{d}");
        assert!(matches!(
            read(root.path(), "templates/none.json.j2", Kind::TaskTemplate),
            Err(Refused::Missing)
        ));
    }
}
