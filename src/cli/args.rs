//! The command line's flags: one `Args` struct per subcommand, resolved into
//! jobs elsewhere (ripgrep's `flags` → `hiargs`).

use crate::argocd::StoreErrorPolicy;
use crate::error::Error;
use crate::hash::HashMode;
use crate::manifest::Limits;
use crate::release::Status;
use crate::render::renderers::RENDERERS_FILE_ENV;
use crate::store::keyring::KEY_FILE_ENV;
use crate::store::{S3Settings, Sse};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "rewind",
    version,
    about = "Render, hash and record Kubernetes manifests; roll back to any recorded release.",
    long_about = None
)]
pub struct Cli {
    /// Release store URL: file:///path (default: a file store under ~/.local/state/rewind).
    #[arg(long, env = "REWIND_STORE", global = true)]
    pub store: Option<String>,
    /// Revisions to keep per app (default 10, or historyMax in rewind.yaml).
    #[arg(long, global = true)]
    pub history_max: Option<usize>,
    /// The operator's renderers file: the only commands an app's rewind.yaml can name
    /// (default: ~/.config/rewind/renderers.yaml if it exists).
    #[arg(long, env = RENDERERS_FILE_ENV, global = true, value_name = "FILE")]
    pub renderers: Option<PathBuf>,
    /// Key file for envelope encryption of releases (`keys: [{id, key}]`, the first key encrypts,
    /// any listed key decrypts); without it new releases are stored unencrypted.
    #[arg(long, env = KEY_FILE_ENV, global = true, value_name = "FILE")]
    pub encryption_key_file: Option<PathBuf>,
    /// Input limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The S3 store's settings.
    #[command(flatten)]
    pub s3: S3Args,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings of the S3 store (`--store s3://BUCKET[/PREFIX]`), the operator's only.
#[derive(Debug, Args)]
pub struct S3Args {
    /// S3-compatible service URL (default: AWS, from the region).
    #[arg(long, env = "REWIND_S3_ENDPOINT", global = true, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region (default: AWS_REGION).
    #[arg(long, env = "REWIND_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// Path-style requests (http://host/bucket/key), for services without virtual-hosted buckets.
    #[arg(long, env = "REWIND_S3_PATH_STYLE", global = true)]
    pub s3_path_style: bool,
    /// Allow plain HTTP to the endpoint.
    #[arg(long, env = "REWIND_S3_ALLOW_HTTP", global = true)]
    pub s3_allow_http: bool,
    /// Server-side encryption on every write: s3 (SSE-S3), kms (SSE-KMS) or none.
    #[arg(long, env = "REWIND_S3_SSE", global = true, default_value = "s3", value_parser = ["s3", "kms", "none"])]
    pub s3_sse: String,
    /// KMS key for --s3-sse kms (default: the account's S3 key).
    #[arg(long, env = "REWIND_S3_SSE_KMS_KEY_ID", global = true, value_name = "KEY")]
    pub s3_sse_kms_key_id: Option<String>,
    /// Longest one store operation may take, retries included (Argo CD kills a slow generate).
    #[arg(long, env = "REWIND_STORE_TIMEOUT", global = true, default_value = "30s", value_parser = humantime::parse_duration)]
    pub store_timeout: std::time::Duration,
}

impl S3Args {
    /// The settings these flags give.
    pub fn settings(&self) -> Result<S3Settings, Error> {
        if self.store_timeout.is_zero() {
            return Err(Error::Config(
                "--store-timeout / REWIND_STORE_TIMEOUT: give a positive duration, e.g. 30s".into(),
            ));
        }
        let sse: Sse = self.s3_sse.parse()?;
        if sse != Sse::Kms && self.s3_sse_kms_key_id.is_some() {
            return Err(Error::Config(
                "--s3-sse-kms-key-id / REWIND_S3_SSE_KMS_KEY_ID is set but --s3-sse is not kms; set REWIND_S3_SSE=kms or drop the key id".into(),
            ));
        }
        Ok(S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            path_style: self.s3_path_style,
            allow_http: self.s3_allow_http,
            sse,
            sse_kms_key_id: self.s3_sse_kms_key_id.clone(),
            timeout: Some(self.store_timeout),
        })
    }
}

