//! The Argo CD CMP contract, through the real binary run as the CMP server runs it.

mod common;
use common::*;
use std::path::Path;

const GUESTBOOK_ENV: &[(&str, &str)] = &[("ARGOCD_APP_NAME", "guestbook"), ("ARGOCD_APP_NAMESPACE", "guestbook")];

fn with_revision<'a>(env: &[(&'a str, &'a str)], rev: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut e = env.to_vec();
    e.push(("ARGOCD_APP_REVISION", rev));
    e
}

fn object_count(yaml: &[u8]) -> usize {
    docs(yaml).len()
}

#[test]
fn corpus_argocd_install_prints_every_object_with_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("repo/argocd");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(corpus("argocd-install/install.yaml"), app.join("install.yaml")).unwrap();
    let store = tmp.path().join("store");
    let out = ok(&cmp_generate(&app, &store, &[("ARGOCD_APP_NAME", "argocd"), ("ARGOCD_APP_NAMESPACE", "argocd")]));
    let input = std::fs::read(corpus("argocd-install/install.yaml")).unwrap();
    assert_eq!(object_count(&out), object_count(&input));
    let hashes = config_hashes(&out);
    // Every workload that reads a ConfigMap or Secret of the set carries a hash.
    for w in [
        "StatefulSet/argocd-application-controller",
        "Deployment/argocd-server",
        "Deployment/argocd-repo-server",
        "Deployment/argocd-dex-server",
        "Deployment/argocd-applicationset-controller",
        "Deployment/argocd-notifications-controller",
    ] {
        assert!(hashes[w].as_ref().is_some_and(|h| h.len() == 64), "{w} has no config hash: {hashes:?}");
    }
    // argocd-redis only reads a Secret created outside the set: no hash, a warning.
    assert_eq!(hashes["Deployment/argocd-redis"], None);
    let out2 = cmp_generate(&app, &store, &[("ARGOCD_APP_NAME", "argocd"), ("ARGOCD_APP_NAMESPACE", "argocd")]);
    assert!(String::from_utf8_lossy(&out2.stderr).contains("Secret/argocd/argocd-redis"));
    assert_eq!(ok(&out2), out, "same input, same bytes");
    assert_eq!(history(&store, "argocd").len(), 1, "an unchanged manifest records nothing new");
}

#[test]
fn corpus_online_boutique_prints_every_object() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("boutique");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::copy(corpus("online-boutique/kubernetes-manifests.yaml"), app.join("manifests.yaml")).unwrap();
    let out = ok(&cmp_generate(
        &app,
        &tmp.path().join("store"),
        &[("ARGOCD_APP_NAME", "boutique"), ("ARGOCD_APP_NAMESPACE", "shop")],
    ));
    let input = std::fs::read(corpus("online-boutique/kubernetes-manifests.yaml")).unwrap();
    assert_eq!(docs(&out), docs(&input), "no config references: objects pass through unchanged");
    // The loadgenerator's shell script keeps its ${FRONTEND_ADDR}: no variables were given.
    assert!(String::from_utf8_lossy(&out).contains("${FRONTEND_ADDR}"));
}

