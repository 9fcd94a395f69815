//! A pod's volumes as host directories: Secret, ConfigMap, downwardAPI and projected
//! volumes (ServiceAccount token by TokenRequest, refreshed at 80% of its lifetime)
//! written with kubelet's atomic layout and re-synced while the pod runs; emptyDir as a
//! plain directory; a PVC as the directory of the PersistentVolume bound to it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, ServiceAccount, Volume};
use kube::Api;
use kube::api::PostParams;

use super::Shared;
use super::atomic_dir::{self, Files};
use super::env::{Objects, PodRuntime, field_value};

/// A token kubelet-style: requested once, re-requested when 80% of its life passed.
struct Token {
    value: String,
    refresh_at: Instant,
}

/// The materialized volumes of one pod.
pub struct PodVolumes {
    base: PathBuf,
    tokens: HashMap<String, Token>,
}

/// Adds the keys of a Secret or ConfigMap (`what`, e.g. "secret ns/name") to a volume's
/// files: all of them, or the listed `items` under their paths. A missing object is
/// skipped when `optional`, and fails the mount otherwise.
fn add_keys(
    files: &mut Files,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: Option<&Vec<KeyToPath>>,
    mode: u32,
    optional: Option<bool>,
    volume: &str,
    what: &str,
) -> Result<()> {
    let Some(data) = data else {
        if optional == Some(true) {
            return Ok(());
        }
        bail!("volume {volume}: {what} not found");
    };
    match items {
        Some(items) => {
            for item in items {
                let Some(content) = data.get(&item.key) else {
                    bail!("key {} not found in {what}", item.key);
                };
                let mode = item.mode.map(|m| m as u32).unwrap_or(mode);
                files.insert(item.path.clone(), (content.clone(), mode));
            }
        }
        None => {
            for (key, content) in data {
                files.insert(key, (content, mode));
            }
        }
    }
    Ok(())
}

fn downward_files(
    files: &mut Files,
    pod: &Pod,
    rt: &PodRuntime,
    items: &[DownwardAPIVolumeFile],
    mode: u32,
) -> Result<()> {
    for item in items {
        let Some(field) = &item.field_ref else {
            bail!(
                "downwardAPI {}: only fieldRef is supported by the pod runner",
                item.path
            );
        };
        let value = field_value(pod, rt, field)?;
        let mode = item.mode.map(|m| m as u32).unwrap_or(mode);
        files.insert(item.path.clone(), (value.into_bytes(), mode));
    }
    Ok(())
}

impl PodVolumes {
    pub fn new(base: PathBuf) -> Self {
        Self {
            base,
            tokens: HashMap::new(),
        }
    }

    fn secret_data(shared: &Shared, ns: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let secret = shared.secret(ns, name)?;
        // `stringData` is write-only: the API server folds it into `data`.
        Some(
            secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect(),
        )
    }

    fn config_map_data(shared: &Shared, ns: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let cm = shared.config_map(ns, name)?;
        let mut data: BTreeMap<String, Vec<u8>> = cm
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        for (k, v) in cm.binary_data.unwrap_or_default() {
            data.insert(k, v.0);
        }
        Some(data)
    }

