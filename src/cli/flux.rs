//! The Flux commands: pin and unpin a RewindSource (`rollback
//! --rewind-source`), report on it (`status --rewind-source`), and push a
//! release as a Flux OCI artifact (`push`).

use super::args::{PushArgs, RollbackArgs};
use super::commands::{Globals, dry_run, revision_of, rollback_request};
use super::report::source_status_report;
use crate::error::{Error, Result};
use crate::flux::artifact::pack;
use crate::flux::client::FluxApi;
use crate::flux::crd::RewindSource;
use crate::flux::oci::{Push, push as push_artifact};
use crate::kubeclient::Connection;
use crate::release::AppKey;
use crate::release::{SourceInfo, Trigger};
use crate::rollback::{Target, plan};

/// `NAMESPACE/NAME` of a RewindSource.
fn parse_ref(text: &str) -> Result<(String, String)> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(Error::Config(format!("--rewind-source {text:?}: write NAMESPACE/NAME, e.g. flux-system/guestbook"))),
    }
}

/// The API and the RewindSource as it is now.
fn connect(namespace: &str, name: &str) -> Result<(Connection, FluxApi, RewindSource)> {
    let conn = Connection::open(None, None)?;
    let api = FluxApi::new(conn.client.clone(), conn.server.clone());
    let source = conn.runtime.block_on(api.rewind_source(namespace, name))?.ok_or_else(|| {
        Error::Config(format!(
            "RewindSource {namespace}/{name} not found at {}; check the namespace and name (kubectl get rewindsources -A)",
            conn.server
        ))
    })?;
    Ok((conn, api, source))
}

/// `rewind rollback --rewind-source NS/NAME (--to TARGET [--dry-run] | --clear)`.
pub fn rollback(g: &Globals, a: &RollbackArgs, rewind_source: &str) -> Result<Vec<u8>> {
    let (namespace, name) = parse_ref(rewind_source)?;
    if a.clear {
        return clear(&namespace, &name);
    }
    let key = AppKey::new(&format!("{namespace}_{name}"))?;
    if let Some(app) = a.app.as_deref().filter(|app| *app != key.as_str()) {
        return Err(Error::Config(format!(
            "{app} is not the app key of RewindSource {namespace}/{name}: rewind serve records it under {key} (leave APP out)"
        )));
    }
    let target: Target = a.to.as_deref().unwrap_or_default().parse()?;
    let store = g.open_store()?;
    let history = g.history(store.as_ref());
    let history_max = crate::pipeline::history_max(g.history_max, None, &crate::context::AppConfig::default())?;
    let request = rollback_request(g, a, target, SourceInfo::default(), history_max, Trigger::RewindSource)?;
    if a.dry_run {
        return dry_run(&history, &key, &request);
    }
    // The same checks rewind serve will run, before anything is written.
    let plan = plan(&history, &key, &request)?;
    if let Some(refused) = plan.refused(&key) {
        return Err(refused);
    }
    let revision = plan.target.meta.revision;
    let (conn, api, _) = connect(&namespace, &name)?;
    conn.runtime.block_on(api.set_rollback_to(&namespace, &name, &revision.to_string(), a.force))?;
    eprintln!(
        "set spec.rollbackTo: \"{revision}\" on RewindSource {namespace}/{name}; rewind serve publishes release {revision}'s artifact again, as a new revision Flux applies. \
         If a Flux Kustomization applies this RewindSource from Git, commit the same change there, or Flux puts the spec back"
    );
    Ok(Vec::new())
}

/// Clears `spec.rollbackTo` and an automatic rollback in the status.
fn clear(namespace: &str, name: &str) -> Result<Vec<u8>> {
    let (conn, api, source) = connect(namespace, name)?;
    let mut cleared = Vec::new();
    if let Some(target) = source.spec.rollback_target() {
        conn.runtime.block_on(api.set_rollback_to(namespace, name, "", false))?;
        cleared.push(format!("spec.rollbackTo {target}"));
    }
    let removed = conn.runtime.block_on(api.update_status(namespace, name, |s| s.auto_rollback.take().is_some()))?;
    if removed {
        cleared.push("the automatic rollback".to_string());
    }
    if cleared.is_empty() {
        eprintln!("RewindSource {namespace}/{name} was not pinned; nothing to do");
    } else {
        eprintln!(
            "removed {} from RewindSource {namespace}/{name}; rewind serve follows the source's head again",
            cleared.join(" and ")
        );
    }
    Ok(Vec::new())
}

/// `rewind status --rewind-source NS/NAME`.
pub fn status(g: &Globals, rewind_source: &str) -> Result<Vec<u8>> {
    let (namespace, name) = parse_ref(rewind_source)?;
    let (_conn, _api, source) = connect(&namespace, &name)?;
    let key = AppKey::new(&format!("{namespace}_{name}"))?;
    let metas = g.open_store()?.list(&key)?;
    Ok(source_status_report(&source, &key, &metas).into_bytes())
}

/// `rewind push oci://HOST/REPO:TAG --app APP …`: prints the manifest digest.
pub fn push(g: &Globals, a: PushArgs) -> Result<Vec<u8>> {
    let app = AppKey::new(&a.app)?;
    let store = g.open_store()?;
    let history = g.history(store.as_ref());
    let revision = revision_of(&history, &app, &a.release)?;
    let release = history.get(&app, revision)?;
    let artifact = pack(&release.manifest);
    let pushed = push_artifact(&Push {
        url: &a.url,
        artifact: &artifact,
        source: &a.source,
        revision: &a.revision,
        created: &release.meta.created,
        insecure: a.insecure,
    })?;
    eprintln!("pushed release {revision} of {app} to {}: layer {}", a.url, pushed.layer_digest);
    Ok(format!("{}\n", pushed.manifest_digest).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewind_source_references_are_namespace_slash_name() {
        assert_eq!(parse_ref("flux-system/app").unwrap(), ("flux-system".into(), "app".into()));
        for bad in ["app", "/app", "ns/", "a/b/c"] {
            assert!(parse_ref(bad).is_err(), "{bad}");
        }
    }
}
