//! The command line: clap definitions and dispatch only. Every command builds
//! its whole output in memory and prints it only on success, so a failure
//! prints nothing on stdout (Argo CD would read empty output as "no resources").

use crate::argocd::application::{
    ApplicationRef as AppRef, RewindSource, app_key, pinned_at, select_source, source_key,
};
use crate::argocd::client::Applications;
use crate::argocd::{GenerateOptions, StoreErrorPolicy, generate};
use crate::context::{AppConfig, ArgoEnv, parse_sets, validate_app_name};
use crate::error::{Error, Result};
use crate::hash::HashMode;
use crate::manifest::{Limits, to_json_list};
use crate::pipeline::{
    Job, RendererChoice, allow_empty, build, hash_options, history_max, previous_objects, record_rendered, renderer_job,
};
use crate::release::{Recorded, ReleaseMeta, SourceInfo, Status, mark};
use crate::render::{RenderOptions, Renderers, Source, renderers::RENDERERS_FILE_ENV, substitution_active};
use crate::rollback::{Target, resolve, rollback};
use crate::store::{Damaged, Store, StoreOptions, default_url, open};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "rewind",
    version,
    about = "Render, hash and record Kubernetes manifests; roll back to any recorded release."
)]
struct Cli {
    /// Release store URL: file:///path (default: a file store under ~/.local/state/rewind).
    #[arg(long, env = "REWIND_STORE", global = true)]
    store: Option<String>,
    /// Revisions to keep per app (default 10, or historyMax in rewind.yaml).
    #[arg(long, global = true)]
    history_max: Option<usize>,
    /// The operator's renderers file: the only commands an app's rewind.yaml can name
    /// (default: ~/.config/rewind/renderers.yaml if it exists).
    #[arg(long, env = RENDERERS_FILE_ENV, global = true, value_name = "FILE")]
    renderers: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct LimitArgs {
    /// Largest manifest file (or stdin stream) accepted, in bytes.
    #[arg(long, global = true, default_value_t = Limits::default().max_file_bytes)]
    max_file_bytes: u64,
    /// Largest total of all manifest files, in bytes.
    #[arg(long, global = true, default_value_t = Limits::default().max_total_bytes)]
    max_total_bytes: u64,
    /// Deepest YAML nesting accepted.
    #[arg(long, global = true, default_value_t = Limits::default().max_depth)]
    max_depth: usize,
    /// Most YAML documents in one file.
    #[arg(long, global = true, default_value_t = Limits::default().max_documents)]
    max_documents: usize,
    /// Most events YAML aliases may expand to in one file.
    #[arg(long, global = true, default_value_t = Limits::default().max_alias_events)]
    max_alias_events: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_total_bytes: self.max_total_bytes,
            max_depth: self.max_depth,
            max_documents: self.max_documents,
            max_alias_events: self.max_alias_events,
        }
    }
}

#[derive(Debug, Args)]
struct HashArgs {
    /// annotation (rewind.dev/config-hash on pod templates) or suffix (kustomize-style names).
    #[arg(long, value_parser = parse_hash_mode)]
    hash_mode: Option<HashMode>,
    /// Suffix mode: previous versions of each renamed ConfigMap/Secret to keep (default 3).
    #[arg(long)]
    keep_config_versions: Option<usize>,
}

fn parse_policy(s: &str) -> std::result::Result<StoreErrorPolicy, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e}; write e.g. 90s, 3m or 1h"))
}

