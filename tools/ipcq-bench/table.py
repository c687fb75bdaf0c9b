#!/usr/bin/env python3
"""Makes the comparison table of tools/ipcq-bench/compare from its JSON lines.

    table.py RESULTS.jsonl [--docs docs/BENCHMARKS.md]

RESULTS.jsonl holds one JSON object a line: ipcq-bench --json reports
("tool": "ipcq-bench") and the peers' lines ("peer": ...); a line
{"peer": ..., "mode": ..., "error": ...} stands for a run that failed.
Lines with a "label" are the scale and memory runs (ipcq-bench --scenario,
--idle-queues, 100 processes), by label: async-idle-0, async-idle-10000,
async-100-procs, fill, queues, waiters. A line's "transport" (unix, ipc;
else the scheme of its endpoint) says which of the broker's endpoints it
used; a line with "skipped" stands for a run that was not made, and why.
A line's "durable" is the setting of a server that kept its data on disk
(ipcqd --fsync always / everysec, Redis appendfsync always / everysec,
beanstalkd -f 0 / -f 1000): those lines make the "Durable" table (issue
12), the others the main one. A (peer, mode, transport, durable) run, or a
label, more than once counts with its best run. Prints the table, each
figure with its ratio to ipcq strict and to ipcq batch (on unix://, the
broker's native lane, when measured), the durable table, each figure with
its ratio to ipcq strict and async with --fsync always (a durable run
compare makes that is not there at all says "missing"), then ipcq's
latencies and broker figures, issue 4's targets, issue 11's and issue
12's and 13's targets (each with its ratio, met or not), the nats:// runs
(lines with a "nats": the setup, 1 server or 3 servers) beside the native
floor with issue 14's targets, and the "Scale and
memory" table: each target, the figure, met or not. With --docs, writes
the same, with the machine and the date, between the markers
<!-- compare:begin --> and <!-- compare:end --> of that file, and draws the
main and the durable table as charts (chart.py, gnuplot) beside it:
compare.svg and compare-durable.svg.
"""

import argparse
import datetime
import json
import os
import platform
import re
import sys

BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                rows.append({"peer": "?", "mode": "?", "error": "not JSON: " + line[:80]})
    return rows


def transport(r):
    """unix, ipc, tcp, or None: the line's "transport", else the scheme of
    its endpoint (ipcq-bench's broker's, or the peer's own)."""
    if r.get("transport"):
        return r["transport"]
    ep = r.get("endpoint") or (r.get("broker") or {}).get("endpoint") or ""
    return ep.split("://", 1)[0] if "://" in ep else None


def failed(r):
    return "error" in r or "skipped" in r


def best_of(rows):
    """One row per (peer, mode, transport, durable), in first-seen order: the
    run with the most items/s (each peer at its best), or a failure if every
    run failed."""
    best, order = {}, []
    for r in rows:
        key = (("ipcq", r["mode"]) if r.get("tool") == "ipcq-bench" else
               (r.get("peer"), r.get("mode"))) + (transport(r), r.get("durable"), r.get("nats"))
        if key not in best:
            order.append(key)
            best[key] = r
            continue
        old = best[key]
        if failed(old) or (not failed(r) and
                           r.get("items_per_s", 0) > old.get("items_per_s", 0)):
            best[key] = r
    return [best[k] for k in order]


def on(mode, t):
    """mode, with the transport it ran on."""
    return f"{mode} ({t}://)" if t else mode


IPCQ_MODES = ("strict", "batch", "async", "prefetch")  # ipcq-bench's, the rows' keys


def ipcq_row(r):
    if r.get("tool") != "ipcq-bench":
        return None
    mode = r["mode"]
    what = {"strict": "strict: ipcq_put / ipcq_get, one item per call",
            "batch": f"batch: ipcq_put_many / ipcq_get_many, {r['batch']} per call",
            "async": f"async: ipcq_put_async, {r.get('window')} in flight / "
                     f"ipcq_get_many, {r['batch']} per call",
            "prefetch": f"prefetch: ipcq_put_async, {r.get('window')} in flight / "
                        f"ipcq_get, {r['batch']} prefetched"}.get(mode, mode)
    t = transport(r)
    return {"peer": "ipcq", "mode": on(what, t), "key": mode, "transport": t,
            "durable": r.get("durable"), "nats": r.get("nats"), "items_per_s": r["items_per_s"],
            "unit": "items/s", "raw": r}


def fmt_rate(v):
    if v is None:
        return "failed"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def fmt_ratio(v, base):
    if v is None or not base:
        return "–"
    x = v / base
    return f"{x:.2f}×" if x < 10 else f"{x:.0f}×"


def find_all(rows, peer, mode, exact=False, transports=None):
    """The runs of peer whose mode is mode (exact) or starts with it, on one
    of transports (None: any), that did not fail."""
    return [r for r in rows
            if r.get("peer") == peer and not failed(r)
            and (r.get("mode", "") == mode if exact else r.get("mode", "").startswith(mode))
            and (transports is None or transport(r) in transports)]


def find(rows, peer, mode, exact=False, transports=None):
    """The run find_all() finds with the most items/s, or None."""
    found = find_all(rows, peer, mode, exact, transports)
    return max(found, key=lambda r: r.get("items_per_s", 0)) if found else None


