//! One bad object never stops the others: every field the generated CRD schemas allow
//! to be `null` must deserialize into the Rust type when it is `null`. A field that is
//! `nullable` in the schema but required in Rust lets the API server store an object
//! the operator cannot read, which fails the whole watch and stops every object.
//!
//! The test walks the committed CRDs' schemas, builds the smallest object each schema
//! accepts (required fields only), sets one nullable field to `null` at a time and
//! deserializes the object as the operator does.

use serde_json::{Map, Value, json};
use sqsraft_operator::crd::{Queue, QueueCluster, all_crds};

/// The smallest value `schema` accepts: objects with their required properties only.
fn minimal(schema: &Value) -> Value {
    if let Some(default) = schema.get("default") {
        return default.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if schema["x-kubernetes-int-or-string"] == true {
        return json!("1");
    }
    match schema["type"].as_str() {
        Some("string") => json!("a"),
        Some("integer") | Some("number") => {
            json!(schema["minimum"].as_f64().unwrap_or(1.0).max(1.0) as i64)
        }
        Some("boolean") => json!(false),
        Some("array") => json!([]),
        _ => {
            let mut out = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                out.insert(name.into(), minimal(&schema["properties"][name]));
            }
            Value::Object(out)
        }
    }
}

/// Every object that `schema` accepts with exactly one nullable field (at any depth,
/// inside arrays too) set to `null`, with that field's JSON path.
fn with_one_null(schema: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (name, sub) in props {
        let here = format!("{path}.{name}");
        let place = |value: Value, out: &mut Vec<(String, Value)>, at: String| {
            let mut obj = minimal(schema);
            if !obj.is_object() {
                obj = json!({});
            }
            obj[name.as_str()] = value;
            out.push((at, obj));
        };
        if sub["nullable"] == true {
            place(Value::Null, out, here.clone());
        }
        // Nested objects: the parent holds the nested variant.
        let mut nested = Vec::new();
        with_one_null(sub, &here, &mut nested);
        for (at, value) in nested {
            place(value, out, at);
        }
        // Arrays of objects: one element holding the variant.
        let mut items = Vec::new();
        with_one_null(&sub["items"], &format!("{here}[]"), &mut items);
        for (at, value) in items {
            place(json!([value]), out, at);
        }
    }
}

#[test]
fn every_nullable_field_deserializes_when_null() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (file, crd) in all_crds() {
        let crd = serde_json::to_value(&crd).unwrap();
        let version = &crd["spec"]["versions"][0];
        let schema = &version["schema"]["openAPIV3Schema"];
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap().to_string();
        let mut variants = Vec::new();
        with_one_null(&schema["properties"]["spec"], ".spec", &mut variants);
        for (path, spec) in variants {
            let object = json!({
                "apiVersion": format!("sqsraft.io/{}", version["name"].as_str().unwrap()),
                "kind": kind,
                "metadata": {"name": "a", "namespace": "b"},
                "spec": spec,
            });
            let result = match kind.as_str() {
                "QueueCluster" => serde_json::from_value::<QueueCluster>(object).map(drop),
                "Queue" => serde_json::from_value::<Queue>(object).map(drop),
                other => panic!("{file}: unknown kind {other}"),
            };
            checked += 1;
            if let Err(e) = result {
                failures.push(format!("{kind}{path}: {e}"));
            }
        }
    }
    assert!(checked > 20, "only {checked} nullable fields found");
    assert!(
        failures.is_empty(),
        "nullable in the CRD, but the operator cannot read null:\n{}",
        failures.join("\n")
    );
}

/// The API server refuses an explicit `null` that an `enum` lists (even on a `nullable`
/// field), so no enum of the CRDs may list it: `nullable` admits the `null`.
#[test]
fn no_enum_lists_null() {
    fn walk(node: &Value, path: &str, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if map
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.contains(&Value::Null))
                {
                    out.push(path.to_string());
                }
                for (k, v) in map {
                    walk(v, &format!("{path}.{k}"), out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, path, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for (file, crd) in all_crds() {
        walk(&serde_json::to_value(&crd).unwrap(), file, &mut found);
    }
    assert!(found.is_empty(), "enums listing null: {found:?}");
}
