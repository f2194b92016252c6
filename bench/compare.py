"""Whole-process timings: rewind render vs kubectl kustomize vs cat|sha256sum.

Each input is rendered by all three in the same run, alternating, N times;
the table shows medians, the ratios against rewind, and peak memory (max RSS).
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus")


def unit(i, rng):
    """Four resources: a ConfigMap, a Secret, a Deployment using both, a Service."""
    cfg = "\n".join(f"    key_{k}: \"{rng.getrandbits(64):016x}-{'v' * rng.randint(10, 60)}\"" for k in range(rng.randint(5, 20)))
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}-config
  labels: {{app: app-{i}, tier: backend}}
data:
{cfg}
---
apiVersion: v1
kind: Secret
metadata:
  name: app-{i}-secret
type: Opaque
stringData:
  password: "{rng.getrandbits(128):032x}"
  token: "{rng.getrandbits(128):032x}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  labels: {{app: app-{i}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}}}
    spec:
      containers:
        - name: app
          image: registry.example.com/team/app-{i}:1.{i % 40}.0
          ports: [{{containerPort: 8080}}]
          envFrom:
            - configMapRef: {{name: app-{i}-config}}
          env:
            - name: PASSWORD
              valueFrom: {{secretKeyRef: {{name: app-{i}-secret, key: password}}}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: 8080}}
---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def synthetic(root, resources, rng):
    """An app tree of `resources` objects, 20 per file, 10 files per directory."""
    app = os.path.join(root, "app")
    files = []
    per_file = 5  # units, i.e. 20 resources
    for f in range(max(1, resources // (4 * per_file))):
        d = os.path.join(app, f"dir{f // 10:03d}")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"part{f:04d}.yaml")
        with open(path, "w") as out:
            out.write("---\n".join(unit(f * per_file + u, rng) for u in range(per_file)))
        files.append(path)
    return app, files


def corpus(root, name, file):
    app = os.path.join(root, "app")
    os.makedirs(app)
    path = os.path.join(app, os.path.basename(file))
    shutil.copy(os.path.join(CORPUS, file), path)
    return app, [path]


# A ConfigMap the line reader leaves to the full parser, as hand-written
# manifests sometimes have: an anchor and its alias (and a tab in a script).
ODD_DOCUMENT = """apiVersion: v1
kind: ConfigMap
metadata:
  name: odd-scripts
  labels: &labels
    app.kubernetes.io/name: odd-scripts
  annotations: *labels
data:
  run.sh: |
    #!/bin/sh
    if [ -n "$1" ]; then
    \techo "$1"
    fi
"""


def odd(root, file):
    """The corpus `file` with ODD_DOCUMENT in the middle of its stream."""
    app, [path] = corpus(root, None, file)
    with open(path) as f:
        docs = f.read().split("\n---\n")
    docs.insert(len(docs) // 2, ODD_DOCUMENT.rstrip("\n"))
    with open(path, "w") as f:
        f.write("\n---\n".join(docs))
    return app, [path]


def anchored(root, file):
    """The corpus `file` with every document's `metadata` anchored and
    aliased again at its end, as hand-written manifests reuse blocks."""
    app, [path] = corpus(root, None, file)
    with open(path) as f:
        docs = f.read().split("\n---\n")
    out = []
    for doc in docs:
        lines = doc.split("\n")
        if "metadata:" in lines:
            lines[lines.index("metadata:")] = "metadata: &m"
            while lines and not lines[-1]:
                lines.pop()
            lines.append("x-metadata: *m")
        out.append("\n".join(lines))
    with open(path, "w") as f:
        f.write("\n---\n".join(out) + "\n")
    return app, [path]


def exported(root, file, rng):
    """The corpus `file` as `kubectl get -o yaml` returns its objects: each
    top-level `metadata` with a creation timestamp, a resource version and a
    UID, strings that start like a number or a date."""
    app, [path] = corpus(root, None, file)
    with open(path) as f:
        lines = f.read().split("\n")
    out = []
    for line in lines:
        out.append(line)
        if line == "metadata:":
            n = len(out)
            uid = "-".join(f"{rng.getrandbits(4 * k):0{k}x}" for k in (8, 4, 4, 4, 12))
            out.append(f'  creationTimestamp: "2024-03-{1 + n % 28:02d}T09:{n % 60:02d}:44Z"')
            out.append(f'  resourceVersion: "{100000 + n}"')
            out.append(f"  uid: {uid}")
    with open(path, "w") as f:
        f.write("\n".join(out))
    return app, [path]


def as_json(root, rewind, file):
    """The corpus `file` as one JSON List, as jsonnet renderers and
    `kubectl get -o json` write manifests (converted by rewind itself)."""
    app = os.path.join(root, "app")
    os.makedirs(app)
    path = os.path.join(app, os.path.splitext(os.path.basename(file))[0] + ".json")
    with open(path, "w") as out:
        subprocess.run([rewind, "render", "-", "-o", "json", "--no-record", "--app", "bench"],
                       stdin=open(os.path.join(CORPUS, file)), stdout=out, stderr=subprocess.DEVNULL, check=True)
    return app, [path]


def kustomization(root, files):
    with open(os.path.join(root, "kustomization.yaml"), "w") as out:
        out.write("resources:\n" + "".join(f"- {os.path.relpath(f, root)}\n" for f in files))


def run(cmd, timeout=None):
    """Runs a command; returns (seconds, max RSS in KiB), or (None, 0) past `timeout`."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while timeout is not None:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - start > timeout:
            proc.kill()
            proc.wait()
            proc.stderr.close()
            return None, 0
        time.sleep(0.01)
    else:
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {cmd}\n{err}")
    return elapsed, usage.ru_maxrss


