#!/usr/bin/env python3
"""The Python peers of ipcq-bench (issue 4), each at its best and kept small.

    peers.py manager-pc    multiprocessing.Manager().Queue(): producer process -> consumer
                           (--producers P --consumers C: P producer processes -> C
                           consumer processes, one queue)
    peers.py manager-local Manager().Queue(): one process, put then get, in a loop
    peers.py ipcq-pc --broker EP
                           the same producer -> consumer as manager-pc, the queue an
                           ipcq.Queue() on the broker at EP (the Python client of
                           python/, importable by this Python)
    peers.py mp-queue      multiprocessing.Queue(maxsize 1000): producer process -> consumer
    peers.py pool          multiprocessing.Pool.apply_async: tiny tasks per second

Each runs for --seconds (the producer puts for that long; the consumer then
drains what is left, and that time counts), checks that every item arrived,
and prints one JSON line: {"peer": ..., "mode": ..., "items_per_s": ..., ...}.
Items are --size bytes (default 100). The clock starts when every process is
ready, so process start-up is not counted.
"""

import argparse
import json
import multiprocessing as mp
import platform
import signal
import sys
import time

CHECK_EVERY = 64  # items between two looks at the clock


def report(peer, mode, count, seconds, unit="items/s", **extra):
    line = {
        "peer": peer,
        "mode": mode,
        "items_per_s": round(count / seconds, 1) if seconds > 0 else 0.0,
        "unit": unit,
        "items": count,
        "seconds": round(seconds, 6),
        "python": platform.python_version(),
    }
    line.update(extra)
    print(json.dumps(line), flush=True)


def put_for(q, seconds, size):
    """Puts items of size bytes into q for seconds; returns how many."""
    item = b"x" * size
    stop = time.monotonic() + seconds
    n = 0
    put = q.put
    while True:
        for _ in range(CHECK_EVERY):
            put(item)
        n += CHECK_EVERY
        if time.monotonic() >= stop:
            return n


def producer(q, ready, go, seconds, size):
    """Puts items of size bytes for seconds, then its count as the stop."""
    ready.set()
    go.wait()
    q.put(put_for(q, seconds, size))  # an int: the end, and how many items came before it


def consume(q):
    """Gets items until the producer's count; returns how many it got."""
    got = 0
    get = q.get
    while True:
        item = get()
        if isinstance(item, int):
            if item != got:
                sys.exit(f"peers.py: lost or duplicated items: put {item}, got {got}")
            return got
        got += 1


def producer_consumer(q, ctx, args):
    ready, go = ctx.Event(), ctx.Event()
    p = ctx.Process(target=producer, args=(q, ready, go, args.seconds, args.size), daemon=True)
    p.start()
    ready.wait()
    t0 = time.monotonic()
    go.set()
    got = consume(q)
    seconds = time.monotonic() - t0
    p.join()
    if p.exitcode != 0:
        sys.exit(f"peers.py: the producer exited with {p.exitcode}")
    return got, seconds


def many_producer(q, done, ready, go, seconds, size):
    """Puts items of size bytes for seconds, then says how many on done."""
    ready.release()
    go.wait()
    n = put_for(q, seconds, size)
    done.put(("put", n, time.monotonic()))


def many_consumer(q, done, ready, go):
    """Gets items until a None; says how many, and when it got the last."""
    ready.release()
    go.wait()
    got, last = 0, time.monotonic()
    get = q.get
    while get() is not None:
        got += 1
        last = time.monotonic()
    done.put(("got", got, last))


