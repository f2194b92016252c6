//! The Argo CD Application client: read, pin, unpin, annotate, and record
//! Events on an Application. Writes are the guarded JSON patches of
//! [`patch`](super::patch) with field manager `rewind`, rebuilt from a fresh
//! read and retried when someone else wrote in between.

use super::application::{Application, ApplicationRef};
use super::patch;
use crate::error::{Error, Result};
use crate::kubeclient::Connection;
use crate::kubeclient::error::{Failure, error as kube_error, failure};
use crate::kubeclient::events::{EventType, Recorder};
use crate::kubeclient::retry::{self, Attempt};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::Value;

/// The field manager of every write rewind makes to an Application.
pub const FIELD_MANAGER: &str = "rewind";
/// The field manager of `rewind serve`'s writes (its automatic pins), told
/// apart from a person's `rewind rollback` in the Application's managedFields.
pub const CONTROLLER_FIELD_MANAGER: &str = "rewind-controller";

/// Argo CD's Application resource.
pub fn application_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    ApiResource::from_gvk_with_plural(&gvk, "applications")
}

/// Reads and patches Argo CD Applications.
pub struct Applications {
    conn: Connection,
    manager: &'static str,
    resource: ApiResource,
    recorder: Recorder,
}

impl Applications {
    /// Connects with the in-cluster service account or `KUBECONFIG`.
    pub fn connect() -> Result<Applications> {
        Self::connect_as(FIELD_MANAGER)
    }

    /// [`Applications::connect`], writing as field manager `manager`.
    pub fn connect_as(manager: &'static str) -> Result<Applications> {
        let conn = Connection::open(None, None)?;
        let recorder = Recorder::new(conn.client.clone());
        Ok(Applications { conn, manager, resource: application_resource(), recorder })
    }

    fn api(&self, app: &ApplicationRef) -> Api<DynamicObject> {
        Api::namespaced_with(self.conn.client.clone(), &app.namespace, &self.resource)
    }

    fn error(&self, app: &ApplicationRef, e: kube::Error) -> Error {
        kube_error(
            e,
            format!("Application {app}"),
            &self.conn.server,
            "grant get and patch on applications.argoproj.io",
        )
    }

    async fn read(&self, app: &ApplicationRef) -> Result<Application> {
        let obj = self.api(app).get(&app.name).await.map_err(|e| self.error(app, e))?;
        Application::from_value(
            serde_json::to_value(obj).map_err(|e| Error::Config(format!("Application {app}: {e}")))?,
        )
    }

    /// What the API server serves (discovery), in `KUBE_API_VERSIONS` form.
    pub fn served_api_versions(&self) -> Result<Vec<String>> {
        self.conn.runtime.block_on(crate::kubeclient::discovery::served_api_versions(&self.conn.client)).map_err(|e| {
            kube_error(e, "API discovery", &self.conn.server, "discovery is open to every authenticated user")
        })
    }

    /// The Application as it is now.
    pub fn get(&self, app: &ApplicationRef) -> Result<Application> {
        self.conn.runtime.block_on(self.read(app))
    }

    /// Applies the patch `make` builds from the current object (`None`:
    /// nothing to do), rebuilding it after a conflict or a failed `test`.
    fn patch_with(
        &self,
        app: &ApplicationRef,
        make: impl Fn(&Application) -> Result<Option<Vec<Value>>>,
    ) -> Result<bool> {
        let params = PatchParams { field_manager: Some(self.manager.into()), ..PatchParams::default() };
        self.conn.runtime.block_on(retry::on_conflict(&format!("Application {app}"), || async {
            let current = self.read(app).await?;
            let Some(ops) = make(&current)? else { return Ok(Attempt::Done(false)) };
            let ops: json_patch::Patch =
                serde_json::from_value(Value::Array(ops)).expect("rewind's own patch ops are well-formed");
            match self.api(app).patch(&app.name, &params, &Patch::<Value>::Json(ops)).await {
                Ok(_) => Ok(Attempt::Done(true)),
                Err(e) if matches!(failure(&e), Failure::Conflict | Failure::Invalid) => Ok(Attempt::Conflict),
                Err(e) => Err(self.error(app, e)),
            }
        }))
    }

    /// Pins `revision`: sets `REWIND_ROLLBACK_TO` on the rewind source named
    /// `source` (`None`: the only one), and the `extra` entries beside it
    /// (`REWIND_ROLLBACK_FORCE`, `REWIND_ROLLBACK_REASON`). The source is found
    /// again in the object as read before each attempt, so a reordered spec
    /// cannot misdirect it.
    pub fn pin(&self, app: &ApplicationRef, source: Option<&str>, revision: u64, extra: &[(&str, &str)]) -> Result<()> {
        self.patch_with(app, |current| {
            patch::pin_with(current, &current.select_source(source)?, &revision.to_string(), extra).map(Some)
        })
        .map(|_| ())
    }

    /// Pins `revision` on `source` and sets annotation `key: value` in the
    /// same write, unless the annotation already has that value (then
    /// `false`): the annotation makes the pin once-only.
    pub fn pin_once(
        &self,
        app: &ApplicationRef,
        source: Option<&str>,
        revision: u64,
        key: &str,
        value: &str,
    ) -> Result<bool> {
        self.patch_with(app, |current| {
            if current.annotation(key) == Some(value) {
                return Ok(None);
            }
            let mut ops = patch::pin(current, &current.select_source(source)?, &revision.to_string())?;
            ops.push(patch::annotate(current, key, value));
            Ok(Some(ops))
        })
    }

    /// Removes the pin from `source`; `false` when there was none.
    pub fn clear(&self, app: &ApplicationRef, source: Option<&str>) -> Result<bool> {
        self.patch_with(app, |current| patch::clear(current, &current.select_source(source)?))
    }

    /// Sets one annotation (no-op when it already has that value).
    pub fn annotate(&self, app: &ApplicationRef, key: &str, value: &str) -> Result<()> {
        self.patch_with(app, |current| {
            Ok((current.annotation(key) != Some(value))
                .then(|| vec![patch::guard(current), patch::annotate(current, key, value)]))
        })
        .map(|_| ())
    }

    /// Records an Event on the Application (`application` as read).
    pub fn event(&self, application: &Application, kind: EventType, reason: &str, message: &str) -> Result<()> {
        let meta = &application.metadata;
        let regarding = ObjectReference {
            api_version: Some("argoproj.io/v1alpha1".into()),
            kind: Some("Application".into()),
            name: Some(meta.name.clone()),
            namespace: Some(meta.namespace.clone()),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..ObjectReference::default()
        };
        self.conn
            .runtime
            .block_on(self.recorder.publish(&regarding, kind, reason, message, None))
            .map_err(|e| self.error(&application.reference(), e))
    }
}
