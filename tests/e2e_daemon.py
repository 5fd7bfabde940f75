#!/usr/bin/env python3
"""tests/e2e_daemon.py BIRDIED BIRDIECTL: the distributed daemon end to end, under mpirun -np 2.

Run 1 (fixed mixture, long): an operator set-mixture mid-run is applied by both ranks at the same
step (GetStatus and SQLite agree); every bad input gets its status and changes nothing; hundreds of
concurrent status calls succeed while training; `birdiectl stop` ends the job cleanly.
Run 2 (Birdie mixture, short): every evaluation round has its evals, rewards, decision and mixture
rows, scheduler mixtures are applied on every rank, and the run finishes.
Run 3 (Birdie mixture, checkpointed, apply_lag 0 and 1): resumed from a checkpoint taken while a
decision was pending, the run repeats the uninterrupted one exactly (losses, validation, the
scheduler's later mixtures), and every decision applies at its fixed step; a run stopped by
[run] stop_after right after an evaluation (its decision due, or still on its way) and resumed
repeats it too. `birdiectl explain --replay` recomputes the straight run's last decision from its
checkpoints bit for bit, and `birdiectl plot` draws it.
Run 4: a rank killed mid-run ends the whole job with a non-zero exit instead of a hang. Prints TAP."""
import shutil
import concurrent.futures
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

BIRDIED, BIRDIECTL = sys.argv[1], sys.argv[2]
TOKEN = "e2e-secret"
ENV = dict(os.environ, BIRDIE_TOKEN=TOKEN, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", ASAN_OPTIONS="detect_leaks=0")
ARMS = "ntp len=16-128; copying len=8-48; infill len=16-96 rate=0.15 width=4"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok' if ok else 'not ok'} {len(results)} - {name}" + (f" # {detail}" if detail and not ok else ""))
    sys.stdout.flush()


def start(tmp, db, extra):
    log = open(os.path.join(tmp, os.path.basename(db) + ".log"), "w+")
    cmd = ["mpirun", "--oversubscribe", "--mca", "btl", "self,vader", "-np", "2", BIRDIED, "--model.size=XS",
           "--train.seq_len=128", "--train.batch=8", f"--objectives.arms={ARMS}", f"--daemon.db={db}",
           "--daemon.listen=127.0.0.1:0", "--train.log_every=100"] + extra
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    deadline = time.time() + 60
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"listening on (\S+)", log.read())
        if m:
            return proc, log, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    log.seek(0)
    raise SystemExit(f"birdied did not start: {log.read()[-2000:]}")