def baseline(out, key):
    """ipcq-bench's run of mode key on unix:// (the native lane), else on
    ipc://, else on any."""
    runs = [r for r in out if r["key"] == key and r["items_per_s"]]
    for t in ("unix", "ipc"):
        for r in runs:
            if r["transport"] == t:
                return r
    return runs[0] if runs else None


def build(rows):
    """The table rows, ipcq's baselines and the target lines. A failed
    ipcq-bench run's row has its mode as key too."""
    out = []
    for r in rows:
        t = transport(r)
        key = r.get("mode") if r.get("peer") == "ipcq" and r.get("mode") in IPCQ_MODES else None
        row = ipcq_row(r) or {"peer": r.get("peer", "?"), "mode": on(r.get("mode", "?"), t),
                              "key": key, "transport": t, "durable": r.get("durable"),
                              "nats": r.get("nats"), "items_per_s": r.get("items_per_s"),
                              "unit": r.get("unit", "items/s"), "raw": r}
        if failed(r):
            row["items_per_s"] = None
        out.append(row)
    return out, baseline(out, "strict"), baseline(out, "batch")


# The durable runs compare makes (issue 12), in its order: (peer, mode, the
# server's setting). ipcq's mode is ipcq-bench's; a peer's, its mode's start.
DURABLE = [("ipcq", m, f"--fsync {f}") for f in ("always", "everysec")
           for m in ("strict", "async")]
DURABLE += [("redis", f"RPUSH/BLPOP {m}", f"appendfsync {f}") for f in ("always", "everysec")
            for m in ("one per round trip", "pipelined by 100")]
DURABLE += [("beanstalkd", f"put/reserve/delete {m}", f"-f {ms}") for ms in (0, 1000)
            for m in ("one per round trip", "pipelined by 100")]


def durable_row(dout, peer, mode, durable):
    """The row of the durable run (peer, mode, durable), failed or not; None
    if there is none at all."""
    for r in dout:
        if r["durable"] != durable:
            continue
        if peer == "ipcq" and r["key"] == mode:
            return r
        if peer != "ipcq" and r["peer"] == peer and r["raw"].get("mode", "").startswith(mode):
            return r
    return None


def on_disk(peer, durable):
    """How the server keeps its data: the durable setting, said in full."""
    how = {"ipcq": "--data-dir", "redis": "AOF", "beanstalkd": "binlog"}.get(peer)
    text = f"{how}, {durable}" if how else durable
    if peer == "beanstalkd" and durable.startswith("-f "):
        ms = durable[3:]
        text += " (fsync on every write)" if ms == "0" else f" (fsync at most every {ms} ms)"
    return text


def durable_lines(dout, markdown, fs):
    """The durable runs, each with its ratio to ipcq's durable strict and
    async runs with --fsync always (on unix://, the lane, they run on); the
    runs compare makes that are not there at all say "missing"."""
    def base(key):
        runs = [r for r in dout if r["key"] == key and r["durable"] == "--fsync always"
                and r["items_per_s"]]
        return next((r for r in runs if r["transport"] == "unix"), runs[0] if runs else None)
    strict, fast = base("strict"), base("async")
    s = strict["items_per_s"] if strict else None
    a = fast["items_per_s"] if fast else None
    head = ["peer", "what is measured (1 producer, 1 consumer, 100-byte items)", "on disk",
            "figure", "unit", on("÷ ipcq strict, always", strict and strict["transport"]),
            on("÷ ipcq async, always", fast and fast["transport"])]
    body = [[r["peer"], r["mode"], on_disk(r["peer"], r["durable"]),
             "not run" if "skipped" in r["raw"] else fmt_rate(r["items_per_s"]), r["unit"],
             fmt_ratio(r["items_per_s"], s), fmt_ratio(r["items_per_s"], a)] for r in dout]
    body += [[peer, on(mode, "unix") if peer == "ipcq" else mode, on_disk(peer, durable),
              "missing", "items/s", "–", "–"]
             for peer, mode, durable in DURABLE if durable_row(dout, peer, mode, durable) is None]
    where = f" ({fs})" if fs else ""
    return ["Durable (issue 12): each server keeps its data in a directory of its own, all on "
            f"one filesystem{where}; each figure divided by ipcq's strict and async runs with "
            "--fsync always:", ""] + render(head, body, markdown, right=(3, 5, 6))


def table_lines(out, strict, batch, markdown):
    s = strict["items_per_s"] if strict else None
    b = batch["items_per_s"] if batch else None
    head = ["peer", "what is measured (1 producer, 1 consumer, 100-byte items)", "figure",
            "unit", on("÷ ipcq strict", strict and strict["transport"]),
            on("÷ ipcq batch", batch and batch["transport"])]
    body = [[r["peer"], r["mode"],
             "not run" if "skipped" in r["raw"] else fmt_rate(r["items_per_s"]), r["unit"],
             fmt_ratio(r["items_per_s"], s), fmt_ratio(r["items_per_s"], b)] for r in out]
    return render(head, body, markdown, right=(2, 4, 5))


