//! The main job for one app, shared by `rewind render` and `rewind generate`:
//! flags + the Application's settings + `rewind.yaml` → a [`Job`] (resolved
//! once, here), then render → hash → emit → record. Data flows one way;
//! nothing here prints.

use crate::context::{
    ALLOW_EMPTY_SETTING, AppConfig, HASH_MODE_SETTING, HISTORY_MAX_SETTING, RENDERER_SETTING, bool_setting,
};
use crate::error::{Error, Result};
use crate::hash::{DEFAULT_KEEP_VERSIONS, HashMode, HashOptions, apply, prepare};
use crate::history::{DEFAULT_HISTORY_MAX, History, NewRelease, Recorded};
use crate::manifest::{Limits, Object, give_back, parse_stream, take_yaml};
use crate::release::{AppKey, RollbackClass, SourceInfo};
use crate::render::{
    RenderOptions, RendererJob, RendererRequest, Renderers, Source, render, render_with, substitution_active,
};
use crate::rollback;
use std::collections::BTreeMap;

/// Everything one run needs to know, already resolved from flags, env and `rewind.yaml`.
#[derive(Debug, Clone)]
pub struct Job {
    /// App key in the store.
    pub app: AppKey,
    /// What to render.
    pub source: Source,
    /// How to render.
    pub render: RenderOptions,
    /// How config changes reach the pods.
    pub hash: HashOptions,
    /// Revisions to keep.
    pub history_max: usize,
    /// Provenance recorded with the release.
    pub source_info: SourceInfo,
    /// The rollback class `rewind.yaml` declares (objects may add to it).
    pub class: Option<RollbackClass>,
    /// Whether [`Rendered::objects`] keep their whole bodies (for JSON
    /// output). Else, in annotation mode, each object is emitted as soon as
    /// it is parsed and only its metadata stays (see [`crate::hash::prepare`]).
    pub keep_bodies: bool,
}

/// The flags of `render` and `generate` that shape a job.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// Input limits.
    pub limits: Limits,
    /// `--history-max`.
    pub history_max: Option<usize>,
    /// `--hash-mode`.
    pub hash_mode: Option<HashMode>,
    /// `--keep-config-versions`.
    pub keep_config_versions: Option<usize>,
    /// `--set K=V`.
    pub sets: BTreeMap<String, String>,
    /// `--no-substitute`.
    pub no_substitute: bool,
    /// `--namespace`.
    pub namespace: Option<String>,
    /// `--renderer NAME`.
    pub renderer: Option<String>,
    /// `--renderer-command` (a person's own command, never a repository's).
    pub renderer_command: Option<String>,
    /// `--allow-empty`.
    pub allow_empty: bool,
}

/// What the Application contributes (under Argo CD; empty for `rewind render`).
#[derive(Debug, Clone, Default)]
pub struct Application {
    /// rewind's settings by name (`hash-mode`, …), as the Application gives them.
    pub settings: BTreeMap<String, String>,
    /// `${VAR}` values: build variables, plugin env, parameters.
    pub vars: BTreeMap<String, String>,
    /// Whether those include variables of the Application's own (which turns substitution on).
    pub has_user_vars: bool,
    /// What a renderer may see of the environment (`ARGOCD_APP_*`, `ARGOCD_ENV_*`, …).
    pub plugin_vars: BTreeMap<String, String>,
    /// The destination namespace (`ARGOCD_APP_NAMESPACE`).
    pub namespace: Option<String>,
}

impl Application {
    fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(String::as_str)
    }
}

