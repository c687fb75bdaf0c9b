"""Leases and batches (issue 13 point 5, SPEC §8 P9): q.get(lease=seconds)
gives an ipcq.Leased to ack, release or extend; q.put_many and q.get_many."""

import multiprocessing
import os
import signal
import time

import pytest

import ipcq


@pytest.fixture(params=[False, True], ids=["pickled", "raw"])
def raw(request):
    return request.param


def _item(raw, i):
    return f"item-{i}".encode() if raw else ("item", i, {"n": i})


def test_lease_must_be_positive(broker):
    q = ipcq.Queue(broker=broker)
    q.put(1)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            q.get(lease=bad)
    with pytest.raises(TypeError):
        q.get(lease="1")
    assert q.qsize() == 1
    assert q.get(timeout=5) == 1  # without lease, get is unchanged


def test_leased_get_empty_and_shutdown(broker):
    q = ipcq.Queue(broker=broker)
    with pytest.raises(ipcq.Empty):
        q.get(block=False, lease=5)
    with pytest.raises(ipcq.Empty):
        q.get(timeout=0.05, lease=5)
    with pytest.raises(ValueError):
        q.get(timeout=-1, lease=5)
    q.shutdown()
    with pytest.raises(ipcq.ShutDown):
        q.get(timeout=1, lease=5)


def test_ack_removes_for_good(broker, raw):
    q = ipcq.Queue(broker=broker, raw=raw)
    q.put(_item(raw, 1))
    it = q.get(timeout=5, lease=0.3)
    assert isinstance(it, ipcq.Leased)
    assert it.value == _item(raw, 1)
    assert it.deliveries == 1
    assert q.qsize() == 0
    it.ack()
    time.sleep(0.6)  # well past the lease: nothing comes back
    with pytest.raises(ipcq.Empty):
        q.get(timeout=0.2)
    assert q.qsize() == 0
    with pytest.raises(ipcq.LeaseLost):
        it.ack()  # acked already


def test_release_puts_back_at_head(broker, raw):
    q = ipcq.Queue(broker=broker, raw=raw)
    q.put(_item(raw, 1))
    q.put(_item(raw, 2))
    it = q.get(timeout=5, lease=30)
    assert (it.value, it.deliveries) == (_item(raw, 1), 1)
    it.release()
    again = q.get(timeout=5, lease=30)
    assert (again.value, again.deliveries) == (_item(raw, 1), 2)
    again.ack()
    assert q.get(timeout=5) == _item(raw, 2)
    with pytest.raises(ipcq.LeaseLost):
        it.extend(5)  # released: no longer held


def test_context_manager_acks_on_success(broker, raw):
    q = ipcq.Queue(broker=broker, raw=raw)
    q.put(_item(raw, 7))
    with q.get(timeout=5, lease=30) as it:
        assert it.value == _item(raw, 7)
    assert q.qsize() == 0
    with pytest.raises(ipcq.LeaseLost):
        it.ack()


def test_context_manager_releases_on_exception(broker, raw):
    q = ipcq.Queue(broker=broker, raw=raw)
    q.put(_item(raw, 7))
    q.put(_item(raw, 8))
    with pytest.raises(KeyError, match="boom"):
        with q.get(timeout=5, lease=30) as it:
            assert it.value == _item(raw, 7)
            raise KeyError("boom")
    back = q.get(timeout=5, lease=30)
    assert (back.value, back.deliveries) == (_item(raw, 7), 2)
    back.ack()
    assert q.get(timeout=5) == _item(raw, 8)


def test_context_manager_after_explicit_release(broker):
    q = ipcq.Queue(broker=broker)
    q.put("x")
    with q.get(timeout=5, lease=30) as it:
        it.release()  # the block decided; the exit does nothing more
    assert q.qsize() == 1
    assert q.get(timeout=5) == "x"


def test_extend_keeps_it_past_the_first_lease(broker):
    q = ipcq.Queue(broker=broker)
    q.put("slow work")
    it = q.get(timeout=5, lease=0.3)
    it.extend(30)
    time.sleep(0.8)
    with pytest.raises(ipcq.Empty):
        q.get(timeout=0.2)
    it.ack()
    assert q.qsize() == 0
    with pytest.raises(ValueError):
        it.extend(0)


