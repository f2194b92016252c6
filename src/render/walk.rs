//! Finds the manifest files under a source root: deterministic order, hidden
//! entries skipped, nothing outside the root, nothing but regular files read.
//! Files are listed first and read by whoever parses them, so that reading
//! overlaps parsing on every core.

use crate::error::{Error, Result};
use crate::manifest::Limits;
use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// One manifest: bytes already in hand (stdin, a renderer's output), or a
/// file the walk listed and checked, read by [`SourceFile::read`].
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the source root, `/`-separated (or `<stdin>`…).
    pub rel: String,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Bytes(Vec<u8>),
    /// A regular file of `len` bytes within the root when it was listed.
    Listed {
        target: PathBuf,
        shown: PathBuf,
        len: u64,
    },
}

impl SourceFile {
    /// A manifest whose bytes are already read.
    pub fn from_bytes(rel: impl Into<String>, bytes: Vec<u8>) -> Self {
        SourceFile { rel: rel.into(), body: Body::Bytes(bytes) }
    }

    /// Its size in bytes (as listed, for a file not read yet).
    pub fn len(&self) -> u64 {
        match &self.body {
            Body::Bytes(b) => b.len() as u64,
            Body::Listed { len, .. } => *len,
        }
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes, reading the file if it was only listed. A listed file is
    /// read as what it was when listed: no more than its listed length (so
    /// the walk's total limit holds), and only if it is still a regular file.
    pub fn read(self) -> Result<(String, Vec<u8>)> {
        match self.body {
            Body::Bytes(bytes) => Ok((self.rel, bytes)),
            Body::Listed { target, shown, len } => Ok((self.rel, read_listed(&target, &shown, len)?)),
        }
    }
}

/// The app's configuration at the source root: not a manifest.
pub const APP_CONFIG_FILE: &str = "rewind.yaml";
const MANIFEST_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Reads every `*.yaml`, `*.yml`, `*.json` below `root`, sorted by path
/// (component by component, byte order). `rewind.yaml` at the root is
/// configuration and is left out.
pub fn collect(root: &Path, limits: &Limits) -> Result<Vec<SourceFile>> {
    let meta = fs::metadata(root).map_err(|e| Error::input(root, format!("cannot open source directory: {e}")))?;
    if !meta.is_dir() {
        return Err(Error::input(root, "is not a directory; pass a directory of manifests, or - to read stdin"));
    }
    let canonical_root = root.canonicalize().map_err(|e| Error::input(root, format!("cannot resolve: {e}")))?;
    let mut walker = Walker {
        root,
        canonical_root: canonical_root.clone(),
        limits,
        total: 0,
        visited: HashSet::new(),
        files: Vec::new(),
    };
    walker.visited.insert(canonical_root.clone());
    walker.walk_dir(&canonical_root, "")?;
    Ok(walker.files)
}

struct Walker<'a> {
    root: &'a Path,
    canonical_root: PathBuf,
    limits: &'a Limits,
    total: u64,
    visited: HashSet<PathBuf>,
    files: Vec<SourceFile>,
}

impl Walker<'_> {
    fn shown(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn walk_dir(&mut self, dir: &Path, rel_dir: &str) -> Result<()> {
        let shown_dir = self.shown(rel_dir);
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        let read = fs::read_dir(dir).map_err(|e| Error::input(&shown_dir, format!("cannot list directory: {e}")))?;
        for entry in read {
            let entry = entry.map_err(|e| Error::input(&shown_dir, format!("cannot list directory: {e}")))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Error::input(entry.path(), "file name is not valid UTF-8; rename it"));
            };
            if name.starts_with('.') {
                continue;
            }
            entries.push((name.to_string(), entry.path()));
        }
        entries.sort();
        for (name, path) in entries {
            let rel = if rel_dir.is_empty() { name.clone() } else { format!("{rel_dir}/{name}") };
            if rel == APP_CONFIG_FILE {
                continue;
            }
            self.visit(&name, &rel, &path)?;
        }
        Ok(())
    }

    fn visit(&mut self, name: &str, rel: &str, path: &Path) -> Result<()> {
        let shown = self.shown(rel);
        let (target, meta) = resolve(&self.canonical_root, path, &shown)?;
        if meta.is_dir() {
            if !self.visited.insert(target.clone()) {
                return Err(Error::input(
                    &shown,
                    "directory symlink leads back into a directory already read (a cycle); remove it",
                ));
            }
            return self.walk_dir(&target, rel);
        }
        if KUSTOMIZATION_FILES.contains(&name) {
            return Err(Error::input(
                &shown,
                "is a kustomization; rewind does not run kustomize on its own: pipe it (`kustomize build DIR | rewind render -`), \
                 or name a renderer the operator configured (`renderer: kustomize` in rewind.yaml)",
            ));
        }
        let is_manifest =
            Path::new(name).extension().and_then(|e| e.to_str()).is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e));
        if !is_manifest {
            return Ok(());
        }
        check_regular(&meta, &shown, self.limits.max_file_bytes)?;
        self.total += meta.len();
        if self.total > self.limits.max_total_bytes {
            return Err(Error::input(
                &shown,
                format!(
                    "the source tree is over the {}-byte total limit; raise it with --max-total-bytes",
                    self.limits.max_total_bytes
                ),
            ));
        }
        self.files.push(SourceFile { rel: rel.to_string(), body: Body::Listed { target, shown, len: meta.len() } });
        Ok(())
    }
}