def many_producers_consumers(q, ctx, args):
    """P producer processes and C consumer processes around q. When every
    producer is done (each put returns once the Manager holds the item),
    C Nones go in behind the items: one stop for each consumer. The time is
    from the go until the last consumer got its last item."""
    done, ready, go = ctx.Queue(), ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=many_producer, daemon=True,
                         args=(q, done, ready, go, args.seconds, args.size))
             for _ in range(args.producers)]
    procs += [ctx.Process(target=many_consumer, args=(q, done, ready, go), daemon=True)
              for _ in range(args.consumers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    t0 = time.monotonic()
    go.set()
    put, got, last = 0, 0, t0
    for _ in range(args.producers):
        what, n, _when = done.get()
        if what != "put":
            sys.exit("peers.py: a consumer stopped before the producers were done")
        put += n
    for _ in range(args.consumers):
        q.put(None)
    for _ in range(args.consumers):
        what, n, when = done.get()
        got += n
        last = max(last, when)
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"peers.py: a child exited with {p.exitcode}")
    if got != put:
        sys.exit(f"peers.py: lost or duplicated items: put {put}, got {got}")
    return got, last - t0


def cmd_manager_pc(args):
    ctx = mp.get_context("fork")
    with ctx.Manager() as m:
        if args.producers == 1 and args.consumers == 1:
            got, seconds = producer_consumer(m.Queue(), ctx, args)
            mode = "producer-consumer"
        else:
            got, seconds = many_producers_consumers(m.Queue(), ctx, args)
            mode = f"producer-consumer, {args.producers}P/{args.consumers}C"
    report("python-manager", mode, got, seconds, producers=args.producers,
           consumers=args.consumers)


def cmd_ipcq_pc(args):
    # The one change from cmd_manager_pc: where the queue comes from.
    import ipcq

    ctx = mp.get_context("fork")
    q = ipcq.Queue(broker=args.broker)
    try:
        got, seconds = producer_consumer(q, ctx, args)
    finally:
        q.delete()
    report("ipcq-python", "producer-consumer", got, seconds)


def cmd_manager_local(args):
    ctx = mp.get_context("fork")
    with ctx.Manager() as m:
        q = m.Queue()
        item = b"x" * args.size
        put, get = q.put, q.get
        put(item)  # the proxy connects on first use
        get()
        n = 0
        t0 = time.monotonic()
        stop = t0 + args.seconds
        while True:
            for _ in range(CHECK_EVERY):
                put(item)
                if len(get()) != args.size:
                    sys.exit("peers.py: got a damaged item")
            n += CHECK_EVERY
            if time.monotonic() >= stop:
                break
        seconds = time.monotonic() - t0
    report("python-manager", "one-process put+get", n, seconds, unit="put+get/s")


def cmd_mp_queue(args):
    # Bounded, as a producer that runs for a while must be: unbounded, the
    # producer's feeder thread piles up items for ten times --seconds, and
    # what is measured is the consumer draining them alone on the machine.
    ctx = mp.get_context("fork")
    got, seconds = producer_consumer(ctx.Queue(args.maxsize), ctx, args)
    report("python-mp-queue", f"producer-consumer, maxsize {args.maxsize}", got, seconds,
           maxsize=args.maxsize)


def tiny(x):
    return x


def cmd_pool(args):
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers) as pool:
        pool.apply_async(tiny, (0,)).get()  # every worker started
        n = 0
        t0 = time.monotonic()
        stop = t0 + args.seconds
        while time.monotonic() < stop:
            results = [pool.apply_async(tiny, (i,)) for i in range(args.window)]
            for i, r in enumerate(results):
                if r.get() != i:
                    sys.exit("peers.py: a task returned the wrong result")
            n += args.window
        seconds = time.monotonic() - t0
    report("python-pool", f"apply_async, {args.workers} workers", n, seconds,
           unit="tasks/s", workers=args.workers, window=args.window)


def main():
    # SIGTERM as a clean exit, so that the with-blocks stop the Manager's
    # server process and the Pool's workers instead of leaving them behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    cmds = {
        "manager-pc": cmd_manager_pc,
        "manager-local": cmd_manager_local,
        "ipcq-pc": cmd_ipcq_pc,
        "mp-queue": cmd_mp_queue,
        "pool": cmd_pool,
    }
    for name in cmds:
        p = sub.add_parser(name)
        p.add_argument("--seconds", type=float, default=3.0)
        p.add_argument("--size", type=int, default=100)
        if name == "manager-pc":
            p.add_argument("--producers", type=int, default=1)
            p.add_argument("--consumers", type=int, default=1)
        if name == "ipcq-pc":
            p.add_argument("--broker", required=True, help="the ipcqd's endpoint")
        if name == "mp-queue":
            p.add_argument("--maxsize", type=int, default=1000)
        if name == "pool":
            p.add_argument("--workers", type=int, default=2)
            p.add_argument("--window", type=int, default=1000,
                           help="tasks submitted before waiting for their results")
    args = ap.parse_args()
    if args.seconds <= 0 or args.size < 1:
        ap.error("--seconds and --size must be positive")
    if args.cmd == "manager-pc" and (args.producers < 1 or args.consumers < 1):
        ap.error("--producers and --consumers must be positive")
    cmds[args.cmd](args)


if __name__ == "__main__":
    main()