/// Bounds on what rewind reads (every command honours them).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest manifest file (or stdin stream) accepted, in bytes.
    #[arg(long, global = true, default_value_t = Limits::default().max_file_bytes)]
    pub max_file_bytes: u64,
    /// Largest total of all manifest files, in bytes.
    #[arg(long, global = true, default_value_t = Limits::default().max_total_bytes)]
    pub max_total_bytes: u64,
    /// Deepest YAML nesting accepted.
    #[arg(long, global = true, default_value_t = Limits::default().max_depth)]
    pub max_depth: usize,
    /// Most YAML documents in one file.
    #[arg(long, global = true, default_value_t = Limits::default().max_documents)]
    pub max_documents: usize,
    /// Most events YAML aliases may expand to in one file.
    #[arg(long, global = true, default_value_t = Limits::default().max_alias_events)]
    pub max_alias_events: usize,
}

impl LimitArgs {
    /// The limits these flags give.
    pub fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_total_bytes: self.max_total_bytes,
            max_depth: self.max_depth,
            max_documents: self.max_documents,
            max_alias_events: self.max_alias_events,
        }
    }
}

/// How config changes reach the pods.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// annotation (rewind.dev/config-hash on pod templates) or suffix (kustomize-style names).
    #[arg(long, value_parser = parse_hash_mode)]
    pub hash_mode: Option<HashMode>,
    /// Suffix mode: previous versions of each renamed ConfigMap/Secret to keep (default 3).
    #[arg(long)]
    pub keep_config_versions: Option<usize>,
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

/// What `render` prints: a YAML stream (what is recorded) or a JSON `List`.
// Doc comments on the variants would become clap's per-value help and switch `--help` to its long form.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// What `history` prints: a table for people, or the records as JSON.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
}

