"""ipcq: Python's queue.Queue across processes and languages (SPEC §8).

    import ipcq
    q = ipcq.Queue()              # instead of queue.Queue() / Manager().Queue()
    q.put({"job": 1})
    q.get()                       # -> {"job": 1}

    with ipcq.Manager() as m:     # a private broker, as multiprocessing.Manager()
        q = m.Queue(10)
"""

import math
import os
import pickle
import queue as _stdqueue
import threading
import time
import uuid
from ctypes import (byref, c_bool, c_char_p, c_size_t, c_uint32, c_uint64, c_void_p,
                    create_string_buffer, string_at)

from . import _capi

__all__ = ["Queue", "JoinableQueue", "Manager", "Leased", "Empty", "Full", "ShutDown", "Error",
           "default_endpoint", "library_version"]

Empty = _stdqueue.Empty
Full = _stdqueue.Full

if hasattr(_stdqueue, "ShutDown"):  # Python 3.13+
    ShutDown = _stdqueue.ShutDown
else:
    class ShutDown(Exception):
        """Raised by put() or get() on a queue that was shut down (Python 3.13's queue.ShutDown)."""


# --- errors that are not queue outcomes ------------------------------------

class Error(Exception):
    """A call failed for a reason that is not a queue outcome.

    ``status`` is the ipcq_status number, ``detail`` the library's one-line
    account ("jobs: no such queue"); str(e) is the detail.
    """

    def __init__(self, status, detail=None):
        self.status = status
        self.detail = detail or _strerror(status)
        super().__init__(self.detail)

    def __reduce__(self):
        return (_error_from, (self.status, self.detail))


def _error_from(status, detail):
    return _ERRORS.get(status, Error)(status, detail)


class InvalidArgument(Error, ValueError):
    """IPCQ_EINVAL: a bad queue name, size or timeout."""


class NoSuchQueue(Error):
    """IPCQ_ENOQUEUE."""


class Conflict(Error):
    """IPCQ_ECONFLICT: the queue exists with another maxsize."""


class Deleted(Error):
    """IPCQ_EDELETED: the queue was deleted while the call waited."""


class TimedOut(Error):
    """IPCQ_ETIMEDOUT."""


class TooBig(Error, ValueError):
    """IPCQ_ETOOBIG: the item is over the broker's max item size."""


class BrokerUnavailable(Error, ConnectionError):
    """IPCQ_EUNAVAILABLE / IPCQ_ESTOPPING: the broker is unreachable or going away."""


class AccessDenied(Error, PermissionError):
    """IPCQ_EACCESS."""


class LimitReached(Error):
    """IPCQ_ELIMIT / IPCQ_EMEMLIMIT: a broker limit."""


class StorageFailed(Error):
    """IPCQ_ESTORAGE: a durable broker's log failed; it takes no more changes."""


class Unsupported(Error, NotImplementedError):
    """IPCQ_ENOTSUP: the endpoint (nats://) cannot serve this call."""


class ProtocolError(Error):
    """IPCQ_EPROTO / IPCQ_EVERSION."""


class LeaseLost(Error):
    """IPCQ_ELEASE: the lease is no longer held."""


class SystemFailure(Error, OSError):
    """IPCQ_ESYSTEM / IPCQ_ENOMEM: an operating-system call failed."""


_ERRORS = {
    _capi.EINVAL: InvalidArgument,
    _capi.ENOQUEUE: NoSuchQueue,
    _capi.ECONFLICT: Conflict,
    _capi.EDELETED: Deleted,
    _capi.ETIMEDOUT: TimedOut,
    _capi.ETOOBIG: TooBig,
    _capi.EUNAVAILABLE: BrokerUnavailable,
    _capi.ESTOPPING: BrokerUnavailable,
    _capi.EACCESS: AccessDenied,
    _capi.ELIMIT: LimitReached,
    _capi.EMEMLIMIT: LimitReached,
    _capi.ESTORAGE: StorageFailed,
    _capi.ENOTSUP: Unsupported,
    _capi.EPROTO: ProtocolError,
    _capi.EVERSION: ProtocolError,
    _capi.ELEASE: LeaseLost,
    _capi.ESYSTEM: SystemFailure,
    _capi.ENOMEM: SystemFailure,
}