/// Where `path` (an entry below the root) leads: itself, or the target of a
/// symlink that stays within the root; with its metadata.
fn resolve(canonical_root: &Path, path: &Path, shown: &Path) -> Result<(PathBuf, fs::Metadata)> {
    let lmeta = fs::symlink_metadata(path).map_err(|e| Error::input(shown, format!("cannot stat: {e}")))?;
    if !lmeta.file_type().is_symlink() {
        return Ok((path.to_path_buf(), lmeta));
    }
    let target = path.canonicalize().map_err(|e| {
        Error::input(shown, format!("symlink cannot be resolved ({e}): a loop or a dangling link; remove it"))
    })?;
    if !target.starts_with(canonical_root) {
        return Err(Error::input(
            shown,
            format!(
                "symlink points outside the source root (to {}); only links within the root are followed",
                target.display()
            ),
        ));
    }
    let meta = fs::metadata(&target).map_err(|e| Error::input(shown, format!("cannot stat link target: {e}")))?;
    Ok((target, meta))
}

/// Refuses what is not a regular file of at most `max` bytes.
fn check_regular(meta: &fs::Metadata, shown: &Path, max: u64) -> Result<()> {
    if !meta.is_file() {
        return Err(Error::input(
            shown,
            "is not a regular file (a FIFO, socket or device); remove it from the source tree",
        ));
    }
    if meta.len() > max {
        return Err(Error::input(
            shown,
            format!("is {} bytes, over the {max}-byte file limit; raise it with --max-file-bytes", meta.len()),
        ));
    }
    Ok(())
}

