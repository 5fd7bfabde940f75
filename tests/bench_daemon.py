#!/usr/bin/env python3
"""tests/bench_daemon.py BIRDIED: the daemon's speed numbers (a benchmark, not a test).

1. Step time of a 2-rank run with and without an operator polling GetStatus 100 times a second
   (target: at most 1% slower). The poller is one Python process using Debian's python3-grpcio with
   raw bytes (an empty GetStatusRequest is a valid message). On a machine whose cores the ranks fill,
   the poller's own CPU slows training too, so rank 0's closing line is also read: the CPU time of
   its coordinator and gRPC threads with and without the calls is what serving them costs the daemon.
2. 1 -> 2 rank scaling of tokens/s at the same global batch.
Usage: /usr/bin/python3 tests/bench_daemon.py build/birdied [steps]"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIRDIED = sys.argv[1]
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 400
TOKEN = "bench"
ENV = dict(os.environ, BIRDIE_TOKEN=TOKEN, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
COMMON = ["--model.size=XS", "--train.seq_len=512", "--train.batch=16", "--objectives.mixture=uniform",
          "--train.eval_every=0", "--objectives.val_rows_per_arm=1", "--train.log_every=1", f"--run.steps={STEPS}"]


def step_times(text):
    return [float(m) for m in re.findall(r"\| ([0-9.]+) ms \|", text)]


def run(ranks, tmp, poll_hz=0, daemon=True):
    db = os.path.join(tmp, f"b{ranks}-{poll_hz}-{time.monotonic_ns()}.db")
    extra = [f"--daemon.db={db}", "--daemon.listen=127.0.0.1:0"] if daemon else ["--daemon.listen="]
    cmd = ["mpirun", "-np", str(ranks), BIRDIED] + COMMON + extra
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    lines, stop, calls = [], threading.Event(), [0, 0]

    def poll(addr):
        import grpc
        ch = grpc.insecure_channel(addr)
        get = ch.unary_unary("/birdie.v1.Control/GetStatus", request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
        nxt = time.monotonic()
        while not stop.is_set():
            try:
                get(b"", metadata=[("authorization", f"Bearer {TOKEN}")], timeout=5)
                calls[0] += 1
            except grpc.RpcError:
                calls[1] += 1
            nxt += 1.0 / poll_hz
            time.sleep(max(0.0, nxt - time.monotonic()))

    poller = None
    for line in proc.stdout:
        lines.append(line)
        m = re.search(r"listening on (\S+)", line)
        if m and poll_hz:
            poller = threading.Thread(target=poll, args=(m.group(1),), daemon=True)
            poller.start()
    proc.wait()
    stop.set()
    if poller:
        poller.join()
    text = "".join(lines)
    times = step_times(text)[20:]  # the first steps warm caches
    m = re.search(r"cpu on rank 0 over ([0-9.]+) s: training ([0-9.]+) s .* streams ([0-9.]+) s", text)
    service = (float(m.group(3)), float(m.group(1)), float(m.group(2))) if m else None
    return statistics.median(times), service, calls


def main():
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    # BENCH_STATUS_RANKS=1 with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 leaves a core free for the
    # server and the poller: the cost of serving, without the cost of having no spare core.
    ranks = int(os.environ.get("BENCH_STATUS_RANKS", "2"))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{ranks} rank(s), XS model, 16 x 512 tokens per step, {STEPS} steps; {rounds} alternating rounds "
              "(median step time of each run)")
        plain, polled, ok, failed, service = [], [], 0, 0, {0: [], 100: []}
        for _ in range(rounds):
            med, cpu, _ = run(ranks, tmp)
            plain.append(med)
            service[0].append(cpu)
            med, cpu, calls = run(ranks, tmp, poll_hz=100)
            polled.append(med)
            service[100].append(cpu)
            ok, failed = ok + calls[0], failed + calls[1]
        ref, with_calls = statistics.median(plain), statistics.median(polled)
        print(f"  no status calls: {' '.join(f'{t:.2f}' for t in plain)} ms -> median {ref:.2f} ms")
        print(f"  100 GetStatus/s: {' '.join(f'{t:.2f}' for t in polled)} ms -> median {with_calls:.2f} ms "
              f"({ok} calls ok, {failed} failed) -> {100 * (with_calls / ref - 1):+.1f}%")
        for hz, runs in service.items():
            runs = [r for r in runs if r]
            if runs:
                per_s = statistics.median(r[0] / r[1] for r in runs)
                share = statistics.median(r[0] / r[2] for r in runs)
                print(f"  rank 0 coordinator + gRPC threads at {hz:3d} calls/s: {per_s * 1e3:.1f} ms CPU per second "
                      f"of run ({100 * share:.2f}% of its training CPU)")
        if ranks != 2:
            return
        one = run(1, tmp)
        tokens = 16 * 512
        print(f"scaling at the same global batch: 1 rank {tokens / one[0] * 1e3:.0f} tok/s, "
              f"2 ranks {tokens / ref * 1e3:.0f} tok/s -> x{one[0] / ref:.2f}")


if __name__ == "__main__":
    main()
