#!/usr/bin/env python3
"""tests/deploy_lint.py BIRDIED: checks deploy/k8s/*.yaml offline against what the Kubeflow MPI operator
enforces beyond its CRD schema (docs/design.md §8), and checks that the birdied command line and
run.ini in the spec are accepted by the real binary (`--print-config`). Prints TAP."""
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml

BIRDIED = sys.argv[1]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}" + ("" if ok or not detail else f" # {detail}"))


def lint_mpijob(path, job, configmaps):
    name = job["metadata"]["name"]
    spec = job["spec"]
    reps = spec["mpiReplicaSpecs"]
    launcher, worker = reps.get("Launcher"), reps.get("Worker")
    label = f"{os.path.basename(path)} {name}"
    workers = worker["replicas"] if worker else 0
    check(f"{label}: name makes valid DNS-1035 pod names",
          re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", f"{name}-worker-{max(workers - 1, 0)}") is not None
          and len(name) + 10 <= 63)
    check(f"{label}: launcher has exactly 1 replica", launcher is not None and launcher.get("replicas") == 1)
    check(f"{label}: restart policies are Never or OnFailure",
          all(r.get("restartPolicy") in ("Never", "OnFailure") for r in reps.values()))
    check(f"{label}: no restartPolicy inside pod templates",
          all("restartPolicy" not in r["template"].get("spec", {}) for r in reps.values()))
    check(f"{label}: cleanPodPolicy set explicitly", spec.get("runPolicy", {}).get("cleanPodPolicy") in
          ("None", "Running", "All"))
    slots = spec.get("slotsPerWorker")
    check(f"{label}: slotsPerWorker set", isinstance(slots, int) and slots >= 1)
    gpu_ok = True
    for c in (worker or {}).get("template", {}).get("spec", {}).get("containers", []):
        limits = c.get("resources", {}).get("limits", {})
        requests = c.get("resources", {}).get("requests", {})
        gpus = limits.get("nvidia.com/gpu")
        gpu_ok &= gpus == slots and ("nvidia.com/gpu" not in requests or requests["nvidia.com/gpu"] == gpus)
    check(f"{label}: one GPU per slot, GPUs as limits", gpu_ok)
    container = launcher["template"]["spec"]["containers"][0]
    argv = container.get("command", []) + container.get("args", [])
    np_ok = "-np" in argv and int(argv[argv.index("-np") + 1]) == slots * workers
    check(f"{label}: mpirun -np equals slotsPerWorker x workers", np_ok, f"{argv}")
    if "birdied" not in argv:
        check(f"{label}: launcher runs birdied", False)
        return
    birdied_args = argv[argv.index("birdied") + 1:]
    with tempfile.TemporaryDirectory() as tmp:
        if "--config" in birdied_args:
            i = birdied_args.index("--config")
            mounted = birdied_args[i + 1]
            ini = next((d for cm in configmaps.values() for k, d in cm.get("data", {}).items()
                        if mounted.endswith("/" + k)), None)
            check(f"{label}: --config {mounted} comes from a ConfigMap in the spec", ini is not None)
            local = os.path.join(tmp, "run.ini")
            with open(local, "w") as f:
                f.write(ini or "")
            birdied_args[i + 1] = local
        p = subprocess.run([BIRDIED, *birdied_args, "--print-config"], capture_output=True, text=True, timeout=30)
        check(f"{label}: birdied accepts the spec's command line and config", p.returncode == 0, p.stderr.strip())
        listen = re.search(r"^listen = (.*)$", p.stdout, re.M)
        check(f"{label}: coordinator listens on all interfaces (ranks on other pods)",
              listen is not None and listen.group(1).startswith("0.0.0.0:"))


def main():
    files = sorted(glob.glob(os.path.join(ROOT, "deploy", "k8s", "*.yaml")))
    check("deploy/k8s has job specs", len(files) > 0)
    for path in files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        configmaps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
        for d in docs:
            if d.get("kind") == "MPIJob":
                check(f"{os.path.basename(path)}: apiVersion kubeflow.org/v2beta1", d.get("apiVersion") == "kubeflow.org/v2beta1")
                lint_mpijob(path, d, configmaps)
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
        copied = re.findall(r"^COPY (?!--from)(\S+)", f.read(), re.M)
    check("Dockerfile copies only files that exist", all(os.path.exists(os.path.join(ROOT, c)) for c in copied),
          str(copied))
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
