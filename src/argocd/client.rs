//! The Argo CD Application client: read, pin, unpin, annotate, and record
//! Events on an Application. Patches are JSON patches with field manager
//! `rewind`, guarded by a `resourceVersion` test and retried when someone
//! else wrote in between.

use super::application::{
    ApplicationRef, annotation, annotation_op, clear_patch_at, guard, pin_patch_at, select_source,
};
use crate::error::{Error, Result};
use crate::kubeclient::Connection;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::Value;

const MAX_ATTEMPTS: usize = 5;
/// The field manager of every write rewind makes to an Application.
pub const FIELD_MANAGER: &str = "rewind";

/// Argo CD's Application resource.
pub fn application_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    ApiResource::from_gvk_with_plural(&gvk, "applications")
}

/// Normal or Warning, as Kubernetes Events are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Someone should look.
    Warning,
}

/// Reads and patches Argo CD Applications.
pub struct Applications {
    conn: Connection,
    resource: ApiResource,
}

impl Applications {
    /// Connects with the in-cluster service account or `KUBECONFIG`.
    pub fn connect() -> Result<Applications> {
        Ok(Applications { conn: Connection::open(None, None)?, resource: application_resource() })
    }

    fn api(&self, app: &ApplicationRef) -> Api<DynamicObject> {
        Api::namespaced_with(self.conn.client.clone(), &app.namespace, &self.resource)
    }

    fn error(&self, app: &ApplicationRef, e: kube::Error) -> Error {
        match e {
            kube::Error::Api(s) if s.code == 404 => {
                Error::Config(format!("Application {app} not found: {}", s.message))
            }
            kube::Error::Api(s) if s.code == 403 => Error::Config(format!(
                "Application {app}: forbidden: {}; grant get and patch on applications.argoproj.io",
                s.message
            )),
            kube::Error::Api(s) => Error::Config(format!("Application {app}: {} ({} {})", s.message, s.code, s.reason)),
            other => Error::Config(format!(
                "Application {app}: cannot reach the Kubernetes API at {} ({other})",
                self.conn.server
            )),
        }
    }

    /// The Application as JSON.
    pub fn get(&self, app: &ApplicationRef) -> Result<Value> {
        let obj = self.conn.runtime.block_on(self.api(app).get(&app.name)).map_err(|e| self.error(app, e))?;
        serde_json::to_value(obj).map_err(|e| Error::Config(format!("Application {app}: {e}")))
    }

    /// Applies the patch `make` builds from the current object, retrying
    /// when the object changed in between (the `test` op fails).
    fn patch_with(&self, app: &ApplicationRef, make: impl Fn(&Value) -> Result<Option<Vec<Value>>>) -> Result<bool> {
        for _ in 0..MAX_ATTEMPTS {
            let current = self.get(app)?;
            let Some(ops) = make(&current)? else { return Ok(false) };
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            let ops: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                .map_err(|e| Error::Config(format!("internal: bad JSON patch: {e}")))?;
            let body = Patch::<Value>::Json(ops);
            match self.conn.runtime.block_on(self.api(app).patch(&app.name, &params, &body)) {
                Ok(_) => return Ok(true),
                // A failed `test` (someone else wrote) or a conflict: read again.
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 422 => continue,
                Err(e) => return Err(self.error(app, e)),
            }
        }
        Err(Error::Config(format!("Application {app} kept changing while being patched; try again")))
    }

    /// Pins `revision`: sets `REWIND_ROLLBACK_TO` on the rewind source named
    /// `source` (`None`: the only one). The source is found again in the
    /// object as read before each attempt, so a reordered spec cannot misdirect it.
    pub fn pin(&self, app: &ApplicationRef, source: Option<&str>, revision: u64) -> Result<()> {
        self.patch_with(app, |current| {
            pin_patch_at(current, &select_source(current, source)?.plugin_path(), &revision.to_string()).map(Some)
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
            if annotation(current, key) == Some(value) {
                return Ok(None);
            }
            let mut ops = pin_patch_at(current, &select_source(current, source)?.plugin_path(), &revision.to_string())?;
            ops.push(annotation_op(current, key, value));
            Ok(Some(ops))
        })
    }

    /// Removes the pin from `source`; `false` when there was none.
    pub fn clear(&self, app: &ApplicationRef, source: Option<&str>) -> Result<bool> {
        self.patch_with(app, |current| clear_patch_at(current, &select_source(current, source)?.plugin_path()))
    }

    /// Sets one annotation (no-op when it already has that value).
    pub fn annotate(&self, app: &ApplicationRef, key: &str, value: &str) -> Result<()> {
        self.patch_with(app, |current| {
            Ok((annotation(current, key) != Some(value))
                .then(|| vec![guard(current), annotation_op(current, key, value)]))
        })
        .map(|_| ())
    }

    /// Records an Event on the Application (`application` as read).
    pub fn event(&self, application: &Value, kind: EventType, reason: &str, message: &str) -> Result<()> {
        let text = |p: &str| application.pointer(p).and_then(Value::as_str).map(String::from);
        let app = ApplicationRef {
            namespace: text("/metadata/namespace").unwrap_or_default(),
            name: text("/metadata/name").unwrap_or_default(),
        };
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", app.name)),
                namespace: Some(app.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("argoproj.io/v1alpha1".into()),
                kind: Some("Application".into()),
                name: Some(app.name.clone()),
                namespace: Some(app.namespace.clone()),
                uid: text("/metadata/uid"),
                resource_version: text("/metadata/resourceVersion"),
                ..ObjectReference::default()
            },
            reason: Some(reason.into()),
            // Event messages are capped at 1 KiB by convention (kubectl truncates).
            message: Some(message.chars().take(1024).collect()),
            type_: Some(match kind {
                EventType::Normal => "Normal".into(),
                EventType::Warning => "Warning".into(),
            }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            source: Some(EventSource { component: Some("rewind".into()), host: None }),
            reporting_component: Some("rewind".into()),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.conn.client.clone(), &app.namespace);
        self.conn
            .runtime
            .block_on(events.create(&PostParams::default(), &event))
            .map_err(|e| self.error(&app, e))
            .map(|_| ())
    }
}
