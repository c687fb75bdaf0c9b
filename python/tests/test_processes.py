"""ipcq.Queue across processes and languages (SPEC §8, D4): pickling, fork,
multiprocessing.Process and Pool, the C CLI, and ipcq.Manager's broker."""

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import ipcq


def test_pickle_is_endpoint_name_raw(broker):
    q = ipcq.Queue(4, broker=broker, raw=True)
    fn, args = q.__reduce__()
    assert args == (broker, q.name, True)
    q2 = pickle.loads(pickle.dumps(q))
    assert (q2.broker, q2.name, q2.raw) == (broker, q.name, True)
    q2.put(b"via copy")
    assert q.get(timeout=5) == b"via copy"
    assert q2.maxsize == 4


def _square_into(q, out, i):
    out.put((i, i * i, os.getpid()))


def _producer(q, n):
    for i in range(n):
        q.put(("item", i))
    q.put(None)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_process_child_gets_the_queue(broker, method):
    ctx = multiprocessing.get_context(method)
    q = ipcq.Queue(broker=broker)
    p = ctx.Process(target=_producer, args=(q, 100))
    p.start()
    got = []
    while (item := q.get(timeout=30)) is not None:
        got.append(item)
    p.join(30)
    assert p.exitcode == 0
    assert got == [("item", i) for i in range(100)]


def test_os_fork_child_uses_the_inherited_queue(broker):
    q = ipcq.Queue(broker=broker)
    q.put("before fork")  # the parent's connection is in use before the fork
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            item = q.get(timeout=10)
            q.put(("child saw", item))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert q.get(timeout=10) == ("child saw", "before fork")  # the parent's handle still works
    q.put("after")
    assert q.get_nowait() == "after"


def _pool_worker(args):
    jobs, results = args
    n = 0
    while True:
        item = jobs.get(timeout=30)
        if item is None:
            jobs.task_done()
            return n
        results.put((item, item * item, os.getpid()))
        jobs.task_done()
        n += 1


def _pool_put(q, i):
    q.put(i)
    return i


def test_pool_of_4_workers_get_the_queue_as_argument(broker):
    jobs = ipcq.Queue(broker=broker)
    results = ipcq.Queue(broker=broker)
    n = 400
    for i in range(n):
        jobs.put(i)
    for _ in range(4):
        jobs.put(None)
    with multiprocessing.Pool(4) as pool:
        counts = pool.map(_pool_worker, [(jobs, results)] * 4)
        async_results = [pool.apply_async(_pool_put, (results, -i)) for i in range(1, 9)]
        assert sorted(r.get(30) for r in async_results) == list(range(-8, 0))
    jobs.join()  # every task_done arrived
    assert sum(counts) == n
    got = [results.get(timeout=10) for _ in range(n + 8)]
    assert results.empty()
    squares = sorted(g for g in got if isinstance(g, tuple))
    assert [(i, i * i) for i in range(n)] == [(a, b) for (a, b, _) in squares]
    assert sorted(g for g in got if isinstance(g, int)) == list(range(-8, 0))


def test_c_cli_producer_python_raw_consumer(broker, cli_path):
    q = ipcq.Queue(broker=broker, raw=True)
    subprocess.run([cli_path, "--broker", broker, "put", q.name, "hello", "from C", ""],
                   check=True, timeout=30)
    subprocess.run([cli_path, "--broker", broker, "put", q.name], input=bytes(range(256)),
                   check=True, timeout=30)
    assert q.get(timeout=10) == b"hello"
    assert q.get(timeout=10) == b"from C"
    assert q.get(timeout=10) == b""
    assert q.get(timeout=10) == bytes(range(256))


def test_python_raw_producer_c_cli_consumer(broker, cli_path):
    q = ipcq.Queue(broker=broker, raw=True)
    q.put(b"one")
    q.put(b"two")
    out = subprocess.run([cli_path, "--broker", broker, "get", q.name, "-n", "2"],
                         check=True, timeout=30, capture_output=True).stdout
    assert out == b"one\ntwo\n"
    q.put(b"three")
    assert subprocess.run([cli_path, "--broker", broker, "stat", q.name, "--json"],
                          check=True, timeout=30, capture_output=True).stdout


# --- the Manager -------------------------------------------------------------

def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def _wait_dead(pid, seconds=10):
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_manager_queues_and_shutdown():
    with ipcq.Manager() as m:
        assert m.address.startswith("unix://")
        q = m.Queue(2)
        jq = m.JoinableQueue(0)
        assert q.maxsize == 2 and jq.maxsize == 0
        q.put("x")
        jq.put("y")
        assert q.get() == "x" and jq.get() == "y"
        jq.task_done()
        jq.join()
        pid = m.pid
        assert _alive(pid)
    assert _wait_dead(pid)
    with pytest.raises(ipcq.BrokerUnavailable):
        q.put_nowait("after shutdown")
    m.shutdown()  # a second shutdown is a no-op


def test_manager_queue_to_a_pool():
    with ipcq.Manager() as m:
        q = m.Queue()
        with multiprocessing.Pool(4) as pool:
            assert sorted(pool.starmap(_pool_put, [(q, i) for i in range(20)])) == list(range(20))
        assert sorted(q.get(timeout=10) for _ in range(20)) == list(range(20))


def test_manager_broker_dies_with_its_process(tmp_path):
    code = textwrap.dedent("""
        import os, sys, ipcq
        m = ipcq.Manager()
        q = m.Queue()
        q.put(1)
        print(m.pid, flush=True)
        os._exit(0)  # no shutdown, no atexit
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                         capture_output=True, cwd=tmp_path).stdout
    assert _wait_dead(int(out))


def test_manager_cannot_be_pickled():
    with ipcq.Manager() as m:
        with pytest.raises(TypeError):
            pickle.dumps(m)


def test_manager_shutdown_in_a_forked_child_leaves_the_broker():
    with ipcq.Manager() as m:
        q = m.Queue()
        pid = os.fork()
        if pid == 0:
            try:
                m.shutdown()  # not the starter: a no-op
                q.put("child")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert q.get(timeout=10) == "child"
        assert _alive(m.pid)


def test_sigint_handler_not_changed():
    # the package installs no signal handlers of its own
    before = signal.getsignal(signal.SIGINT)
    with ipcq.Manager():
        pass
    assert signal.getsignal(signal.SIGINT) is before
