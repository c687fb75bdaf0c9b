#!/usr/bin/env python3
"""Issue 12's restart and disk targets, each against an ipcqd of its own
with --data-dir on DIR (on the same file system as compare's other durable
runs), printing one JSON line as ipcq-bench's scale runs do.

    durable_runs.py restart IPCQD IPCQ DIR [--items N] [--size B]
        N queued B-byte items (default 1,000,000 of 100), put through
        `ipcq put --lines`; ipcqd is SIGKILLed and started again on DIR,
        and the time from its start to the first item got is measured,
        with the recovery time ipcqd logs and the log's size: MB/s.
    durable_runs.py churn IPCQD IPCQ BENCH DIR [--seconds S]
        one item put on a queue nobody reads (it pins the log's first
        segment), then S seconds (default 600) of ipcq-bench async
        put/get churn, steady (the queue bounded at 10,000: a producer
        that outran its consumer would grow the live data, not churn it);
        every half second `ipcq stat --json` gives the
        log's bytes on disk and live: the peak, and whether the disk ever
        passed twice the live records plus one segment.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

SEGMENT = 64 << 20  # ipcqd's default --segment-size


def start(ipcqd, endpoint, data_dir, log):
    proc = subprocess.Popen([ipcqd, "--bind", endpoint, "--data-dir", data_dir,
                             "--max-memory", "8G", "--log-level", "info"],
                            stderr=log, stdout=subprocess.DEVNULL)
    return proc


def wait_ready(ipcq, endpoint, proc, deadline_s=60):
    """Seconds until `ipcq ping` answers (the broker recovered and bound)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if proc.poll() is not None:
            raise SystemExit(f"ipcqd exited with status {proc.returncode}")
        if subprocess.run([ipcq, "--broker", endpoint, "ping"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return time.monotonic() - t0
        time.sleep(0.005)
    raise SystemExit("ipcqd did not answer within a minute")


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stat(ipcq, endpoint):
    out = subprocess.run([ipcq, "--broker", endpoint, "stat", "--json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)["broker"]


def restart(a):
    endpoint = f"unix://{a.dir}/broker.sock"
    data = os.path.join(a.dir, "data")
    log_path = os.path.join(a.dir, "ipcqd.log")
    with open(log_path, "w") as log:
        proc = start(a.ipcqd, endpoint, data, log)
        try:
            wait_ready(a.ipcq, endpoint, proc)
            feed = subprocess.Popen([a.ipcq, "--broker", endpoint, "put", "big", "--lines"],
                                    stdin=subprocess.PIPE)
            width = a.size - 1  # each line is an item; the newline is not kept
            chunk = []
            for i in range(a.items):
                chunk.append(f"{i:0{width}d}\n")
                if len(chunk) == 10000:
                    feed.stdin.write("".join(chunk).encode())
                    chunk = []
            feed.stdin.write("".join(chunk).encode())
            feed.stdin.close()
            if feed.wait() != 0:
                raise SystemExit("ipcq put --lines failed")
            queued = stat(a.ipcq, endpoint)["items"]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            t0 = time.monotonic()
            proc = start(a.ipcqd, endpoint, data, log)
            wait_ready(a.ipcq, endpoint, proc)
            got = subprocess.run([a.ipcq, "--broker", endpoint, "get", "big", "--nowait"],
                                 capture_output=True, text=True)
            first_get_s = time.monotonic() - t0
            if got.returncode != 0 or got.stdout.strip() != f"{0:0{width}d}":
                raise SystemExit(f"the first get after the restart gave {got.stdout[:40]!r}")
            after = stat(a.ipcq, endpoint)
        finally:
            stop(proc)
    text = open(log_path).read()
    m = re.findall(r"in (\d+) segments, ([\d.]+) MB, recovered in (\d+) ms", text)
    segments, log_mb, recovery_ms = int(m[-1][0]), float(m[-1][1]), int(m[-1][2])
    print(json.dumps({"peer": "ipcq", "mode": "restart", "items": queued,
                      "size": a.size, "items_after": after["items"] + 1,
                      "first_get_s": round(first_get_s, 3), "recovery_ms": recovery_ms,
                      "log_mb": log_mb, "segments": segments,
                      "recovery_mb_per_s": round(log_mb / max(recovery_ms, 1) * 1000, 1)}))


def churn(a):
    endpoint = f"unix://{a.dir}/broker.sock"
    data = os.path.join(a.dir, "data")
    with open(os.path.join(a.dir, "ipcqd.log"), "w") as log:
        proc = start(a.ipcqd, endpoint, data, log)
        bench = None
        try:
            wait_ready(a.ipcq, endpoint, proc)
            subprocess.run([a.ipcq, "--broker", endpoint, "put", "slow", "pinned"], check=True)
            bench = subprocess.Popen([a.bench, "--broker", endpoint, "--broker-pid",
                                      str(proc.pid), "--mode", "async", "--window", "1000",
                                      "--batch", "100", "--maxsize", "10000", "--duration",
                                      str(a.seconds), "--json"],
                                     stdout=subprocess.PIPE, text=True)
            peak = peak_live = samples = over = worst_over = 0
            while bench.poll() is None:
                b = stat(a.ipcq, endpoint)
                disk, live = b["log_disk_bytes"], b["log_live_bytes"]
                bound = 2 * live + SEGMENT
                samples += 1
                if disk > bound:
                    over += 1
                    worst_over = max(worst_over, disk - bound)
                if disk > peak:
                    peak, peak_live = disk, live
                time.sleep(0.5)
            run = json.loads(bench.stdout.read().strip().splitlines()[-1])
        finally:
            if bench is not None and bench.poll() is None:
                bench.kill()
                bench.wait()
            stop(proc)
    print(json.dumps({"peer": "ipcq", "mode": "churn", "seconds": a.seconds,
                      "items": run.get("items"), "items_per_s": run.get("items_per_s"),
                      "samples": samples, "peak_disk_bytes": peak,
                      "live_at_peak_bytes": peak_live, "segment_bytes": SEGMENT,
                      "samples_over_bound": over, "worst_over_bytes": worst_over}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("restart")
    r.add_argument("ipcqd")
    r.add_argument("ipcq")
    r.add_argument("dir")
    r.add_argument("--items", type=int, default=1_000_000)
    r.add_argument("--size", type=int, default=100)
    c = sub.add_parser("churn")
    c.add_argument("ipcqd")
    c.add_argument("ipcq")
    c.add_argument("bench")
    c.add_argument("dir")
    c.add_argument("--seconds", type=int, default=600)
    a = p.parse_args()
    if a.cmd == "restart":
        restart(a)
    else:
        churn(a)


if __name__ == "__main__":
    sys.exit(main())
