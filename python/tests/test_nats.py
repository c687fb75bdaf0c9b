"""ipcq.Queue on nats:// (SPEC §9, docs/NATS.md): the same Python API against
one real nats-server with JetStream, started per module on a free loopback
port with a store in a temp dir, stopped after. Skipped, saying why, when
nats-server is absent or the library was built without libnats.

Child processes are started with spawn: a child forked while libnats runs
in its parent frees no message (docs/NATS.md, D4), and a Python process
keeps its handles open for good.
"""

import multiprocessing
import queue
import shutil
import socket
import subprocess
import threading
import time

import pytest

import ipcq


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nats(tmp_path_factory):
    server = shutil.which("nats-server")
    if server is None:
        pytest.skip("no nats-server on PATH (scripts/deps.sh installs it)")
    port = _free_port()
    store = tmp_path_factory.mktemp("nats-store")
    proc = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    endpoint = f"nats://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail("nats-server exited: " + proc.stderr.read().decode()[-500:])
            try:
                probe = ipcq.Queue(name="fixture.probe", broker=endpoint)
                probe.delete()
                break
            except ipcq.Unsupported as e:
                pytest.skip(f"this libipcq has no nats:// backend: {e}")
            except ipcq.BrokerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_fifo_empty_and_timeouts(nats):
    q = ipcq.Queue(name="py.fifo", broker=nats)
    items = [1, "two", b"three", {"four": [4.0]}, None, 2**100]
    for it in items:
        q.put(it)
    assert q.qsize() == len(items)
    assert [q.get(timeout=5) for _ in items] == items
    with pytest.raises(queue.Empty):
        q.get_nowait()
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)
    assert 0.25 < time.monotonic() - t0 < 3
    q.delete()


def test_bounded_queue(nats):
    q = ipcq.Queue(2, name="py.bounded", broker=nats)
    assert q.maxsize == 2
    q.put("a")
    q.put("b")
    assert q.full()
    with pytest.raises(queue.Full):
        q.put_nowait("c")
    with pytest.raises(queue.Full):
        q.put("c", timeout=0.2)
    # JetStream would drop the oldest items below a lowered bound: refused
    with pytest.raises(ipcq.Unsupported):
        q.maxsize = 1
    assert q.get(timeout=5) == "a"
    q.put("c", timeout=5)
    assert [q.get(timeout=5), q.get(timeout=5)] == ["b", "c"]
    with pytest.raises(ipcq.Conflict):
        ipcq.Queue(5, name="py.bounded", broker=nats)
    q.delete()


def test_task_done_and_join(nats):
    q = ipcq.Queue(name="py.tasks", broker=nats)
    for i in range(3):
        q.put(i)
    joined = threading.Event()

    def join():
        q.join()
        joined.set()

    t = threading.Thread(target=join, daemon=True)
    t.start()
    for _ in range(3):
        q.get(timeout=5)
        assert not joined.is_set()
        q.task_done()
    assert joined.wait(10)
    t.join(5)
    with pytest.raises(ValueError):
        q.task_done()
    q.delete()


def test_leases(nats):
    q = ipcq.Queue(name="py.leases", broker=nats)
    q.put("job")
    first = q.get(timeout=5, lease=30)
    assert first.value == "job" and first.deliveries == 1
    first.release()
    again = q.get(timeout=10, lease=30)
    assert again.value == "job" and again.deliveries == 2
    again.ack()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    q.delete()


def test_shutdown(nats):
    q = ipcq.Queue(name="py.shutdown", broker=nats)
    q.put("last")
    q.shutdown()
    assert q.is_shutdown
    with pytest.raises(ipcq.ShutDown):
        q.put("more")
    assert q.get(timeout=5) == "last"
    with pytest.raises(ipcq.ShutDown):
        q.get(timeout=5)
    q.delete()


def _produce(q, n):
    for i in range(n):
        q.put(("item", i))


def _consume(q, out, n):
    for _ in range(n):
        out.put(q.get(timeout=30))
        q.task_done()


def test_spawned_producer_and_consumers(nats):
    """A producer and two consumers in spawned processes, the queues passed
    as arguments (pickled to endpoint and name): every item arrives once."""
    n = 200
    ctx = multiprocessing.get_context("spawn")
    jobs = ipcq.Queue(name="py.jobs", broker=nats)
    results = ipcq.Queue(name="py.results", broker=nats)
    procs = [ctx.Process(target=_produce, args=(jobs, n))]
    procs += [ctx.Process(target=_consume, args=(jobs, results, n // 2)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        got = sorted(results.get(timeout=60)[1] for _ in range(n))
        assert got == list(range(n))
        jobs.join()
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
    assert all(p.exitcode == 0 for p in procs)
    jobs.delete()
    results.delete()
