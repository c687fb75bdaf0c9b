"""The lecture notes' programs (python/examples/, issue 13 point 8): each
ported example runs as a real program and does the work, and differs from
its multiprocessing original (python/examples/notes/) only in import lines.

queue_write_read.py and primes.py use ipcq.Queue() with no broker given, so
they reach the default endpoint: here $IPCQ_BROKER, set to the test's ipcqd.
pool_manager_queue.py uses ipcq.Manager(), a private broker: it is run with
$IPCQ_BROKER pointing at nothing, so that it cannot lean on another broker.
"""

import ast
import difflib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ipcq

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTES = EXAMPLES / "notes"
PROGRAMS = ["queue_write_read.py", "pool_manager_queue.py", "primes.py"]
DEADLINE = 60  # seconds per program run; they take well under one


def _gone(pgid):
    """True when no live (non-zombie) process is left in the process group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # state, ppid, pgrp
            return False
    return True


def run_example(path, *args, env=None, cwd):
    """Runs ``python path args`` in its own process group with a deadline;
    returns its stdout. Fails if it fails, overruns, or leaves a process
    behind (its Process/Pool children, a Manager's broker); whatever is left
    is killed."""
    full_env = dict(os.environ)
    full_env.pop("PYTHONUNBUFFERED", None)  # as a user would run it: block-buffered pipes
    full_env.update(env or {})
    proc = subprocess.Popen([sys.executable, str(path), *map(str, args)], cwd=cwd,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{path.name} ran past {DEADLINE}s:\n{out.decode()}\n{err.decode()}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while not _gone(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = not _gone(proc.pid)
    if left:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    out, err = out.decode(), err.decode()
    assert proc.returncode == 0, f"{path.name} exited {proc.returncode}:\n{out}\n{err}"
    assert not left, f"{path.name} left processes behind"
    return out


# --- changed only where it imports its queue -------------------------------

def _import_line(line):
    """The names a one-line import statement binds, and its module; None if
    the line is not an import statement."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Import, ast.ImportFrom)):
        return None
    node = tree.body[0]
    module = node.module if isinstance(node, ast.ImportFrom) else None
    return module, {(a.asname or a.name) for a in node.names}


def _without_imports(source):
    class Strip(ast.NodeTransformer):
        def visit_Import(self, node):
            return None

        visit_ImportFrom = visit_Import

    return ast.dump(Strip().visit(ast.parse(source)))


@pytest.mark.parametrize("name", PROGRAMS)
def test_ported_differs_from_the_original_only_in_its_queue_import(name):
    original = (NOTES / name).read_text(encoding="utf-8")
    ported = (EXAMPLES / name).read_text(encoding="utf-8")
    removed, added = [], []
    for line in difflib.unified_diff(original.splitlines(), ported.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        parsed = _import_line(line[1:])
        assert parsed is not None, f"{name}: a changed line is not an import: {line!r}"
        (removed if line[0] == "-" else added).append(parsed)
    assert removed and added, f"{name}: the ported file is the original"
    # the same names, now from ipcq instead of multiprocessing
    assert {m for m, _ in removed} == {"multiprocessing"}
    assert {m for m, _ in added} == {"ipcq"}
    assert set().union(*(n for _, n in removed)) == set().union(*(n for _, n in added))
    assert set().union(*(n for _, n in added)) <= {"Queue", "Manager", "JoinableQueue"}
    # and the programs are otherwise the same, statement for statement
    assert _without_imports(original) == _without_imports(ported)


# --- queue_write_read.py: a writer process and a reader process -------------

def _write_read(out):
    written = re.findall(r"写入: (消息\d+)", out)
    read = re.findall(r"读到: (消息\d+)", out)
    return written, read


def test_queue_write_read(ipcqd, cli_path, tmp_path):
    before = set(_queues(cli_path, ipcqd.endpoint))
    out = run_example(EXAMPLES / "queue_write_read.py", cwd=tmp_path,
                      env={"IPCQ_BROKER": ipcqd.endpoint})
    written, read = _write_read(out)
    assert written == [f"消息{i}" for i in range(10)]
    assert read == written  # every item, once, in order
    assert "队列剩余消息数量: 0, empty: True" in out
    assert "所有数据都写入并且读完" in out
    # it went through this ipcqd (its unnamed queue is left there, empty)
    new = set(_queues(cli_path, ipcqd.endpoint)) - before
    assert len(new) == 1 and new.pop().startswith("py-")

    # and it says what the multiprocessing original says
    assert _write_read(run_example(NOTES / "queue_write_read.py", cwd=tmp_path)) == (written, read)


def _queues(cli_path, endpoint):
    out = subprocess.run([cli_path, "--broker", endpoint, "ls"], check=True, timeout=30,
                         capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def test_queue_write_read_needs_a_broker(tmp_path):
    # no ipcqd at the default endpoint: it fails, saying so, rather than hanging
    env = dict(os.environ, IPCQ_BROKER=f"unix://{tmp_path}/nobody.sock")
    env.pop("PYTHONUNBUFFERED", None)
    r = subprocess.run([sys.executable, str(EXAMPLES / "queue_write_read.py")], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=DEADLINE)
    assert r.returncode != 0
    assert "BrokerUnavailable" in r.stderr and "nobody.sock" in r.stderr


# --- pool_manager_queue.py: Pool workers and Manager().Queue() -------------

def test_pool_manager_queue(tmp_path):
    out = run_example(EXAMPLES / "pool_manager_queue.py", cwd=tmp_path,
                      env={"IPCQ_BROKER": f"unix://{tmp_path}/nobody.sock"})
    got = re.findall(r"reader从Queue获取到消息: ([A-C]-\d)", out)
    assert sorted(got) == [f"{n}-{i}" for n in "ABC" for i in range(5)]
    for n in "ABC":  # each writer's items in the order it put them
        assert [g for g in got if g[0] == n] == [f"{n}-{i}" for i in range(5)]
    assert sorted(re.findall(r"任务完成, 返回值: (\w+)", out)) == ["15", "A", "B", "C"]
    assert "队列剩余消息数量: 0" in out
    assert re.search(r"\(\d+\) End", out)
    # run_example checked that the Manager's broker is gone with the program


def test_manager_queue_keeps_its_manager():
    # the notes' idiom: queue = Manager().Queue(), the Manager dropped at once
    m = ipcq.Manager()
    pid = m.pid
    q = m.Queue()
    del m
    q.put("still here")
    assert q.get(timeout=10) == "still here"
    assert _alive(pid)
    del q  # the last reference: the Manager goes, and its broker with it
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "the Manager's broker outlived its queues"
        time.sleep(0.02)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


# --- primes.py: 1, 4 and 10 processes ----------------------------------------

def _primes_upto(n):
    sieve = bytearray([1]) * (n + 1)
    sieve[:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return [i for i in range(n + 1) if sieve[i]]


def _primes_results(out, n):
    found = {}
    for label, upto, count, total in re.findall(r"(单|4|10)进程: (\d+)以内质数(\d+)个, 之和(\d+)", out):
        assert int(upto) == n
        found[label] = (int(count), int(total))
    return found


@pytest.mark.parametrize("n", [3000, 2999])  # 2999: ranges that 4 and 10 do not divide
def test_primes(ipcqd, tmp_path, n):
    out = run_example(EXAMPLES / "primes.py", n, cwd=tmp_path,
                      env={"IPCQ_BROKER": ipcqd.endpoint})
    primes = _primes_upto(n)
    want = (len(primes), sum(primes))
    assert _primes_results(out, n) == {"单": want, "4": want, "10": want}
    for fn in ("no_multi_process", "use_4_process", "use_10_process"):
        assert re.search(fn + r"函数执行时长:\d+\.\d{6}", out)

    # the multiprocessing original agrees
    original = run_example(NOTES / "primes.py", n, cwd=tmp_path)
    assert _primes_results(original, n) == _primes_results(out, n)


def test_primes_default_range_is_the_notes():
    # the exercise: 100000以内 (not run here: the notes' trial division takes ~18 s a run)
    for path in (NOTES / "primes.py", EXAMPLES / "primes.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        n = next(node for node in tree.body if isinstance(node, ast.Assign)
                 and node.targets[0].id == "N")
        assert ast.literal_eval(n.value.orelse) == 100000


# --- python/README.md shows the real diffs ------------------------------------

def test_readme_shows_the_real_diffs():
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"```diff\n(.*?)```", readme, re.S)
    real = []
    for name in PROGRAMS:
        diff = difflib.unified_diff(
            (NOTES / name).read_text(encoding="utf-8").splitlines(),
            (EXAMPLES / name).read_text(encoding="utf-8").splitlines(),
            f"notes/{name}", name, lineterm="")
        real.append("".join(line + "\n" for line in diff))
    assert shown == real