def finish(proc, log, timeout):
    """Waits for birdied to exit (killing it after timeout s: exit -1) and returns (exit code, its log)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = -1
    log.seek(0)
    return code, log.read()


def ctl(addr, *args, token=TOKEN):
    env = dict(ENV, BIRDIE_TOKEN=token)
    p = subprocess.run([BIRDIECTL, "--addr", addr, "-o", "json", *args], capture_output=True, text=True, env=env,
                       timeout=60)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError:
        out = {"raw": p.stdout}
    return p.returncode, out


def status(addr):
    rc, st = ctl(addr, "status")
    return st if rc == 0 else None


def wait_for(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return None


def run_fixed(tmp):
    db = os.path.join(tmp, "fixed.db")
    ckdir = os.path.join(tmp, "ck")
    proc, log, addr = start(tmp, db, ["--run.steps=1000000", "--objectives.mixture=uniform", "--train.eval_every=100",
                                      f"--checkpoint.dir={ckdir}"])
    st = wait_for(lambda: (s := status(addr)) and s.get("state") == "running" and s.get("step", 0) >= 50 and s)
    check("run is running on 2 ranks", bool(st) and st["world_size"] == 2 and len(st["ranks"]) == 2)
    version0 = st["mixture"]["version"] if st else -1

    rc, out = ctl(addr, "set-mixture", "ntp.l16-128=3", "copy.l8-48=1", "--expected-version", str(version0))
    check("set-mixture accepted", rc == 0, str(out))
    v1 = version0 + 1

    def both_applied():
        s = status(addr)
        return s if s and all(r["applied_version"] >= v1 for r in s["ranks"]) else None
    st = wait_for(both_applied)
    steps = {r["applied_step"] for r in st["ranks"]} if st else set()
    check("both ranks applied the operator mixture at the same step (status)", bool(st) and len(steps) == 1,
          str(st and st["ranks"]))

    bad = [
        ("unknown arm", ["set-mixture", "nosucharm=1"], 5, "INVALID_ARGUMENT"),
        ("negative weight", ["set-mixture", "ntp.l16-128=-1"], 5, "INVALID_ARGUMENT"),
        ("NaN weight", ["set-mixture", "ntp.l16-128=nan"], 5, "INVALID_ARGUMENT"),
        ("all-zero weights", ["set-mixture", "ntp.l16-128=0", "copy.l8-48=0"], 5, "INVALID_ARGUMENT"),
        ("stale expected version", ["set-mixture", "ntp.l16-128=1", "--expected-version", str(version0)], 5, "ABORTED"),
    ]
    for name, args, want_rc, code in bad:
        rc, out = ctl(addr, *args)
        got = (out.get("error") or {}).get("code")
        check(f"{name} -> {code}", rc == want_rc and got == code, f"rc {rc} {out}")
    rc, out = ctl(addr, "set-mixture", "ntp.l16-128=1", token="wrong-token")
    check("wrong token -> UNAUTHENTICATED", rc == 6 and (out.get("error") or {}).get("code") == "UNAUTHENTICATED", str(out))
    st = status(addr)
    check("bad inputs changed nothing", bool(st) and st["mixture"]["version"] == v1, str(st and st["mixture"]))

    rc, out = ctl(addr, "pause")
    check("pause accepted", rc == 0, str(out))
    time.sleep(0.5)  # the ranks reach the next step boundary
    s1 = status(addr)
    time.sleep(1.0)
    s2 = status(addr)
    check("a paused run does not advance", bool(s1 and s2) and s1["step"] == s2["step"] and s2["state"] == "paused",
          f"{s1 and s1['step']} -> {s2 and s2['step']}")
    rc, out = ctl(addr, "resume")
    check("resume accepted", rc == 0, str(out))
    s3 = wait_for(lambda: (s := status(addr)) and s["step"] > (s2 or {}).get("step", 0) + 5 and s, timeout=30)
    check("a resumed run advances again", bool(s3))

    rc, out = ctl(addr, "checkpoint", "--reason", "e2e")
    check("checkpoint request accepted", rc == 0, str(out))
    st = wait_for(lambda: (s := status(addr)) and (s.get("last_checkpoint") or {}).get("step", 0) > 0 and s)
    last = (st or {}).get("last_checkpoint") or {}
    manifest = {}
    try:
        with open(os.path.join(ckdir, "manifest.json")) as f:
            manifest = json.load(f)
    except OSError:
        pass
    listed = {c["step"]: c for c in manifest.get("checkpoints", [])}
    check("the operator's checkpoint is written by rank 0 and recorded by the coordinator",
          bool(st) and last.get("step") in listed and os.path.exists(last.get("path", "")), f"{last} vs {listed}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: ctl(addr, "status")[0], range(200)))
    check("200 concurrent status calls succeed while training", codes.count(0) == 200, f"{codes.count(0)}/200")

    rc, out = ctl(addr, "stop", "--reason", "e2e done")
    check("stop accepted", rc == 0, str(out))
    code, text = finish(proc, log, 120)
    check("birdied exits 0 after stop, saying so", code == 0 and "stopped:" in text, f"exit {code}: {text[-500:]}")

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    row = con.execute("select source, applied_step from mixtures where version = ?", (v1,)).fetchone()
    check("SQLite records the operator mixture with the step both ranks applied it",
          row is not None and row[0] == "operator" and row[1] in steps, f"{row} vs {steps}")
    n_rounds = con.execute("select count(distinct step) from evals").fetchone()[0]
    n_evals = con.execute("select count(*) from evals").fetchone()[0]
    check("evals rows are complete (every round has every arm)", n_rounds > 0 and n_evals == 3 * n_rounds,
          f"{n_evals} rows, {n_rounds} rounds")
    check("bad set-mixture calls left no mixture rows",
          con.execute("select count(*) from mixtures").fetchone()[0] == v1 + 1)
    rows = con.execute("select step, checksum from checkpoints order by step").fetchall()
    with open(os.path.join(ckdir, "manifest.json")) as f:
        listed = {c["step"]: c["checksum"] for c in json.load(f)["checkpoints"]}
    check("SQLite checkpoint rows match the manifest's checksums",
          len(rows) >= 1 and all(listed.get(step) == sumhex for step, sumhex in rows), f"{rows} vs {listed}")


def run_birdie(tmp):
    db = os.path.join(tmp, "birdie.db")
    proc, log, addr = start(tmp, db, ["--run.steps=60", "--objectives.mixture=birdie", "--scheduler.rm_hidden=32",
                                      "--scheduler.fit_iters=20", "--scheduler.candidates=256"])
    code, text = finish(proc, log, 240)
    check("Birdie run under the coordinator finishes", code == 0 and "done: 60 steps" in text, text[-800:])
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rounds = [r[0] for r in con.execute("select distinct step from evals order by step")]
    decisions = con.execute("select count(*) from decisions").fetchone()[0]
    rewards = con.execute("select count(distinct step) from rewards").fetchone()[0]
    sched = con.execute("select count(*), count(applied_step) from mixtures where source = 'scheduler'").fetchone()
    check("one decision and one scheduler mixture per evaluation round", len(rounds) > 3 and decisions == len(rounds)
          and sched[0] == len(rounds), f"{len(rounds)} rounds, {decisions} decisions, {sched} mixtures")
    check("rewards recorded for every round after the first", rewards >= len(rounds) - 1, f"{rewards} vs {len(rounds)}")
    applied = len(re.findall(r"applied on every rank", text))
    check("scheduler mixtures applied on every rank (all but a decision at the last step)",
          sched[1] >= len(rounds) - 1 and applied >= len(rounds) - 1, f"{sched} applied lines {applied}")
    state = con.execute("select detail from events where kind = 'state' order by rowid desc limit 1").fetchone()
    check("the run is recorded as finished", state is not None and state[0] == "finished", str(state))


def trajectory(text, after):
    """The run's numbers after step `after`: train and validation losses, and applied mixtures (the
    one applied at after + 1 is already in a checkpoint taken at `after`)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"step +(\d+)(/\d+)? \| (loss [^|]+\|[^|]+\|[^|]+\|[^|]+|val loss .*|mixture v.*)", line)
        if not m:
            continue
        step, what = int(m.group(1)), m.group(3)
        if step > after + (1 if what.startswith("mixture") else 0):
            out.append(f"{step} {what.strip()}")
    return out


