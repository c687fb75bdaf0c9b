"""The broker restarted under a blocked get (SPEC D7, issue 13 point 7).

A durable ipcqd (--data-dir) is SIGKILLed while a thread of this process
waits in ``q.get()``; the call must end with ``ipcq.BrokerUnavailable``
within its timeout (never hang), and once a broker is back on the endpoint
the same Queue objects work again and find what was acknowledged before the
crash. Both transports: the unix:// lane sees the death as an EOF at once,
ZeroMQ's ipc:// finds it by its heartbeat (or, when the new broker is
already up, by asking it for the request it no longer holds).
"""

import json
import subprocess
import threading
import time

import pytest

import ipcq
from conftest import Daemon

GET_TIMEOUT = 30  # seconds: far more than the heartbeat needs to see a dead broker


def _blocked_getters(cli_path, endpoint, queue):
    out = subprocess.run([cli_path, "--broker", endpoint, "stat", queue, "--json"],
                         capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        return 0
    return json.loads(out.stdout)["getters"]


def _wait_for(condition, what, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.01)


class BlockedGet(threading.Thread):
    """One q.get(timeout=GET_TIMEOUT) on its own thread; keeps what it raised."""

    def __init__(self, q):
        super().__init__(daemon=True)
        self.q = q
        self.raised = None
        self.returned = None
        self.seconds = None

    def run(self):
        start = time.monotonic()
        try:
            self.returned = self.q.get(timeout=GET_TIMEOUT)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            self.raised = e
        self.seconds = time.monotonic() - start


@pytest.mark.parametrize("scheme", ["unix", "ipc"])
@pytest.mark.parametrize("restart", ["at_once", "after_the_failure"])
def test_broker_restarted_under_a_blocked_get(ipcqd_path, cli_path, tmp_path, scheme, restart):
    endpoint = f"{scheme}://{tmp_path}/broker.sock"
    data_dir = tmp_path / "data"
    daemon = Daemon(ipcqd_path, endpoint, "--data-dir", str(data_dir), "--fsync", "always")
    daemon.start()
    try:
        jobs = ipcq.Queue(name="jobs", broker=endpoint)
        kept = ipcq.Queue(name="kept", broker=endpoint)
        kept.put({"acknowledged": "before the crash"})
        jobs.put("warm-up")
        assert jobs.get(timeout=5) == "warm-up"  # the queue exists, the handle is connected

        waiter = BlockedGet(jobs)
        waiter.start()
        _wait_for(lambda: _blocked_getters(cli_path, endpoint, "jobs") == 1,
                  "the get is blocked in the broker")

        daemon.kill()
        if restart == "at_once":
            daemon.start()
        waiter.join(GET_TIMEOUT + 5)
        assert not waiter.is_alive(), "the blocked get hung past its timeout"
        assert isinstance(waiter.raised, ipcq.BrokerUnavailable), (waiter.raised, waiter.returned)
        assert waiter.seconds < GET_TIMEOUT
        assert waiter.raised.status == 11  # IPCQ_EUNAVAILABLE, not a stopping broker's 12
        if restart == "after_the_failure":
            daemon.start()

        # The same Queue objects work again, and nothing acknowledged is lost.
        assert kept.get(timeout=5) == {"acknowledged": "before the crash"}
        subprocess.run([cli_path, "--broker", endpoint, "put", "jobs", "from C"],
                       check=True, timeout=10)
        raw = ipcq.Queue(name="jobs", broker=endpoint, raw=True)
        assert raw.get(timeout=5) == b"from C"
        jobs.put("after the restart")
        assert jobs.get(timeout=5) == "after the restart"
        assert jobs.qsize() == 0 and kept.qsize() == 0
    finally:
        daemon.stop()
