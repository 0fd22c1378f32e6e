//! The release and its consumers agree: the CircleCI example's pinned stamp, docs/ci.md, the
//! README and Cargo.toml name the same version, the archive names the release script writes
//! are the ones the example downloads, and the example's checksum line is one `sha256sum`
//! checks.

use std::process::Command;

use crate::support::repo_root;

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// `version`, `target`, `sha256` defaults of the example's `install-stamp` command.
fn pinned() -> (String, String, String) {
    let config: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read("examples/circleci/config.yml")).expect("YAML");
    let params = &config["commands"]["install-stamp"]["parameters"];
    let get = |k: &str| {
        params[k]["default"]
            .as_str()
            .unwrap_or_else(|| panic!("install-stamp has no default `{k}`"))
            .to_owned()
    };
    (get("version"), get("target"), get("sha256"))
}

#[test]
fn the_circleci_example_pins_this_version_everywhere_it_is_documented() {
    let (version, target, sha) = pinned();
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "examples/circleci/config.yml pins another stamp than Cargo.toml's version"
    );
    let archive = format!("stamp-{version}-{target}.tar.gz");
    assert!(
        sha.len() == 64
            && sha
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            || sha.starts_with("REPLACE-") && sha.contains(&archive),
        "the pinned sha256 is neither 64 lowercase hex digits nor the placeholder naming {archive}: {sha}"
    );
    let docs = read("docs/ci.md");
    let (_, pin) = docs
        .split_once("<!-- pinned stamp release: begin -->")
        .expect("docs/ci.md has the pinned release table");
    let (pin, _) = pin
        .split_once("<!-- pinned stamp release: end -->")
        .expect("end marker");
    for needle in [
        format!("`{version}`"),
        format!("`{target}`"),
        format!("stamp-{version}-sha256sums.txt"),
    ] {
        assert!(
            pin.contains(&needle),
            "docs/ci.md's pinned table lacks {needle}:\n{pin}"
        );
    }
    let readme = read("README.md");
    assert!(
        readme.contains(&archive),
        "README's Installing stamp does not name {archive}"
    );
}

#[test]
fn the_example_downloads_the_archive_the_release_script_writes() {
    let config = read("examples/circleci/config.yml");
    assert!(
        config
            .contains("archive=\"stamp-<< parameters.version >>-<< parameters.target >>.tar.gz\"")
    );
    assert!(config.contains("/v<< parameters.version >>/$archive"));
    let script = read("scripts/release-build");
    assert!(script.contains("name=\"stamp-$version-$target\""));
    assert!(script.contains("\"dist/$name.tar.gz\""));
    assert!(script.contains("> \"stamp-$version-sha256sums.txt\""));
    let workflow = read(".github/workflows/release.yml");
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        assert!(
            workflow.contains(target),
            "release.yml does not build {target}"
        );
    }
}

#[test]
fn the_examples_checksum_line_is_one_sha256sum_checks() {
    let (version, target, _) = pinned();
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = format!("stamp-{version}-{target}.tar.gz");
    std::fs::write(dir.path().join(&archive), b"not really an archive").expect("write");
    let sum = Command::new("sha256sum")
        .current_dir(dir.path())
        .arg(&archive)
        .output()
        .expect("sha256sum (coreutils) is on every Linux CI image");
    let real = String::from_utf8_lossy(&sum.stdout);
    let real = real
        .split_whitespace()
        .next()
        .expect("a checksum")
        .to_owned();
    // The example's own check, as it runs in the job.
    let check = |sha: &str| {
        Command::new("bash")
            .current_dir(dir.path())
            .arg("-c")
            .arg(format!(
                "echo \"{sha}  {archive}\" | sha256sum --check --strict"
            ))
            .output()
            .expect("bash")
            .status
            .success()
    };
    assert!(
        check(&real),
        "the example's checksum line does not verify a good archive"
    );
    let mut bad = real.clone();
    bad.replace_range(63.., if real.ends_with('0') { "1" } else { "0" });
    assert!(
        !check(&bad),
        "the example's checksum line accepts a wrong checksum"
    );
    let config = read("examples/circleci/config.yml");
    assert!(config.contains("echo \"$sha  $archive\" | sha256sum --check --strict"));
}