def render(head, body, markdown, right=()):
    if markdown:
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return lines
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]

    def line(row):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()
    return [line(head), line(["-" * w for w in widths])] + [line(r) for r in body]


def ipcq_detail_lines(out, markdown):
    head = ["ipcq mode", "items/s", "put p50 / p99 / p99.9 µs", "get p50 / p99 / p99.9 µs",
            "broker CPU µs/item", "broker CPU, share of one core", "broker peak RSS MiB"]
    body = []
    for r in out:
        if r["key"] is None or r["items_per_s"] is None:
            continue
        raw = r["raw"]
        br = raw["broker"]

        def lat(k):
            d = raw[k]
            if d["p50"] is None:
                return "–"
            return " / ".join(f"{d[k]:.1f}" if d[k] < 10 else f"{d[k]:.0f}"
                              for k in ("p50", "p99", "p999"))
        cpu = "–" if br["cpu_us_per_item"] is None else f"{br['cpu_us_per_item']:.2f}"
        share = "–" if br["cpu_s"] is None or not raw["seconds"] else \
            f"{br['cpu_s'] / raw['seconds']:.2f}"
        rss = "–" if br["peak_rss_kib"] is None else f"{br['peak_rss_kib'] / 1024:.1f}"
        key = r["key"] + (f", {r['durable']}" if r.get("durable") else "")
        body.append([on(key, r["transport"]), fmt_rate(r["items_per_s"]),
                     lat("put_latency_us"),
                     lat("get_latency_us"), cpu, share, rss])
    lines = render(head, body, markdown, right=(1, 4, 5, 6))
    if any(r["raw"].get("broker", {}).get("kind") == "shared" for r in out if r["key"]):
        lines += ["", "Against a shared ipcqd (one a round, on both endpoints), a run's peak "
                  "RSS is that ipcqd's VmHWM since it started: it carries the peaks of the "
                  "runs before it in the round."]
    return lines


def target_lines(rows, out, markdown):
    """Issue 4's targets that these runs can speak to. Those against the
    bare ZeroMQ echo take ipcq's runs on ipc:// (ZeroMQ's transport, as the
    echo's) when there are any. The throughput modes are async put +
    get_many ("async") and async put + prefetch: the better of the two, on
    the better transport, is held against the targets."""
    zmq2 = find(rows, "zeromq", "DEALER/ROUTER echo, sync, 2")
    zmq1 = find(rows, "zeromq", "DEALER/ROUTER echo, sync, 1")
    mgr = find(rows, "python-manager", "producer-consumer", exact=True)
    redis = find(rows, "redis", "RPUSH/BLPOP pipelined")
    mq = find(rows, "posix-mq", "mq_send")
    res = []
    zt = ["ipc"] if any(r["transport"] == "ipc" for r in out) else None
    strict = next((r for r in out if r["key"] == "strict" and r["items_per_s"]
                   and (zt is None or r["transport"] in zt)), None)

    def add(what, target, value):
        if value is None:
            res.append([what, target, "not measured"])
        else:
            res.append([what, target, f"{value:.2f}×" + ("" if value >= float(
                target.strip("≥ ×")) else "  (behind)")])
    st = on("strict", strict and strict["transport"])
    if strict and zmq2:
        # Strict 1P/1C is two clients making one synchronous request each
        # per item: requests/s = 2 × items/s, beside two sync echo clients.
        add(f"{st} requests/s (2 × items/s) ÷ bare ZeroMQ echo, 2 sync clients", "≥ 0.9×",
            2 * strict["items_per_s"] / zmq2["items_per_s"])
    else:
        add(f"{st} requests/s ÷ bare ZeroMQ echo, 2 sync clients", "≥ 0.9×", None)
    if strict and zmq1:
        # Not like for like (the put competes with a consumer for the two
        # cores): shown for information; the one-client rows are the target.
        put = strict["raw"]["put_latency_us"]["mean"]
        if put:
            res.append(["bare ZeroMQ echo round trip (1 client) ÷ ipcq put mean latency in "
                        f"{st} 1P/1C (the put competes with a consumer: information only)",
                        "–", f"{zmq1['mean_rtt_us'] / put:.2f}×"])
    put1 = find(rows, "ipcq", "strict put, 1 client", transports=zt)
    putget1 = find(rows, "ipcq", "strict put + get, 1 client", transports=zt)
    for r, what, note in ((put1, "strict put, 1 client", ""),
                          (putget1, "strict put + get, 1 client",
                           "; the get's D1 receipt is a third message")):
        add(f"ipcq {on(what, r and transport(r))} (requests/s{note}) ÷ bare ZeroMQ echo, "
            "1 sync client", "≥ 0.9×",
            r["items_per_s"] / zmq1["items_per_s"] if r and zmq1 else None)
    fast = [r for r in out if r["key"] in ("async", "prefetch") and r["items_per_s"]]
    best = max(fast, key=lambda r: r["items_per_s"]) if fast else None
    label = f"ipcq {on(best['key'], best['transport'])}" if best else "ipcq async/prefetch"
    for peer, name, target in ((mgr, "Python Manager().Queue() producer→consumer", "≥ 20×"),
                               (redis, "Redis pipelined by 100", "≥ 1×"),
                               (mq, "POSIX mq, 10 slots", "≥ 1×")):
        add(f"{label} (the better throughput mode) ÷ {name}", target,
            best["items_per_s"] / peer["items_per_s"] if best and peer else None)
    if best:
        add(f"{label} ÷ 2,000,000 items/s (the aim)", "≥ 1×", best["items_per_s"] / 2e6)
    pool = find(rows, "ipcq", "pool apply_async")
    pypool = find(rows, "python-pool", "apply_async")
    add(f"ipcq {on('pool', pool and transport(pool))} tiny tasks/s ÷ "
        "multiprocessing.Pool.apply_async (2 workers each)", "≥ 2×",
        pool["items_per_s"] / pypool["items_per_s"] if pool and pypool else None)
    return render(["issue 4 target", "wanted", "measured"], res, markdown)


