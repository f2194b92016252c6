//! Annotation mode: a sha256 of everything a pod template can see of its
//! ConfigMaps and Secrets, written to `rewind.dev/config-hash` on the template.
//!
//! Three steps, so the first can run where the tree is at hand: [`facts`]
//! (one look at an object: a config's digest, or its template's references),
//! [`hashes`] (which workload sees what, digested), then writing each hash
//! into a tree, or into the YAML of an object [`prepared`](super::prepare) on
//! its parser's thread.

use super::prepare::{self, Placeholder};
use super::refs::{ConfigKind, Keys, Mutability, pod_template_of, visit_pod_refs};
use super::{CONFIG_HASH_ANNOTATION, HashReport, content_digest, is_opted_in, is_opted_out, set_annotation};
use crate::error::{Error, Result};
use crate::manifest::{Object, run_parts, threads};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub(super) type ConfigKey = (String, ConfigKind, String);

/// What annotation mode needs of one object.
#[derive(Debug)]
pub(super) enum Facts {
    /// A ConfigMap or Secret.
    Config { key: ConfigKey, opted_out: bool, data: ConfigData },
    /// A workload whose template may carry the hash, with its references in
    /// template order; `placeholder` when its YAML holds one for the hash.
    Workload { ns: String, id: String, sites: Vec<(ConfigKind, String, Keys)>, placeholder: Option<Placeholder> },
    /// Anything else.
    Other,
}

/// What a pod can see of a config object: the digest of the whole object
/// and, for a small one, what a digest of some of its keys reads. A digest of
/// some keys of a larger one is made from its tree when a workload needs it
/// (for a prepared object, its YAML read back).
#[derive(Debug)]
pub(super) struct ConfigData {
    /// [`content_digest`] of the whole object, as hex.
    whole: [u8; 64],
    small: Option<SmallKeys>,
}

/// Up to this many bytes of data, a config keeps what its keys' digests read:
/// about what its YAML and metadata take anyway. A Secret referenced by key
/// is usually this small, and reading it back would cost more than this keeps.
const SMALL_CONFIG_BYTES: usize = 256;

/// Every key of a small config object and what [`keys_digest`] reads of it.
#[derive(Debug)]
struct SmallKeys {
    /// For each key, its bytes and then its chunk ([`key_chunk`]).
    buf: Box<[u8]>,
    /// `(start, key length, chunk length)` in `buf`, in key order.
    keys: Box<[(u32, u32, u32)]>,
}

impl ConfigData {
    fn of(kind: ConfigKind, body: &Map<String, Value>, data_bytes: usize) -> ConfigData {
        let mut whole = [0; 64];
        whole.copy_from_slice(content_digest(kind, body).as_bytes());
        ConfigData { whole, small: (data_bytes <= SMALL_CONFIG_BYTES).then(|| SmallKeys::of(body)) }
    }
}

impl SmallKeys {
    fn of(body: &Map<String, Value>) -> SmallKeys {
        let keys: BTreeSet<&str> = DATA_FIELDS
            .iter()
            .filter_map(|f| body.get(*f).and_then(Value::as_object))
            .flat_map(|m| m.keys().map(String::as_str))
            .collect();
        let (mut buf, mut index) = (Vec::new(), Vec::with_capacity(keys.len()));
        for key in keys {
            let start = buf.len();
            buf.extend_from_slice(key.as_bytes());
            key_chunk(body, key, &mut buf);
            let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
            index.push((len(start), len(key.len()), len(buf.len() - start - key.len())));
        }
        SmallKeys { buf: buf.into_boxed_slice(), keys: index.into_boxed_slice() }
    }

    /// [`keys_digest`] of the object these were taken from.
    fn digest(&self, keys: &[String]) -> String {
        digest_keys(keys, |key, out| {
            let at = |(start, len, _): &(u32, u32, u32)| &self.buf[*start as usize..(*start + *len) as usize];
            let Ok(i) = self.keys.binary_search_by(|entry| at(entry).cmp(key.as_bytes())) else { return false };
            let (start, len, chunk) = self.keys[i];
            out.extend_from_slice(&self.buf[(start + len) as usize..(start + len + chunk) as usize]);
            true
        })
    }
}

/// The fields a pod sees through a config object, in digest order.
const DATA_FIELDS: [&str; 3] = ["data", "binaryData", "stringData"];