    async fn token(
        &mut self,
        shared: &Shared,
        pod: &Pod,
        key: String,
        audience: Option<&str>,
        expiration: Option<i64>,
    ) -> Result<String> {
        if let Some(t) = self.tokens.get(&key)
            && Instant::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let sa = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into());
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: audience.map(|a| vec![a.to_owned()]).unwrap_or_default(),
                expiration_seconds: Some(expiration.unwrap_or(3600)),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                }),
            },
            ..TokenRequest::default()
        };
        let answer = Api::<ServiceAccount>::namespaced(shared.client.clone(), ns)
            .create_token_request(&sa, &PostParams::default(), &request)
            .await
            .with_context(|| format!("TokenRequest for serviceaccount {ns}/{sa}"))?;
        let status = answer.status.context("TokenRequest without status")?;
        let left = status.expiration_timestamp.0.as_second() - now().as_second();
        let ttl = Duration::from_secs(left.max(60) as u64);
        self.tokens.insert(
            key,
            Token {
                value: status.token.clone(),
                refresh_at: Instant::now() + ttl.mul_f64(0.8),
            },
        );
        Ok(status.token)
    }

    /// Writes every volume's current content; returns volume name → host directory.
    /// Fails (and the pod waits, as with kubelet's FailedMount) while a required
    /// object is missing or a claim is not bound.
    pub async fn sync(
        &mut self,
        shared: &Shared,
        pod: &Pod,
        rt: &PodRuntime,
    ) -> Result<BTreeMap<String, PathBuf>> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let volumes: &[Volume] = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_deref())
            .unwrap_or_default();
        let mut paths = BTreeMap::new();
        for vol in volumes {
            let dir = self.base.join(&vol.name);
            let mut files = Files::new();
            if let Some(s) = &vol.secret {
                let name = s.secret_name.as_deref().unwrap_or_default();
                add_keys(
                    &mut files,
                    Self::secret_data(shared, ns, name),
                    s.items.as_ref(),
                    s.default_mode.unwrap_or(0o644) as u32,
                    s.optional,
                    &vol.name,
                    &format!("secret {ns}/{name}"),
                )?;
            } else if let Some(c) = &vol.config_map {
                add_keys(
                    &mut files,
                    Self::config_map_data(shared, ns, &c.name),
                    c.items.as_ref(),
                    c.default_mode.unwrap_or(0o644) as u32,
                    c.optional,
                    &vol.name,
                    &format!("configMap {ns}/{}", c.name),
                )?;
            } else if let Some(d) = &vol.downward_api {
                let mode = d.default_mode.unwrap_or(0o644) as u32;
                downward_files(
                    &mut files,
                    pod,
                    rt,
                    d.items.as_deref().unwrap_or_default(),
                    mode,
                )?;
            } else if let Some(p) = &vol.projected {
                let mode = p.default_mode.unwrap_or(0o644) as u32;
                for (i, source) in p.sources.as_deref().unwrap_or_default().iter().enumerate() {
                    if let Some(s) = &source.secret {
                        add_keys(
                            &mut files,
                            Self::secret_data(shared, ns, &s.name),
                            s.items.as_ref(),
                            mode,
                            s.optional,
                            &vol.name,
                            &format!("secret {ns}/{}", s.name),
                        )?;
                    } else if let Some(c) = &source.config_map {
                        add_keys(
                            &mut files,
                            Self::config_map_data(shared, ns, &c.name),
                            c.items.as_ref(),
                            mode,
                            c.optional,
                            &vol.name,
                            &format!("configMap {ns}/{}", c.name),
                        )?;
                    } else if let Some(d) = &source.downward_api {
                        downward_files(
                            &mut files,
                            pod,
                            rt,
                            d.items.as_deref().unwrap_or_default(),
                            mode,
                        )?;
                    } else if let Some(t) = &source.service_account_token {
                        let key = format!("{}/{i}", vol.name);
                        let token = self
                            .token(
                                shared,
                                pod,
                                key,
                                t.audience.as_deref(),
                                t.expiration_seconds,
                            )
                            .await?;
                        files.insert(t.path.clone(), (token.into_bytes(), mode));
                    } else {
                        bail!(
                            "volume {}: projection source not supported by the pod runner",
                            vol.name
                        );
                    }
                }
            } else if vol.empty_dir.is_some() {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("create {}", dir.display()))?;
                paths.insert(vol.name.clone(), dir);
                continue;
            } else if let Some(claim) = &vol.persistent_volume_claim {
                let path = shared
                    .claim_directory(ns, &claim.claim_name)
                    .with_context(|| {
                        format!(
                            "volume {}: claim {ns}/{} is not bound yet",
                            vol.name, claim.claim_name
                        )
                    })?;
                paths.insert(vol.name.clone(), path);
                continue;
            } else {
                bail!(
                    "volume {}: this volume type is not supported by the pod runner",
                    vol.name
                );
            }
            atomic_dir::write(&dir, &files)
                .with_context(|| format!("write volume {}", vol.name))?;
            paths.insert(vol.name.clone(), dir);
        }
        Ok(paths)
    }
}

/// Now, as the API's timestamp type.
pub fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}