def expected_apply_steps(text, lag, steps):
    """Where the scheduler's decisions must apply: evaluation step + 1 + lag, at the latest the next
    evaluation step (the evaluations are the validation lines but step 0 and the final one)."""
    evals = sorted({int(m) for m in re.findall(r"^step +(\d+)/\d+ \| val loss", text, re.M)} - {0, steps})
    nxt = evals[1:] + [10**9]
    return [min(s + 1 + lag, n) for s, n in zip(evals, nxt) if min(s + 1 + lag, n) <= steps]


def run_birdie_resume(tmp, lag):
    """Evaluations every 2 steps and checkpoints every 9, so a checkpoint often falls while a decision
    is pending and waits for the step it applies from. Resuming from the first checkpoint (the later
    ones removed) must repeat the straight run; with apply_lag the decisions apply later, at fixed steps."""
    args = ["--run.steps=36", "--objectives.mixture=birdie", "--scheduler.rm_hidden=32", "--scheduler.fit_iters=20",
            "--scheduler.candidates=256", "--checkpoint.every=9", "--checkpoint.keep=10",
            f"--scheduler.apply_lag={lag}"]
    straight_dir, resumed_dir = os.path.join(tmp, f"ck_straight{lag}"), os.path.join(tmp, f"ck_resumed{lag}")
    texts, first = [], None
    for name, extra in (("straight", [f"--checkpoint.dir={straight_dir}"]),
                        ("resumed", [f"--checkpoint.dir={resumed_dir}", "--resume", "auto"])):
        if name == "resumed":
            shutil.copytree(straight_dir, resumed_dir)
            ckpts = sorted(int(m) for m in re.findall(r"ckpt_(\d+)\.bin", " ".join(os.listdir(resumed_dir))))
            first = ckpts[0] if ckpts else None
            for step in ckpts[1:]:
                os.remove(os.path.join(resumed_dir, f"ckpt_{step:09d}.bin"))
        proc, log, _ = start(tmp, os.path.join(tmp, f"resume{lag}_{name}.db"), args + extra)
        code, text = finish(proc, log, 240)
        texts.append(text)
        check(f"checkpointed Birdie run, apply_lag {lag} ({name}) finishes",
              code == 0 and "done: 36 steps" in texts[-1], texts[-1][-800:])
    check(f"apply_lag {lag}: the resumed run starts from the first checkpoint (step {first})",
          first is not None and f"resumed from the checkpoint of step {first} " in texts[1], texts[1][:1500])
    straight, resumed = trajectory(texts[0], first or 0), trajectory(texts[1], first or 0)
    mixtures = sum(1 for t in straight if " mixture v" in t)
    first_diff = next((f"{a!r} vs {b!r}" for a, b in zip(straight, resumed) if a != b), "lengths differ")
    check(f"apply_lag {lag}: a resumed Birdie run repeats the uninterrupted one (losses, validation, mixtures)",
          straight == resumed and mixtures >= 5, f"{len(straight)} vs {len(resumed)} lines, {mixtures} mixtures: "
          f"{first_diff}")
    applied = [int(m) for m in re.findall(r"^step +(\d+) \| mixture v\d+ applied", texts[0], re.M)]
    expected = expected_apply_steps(texts[0], lag, 36)
    check(f"apply_lag {lag}: every decision applies on every rank at its fixed step", applied == expected,
          f"applied at {applied}, expected {expected}")
    if lag == 0:
        check_explain_and_plot(tmp, os.path.join(tmp, "resume0_straight.db"))
    return texts[0]