/// Resolves a job for `app` from its source, `rewind.yaml`, the flags and
/// the Application, in that order of precedence (lowest first) for
/// variables; flags win over the Application's settings, which win over
/// `rewind.yaml`.
pub fn resolve(
    app: AppKey,
    source: Source,
    source_info: SourceInfo,
    config: &AppConfig,
    flags: &Flags,
    application: &Application,
    renderers: &Renderers,
) -> Result<Job> {
    let has_vars = !config.vars.is_empty() || !flags.sets.is_empty() || application.has_user_vars;
    let mut vars = config.vars.clone();
    vars.extend(application.vars.clone());
    vars.extend(flags.sets.clone());
    let renderer = match source {
        Source::Stdin => None,
        Source::Dir(_) => renderer_job(renderers, flags, application, config)?,
    };
    let hash_mode = match (flags.hash_mode, application.setting(HASH_MODE_SETTING)) {
        (Some(m), _) => Some(m),
        (None, Some(s)) => {
            Some(s.parse().map_err(|e: Error| Error::Config(format!("{HASH_MODE_SETTING} / REWIND_HASH_MODE: {e}")))?)
        }
        (None, None) => None,
    };
    Ok(Job {
        render: RenderOptions {
            vars,
            substitute: !flags.no_substitute && substitution_active(config.substitute, has_vars),
            limits: flags.limits,
            renderer,
            allow_empty: allow_empty(flags.allow_empty, application.setting(ALLOW_EMPTY_SETTING), config)?,
        },
        hash: HashOptions {
            mode: hash_mode.or(config.hash_mode).unwrap_or_default(),
            default_namespace: flags
                .namespace
                .clone()
                .or(application.namespace.clone())
                .or(config.namespace.clone())
                .unwrap_or_default(),
            keep_versions: flags.keep_config_versions.or(config.keep_config_versions).unwrap_or(DEFAULT_KEEP_VERSIONS),
        },
        history_max: history_max(flags.history_max, application.setting(HISTORY_MAX_SETTING), config)?,
        app,
        source,
        source_info,
        class: configured_class(config)?,
        keep_bodies: false,
    })
}

/// The rollback class `rewind.yaml` declares, checked.
fn configured_class(config: &AppConfig) -> Result<Option<RollbackClass>> {
    match (&config.rollback_class, &config.rollback_window) {
        (Some(class), window) => Ok(Some(rollback::class::declared(
            class,
            window.as_deref(),
            config.rollback_note.as_deref(),
            "rewind.yaml rollbackClass",
        )?)),
        (None, Some(_)) => {
            Err(Error::Config("rewind.yaml: rollbackWindow needs rollbackClass: reversible-with-window".into()))
        }
        (None, None) => Ok(None),
    }
}

/// The result of rendering.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The objects, hashed: whole unless the job says otherwise ([`Job::keep_bodies`]).
    pub objects: Vec<Object>,
    /// The YAML stream: what is printed and stored.
    pub manifest: Vec<u8>,
}

/// Renders and hashes. `previous` holds earlier releases' objects, newest
/// first (see [`previous_objects`]); only suffix mode reads them.
pub fn build(job: &Job, previous: &[Object]) -> Result<Rendered> {
    let namespace = job.hash.default_namespace.as_str();
    let mut objects = if job.hash.mode == HashMode::Annotation && !job.keep_bodies {
        render_with(&job.source, &job.render, &|obj| prepare(obj, namespace))?
    } else {
        render(&job.source, &job.render)?
    };
    // Source files and trees were freed in between the prepared objects.
    give_back();
    apply(&mut objects, &job.hash, previous)?;
    let manifest = take_yaml(&mut objects)?.into_bytes();
    Ok(Rendered { objects, manifest })
}

/// Whether the job reads the store before rendering (suffix mode keeps previous config versions).
pub fn needs_previous(job: &Job) -> bool {
    job.hash.mode == HashMode::Suffix && job.hash.keep_versions > 0
}

/// The objects of an app's stored releases, newest release first, when the
/// job's hash mode needs them.
pub fn previous_objects(history: Option<&History>, job: &Job) -> Result<Vec<Object>> {
    let Some(history) = history.filter(|_| needs_previous(job)) else { return Ok(Vec::new()) };
    let unlimited = job.render.limits.any_size();
    let mut objects = Vec::new();
    for meta in history.list(&job.app)?.iter().rev() {
        let release = history.get(&job.app, meta.revision)?;
        let what = format!("{} revision {} (stored)", job.app, meta.revision);
        let text = std::str::from_utf8(&release.manifest)
            .map_err(|_| Error::Corrupt(format!("{what}: manifest is not UTF-8")))?;
        objects.extend(parse_stream(text, &what, &unlimited)?);
    }
    Ok(objects)
}

