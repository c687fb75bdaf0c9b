"""ipcq.Queue as queue.Queue (SPEC §2, §8), in one process, on both kinds of broker."""

import queue
import sys
import threading
import time

import pytest

import ipcq


def test_exceptions_are_the_standard_ones():
    assert ipcq.Empty is queue.Empty
    assert ipcq.Full is queue.Full
    if sys.version_info >= (3, 13):
        assert ipcq.ShutDown is queue.ShutDown
    else:
        assert issubclass(ipcq.ShutDown, Exception)
    assert ipcq.JoinableQueue is ipcq.Queue


def test_fifo_of_pickled_objects(broker):
    q = ipcq.Queue(broker=broker)
    items = [1, "two", b"three", {"four": [4.0]}, None, (6,), "", 2**100]
    for it in items:
        q.put(it)
    assert [q.get() for _ in items] == items


def test_unique_names(broker):
    a, b = ipcq.Queue(broker=broker), ipcq.Queue(broker=broker)
    assert a.name != b.name
    a.put(1)
    assert b.empty() and a.qsize() == 1


def test_named_queue_is_shared(broker):
    a = ipcq.Queue(name="shared.jobs", broker=broker)
    b = ipcq.Queue(name="shared.jobs", broker=broker)
    a.put("x")
    assert b.get(timeout=5) == "x"
    a.delete()


def test_get_empty(broker):
    q = ipcq.Queue(broker=broker)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(block=False, timeout=5)  # block=False: the timeout is ignored
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert 0.15 < time.monotonic() - t0 < 2
    with pytest.raises(queue.Empty):
        q.get(timeout=0)


def test_put_full(broker):
    q = ipcq.Queue(2, broker=broker)
    q.put(1)
    q.put_nowait(2)
    assert q.full() and q.qsize() == 2 and not q.empty()
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, block=False, timeout=5)
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.2)
    assert 0.15 < time.monotonic() - t0 < 2
    assert [q.get(), q.get()] == [1, 2]


@pytest.mark.parametrize("timeout", [-1, -0.001, float("nan")])
def test_negative_timeout_is_value_error(broker, timeout):
    q = ipcq.Queue(broker=broker)  # unbounded: rejected all the same (SPEC Q11)
    with pytest.raises(ValueError):
        q.put(1, timeout=timeout)
    with pytest.raises(ValueError):
        q.get(timeout=timeout)
    assert q.empty()


def test_blocked_get_woken_by_put_from_another_thread(broker):
    q = ipcq.Queue(broker=broker)
    threading.Timer(0.1, q.put, args=("late",)).start()
    assert q.get(timeout=10) == "late"


def test_blocked_put_admitted_by_get(broker):
    q = ipcq.Queue(1, broker=broker)
    q.put("a")
    threading.Timer(0.1, q.get).start()
    q.put("b", timeout=10)
    assert q.get_nowait() == "b"


def test_maxsize_attribute_changes_the_bound(broker):
    q = ipcq.Queue(1, broker=broker)
    assert q.maxsize == 1
    q.put(1)
    done = threading.Event()

    def putter():
        q.put(2)  # waits for room
        done.set()

    t = threading.Thread(target=putter)
    t.start()
    assert not done.wait(0.2)
    q.maxsize = 3  # a larger bound admits the waiting putter at once
    assert done.wait(5)
    t.join()
    assert q.maxsize == 3 and q.qsize() == 2
    q.maxsize = 0
    assert q.maxsize == 0 and not q.full()


def test_task_done_and_join(broker):
    q = ipcq.Queue(broker=broker)
    with pytest.raises(ValueError, match="too many times"):
        q.task_done()
    for i in range(3):
        q.put(i)
    assert q.unfinished_tasks == 3
    joined = threading.Event()

    def joiner():
        q.join()
        joined.set()

    t = threading.Thread(target=joiner)
    t.start()
    for _ in range(3):
        q.get()
        assert not joined.wait(0.05)
        q.task_done()
    assert joined.wait(5)
    t.join()
    assert q.unfinished_tasks == 0
    with pytest.raises(ValueError):
        q.task_done()
    q.join()  # nothing unfinished: returns at once