/// Reads a file listed as a regular file of `len` bytes. It is opened
/// without following a symlink and without blocking, and checked again
/// once open: something put in its place since the walk (a link, a FIFO)
/// is refused, as is a file that grew.
fn read_listed(target: &Path, shown: &Path, len: u64) -> Result<Vec<u8>> {
    let changed =
        || Error::input(shown, "changed while rewind was reading the source tree; render again once it is written");
    let file =
        fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(target).map_err(
            |e| match e.raw_os_error() {
                Some(libc::ELOOP) => changed(),
                _ => Error::input(shown, format!("cannot read: {e}")),
            },
        )?;
    let meta = file.metadata().map_err(|e| Error::input(shown, format!("cannot stat: {e}")))?;
    if !meta.is_file() || meta.size() > len {
        return Err(changed());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(len + 1).read_to_end(&mut bytes).map_err(|e| Error::input(shown, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > len {
        return Err(changed());
    }
    Ok(bytes)
}

/// Reads a regular file of at most `max` bytes (checked before and while reading).
fn read_regular(target: &Path, meta: &fs::Metadata, shown: &Path, max: u64) -> Result<Vec<u8>> {
    check_regular(meta, shown, max)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    fs::File::open(target)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::input(shown, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(Error::input(shown, format!("grew past the {max}-byte file limit while being read")));
    }
    Ok(bytes)
}

/// Reads the file `name` at the top of `root` (e.g. `rewind.yaml`) by the
/// same rules as manifests: a symlink only within the root, a regular file,
/// at most the file limit. `None` when there is no such file.
pub fn read_root_file(root: &Path, name: &str, limits: &Limits) -> Result<Option<Vec<u8>>> {
    let path = root.join(name);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::input(&path, format!("cannot stat: {e}"))),
        Ok(_) => {}
    }
    let canonical_root = root.canonicalize().map_err(|e| Error::input(root, format!("cannot resolve: {e}")))?;
    let (target, meta) = resolve(&canonical_root, &path, &path)?;
    read_regular(&target, &meta, &path, limits.max_file_bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_hidden_skipped_config_excluded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("b/c")).unwrap();
        fs::create_dir_all(p.join(".git")).unwrap();
        for f in
            ["z.yaml", "a.yml", "b/c/x.json", "b/a.yaml", ".hidden.yaml", ".git/x.yaml", "rewind.yaml", "README.md"]
        {
            fs::write(p.join(f), "x").unwrap();
        }
        let rels: Vec<_> = collect(p, &Limits::default()).unwrap().into_iter().map(|f| f.rel).collect();
        assert_eq!(rels, ["a.yml", "b/a.yaml", "b/c/x.json", "z.yaml"]);
    }

    #[test]
    fn symlinks_out_of_root_and_loops_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("src");
        fs::create_dir(&p).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("passwd.yaml")).unwrap();
        let err = collect(&p, &Limits::default()).unwrap_err().to_string();
        assert!(err.contains("passwd.yaml") && err.contains("outside the source root"), "{err}");

        fs::remove_file(p.join("passwd.yaml")).unwrap();
        std::os::unix::fs::symlink("loop.yaml", p.join("loop.yaml")).unwrap();
        assert!(collect(&p, &Limits::default()).unwrap_err().to_string().contains("loop.yaml"));

        fs::remove_file(p.join("loop.yaml")).unwrap();
        std::os::unix::fs::symlink(".", p.join("again")).unwrap();
        assert!(collect(&p, &Limits::default()).unwrap_err().to_string().contains("cycle"));
    }

    #[test]
    fn root_files_follow_the_same_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("src");
        fs::create_dir(&p).unwrap();
        assert_eq!(read_root_file(&p, "rewind.yaml", &Limits::default()).unwrap(), None);
        std::os::unix::fs::symlink("/etc/passwd", p.join("rewind.yaml")).unwrap();
        let err = read_root_file(&p, "rewind.yaml", &Limits::default()).unwrap_err().to_string();
        assert!(err.contains("rewind.yaml") && err.contains("outside the source root"), "{err}");
        fs::remove_file(p.join("rewind.yaml")).unwrap();
        let status = std::process::Command::new("mkfifo").arg(p.join("rewind.yaml")).status().unwrap();
        assert!(status.success());
        let err = read_root_file(&p, "rewind.yaml", &Limits::default()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        fs::remove_file(p.join("rewind.yaml")).unwrap();
        fs::write(p.join("real.yaml"), "app: x\n").unwrap();
        std::os::unix::fs::symlink("real.yaml", p.join("rewind.yaml")).unwrap();
        assert_eq!(read_root_file(&p, "rewind.yaml", &Limits::default()).unwrap().unwrap(), b"app: x\n");
    }

    /// Files are read after the walk, by whoever parses them: what took a
    /// listed file's place since (more bytes, a FIFO, a symlink out of the
    /// root) is refused, without blocking on the FIFO.
    #[test]
    fn listed_files_are_read_as_they_were_listed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("src");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("a.yaml"), "kind: A\n").unwrap();
        let read = |p: &Path| collect(p, &Limits::default()).unwrap().remove(0).read();

        let listed = collect(&p, &Limits::default()).unwrap().remove(0);
        assert_eq!(listed.len(), 8);
        assert_eq!(listed.clone().read().unwrap(), ("a.yaml".to_string(), b"kind: A\n".to_vec()));
        fs::write(p.join("a.yaml"), "kind: A\nmore: bytes\n").unwrap();
        let err = listed.clone().read().unwrap_err().to_string();
        assert!(err.contains("a.yaml") && err.contains("changed while rewind was reading"), "{err}");
        assert_eq!(read(&p).unwrap().1, b"kind: A\nmore: bytes\n");

        fs::remove_file(p.join("a.yaml")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(p.join("a.yaml")).status().unwrap().success());
        let err = listed.clone().read().unwrap_err().to_string();
        assert!(err.contains("changed while rewind was reading"), "{err}");

        fs::remove_file(p.join("a.yaml")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("a.yaml")).unwrap();
        let err = listed.read().unwrap_err().to_string();
        assert!(err.contains("changed while rewind was reading"), "{err}");
    }

    #[test]
    fn oversized_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let f = fs::File::create(dir.path().join("big.yaml")).unwrap();
        f.set_len(200 * 1024 * 1024).unwrap();
        let err = collect(dir.path(), &Limits::default()).unwrap_err().to_string();
        assert!(err.contains("big.yaml") && err.contains("--max-file-bytes"), "{err}");
    }
}