/// Records a rendered manifest as a `pending` release (deduped by digest).
/// The manifest is lent to the history, not copied: it is back in `rendered`
/// when this returns, whatever happened.
pub fn record_rendered(history: &History, job: &Job, rendered: &mut Rendered, description: &str) -> Result<Recorded> {
    let class = rollback::class::of_release(job.class.clone(), &rendered.objects)?;
    let new = NewRelease {
        app: job.app.clone(),
        manifest: std::mem::take(&mut rendered.manifest),
        source: job.source_info.clone(),
        rollback_of: None,
        description: description.to_string(),
        class,
        evidence: None,
    };
    let recorded = history.record(&new, job.history_max);
    rendered.manifest = new.manifest;
    recorded
}

/// History limit: the first of flag, Application setting, `rewind.yaml`, default.
pub fn history_max(flag: Option<usize>, setting: Option<&str>, config: &AppConfig) -> Result<usize> {
    let from_setting = match setting {
        Some(s) => Some(s.trim().parse::<usize>().map_err(|_| {
            Error::Config(format!(
                "history-max {s:?} (parameter history-max or env REWIND_HISTORY_MAX) is not a whole number"
            ))
        })?),
        None => None,
    };
    let n = flag.or(from_setting).or(config.history_max).unwrap_or(DEFAULT_HISTORY_MAX);
    if n == 0 {
        return Err(Error::Config("history-max must be at least 1".into()));
    }
    Ok(n)
}

/// The renderer a job runs, if any: the first of a person's
/// `--renderer-command`, `--renderer NAME`, the Application setting
/// `renderer`, then `renderer` in `rewind.yaml`. Names resolve only against
/// the operator's `renderers`.
fn renderer_job(
    renderers: &Renderers,
    flags: &Flags,
    application: &Application,
    config: &AppConfig,
) -> Result<Option<RendererJob>> {
    let renderer = if let Some(line) = &flags.renderer_command {
        Some(renderers.command_line(line)?)
    } else if let Some(name) = &flags.renderer {
        Some(renderers.pick(&RendererRequest::named(name, "--renderer"))?)
    } else if let Some(name) = application.setting(RENDERER_SETTING) {
        Some(renderers.pick(&RendererRequest::named(name, "the Application setting renderer (REWIND_RENDERER)"))?)
    } else {
        config.renderer_request()?.map(|request| renderers.pick(&request)).transpose()?
    };
    Ok(renderer.map(|renderer| RendererJob {
        renderer,
        pass_env: renderers.pass_env.clone(),
        app_env: application.plugin_vars.clone(),
    }))
}