/// The subcommands. Each one's flags are built only when it runs (`defer`):
/// building all eleven costs a render a noticeable share of its start-up.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Render a directory (or stdin) with config hashes, record it as a release, print it.
    #[command(
        after_help = "Examples:\n  rewind render examples/guestbook\n  kustomize build overlays/prod | rewind render - --app guestbook\n  rewind render examples/guestbook --set IMAGE_TAG=v2 -o json --no-record"
    )]
    Render(RenderArgs),
    /// Argo CD CMP entry point: render the current directory (or print a rollback target) from the CMP environment.
    #[command(
        after_help = "Runs from plugin.yaml; everything comes from the environment:\n  ARGOCD_APP_NAME=guestbook ARGOCD_APP_NAMESPACE=default rewind generate\n  ARGOCD_APP_NAME=guestbook ARGOCD_ENV_REWIND_ROLLBACK_TO=previous rewind generate"
    )]
    Generate(GenerateArgs),
    /// List an app's releases.
    #[command(after_help = "Examples:\n  rewind history guestbook\n  rewind history guestbook -o json")]
    History(HistoryArgs),
    /// Print a release's manifest (or its record with --meta).
    #[command(
        after_help = "Examples:\n  rewind show guestbook 3\n  rewind show guestbook latest --meta\n  rewind show guestbook last-good | kubectl apply -f -"
    )]
    Show(ShowArgs),
    /// Unified diff between two releases' manifests (Secret values redacted).
    #[command(after_help = "Examples:\n  rewind diff guestbook 1 2\n  rewind diff guestbook previous latest")]
    Diff(DiffArgs),
    /// Record a rollback release copying a target's manifest, and print that manifest.
    #[command(
        after_help = "Examples:\n  rewind rollback guestbook --to 1\n  rewind rollback guestbook --to previous --dry-run\n  rewind rollback guestbook --to last-good | kubectl apply -f -\n  rewind rollback guestbook --to previous --application argocd/guestbook\n  rewind rollback --clear --application argocd/guestbook\n  rewind rollback --to 1 --rewind-source flux-system/guestbook\n  rewind rollback --clear --rewind-source flux-system/guestbook"
    )]
    Rollback(RollbackArgs),
    /// Show an Argo CD Application's or a Flux RewindSource's pin, last-good and latest releases.
    #[command(
        after_help = "Examples:\n  rewind status --application argocd/guestbook\n  rewind status --rewind-source flux-system/guestbook"
    )]
    Status(StatusArgs),
    /// Run the release lifecycle controller for Argo CD and/or Flux (logs to stderr, prints nothing).
    #[command(
        after_help = "Argo CD: marks the release an Application synced deployed (Healthy) or failed (sync failed, or\n\
Degraded past --degraded-grace); with auto-rollback (annotation rewind.dev/auto-rollback: \"true\" or\n\
--auto-rollback) pins the newest deployed release before a failed one.\n\
Flux (--integrations flux): renders each RewindSource's Flux source and serves it as an ExternalArtifact\n\
on --artifact-listen; follows the Kustomizations that apply it the same way (spec.autoRollback).\n\
Uses KUBECONFIG or the in-cluster service account.\n\n\
Examples:\n  rewind serve --store kubernetes://argocd\n  rewind serve --store kubernetes://argocd --namespaces argocd,team-a --auto-rollback --degraded-grace 5m\n  rewind serve --store kubernetes://flux-system --integrations flux \\\n    --artifact-base-url http://rewind-artifacts.flux-system.svc.cluster.local.:9090"
    )]
    Serve(ServeArgs),
    /// Push a release as a Flux OCI artifact (for OCIRepository); prints the manifest digest.
    #[command(
        after_help = "Examples:\n  rewind push oci://ghcr.io/org/manifests/guestbook:v7 --app guestbook \\\n    --source https://github.com/org/repo --revision main@sha1:$(git rev-parse HEAD)\n  rewind push oci://localhost:5000/guestbook:prev --app guestbook --release previous --insecure \\\n    --source https://github.com/org/repo --revision main@sha1:0123abc"
    )]
    Push(PushArgs),
    /// Set a release's status (deployed marks the previously deployed one superseded).
    #[command(
        after_help = "Examples:\n  rewind mark guestbook 3 --status deployed\n  rewind mark guestbook 4 --status failed"
    )]
    Mark(MarkArgs),
    /// Re-wrap an app's encrypted releases under the key file's first key (after adding a key).
    #[command(after_help = "Rotation: put the new key first in the key file, keep the old one listed, then\n  \
rewind rekey guestbook --encryption-key-file /etc/rewind/keys.yaml\n\
Once every app is rekeyed the old key can leave the file. Payloads are not rewritten; plain\n\
releases (recorded without a key file) stay as they are.")]
    Rekey(RekeyArgs),
}

/// Arguments of `rewind rekey`.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// App name.
    pub app: String,
}

/// Arguments of `rewind render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory of *.yaml/*.yml/*.json files, or - for one stream on stdin.
    #[arg(default_value = ".")]
    pub path: String,
    /// App name (default: `app` in rewind.yaml, else the directory's name).
    #[arg(long)]
    pub app: Option<String>,
    /// Variable for ${VAR} substitution (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Namespace objects without one will be applied to (for matching references).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Output format (the release always records the YAML stream).
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    /// Do not record a release.
    #[arg(long)]
    pub no_record: bool,
    /// Leave ${VAR} untouched.
    #[arg(long)]
    pub no_substitute: bool,
    /// Run this renderer from the renderers file instead of reading the files.
    #[arg(long, value_name = "NAME", conflicts_with = "renderer_command")]
    pub renderer: Option<String>,
    /// Run your own renderer command in PATH (split on spaces, no shell), e.g.
    /// "kustomize build overlays/prod". A repository can never choose a command.
    #[arg(long, value_name = "COMMAND")]
    pub renderer_command: Option<String>,
    /// Accept a render with no objects (else refused: Argo CD would prune the whole app).
    #[arg(long)]
    pub allow_empty: bool,
    /// How config changes reach the pods.
    #[command(flatten)]
    pub hash: HashArgs,
}

