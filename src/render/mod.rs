//! Source → objects: read the files (or stdin, or a renderer's output),
//! substitute `${VAR}`s, parse, and check the set as a whole.

mod command;
pub mod renderers;
mod substitute;
mod walk;

pub use renderers::{Renderer, RendererRequest, Renderers};
pub use substitute::{is_var_name, substitute, substitute_from};
pub use walk::{APP_CONFIG_FILE, SourceFile, collect, read_root_file};

use crate::error::{Error, Result};
use crate::manifest::{Finish, Limits, Object, decode_utf8, parse_stream, parse_stream_with, run_parts};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;

/// Where manifests come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A directory of YAML/JSON files (or one a renderer command runs in).
    Dir(PathBuf),
    /// One stream on standard input (`rewind render -`).
    Stdin,
}

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Values for `${VAR}`.
    pub vars: BTreeMap<String, String>,
    /// Whether to substitute at all (see [`substitution_active`]).
    pub substitute: bool,
    /// Input limits.
    pub limits: Limits,
    /// An operator-defined renderer to run in the directory instead of reading files.
    pub renderer: Option<RendererJob>,
    /// Whether rendering no objects at all is intended (`allowEmpty`).
    pub allow_empty: bool,
}

/// A renderer and what it may see of the environment.
#[derive(Debug, Clone)]
pub struct RendererJob {
    /// The operator's renderer, as picked.
    pub renderer: Renderer,
    /// Variables of rewind's environment the operator lets through (proxies…).
    pub pass_env: Vec<String>,
    /// The app's own variables, as Argo CD passes them to plugins
    /// (`ARGOCD_APP_*`, `KUBE_*`, `ARGOCD_ENV_*`, `PARAM_*`).
    pub app_env: BTreeMap<String, String>,
}

/// Renders a source into objects, in file order then document order.
pub fn render(source: &Source, opts: &RenderOptions) -> Result<Vec<Object>> {
    render_with(source, opts, &|obj| obj)
}

/// [`render`], passing each object through `finish` on its parser's thread
/// as soon as it is parsed (see [`parse_stream_with`]). Not when a renderer
/// wrote to stderr: showing that needs the Secret values of every object,
/// which an object `finish` prepared no longer has.
pub fn render_with(source: &Source, opts: &RenderOptions, finish: &Finish) -> Result<Vec<Object>> {
    let (inputs, stderr): (Vec<SourceFile>, Option<Vec<u8>>) = match (source, &opts.renderer) {
        (Source::Stdin, _) => (vec![SourceFile::from_bytes("<stdin>", read_stdin(&opts.limits)?)], None),
        (Source::Dir(dir), Some(job)) => {
            let out = run_renderer(job, dir, opts)?;
            (vec![SourceFile::from_bytes(format!("<renderer {}>", job.renderer.name), out.stdout)], Some(out.stderr))
        }
        (Source::Dir(dir), None) => (collect(dir, &opts.limits)?, None),
    };
    // What a renderer said on stderr, if anything.
    let said = stderr.filter(|stderr| !stderr.iter().all(u8::is_ascii_whitespace));
    let keep = |obj| obj;
    let finish = if said.is_some() { &keep } else { finish };
    let parsed = parse_files(inputs, opts, finish);
    let mut objects = Vec::with_capacity(parsed.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum());
    for parsed in parsed {
        objects.extend(parsed?);
    }
    if let (Some(job), Some(said)) = (&opts.renderer, said) {
        tracing::warn!("{} said: {}", job.renderer.describe(), shown_stderr(&said, &objects));
    }
    if objects.is_empty() && !opts.allow_empty {
        let what = match (source, &opts.renderer) {
            (Source::Stdin, _) => "<stdin>".to_string(),
            (Source::Dir(_), Some(job)) => job.renderer.describe(),
            (Source::Dir(dir), None) => dir.display().to_string(),
        };
        return Err(Error::input(
            what,
            "rendered no objects. Argo CD reads empty output as \"no resources\" and would prune every resource of the app. \
             If that is what you want, set `allowEmpty: true` in rewind.yaml (or the Application parameter allow-empty, or --allow-empty)",
        ));
    }
    check_unique(&objects)?;
    check_config_sizes(&objects)?;
    Ok(objects)
}

/// One file's objects (reading it first if it was only listed).
fn parse_file(file: SourceFile, opts: &RenderOptions, finish: &Finish) -> Result<Vec<Object>> {
    let (rel, bytes) = file.read()?;
    let text = decode_utf8(&bytes, &rel)?;
    if opts.substitute && text.contains("${") {
        parse_substituted(text, &rel, opts, finish)
    } else {
        parse_stream_with(text, &rel, &opts.limits, finish)
    }
}

/// Below this many bytes in all, files are parsed one after another.
const PARALLEL_FILES_BYTES: usize = 256 * 1024;

