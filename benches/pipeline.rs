//! `cargo bench`: each stage of the pipeline on the Argo CD install (1.9 MB,
//! 59 objects) and Online Boutique (23 KB, 35 objects) from ../shared/corpus.
//! Whole-process comparisons with kubectl kustomize: bench/compare.sh.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rewind::hash::{HashMode, HashOptions, apply};
use rewind::history::{History, codec};
use rewind::manifest::{Limits, parse_stream, to_yaml};
use rewind::release::{AppKey, Release, SourceInfo};
use rewind::render::{RenderOptions, Source, render};
use rewind::store::{FileStore, Store};
use std::hint::black_box;
use std::path::PathBuf;

fn inputs() -> Vec<(&'static str, PathBuf, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    [
        ("argocd-install", "argocd-install/install.yaml"),
        ("online-boutique", "online-boutique/kubernetes-manifests.yaml"),
    ]
    .into_iter()
    .map(|(name, file)| {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (the corpus lives in ../shared)", path.display()));
        (name, path, text)
    })
    .collect()
}

fn release(revision: u64, manifest: &[u8]) -> Release {
    Release::pending(&AppKey::new("bench").unwrap(), revision, manifest.to_vec(), SourceInfo::default(), None, "")
}

fn stages(c: &mut Criterion) {
    let limits = Limits::default();
    for (name, path, text) in inputs() {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.sample_size(20);
        g.bench_function("parse", |b| b.iter(|| parse_stream(black_box(&text), "bench", &limits).unwrap()));

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&path, dir.path().join("m.yaml")).unwrap();
        let opts = RenderOptions { limits, ..RenderOptions::default() };
        g.bench_function("render (read + parse)", |b| {
            b.iter(|| render(&Source::Dir(dir.path().to_path_buf()), &opts).unwrap())
        });

        let objects = parse_stream(&text, "bench", &limits).unwrap();
        for mode in [HashMode::Annotation, HashMode::Suffix] {
            let hopts = HashOptions { mode, default_namespace: "argocd".into(), keep_versions: 3 };
            g.bench_function(BenchmarkId::new("hash", format!("{mode:?}")), |b| {
                b.iter_batched(|| objects.clone(), |mut o| apply(&mut o, &hopts, &[]), criterion::BatchSize::LargeInput)
            });
        }
        g.bench_function("emit", |b| b.iter(|| to_yaml(black_box(&objects)).unwrap()));

        let manifest = to_yaml(&objects).unwrap().into_bytes();
        let r = release(1, &manifest);
        g.bench_function("encode (zstd)", |b| b.iter(|| codec::seal(black_box(&r))));
        let sealed = codec::seal(&r);
        g.bench_function("decode (zstd + digest)", |b| {
            b.iter_batched(|| sealed.clone(), |s| codec::unseal(s, u64::MAX).unwrap(), criterion::BatchSize::LargeInput)
        });

        let store_dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(store_dir.path());
        let mut revision = 0;
        g.bench_function("file store write", |b| {
            b.iter(|| {
                revision += 1;
                store.create(&codec::seal(&release(revision, &manifest))).unwrap()
            })
        });
        let (history, app) = (History::new(&store), AppKey::new("bench").unwrap());
        g.bench_function("file store read", |b| b.iter(|| history.get(&app, 1).unwrap()));
        g.finish();
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