def _strerror(status):
    return _capi.strerror(status).decode("utf-8", "replace")


def _fail(client, status):
    """The exception for a failed call, made in the thread that made it."""
    detail = _capi.client_error(client) if client else None
    detail = detail.decode("utf-8", "replace") if detail else _strerror(status)
    return _ERRORS.get(status, Error)(status, detail)


def library_version():
    """The version of the libipcq that is loaded ("0.1.0")."""
    return _capi.version().decode()


def default_endpoint():
    """$IPCQ_BROKER, else the per-user unix:// socket of SPEC §1."""
    buf = create_string_buffer(4096)
    st = _capi.default_endpoint(buf, len(buf))
    if st != _capi.OK:
        raise _fail(None, st)
    return buf.value.decode()


# --- one client handle per endpoint and process ----------------------------
# libipcq's handle is thread-safe (SPEC D8: each thread gets its own
# connection) and survives fork (D4: the child opens its own connection), so
# one handle per endpoint serves every Queue of the process. Handles are
# never closed: a process that exits without closing does not hang (D4).

_handles = {}
_handles_lock = threading.Lock()


def _reinit_after_fork():
    global _handles_lock
    _handles_lock = threading.Lock()


os.register_at_fork(after_in_child=_reinit_after_fork)


def _client(endpoint):
    h = _handles.get(endpoint)
    if h is not None:
        return h
    with _handles_lock:
        h = _handles.get(endpoint)
        if h is None:
            p = c_void_p()
            st = _capi.client_open(byref(p), endpoint.encode())
            if st != _capi.OK:
                raise _fail(None, st)
            h = _handles[endpoint] = p.value
        return h


def _timeout_ms(block, timeout):
    """Python's (block, timeout) as libipcq's milliseconds (SPEC Q5, Q11)."""
    if not block:
        return _capi.NOWAIT
    if timeout is None:
        return _capi.FOREVER
    if timeout != timeout:  # NaN
        raise ValueError("'timeout' must be a non-negative number")
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    if timeout == 0:
        return _capi.NOWAIT
    if math.isinf(timeout):
        return _capi.FOREVER
    return max(1, min(math.ceil(timeout * 1000), 2**62))


# A wait in libipcq is one C call, and Python runs a signal's handler (a
# KeyboardInterrupt for Ctrl-C) only once that call returns. So the main
# thread, where handlers run, waits in slices of at most this long, as
# queue.Queue's own waits can be interrupted; other threads wait in one call.
_SLICE_MS = 200
_main_thread_id = threading.main_thread().ident


def _waited(call, ms, again):
    """call(wait_ms) -> status, for a wait of ms (libipcq's milliseconds). In
    the main thread a longer wait is made of slices, called again while the
    status is ``again`` (nothing happened in that slice) and time is left:
    nothing is taken or put by a slice that ends with ``again``."""
    if ms == _capi.NOWAIT or (0 < ms <= _SLICE_MS) or threading.get_ident() != _main_thread_id:
        return call(ms)
    deadline = None if ms == _capi.FOREVER else time.monotonic() + ms / 1000
    while True:
        wait = _SLICE_MS
        if deadline is not None:
            wait = min(wait, math.ceil((deadline - time.monotonic()) * 1000))
            if wait <= 0:
                return again
        st = call(wait)
        if st != again:
            return st


def _lease_ms(seconds):
    """A lease's length in seconds as libipcq's milliseconds (> 0, rounded up)."""
    try:
        ok = seconds > 0 and not math.isinf(seconds)
    except TypeError:
        raise TypeError(f"a lease is a number of seconds, not {type(seconds).__name__}") from None
    if not ok:  # also NaN
        raise ValueError("a lease must be a positive, finite number of seconds")
    return max(1, min(math.ceil(seconds * 1000), 2**62))


# --- a leased item ----------------------------------------------------------