fn parse_hash_mode(s: &str) -> std::result::Result<HashMode, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TableFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a directory (or stdin) with config hashes, record it as a release, print it.
    #[command(
        after_help = "Examples:\n  rewind render examples/guestbook\n  kustomize build overlays/prod | rewind render - --app guestbook\n  rewind render examples/guestbook --set IMAGE_TAG=v2 -o json --no-record"
    )]
    Render {
        /// Directory of *.yaml/*.yml/*.json files, or - for one stream on stdin.
        #[arg(default_value = ".")]
        path: String,
        /// App name (default: `app` in rewind.yaml, else the directory's name).
        #[arg(long)]
        app: Option<String>,
        /// Variable for ${VAR} substitution (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Namespace objects without one will be applied to (for matching references).
        #[arg(long)]
        namespace: Option<String>,
        /// Output format (the release always records the YAML stream).
        #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
        /// Do not record a release.
        #[arg(long)]
        no_record: bool,
        /// Leave ${VAR} untouched.
        #[arg(long)]
        no_substitute: bool,
        /// Run this renderer from the renderers file instead of reading the files.
        #[arg(long, value_name = "NAME", conflicts_with = "renderer_command")]
        renderer: Option<String>,
        /// Run your own renderer command in PATH (split on spaces, no shell), e.g.
        /// "kustomize build overlays/prod". A repository can never choose a command.
        #[arg(long, value_name = "COMMAND")]
        renderer_command: Option<String>,
        /// Accept a render with no objects (else refused: Argo CD would prune the whole app).
        #[arg(long)]
        allow_empty: bool,
        #[command(flatten)]
        hash: HashArgs,
    },
    /// Argo CD CMP entry point: render the current directory (or print a rollback target) from the CMP environment.
    #[command(
        after_help = "Runs from plugin.yaml; everything comes from the environment:\n  ARGOCD_APP_NAME=guestbook ARGOCD_APP_NAMESPACE=default rewind generate\n  ARGOCD_APP_NAME=guestbook ARGOCD_ENV_REWIND_ROLLBACK_TO=previous rewind generate"
    )]
    Generate {
        /// App key (default: ARGOCD_APP_NAME).
        #[arg(long)]
        app: Option<String>,
        /// Extra variable for ${VAR} substitution (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        #[command(flatten)]
        hash: HashArgs,
        /// When the release store fails: fail (exit non-zero, print nothing) or warn (print the manifest, emit a RollbackStoreFailed Event).
        #[arg(long, env = "REWIND_ON_STORE_ERROR", default_value = "fail", value_parser = parse_policy)]
        on_store_error: StoreErrorPolicy,
    },
    /// List an app's releases.
    #[command(after_help = "Examples:\n  rewind history guestbook\n  rewind history guestbook -o json")]
    History {
        /// App name.
        app: String,
        #[arg(short, long, value_enum, default_value_t = TableFormat::Table)]
        output: TableFormat,
    },
    /// Print a release's manifest (or its record with --meta).
    #[command(
        after_help = "Examples:\n  rewind show guestbook 3\n  rewind show guestbook latest --meta\n  rewind show guestbook last-good | kubectl apply -f -"
    )]
    Show {
        /// App name.
        app: String,
        /// Revision: a number, latest, previous or last-good.
        revision: String,
        /// Print the release record as JSON instead of the manifest.
        #[arg(long)]
        meta: bool,
    },
    /// Unified diff between two releases' manifests (Secret values redacted).
    #[command(after_help = "Examples:\n  rewind diff guestbook 1 2\n  rewind diff guestbook previous latest")]
    Diff {
        /// App name.
        app: String,
        /// Old revision.
        a: String,
        /// New revision.
        b: String,
    },
    /// Record a rollback release copying a target's manifest, and print that manifest.
    #[command(
        after_help = "Examples:\n  rewind rollback guestbook --to 1\n  rewind rollback guestbook --to previous --dry-run\n  rewind rollback guestbook --to last-good | kubectl apply -f -\n  rewind rollback guestbook --to previous --application argocd/guestbook\n  rewind rollback --clear --application argocd/guestbook"
    )]
    Rollback {
        /// App name (the key releases are stored under).
        #[arg(required_unless_present = "clear")]
        app: Option<String>,
        /// Target: a revision number, previous or last-good.
        #[arg(long, required_unless_present = "clear")]
        to: Option<String>,
        /// Print the diff against the latest revision; record and patch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Pin this Argo CD Application (NAMESPACE/NAME) to the target instead of recording here:
        /// sets REWIND_ROLLBACK_TO in the plugin env of its rewind source.
        #[arg(long, value_name = "NAMESPACE/NAME")]
        application: Option<String>,
        /// Remove the pin from --application, so Git's head deploys again.
        #[arg(long, requires = "application", conflicts_with_all = ["to", "dry_run"])]
        clear: bool,
        /// With --application: the rewind source to pin, by its source-name (REWIND_SOURCE_NAME),
        /// when the Application has more than one.
        #[arg(long, requires = "application", value_name = "NAME")]
        source_name: Option<String>,
        /// Argo CD's control-plane namespace (app keys there are the bare name).
        #[arg(long, default_value = crate::argocd::application::DEFAULT_ARGOCD_NAMESPACE)]
        argocd_namespace: String,
    },
    /// Show an Argo CD Application's pin, last-good and latest releases.
    #[command(after_help = "Examples:\n  rewind status --application argocd/guestbook")]
    Status {
        /// The Application, NAMESPACE/NAME.
        #[arg(long, value_name = "NAMESPACE/NAME")]
        application: String,
        /// Argo CD's control-plane namespace (app keys there are the bare name).
        #[arg(long, default_value = crate::argocd::application::DEFAULT_ARGOCD_NAMESPACE)]
        argocd_namespace: String,
        /// The rewind source, by its source-name, when the Application has more than one.
        #[arg(long, value_name = "NAME")]
        source_name: Option<String>,
    },
    /// Run the release lifecycle controller for Argo CD (logs to stderr, prints nothing).
    #[command(
        after_help = "Marks the release an Application synced deployed (Healthy) or failed (sync failed, or Degraded\n\
past --degraded-grace); with auto-rollback (annotation rewind.dev/auto-rollback: \"true\" or --auto-rollback)\n\
pins the newest deployed release before a failed one. Uses KUBECONFIG or the in-cluster service account.\n\n\
Examples:\n  rewind serve --store kubernetes://argocd\n  rewind serve --store kubernetes://argocd --namespaces argocd,team-a --auto-rollback --degraded-grace 5m"
    )]
    Serve {
        /// Address for /healthz, /readyz and /metrics.
        #[arg(long, env = "REWIND_LISTEN", default_value = "0.0.0.0:8080")]
        listen: String,
        /// Namespaces to watch Applications in, comma-separated (default: all).
        #[arg(long, env = "REWIND_NAMESPACES", value_delimiter = ',')]
        namespaces: Vec<String>,
        /// Argo CD's control-plane namespace (app keys there are the bare name).
        #[arg(long, env = "REWIND_ARGOCD_NAMESPACE", default_value = crate::argocd::application::DEFAULT_ARGOCD_NAMESPACE)]
        argocd_namespace: String,
        /// How long health may stay Degraded after a sync before its release fails.
        #[arg(long, env = "REWIND_DEGRADED_GRACE", default_value = "3m", value_parser = parse_duration)]
        degraded_grace: std::time::Duration,
        /// Failures older than this are left alone (no marking, no rollback).
        #[arg(long, env = "REWIND_MAX_FAILURE_AGE", default_value = "20m", value_parser = parse_duration)]
        max_failure_age: std::time::Duration,
        /// Roll back every Application on failure unless it is annotated rewind.dev/auto-rollback: "false".
        #[arg(long, env = "REWIND_AUTO_ROLLBACK")]
        auto_rollback: bool,
    },
    /// Set a release's status (deployed marks the previously deployed one superseded).
    #[command(
        after_help = "Examples:\n  rewind mark guestbook 3 --status deployed\n  rewind mark guestbook 4 --status failed"
    )]
    Mark {
        /// App name.
        app: String,
        /// Revision number.
        revision: u64,
        /// New status.
        #[arg(long)]
        status: Status,
    },
}