def test_shutdown_drains_then_fails(broker):
    q = ipcq.Queue(broker=broker)
    q.put(1)
    q.put(2)
    assert not q.is_shutdown
    q.shutdown()
    assert q.is_shutdown
    with pytest.raises(ipcq.ShutDown):
        q.put(3)
    assert q.get() == 1
    assert q.get_nowait() == 2
    with pytest.raises(ipcq.ShutDown):
        q.get()  # would block forever on a live queue


def test_shutdown_immediate(broker):
    q = ipcq.Queue(broker=broker)
    q.put(1)
    q.put(2)
    q.shutdown(immediate=True)
    with pytest.raises(ipcq.ShutDown):
        q.get_nowait()
    assert q.unfinished_tasks == 0
    q.join()  # dropped items count as done


def test_shutdown_wakes_blocked_getter(broker):
    q = ipcq.Queue(broker=broker)
    got = []

    def getter():
        try:
            q.get()
        except ipcq.ShutDown as e:
            got.append(e)

    t = threading.Thread(target=getter)
    t.start()
    time.sleep(0.1)
    q.shutdown()
    t.join(5)
    assert not t.is_alive() and len(got) == 1


def test_raw_bytes_unchanged(broker):
    q = ipcq.Queue(broker=broker, raw=True)
    every_byte = bytes(range(256))
    q.put(every_byte)
    q.put(b"")
    q.put(bytearray(b"ba"))
    q.put(memoryview(b"mv"))
    assert q.get() == every_byte
    assert q.get() == b""
    assert q.get() == b"ba"
    assert q.get() == b"mv"
    with pytest.raises(TypeError):
        q.put("text")


def test_one_queue_many_threads(broker):
    """A thread blocked in get never delays another thread's put (SPEC D8)."""
    q = ipcq.Queue(broker=broker)
    out = ipcq.Queue(broker=broker)
    n_threads, per_thread = 8, 50

    def consumer():
        while True:
            item = q.get()
            if item is None:
                return
            out.put(item)

    consumers = [threading.Thread(target=consumer) for _ in range(4)]
    for t in consumers:
        t.start()

    def producer(k):
        for i in range(per_thread):
            q.put((k, i))

    producers = [threading.Thread(target=producer, args=(k,)) for k in range(n_threads)]
    for t in producers:
        t.start()
    for t in producers:
        t.join()
    got = [out.get(timeout=10) for _ in range(n_threads * per_thread)]
    for _ in consumers:
        q.put(None)
    for t in consumers:
        t.join(10)
    assert sorted(got) == [(k, i) for k in range(n_threads) for i in range(per_thread)]


def test_conflicting_maxsize_is_an_error_with_status_and_detail(broker):
    ipcq.Queue(3, name="conflict.q", broker=broker)
    with pytest.raises(ipcq.Conflict) as e:
        ipcq.Queue(5, name="conflict.q", broker=broker)
    assert isinstance(e.value, ipcq.Error)
    assert e.value.status == 6
    assert "conflict.q" in e.value.detail and str(e.value) == e.value.detail


@pytest.mark.parametrize("name", ["", "a\nb", "x" * 256])
def test_bad_name_is_invalid_argument(broker, name):
    with pytest.raises(ipcq.InvalidArgument) as e:
        ipcq.Queue(name=name, broker=broker)
    assert isinstance(e.value, ValueError) and e.value.status == 4 and e.value.detail


def test_operations_on_a_deleted_queue(broker):
    q = ipcq.Queue(broker=broker)
    q.delete()
    with pytest.raises(ipcq.NoSuchQueue) as e:
        q.qsize()
    assert e.value.status == 5 and q.name in e.value.detail


def test_absent_broker_is_unavailable(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(ipcq.BrokerUnavailable) as e:
        ipcq.Queue(broker=f"unix://{tmp_path}/nobody.sock")
    assert isinstance(e.value, ConnectionError) and e.value.status == 11 and e.value.detail
    assert time.monotonic() - t0 < 30


def test_error_pickles():
    import pickle
    e = pickle.loads(pickle.dumps(ipcq.Conflict(6, "q: exists with maxsize 3, not 5")))
    assert type(e) is ipcq.Conflict and e.status == 6 and e.detail.startswith("q:")


def test_default_endpoint(monkeypatch):
    monkeypatch.setenv("IPCQ_BROKER", "unix:///tmp/somewhere.sock")
    assert ipcq.default_endpoint() == "unix:///tmp/somewhere.sock"