def ratio_target(what, wanted, at_least, ipcq_of, base, judged_on,
                 no_base="not measured (the peer's run failed or was not made)",
                 no_ipcq="not measured"):
    """A target's row: ipcq_of(transport) ÷ base on unix:// and on ipc://,
    met when at_least on one of judged_on; no_base or no_ipcq when there is
    nothing to divide."""
    if base is None or not base.get("items_per_s"):
        return [what, wanted, no_base, "–"]
    ratios = {}
    for t in ("unix", "ipc"):
        r = ipcq_of(t)
        if r is not None and r.get("items_per_s"):
            ratios[t] = (r["items_per_s"] / base["items_per_s"], r["items_per_s"])
    if not ratios:
        return [what, wanted, no_ipcq, "–"]
    judged = {t: x for t, x in ratios.items() if t in judged_on}
    measured = ", ".join(f"{t}:// {x:.2f}×" for t, (x, _) in ratios.items())
    if not judged:
        return [what, wanted, measured, "not measured on " +
                " or ".join(f"{t}://" for t in judged_on)]
    t, (x, v) = max(judged.items(), key=lambda kv: kv[1][0])
    measured += f" ({fmt_rate(v)} ÷ {fmt_rate(base['items_per_s'])})"
    verdict = "met" if x >= at_least else "not met"
    if len(judged_on) > 1:
        verdict += f" (on {t}://)"
    return [what, wanted, measured, verdict]


def issue11_lines(rows, out, markdown):
    """Issue 11's targets, each ratio on unix:// and on ipc:// side by side.
    Those the issue states for strict requests are judged on unix:// (the
    lane); the throughput ones on the better of the two transports."""
    res = []

    def ipcq_bench(key):
        return lambda t: next((r["raw"] for r in out if r["key"] == key and r["items_per_s"]
                               and r["transport"] == t), None)

    def peer_run(peer, mode, exact=False):
        return lambda t: find(rows, peer, mode, exact=exact, transports=[t])

    def add(what, wanted, at_least, ipcq_of, base, judged_on):
        res.append(ratio_target(what, wanted, at_least, ipcq_of, base, judged_on))

    mgr = find(rows, "python-manager", "producer-consumer", exact=True)
    mgr22 = find(rows, "python-manager", "producer-consumer, 2P/2C", exact=True)
    redis = find(rows, "redis", "RPUSH/BLPOP one per round trip")
    pingpong = find(rows, "unix-socket", "socketpair ping-pong")
    mq = find(rows, "posix-mq", "mq_send")
    pypool = find(rows, "python-pool", "apply_async")
    both, lane = ("unix", "ipc"), ("unix",)
    add("ipcq strict 1P/1C items/s ÷ Python Manager().Queue() producer→consumer (1P/1C)",
        "≥ 2× on unix://", 2, ipcq_bench("strict"), mgr, lane)
    add("ipcq strict 1P/1C items/s ÷ Redis RPUSH/BLPOP, one per round trip", "≥ 1× on unix://",
        1, ipcq_bench("strict"), redis, lane)
    add("one client's strict ipcq_put requests/s ÷ raw unix-socket ping-pong round trips/s",
        "≥ 0.5× on unix://", 0.5, peer_run("ipcq", "strict put, 1 client", exact=True),
        pingpong, lane)
    add("ipcq-pool prodcons 2P/2C (default) items/s ÷ Python Manager producer→consumer, 2P/2C",
        "≥ 5×", 5, peer_run("ipcq-pool", "prodcons 2P/2C, default", exact=True), mgr22, both)
    strict_pc = peer_run("ipcq-pool", "prodcons 2P/2C, --strict", exact=True)
    if any(strict_pc(t) for t in both):
        add("ipcq-pool prodcons 2P/2C --strict items/s ÷ Python Manager producer→consumer, "
            "2P/2C (one item a call: information only)", "–", 0, strict_pc, mgr22, both)
        res[-1][3] = "–"
    add("ipcq async (ipcq_put_async / ipcq_get_many) items/s ÷ POSIX mq, 10 slots", "≥ 1.5×",
        1.5, ipcq_bench("async"), mq, both)
    add("ipcq pool tiny tasks/s ÷ multiprocessing.Pool.apply_async (2 workers each)", "≥ 10×",
        10, peer_run("ipcq", "pool apply_async"), pypool, both)
    return render(["issue 11 target", "wanted", "measured", "met?"], res, markdown)

