//! Source → objects: read the files (or stdin, or a renderer's output),
//! substitute `${VAR}`s, parse, and check the set as a whole.

mod command;
mod substitute;
mod walk;

pub use substitute::substitute;
pub use walk::{collect, SourceFile};

use crate::context::RendererConfig;
use crate::error::{Error, Result};
use crate::manifest::{decode_utf8, parse_stream, Limits, Object};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;

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
    /// Whether to substitute at all.
    pub substitute: bool,
    /// Input limits.
    pub limits: Limits,
    /// An external renderer to run in the directory instead of reading files.
    pub renderer: Option<RendererConfig>,
}

/// Renders a source into objects, in file order then document order.
pub fn render(source: &Source, opts: &RenderOptions) -> Result<Vec<Object>> {
    let inputs: Vec<SourceFile> = match (source, &opts.renderer) {
        (Source::Stdin, _) => vec![SourceFile { rel: "<stdin>".into(), bytes: read_stdin(&opts.limits)? }],
        (Source::Dir(dir), Some(renderer)) => {
            let bytes = command::run(renderer, dir, opts.limits.max_file_bytes)?;
            vec![SourceFile { rel: format!("<{}>", renderer.command.join(" ")), bytes }]
        }
        (Source::Dir(dir), None) => collect(dir, &opts.limits)?,
    };
    let mut objects = Vec::new();
    for file in &inputs {
        let text = decode_utf8(&file.bytes, &file.rel)?;
        let text = if opts.substitute { substitute(text, &opts.vars, &file.rel)? } else { text.into() };
        objects.extend(parse_stream(&text, &file.rel, &opts.limits)?);
    }
    check_unique(&objects)?;
    Ok(objects)
}

fn read_stdin(limits: &Limits) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(limits.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::input("<stdin>", format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::input("<stdin>", format!("is over the {}-byte limit; raise it with --max-file-bytes", limits.max_file_bytes)));
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
