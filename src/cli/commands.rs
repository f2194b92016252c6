//! One function per command: resolve the flags, call the library, return
//! what to print. Nothing here prints on stdout (the caller does, on success).

use super::args::{
    DiffArgs, Format, GenerateArgs, HistoryArgs, Integration, MarkArgs, RekeyArgs, RenderArgs, RollbackArgs, ServeArgs,
    ShowArgs, StatusArgs, TableFormat,
};
use super::report::{history_table, status_report};
use crate::argocd::application::{ApplicationRef, FORCE_ENV, REASON_ENV, app_key, source_key};
use crate::argocd::client::Applications;
use crate::argocd::{ArgoEnv, GenerateOptions, generate};
use crate::context::{AppConfig, parse_sets};
use crate::error::{Error, Result};
use crate::history::{History, Recorded};
use crate::manifest::{Limits, to_json_list};
use crate::pipeline::{Application, Flags, build, needs_previous, previous_objects, record_rendered, resolve};
use crate::release::{AppKey, ReleaseMeta, SourceInfo, Trigger};
use crate::render::{Renderers, Source};
use crate::rollback::{ApiVersions, Plan, Preflight, Request, Target, plan, resolve as resolve_target, rollback};
use crate::store::{
    Envelope, Keyring, S3Settings, Store, StoreOptions, at_rest_reminder, default_url, open, open_envelope,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The global flags every command may use.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--store` / `REWIND_STORE`.
    pub store: Option<String>,
    /// `--history-max`.
    pub history_max: Option<usize>,
    /// `--renderers` / `REWIND_RENDERERS_FILE`.
    pub renderers: Option<PathBuf>,
    /// `--encryption-key-file` / `REWIND_ENCRYPTION_KEY_FILE`.
    pub encryption_key_file: Option<PathBuf>,
    /// The S3 store's settings (`--s3-*`, `REWIND_S3_*`, `--store-timeout`).
    pub s3: S3Settings,
    /// The input limits.
    pub limits: Limits,
}

impl Globals {
    /// Opens `--store` (else the embedded default); releases are bounded by the input limits.
    pub(super) fn open_store(&self) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.open_envelope()?))
    }

    fn open_envelope(&self) -> Result<Envelope> {
        open_envelope(&self.store_url(), &self.store_options()?)
    }

    /// `--store`, else the embedded default.
    pub fn store_url(&self) -> String {
        self.store.clone().unwrap_or_else(default_url)
    }

    /// How stores are opened: the input limits, and the key file's keys.
    pub fn store_options(&self) -> Result<StoreOptions> {
        let encryption = match &self.encryption_key_file {
            Some(path) => Some(Arc::new(Keyring::load(path)?)),
            None => None,
        };
        Ok(StoreOptions { max_release_bytes: self.limits.max_total_bytes, encryption, s3: self.s3.clone() })
    }

    pub(super) fn history<'s>(&self, store: &'s dyn Store) -> History<'s> {
        History::new(store).with_limit(self.limits.max_total_bytes)
    }

    fn flags(&self) -> Flags {
        Flags { limits: self.limits, history_max: self.history_max, ..Flags::default() }
    }
}

/// `rewind render`.
pub fn render(g: &Globals, a: RenderArgs) -> Result<Vec<u8>> {
    let (source, dir) = match a.path.as_str() {
        "-" => (Source::Stdin, None),
        path => (Source::Dir(PathBuf::from(path)), Some(PathBuf::from(path))),
    };
    let config = match &dir {
        Some(d) => AppConfig::load(d, &g.limits)?,
        None => AppConfig::default(),
    };
    let app = match a.app.or(config.app.clone()) {
        Some(name) => AppKey::new(&name)?,
        None => AppKey::new(&dir_name(dir.as_deref().unwrap_or(Path::new(".")))?)?,
    };
    let flags = Flags {
        hash_mode: a.hash.hash_mode,
        keep_config_versions: a.hash.keep_config_versions,
        sets: parse_sets(&a.sets)?,
        no_substitute: a.no_substitute,
        namespace: a.namespace,
        renderer: a.renderer,
        renderer_command: a.renderer_command,
        allow_empty: a.allow_empty,
        ..g.flags()
    };
    let (renderers, application) = match &dir {
        // A person's own environment may hold Argo CD's variables for a renderer to see.
        Some(_) => (
            Renderers::load(g.renderers.as_deref())?,
            Application { plugin_vars: ArgoEnv::from_process()?.plugin_vars, ..Application::default() },
        ),
        None => (Renderers::default(), Application::default()),
    };
    let source_info = SourceInfo { path: dir.map(|d| d.display().to_string()), ..SourceInfo::default() };
    let mut job = resolve(app, source, source_info, &config, &flags, &application, &renderers)?;
    job.keep_bodies = matches!(a.output, Format::Json);
    // The store is opened only when used: --no-record without suffix mode's kept versions needs none.
    let store = if !a.no_record || needs_previous(&job) { Some(g.open_store()?) } else { None };
    let history = store.as_deref().map(|s| g.history(s));
    let mut rendered = build(&job, &previous_objects(history.as_ref(), &job)?)?;
    if let Some(history) = history.filter(|_| !a.no_record) {
        match record_rendered(&history, &job, &mut rendered, "render")? {
            Recorded::Created(m) => {
                eprintln!("recorded {} revision {} in {}", m.app, m.revision, history.store().url())
            }
            Recorded::Unchanged(m) => {
                eprintln!("unchanged: {} revision {} already holds this manifest", m.app, m.revision)
            }
        }
    }
    let out = match a.output {
        Format::Yaml => rendered.manifest,
        Format::Json => to_json_list(&rendered.objects)?.into_bytes(),
    };
    // The process exits next: freeing the objects node by node would cost
    // milliseconds on a large app, for nothing.
    std::mem::forget(rendered.objects);
    Ok(out)
}

/// `rewind generate`: everything from the CMP environment.
pub fn generate_cmd(g: &Globals, a: GenerateArgs) -> Result<Vec<u8>> {
    let env = ArgoEnv::from_process()?;
    let cwd = std::env::current_dir().map_err(|e| Error::io("cannot read the current directory", e))?;
    let opts = GenerateOptions {
        app: a.app,
        flags: Flags {
            sets: parse_sets(&a.sets)?,
            hash_mode: a.hash.hash_mode,
            keep_config_versions: a.hash.keep_config_versions,
            ..g.flags()
        },
        on_store_error: a.on_store_error,
        renderers: Renderers::load(g.renderers.as_deref())?,
    };
    // The key file is read once: for the reminder, and to open the store.
    let url = g.store_url();
    let store = g.store_options().and_then(|options| {
        if let Some(reminder) = at_rest_reminder(&url, &options) {
            tracing::warn!("{reminder}");
        }
        open(&url, &options)
    });
    match store {
        Ok(store) => generate(&env, &cwd, Ok(store.as_ref()), &opts),
        Err(e) => generate(&env, &cwd, Err(e), &opts),
    }
}

/// `rewind history`.
pub fn history(g: &Globals, a: HistoryArgs) -> Result<Vec<u8>> {
    let app = AppKey::new(&a.app)?;
    let listing = g.open_store()?.scan(&app)?;
    if listing.releases.is_empty() && listing.damaged.is_empty() {
        return Err(Error::Config(format!(
            "app {app:?} has no releases in this store; check the app name and --store"
        )));
    }
    match a.output {
        TableFormat::Json => {
            for d in &listing.damaged {
                eprintln!("warning: {} is damaged and left out: {}", d.name, d.why);
            }
            let shown: Vec<_> = listing.releases.iter().map(ReleaseMeta::shown).collect();
            let json = serde_json::to_string_pretty(&shown).expect("serializable");
            Ok(format!("{json}\n").into_bytes())
        }
        TableFormat::Table => Ok(history_table(&listing.releases, &listing.damaged).into_bytes()),
    }
}

/// `rewind show`.
pub fn show(g: &Globals, a: ShowArgs) -> Result<Vec<u8>> {
    let app = AppKey::new(&a.app)?;
    let store = g.open_store()?;
    let history = g.history(store.as_ref());
    let release = history.get(&app, revision_of(&history, &app, &a.revision)?)?;
    if a.meta {
        Ok(format!("{}\n", serde_json::to_string_pretty(&release.meta.shown()).expect("serializable")).into_bytes())
    } else {
        Ok(release.manifest)
    }
}

/// `rewind diff`.
pub fn diff(g: &Globals, a: DiffArgs) -> Result<Vec<u8>> {
    let app = AppKey::new(&a.app)?;
    let store = g.open_store()?;
    let history = g.history(store.as_ref());
    let (ra, rb) = (revision_of(&history, &app, &a.a)?, revision_of(&history, &app, &a.b)?);
    let (old, new) = (history.get(&app, ra)?, history.get(&app, rb)?);
    Ok(crate::diff::unified(&format!("{app} v{ra}"), &old.manifest, &format!("{app} v{rb}"), &new.manifest)
        .into_bytes())
}

/// `rewind rollback`: record here, pin an Application, clear its pin, or show the diff.
pub fn rollback_cmd(g: &Globals, a: RollbackArgs) -> Result<Vec<u8>> {
    if let Some(rewind_source) = &a.rewind_source {
        return super::flux::rollback(g, &a, rewind_source);
    }
    if a.clear && a.application.is_none() {
        return Err(Error::Config(
            "--clear needs --application NAMESPACE/NAME (Argo CD) or --rewind-source NAMESPACE/NAME (Flux)".into(),
        ));
    }
    if a.clear {
        let app_ref: ApplicationRef = a.application.as_deref().unwrap_or_default().parse()?;
        if Applications::connect()?.clear(&app_ref, a.source_name.as_deref())? {
            eprintln!("removed the pin from Application {app_ref}; Git's head deploys again");
        } else {
            eprintln!("Application {app_ref} was not pinned; nothing to do");
        }
        return Ok(Vec::new());
    }
    let app = AppKey::new(a.app.as_deref().unwrap_or_default())?;
    let target: Target = a.to.as_deref().unwrap_or_default().parse()?;
    let store = g.open_store()?;
    let history = g.history(store.as_ref());
    let history_max = crate::pipeline::history_max(g.history_max, None, &AppConfig::default())?;
    let trigger = if a.application.is_some() { Trigger::ApplicationPin } else { Trigger::Manual };
    let mut request = rollback_request(g, &a, target, SourceInfo::default(), history_max, trigger)?;
    if a.application.is_some() && request.preflight.api_versions.is_none() {
        // Discovery of the API server rewind reaches (Argo CD's own); an Application that deploys to
        // another cluster needs --kube-api-versions for that cluster.
        request.preflight.api_versions =
            Some(ApiVersions::discovered(&Applications::connect()?.served_api_versions()?));
    }
    if a.dry_run {
        return dry_run(&history, &app, &request);
    }
    if let Some(application) = &a.application {
        return pin(&history, &app, &request, application.parse()?, &a);
    }
    let outcome = rollback(&history, &app, &request)?;
    for warning in &outcome.plan_warnings {
        eprintln!("warning: {warning}");
    }
    let of = outcome.target.meta.revision;
    match &outcome.recorded {
        Recorded::Created(m) => eprintln!("recorded {app} revision {} (rollback of {of})", m.revision),
        Recorded::Unchanged(m) => {
            eprintln!("unchanged: {app} revision {} already holds revision {of}'s manifest", m.revision)
        }
    }
    Ok(outcome.printed)
}

/// The rollback a person asks for with `rewind rollback`'s flags.
pub(super) fn rollback_request(
    g: &Globals,
    a: &RollbackArgs,
    target: Target,
    source: SourceInfo,
    history_max: usize,
    trigger: Trigger,
) -> Result<Request> {
    let api_versions = match &a.kube_api_versions {
        Some(arg) => Some((ApiVersions::from_arg(arg)?, "--kube-api-versions".to_string())),
        None => None,
    };
    Ok(Request {
        requested_by: os_user(),
        reason: a.reason.clone(),
        force: a.force,
        preflight: Preflight {
            api_versions,
            image_policy: a.image_policy.as_deref().map(str::parse).transpose()?.unwrap_or_default(),
            limits: g.limits,
        },
        ..Request::new(target, source, history_max, trigger)
    })
}

/// The person running rewind, for the record.
fn os_user() -> Option<String> {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok().filter(|u| !u.is_empty())
}

/// Each check's verdict, as lines to show beside a diff.
fn verdicts(plan: &Plan) -> String {
    plan.checks.iter().map(|c| format!("# check {}: {}: {}\n", c.check, c.verdict.as_str(), c.detail)).collect()
}

/// The checks' verdicts and the diff a rollback would make against the
/// latest release; records and patches nothing. A refusal is still an error.
pub(super) fn dry_run(history: &History, app: &AppKey, request: &Request) -> Result<Vec<u8>> {
    let plan = plan(history, app, request)?;
    let rev = plan.target.meta.revision;
    let latest = history.list(app)?.last().map_or(rev, |m| m.revision);
    let cur = history.get(app, latest)?;
    eprintln!("dry run: rollback of {app} to revision {rev}; nothing recorded");
    eprint!("{}", verdicts(&plan));
    if let Some(refused) = plan.refused(app) {
        return Err(refused);
    }
    let diff = crate::diff::unified(
        &format!("{app} v{latest} (latest)"),
        &cur.manifest,
        &format!("{app} v{rev}"),
        &plan.printed,
    );
    Ok(format!("{}{diff}", verdicts(&plan)).into_bytes())
}

/// Pins an Application's rewind source to `target`, after checking that `app` is that source's key.
fn pin(
    history: &History,
    app: &AppKey,
    request: &Request,
    app_ref: ApplicationRef,
    a: &RollbackArgs,
) -> Result<Vec<u8>> {
    let applications = Applications::connect()?;
    let source = applications.get(&app_ref)?.select_source(a.source_name.as_deref())?;
    let key = source_key(&app_key(&app_ref, &a.argocd_namespace), source.name.as_deref())?;
    if key != *app {
        return Err(Error::Config(format!(
            "{app} is not the app key of Application {app_ref}'s {}: generate records it under {key} \
             (check APP, --source-name and --argocd-namespace)",
            source.describe()
        )));
    }
    // The same checks generate will run, before anything is written.
    let plan = plan(history, app, request)?;
    if let Some(refused) = plan.refused(app) {
        return Err(refused);
    }
    for warning in plan.warnings() {
        eprintln!("warning: {warning}");
    }
    let rev = plan.target.meta.revision;
    // The override and the reason go with the pin, for generate, which records the rollback.
    let mut extra = Vec::new();
    if request.force {
        extra.push((FORCE_ENV, "true"));
    }
    if let Some(reason) = &request.reason {
        extra.push((REASON_ENV, reason.as_str()));
    }
    applications.pin(&app_ref, source.name.as_deref(), rev, &extra)?;
    eprintln!("pinned Application {app_ref} to revision {rev} of {app}; Argo CD regenerates and applies it");
    Ok(Vec::new())
}

/// `rewind status`.
pub fn status(g: &Globals, a: StatusArgs) -> Result<Vec<u8>> {
    if let Some(rewind_source) = &a.rewind_source {
        return super::flux::status(g, rewind_source);
    }
    let app_ref: ApplicationRef = a.application.as_deref().unwrap_or_default().parse()?;
    let object = Applications::connect()?.get(&app_ref)?;
    let source = object.select_source(a.source_name.as_deref())?;
    let app = source_key(&app_key(&app_ref, &a.argocd_namespace), source.name.as_deref())?;
    let metas = g.open_store()?.list(&app)?;
    Ok(status_report(&app_ref, &app, &source, &object, &metas).into_bytes())
}

/// `rewind serve`: runs until stopped; prints nothing.
pub fn serve(g: &Globals, a: ServeArgs) -> Result<Vec<u8>> {
    let store = g.store.clone().ok_or_else(|| {
        Error::Config(
            "rewind serve needs --store / REWIND_STORE: the store the CMP sidecar records into, e.g. kubernetes://argocd"
                .into(),
        )
    })?;
    let has = |i: Integration| a.integrations.contains(&i);
    let flux = if has(Integration::Flux) {
        let webhook_token = match &a.flux_webhook_token_file {
            Some(path) => {
                let text = std::fs::read(path).map_err(|e| {
                    Error::io(format!("--flux-webhook-token-file {}: cannot read the token", path.display()), e)
                })?;
                let token = text.trim_ascii().to_vec();
                if token.is_empty() {
                    return Err(Error::Config(format!(
                        "--flux-webhook-token-file {}: the file is empty; put the token of the Secret notification-controller signs with in it",
                        path.display()
                    )));
                }
                Some(token)
            }
            None => None,
        };
        Some(crate::serve::FluxOptions {
            artifact_listen: a.artifact_listen,
            artifact_base_url: a.artifact_base_url,
            interval: a.flux_interval,
            webhook_token,
            renderers: Renderers::load(g.renderers.as_deref())?,
            limits: g.limits,
            no_cross_namespace_refs: a.no_cross_namespace_refs,
        })
    } else {
        None
    };
    crate::serve::run(crate::serve::ServeOptions {
        store,
        store_options: g.store_options()?,
        listen: a.listen,
        namespaces: a.namespaces.into_iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect(),
        policy: crate::serve::lifecycle::Policy {
            degraded_grace: a.degraded_grace,
            max_failure_age: a.max_failure_age,
            auto_rollback: a.auto_rollback,
        },
        argocd: has(Integration::Argocd).then_some(crate::serve::ArgoOptions { argocd_namespace: a.argocd_namespace }),
        flux,
    })?;
    Ok(Vec::new())
}

/// `rewind mark`.
pub fn mark(g: &Globals, a: MarkArgs) -> Result<Vec<u8>> {
    let app = AppKey::new(&a.app)?;
    let store = g.open_store()?;
    g.history(store.as_ref()).mark(&app, a.revision, a.status)?;
    eprintln!("{app} revision {} is now {}", a.revision, a.status);
    Ok(Vec::new())
}

/// `rewind rekey`.
pub fn rekey(g: &Globals, a: RekeyArgs) -> Result<Vec<u8>> {
    let app = AppKey::new(&a.app)?;
    let store = g.open_envelope()?;
    let done = store.rekey(&app)?;
    let list = |revs: &[u64]| revs.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let mut out = format!("{app}: {} release(s) re-wrapped under the first key of the key file", done.rewrapped.len());
    if !done.rewrapped.is_empty() {
        out.push_str(&format!(" ({})", list(&done.rewrapped)));
    }
    out.push('\n');
    if !done.current.is_empty() {
        out.push_str(&format!("{app}: {} already under it ({})\n", done.current.len(), list(&done.current)));
    }
    if !done.plain.is_empty() {
        out.push_str(&format!(
            "{app}: {} unencrypted release(s) left as they are ({}): they were recorded without a key file\n",
            done.plain.len(),
            list(&done.plain)
        ));
    }
    Ok(out.into_bytes())
}

fn dir_name(dir: &Path) -> Result<String> {
    let abs = dir.canonicalize().map_err(|e| Error::input(dir, format!("cannot open source directory: {e}")))?;
    abs.file_name()
        .and_then(|n| n.to_str())
        .map(String::from)
        .ok_or_else(|| Error::Config(format!("cannot name the app after {}; pass --app", dir.display())))
}

/// `N`, `latest`, `previous`, `last-good` → a revision number.
pub(super) fn revision_of(history: &History, app: &AppKey, spec: &str) -> Result<u64> {
    let metas = history.list(app)?;
    if spec == "latest" {
        return metas
            .last()
            .map(|m| m.revision)
            .ok_or_else(|| Error::Config(format!("app {app:?} has no releases in this store")));
    }
    resolve_target(app, &metas, spec.parse()?)
}
