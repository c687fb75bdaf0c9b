"""Fixtures: real brokers only.

- ``manager``: a private broker (ipcq.Manager, ipcq_broker_start) per module;
- ``ipcqd``: an ipcqd process on a fresh unix:// endpoint in a temp dir, per
  test. The programs are found in ``$IPCQ_BUILD_DIR`` (a CMake build dir of
  the repository: broker/ipcqd, tools/ipcq), else on PATH; without them those
  tests are skipped, saying so.
"""

import os
import shutil
import subprocess
import time

import pytest

import ipcq


def _program(subdir, name):
    build = os.environ.get("IPCQ_BUILD_DIR")
    if build:
        path = os.path.join(build, subdir, name)
        if not os.access(path, os.X_OK):
            pytest.fail(f"IPCQ_BUILD_DIR={build}: no {subdir}/{name} (build the repository there)")
        return path
    path = shutil.which(name)
    if not path:
        pytest.skip(f"no {name}: set IPCQ_BUILD_DIR to a CMake build dir of the repository")
    return path


@pytest.fixture(scope="session")
def ipcqd_path():
    return _program("broker", "ipcqd")


@pytest.fixture(scope="session")
def cli_path():
    return _program("tools", "ipcq")


class Daemon:
    def __init__(self, path, endpoint, *args):
        self.path = path
        self.endpoint = endpoint
        self.args = list(args)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.path, "--bind", self.endpoint] + self.args,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("ipcqd exited: " + self.proc.stderr.read().decode())
            try:
                probe = ipcq.Queue(name="fixture.probe", broker=self.endpoint)
                probe.qsize()
                probe.delete()
                return
            except ipcq.BrokerUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self):
        """SIGKILL, then reap: the broker dies as in a crash."""
        self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stderr.close()


@pytest.fixture
def ipcqd(ipcqd_path, tmp_path):
    d = Daemon(ipcqd_path, f"unix://{tmp_path}/broker.sock")
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def manager():
    with ipcq.Manager() as m:
        yield m


@pytest.fixture(params=["manager", "ipcqd"])
def broker(request):
    """The endpoint of a real broker: a Manager's, or an ipcqd's."""
    if request.param == "manager":
        return request.getfixturevalue("manager").address
    return request.getfixturevalue("ipcqd").endpoint
