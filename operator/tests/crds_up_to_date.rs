//! The committed `crds/` must equal what `crdgen` generates from the Rust types.

use std::path::PathBuf;

#[test]
fn committed_crds_match_generated() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let mut stale = Vec::new();
    let mut expected_files = Vec::new();
    for (file, crd) in sqsraft_operator::crd::all_crds() {
        expected_files.push(file.to_string());
        let generated = sqsraft_operator::crd::render_crd(&crd).expect("render CRD");
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if committed != generated {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "crds/ is out of date for {stale:?}; regenerate with \
         `cargo run -p sqsraft-operator --bin crdgen` and commit the result"
    );
    // No leftover YAML for a CRD that no longer exists.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    expected_files.sort();
    assert_eq!(
        on_disk, expected_files,
        "crds/ holds files crdgen does not generate"
    );
}

#[test]
fn queue_cluster_crd_shape() {
    let crds = sqsraft_operator::crd::all_crds();
    let (_, crd) = crds
        .iter()
        .find(|(f, _)| *f == "queueclusters.sqsraft.io.yaml")
        .expect("QueueCluster CRD");
    let v = serde_json::to_value(crd).unwrap();
    assert_eq!(v["spec"]["group"], "sqsraft.io");
    assert_eq!(v["spec"]["scope"], "Namespaced");
    assert_eq!(v["spec"]["names"]["shortNames"], serde_json::json!(["qc"]));
    let version = &v["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    assert_eq!(
        version["subresources"]["scale"]["specReplicasPath"],
        ".spec.replicas"
    );
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Ready", "Leader", "Available", "Age"]);
    // Every spec field carries a description (from the doc comments).
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    for (name, field) in spec.as_object().unwrap() {
        assert!(
            field["description"].as_str().is_some_and(|d| !d.is_empty()),
            "spec.{name} has no description"
        );
    }
}
