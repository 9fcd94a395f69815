//! An in-memory Kubernetes API server behind kube's mock service (`tower-test`): enough
//! REST (get, list with label selectors, create, server-side apply, merge and JSON
//! patch, status subresource, delete and eviction with UID preconditions, graceful pod
//! deletion; cluster-scoped objects in namespace "") for the reconciler, with a log of
//! every request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// (group/version, plural, namespace, name) → object.
type Key = (String, String, String, String);

#[derive(Default)]
pub struct Store {
    pub objects: BTreeMap<Key, Value>,
    /// (method, path) of every request, in order.
    pub log: Vec<(String, String)>,
    /// Requests answered with an error instead of being served.
    pub faults: Vec<Fault>,
    next_rv: u64,
}

/// Answers every `method` request whose path ends with `path_suffix` with an error
/// Status, as the API server does (e.g. 422 Invalid from admission).
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: String,
    pub path_suffix: String,
    pub code: u16,
    pub reason: String,
    pub message: String,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    pub store: Arc<Mutex<Store>>,
}

struct Target {
    gv: String,
    plural: String,
    ns: String,
    name: Option<String>,
    sub: Option<String>,
}

fn parse(path: &str) -> Option<Target> {
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (gv, rest) = match *seg.first()? {
        "api" => (seg.get(1)?.to_string(), &seg[2..]),
        "apis" => (format!("{}/{}", seg.get(1)?, seg.get(2)?), &seg[3..]),
        _ => return None,
    };
    // Cluster-scoped objects (StorageClasses) live in namespace "".
    if rest.first() != Some(&"namespaces") {
        return Some(Target {
            gv,
            ns: String::new(),
            plural: rest.first()?.to_string(),
            name: rest.get(1).map(|s| s.to_string()),
            sub: rest.get(2).map(|s| s.to_string()),
        });
    }
    Some(Target {
        gv,
        ns: rest.get(1)?.to_string(),
        plural: rest.get(2)?.to_string(),
        name: rest.get(3).map(|s| s.to_string()),
        sub: rest.get(4).map(|s| s.to_string()),
    })
}

fn kind_of(plural: &str) -> &'static str {
    match plural {
        "secrets" => "Secret",
        "services" => "Service",
        "pods" => "Pod",
        "persistentvolumeclaims" => "PersistentVolumeClaim",
        "statefulsets" => "StatefulSet",
        "poddisruptionbudgets" => "PodDisruptionBudget",
        "networkpolicies" => "NetworkPolicy",
        "queueclusters" => "QueueCluster",
        "queues" => "Queue",
        "events" => "Event",
        "leases" => "Lease",
        "storageclasses" => "StorageClass",
        _ => "Unknown",
    }
}