#[test]
fn generate_change_rollback_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("checkout/guestbook");
    copy_tree(&root().join("examples/guestbook"), &app);
    let store = tmp.path().join("store");

    let v1 = ok(&cmp_generate(&app, &store, &with_revision(GUESTBOOK_ENV, "aaaa1111")));
    let h1 = config_hashes(&v1);
    assert!(h1.values().all(Option::is_some), "every guestbook workload reads config: {h1:?}");

    set_log_level(&app, "debug");
    let v2 = ok(&cmp_generate(&app, &store, &with_revision(GUESTBOOK_ENV, "bbbb2222")));
    let h2 = config_hashes(&v2);
    assert_ne!(h1["Deployment/frontend"], h2["Deployment/frontend"], "frontend reads guestbook-config");
    assert_eq!(h1["StatefulSet/redis"], h2["StatefulSet/redis"], "redis does not");
    assert_eq!(h1["CronJob/guestbook-cleanup"], h2["CronJob/guestbook-cleanup"], "cleanup does not");

    let mut rollback_env = with_revision(GUESTBOOK_ENV, "bbbb2222");
    rollback_env.push(("ARGOCD_ENV_REWIND_ROLLBACK_TO", "1"));
    let rolled = ok(&cmp_generate(&app, &store, &rollback_env));
    assert_eq!(rolled, v1, "rollback prints v1's manifest byte for byte");

    let h = history(&store, "guestbook");
    assert_eq!(h.len(), 3);
    assert_eq!(h[2]["rollback_of"], 1);
    assert_eq!(h[2]["digest"], h[0]["digest"]);
    assert_eq!(h[0]["source"]["revision"], "aaaa1111");
    assert_eq!(h[0]["source"]["repo_url"], "https://git.example.com/org/apps.git");
    assert!(h.iter().all(|r| r["status"] == "pending"));

    // Argo CD calls generate again and again: the same request records nothing new.
    assert_eq!(ok(&cmp_generate(&app, &store, &rollback_env)), v1);
    assert_eq!(history(&store, "guestbook").len(), 3);

    // Clearing the pin rolls forward to Git's head again.
    assert_eq!(ok(&cmp_generate(&app, &store, &with_revision(GUESTBOOK_ENV, "bbbb2222"))), v2);
    assert_eq!(history(&store, "guestbook").len(), 4);
}

fn three_releases(app: &Path, store: &Path) -> Vec<Vec<u8>> {
    copy_tree(&root().join("examples/guestbook"), app);
    let mut outs = Vec::new();
    for level in ["info", "debug", "trace"] {
        set_log_level(app, level);
        outs.push(ok(&cmp_generate(app, store, GUESTBOOK_ENV)));
    }
    outs
}

#[test]
fn previous_and_last_good_resolve_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, store) = (tmp.path().join("app"), tmp.path().join("store"));
    let v = three_releases(&app, &store);

    // last-good without any deployed release: a clear error and nothing on stdout.
    let mut env = GUESTBOOK_ENV.to_vec();
    env.push(("ARGOCD_ENV_REWIND_ROLLBACK_TO", "last-good"));
    fails(
        &cmp_generate(&app, &store, &env),
        &["PreviousRevisionUnavailable", "no revision is marked deployed", "1 (pending)"],
    );

    ok(&rewind(&store, &["mark", "guestbook", "2", "--status", "deployed"]));
    assert_eq!(ok(&cmp_generate(&app, &store, &env)), v[1], "last-good is the newest deployed");

    // previous: the newest ordinary release before the newest one (rollback copies do not count).
    let mut env = GUESTBOOK_ENV.to_vec();
    env.push(("ARGOCD_APP_PARAMETERS", r#"[{"name":"rollback-to","string":"previous"}]"#));
    assert_eq!(ok(&cmp_generate(&app, &store, &env)), v[1]);
    let h = history(&store, "guestbook");
    assert_eq!(h.len(), 4, "last-good rollback recorded revision 4; previous found it already holds v2");
    assert_eq!(h[3]["rollback_of"], 2);

    // A missing revision names the ones that exist.
    let mut env = GUESTBOOK_ENV.to_vec();
    env.push(("ARGOCD_ENV_REWIND_ROLLBACK_TO", "42"));
    fails(
        &cmp_generate(&app, &store, &env),
        &[
            "PreviousRevisionUnavailable",
            "revision 42 does not exist",
            "1 (pending), 2 (deployed), 3 (pending), 4 (pending)",
        ],
    );
    let mut env = GUESTBOOK_ENV.to_vec();
    env.push(("ARGOCD_ENV_REWIND_ROLLBACK_TO", "yesterday"));
    fails(&cmp_generate(&app, &store, &env), &["REWIND_ROLLBACK_TO", "previous or last-good"]);
}

#[test]
fn plugin_env_feeds_substitution_and_names_missing_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, store) = (tmp.path().join("app"), tmp.path().join("store"));
    copy_tree(&root().join("examples/guestbook"), &app);
    let mut env = GUESTBOOK_ENV.to_vec();
    env.push(("ARGOCD_ENV_IMAGE_TAG", "v9"));
    let out = String::from_utf8(ok(&cmp_generate(&app, &store, &env))).unwrap();
    assert!(out.contains("gb-frontend:v9"), "{out}");
    let default = String::from_utf8(ok(&cmp_generate(&app, &store, GUESTBOOK_ENV))).unwrap();
    assert!(default.contains("gb-frontend:v5"), "rewind.yaml's default applies");

    std::fs::write(
        app.join("extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"${NOT_SET}\"}\n",
    )
    .unwrap();
    fails(&cmp_generate(&app, &store, GUESTBOOK_ENV), &["extra.yaml", "line 4", "${NOT_SET}"]);
}

