#!/usr/bin/env python3
"""ipcq-pool prodcons as a row of compare (issue 11): P producer processes
and C consumer processes around one ipcq queue, items/s.

    ipcq_prodcons.py IPCQ-POOL --seconds S [--producers 2] [--consumers 2]
                     [--size 100] [--broker EP] [--strict]

ipcq-pool prodcons moves a number of items (--items N), not for a time: a
first run of a few thousand items gives the rate, and the run reported moves
about S seconds' worth at that rate. The figure is ipcq-pool's own (its clock
starts before it forks its children, and it checks that every item arrived
exactly once). --strict asks for one item a call; an ipcq-pool without that
flag (its `prodcons --help` does not name it) gives a line that says the row
was skipped. Prints one JSON line.
"""

import argparse
import json
import re
import subprocess
import sys

FIRST_ITEMS = 5000
MAX_ITEMS = 100_000_000  # ipcq-pool prodcons's own bound
MAX_SECONDS = 40  # the reported run, at the first run's rate: compare allows a minute
LINE = re.compile(r"prodcons: (\d+) items of (\d+) bytes in ([0-9.]+) s: ([0-9.]+) items/s")


def prodcons(args, items):
    cmd = [args.tool, "prodcons", "--producers", str(args.producers), "--consumers",
           str(args.consumers), "--items", str(items), "--size", str(args.size)]
    if args.broker:
        cmd += ["--broker", args.broker]
    if args.strict:
        cmd.append("--strict")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or ["no message"])[-1]
        sys.exit(f"ipcq_prodcons.py: {' '.join(cmd[1:])}: exit {p.returncode}: {why}")
    for line in p.stdout.splitlines():
        m = LINE.search(line)
        if m:
            return int(m.group(1)), float(m.group(3))
    sys.exit("ipcq_prodcons.py: no 'prodcons: N items ... items/s' line in ipcq-pool's output")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tool", help="the ipcq-pool program")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--producers", type=int, default=2)
    ap.add_argument("--consumers", type=int, default=2)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--broker", help="the broker's endpoint; default: a private one")
    ap.add_argument("--strict", action="store_true", help="pass --strict: one item a call")
    args = ap.parse_args()
    if args.seconds <= 0 or args.producers < 1 or args.consumers < 1:
        ap.error("--seconds, --producers and --consumers must be positive")

    mode = f"prodcons {args.producers}P/{args.consumers}C" + (", --strict" if args.strict
                                                               else ", default")
    line = {"peer": "ipcq-pool", "mode": mode, "producers": args.producers,
            "consumers": args.consumers, "size": args.size}
    if args.broker:
        line["endpoint"] = args.broker
    helptext = subprocess.run([args.tool, "prodcons", "--help"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True).stdout
    has_strict = "--strict" in helptext
    line["has_strict_flag"] = has_strict
    if args.strict and not has_strict:
        line["skipped"] = "this ipcq-pool's prodcons has no --strict"
        print(json.dumps(line), flush=True)
        return

    items, seconds = prodcons(args, FIRST_ITEMS)
    rate = items / seconds if seconds > 0 else 0.0
    if seconds < args.seconds / 2 and rate > 0:
        want = rate * min(args.seconds, MAX_SECONDS)
        items, seconds = prodcons(args, int(max(FIRST_ITEMS, min(want, MAX_ITEMS))))
    line.update({"items_per_s": round(items / seconds, 1) if seconds > 0 else 0.0,
                 "unit": "items/s", "items": items, "seconds": seconds})
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