/// Every file's objects, in file order: the files split into contiguous
/// groups of about equal bytes, a group per core. The caller reports the
/// first error in file order, as parsing one by one would. Each file is read
/// by the thread that parses it, and its bytes are freed once it is parsed,
/// so its memory serves what comes next.
fn parse_files(inputs: Vec<SourceFile>, opts: &RenderOptions, finish: &Finish) -> Vec<Result<Vec<Object>>> {
    let size = |f: &SourceFile| usize::try_from(f.len()).unwrap_or(usize::MAX);
    let total: usize = inputs.iter().map(size).fold(0, usize::saturating_add);
    // The thread count is only looked up where threads could pay.
    let threads = if total < PARALLEL_FILES_BYTES { 1 } else { crate::manifest::threads().min(inputs.len()) };
    if threads < 2 {
        return inputs.into_iter().map(|f| parse_file(f, opts, finish)).collect();
    }
    let mut groups: Vec<Mutex<Vec<SourceFile>>> = Vec::with_capacity(threads);
    let (mut group, mut bytes) = (Vec::new(), 0);
    for f in inputs {
        bytes += size(&f);
        group.push(f);
        if bytes * threads >= total * (groups.len() + 1) && groups.len() + 1 < threads {
            groups.push(Mutex::new(std::mem::take(&mut group)));
        }
    }
    groups.push(Mutex::new(group));
    let bytes = |group: &Mutex<Vec<SourceFile>>| group.lock().map_or(0, |g| g.iter().map(size).sum());
    run_parts(&groups, bytes, |group| {
        let files = group.lock().map(|mut g| std::mem::take(&mut *g)).unwrap_or_default();
        files.into_iter().map(|f| parse_file(f, opts, finish)).collect::<Vec<_>>()
    })
    .into_iter()
    .flat_map(|done| done.unwrap_or_else(|| vec![Err(Error::Config("a parser thread panicked".into()))]))
    .collect()
}

/// Runs the renderer; a failure shows its stderr, capped and with the Secret
/// values of whatever it printed on stdout redacted.
fn run_renderer(job: &RendererJob, dir: &std::path::Path, opts: &RenderOptions) -> Result<command::Captured> {
    command::run(&job.renderer, dir, &job.pass_env, &job.app_env, opts.limits.max_file_bytes).map_err(|failed| {
        let printed = std::str::from_utf8(&failed.output.stdout)
            .ok()
            .and_then(|text| parse_stream(text, "renderer output", &opts.limits).ok())
            .unwrap_or_default();
        let stderr = shown_stderr(&failed.output.stderr, &printed);
        if stderr.is_empty() {
            Error::Renderer(failed.why)
        } else {
            Error::Renderer(format!("{}: {stderr}", failed.why))
        }
    })
}

/// Bytes of a renderer's stderr shown in a message (its end, where errors are).
const SHOWN_STDERR_BYTES: usize = 4096;
/// Shorter Secret values are not redacted: they would blank out ordinary words.
const MIN_REDACTED_LEN: usize = 4;

/// A renderer's stderr for people: trimmed, Secret values of `objects`
/// replaced by `<redacted>`, and only its last 4 KiB.
fn shown_stderr(stderr: &[u8], objects: &[Object]) -> String {
    let mut text = String::from_utf8_lossy(stderr).trim().to_string();
    let mut secrets: Vec<String> = objects.iter().flat_map(Object::secret_values).collect();
    // Longest first, so a value that contains another is redacted whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets.iter().map(|s| s.trim()).filter(|s| s.len() >= MIN_REDACTED_LEN) {
        text = text.replace(secret, "<redacted>");
    }
    if text.len() > SHOWN_STDERR_BYTES {
        let mut cut = text.len() - SHOWN_STDERR_BYTES;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("[{cut} earlier bytes not shown] {}", &text[cut..]);
    }
    text
}

/// The API server's limit on a ConfigMap's or Secret's data.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// A ConfigMap or Secret over 1 MiB would be rejected by the API server in
/// the middle of a sync; refuse it here, naming it.
fn check_config_sizes(objects: &[Object]) -> Result<()> {
    for obj in objects {
        let Some(total) = obj.config_bytes() else { continue };
        if total > MAX_CONFIG_BYTES {
            return Err(Error::input(
                &obj.origin.source,
                format!(
                    "document {} (line {}): {} holds about {total} bytes of data; Kubernetes rejects more than {MAX_CONFIG_BYTES}: split it or mount the data another way",
                    obj.origin.document,
                    obj.origin.line,
                    obj.display_id()
                ),
            ));
        }
    }
    Ok(())
}

/// Annotations (ours and Flux's) that exempt an object from substitution.
pub const SUBSTITUTE_OPT_OUT: [&str; 2] = ["rewind.dev/substitute", "kustomize.toolkit.fluxcd.io/substitute"];

/// Whether substitution runs: as in Flux, where it runs only when `postBuild`
/// gives variables, it runs when the app provides variables (`vars` in
/// rewind.yaml, `--set`, the Application's plugin env or parameters) or sets
/// `substitute: true`; `substitute: false` turns it off. When it runs it is
/// strict: an unset variable without a default is an error.
pub fn substitution_active(configured: Option<bool>, has_vars: bool) -> bool {
    configured.unwrap_or(has_vars)
}