def issue12_lines(out, dout, markdown):
    """Issue 12's targets: ipcq's durable runs (on unix://, the only
    endpoint they run on) against Redis with its AOF and against ipcq
    without disk, as issue 11's are printed; a run that failed or is
    missing says so."""
    res = []

    def state(peer, mode, durable):
        r = durable_row(dout, peer, mode, durable)
        what = f"{peer} {mode}, {durable}"
        if r is None:
            return f"not measured: {what} missing"
        return f"not measured: {what} " + ("not run" if "skipped" in r["raw"] else "failed")

    def ipcq_durable(key, durable):
        return lambda t: next((r["raw"] for r in dout if r["key"] == key and r["items_per_s"]
                               and r["durable"] == durable and r["transport"] == t), None)

    def peer_durable(peer, mode, durable):
        r = durable_row(dout, peer, mode, durable)
        return r["raw"] if r is not None and r["items_per_s"] else None

    def add(what, wanted, at_least, key, durable, base, no_base):
        res.append(ratio_target(what, wanted, at_least, ipcq_durable(key, durable), base,
                                ("unix",), no_base=no_base,
                                no_ipcq=state("ipcq", key, durable)))

    rtt = ("redis", "RPUSH/BLPOP one per round trip", "appendfsync always")
    piped = ("redis", "RPUSH/BLPOP pipelined by 100", "appendfsync always")
    add("ipcq strict 1P/1C items/s, --fsync always ÷ Redis RPUSH/BLPOP one per round trip, "
        "appendfsync always", "≥ 1× on unix://", 1, "strict", "--fsync always",
        peer_durable(*rtt), state(*rtt))
    add("ipcq async (ipcq_put_async / ipcq_get_many) items/s, --fsync always ÷ 100,000 items/s",
        "≥ 1× (100,000 items/s) on unix://", 1, "async", "--fsync always",
        {"items_per_s": 1e5}, "–")
    add("ipcq async items/s, --fsync always ÷ Redis RPUSH/BLPOP pipelined by 100, "
        "appendfsync always", "≥ 2× on unix://", 2, "async", "--fsync always",
        peer_durable(*piped), state(*piped))
    memory = next((r["raw"] for r in out if r["key"] == "async" and r["items_per_s"]
                   and r["transport"] == "unix"), None)
    add("ipcq async items/s, --fsync everysec ÷ ipcq async without disk (above)",
        "≥ 0.5× on unix://", 0.5, "async", "--fsync everysec", memory,
        "not measured: ipcq async (unix://) without disk failed or missing")
    return render(["issue 12 target", "wanted", "measured", "met?"], res, markdown)


OVERHEAD = "per-call overhead over the C call"  # python/bench/overhead.py --json's mode
NATS_SETUPS = ("1 server", "3 servers")
# ipcq-bench's mode on nats:// and the native floor's mode that does the same work
NATS_PAIRS = (("strict", "publish/fetch one per round trip"),
              ("async", "publish/fetch pipelined by 1000"))


def nats_runs(nout):
    """{(setup, ipcq mode): (ipcq's row, the native floor's row)} of the nats:// runs."""
    runs = {}
    for setup in NATS_SETUPS:
        for key, native in NATS_PAIRS:
            mine = next((r for r in nout if r["nats"] == setup and r["key"] == key), None)
            floor = next((r for r in nout if r["nats"] == setup and r["peer"] == "nats"
                          and r["raw"].get("mode") == native), None)
            runs[(setup, key)] = (mine, floor)
    return runs


def nats_lines(nout, out, markdown):
    """Issue 14's runs: ipcq on nats:// (one server; the 3-node cluster)
    beside the native libnats floor doing the same work, and beside the
    same client on unix://; then the targets (≥ 0.8× the native floor)."""
    head = ["setup", "ipcq-bench on nats://", "figure", "native libnats (the floor)", "figure",
            "÷ the floor", "÷ the same on unix://"]
    body, targets = [], []
    for (setup, key), (mine, floor) in nats_runs(nout).items():
        lane = baseline([r for r in out if r["transport"] == "unix"], key)
        v = mine["items_per_s"] if mine else None
        f = floor["items_per_s"] if floor else None
        body.append([setup, key, fmt_rate(v) if mine else "missing",
                     floor["raw"].get("mode", "–") if floor else "–",
                     fmt_rate(f) if floor else "missing", fmt_ratio(v, f),
                     fmt_ratio(v, lane["items_per_s"] if lane else None)])
        what = f"ipcq {key} 1P/1C on nats:// ({setup}) ÷ native libnats doing the same"
        if v is None or f is None:
            targets.append([what, "≥ 0.8×", "not measured", "–"])
        else:
            targets.append([what, "≥ 0.8×", f"{v / f:.2f}× ({fmt_rate(v)} ÷ {fmt_rate(f)})",
                            "met" if v / f >= 0.8 else "not met"])
    lines = ["nats:// (issue 14): one producer and one consumer process, 100-byte items, "
             "against one nats-server and a 3-node cluster on loopback (JetStream, file "
             "storage, replicas min(3, servers)); each row is its best run, of three a "
             "round (a stream's leader lands on a random server, which moves a single "
             "run by a third either way):", ""]
    lines += render(head, body, markdown, right=(2, 4, 5, 6))
    lines += [""] + render(["issue 14 target", "wanted", "measured", "met?"], targets, markdown)
    return lines


