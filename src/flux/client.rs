//! Flux objects as rewind reads and writes them: a source's artifact, a
//! Kustomization's status, a RewindSource's status (through `/status`), the
//! ExternalArtifact it publishes (owned by the RewindSource), Events.

use super::crd::{Condition, RewindSource, RewindSourceStatus, SourceKind, set_condition};
use crate::error::{Error, Result};
use crate::kubeclient::error::{Failure, error as kube_error, failure};
use crate::kubeclient::events::{EventType, Recorder};
use crate::kubeclient::retry::{self, Attempt};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};

/// The field manager of rewind's writes.
pub const FIELD_MANAGER: &str = "rewind";

/// `source.toolkit.fluxcd.io/v1` `kind`.
pub fn source_resource(kind: SourceKind) -> ApiResource {
    let gvk = GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind.name());
    ApiResource::from_gvk_with_plural(&gvk, kind.plural())
}

/// `kustomize.toolkit.fluxcd.io/v1` Kustomization.
pub fn kustomization_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    ApiResource::from_gvk_with_plural(&gvk, "kustomizations")
}

/// A source's `status.artifact`, as Flux publishes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamArtifact {
    /// Where to fetch it.
    #[serde(default)]
    pub url: String,
    /// `<algo>:<hex>` of the file.
    #[serde(default)]
    pub digest: String,
    /// `main@sha1:<hex>`, `<tag>@sha256:<digest>`, …
    #[serde(default)]
    pub revision: String,
}

/// A Kustomization, as far as rewind reads it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Kustomization {
    /// Name and namespace.
    pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    /// Its source.
    #[serde(default)]
    pub spec: KustomizationSpec,
    /// What it last did.
    #[serde(default)]
    pub status: KustomizationStatus,
}

/// `spec` of a Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// The source it applies.
    #[serde(default)]
    pub source_ref: KustomizationSource,
}

/// `spec.sourceRef`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct KustomizationSource {
    /// `ExternalArtifact` for rewind's.
    #[serde(default)]
    pub kind: String,
    /// The source's name.
    #[serde(default)]
    pub name: String,
    /// Its namespace (default: the Kustomization's).
    pub namespace: Option<String>,
}

/// `status` of a Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// The revision last applied (and healthy, when health checks are on).
    pub last_applied_revision: Option<String>,
    /// The revision last tried.
    pub last_attempted_revision: Option<String>,
    /// `Ready`, `Healthy`, …
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl Kustomization {
    /// Its `Ready` condition.
    pub fn ready(&self) -> Option<&Condition> {
        self.status.conditions.iter().find(|c| c.type_ == "Ready")
    }

    /// `namespace/name` of the ExternalArtifact it consumes, if it consumes one.
    pub fn external_artifact(&self) -> Option<(String, String)> {
        let r = &self.spec.source_ref;
        (r.kind == "ExternalArtifact").then(|| {
            let ns = r.namespace.clone().or(self.metadata.namespace.clone()).unwrap_or_default();
            (ns, r.name.clone())
        })
    }
}

/// Reads and writes Flux objects.
#[derive(Clone)]
pub struct FluxApi {
    client: kube::Client,
    server: String,
    recorder: Recorder,
}

fn what(source: &RewindSource) -> String {
    format!("RewindSource {}/{}", source.namespace().unwrap_or_default(), source.name_any())
}

impl FluxApi {
    /// Flux objects through `client` (`server` names it in messages).
    pub fn new(client: kube::Client, server: String) -> FluxApi {
        FluxApi { recorder: Recorder::new(client.clone()), client, server }
    }

    fn error(&self, e: kube::Error, doing: String) -> Error {
        kube_error(e, doing, &self.server, "grant the verbs in manifests/flux")
    }

