//! Every object the operator emits, and its CRDs, validated against the real Kubernetes
//! OpenAPI schemas with the PyPI package `kubernetes-validate` (strict: unknown fields
//! are errors).
//!
//! Runs when `SQSRAFT_PYTHON` names a Python with that package installed
//! (`pip install -r operator/tests/requirements.txt`); otherwise the tests print why
//! they are skipped and pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use sqsraft_operator::build::OperatorDefaults;

/// Kubernetes version whose schemas are used; matches the `k8s-openapi` feature.
const KUBERNETES_VERSION: &str = "1.33.0";

fn python() -> Option<PathBuf> {
    match std::env::var_os("SQSRAFT_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            sqsraft_server::prerequisite::unavailable(
                "schema validation",
                format!(
                    "SQSRAFT_PYTHON is not set; set it to a Python with \
                     `pip install -r operator/tests/requirements.txt` to validate against \
                     the Kubernetes {KUBERNETES_VERSION} schemas"
                ),
            );
            None
        }
    }
}

/// Runs kubernetes-validate on `files`; returns (success, combined output).
fn kubernetes_validate(python: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(python)
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "-k",
            KUBERNETES_VERSION,
        ])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Writes `value` as JSON (which YAML readers accept): unlike plain YAML it keeps
/// timestamps strings, as they are on the wire.
fn write_yaml(dir: &Path, name: &str, value: &serde_json::Value) -> PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

#[test]
fn emitted_objects_match_kubernetes_schemas() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for fixture in common::FIXTURES {
        let qc = common::fixture(fixture);
        for (i, object) in common::all_objects(&qc, &OperatorDefaults::default())
            .iter()
            .enumerate()
        {
            let kind = object["kind"].as_str().unwrap().to_lowercase();
            files.push(write_yaml(
                dir.path(),
                &format!("{fixture}-{i}-{kind}"),
                object,
            ));
        }
    }
    // The leader-election Lease the operator writes.
    let config = sqsraft_operator::lease::LeaseConfig {
        name: "sqsraft-operator".into(),
        namespace: "ops".into(),
        identity: "sqsraft-operator-0".into(),
        duration: std::time::Duration::from_secs(15),
        renew_every: std::time::Duration::from_secs(5),
    };
    let now = k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap();
    let lease = sqsraft_operator::lease::next_lease(
        None,
        &sqsraft_operator::lease::Decision::Create,
        &config,
        now,
    )
    .unwrap();
    let mut lease = serde_json::to_value(lease).unwrap();
    lease["apiVersion"] = "coordination.k8s.io/v1".into();
    lease["kind"] = "Lease".into();
    files.push(write_yaml(dir.path(), "lease", &lease));
    assert_eq!(files.len(), 16);
    let (ok, output) = kubernetes_validate(&python, &files);
    println!("{output}");
    assert!(
        ok,
        "kubernetes-validate rejected emitted objects:\n{output}"
    );
    // Each file was reported as valid, none skipped.
    for f in &files {
        assert!(
            output.contains(&format!("INFO {} passed", f.display())),
            "no pass line for {}:\n{output}",
            f.display()
        );
    }
}

#[test]
fn committed_crds_match_kubernetes_schemas() {
    let Some(python) = python() else { return };
    let crds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let files: Vec<PathBuf> = sqsraft_operator::crd::all_crds()
        .iter()
        .map(|(file, _)| crds.join(file))
        .collect();
    let (ok, output) = kubernetes_validate(&python, &files);
    println!("{output}");
    assert!(ok, "kubernetes-validate rejected the CRDs:\n{output}");
    for f in &files {
        assert!(
            output.contains(&format!("INFO {} passed", f.display())),
            "{output}"
        );
    }
}

/// The validator really rejects what Kubernetes would: without this, a validator that
/// accepts everything would make the tests above pass.
#[test]
fn validator_rejects_a_broken_statefulset() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let qc = common::fixture("minimal");
    let objects = common::all_objects(&qc, &OperatorDefaults::default());
    let mut sts = objects
        .into_iter()
        .find(|o| o["kind"] == "StatefulSet")
        .unwrap();
    sts["spec"]["podManagementPolicy"] = serde_json::json!(["Parallel"]);
    sts["spec"]["template"]["spec"]["containers"][0]["unknownField"] = serde_json::json!(1);
    let file = write_yaml(dir.path(), "broken", &sts);
    let (ok, output) = kubernetes_validate(&python, &[file]);
    assert!(!ok, "a broken StatefulSet passed:\n{output}");
    assert!(output.contains("podManagementPolicy"), "{output}");
}