def issue13_lines(rows, overhead, markdown):
    """Issue 13's targets: ipcq.Queue from Python, producer→consumer one
    item a call, against Manager().Queue() (the same program, peers.py),
    judged on unix:// (the default endpoint, a Python user's); and the
    Python client's per-call overhead over the C call (overhead.py: medians
    of put and get of a 16-byte item, raw and pickled; the best run)."""
    res = [ratio_target(
        "ipcq from Python (ipcq.Queue, one item a call) producer→consumer items/s ÷ Python "
        "Manager().Queue() producer→consumer (1P/1C, the same program)", "≥ 2× on unix://", 2,
        lambda t: find(rows, "ipcq-python", "producer-consumer", exact=True, transports=[t]),
        find(rows, "python-manager", "producer-consumer", exact=True), ("unix",))]
    runs = [r for r in overhead if not failed(r) and "C" in r]

    def worst(r):  # the largest of the four overheads of a run
        return max(r[k][f] - r["C"][f] for k in ("raw", "pickled") for f in ("put_us", "get_us"))
    what = ("Python per-call overhead over the C call (ipcq.Queue put / get of a small item "
            "minus ipcq_put / ipcq_get, medians, on a Manager's unix:// broker)")
    if not runs:
        res.append([what, "≤ 10 µs", "not measured", "–"])
    else:
        r = min(runs, key=worst)
        c = r["C"]
        parts = [f"{k} put {r[k]['put_us'] - c['put_us']:+.1f}, get "
                 f"{r[k]['get_us'] - c['get_us']:+.1f}" for k in ("raw", "pickled")]
        res.append([what, "≤ 10 µs", "; ".join(parts) +
                    f" µs (C: put {c['put_us']:.1f}, get {c['get_us']:.1f} µs)",
                    "met" if worst(r) <= 10 else "not met"])
    return render(["issue 13 target", "wanted", "measured", "met?"], res, markdown)


MB = 1e6  # issue 4's MB: bytes / 10^6 (stricter than MiB)


def scale_best(rows):
    """The scale runs by label: the one with the most items/s (throughput),
    else the first that did not fail."""
    best = {}
    for r in rows:
        label = r["label"]
        old = best.get(label)
        if old is None or ("error" in old and "error" not in r) or (
                "error" not in r and r.get("items_per_s", 0) > old.get("items_per_s", 0)):
            best[label] = r
    return best