#[test]
fn generate_outside_argocd_fails_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    copy_tree(&root().join("examples/guestbook"), &app);
    fails(&cmp_generate(&app, &tmp.path().join("store"), &[]), &["ARGOCD_APP_NAME is not set"]);
}

#[test]
fn sixteen_concurrent_generates_leave_contiguous_revisions() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, store) = (tmp.path().join("app"), tmp.path().join("store"));
    copy_tree(&root().join("examples/guestbook"), &app);
    let tags: Vec<String> = (0..16).map(|i| format!("t{i}")).collect();
    let children: Vec<_> = tags
        .iter()
        .map(|t| {
            let mut env = GUESTBOOK_ENV.to_vec();
            env.push(("ARGOCD_ENV_IMAGE_TAG", t.as_str()));
            let (app, store, env) = (
                app.clone(),
                store.clone(),
                env.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>(),
            );
            std::thread::spawn(move || {
                let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                cmp_generate(&app, &store, &env)
            })
        })
        .collect();
    for c in children {
        ok(&c.join().unwrap());
    }
    let h = history(&store, "guestbook");
    assert_eq!(h.len(), 10, "pruned to the default history limit");
    let revs: Vec<u64> = h.iter().map(|r| r["revision"].as_u64().unwrap()).collect();
    assert_eq!(revs, (7..=16).collect::<Vec<_>>());
    let mut digests: Vec<&str> = h.iter().map(|r| r["digest"].as_str().unwrap()).collect();
    digests.sort();
    digests.dedup();
    assert_eq!(digests.len(), 10, "no manifest recorded twice");

    // Sixteen identical generates at once record exactly one revision.
    let store2 = tmp.path().join("store2");
    let children: Vec<_> = (0..16)
        .map(|_| {
            let (app, store) = (app.clone(), store2.clone());
            std::thread::spawn(move || cmp_generate(&app, &store, GUESTBOOK_ENV))
        })
        .collect();
    let outs: Vec<Vec<u8>> = children.into_iter().map(|c| ok(&c.join().unwrap())).collect();
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(history(&store2, "guestbook").len(), 1);
}

#[test]
fn hash_mode_from_the_application() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, store) = (tmp.path().join("app"), tmp.path().join("store"));
    copy_tree(&root().join("examples/guestbook"), &app);
    let mut env = GUESTBOOK_ENV.to_vec();
    env.push(("ARGOCD_APP_PARAMETERS", r#"[{"name":"hash-mode","string":"suffix"}]"#));
    let out = String::from_utf8(ok(&cmp_generate(&app, &store, &env))).unwrap();
    assert!(out.contains("name: guestbook-config-") && !out.contains("rewind.dev/config-hash"), "{out}");
    let mut env = GUESTBOOK_ENV.to_vec();
    env.push(("ARGOCD_ENV_REWIND_HASH_MODE", "md5"));
    fails(&cmp_generate(&app, &store, &env), &["REWIND_HASH_MODE", "annotation or suffix"]);
}