def test_expired_lease_comes_back_and_ack_is_lost(broker, raw):
    q = ipcq.Queue(broker=broker, raw=raw)
    q.put(_item(raw, 3))
    it = q.get(timeout=5, lease=0.2)
    back = q.get(timeout=10, lease=30)  # waits until the first lease runs out
    assert (back.value, back.deliveries) == (_item(raw, 3), 2)
    with pytest.raises(ipcq.LeaseLost) as e:
        it.ack()
    assert e.value.status == ipcq._capi.ELEASE
    with pytest.raises(ipcq.LeaseLost):
        it.extend(5)
    back.ack()
    assert q.qsize() == 0


def _hold_leased(q, ready):
    it = q.get(timeout=10, lease=300)
    ready.put((os.getpid(), it.value, it.deliveries))
    time.sleep(300)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_worker_killed_holding_a_leased_item(broker, method):
    q = ipcq.Queue(broker=broker)
    ready = ipcq.Queue(broker=broker)
    q.put({"job": 42})
    q.put({"job": 43})
    p = multiprocessing.get_context(method).Process(target=_hold_leased, args=(q, ready))
    p.start()
    try:
        pid, value, deliveries = ready.get(timeout=30)
        assert (pid, value, deliveries) == (p.pid, {"job": 42}, 1)
        assert q.qsize() == 1
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
        assert p.exitcode == -signal.SIGKILL
        # the broker returns the item when it sees the connection close
        deadline = time.monotonic() + 10
        while q.qsize() < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert q.qsize() == 2
        # another consumer: the item is back at the head, its count raised
        it = q.get(timeout=10, lease=30)
        assert (it.value, it.deliveries) == ({"job": 42}, 2)
        it.ack()
        assert q.get(timeout=5) == {"job": 43}
    finally:
        if p.is_alive():
            p.kill()
            p.join()


def test_put_many_get_many_order_and_counts(broker, raw):
    q = ipcq.Queue(broker=broker, raw=raw)
    items = [_item(raw, i) for i in range(10)]
    q.put_many(items)
    assert q.qsize() == 10
    assert q.get_many(4, timeout=5) == items[:4]
    assert q.get_many(100, timeout=5) == items[4:]
    with pytest.raises(ipcq.Empty):
        q.get_many(3, timeout=0.05)
    with pytest.raises(ipcq.Empty):
        q.get_many(3, block=False)
    q.put_many(iter(items[:2]))  # any iterable
    q.put_many([])  # nothing to do
    assert q.get_many(1, timeout=5) == items[:1]
    assert q.get(timeout=5) == items[1]
    # every put counts as a task
    assert q.unfinished_tasks == 12


def test_get_many_waits_only_for_the_first(broker):
    q = ipcq.Queue(broker=broker)
    q.put_many(["a"])
    t0 = time.monotonic()
    assert q.get_many(5, timeout=5) == ["a"]
    assert time.monotonic() - t0 < 2


def test_put_many_bounded_and_errors(broker, raw):
    q = ipcq.Queue(3, broker=broker, raw=raw)
    with pytest.raises(ValueError):
        q.put_many([_item(raw, i) for i in range(4)])  # more than maxsize
    q.put_many([_item(raw, 0), _item(raw, 1)])
    with pytest.raises(ipcq.Full):
        q.put_many([_item(raw, 2), _item(raw, 3)], block=False)  # all or none
    with pytest.raises(ipcq.Full):
        q.put_many([_item(raw, 2), _item(raw, 3)], timeout=0.05)
    assert q.qsize() == 2
    with pytest.raises(ValueError):
        q.get_many(0)
    with pytest.raises(ValueError):
        q.put_many([_item(raw, 2)], timeout=-1)
    if raw:
        with pytest.raises(TypeError):
            q.put_many(["not bytes"])
    assert q.get_many(3, timeout=5) == [_item(raw, 0), _item(raw, 1)]
    q.shutdown()
    with pytest.raises(ipcq.ShutDown):
        q.put_many([_item(raw, 5)])
    with pytest.raises(ipcq.ShutDown):
        q.get_many(2, timeout=1)


def test_raw_batches_meet_the_cli(broker, cli_path):
    import subprocess
    q = ipcq.Queue(broker=broker, raw=True)
    q.put_many([b"one", b"two", b""])
    out = subprocess.run([cli_path, "--broker", broker, "get", q.name, "-n", "2"],
                         capture_output=True, timeout=30, check=True).stdout
    assert out == b"one\ntwo\n"
    assert q.get_many(5, timeout=5) == [b""]