class Leased:
    """An item taken with ``q.get(lease=seconds)``: it stays out of the queue
    until acked, and returns to the head of the queue if released, if the
    lease runs out, or if this process dies holding it.

    ``value`` is the item (unpickled, or bytes from a raw queue),
    ``deliveries`` how many times it was handed out, this time included.
    As a context manager it acks on a normal exit and releases when the
    block raises (the exception goes on).
    """

    __slots__ = ("value", "deliveries", "_queue", "_lease", "_done")

    def __init__(self, queue, value, lease, deliveries):
        self.value = value
        self.deliveries = deliveries
        self._queue = queue
        self._lease = lease
        self._done = False

    @property
    def queue(self):
        return self._queue

    def ack(self):
        """The work is done: the item is gone for good. ipcq.LeaseLost if the
        lease is no longer held (it ran out, or was acked or released)."""
        self._finish(_capi.ack)

    def release(self):
        """Hands the item back to the head of its queue now."""
        self._finish(_capi.release)

    def extend(self, seconds):
        """Renews the lease: it now runs out ``seconds`` from now."""
        ms = _lease_ms(seconds)
        self._queue._check(_capi.extend(self._queue._c, self._lease, ms))

    def _finish(self, call):
        st = call(self._queue._c, self._lease)
        self._done = True
        self._queue._check(st)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._done:
            return False
        if exc_type is None:
            self.ack()
        else:
            try:
                self.release()
            except Error:
                pass  # the block's exception matters more; the item comes back anyway
        return False

    def __repr__(self):
        return f"<ipcq.Leased {self.value!r} deliveries={self.deliveries}>"

    def __reduce__(self):
        raise TypeError("a leased item belongs to the process that took it: pass its value")


# --- the queue --------------------------------------------------------------