def check_explain_and_plot(tmp, db):
    """birdiectl explain and plot on a real two-rank run whose checkpoints hold the scheduler's state."""
    con = sqlite3.connect(db)
    rows = con.execute("select d.step, d.fit_error, x.eval_index, x.kind from decisions d join decision_details x "
                       "using (run_id, incarnation, step, mixture_version) order by d.step").fetchall()
    scheduler = con.execute("select count(*) from decisions where source = 'scheduler'").fetchone()[0]
    con.close()
    check("every scheduler decision of a Birdie run has its details (migration 0005)",
          len(rows) > 3 and len(rows) == scheduler, f"{len(rows)} details, {scheduler} decisions")
    if not rows:
        return
    step, fit, index, kind = rows[-1]
    p = subprocess.run([BIRDIECTL, "--db", db, "-o", "json", "explain", str(step), "--replay"], capture_output=True,
                       text=True, env=ENV, timeout=120)
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        out = {}
    check("explain --replay of a real run's last decision matches bit for bit, as stored",
          p.returncode == 0 and out.get("replay", {}).get("matches") is True and out.get("kind") == kind
          and out.get("scheduler", {}).get("eval_index") == index and out.get("fit_error") == fit,
          (p.stdout[-600:] + p.stderr[-400:]).replace("\n", " "))
    plots = os.path.join(tmp, "plots")
    p = subprocess.run([BIRDIECTL, "--db", db, "-o", "json", "plot", "--out", plots], capture_output=True, text=True,
                       env=ENV, timeout=120)
    files = json.loads(p.stdout).get("files", []) if p.returncode == 0 else []
    check("plot draws the 4 pictures of a real run, PNG and SVG",
          len(files) == 8 and all(os.path.getsize(f) > 1000 for f in files), (p.stdout + p.stderr)[-600:])


