"""Per-call overhead of ipcq.Queue over the C call (issue 13's target: <= 10 us).

Sequential put then get of one small item, on one handle, on a private
broker (ipcq.Manager), N rounds each way; medians, as a loaded machine
makes means noisy:

  C        ipcq_put / ipcq_get from a C loop (c_loop.c, compiled here with cc)
  ctypes   the same two C functions called through ctypes, nothing else
  raw      ipcq.Queue(raw=True).put(b) / .get()
  pickled  ipcq.Queue().put(obj) / .get() of a small object

    python overhead.py [ROUNDS] [--json]
        (from an installed ipcq; needs cc for the C row; --json: one line
        for tools/ipcq-bench/compare instead of the table)
"""

import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import ipcq
from ipcq import _capi

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def c_row(endpoint, n):
    lib = _capi.path
    with tempfile.TemporaryDirectory() as d:
        exe = os.path.join(d, "c_loop")
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "c_loop.c"),
                        "-I", os.path.join(REPO, "libclient", "include"), lib,
                        f"-Wl,-rpath,{os.path.dirname(lib)}"], check=True)
        out = subprocess.run([exe, endpoint, "bench.c", str(n)], check=True,
                             capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def timed(put, get, n):
    tp, tg = [], []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        put()
        t1 = clock()
        get()
        t2 = clock()
        tp.append(t1 - t0)
        tg.append(t2 - t1)
    return statistics.median(tp) * 1e6, statistics.median(tg) * 1e6


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    as_json = len(args) < len(sys.argv) - 1
    if len(args) > 1 or (args and not args[0].isdigit()) or (args and int(args[0]) < 1):
        sys.exit("usage: overhead.py [ROUNDS] [--json]")
    n = int(args[0]) if args else 20000
    with ipcq.Manager() as m:
        rows = {}
        for rnd in range(2):  # the second round is the one reported (warm)
            raw = m.Queue(raw=True)
            pick = m.Queue()
            c = raw._c
            name = raw._qname
            data = b"0123456789abcdef"
            ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
            bp, bs = ctypes.byref(ptr), ctypes.byref(size)

            def cget():
                _capi.get(c, name, bp, bs, -1)
                _capi.free(ptr)

            rows["C"] = c_row(m.address, n)
            rows["ctypes"] = timed(lambda: _capi.put(c, name, data, 16, -1), cget, n)
            rows["raw"] = timed(lambda: raw.put(data), raw.get, n)
            obj = ("job", 12345)
            rows["pickled"] = timed(lambda: pick.put(obj), pick.get, n)
        cp, cg = rows["C"]
        if as_json:
            line = {"peer": "ipcq-python", "mode": "per-call overhead over the C call",
                    "unit": "µs", "rounds": n, "endpoint": m.address}
            for k, (p, g) in rows.items():
                line[k] = {"put_us": round(p, 2), "get_us": round(g, 2)}
            print(json.dumps(line))
            return
        print(f"{n} rounds, median microseconds per call (over the C call)")
        for k, (p, g) in rows.items():
            print(f"  {k:8s} put {p:6.2f} (+{p - cp:5.2f})   get {g:6.2f} (+{g - cg:5.2f})")


if __name__ == "__main__":
    main()