def peak_rss(cmd):
    """Peak RSS in KiB of one run. A child forked from this Python starts with
    Python's pages counted in its peak, so GNU time (a small process) runs it."""
    if not os.path.exists("/usr/bin/time"):
        return run(cmd)[1]
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return int(out.stderr.decode().strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rewind", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--keep", help="write the generated trees here instead of a temp dir")
    ap.add_argument("--kustomize-timeout", type=float, default=60, help="seconds; a slower kustomize run is reported as a lower bound")
    args = ap.parse_args()
    rewind = os.path.abspath(args.rewind)
    base = args.keep or tempfile.mkdtemp(prefix="rewind-bench-")
    rng = random.Random(42)
    inputs = []
    for n in [int(s) for s in args.sizes.split(",") if s]:
        root = os.path.join(base, f"synthetic-{n}")
        shutil.rmtree(root, ignore_errors=True)
        app, files = synthetic(root, n, rng)
        inputs.append((f"synthetic {n}", n, root, app, files))
    for name, file in [("argocd-install", "argocd-install/install.yaml"), ("online-boutique", "online-boutique/kubernetes-manifests.yaml")]:
        root = os.path.join(base, name)
        shutil.rmtree(root, ignore_errors=True)
        app, files = corpus(root, name, file)
        inputs.append((name, None, root, app, files))
    # One document the line reader cannot take costs that document, not the stream.
    root = os.path.join(base, "argocd-odd")
    shutil.rmtree(root, ignore_errors=True)
    app, files = odd(root, "argocd-install/install.yaml")
    inputs.append(("argocd-odd", None, root, app, files))
    # A kubectl export: every object holds strings the writer must judge like numbers.
    root = os.path.join(base, "argocd-export")
    shutil.rmtree(root, ignore_errors=True)
    app, files = exported(root, "argocd-install/install.yaml", rng)
    inputs.append(("argocd-export", None, root, app, files))
    # Anchors and aliases: each such entry goes to the parser alone, its aliases copies.
    root = os.path.join(base, "argocd-anchors")
    shutil.rmtree(root, ignore_errors=True)
    app, files = anchored(root, "argocd-install/install.yaml")
    inputs.append(("argocd-anchors", None, root, app, files))
    root = os.path.join(base, "argocd-json")
    shutil.rmtree(root, ignore_errors=True)
    app, files = as_json(root, rewind, "argocd-install/install.yaml")
    inputs.append(("argocd-json", None, root, app, files))

    print(f"machine: {os.cpu_count()} cores; runs per tool: {args.runs} (median); "
          f"{subprocess.run(['kubectl', 'version', '--client'], capture_output=True, text=True).stdout.splitlines()[1]}")
    header = f"{'input':<18}{'bytes':>11}{'rewind ms':>11}{'kustomize ms':>14}{'floor ms':>10}{'speedup':>10}{'x floor':>9}{'rewind MiB':>12}{'bound MiB':>11}"
    print(header)
    print("-" * len(header))
    results = {}
    for name, n, root, app, files in inputs:
        kustomization(root, files)
        size = sum(os.path.getsize(f) for f in files)
        # Each file its own argument: one shell string of thousands of paths
        # is past the kernel's 128 KiB limit on a single argument.
        cat = ["sh", "-c", 'cat -- "$@" | sha256sum', "sh", *files]
        times = {"rewind": [], "kustomize": [], "floor": []}
        rss = 0
        # The main job: render and record into the file store (the first run
        # writes a release; the rest find it unchanged, as a CMP sidecar does).
        store = os.path.join(root, "store")
        shutil.rmtree(store, ignore_errors=True)
        job = [rewind, "--store", f"file://{store}", "render", app, "--app", "bench"]
        for _ in range(args.runs):
            times["rewind"].append(run(job)[0])
            if None not in times["kustomize"]:
                times["kustomize"].append(run(["kubectl", "kustomize", root], timeout=args.kustomize_timeout)[0])
            times["floor"].append(run(cat)[0])
        rss = peak_rss(job)
        timed_out = None in times["kustomize"]
        if timed_out:
            times["kustomize"] = [args.kustomize_timeout]
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        bound = 3 * size / 2**20 + 20
        results[name] = (n, med["rewind"])
        more = ">" if timed_out else " "
        print(f"{name:<18}{size:>11}{med['rewind']:>11.1f}{more:>4}{med['kustomize']:>10.1f}{med['floor']:>10.1f}"
              f"{more}{med['kustomize'] / med['rewind']:>8.1f}x{med['rewind'] / med['floor']:>8.1f}x{rss / 1024:>12.1f}{bound:>11.1f}")
    sized = sorted((n, t) for n, t in results.values() if n)
    for (n1, t1), (n2, t2) in zip(sized, sized[1:]):
        print(f"scaling {n1} -> {n2} resources: {n2 / n1:.0f}x the input, {t2 / t1:.1f}x the time")
    print("speedup = kustomize / rewind (target >= 20x); x floor = rewind / (cat | sha256sum) (target <= 10x on argocd-install);")
    print("bound = 3 x input + 20 MiB (target: rewind MiB below it)")


if __name__ == "__main__":
    main()
