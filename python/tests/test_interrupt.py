"""Ctrl-C interrupts a blocked call, as it does queue.Queue's (SPEC §8 P3).

A program blocked in get(), put() on a full queue, or join() gets SIGINT:
it must raise KeyboardInterrupt promptly, and the interrupted call must
have taken or put nothing. The waits of the main thread are made of short
slices for this; the tests also check that a sliced wait still gets what
arrives after many slices, and keeps its timeout.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import ipcq

PROGRAM = r"""
import sys, ipcq
q = ipcq.Queue(maxsize=int(sys.argv[3]), name=sys.argv[2], broker=sys.argv[1])
op = sys.argv[4]
print("ready", flush=True)
try:
    if op == "get":
        q.get()
    elif op == "get_many":
        q.get_many(10)
    elif op == "lease":
        q.get(lease=30)
    elif op == "put":
        q.put("one too many")
    elif op == "join":
        q.join()
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(0)
print("returned", flush=True)
sys.exit(1)
"""

# op -> (maxsize, items put before, the broker's count of this waiter)
CASES = {
    "get": (0, 0, "getters"),
    "get_many": (0, 0, "getters"),
    "lease": (0, 0, "getters"),
    "put": (1, 1, "putters"),
    "join": (0, 0, "joiners"),
}


def _stat(cli_path, endpoint, queue):
    out = subprocess.run([cli_path, "--broker", endpoint, "stat", queue, "--json"],
                         capture_output=True, text=True, timeout=10)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _wait_for(condition, what, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.01)


@pytest.mark.parametrize("op", sorted(CASES))
def test_ctrl_c_interrupts_a_blocked_call(ipcqd, cli_path, op):
    maxsize, before, waiter = CASES[op]
    q = ipcq.Queue(maxsize=maxsize, name=f"interrupt.{op}", broker=ipcqd.endpoint)
    for i in range(before):
        q.put(i)
    if op == "join":
        q.put("unfinished")
        q.get()  # taken, never marked done: join() waits
    child = subprocess.Popen([sys.executable, "-c", PROGRAM, ipcqd.endpoint, q.name,
                              str(maxsize), op], stdout=subprocess.PIPE, text=True,
                             env={k: v for k, v in os.environ.items()
                                  if k != "PYTHONUNBUFFERED"})
    try:
        assert child.stdout.readline() == "ready\n"
        # Blocked in the broker, over more than one slice.
        _wait_for(lambda: (_stat(cli_path, ipcqd.endpoint, q.name) or {}).get(waiter, 0) >= 1,
                  f"{op} blocked in the broker")
        time.sleep(0.3)  # past a slice: the interrupt must land in a later one
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=10)
        assert out == "interrupted\n", out
        assert child.returncode == 0
        assert time.monotonic() - sent < 2, "Ctrl-C took more than 2 s to land"
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    # The interrupted call took or put nothing.
    _wait_for(lambda: _stat(cli_path, ipcqd.endpoint, q.name)[waiter] == 0,
              "the interrupted waiter gone from the broker")
    st = _stat(cli_path, ipcqd.endpoint, q.name)
    assert st["size"] == before
    assert st["leased"] == 0
    if op in ("get", "get_many", "lease"):
        q.put("after")
        assert q.get(timeout=5) == "after"


def test_a_sliced_wait_gets_what_arrives_later(ipcqd):
    q = ipcq.Queue(name="slices", broker=ipcqd.endpoint)
    assert threading.current_thread() is threading.main_thread()
    timer = threading.Timer(0.7, q.put, args=("late",))  # several slices later
    timer.start()
    try:
        assert q.get(timeout=10) == "late"
    finally:
        timer.join()


def test_a_sliced_wait_keeps_its_timeout(ipcqd):
    q = ipcq.Queue(name="slices.timeout", broker=ipcqd.endpoint)
    start = time.monotonic()
    with pytest.raises(ipcq.Empty):
        q.get(timeout=0.75)
    took = time.monotonic() - start
    assert 0.75 <= took < 2.5, took