def run_stop_and_resume(tmp, straight, lag):
    """[run] stop_after = 13 stops right after an evaluation. With apply_lag 0 its decision is due at
    step 14: the stop takes it first and the final checkpoint is step 13's. With apply_lag 1 the
    decision applies from step 15, so the stop moves there: the run stops after step 14. Either way
    the resumed run repeats the uninterrupted one."""
    args = ["--run.steps=36", "--objectives.mixture=birdie", "--scheduler.rm_hidden=32", "--scheduler.fit_iters=20",
            "--scheduler.candidates=256", "--checkpoint.every=9", "--checkpoint.keep=10",
            f"--scheduler.apply_lag={lag}"]
    ck, last = os.path.join(tmp, f"ck_stopped{lag}"), 13 + lag
    proc, log, _ = start(tmp, os.path.join(tmp, f"stop{lag}_first.db"),
                         args + [f"--checkpoint.dir={ck}", "--run.stop_after=13"])
    code, first = finish(proc, log, 240)
    check(f"stop_after 13, apply_lag {lag}: the run stops after step {last} with a checkpoint of it",
          code == 0 and f"stopped: {last} steps" in first and
          os.path.exists(os.path.join(ck, f"ckpt_{last:09d}.bin")), first[-800:])
    proc, log, _ = start(tmp, os.path.join(tmp, f"stop{lag}_second.db"),
                         args + [f"--checkpoint.dir={ck}", "--resume", "auto"])
    code, second = finish(proc, log, 240)
    check(f"stop_after 13, apply_lag {lag}: the resumed run starts at step {last + 1} and finishes",
          code == 0 and f"resumed from the checkpoint of step {last} " in second and "done: 36 steps" in second,
          second[-800:])
    a, b = trajectory(straight, last), trajectory(second, last)
    first_diff = next((f"{x!r} vs {y!r}" for x, y in zip(a, b) if x != y), "lengths differ")
    check(f"stop_after 13, apply_lag {lag}: stopped and resumed, the run repeats the uninterrupted one",
          a == b and len(a) > 20, f"{len(a)} vs {len(b)} lines: {first_diff}")


def run_lost_rank(tmp):
    """A rank that dies mid-run takes the job down with a non-zero exit, instead of leaving the
    others waiting in a collective."""
    db = os.path.join(tmp, "lost.db")
    proc, log, addr = start(tmp, db, ["--run.steps=1000000", "--objectives.mixture=uniform"])
    st = wait_for(lambda: (s := status(addr)) and s.get("step", 0) >= 20 and s)
    pids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    victim = pids[-1] if pids else None
    if victim:
        os.kill(int(victim), 9)
    t0 = time.time()
    try:
        code = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    check("a killed rank ends the whole job, non-zero, within 90 s", bool(st) and victim is not None and code not in
          (None, 0), f"exit {code} after {time.time() - t0:.1f} s, pids {pids}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        run_fixed(tmp)
        run_birdie(tmp)
        for lag in (0, 1):
            run_stop_and_resume(tmp, run_birdie_resume(tmp, lag), lag)
        run_lost_rank(tmp)
    print(f"1..{len(results)}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