/// Parses arguments, runs the command, prints its output; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve { .. }));
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&out).and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot write to stdout: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Commands log warnings only, without time; the controller logs what it
/// does, with time. `REWIND_LOG` overrides the level either way.
fn init_logging(controller: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REWIND_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if controller { "info,kube=warn,hyper=warn" } else { "warn" })
    });
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if controller { builder.try_init() } else { builder.without_time().try_init() };
}

/// rewind's environment, leaving out variables that are not UTF-8.
fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// Opens `--store` (else the embedded default); releases are bounded by the input limits.
fn open_store(url: &Option<String>, limits: &Limits) -> Result<Box<dyn Store>> {
    open(&url.clone().unwrap_or_else(default_url), &store_options(limits))
}

fn store_options(limits: &Limits) -> StoreOptions {
    StoreOptions { max_release_bytes: limits.max_total_bytes }
}

fn run(cli: Cli) -> Result<Vec<u8>> {
    let limits = cli.limits.limits();
    match cli.command {
        Command::Render {
            path,
            app,
            sets,
            namespace,
            output,
            no_record,
            no_substitute,
            renderer,
            renderer_command,
            allow_empty: allow_empty_flag,
            hash,
        } => {
            let (source, dir) = if path == "-" {
                (Source::Stdin, None)
            } else {
                (Source::Dir(PathBuf::from(&path)), Some(PathBuf::from(&path)))
            };
            let config = match &dir {
                Some(d) => AppConfig::load(d, &limits)?,
                None => AppConfig::default(),
            };
            let app = match app.or(config.app.clone()) {
                Some(a) => a,
                None => dir_name(dir.as_deref().unwrap_or(Path::new(".")))?,
            };
            validate_app_name(&app)?;
            let sets = parse_sets(&sets)?;
            let active =
                !no_substitute && substitution_active(config.substitute, !config.vars.is_empty() || !sets.is_empty());
            let mut vars = config.vars.clone();
            vars.extend(sets);
            let job = Job {
                app,
                source,
                render: RenderOptions {
                    vars,
                    substitute: active,
                    limits,
                    renderer: match &dir {
                        Some(_) => renderer_job(
                            &Renderers::load(cli.renderers.as_deref())?,
                            RendererChoice {
                                command_line: renderer_command.as_deref(),
                                flag: renderer.as_deref(),
                                setting: None,
                            },
                            &config,
                            ArgoEnv::from_vars(process_env())?.plugin_vars,
                        )?,
                        None => None,
                    },
                    allow_empty: allow_empty(allow_empty_flag, None, &config)?,
                },
                hash: hash_options(
                    hash.hash_mode,
                    hash.keep_config_versions,
                    &config,
                    namespace.or(config.namespace.clone()).unwrap_or_default(),
                ),
                history_max: history_max(cli.history_max, None, &config)?,
                source_info: SourceInfo { path: dir.map(|d| d.display().to_string()), ..SourceInfo::default() },
            };
            // The store is opened only when used: --no-record in annotation mode needs none.
            let needs_store = !no_record || (job.hash.mode == HashMode::Suffix && job.hash.keep_versions > 0);
            let store = if needs_store { Some(open_store(&cli.store, &limits)?) } else { None };
            let rendered = build(&job, &previous_objects(store.as_deref(), &job)?)?;
            if let Some(store) = store.filter(|_| !no_record) {
                match record_rendered(store.as_ref(), &job, &rendered, "render")? {
                    Recorded::Created(m) => eprintln!("recorded {} revision {} in {}", m.app, m.revision, store.url()),
                    Recorded::Unchanged(m) => {
                        eprintln!("unchanged: {} revision {} already holds this manifest", m.app, m.revision)
                    }
                }
            }
            match output {
                Format::Yaml => Ok(rendered.manifest),
                Format::Json => Ok(to_json_list(&rendered.objects)?.into_bytes()),
            }
        }
        Command::Generate { app, sets, hash, on_store_error } => {
            let env = ArgoEnv::from_vars(process_env())?;
            let opened = open_store(&cli.store, &limits);
            let cwd = std::env::current_dir()
                .map_err(|e| Error::Config(format!("cannot read the current directory: {e}")))?;
            let opts = GenerateOptions {
                app,
                history_max: cli.history_max,
                sets: parse_sets(&sets)?,
                limits,
                hash_mode: hash.hash_mode,
                keep_config_versions: hash.keep_config_versions,
                on_store_error,
                renderers: Renderers::load(cli.renderers.as_deref())?,
            };
            let (store, open_error) = match opened {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            let store = match (&store, open_error) {
                (Some(s), _) => Ok(s.as_ref()),
                (None, Some(e)) => Err(e),
                (None, None) => unreachable!("a store or its error"),
            };
            generate(&env, &cwd, store, &opts)
        }
        Command::History { app, output } => {
            validate_app_name(&app)?;
            let listing = open_store(&cli.store, &limits)?.scan(&app)?;
            if listing.releases.is_empty() && listing.damaged.is_empty() {
                return Err(Error::Config(format!(
                    "app {app:?} has no releases in this store; check the app name and --store"
                )));
            }
            match output {
                TableFormat::Json => {
                    for d in &listing.damaged {
                        eprintln!("warning: {} is damaged and left out: {}", d.name, d.why);
                    }
                    let json = serde_json::to_string_pretty(&listing.releases).expect("serializable");
                    Ok(format!("{json}\n").into_bytes())
                }
                TableFormat::Table => Ok(history_table(&listing.releases, &listing.damaged).into_bytes()),
            }
        }
        Command::Show { app, revision, meta } => {
            validate_app_name(&app)?;
            let store = open_store(&cli.store, &limits)?;
            let rev = resolve_revision(store.as_ref(), &app, &revision)?;
            let release = store.get(&app, rev)?;
            if meta {
                Ok(format!("{}\n", serde_json::to_string_pretty(&release.meta).expect("serializable")).into_bytes())
            } else {
                Ok(release.manifest)
            }
        }
        Command::Diff { app, a, b } => {
            validate_app_name(&app)?;
            let store = open_store(&cli.store, &limits)?;
            let (ra, rb) = (resolve_revision(store.as_ref(), &app, &a)?, resolve_revision(store.as_ref(), &app, &b)?);
            let (old, new) = (store.get(&app, ra)?, store.get(&app, rb)?);
            Ok(crate::diff::unified(&format!("{app} v{ra}"), &old.manifest, &format!("{app} v{rb}"), &new.manifest)
                .into_bytes())
        }
        Command::Rollback { clear: true, application, source_name, .. } => {
            let app_ref: AppRef = application.as_deref().unwrap_or_default().parse()?;
            if Applications::connect()?.clear(&app_ref, source_name.as_deref())? {
                eprintln!("removed the pin from Application {app_ref}; Git's head deploys again");
            } else {
                eprintln!("Application {app_ref} was not pinned; nothing to do");
            }
            Ok(Vec::new())
        }
        Command::Rollback { app, to, dry_run, application, source_name, argocd_namespace, .. } => {
            let (app, to) = (app.unwrap_or_default(), to.unwrap_or_default());
            validate_app_name(&app)?;
            let target: Target = to.parse()?;
            let store = open_store(&cli.store, &limits)?;
            if let Some(application) = application.filter(|_| !dry_run) {
                let app_ref: AppRef = application.parse()?;
                let applications = Applications::connect()?;
                let source = select_source(&applications.get(&app_ref)?, source_name.as_deref())?;
                let key = source_key(&app_key(&app_ref, &argocd_namespace), source.name.as_deref())?;
                if key != app {
                    return Err(Error::Config(format!(
                        "{app} is not the app key of Application {app_ref}'s {}: generate records it under {key} \
                         (check APP, --source-name and --argocd-namespace)",
                        source.describe()
                    )));
                }
                let rev = resolve(&app, &store.list(&app)?, target)?;
                applications.pin(&app_ref, source.name.as_deref(), rev)?;
                eprintln!(
                    "pinned Application {app_ref} to revision {rev} of {app}; Argo CD regenerates and applies it"
                );
                return Ok(Vec::new());
            }
            if dry_run {
                let metas = store.list(&app)?;
                let rev = resolve(&app, &metas, target)?;
                let latest = metas.last().expect("resolve found a revision").revision;
                let (cur, tgt) = (store.get(&app, latest)?, store.get(&app, rev)?);
                eprintln!("dry run: rollback of {app} to revision {rev}; nothing recorded");
                return Ok(crate::diff::unified(
                    &format!("{app} v{latest} (latest)"),
                    &cur.manifest,
                    &format!("{app} v{rev}"),
                    &tgt.manifest,
                )
                .into_bytes());
            }
            let config = AppConfig::default();
            let outcome = rollback(
                store.as_ref(),
                &app,
                target,
                SourceInfo::default(),
                history_max(cli.history_max, None, &config)?,
            )?;
            match &outcome.recorded {
                Recorded::Created(m) => {
                    eprintln!("recorded {app} revision {} (rollback of {})", m.revision, outcome.target.meta.revision)
                }
                Recorded::Unchanged(m) => eprintln!(
                    "unchanged: {app} revision {} already holds revision {}'s manifest",
                    m.revision, outcome.target.meta.revision
                ),
            }
            Ok(outcome.target.manifest)
        }
        Command::Status { application, argocd_namespace, source_name } => {
            let app_ref: AppRef = application.parse()?;
            let object = Applications::connect()?.get(&app_ref)?;
            let source = select_source(&object, source_name.as_deref())?;
            let app = source_key(&app_key(&app_ref, &argocd_namespace), source.name.as_deref())?;
            let metas = open_store(&cli.store, &limits)?.list(&app)?;
            Ok(status_report(&app_ref, &app, &source, &object, &metas).into_bytes())
        }
        Command::Serve { listen, namespaces, argocd_namespace, degraded_grace, max_failure_age, auto_rollback } => {
            let store = cli.store.clone().ok_or_else(|| {
                Error::Config(
                    "rewind serve needs --store / REWIND_STORE: the store the CMP sidecar records into, e.g. kubernetes://argocd".into(),
                )
            })?;
            crate::serve::run(crate::serve::ServeOptions {
                store,
                store_options: store_options(&limits),
                listen,
                namespaces: namespaces.into_iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect(),
                argocd_namespace,
                policy: crate::serve::lifecycle::Policy { degraded_grace, max_failure_age, auto_rollback },
            })?;
            Ok(Vec::new())
        }
        Command::Mark { app, revision, status } => {
            validate_app_name(&app)?;
            let store = open_store(&cli.store, &limits)?;
            mark(store.as_ref(), &app, revision, status)?;
            eprintln!("{app} revision {revision} is now {status}");
            Ok(Vec::new())
        }
    }
}

fn status_report(
    app_ref: &AppRef,
    app: &str,
    source: &RewindSource,
    object: &serde_json::Value,
    metas: &[ReleaseMeta],
) -> String {
    let describe = |m: &ReleaseMeta| match m.rollback_of {
        Some(of) => format!("{} ({}, rollback of {of})", m.revision, m.status),
        None => format!("{} ({})", m.revision, m.status),
    };
    let pin = match pinned_at(object, &source.plugin_path()) {
        Some(p) => format!("{p} (REWIND_ROLLBACK_TO)"),
        None => "none: Git's head deploys".into(),
    };
    // What `rewind serve` recorded on the Application, else the store's newest deployed.
    let last_good = crate::argocd::application::annotation(
        object,
        &source.annotation_key(crate::serve::observe::LAST_GOOD_ANNOTATION),
    )
    .map(|n| match metas.iter().find(|m| m.revision.to_string() == n) {
        Some(m) => describe(m),
        None => format!("{n} (pruned from the store)"),
    })
    .or_else(|| metas.iter().rev().find(|m| m.status == Status::Deployed).map(describe))
    .unwrap_or_else(|| "none".into());
    let latest = metas.last().map_or_else(|| "none".into(), describe);
    let mut out = format!(
        "Application:  {app_ref} (app {app})\npinned:       {pin}\nlast-good:    {last_good}\nlatest:       {latest}\n"
    );
    if !metas.is_empty() {
        out.push('\n');
        out.push_str(&history_table(metas, &[]));
    }
    out
}

fn dir_name(dir: &Path) -> Result<String> {
    let abs = dir.canonicalize().map_err(|e| Error::input(dir, format!("cannot open source directory: {e}")))?;
    abs.file_name()
        .and_then(|n| n.to_str())
        .map(String::from)
        .ok_or_else(|| Error::Config(format!("cannot name the app after {}; pass --app", dir.display())))
}

/// `N`, `latest`, `previous`, `last-good` → a revision number.
fn resolve_revision(store: &dyn Store, app: &str, spec: &str) -> Result<u64> {
    let metas = store.list(app)?;
    if spec == "latest" {
        return metas
            .last()
            .map(|m| m.revision)
            .ok_or_else(|| Error::Config(format!("app {app:?} has no releases in this store")));
    }
    resolve(app, &metas, spec.parse()?)
}

/// One row per release, and one per damaged entry (in revision order).
fn history_table(metas: &[ReleaseMeta], damaged: &[Damaged]) -> String {
    let mut rows: Vec<(u64, [String; 6])> = metas
        .iter()
        .map(|m| {
            (
                m.revision,
                [
                    m.revision.to_string(),
                    m.status.to_string(),
                    m.created.clone(),
                    m.source.revision.as_deref().map_or("-".into(), |r| r.chars().take(12).collect()),
                    m.digest.trim_start_matches("sha256:").chars().take(12).collect(),
                    m.description.clone(),
                ],
            )
        })
        .collect();
    rows.extend(damaged.iter().map(|d| {
        let revision = d.revision.map_or("?".into(), |r| r.to_string());
        (
            d.revision.unwrap_or(u64::MAX),
            [revision, "damaged".into(), "-".into(), "-".into(), "-".into(), format!("{}: {}", d.name, d.why)],
        )
    }));
    rows.sort_by_key(|(revision, _)| *revision);
    let rows: Vec<[String; 6]> = rows.into_iter().map(|(_, row)| row).collect();
    let header = ["REVISION", "STATUS", "CREATED", "GIT REVISION", "DIGEST", "DESCRIPTION"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