class Queue:
    """A named queue on an ipcq broker with the interface of queue.Queue.

    Every queue is joinable (task_done, join). Items are pickled; with
    ``raw=True`` they must be bytes-like and come back as bytes, unchanged,
    for C programs and the ``ipcq`` CLI. ``broker`` is an endpoint
    (``unix:///path``, ``ipc://...``, ``tcp://...``); None means
    ``default_endpoint()``. ``name`` None gives a fresh unique name; a given
    name attaches to that queue, creating it with ``maxsize`` if it does not
    exist (an existing queue with another maxsize raises ipcq.Conflict).
    """

    def __init__(self, maxsize=0, *, name=None, broker=None, raw=False):
        self._attach(broker if broker is not None else default_endpoint(),
                     name if name is not None else "py-" + uuid.uuid4().hex, raw)
        self._check(_capi.create(self._c, self._qname, int(maxsize)))

    def _attach(self, endpoint, name, raw):
        if not isinstance(name, str):
            raise TypeError("queue name must be a str")
        self._endpoint = endpoint
        self._name = name
        self._qname = name.encode("utf-8")
        self._raw = bool(raw)
        self._c = _client(endpoint)

    @classmethod
    def _rebuild(cls, endpoint, name, raw):
        q = cls.__new__(cls)
        q._attach(endpoint, name, raw)
        return q

    def __reduce__(self):
        return (_rebuild_queue, (self._endpoint, self._name, self._raw))

    def __repr__(self):
        return f"<ipcq.Queue {self._name!r} at {self._endpoint}{' raw' if self._raw else ''}>"

    def _check(self, st):
        if st != _capi.OK:
            raise _fail(self._c, st)

    # identity
    @property
    def name(self):
        return self._name

    @property
    def broker(self):
        return self._endpoint

    @property
    def raw(self):
        return self._raw

    # put / get
    def _encode(self, item):
        if self._raw:
            if isinstance(item, bytes):
                return item
            if isinstance(item, (bytearray, memoryview)):
                return bytes(item)
            raise TypeError(f"a raw queue takes bytes, not {type(item).__name__}")
        return pickle.dumps(item, pickle.HIGHEST_PROTOCOL)

    def _decode(self, ptr, n):
        try:
            data = string_at(ptr, n)
        finally:
            _capi.free(ptr)
        return data if self._raw else pickle.loads(data)

    def _outcome(self, st):
        if st == _capi.EMPTY:
            return Empty
        if st == _capi.FULL:
            return Full
        if st == _capi.ESHUTDOWN:
            return ShutDown
        return _fail(self._c, st)

    def put(self, item, block=True, timeout=None):
        if self._raw:
            if not isinstance(item, bytes):
                if isinstance(item, (bytearray, memoryview)):
                    item = bytes(item)
                else:
                    raise TypeError(f"a raw queue takes bytes, not {type(item).__name__}")
            data = item
        else:
            data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        c, name, size = self._c, self._qname, len(data)
        st = _waited(lambda ms: _capi.put(c, name, data, size, ms), _timeout_ms(block, timeout),
                     _capi.FULL)
        if st == _capi.OK:
            return
        if st == _capi.FULL:
            raise Full
        if st == _capi.ESHUTDOWN:
            raise ShutDown
        raise _fail(self._c, st)

    def get(self, block=True, timeout=None, *, lease=None):
        """queue.Queue.get; with ``lease=seconds`` the item comes as an
        ipcq.Leased, to be acked, released or extended (SPEC §8 P9)."""
        if lease is not None:
            return self._get_leased(_lease_ms(lease), _timeout_ms(block, timeout))
        ptr = c_void_p()
        n = c_size_t()
        c, name, pptr, pn = self._c, self._qname, byref(ptr), byref(n)
        st = _waited(lambda ms: _capi.get(c, name, pptr, pn, ms), _timeout_ms(block, timeout),
                     _capi.EMPTY)
        if st == _capi.OK:
            try:
                data = string_at(ptr, n.value)
            finally:
                _capi.free(ptr)
            return data if self._raw else pickle.loads(data)
        if st == _capi.EMPTY:
            raise Empty
        if st == _capi.ESHUTDOWN:
            raise ShutDown
        raise _fail(self._c, st)

    def _get_leased(self, lease_ms, ms):
        ptr = c_void_p()
        n = c_size_t()
        lease = c_uint64()
        deliveries = c_uint32()
        st = _waited(lambda wait: _capi.get_leased(self._c, self._qname, lease_ms, byref(ptr),
                                                   byref(n), byref(lease), byref(deliveries),
                                                   wait), ms, _capi.EMPTY)
        if st != _capi.OK:
            raise self._outcome(st)
        try:
            value = self._decode(ptr, n.value)
        except BaseException:
            _capi.release(self._c, lease.value)
            raise
        return Leased(self, value, lease.value, deliveries.value)

    def put_many(self, items, block=True, timeout=None):
        """Puts every item of ``items`` in one request, in order, all or none
        (a bounded queue waits for room for all of them; more items than
        maxsize is ValueError). An empty ``items`` does nothing."""
        datas = [self._encode(item) for item in items]
        ms = _timeout_ms(block, timeout)
        if not datas:
            return
        n = len(datas)
        ptrs = (c_char_p * n)(*datas)
        lens = (c_size_t * n)(*map(len, datas))
        st = _waited(lambda wait: _capi.put_many(self._c, self._qname, n, ptrs, lens, wait), ms,
                     _capi.FULL)
        if st != _capi.OK:
            raise self._outcome(st)

    def get_many(self, n, block=True, timeout=None):
        """A list of up to ``n`` (>= 1) items in one request, waiting (by
        ``block`` and ``timeout``) only for the first; queue.Empty if none
        arrived in time."""
        n = int(n)
        if n < 1:
            raise ValueError("get_many() needs n >= 1")
        ms = _timeout_ms(block, timeout)
        ptrs = (c_void_p * n)()
        lens = (c_size_t * n)()
        got = c_size_t()
        st = _waited(lambda wait: _capi.get_many(self._c, self._qname, n, ptrs, lens, byref(got),
                                                 wait), ms, _capi.EMPTY)
        if st != _capi.OK:
            raise self._outcome(st)
        count = got.value
        out = []
        try:
            for i in range(count):
                p, ptrs[i] = ptrs[i], None
                out.append(self._decode(p, lens[i]))
        finally:
            for i in range(count):
                if ptrs[i]:
                    _capi.free(ptrs[i])
        return out

    def put_nowait(self, item):
        return self.put(item, block=False)

    def get_nowait(self):
        return self.get(block=False)

    # sizes
    def qsize(self):
        n = c_size_t()
        self._check(_capi.qsize(self._c, self._qname, byref(n)))
        return n.value

    def empty(self):
        b = c_bool()
        self._check(_capi.empty(self._c, self._qname, byref(b)))
        return b.value

    def full(self):
        b = c_bool()
        self._check(_capi.full(self._c, self._qname, byref(b)))
        return b.value

    def _field(self, field):
        s = c_void_p()
        self._check(_capi.stat(self._c, self._qname, byref(s)))
        try:
            if _capi.stats_count(s) < 1:
                raise NoSuchQueue(_capi.ENOQUEUE, f"{self._name}: no such queue")
            return _capi.stats_queue(s, 0, field)
        finally:
            _capi.stats_free(byref(s))

    @property
    def maxsize(self):
        """The bound (0: unbounded), as the broker has it now."""
        return self._field(_capi.QUEUE_MAXSIZE)

    @maxsize.setter
    def maxsize(self, n):
        self._check(_capi.set_maxsize(self._c, self._qname, int(n)))

    @property
    def unfinished_tasks(self):
        return self._field(_capi.QUEUE_UNFINISHED)

    @property
    def is_shutdown(self):
        return bool(self._field(_capi.QUEUE_SHUTDOWN))

    # tasks
    def task_done(self):
        st = _capi.task_done(self._c, self._qname)
        if st == _capi.ETASKDONE:
            raise ValueError("task_done() called too many times")
        self._check(st)

    def join(self):
        self._check(_waited(lambda ms: _capi.join(self._c, self._qname, ms), _capi.FOREVER,
                            _capi.ETIMEDOUT))

    def shutdown(self, immediate=False):
        self._check(_capi.shutdown(self._c, self._qname, bool(immediate)))

    # beyond queue.Queue
    def delete(self):
        """Deletes the queue and its items on the broker; waiters get ipcq.Deleted."""
        self._check(_capi.delete(self._c, self._qname))


