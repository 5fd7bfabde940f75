#!/usr/bin/env python3
"""tests/e2e_metrics.py BIRDIED BIRDIECTL PROMTOOL: the Prometheus endpoint of a real CPU run.

`mpirun -np 2 birdied` with a Birdie mixture, checkpoints and `[daemon] metrics = 127.0.0.1:0`. Once
the run has evaluated, decided and checkpointed, GET /metrics is scraped: the reply is the text
exposition (Content-Type version 0.0.4) and `promtool check metrics` (Prometheus's own linter)
accepts it with no complaint; every family of docs/design.md §9 is there with the series a run of
this shape must have (one weight per arm, a heartbeat age per rank, the explore/exploit/operator
decision counters); other paths answer 404 and other methods 405. Then `birdiectl stop` ends the
run. Waits are bounded by generous deadlines; nothing depends on timing. Prints TAP."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIRDIED, BIRDIECTL, PROMTOOL = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = "metrics-secret"
ENV = dict(os.environ, BIRDIE_TOKEN=TOKEN, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", ASAN_OPTIONS="detect_leaks=0")
ARMS = "ntp len=16-128; copying len=8-48; infill len=16-96 rate=0.15 width=4"
N_ARMS = 3
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}" + (f" # {detail}" if detail and not ok else ""))
    sys.stdout.flush()


def scrape(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition (labels hold no commas or quotes here)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_:]+)(?:\{(.*)\})? (\S+)', line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def series(s, name):
    return {dict(k[1]).get("class") or dict(k[1]).get("arm") or dict(k[1]).get("rank") or dict(k[1]).get("kind") or "":
            v for k, v in s.items() if k[0] == name}


def main(tmp):
    db = os.path.join(tmp, "m.db")
    log = open(os.path.join(tmp, "run.log"), "w+")
    cmd = ["mpirun", "--oversubscribe", "--mca", "btl", "self,vader", "-np", "2", BIRDIED, "--model.size=XS",
           "--train.seq_len=128", "--train.batch=8", f"--objectives.arms={ARMS}", f"--daemon.db={db}",
           "--daemon.listen=127.0.0.1:0", "--daemon.metrics=127.0.0.1:0", "--train.log_every=100",
           "--run.steps=3000", "--objectives.mixture=birdie", "--scheduler.rm_hidden=32",
           "--scheduler.fit_iters=20", "--scheduler.candidates=256", "--checkpoint.every=20",
           f"--checkpoint.dir={os.path.join(tmp, 'ck')}"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    url = addr = None
    deadline = time.time() + 120
    while time.time() < deadline and not (url and addr) and proc.poll() is None:
        log.seek(0)
        text = log.read()
        m, a = re.search(r"metrics: (http://\S+)", text), re.search(r"listening on (\S+)", text)
        url, addr = m and m.group(1), a and a.group(1)
        time.sleep(0.1)
    check("rank 0 announces its metrics endpoint", bool(url and addr))
    if not (url and addr):
        log.seek(0)
        print("# " + log.read()[-2000:].replace("\n", "\n# "))
        proc.kill()
        return

    # wait (bounded) for a run that has evaluated, decided twice and checkpointed
    s = {}
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        status, ctype, text = scrape(url)
        s = samples(text) if status == 200 else {}
        decided = sum(series(s, "birdie_scheduler_decisions_total").values())
        if decided >= 2 and series(s, "birdie_validation_loss") and series(s, "birdie_checkpoint_step"):
            break
        time.sleep(0.2)
    check("the run evaluates, decides and checkpoints", decided >= 2, f"decisions {decided}")
    check("GET /metrics: 200 with the text exposition's content type",
          status == 200 and ctype.startswith("text/plain") and "version=0.0.4" in ctype, f"{status} {ctype}")
    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    check("promtool check metrics accepts the scrape", lint.returncode == 0 and not lint.stdout.strip() and
          not lint.stderr.strip(), f"rc {lint.returncode}: {lint.stdout} {lint.stderr}")
    with open(os.path.join(tmp, "scrape.txt"), "w") as f:
        f.write(text)

    classes = {"ntp", "copying", "infilling"}
    check("one weight per arm, summing to 1, and one per class",
          len(series(s, "birdie_mixture_weight")) == N_ARMS and
          abs(sum(series(s, "birdie_mixture_weight").values()) - 1) < 1e-9 and
          set(series(s, "birdie_mixture_class_weight")) == classes, str(series(s, "birdie_mixture_weight")))
    check("training and validation loss by class",
          set(series(s, "birdie_validation_loss")) == classes and set(series(s, "birdie_train_class_loss")) <= classes
          and len(series(s, "birdie_train_class_loss")) > 0 and s.get(("birdie_train_loss", frozenset()), 0) > 0,
          f"{series(s, 'birdie_validation_loss')} {series(s, 'birdie_train_class_loss')}")
    check("a heartbeat age per rank, no rank stalled",
          set(series(s, "birdie_rank_heartbeat_age_seconds")) == {"0", "1"} and
          set(series(s, "birdie_rank_stalled").values()) == {0.0}, str(series(s, "birdie_rank_heartbeat_age_seconds")))
    check("decisions by kind, rewards by class, the decision-time histogram",
          set(series(s, "birdie_scheduler_decisions_total")) == {"explore", "exploit", "operator"} and
          set(series(s, "birdie_scheduler_reward")) <= classes and
          s.get(("birdie_scheduler_decision_duration_seconds_count", frozenset()), 0) >= 2)
    check("running, SERVING, not restarted, steps and tokens counted",
          s.get(("birdie_run_state", frozenset({("state", "running")}))) == 1 and
          s.get(("birdie_health_serving", frozenset())) == 1 and s.get(("birdie_restarts_total", frozenset())) == 0
          and s.get(("birdie_train_step", frozenset()), 0) > 0 and
          s.get(("birdie_train_tokens_per_second", frozenset()), 0) > 0)
    rpcs = {dict(k[1])["method"]: v for k, v in s.items() if k[0] == "birdie_grpc_requests_total" and
            dict(k[1])["code"] == "OK"}
    check("RPCs counted by method and code", rpcs.get("/birdie.v1.Coordinator/Heartbeat", 0) > 0 and
          rpcs.get("/birdie.v1.Coordinator/ReportEval", 0) >= 4, str(rpcs))
    code, _, _ = scrape(url.replace("/metrics", "/other"))
    check("another path is 404", code == 404, str(code))
    code, _, _ = scrape(url, method="POST")
    check("another method is 405", code == 405, str(code))

    p = subprocess.run([BIRDIECTL, "--addr", addr, "-o", "json", "stop", "--reason", "metrics test done"],
                       capture_output=True, text=True, env=ENV, timeout=60)
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = -1
    check("birdiectl stop ends the run", p.returncode == 0 and code == 0, f"ctl {p.returncode} {p.stdout} run {code}")


if __name__ == "__main__":
    work = tempfile.mkdtemp(prefix="birdie-metrics-")
    main(work)
    print(f"1..{len(results)}")
    passed = bool(results) and all(results)
    if passed:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"# the run's log and scrape are kept in {work}")
    sys.exit(0 if passed else 1)