def scale_lines(rows, markdown):
    """Issue 4's scale and memory targets beside the figures measured."""
    best = scale_best(rows)
    res = []

    def ok(label):
        r = best.get(label)
        return r if r is not None and "error" not in r else None

    def why_not(label):
        r = best.get(label)
        return "not measured" if r is None else "failed: " + r["error"]

    def verdict(met, r):
        if r is not None and r.get("verified") is False:
            return "not met (check failed: " + str(r.get("failure")) + ")"
        return "met" if met else "not met"

    def mib_mb(v):
        return v * 1024 * 1024 / MB

    def memory_row(label, default_what, limit_mb, describe):
        r = ok(label)
        if r and r.get("rss_full_mib") is not None:
            full = mib_mb(r["rss_full_mib"])
            what, detail = describe(r)
            res.append([what, f"≤ {limit_mb} MB", f"{full:.1f} MB (VmRSS; {detail})",
                        verdict(full <= limit_mb, r)])
        else:
            res.append([default_what, f"≤ {limit_mb} MB", why_not(label), "–"])
    memory_row("fill", "broker RSS holding 1,000,000 queued 100-byte items", 200, lambda f: (
        f"broker RSS holding {f['items']:,.0f} queued {f['size']:.0f}-byte items",
        f"{f['bytes_per_item']:.0f} bytes per item over {mib_mb(f['rss_before_mib']):.1f} MB "
        f"before; peak {mib_mb(f['peak_rss_mib']):.1f} MB; drained: "
        f"{mib_mb(f['rss_drained_mib']):.1f} MB"))
    memory_row("queues", "broker RSS holding 100,000 empty queues", 100, lambda q: (
        f"broker RSS holding {q['queues']:,.0f} empty queues",
        f"{q['bytes_per_queue']:.0f} bytes per queue; after deleting them: "
        f"{mib_mb(q['rss_deleted_mib']):.1f} MB"))

    w = ok("waiters")
    what = ("10,000 blocked getters with timeouts (200–1000 ms): each answered within "
            "10 ms of its deadline")
    if w and w.get("lateness_max_ms") is not None:
        what = (f"{w['getters']:,.0f} blocked getters with timeouts "
                f"({w['timeout_min_ms']:.0f}–{w['timeout_max_ms']:.0f} ms): each answered "
                f"within 10 ms of its deadline")
        res.append([what, "all, ≤ 10 ms late",
                    f"{w['late']:.0f} over 10 ms late; lateness p50 {w['lateness_p50_ms']:.1f}, "
                    f"p99 {w['lateness_p99_ms']:.1f}, max {w['lateness_max_ms']:.1f} ms; "
                    f"broker RSS with them blocked {mib_mb(w['rss_blocked_mib']):.1f} MB",
                    verdict(w["late"] == 0 and w["answered"] == w["getters"], w)])
    else:
        res.append([what, "all, ≤ 10 ms late", why_not("waiters"), "–"])

    def ratio(label, base_label, what, wanted, at_least):
        a, b = ok(label), ok(base_label)
        if a and b and b["items_per_s"]:
            x = a["items_per_s"] / b["items_per_s"]
            res.append([what, wanted, f"{x:.2f}× ({fmt_rate(a['items_per_s'])} ÷ "
                        f"{fmt_rate(b['items_per_s'])} items/s)", verdict(x >= at_least, None)])
        else:
            res.append([what, wanted, why_not(label if not a else base_label), "–"])
    ratio("async-idle-10000", "async-idle-0",
          "async items/s (1 producer, 1 consumer) with 10,000 idle queues ÷ with none",
          "≥ 0.8×", 0.8)
    ratio("async-100-procs", "async-idle-0",
          "async items/s of 100 processes (50 producers, 50 consumers, one queue) ÷ of 2",
          "≥ 1×", 1.0)
    idle = ok("idle-lane")
    what = "10,000 idle local (unix://) clients connected: broker RSS"
    if idle and idle.get("rss_idle_mib") is not None:
        rss = mib_mb(idle["rss_idle_mib"])
        what = f"{idle['idle_connections']:,.0f} idle local (unix://) clients connected: broker RSS"
        res.append([what + " (issue 11)", "≤ 100 MB",
                    f"{rss:.1f} MB (VmRSS; {mib_mb(idle['rss_before_mib']):.1f} MB before, "
                    f"peak {mib_mb(idle['peak_rss_mib']):.1f} MB)", verdict(rss <= 100, idle)])
        x = idle["items_per_s_idle"] / idle["items_per_s_none"]
        res.append(["async items/s beside them ÷ with none (issue 11)", "≥ 0.8×",
                    f"{x:.2f}× ({fmt_rate(idle['items_per_s_idle'])} ÷ "
                    f"{fmt_rate(idle['items_per_s_none'])} items/s)", verdict(x >= 0.8, idle)])
    else:
        res.append([what + " (issue 11)", "≤ 100 MB", why_not("idle-lane"), "–"])
    restart = ok("restart-1m")
    what = "ipcqd --data-dir restarted (SIGKILL) on 1,000,000 queued 100-byte items: its first get"
    if restart:
        what = (f"ipcqd --data-dir restarted (SIGKILL) on {restart['items']:,.0f} queued "
                f"{restart['size']}-byte items: its first get (issue 12)")
        res.append([what, "≤ 3 s",
                    f"{restart['first_get_s']:.2f} s (recovery {restart['recovery_ms']} ms: "
                    f"{restart['log_mb']:.0f} MB of log in {restart['segments']} segments, "
                    f"{restart['recovery_mb_per_s']:.0f} MB/s; "
                    f"{restart['items_after']:,.0f} items there)",
                    verdict(restart["first_get_s"] <= 3 and
                            restart["items_after"] == restart["items"], restart)])
    else:
        res.append([what + " (issue 12)", "≤ 3 s", why_not("restart-1m"), "–"])
    churn = ok("churn")
    what = "the log's disk use under put/get churn beside one item nobody gets"
    if churn:
        seg = churn["segment_bytes"]
        peak, live = churn["peak_disk_bytes"], churn["live_at_peak_bytes"]
        what = (f"the log's disk use over {churn['seconds'] / 60:.0f} minutes of steady async "
                f"put/get churn ({churn['items']:,.0f} items, queue bound 10,000) beside one "
                f"item nobody gets (issue 12)")
        res.append([what, "≤ 2× live + 1 segment, always",
                    f"peak {peak / MB:.1f} MB with {live / MB:.2f} MB live (bound "
                    f"{(2 * live + seg) / MB:.1f} MB); {churn['samples_over_bound']} of "
                    f"{churn['samples']} samples over it",
                    verdict(churn["samples_over_bound"] == 0, churn)])
    else:
        res.append([what + " (issue 12)", "≤ 2× live + 1 segment, always", why_not("churn"), "–"])
    return render(["scale and memory target (issue 4, 11 and 12 where marked)", "wanted",
                   "measured", "met?"], res, markdown)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = "unknown"
    try:
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "load": load,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def report(all_rows, markdown, env):
    overhead = [r for r in all_rows if r.get("mode") == OVERHEAD]
    rows = [r for r in all_rows if not r.get("label") and not r.get("durable")
            and not r.get("nats") and r.get("mode") != OVERHEAD]
    durable = [r for r in all_rows if not r.get("label") and r.get("durable")]
    nout = build([r for r in all_rows if not r.get("label") and r.get("nats")])[0]
    scale = [r for r in all_rows if r.get("label")]
    out, strict, batch = build(rows)
    dout = build(durable)[0]
    m = machine()
    lines = []
    if markdown:
        lines += [f"Measured {m['date']} by `tools/ipcq-bench/compare`{env.get('rounds') or ''} on {m['nproc']} × {m['cpu']}, "
                  f"Linux {m['kernel']} (load average before the runs: {env.get('load') or m['load']}"
                  f"){'; ' + env['versions'] if env.get('versions') else ''}.", ""]
    else:
        lines += [f"machine: {m['nproc']} × {m['cpu']}, Linux {m['kernel']}, {m['date']}", ""]
    lines += table_lines(out, strict, batch, markdown)
    lines += [""] + durable_lines(dout, markdown, env.get("durable_fs"))
    lines += [""] + ipcq_detail_lines(out + dout, markdown)
    lines += [""] + target_lines(rows, out, markdown)
    lines += [""] + issue11_lines(rows, out, markdown)
    lines += [""] + issue12_lines(out, dout, markdown)
    lines += [""] + issue13_lines(rows, overhead, markdown)
    lines += [""] + nats_lines(nout, out, markdown)
    if scale:
        lines += ["", "Scale and memory (each ipcq-bench run against an ipcqd of its own, "
                  "started with --ipcqd; MB = 10^6 bytes):", ""]
        lines += scale_lines(scale, markdown)
    errors = [r for r in all_rows if failed(r)]
    if errors:
        lines.append("")
        lines += [f"- {'failed' if 'error' in r else 'not run'}: {r.get('peer')} "
                  f"{on(r.get('mode'), transport(r))}"
                  f"{', ' + r['durable'] if r.get('durable') else ''}: "
                  f"{r.get('error') or r.get('skipped')}" for r in errors]
    return lines


