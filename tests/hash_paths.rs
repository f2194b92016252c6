//! Annotation mode over a manifest set that uses every reference path and
//! every workload kind: changing one value changes the hash of exactly the
//! workloads that can see it.

mod common;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Stdio;

const BASE: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-vol}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: shared}
data: {k1: "1", k2: "2", k3: "3", k4: "4", k9: "9"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-envfrom}
data: {e: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec-vol}
type: Opaque
data: {v: MQ==}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
type: Opaque
stringData: {s1: one, s2: two, s9: nine}
---
apiVersion: v1
kind: Secret
metadata: {name: sec-envfrom}
stringData: {x: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: pull}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: e30=}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d-vol-cm}
spec: {template: {spec: {containers: [{name: c}], volumes: [{name: v, configMap: {name: cm-vol}}]}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ss-vol-items}
spec: {template: {spec: {containers: [{name: c}], volumes: [{name: v, configMap: {name: shared, items: [{key: k1, path: k1}]}}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds-secret-vol}
spec: {template: {spec: {containers: [{name: c}], volumes: [{name: v, secret: {secretName: sec-vol}}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs-projected}
spec:
  template:
    spec:
      containers: [{name: c}]
      volumes:
      - name: v
        projected:
          sources:
          - configMap: {name: shared, items: [{key: k2, path: k2}]}
          - secret: {name: sec, items: [{key: s1, path: s1}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc-env}
spec: {template: {spec: {containers: [{name: c, env: [{name: K, valueFrom: {configMapKeyRef: {name: shared, key: k3}}}]}]}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj-init-env}
spec:
  schedule: "@daily"
  jobTemplate: {spec: {template: {spec: {initContainers: [{name: i, env: [{name: S, valueFrom: {secretKeyRef: {name: sec, key: s2}}}]}], containers: [{name: c}]}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: job-envfrom, annotations: {rewind.dev/hash: "true"}}
spec: {template: {spec: {containers: [{name: c, envFrom: [{configMapRef: {name: cm-envfrom}}]}]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: pod-envfrom-secret, annotations: {rewind.dev/hash: "true"}}
spec: {initContainers: [{name: i, envFrom: [{secretRef: {name: sec-envfrom}}]}], containers: [{name: c}]}
---
apiVersion: v1
kind: PodTemplate
metadata: {name: pt-pull}
template: {spec: {imagePullSecrets: [{name: pull}], containers: [{name: c}]}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: ro}
spec: {template: {spec: {containers: [{name: c, env: [{name: K, valueFrom: {configMapKeyRef: {name: shared, key: k4}}}]}]}}}
"#;

fn hashes(input: &str, home: &std::path::Path) -> BTreeMap<String, Option<String>> {
    let mut child = command(home)
        .args(["render", "-", "--app", "paths", "--no-record"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = ok(&child.wait_with_output().unwrap());
    docs(&out)
        .into_iter()
        .filter_map(|d| {
            let template_meta = match d["kind"].as_str()? {
                "ConfigMap" | "Secret" => return None,
                "Pod" => d["metadata"].clone(),
                "PodTemplate" => d["template"]["metadata"].clone(),
                "CronJob" => d["spec"]["jobTemplate"]["spec"]["template"]["metadata"].clone(),
                _ => d["spec"]["template"]["metadata"].clone(),
            };
            let h = template_meta["annotations"]["rewind.dev/config-hash"].as_str().map(String::from);
            Some((d["metadata"]["name"].as_str()?.to_string(), h))
        })
        .collect()
}

#[test]
fn every_path_and_kind_changes_exactly_the_workloads_that_see_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let before = hashes(BASE, tmp.path());
    assert_eq!(before.len(), 10);
    for (name, h) in &before {
        assert!(h.is_some(), "{name} references config of the set but has no hash");
    }
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("whole ConfigMap volume", "data: {a: \"1\"}", "data: {a: \"2\"}", &["d-vol-cm"]),
        ("configMap volume items", "k1: \"1\"", "k1: \"x\"", &["ss-vol-items"]),
        ("projected configMap items", "k2: \"2\"", "k2: \"x\"", &["rs-projected"]),
        ("configMapKeyRef", "k3: \"3\"", "k3: \"x\"", &["rc-env"]),
        ("Rollout configMapKeyRef", "k4: \"4\"", "k4: \"x\"", &["ro"]),
        ("a key nobody references", "k9: \"9\"", "k9: \"x\"", &[]),
        ("secret volume", "data: {v: MQ==}", "data: {v: Mg==}", &["ds-secret-vol"]),
        (
            "secret volume type",
            "type: Opaque\ndata: {v: MQ==}",
            "type: example.com/x\ndata: {v: MQ==}",
            &["ds-secret-vol"],
        ),
        ("projected secret items", "s1: one", "s1: uno", &["rs-projected"]),
        ("initContainer secretKeyRef", "s2: two", "s2: dos", &["cj-init-env"]),
        ("a secret key nobody references", "s9: nine", "s9: nueve", &[]),
        ("Job envFrom (opted in)", "data: {e: \"1\"}", "data: {e: \"2\"}", &["job-envfrom"]),
        (
            "Pod initContainer envFrom secret (opted in)",
            "stringData: {x: \"1\"}",
            "stringData: {x: \"2\"}",
            &["pod-envfrom-secret"],
        ),
        ("imagePullSecrets", "data: {.dockerconfigjson: e30=}", "data: {.dockerconfigjson: e319}", &["pt-pull"]),
    ];
    for (what, from, to, expected) in cases {
        assert_eq!(BASE.matches(from).count(), 1, "{what}: ambiguous edit");
        let after = hashes(&BASE.replace(from, to), tmp.path());
        let changed: BTreeSet<&str> = before.keys().filter(|k| before[*k] != after[*k]).map(String::as_str).collect();
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        assert_eq!(changed, expected, "{what}");
    }
}