/// Appends what a digest of some keys reads of `key`: field, key and
/// canonical value wherever it is. Whether the object has the key at all.
fn key_chunk(body: &Map<String, Value>, key: &str, out: &mut Vec<u8>) -> bool {
    let mut found = false;
    for field in DATA_FIELDS {
        if let Some(v) = body.get(field).and_then(|m| m.get(key)) {
            out.extend_from_slice(format!("{field}\0{key}\0").as_bytes());
            super::canonical_json(v, out);
            out.push(b'\n');
            found = true;
        }
    }
    found
}

/// A digest of only `keys` of a config object, wherever they live (`data`,
/// `binaryData`, `stringData`); a missing key counts as missing.
fn keys_digest(body: &Map<String, Value>, keys: &[String]) -> String {
    digest_keys(keys, |key, out| key_chunk(body, key, out))
}

/// The digest of `keys` (sorted, once each), given each key's chunk.
fn digest_keys(keys: &[String], chunk: impl Fn(&str, &mut Vec<u8>) -> bool) -> String {
    let mut keys: Vec<&String> = keys.iter().collect();
    keys.sort();
    keys.dedup();
    let mut h = Sha256::new();
    let mut buf = Vec::new();
    for key in keys {
        buf.clear();
        if chunk(key, &mut buf) {
            h.update(&buf);
        } else {
            h.update(format!("missing\0{key}\n").as_bytes());
        }
    }
    hex::encode(h.finalize())
}

/// One look at an object: what annotation mode needs of it.
pub(super) fn facts(obj: &mut Object, default_namespace: &str) -> Facts {
    let ns = obj.namespace().unwrap_or(default_namespace).to_string();
    if let Some(kind) = ConfigKind::of(obj.api_version(), obj.kind()) {
        let key = (ns, kind, obj.name().to_string());
        let data = ConfigData::of(kind, &obj.body, obj.config_bytes().unwrap_or(usize::MAX));
        return Facts::Config { key, opted_out: is_opted_out(obj), data };
    }
    if is_opted_out(obj) {
        return Facts::Other;
    }
    let id = obj.display_id();
    let opted_in = is_opted_in(obj);
    let Some((template, mutability)) = pod_template_of(obj) else { return Facts::Other };
    if mutability == Mutability::Immutable && !opted_in {
        return Facts::Other;
    }
    let mut sites = Vec::new();
    visit_pod_refs(template, &mut |site| {
        sites.push((site.kind, site.name.as_str().unwrap_or_default().to_string(), site.keys));
    });
    if sites.is_empty() {
        return Facts::Other;
    }
    Facts::Workload { ns, id, sites, placeholder: None }
}

/// Annotates every workload whose template references configs of the set.
pub(super) fn annotate(objects: &mut [Object], default_namespace: &str) -> Result<HashReport> {
    // Prepared objects carry their facts; the others are looked at now.
    let looked: HashMap<usize, Facts> = objects
        .iter_mut()
        .enumerate()
        .filter(|(_, o)| !o.is_prepared())
        .map(|(i, o)| (i, facts(o, default_namespace)))
        .collect();
    let all: Vec<&Facts> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| looked.get(&i).or_else(|| prepare::facts_of(o)).unwrap_or(&Facts::Other))
        .collect();
    let mut report = HashReport::default();
    let objects_seen = &*objects;
    let keys_of = |i: usize, keys: &[String]| -> Result<String> {
        if let Some(Facts::Config { data: ConfigData { small: Some(small), .. }, .. }) = all.get(i) {
            return Ok(small.digest(keys));
        }
        let obj = &objects_seen[i];
        if obj.is_prepared() {
            Ok(keys_digest(&prepare::read_back(obj)?.body, keys))
        } else {
            Ok(keys_digest(&obj.body, keys))
        }
    };
    let found = hashes(&all, &mut report, &keys_of)?;
    drop(all);
    let mut hashed = vec![false; objects.len()];
    for (i, hash) in found {
        let obj = &mut objects[i];
        let id = obj.display_id();
        if obj.is_prepared() {
            prepare::fill(obj, &hash)?;
        } else {
            let Some((template, _)) = pod_template_of(obj) else { continue };
            set_annotation(template, CONFIG_HASH_ANNOTATION, hash);
        }
        hashed[i] = true;
        report.annotated.push(id);
    }
    // Prepared workloads that see no config of the set get no hash.
    for (obj, _) in objects.iter_mut().zip(hashed).filter(|(o, hashed)| o.is_prepared() && !hashed) {
        prepare::clear(obj)?;
    }
    Ok(report)
}