/// Arguments of `rewind generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// App key (default: ARGOCD_APP_NAME).
    #[arg(long)]
    pub app: Option<String>,
    /// Extra variable for ${VAR} substitution (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// How config changes reach the pods.
    #[command(flatten)]
    pub hash: HashArgs,
    /// When the release store fails: fail (exit non-zero, print nothing) or warn (print the manifest, emit a RollbackStoreFailed Event).
    #[arg(long, env = "REWIND_ON_STORE_ERROR", default_value = "fail", value_parser = parse_policy)]
    pub on_store_error: StoreErrorPolicy,
}

/// Arguments of `rewind history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// App name.
    pub app: String,
    // A doc comment here would become help text; `--output table|json` explains itself.
    #[allow(missing_docs)]
    #[arg(short, long, value_enum, default_value_t = TableFormat::Table)]
    pub output: TableFormat,
}

/// Arguments of `rewind show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// App name.
    pub app: String,
    /// Revision: a number, latest, previous or last-good.
    pub revision: String,
    /// Print the release record as JSON instead of the manifest.
    #[arg(long)]
    pub meta: bool,
}

/// Arguments of `rewind diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// App name.
    pub app: String,
    /// Old revision.
    pub a: String,
    /// New revision.
    pub b: String,
}

/// Arguments of `rewind rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// App name (the key releases are stored under).
    #[arg(required_unless_present_any = ["clear", "rewind_source"])]
    pub app: Option<String>,
    /// Target: a revision number, previous or last-good.
    #[arg(long, required_unless_present = "clear")]
    pub to: Option<String>,
    /// Print the diff against the latest revision; record and patch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Pin this Argo CD Application (NAMESPACE/NAME) to the target instead of recording here:
    /// sets REWIND_ROLLBACK_TO in the plugin env of its rewind source.
    #[arg(long, value_name = "NAMESPACE/NAME", conflicts_with = "rewind_source")]
    pub application: Option<String>,
    /// Pin this Flux RewindSource (NAMESPACE/NAME) to the target: sets its spec.rollbackTo,
    /// and rewind serve publishes that release's artifact again.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub rewind_source: Option<String>,
    /// Remove the pin from --application or --rewind-source, so the source's head deploys again.
    #[arg(long, conflicts_with_all = ["to", "dry_run"])]
    pub clear: bool,
    /// With --application: the rewind source to pin, by its source-name (REWIND_SOURCE_NAME),
    /// when the Application has more than one.
    #[arg(long, requires = "application", value_name = "NAME")]
    pub source_name: Option<String>,
    /// Argo CD's control-plane namespace (app keys there are the bare name).
    #[arg(long, default_value = crate::argocd::application::DEFAULT_ARGOCD_NAMESPACE)]
    pub argocd_namespace: String,
    /// Roll back even where a check refuses (a forward-only release in between, a closed window,
    /// an unserved API, the image policy); recorded with the rollback.
    #[arg(long, conflicts_with = "clear")]
    pub force: bool,
    /// Why: recorded with the rollback.
    #[arg(long, value_name = "TEXT", conflicts_with = "clear")]
    pub reason: Option<String>,
    /// The API versions the cluster serves, as Argo CD's KUBE_API_VERSIONS: comma-separated
    /// group/version and group/version/Kind (core: v1, v1/ConfigMap), or @FILE with one a line.
    /// Without it the API version check is skipped.
    #[arg(long, value_name = "LIST|@FILE", conflicts_with = "clear")]
    pub kube_api_versions: Option<String>,
    /// Images not pinned by digest: warn (default) or require-digest (refuse).
    #[arg(long, value_name = "POLICY", conflicts_with = "clear")]
    pub image_policy: Option<String>,
}

/// Arguments of `rewind status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The Argo CD Application, NAMESPACE/NAME.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        required_unless_present = "rewind_source",
        conflicts_with = "rewind_source"
    )]
    pub application: Option<String>,
    /// The Flux RewindSource, NAMESPACE/NAME.
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub rewind_source: Option<String>,
    /// Argo CD's control-plane namespace (app keys there are the bare name).
    #[arg(long, default_value = crate::argocd::application::DEFAULT_ARGOCD_NAMESPACE)]
    pub argocd_namespace: String,
    /// The rewind source, by its source-name, when the Application has more than one.
    #[arg(long, value_name = "NAME", requires = "application")]
    pub source_name: Option<String>,
}