CHARTS = (("compare.svg", "ipcq and its peers, 1 producer and 1 consumer, 100-byte items"),
          ("compare-durable.svg", "Durable: ipcq, Redis and beanstalkd keeping their data on disk"))


def chart_bars(out, base):
    """(label, ratio to base, is ipcq's) for each row of a table."""
    b = base["items_per_s"] if base else None
    return [(f"{r['peer']}: {r['mode']}" + (f", {r['durable']}" if r.get("durable") else ""),
             r["items_per_s"] / b if b and r["items_per_s"] else None,
             r["peer"] in ("ipcq", "ipcq-pool", "ipcq-python")) for r in out]


def draw_charts(all_rows, docs_dir):
    """Draws the main and the durable table as charts into docs_dir (issue
    15); returns a line for each chart: its markdown image, or why not."""
    import chart  # beside this file

    rows = [r for r in all_rows if not r.get("label") and not r.get("durable")
            and not r.get("nats") and r.get("mode") != OVERHEAD]
    out, strict, _ = build(rows)
    dout = build([r for r in all_rows if not r.get("label") and r.get("durable")])[0]
    dstrict = next((r for r in dout if r["key"] == "strict" and r["durable"] == "--fsync always"
                    and r["items_per_s"]), None)
    os.makedirs(docs_dir, exist_ok=True)
    lines = []
    for (name, title), rows_, base, what in (
            (CHARTS[0], out, strict, on("ipcq strict", strict and strict["transport"])),
            (CHARTS[1], dout, dstrict, "ipcq strict, --fsync always")):
        why = chart.draw(chart_bars(rows_, base), what, os.path.join(docs_dir, name), title)
        lines.append(f"chart not drawn: {why}" if why else f"![{title}]({name})")
    return lines


def write_docs(path, lines):
    block = BEGIN + "\n" + "\n".join(lines) + "\n" + END
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n\nWritten by `tools/ipcq-bench/compare`.\n\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--docs", help="the markdown file to write the table into")
    ap.add_argument("--load", help="the load average before the runs")
    ap.add_argument("--versions", help="the peers' versions, one line")
    ap.add_argument("--rounds", type=int, default=1, help="how many times each ran")
    ap.add_argument("--durable-fs", help="the filesystem the durable runs wrote to, one line")
    args = ap.parse_args()
    loaded = load(args.results)
    rows = best_of([r for r in loaded if not r.get("label") and r.get("mode") != OVERHEAD])
    rows += [r for r in loaded if r.get("mode") == OVERHEAD]
    rows += [r for r in loaded if r.get("label")]
    if not rows:
        sys.exit("table.py: no results")
    env = {"load": args.load, "versions": args.versions, "durable_fs": args.durable_fs,
           "rounds": f" (best of {args.rounds} rounds)" if args.rounds > 1 else ""}
    print("\n".join(report(rows, False, env)))
    if args.docs:
        docs = report(rows, True, env)
        charts = draw_charts(rows, os.path.dirname(os.path.abspath(args.docs)))
        # each chart after the first line of its table's caption
        docs = docs[:2] + [charts[0], ""] + docs[2:]
        at = next((i for i, line in enumerate(docs) if line.startswith("Durable (issue 12)")),
                  None)
        if at is not None:
            docs = docs[:at + 2] + [charts[1], ""] + docs[at + 2:]
        write_docs(args.docs, docs)
        print(f"\ntable.py: wrote the table into {args.docs}")


if __name__ == "__main__":
    main()