/// The hash of every workload that references configs of the set, by index,
/// with warnings (once per missing config) and the missing references
/// reported. `keys_of(i, keys)` digests some keys of config object `i`.
fn hashes(
    facts: &[&Facts],
    report: &mut HashReport,
    keys_of: &(dyn Fn(usize, &[String]) -> Result<String> + Sync),
) -> Result<Vec<(usize, String)>> {
    let mut configs: HashMap<&ConfigKey, usize> = HashMap::new();
    let mut opted_out_configs: HashSet<&ConfigKey> = HashSet::new();
    for (i, f) in facts.iter().enumerate() {
        if let Facts::Config { key, opted_out, .. } = f {
            if *opted_out {
                opted_out_configs.insert(key);
            } else {
                configs.insert(key, i);
            }
        }
    }
    let mut warned = BTreeSet::new();
    let mut seen_by: SeenBy = Vec::new();
    for (i, f) in facts.iter().enumerate() {
        let Facts::Workload { ns, id, sites, .. } = f else { continue };
        // What this workload sees, merged per config object.
        let mut seen: BTreeMap<ConfigKey, Keys> = BTreeMap::new();
        for (kind, name, keys) in sites {
            let key = (ns.clone(), *kind, name.clone());
            if !configs.contains_key(&key) {
                if !opted_out_configs.contains(&key) {
                    let target = format!("{}/{}/{}", key.1.as_str(), key.0, key.2);
                    if warned.insert(target.clone()) {
                        tracing::warn!(
                            "{id} references {target}, which is not in the rendered set (created elsewhere?); it is not hashed"
                        );
                    }
                    report.missing.push((id.clone(), target));
                }
                continue;
            }
            let merged = match (seen.remove(&key), keys.clone()) {
                (Some(Keys::All), _) | (_, Keys::All) => Keys::All,
                (None, only) => only,
                (Some(Keys::Only(mut a)), Keys::Only(b)) => {
                    a.extend(b);
                    Keys::Only(a)
                }
            };
            seen.insert(key, merged);
        }
        if !seen.is_empty() {
            // In key order, by config object: the keys' strings are not held for every workload.
            seen_by.push((i, seen.into_iter().map(|(key, keys)| (configs[&key], keys)).collect()));
        }
    }
    let some_keys = some_keys_digests(&seen_by, keys_of)?;
    let mut out = Vec::with_capacity(seen_by.len());
    for (i, seen) in &seen_by {
        let mut hasher = Sha256::new();
        for (config, keys) in seen {
            let Facts::Config { key, data, .. } = facts[*config] else { continue };
            let digest = match keys {
                Keys::All => std::str::from_utf8(&data.whole).unwrap_or_default(),
                Keys::Only(keys) => some_keys[&(*config, keys.as_slice())].as_str(),
            };
            hasher.update(format!("{}\0{}\0{digest}\n", key.1.as_str(), key.2).as_bytes());
        }
        out.push((*i, hex::encode(hasher.finalize())));
    }
    Ok(out)
}

/// What each workload sees: by object index, the config objects (by index)
/// and their keys, in the order of their `(namespace, kind, name)`.
type SeenBy = Vec<(usize, Vec<(usize, Keys)>)>;

/// Below this many digests of some keys, one thread makes them all.
const PARALLEL_DIGESTS: usize = 64;

/// Every digest of some keys of a config that a workload sees, by config
/// object and keys, each made once; on every core when there are many, as
/// a prepared config is read back for it.
fn some_keys_digests<'a>(
    seen_by: &'a SeenBy,
    keys_of: &(dyn Fn(usize, &[String]) -> Result<String> + Sync),
) -> Result<HashMap<(usize, &'a [String]), String>> {
    let wanted: BTreeSet<(usize, &[String])> = seen_by
        .iter()
        .flat_map(|(_, seen)| seen.iter())
        .filter_map(|(config, keys)| match keys {
            Keys::Only(keys) => Some((*config, keys.as_slice())),
            Keys::All => None,
        })
        .collect();
    let wanted: Vec<(usize, &[String])> = wanted.into_iter().collect();
    let threads = if wanted.len() < PARALLEL_DIGESTS { 1 } else { threads().min(wanted.len()) };
    let parts: Vec<&[(usize, &[String])]> = wanted.chunks(wanted.len().div_ceil(threads).max(1)).collect();
    let mut digests = HashMap::with_capacity(wanted.len());
    let done = run_parts(
        &parts,
        |part| part.len(),
        |part| {
            part.iter()
                .map(|(config, keys)| Ok(((*config, *keys), keys_of(*config, keys)?)))
                .collect::<Result<Vec<_>>>()
        },
    );
    for part in done {
        let part = part.ok_or_else(|| Error::Config("a digest thread panicked".into()))??;
        digests.extend(part);
    }
    Ok(digests)
}
