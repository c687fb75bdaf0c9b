"""ctypes declarations of libipcq (libclient/include/ipcq.h), and how it is found.

The library is looked for, in order:

1. ``$IPCQ_LIBRARY``: a path to a libipcq.so (for working on the C side);
2. the copy bundled in the package (``ipcq/_lib/libipcq.so.1``), which
   ``setup.py`` builds from the same source tree with CMake (or copies from
   ``$IPCQ_LIBIPCQ`` at build time), so that the declarations below always
   describe the library that is loaded;
3. ``libipcq.so.1`` through the system's loader (an installed libipcq).
"""

import ctypes
import os

SONAME = "libipcq.so.1"

# ipcq_status (ipcq.h)
OK = 0
EMPTY = 1
FULL = 2
ETIMEDOUT = 3
EINVAL = 4
ENOQUEUE = 5
ECONFLICT = 6
EDELETED = 7
ESHUTDOWN = 8
ETASKDONE = 9
ETOOBIG = 10
EUNAVAILABLE = 11
ESTOPPING = 12
EPROTO = 13
EVERSION = 14
ENOMEM = 15
ESYSTEM = 16
ELEASE = 17
ETASK = 18
EMEMLIMIT = 19
ELIMIT = 20
EACCESS = 21
ESTORAGE = 22
ENOTSUP = 23

FOREVER = -1
NOWAIT = 0

# ipcq_queue_field
QUEUE_SIZE = 0
QUEUE_MAXSIZE = 1
QUEUE_UNFINISHED = 5
QUEUE_SHUTDOWN = 10


def _candidates():
    env = os.environ.get("IPCQ_LIBRARY")
    if env:
        yield env
        return
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib", SONAME)
    if os.path.exists(bundled):
        yield bundled
    yield SONAME


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("ipcq: cannot load libipcq (" + "; ".join(errors) + "); "
                      "reinstall the package (pip install --no-build-isolation ./python) "
                      "or set IPCQ_LIBRARY to a libipcq.so")


lib, path = _load()

_c = ctypes
_client_p = _c.c_void_p
_status = _c.c_int


def _decl(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


strerror = _decl("ipcq_strerror", _c.c_char_p, _status)
version = _decl("ipcq_version", _c.c_char_p)
default_endpoint = _decl("ipcq_default_endpoint", _status, _c.c_char_p, _c.c_size_t)
client_open = _decl("ipcq_client_open", _status, _c.POINTER(_client_p), _c.c_char_p)
client_close = _decl("ipcq_client_close", None, _c.POINTER(_client_p))
client_error = _decl("ipcq_client_error", _c.c_char_p, _client_p)
put = _decl("ipcq_put", _status, _client_p, _c.c_char_p, _c.c_char_p, _c.c_size_t,
            _c.c_int64)
get = _decl("ipcq_get", _status, _client_p, _c.c_char_p, _c.POINTER(_c.c_void_p),
            _c.POINTER(_c.c_size_t), _c.c_int64)
free = _decl("ipcq_free", None, _c.c_void_p)
create = _decl("ipcq_create", _status, _client_p, _c.c_char_p, _c.c_int64)
set_maxsize = _decl("ipcq_set_maxsize", _status, _client_p, _c.c_char_p, _c.c_int64)
delete = _decl("ipcq_delete", _status, _client_p, _c.c_char_p)
task_done = _decl("ipcq_task_done", _status, _client_p, _c.c_char_p)
join = _decl("ipcq_join", _status, _client_p, _c.c_char_p, _c.c_int64)
shutdown = _decl("ipcq_shutdown", _status, _client_p, _c.c_char_p, _c.c_bool)
qsize = _decl("ipcq_qsize", _status, _client_p, _c.c_char_p, _c.POINTER(_c.c_size_t))
empty = _decl("ipcq_empty", _status, _client_p, _c.c_char_p, _c.POINTER(_c.c_bool))
full = _decl("ipcq_full", _status, _client_p, _c.c_char_p, _c.POINTER(_c.c_bool))
ping = _decl("ipcq_ping", _status, _client_p)
stat = _decl("ipcq_stat", _status, _client_p, _c.c_char_p, _c.POINTER(_c.c_void_p))
stats_count = _decl("ipcq_stats_count", _c.c_size_t, _c.c_void_p)
stats_queue = _decl("ipcq_stats_queue", _c.c_int64, _c.c_void_p, _c.c_size_t, _c.c_int)
stats_free = _decl("ipcq_stats_free", None, _c.POINTER(_c.c_void_p))
broker_start = _decl("ipcq_broker_start", _status, _c.POINTER(_c.c_void_p))
broker_endpoint = _decl("ipcq_broker_endpoint", _c.c_char_p, _c.c_void_p)
broker_pid = _decl("ipcq_broker_pid", _c.c_int, _c.c_void_p)
broker_stop = _decl("ipcq_broker_stop", _status, _c.POINTER(_c.c_void_p))
put_many = _decl("ipcq_put_many", _status, _client_p, _c.c_char_p, _c.c_size_t,
                 _c.POINTER(_c.c_char_p), _c.POINTER(_c.c_size_t), _c.c_int64)
get_many = _decl("ipcq_get_many", _status, _client_p, _c.c_char_p, _c.c_size_t,
                 _c.POINTER(_c.c_void_p), _c.POINTER(_c.c_size_t), _c.POINTER(_c.c_size_t),
                 _c.c_int64)
get_leased = _decl("ipcq_get_leased", _status, _client_p, _c.c_char_p, _c.c_int64,
                   _c.POINTER(_c.c_void_p), _c.POINTER(_c.c_size_t), _c.POINTER(_c.c_uint64),
                   _c.POINTER(_c.c_uint32), _c.c_int64)
ack = _decl("ipcq_ack", _status, _client_p, _c.c_uint64)
release = _decl("ipcq_release", _status, _client_p, _c.c_uint64)
extend = _decl("ipcq_extend", _status, _client_p, _c.c_uint64, _c.c_int64)