    /// The artifact a RewindSource's source publishes now (`None`: not yet).
    pub async fn upstream(&self, source: &RewindSource) -> Result<Option<UpstreamArtifact>> {
        let r = &source.spec.source_ref;
        let namespace = r.namespace.clone().or(source.namespace()).unwrap_or_default();
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &namespace, &source_resource(r.kind));
        let doing = format!("reading {} {namespace}/{}", r.kind.name(), r.name);
        let obj = match api.get(&r.name).await {
            Ok(obj) => obj,
            Err(e) if failure(&e) == Failure::NotFound => return Ok(None),
            Err(e) => return Err(self.error(e, doing)),
        };
        let artifact = obj.data.pointer("/status/artifact").cloned().unwrap_or(Value::Null);
        Ok(serde_json::from_value::<UpstreamArtifact>(artifact).ok().filter(|a| !a.url.is_empty()))
    }

    /// The RewindSource as it is now.
    pub async fn rewind_source(&self, namespace: &str, name: &str) -> Result<Option<RewindSource>> {
        let api: Api<RewindSource> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name).await.map_err(|e| self.error(e, format!("reading RewindSource {namespace}/{name}")))
    }

    /// Sets the RewindSource's status with `change`, on the status as read
    /// (a `resourceVersion` guard: a change that reads its own earlier
    /// decision, like the once-only rollback marker, is never made twice).
    /// `false` when `change` had nothing to change.
    pub async fn update_status(
        &self,
        namespace: &str,
        name: &str,
        change: impl Fn(&mut RewindSourceStatus) -> bool,
    ) -> Result<bool> {
        let api: Api<RewindSource> = Api::namespaced(self.client.clone(), namespace);
        retry::on_conflict(&format!("RewindSource {namespace}/{name}"), || async {
            let Some(mut current) = api
                .get_opt(name)
                .await
                .map_err(|e| self.error(e, format!("reading RewindSource {namespace}/{name}")))?
            else {
                return Ok(Attempt::Done(false));
            };
            let before = current.status.take().unwrap_or_default();
            let mut status = before.clone();
            if !change(&mut status) {
                return Ok(Attempt::Done(false));
            }
            // A merge patch removes a field only when it says null.
            let mut body = serde_json::to_value(&status).expect("a status serializes");
            if let (Value::Object(old), Value::Object(new)) =
                (serde_json::to_value(&before).unwrap_or_default(), &mut body)
            {
                for key in old.keys().filter(|k| !new.contains_key(*k)).cloned().collect::<Vec<_>>() {
                    new.insert(key, Value::Null);
                }
            }
            let body = json!({"metadata": {"resourceVersion": current.resource_version()}, "status": body});
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            match api.patch_status(name, &params, &Patch::Merge(&body)).await {
                Ok(_) => Ok(Attempt::Done(true)),
                Err(e) if failure(&e) == Failure::Conflict => Ok(Attempt::Conflict),
                Err(e) => Err(self.error(e, format!("writing the status of RewindSource {namespace}/{name}"))),
            }
        })
        .await
    }

    /// Creates or updates the ExternalArtifact of `source` (same name and
    /// namespace, owned by it, `spec.sourceRef` pointing at it) and sets its
    /// status: `artifact` when given (`None` keeps the one published), and
    /// the `Ready` condition. Writes nothing that is already so.
    pub async fn publish(&self, source: &RewindSource, artifact: Option<Value>, ready: Condition) -> Result<()> {
        let namespace = source.namespace().unwrap_or_default();
        let name = source.name_any();
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &namespace, &source_resource(SourceKind::ExternalArtifact));
        let owner = source
            .controller_owner_ref(&())
            .ok_or_else(|| Error::Config(format!("{}: has no uid yet (not read from the API server)", what(source))))?;
        let spec = json!({"sourceRef": {"apiVersion": RewindSource::api_version(&()), "kind": RewindSource::kind(&()), "name": name, "namespace": namespace}});
        let doing = format!("publishing ExternalArtifact {namespace}/{name}");
        let existing = api.get_opt(&name).await.map_err(|e| self.error(e, doing.clone()))?;
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        let status = match existing {
            None => {
                let object = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact",
                    "metadata": {"name": name, "namespace": namespace, "ownerReferences": [owner]}, "spec": spec});
                let object: DynamicObject = serde_json::from_value(object).expect("a well-formed object");
                api.create(&PostParams::default(), &object).await.map_err(|e| self.error(e, doing.clone()))?;
                Value::Null
            }
            Some(obj) => {
                if obj.data.get("spec") != Some(&spec)
                    || obj.metadata.owner_references.as_deref() != Some(std::slice::from_ref(&owner))
                {
                    let patch = json!({"spec": spec, "metadata": {"ownerReferences": [owner]}});
                    api.patch(&name, &params, &Patch::Merge(&patch)).await.map_err(|e| self.error(e, doing.clone()))?;
                }
                obj.data.get("status").cloned().unwrap_or(Value::Null)
            }
        };
        let mut conditions: Vec<Condition> = serde_json::from_value(status["conditions"].clone()).unwrap_or_default();
        let mut patch = serde_json::Map::new();
        if set_condition(&mut conditions, ready) {
            patch.insert("conditions".into(), json!(conditions));
        }
        // lastUpdateTime moves only when the artifact does.
        let same = |a: &Value, b: &Value| {
            let strip = |v: &Value| {
                let mut v = v.clone();
                if let Some(m) = v.as_object_mut() {
                    m.remove("lastUpdateTime");
                }
                v
            };
            strip(a) == strip(b)
        };
        if let Some(artifact) = artifact.filter(|a| !same(a, &status["artifact"])) {
            patch.insert("artifact".into(), artifact);
        }
        if patch.is_empty() {
            return Ok(());
        }
        api.patch_status(&name, &params, &Patch::Merge(&json!({"status": patch})))
            .await
            .map_err(|e| self.error(e, doing))?;
        Ok(())
    }

    /// What the API server serves (discovery), in `KUBE_API_VERSIONS` form.
    pub async fn served_api_versions(&self) -> Result<Vec<String>> {
        crate::kubeclient::discovery::served_api_versions(&self.client)
            .await
            .map_err(|e| self.error(e, "API discovery".into()))
    }

    /// Records an Event on the RewindSource.
    pub async fn event(&self, source: &RewindSource, kind: EventType, reason: &str, message: &str) -> Result<()> {
        let regarding = ObjectReference {
            api_version: Some(RewindSource::api_version(&()).into()),
            kind: Some(RewindSource::kind(&()).into()),
            name: Some(source.name_any()),
            namespace: source.namespace(),
            uid: source.uid(),
            ..ObjectReference::default()
        };
        self.recorder
            .publish(&regarding, kind, reason, message, None)
            .await
            .map_err(|e| self.error(e, format!("recording an Event on {}", what(source))))
    }

    /// Sets `spec.rollbackTo` (`""` clears it): for `rewind rollback --rewind-source`.
    /// With `force`, `spec.force: true` goes with it; without, `spec.force` is removed.
    pub async fn set_rollback_to(&self, namespace: &str, name: &str, value: &str, force: bool) -> Result<()> {
        let api: Api<RewindSource> = Api::namespaced(self.client.clone(), namespace);
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        let force = if force { json!(true) } else { Value::Null };
        api.patch(name, &params, &Patch::Merge(&json!({"spec": {"rollbackTo": value, "force": force}})))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, format!("RewindSource {namespace}/{name}")))
    }
}