/// Whether rendering nothing is intended: `--allow-empty`, else the
/// Application setting `allow-empty`, else `allowEmpty` in `rewind.yaml`.
fn allow_empty(flag: bool, setting: Option<&str>, config: &AppConfig) -> Result<bool> {
    if flag {
        return Ok(true);
    }
    Ok(bool_setting(ALLOW_EMPTY_SETTING, setting)?.or(config.allow_empty).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(config: &AppConfig, flags: &Flags, application: &Application) -> Result<Job> {
        let app = AppKey::new("a").unwrap();
        let source = Source::Dir("/nonexistent".into());
        resolve(app, source, SourceInfo::default(), config, flags, application, &Renderers::default())
    }

    #[test]
    fn flags_win_over_the_application_which_wins_over_rewind_yaml() {
        let config = AppConfig {
            vars: BTreeMap::from([("A".into(), "yaml".into()), ("B".into(), "yaml".into())]),
            history_max: Some(4),
            hash_mode: Some(HashMode::Suffix),
            namespace: Some("from-yaml".into()),
            ..AppConfig::default()
        };
        let application = Application {
            settings: BTreeMap::from([("history-max".into(), "6".into()), ("hash-mode".into(), "annotation".into())]),
            vars: BTreeMap::from([("A".into(), "app".into())]),
            namespace: Some("dest".into()),
            ..Application::default()
        };
        let j = job(&config, &Flags::default(), &application).unwrap();
        assert_eq!((j.history_max, j.hash.mode, j.hash.default_namespace.as_str()), (6, HashMode::Annotation, "dest"));
        assert_eq!((j.render.vars["A"].as_str(), j.render.vars["B"].as_str()), ("app", "yaml"));
        assert!(j.render.substitute, "rewind.yaml's vars turn substitution on");
        let flags = Flags {
            history_max: Some(2),
            sets: BTreeMap::from([("A".into(), "flag".into())]),
            no_substitute: true,
            ..Flags::default()
        };
        let j = job(&config, &flags, &application).unwrap();
        assert_eq!((j.history_max, j.render.vars["A"].as_str(), j.render.substitute), (2, "flag", false));
        let bad = Application { settings: BTreeMap::from([("hash-mode".into(), "md5".into())]), ..application };
        assert!(job(&config, &Flags::default(), &bad).unwrap_err().to_string().contains("REWIND_HASH_MODE"));
    }

    /// Edge cases of preparing objects on the parser's threads: configs after
    /// their workloads, missing and opted-out configs, immutable templates,
    /// templates without metadata or annotations, an annotation already set,
    /// shapes that cannot be prepared, a List, namespaces, and a workload whose
    /// own text holds the placeholder's line.
    const PREPARE_CASES: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: early}
spec:
  template:
    spec:
      containers: [{name: c, envFrom: [{configMapRef: {name: late}}], env: [{name: P, valueFrom: {secretKeyRef: {name: s, key: p}}}]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: late}
data: {a: "1", b: "on"}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {p: x, q: y}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: missing}
spec:
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, envFrom: [{secretRef: {name: elsewhere}}]}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: has-annotations}
spec:
  template:
    metadata: {annotations: {x: y}}
    spec: {volumes: [{name: v, configMap: {name: late, items: [{key: b, path: b}]}}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: already}
spec:
  template:
    metadata: {annotations: {rewind.dev/config-hash: set-by-hand}}
    spec: {containers: [{name: c, envFrom: [{configMapRef: {name: late}}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: already-unseen}
spec:
  template:
    metadata: {annotations: {a: b, rewind.dev/config-hash: 42, z: w}}
    spec: {containers: [{name: c, envFrom: [{configMapRef: {name: elsewhere}}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: odd-metadata}
spec:
  template:
    metadata: {annotations: null}
    spec: {containers: [{name: c, envFrom: [{configMapRef: {name: late}}]}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: job}
spec: {template: {spec: {containers: [{name: c, envFrom: [{configMapRef: {name: late}}]}]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: pod, annotations: {rewind.dev/hash: "true"}}
spec: {containers: [{name: c, envFrom: [{secretRef: {name: s}}]}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron, namespace: other}
spec:
  schedule: "* * * * *"
  jobTemplate: {spec: {template: {spec: {containers: [{name: c, envFrom: [{configMapRef: {name: late}}]}]}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: late, namespace: other}
data: {a: "2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: opted-off, annotations: {rewind.dev/hash: "false"}}
data: {a: "3"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sees-opted-out}
spec: {template: {spec: {containers: [{name: c, envFrom: [{configMapRef: {name: opted-off}}]}]}}}
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: in-list
    annotations: {note: "rewind.dev/config-hash: rewind-config-hash-placeholder-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nline 2\n"}
  spec:
    template:
      spec:
        containers:
        - name: c
          envFrom: [{configMapRef: {name: late}}]
- apiVersion: v1
  kind: Service
  metadata: {name: svc}
  spec: {ports: [{port: 80}]}
"#;

    /// Output bytes of `build` on `dir`, with objects kept whole or prepared.
    fn built(dir: &std::path::Path, keep_bodies: bool) -> Vec<u8> {
        let mut job = job(&AppConfig::default(), &Flags::default(), &Application::default()).unwrap();
        job.source = Source::Dir(dir.to_path_buf());
        job.keep_bodies = keep_bodies;
        let rendered = build(&job, &[]).unwrap();
        assert_eq!(rendered.objects.iter().any(Object::is_prepared), !keep_bodies);
        // Workloads that already carry the annotation (rewind's own output) are prepared too.
        let already = rendered.objects.iter().filter(|o| o.display_id().contains("already"));
        assert!(already.clone().all(|o| o.is_prepared() != keep_bodies), "{:?}", already.count());
        rendered.manifest
    }

    #[test]
    fn prepared_objects_give_the_bytes_of_whole_ones() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let mut dirs = vec![root.join("argocd-install"), root.join("online-boutique")];
        let cases = tempfile::tempdir().unwrap();
        std::fs::write(cases.path().join("cases.yaml"), PREPARE_CASES).unwrap();
        dirs.push(cases.path().to_path_buf());
        for dir in &dirs {
            let whole = built(dir, true);
            assert_eq!(built(dir, false), whole, "{}", dir.display());
        }
        let out = String::from_utf8(built(cases.path(), false)).unwrap();
        // early, has-annotations, already, already-unseen's own (kept as it was),
        // odd-metadata, pod, cron, in-list, and in-list's note.
        assert_eq!(out.matches("rewind.dev/config-hash: ").count(), 9, "{out}");
        assert!(
            out.contains("annotations:\n        a: b\n        rewind.dev/config-hash: 42\n        z: w\n"),
            "{out}"
        );
        assert_eq!(out.matches("rewind-config-hash-placeholder").count(), 1, "only the one in the note:\n{out}");
    }

    /// Strings that are hard to write and read back in YAML.
    const HARD_STRINGS: &[&str] = &[
        "",
        " ",
        "  lead",
        "trail  ",
        "a\nb",
        "a\n",
        "a\n\n",
        "\n",
        "\nlead",
        "tab\there",
        "\ttab",
        "cr\r\nlf",
        "on",
        "yes",
        "~",
        "null",
        "0644",
        "1_000",
        "1e3",
        ".inf",
        "0x1F",
        "12:30",
        "2001-12-14",
        "- item",
        "key: value",
        "# comment",
        "'single'",
        "\"double\"",
        "back\\slash",
        "{flow}",
        "[seq]",
        "&anchor",
        "*alias",
        "!tag",
        "%YAML",
        "---",
        "...",
        "emoji 😀",
        "nel\u{85}ls\u{2028}ps\u{2029}",
        "bom\u{feff}",
        "bell\u{7}",
        "del\u{7f}",
    ];

    /// A key digest of a prepared config is made from its YAML read back:
    /// every string must read back as it was, or workloads would get other
    /// hashes than whole objects give. Fuzz inputs serve as strings too.
    #[test]
    fn prepared_configs_read_back_every_string() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_manifest");
        let mut values: Vec<String> = HARD_STRINGS.iter().map(|s| s.to_string()).collect();
        for entry in std::fs::read_dir(fuzz).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            values.push(String::from_utf8_lossy(&bytes).replace('\0', ""));
        }
        let mut objects = Vec::new();
        for (i, value) in values.iter().enumerate() {
            objects.push(
                serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")},
                "data": {"v": value, "other": "x"}}),
            );
            let env = serde_json::json!([{"name": "V", "valueFrom": {"configMapKeyRef": {"name": format!("c{i}"), "key": "v"}}}]);
            objects.push(
                serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("d{i}")},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "env": env}]}}}}),
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
        // Written by the emitter: JSON text would carry characters YAML does not allow raw.
        std::fs::write(dir.path().join("app.yaml"), serde_saphyr::to_string(&list).unwrap()).unwrap();
        let whole = built(dir.path(), true);
        assert!(values.len() > 1000 && String::from_utf8_lossy(&whole).matches("config-hash").count() == values.len());
        assert!(built(dir.path(), false) == whole, "a string read back differently");
    }
}