/// Arguments of `rewind push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Where: oci://HOST/REPOSITORY:TAG.
    #[arg(value_name = "oci://HOST/REPOSITORY:TAG")]
    pub url: String,
    /// App name (the key releases are stored under).
    #[arg(long)]
    pub app: String,
    /// The release: a revision number, latest, previous or last-good.
    #[arg(long, default_value = "latest")]
    pub release: String,
    /// The source's URL, for the org.opencontainers.image.source annotation.
    #[arg(long)]
    pub source: String,
    /// The source's revision (e.g. main@sha1:<commit>), for org.opencontainers.image.revision.
    #[arg(long)]
    pub revision: String,
    /// The registry speaks plain HTTP (OCIRepository spec.insecure: true).
    #[arg(long)]
    pub insecure: bool,
}

/// Arguments of `rewind serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "REWIND_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// Namespaces to watch Applications in, comma-separated (default: all).
    #[arg(long, env = "REWIND_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Argo CD's control-plane namespace (app keys there are the bare name).
    #[arg(long, env = "REWIND_ARGOCD_NAMESPACE", default_value = crate::argocd::application::DEFAULT_ARGOCD_NAMESPACE)]
    pub argocd_namespace: String,
    /// How long health may stay Degraded after a sync before its release fails.
    #[arg(long, env = "REWIND_DEGRADED_GRACE", default_value = "3m", value_parser = parse_duration)]
    pub degraded_grace: std::time::Duration,
    /// Failures older than this are left alone (no marking, no rollback).
    #[arg(long, env = "REWIND_MAX_FAILURE_AGE", default_value = "20m", value_parser = parse_duration)]
    pub max_failure_age: std::time::Duration,
    /// Roll back every Application on failure unless it is annotated rewind.dev/auto-rollback: "false".
    #[arg(long, env = "REWIND_AUTO_ROLLBACK")]
    pub auto_rollback: bool,
    /// What to serve, comma-separated: argocd (Applications), flux (RewindSources).
    #[arg(long, env = "REWIND_INTEGRATIONS", value_delimiter = ',', default_value = "argocd")]
    pub integrations: Vec<Integration>,
    /// Address of the Flux artifact server.
    #[arg(long, env = "REWIND_ARTIFACT_LISTEN", default_value = "0.0.0.0:9090")]
    pub artifact_listen: String,
    /// URL kustomize-controller reaches the artifact server at, e.g. the
    /// Service: http://rewind-artifacts.flux-system.svc.cluster.local.:9090
    #[arg(long, env = "REWIND_ARTIFACT_BASE_URL")]
    pub artifact_base_url: Option<String>,
    /// How often each RewindSource's Flux source is checked without news.
    #[arg(long, env = "REWIND_FLUX_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub flux_interval: std::time::Duration,
    /// File with the HMAC token of POST /flux/events (notification-controller's
    /// generic-hmac provider); without it the endpoint is off.
    #[arg(long, env = "REWIND_FLUX_WEBHOOK_TOKEN_FILE")]
    pub flux_webhook_token_file: Option<PathBuf>,
    /// Refuse a RewindSource whose spec.sourceRef names another namespace (as Flux's
    /// --no-cross-namespace-refs).
    #[arg(long, env = "REWIND_NO_CROSS_NAMESPACE_REFS")]
    pub no_cross_namespace_refs: bool,
}

/// An integration `rewind serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Integration {
    /// Argo CD Applications.
    Argocd,
    /// Flux RewindSources.
    Flux,
}

/// Arguments of `rewind mark`.
#[derive(Debug, Args)]
pub struct MarkArgs {
    /// App name.
    pub app: String,
    /// Revision number.
    pub revision: u64,
    /// New status.
    #[arg(long)]
    pub status: Status,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand's flags, deferred until it runs, still make a valid command line.
    #[test]
    fn deferred_subcommands_are_valid() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["rewind", "render", "dir", "--app", "a", "--no-record"]).unwrap();
        assert!(matches!(cli.command, Command::Render(ref r) if r.app.as_deref() == Some("a")));
    }
}