JoinableQueue = Queue


def _rebuild_queue(endpoint, name, raw):
    return Queue._rebuild(endpoint, name, raw)


# --- the manager ------------------------------------------------------------

class Manager:
    """A private broker for this process, as multiprocessing.Manager() starts a server.

    The broker is a child process of the thread that made the Manager (make
    it in the main thread); it stops on shutdown(), at the end of a with
    block, when the Manager is collected, or when its starter dies.
    """

    def __init__(self):
        b = c_void_p()
        st = _capi.broker_start(byref(b))
        if st != _capi.OK:
            raise _fail(None, st)
        self._b = b
        self._pid = os.getpid()
        self._endpoint = _capi.broker_endpoint(b).decode()
        self._broker_pid = _capi.broker_pid(b)

    @property
    def address(self):
        """The broker's endpoint, for ipcq.Queue(broker=...) and the CLI's --broker."""
        return self._endpoint

    @property
    def pid(self):
        return self._broker_pid

    def Queue(self, maxsize=0, *, name=None, raw=False):
        q = Queue(maxsize, name=name, broker=self._endpoint, raw=raw)
        q._manager = self  # as a Manager().Queue() proxy does: Manager().Queue() must work
        return q

    def JoinableQueue(self, maxsize=0, *, name=None, raw=False):
        return self.Queue(maxsize, name=name, raw=raw)

    def shutdown(self):
        """Stops the broker (only the process that started it does; elsewhere a no-op)."""
        b = getattr(self, "_b", None)
        if b is None or not b.value:
            return
        if os.getpid() != self._pid:
            return
        st = _capi.broker_stop(byref(b))
        self._b = None
        if st not in (_capi.OK, _capi.ESYSTEM):
            raise _fail(None, st)

    def start(self):  # multiprocessing.Manager() comes started; so does this one
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def __del__(self):
        try:
            self.shutdown()
        except Exception:
            pass

    def __reduce__(self):
        raise TypeError("an ipcq.Manager cannot be pickled: pass its queues, or its address")