fn status_error(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// RFC 7386 JSON merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn matches_selector(obj: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    selector.split(',').filter(|s| !s.is_empty()).all(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        obj["metadata"]["labels"][k].as_str() == Some(v)
    })
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Store {
    fn key(t: &Target, name: &str) -> Key {
        (
            t.gv.clone(),
            t.plural.clone(),
            t.ns.clone(),
            name.to_string(),
        )
    }

    /// Stamps server-side metadata and turns Secret `stringData` into `data`.
    fn admit(&mut self, t: &Target, name: &str, obj: &mut Value, existing: Option<&Value>) {
        self.next_rv += 1;
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        meta["namespace"] = json!(t.ns);
        meta["resourceVersion"] = json!(self.next_rv.to_string());
        let uid = existing
            .and_then(|e| e["metadata"]["uid"].as_str().map(String::from))
            .unwrap_or_else(|| format!("uid-{}-{name}", t.plural));
        meta["uid"] = json!(uid);
        // metadata.generation counts spec changes, as the API server does.
        let generation = match existing {
            None => 1,
            Some(e) => {
                let g = e["metadata"]["generation"].as_i64().unwrap_or(1);
                if e["spec"] != obj["spec"] { g + 1 } else { g }
            }
        };
        obj["metadata"]["generation"] = json!(generation);
        obj["apiVersion"] = json!(t.gv);
        obj["kind"] = json!(kind_of(&t.plural));
        if t.plural == "secrets"
            && let Some(sd) = obj.as_object_mut().and_then(|o| o.remove("stringData"))
        {
            for (k, v) in sd.as_object().cloned().unwrap_or_default() {
                let bytes = k8s_openapi::ByteString(v.as_str().unwrap_or("").as_bytes().to_vec());
                obj["data"][k] = serde_json::to_value(bytes).unwrap();
            }
        }
    }

    pub fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> (u16, Value) {
        self.log.push((method.to_string(), path.to_string()));
        if let Some(f) = self
            .faults
            .iter()
            .find(|f| f.method == method && path.ends_with(&f.path_suffix))
        {
            return status_error(f.code, &f.reason, &f.message);
        }
        let Some(t) = parse(path) else {
            return status_error(404, "NotFound", &format!("no route {path}"));
        };
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        };
        match (method, &t.name) {
            ("GET", None) => {
                let selector = query_param(query, "labelSelector");
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|((gv, p, ns, _), o)| {
                        *gv == t.gv
                            && *p == t.plural
                            && *ns == t.ns
                            && matches_selector(o, selector.as_deref())
                    })
                    .map(|(_, o)| o.clone())
                    .collect();
                (
                    200,
                    json!({"apiVersion": t.gv, "kind": format!("{}List", kind_of(&t.plural)),
                             "metadata": {"resourceVersion": self.next_rv.to_string()}, "items": items}),
                )
            }
            ("GET", Some(name)) => match self.objects.get(&Self::key(&t, name)) {
                Some(o) => (200, o.clone()),
                None => status_error(404, "NotFound", &format!("{} {name:?} not found", t.plural)),
            },
            ("POST", None) => {
                let name = body["metadata"]["name"].as_str().unwrap_or("").to_string();
                let key = Self::key(&t, &name);
                if self.objects.contains_key(&key) {
                    return status_error(409, "AlreadyExists", &format!("{name:?} already exists"));
                }
                let mut obj = body;
                self.admit(&t, &name, &mut obj, None);
                self.objects.insert(key, obj.clone());
                (201, obj)
            }
            ("PATCH", Some(name)) => {
                let key = Self::key(&t, name);
                let existing = self.objects.get(&key).cloned();
                let apply = content_type.starts_with("application/apply-patch");
                if t.sub.as_deref() == Some("status") {
                    let Some(mut obj) = existing.clone() else {
                        return status_error(404, "NotFound", "no such object");
                    };
                    if apply {
                        obj["status"] = body["status"].clone();
                    } else {
                        merge(&mut obj, &json!({"status": body["status"]}));
                    }
                    self.admit(&t, name, &mut obj, existing.as_ref());
                    self.objects.insert(key, obj.clone());
                    return (200, obj);
                }
                if content_type.starts_with("application/json-patch") {
                    // RFC 6902 JSON patch; a failing `test` operation is a 422 (as the
                    // API server answers when a finalizer list changed meanwhile).
                    let Some(mut obj) = existing.clone() else {
                        return status_error(404, "NotFound", "no such object");
                    };
                    let ops: json_patch::Patch = match serde_json::from_value(body) {
                        Ok(ops) => ops,
                        Err(e) => return status_error(400, "BadRequest", &e.to_string()),
                    };
                    // The API server's JSON patch reads an absent list as null.
                    if obj["metadata"]["finalizers"].is_null() {
                        obj["metadata"]["finalizers"] = Value::Null;
                    }
                    if let Err(e) = json_patch::patch(&mut obj, &ops) {
                        return status_error(422, "Invalid", &e.to_string());
                    }
                    self.admit(&t, name, &mut obj, existing.as_ref());
                    self.objects.insert(key, obj.clone());
                    return (200, obj);
                }
                let mut obj = match (existing.clone(), apply) {
                    (Some(mut e), _) => {
                        // Server-side apply approximated: the applied fields win.
                        merge(&mut e, &body);
                        e
                    }
                    (None, true) => body,
                    (None, false) => return status_error(404, "NotFound", "no such object"),
                };
                self.admit(&t, name, &mut obj, existing.as_ref());
                self.objects.insert(key, obj.clone());
                (200, obj)
            }
            ("PUT", Some(name)) => {
                let key = Self::key(&t, name);
                let Some(existing) = self.objects.get(&key).cloned() else {
                    return status_error(404, "NotFound", "no such object");
                };
                // Optimistic concurrency: a stale resourceVersion is a conflict.
                let given = body["metadata"]["resourceVersion"].as_str();
                if given.is_some() && given != existing["metadata"]["resourceVersion"].as_str() {
                    return status_error(409, "Conflict", "the object has been modified");
                }
                let mut obj = body;
                self.admit(&t, name, &mut obj, Some(&existing));
                self.objects.insert(key, obj.clone());
                (200, obj)
            }
            ("POST", Some(name)) if t.sub.as_deref() == Some("eviction") => {
                match self.delete(&t, name, &body["deleteOptions"]) {
                    (200, _) => (
                        201,
                        json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201}),
                    ),
                    failed => failed,
                }
            }
            ("DELETE", Some(name)) => self.delete(&t, name, &body),
            _ => status_error(405, "MethodNotAllowed", method),
        }
    }

    /// A delete with the API server's UID precondition (409 when it does not match).
    /// Pods are deleted gracefully: they get a `deletionTimestamp` and stay until the
    /// test's kubelet removes them (their preStop hook, in which they still answer).
    fn delete(&mut self, t: &Target, name: &str, options: &Value) -> (u16, Value) {
        let key = Self::key(t, name);
        let Some(existing) = self.objects.get(&key).cloned() else {
            return status_error(404, "NotFound", "no such object");
        };
        if let Some(uid) = options["preconditions"]["uid"].as_str()
            && existing["metadata"]["uid"].as_str() != Some(uid)
        {
            return status_error(409, "Conflict", "Precondition failed: UID in precondition");
        }
        if t.plural == "pods" {
            let mut pod = existing;
            if pod["metadata"]["deletionTimestamp"].is_null() {
                pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                self.objects.insert(key, pod.clone());
            }
            return (200, pod);
        }
        self.objects.remove(&key);
        (200, existing)
    }

    pub fn get(&self, gv: &str, plural: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(gv.into(), plural.into(), ns.into(), name.into()))
    }

    pub fn put(&mut self, gv: &str, plural: &str, ns: &str, name: &str, obj: Value) {
        self.objects
            .insert((gv.into(), plural.into(), ns.into(), name.into()), obj);
    }

    pub fn remove(&mut self, gv: &str, plural: &str, ns: &str, name: &str) {
        self.objects
            .remove(&(gv.into(), plural.into(), ns.into(), name.into()));
    }

    pub fn list(&self, gv: &str, plural: &str, ns: &str) -> Vec<(String, Value)> {
        self.objects
            .iter()
            .filter(|((g, p, n, _), _)| g == gv && p == plural && n == ns)
            .map(|((_, _, _, name), o)| (name.clone(), o.clone()))
            .collect()
    }

    /// Writes (not reads) of the log: POST, PATCH, PUT, DELETE.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.log
            .iter()
            .filter(|(m, _)| m != "GET")
            .cloned()
            .collect()
    }
}

impl FakeApi {
    /// A kube Client whose requests this fake answers (through `tower-test`'s mock).
    pub fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let store = self.store.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                if parts.uri.query().is_some_and(|q| q.contains("watch=true")) {
                    // A watch that sees no events: hold the response open.
                    store
                        .lock()
                        .unwrap()
                        .log
                        .push(("WATCH".into(), parts.uri.path().to_string()));
                    tokio::spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                        send.send_response(Response::new(Body::empty()));
                    });
                    continue;
                }
                let bytes = body.collect_bytes().await.unwrap_or_default();
                let content_type = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let (code, value) = store.lock().unwrap().handle(
                    parts.method.as_str(),
                    parts.uri.path(),
                    parts.uri.query(),
                    &content_type,
                    &bytes,
                );
                let response = Response::builder()
                    .status(code)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Body::from(serde_json::to_vec(&value).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        kube::Client::new(service, "default")
    }
}