/// Substitutes document by document so objects annotated
/// `rewind.dev/substitute: disabled` (or Flux's annotation) keep their `${...}`.
fn parse_substituted(text: &str, source: &str, opts: &RenderOptions, finish: &Finish) -> Result<Vec<Object>> {
    // First pass finds the documents and their opt-outs. Text that only
    // parses after substitution (e.g. `${X}` inside a flow sequence) is
    // substituted whole.
    let Ok(raw) = parse_stream(text, source, &opts.limits) else {
        return parse_stream_with(&substitute(text, &opts.vars, source)?, source, &opts.limits, finish);
    };
    let opted_out = |o: &Object| SUBSTITUTE_OPT_OUT.iter().any(|a| o.annotation(a) == Some("disabled"));
    if !raw.iter().any(opted_out) {
        return parse_stream_with(&substitute(text, &opts.vars, source)?, source, &opts.limits, finish);
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut done = 0; // lines already copied
    let mut skip_doc = false;
    let mut starts: Vec<(usize, bool)> = Vec::new();
    for o in &raw {
        let start = o.origin.line.saturating_sub(1);
        match starts.last_mut() {
            Some((line, skip)) if *line == start => *skip |= opted_out(o),
            _ => starts.push((start, opted_out(o))),
        }
    }
    for (start, skip) in starts {
        let chunk: String = lines[done..start.min(lines.len())].concat();
        if skip_doc {
            out.push_str(&chunk)
        } else {
            out.push_str(&substitute_at(&chunk, opts, source, done)?)
        }
        done = start.min(lines.len());
        skip_doc = skip;
    }
    let chunk: String = lines[done..].concat();
    if skip_doc {
        out.push_str(&chunk)
    } else {
        out.push_str(&substitute_at(&chunk, opts, source, done)?)
    }
    parse_stream_with(&out, source, &opts.limits, finish)
}

/// Substitutes a chunk that starts at 0-based line `first_line`, keeping line
/// numbers in errors true to the file.
fn substitute_at(chunk: &str, opts: &RenderOptions, source: &str, first_line: usize) -> Result<String> {
    Ok(substitute_from(chunk, &opts.vars, source, first_line)?.into_owned())
}

fn read_stdin(limits: &Limits) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::input("<stdin>", format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::input(
            "<stdin>",
            format!("is over the {}-byte limit; raise it with --max-file-bytes", limits.max_file_bytes),
        ));
    }
    Ok(bytes)
}

/// Two objects with the same group, kind, namespace and name would overwrite
/// each other when applied; refuse rather than guess which one counts.
fn check_unique(objects: &[Object]) -> Result<()> {
    let mut seen: HashMap<(&str, &str, Option<&str>, &str), &Object> = HashMap::with_capacity(objects.len());
    for obj in objects {
        let key = (obj.group(), obj.kind(), obj.namespace(), obj.name());
        if let Some(first) = seen.insert(key, obj) {
            return Err(Error::input(
                &obj.origin.source,
                format!(
                    "document {} (line {}): {} is defined twice (first at {}); remove one",
                    obj.origin.document,
                    obj.origin.line,
                    obj.display_id(),
                    first.origin
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, text: String) -> SourceFile {
        SourceFile::from_bytes(rel, text.into_bytes())
    }

    /// Files parsed a group per core come back in file order, and the first
    /// failing file is the one reported, as when they are parsed one by one.
    #[test]
    fn files_in_parallel_keep_their_order_and_first_error() {
        let padding = format!("# {}\n", "x".repeat(100)).repeat(1200);
        let objects = |n: usize, name: &str| {
            (0..n)
                .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-{i}\n"))
                .collect::<Vec<_>>()
                .join("---\n")
        };
        let inputs: Vec<SourceFile> =
            (0..6).map(|f| file(&format!("f{f}.yaml"), format!("{padding}{}", objects(5, &format!("f{f}"))))).collect();
        let opts = RenderOptions { limits: Limits::default(), ..RenderOptions::default() };
        let names: Vec<String> = parse_files(inputs.clone(), &opts, &|o| o)
            .into_iter()
            .flat_map(|r| r.unwrap())
            .map(|o| o.name().to_string())
            .collect();
        let expected: Vec<String> = (0..6).flat_map(|f| (0..5).map(move |i| format!("f{f}-{i}"))).collect();
        assert_eq!(names, expected);

        let mut broken = inputs;
        broken[2] = file("f2.yaml", format!("{padding}a: [\n"));
        broken[5] = file("f5.yaml", format!("{padding}b: {{\n"));
        let first = parse_files(broken, &opts, &|o| o).into_iter().find_map(Result::err).unwrap().to_string();
        assert!(first.starts_with("f2.yaml:"), "{first}");
    }
}
