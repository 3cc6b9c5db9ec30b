"""SmartCache and ``@cached``: a bounded, thread-safe, TTL + LRU cache with single-flight.

Design
------
One :class:`SmartCache` holds an ``OrderedDict`` of ``key -> _Entry`` (value, absolute expiry on
the injected clock, estimated size in bytes, tags) guarded by one plain ``threading.Lock``.
The order of the dict is the LRU order: a hit moves the key to the end, eviction pops from the
front. Three bounds apply after every insert, oldest first: the entry count (``maxsize``,
reason ``size``), the byte budget (``max_bytes``, reason ``memory``) and, for whatever the LRU
walk meets already expired, reason ``ttl``. Expired entries are also dropped lazily when read;
:meth:`SmartCache.purge_expired` sweeps them all.

Sizes are measured once, on insert: numpy arrays by ``nbytes``, pandas objects by
``memory_usage(deep=True)``, strings/bytes by ``sys.getsizeof``, containers by their own size
plus a sample of their items (see :func:`estimate_bytes`). numpy and pandas are never imported
here; they are recognised only if the program already imported them.

The hot path of ``@cached`` is inlined in the wrapper: one lock taken through its bound
``acquire``/``release`` (a ``with`` block costs ~75 ns more here), one ``dict.get`` with an
always-expired sentinel for a miss, one clock call, one ``move_to_end`` and an int increment.
For a function of plain parameters (defaults allowed; no ``*args``, ``**kwargs`` or
keyword-only) the wrapper is generated with the function's own parameter list, as
dataclasses generates ``__init__``: no ``**kwargs`` dict per call, a flat key tuple, keyword
and default-filled calls share the positional call's entry. Other signatures get a generic
wrapper whose key is ``args`` (+ the sorted kwargs). Everything else (the miss, the second
level, eviction, tag bookkeeping) lives on the slow path.

Single-flight: concurrent misses of one key compute once. Threads register a ``_Flight`` (an
Event plus the outcome) under the lock and the followers wait on it; coroutines share an
``asyncio.Future`` per key and event loop. An exception reaches every waiter and nothing is
cached.

Second level: any object with the :class:`CacheBackend` methods (``cache_redis.RedisBackend``).
An L1 miss asks L2 and fills L1 with the remaining L2 lifetime; ``set`` writes through;
invalidation (key, tag, prefix, clear) is forwarded. A backend signals an unreachable server
with the builtin ``ConnectionError``/``TimeoutError``: the cache counts it in ``l2_errors``,
keeps serving from L1 and leaves L2 alone for ``l2_retry_after`` seconds of its clock. A
payload the backend refuses to decode (``ValueError``, e.g. a pickle without
``allow_pickle``) counts in ``l2_rejected`` and reads as a miss. Network I/O never runs under
the lock.

Stats are plain ints updated under the lock; :meth:`SmartCache.stats` returns a frozen
:class:`CacheStats` snapshot and :func:`live_caches` lists the caches alive in the process, for
a monitor to export.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast

__all__ = [
    "CacheBackend",
    "CacheStats",
    "EvictionReason",
    "L2Entry",
    "SmartCache",
    "cached",
    "estimate_bytes",
    "live_caches",
]

T = TypeVar("T")

_log = logging.getLogger(__name__)
_MISSING: Any = object()
_INF = math.inf
# Items sampled from a large container when estimating its size.
_SAMPLE = 64
_ARRAY_HEADER_BYTES = 112
_REGISTRY: weakref.WeakSet[SmartCache] = weakref.WeakSet()
_NAMES = itertools.count(1)


class EvictionReason(StrEnum):
    """Why an entry left the cache before being deleted or invalidated."""

    TTL = "ttl"
    SIZE = "size"
    MEMORY = "memory"


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of one cache's counters.

    ``hits``/``misses`` count first-level lookups (an L2 hit is an L1 miss). ``evictions_*``
    count entries dropped by the cache itself, by :class:`EvictionReason`; a value larger
    than ``max_bytes`` counts as a ``memory`` eviction. ``current_bytes`` is the estimated
    size of the stored values. ``l2_errors`` counts failed calls to the second level,
    ``l2_rejected`` payloads it refused to decode, ``l2_skipped`` values it could not store
    (not serialisable without pickle).
    """

    name: str
    hits: int
    misses: int
    hit_rate: float
    evictions: int
    evictions_ttl: int
    evictions_size: int
    evictions_memory: int
    entries: int
    current_bytes: int
    max_entries: int
    max_bytes: int | None
    l2_hits: int = 0
    l2_misses: int = 0
    l2_errors: int = 0
    l2_rejected: int = 0
    l2_skipped: int = 0


@dataclass(frozen=True, slots=True)
class L2Entry:
    """What a second level returns for a hit: the value, its remaining lifetime in seconds
    (``None``: no expiry) and its tags."""

    value: Any
    ttl: float | None
    tags: frozenset[str]


class CacheBackend(Protocol):
    """A second cache level (``cache_redis.RedisBackend`` is one).

    Methods raise the builtin ``ConnectionError`` or ``TimeoutError`` when the store is
    unreachable; ``get`` raises ``ValueError`` for a payload it refuses to decode. A key the
    backend cannot encode is simply not stored (``get`` -> ``None``, ``set`` -> ``False``).
    """

    def get(self, key: Hashable) -> L2Entry | None:
        """Return the entry stored under ``key``, or ``None``."""

    def set(self, key: Hashable, value: Any, ttl: float | None, tags: frozenset[str]) -> bool:
        """Store ``value`` for ``ttl`` seconds (``None``: no expiry); ``False`` if skipped."""

    def delete(self, key: Hashable) -> None:
        """Remove ``key``."""

    def invalidate_tag(self, tag: str) -> None:
        """Remove every entry carrying ``tag``."""

    def invalidate_prefix(self, prefix: str) -> None:
        """Remove every string key starting with ``prefix``."""

    def clear(self) -> None:
        """Remove every entry of this backend's namespace."""


class _Entry:
    __slots__ = ("expires", "size", "tags", "value")

    def __init__(self, value: Any, expires: float, size: int, tags: frozenset[str]) -> None:
        self.value = value
        self.expires = expires
        self.size = size
        self.tags = tags


# Returned by the hot path's dict lookup on a miss: always expired, so one test covers both.
_ABSENT = _Entry(None, -_INF, 0, frozenset())


class _Flight:
    __slots__ = ("error", "event", "owner", "value")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.owner = threading.get_ident()
        self.value: Any = None
        self.error: BaseException | None = None


def live_caches() -> list[SmartCache]:
    """Return the :class:`SmartCache` instances alive in this process (for a stats exporter).

    Returns
    -------
    list of SmartCache
        Sorted by ``name``.
    """
    return sorted(list(_REGISTRY), key=lambda c: c.name)


def _check_ttl(name: str, ttl: float | None) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"{name} must be a number of seconds or None, got {ttl!r}")
    if not ttl > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {ttl!r}")
    return float(ttl)


def _check_count(name: str, value: int | None, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return value


def _check_callable(name: str, value: object) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r}")


def _check_tags(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise TypeError(f"tags must be an iterable of str, got the str {tags!r}; use ({tags!r},)")
    result = frozenset(tags)
    for tag in result:
        if not isinstance(tag, str):
            raise TypeError(f"tags must be str, got {tag!r}")
    return result


def estimate_bytes(value: Any) -> int:
    """Estimate the memory a value holds, in bytes.

    Parameters
    ----------
    value : Any
        numpy arrays count ``nbytes`` plus a header; pandas DataFrame/Series/Index count
        ``memory_usage(deep=True)`` (index included); str/bytes/numbers count
        ``sys.getsizeof``; list/tuple/set/dict/deque count their own size plus their items
        (three levels deep, extrapolated from a sample of 64 items); other objects count
        ``sys.getsizeof`` plus their ``__dict__``.

    Returns
    -------
    int
        The estimate, >= 0.
    """
    return _size_of(value, 3)


def _size_of(value: Any, depth: int) -> int:
    array_or_frame = _numeric_size(value)
    if array_or_frame is not None:
        return array_or_frame
    if isinstance(value, str | bytes | bytearray | int | float | complex) or value is None:
        return sys.getsizeof(value)
    if isinstance(value, memoryview):
        return sys.getsizeof(value) + value.nbytes
    if isinstance(value, dict):
        return sys.getsizeof(value) + _items_size(value.items(), len(value), depth)
    if isinstance(value, list | tuple):
        # A strided sample: items built in order often grow along the sequence.
        stride = max(1, len(value) // _SAMPLE)
        return sys.getsizeof(value) + _items_size(value[::stride], len(value), depth)
    if isinstance(value, set | frozenset | deque):
        return sys.getsizeof(value) + _items_size(value, len(value), depth)
    own = sys.getsizeof(value)
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict) and depth > 0:
        own += _size_of(attrs, depth - 1)
    return own


def _numeric_size(value: Any) -> int | None:
    # Only recognise numpy/pandas objects when the program already imported them.
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.ndarray):
        size = int(value.nbytes) + _ARRAY_HEADER_BYTES
        if value.dtype == object:
            size += _items_size(value.flat, value.size, 2)
        return size
    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True, deep=True).sum())
    if isinstance(value, pd.Series):
        return int(value.memory_usage(index=True, deep=True))
    if isinstance(value, pd.Index):
        return int(value.memory_usage(deep=True))
    return None


def _items_size(items: Iterable[Any], count: int, depth: int) -> int:
    if depth <= 0 or count == 0:
        return 0
    sample = list(itertools.islice(items, _SAMPLE))
    total = sum(_size_of(item, depth - 1) for item in sample)
    return total if len(sample) >= count else total * count // len(sample)


class SmartCache:
    """A thread-safe cache with TTL, LRU eviction, an entry bound and a memory bound.

    Parameters
    ----------
    maxsize : int, default 1024
        Maximum number of entries (>= 1); the least recently used goes first.
    ttl : float or None, default None
        Default lifetime of an entry in seconds on ``clock`` (``None``: until evicted).
    max_bytes : int or None, default None
        Budget for the estimated size of the stored values (see :func:`estimate_bytes`).
    name : str, optional
        Shown in :class:`CacheStats`; defaults to ``cache-<n>``.
    clock : callable, default time.monotonic
        Returns the current time in seconds; inject a fake one in tests.
    sizeof : callable, optional
        Replaces :func:`estimate_bytes`.
    l2 : CacheBackend, optional
        Second level (e.g. ``cache_redis.RedisBackend``).
    l2_retry_after : float, default 5.0
        Seconds (on ``clock``) the second level is left alone after an error.

    Examples
    --------
    >>> cache = SmartCache(maxsize=2, ttl=60)
    >>> cache.set("a", 1)
    >>> cache.get("a")
    1
    """

    def __init__(
        self,
        maxsize: int = 1024,
        ttl: float | None = None,
        *,
        max_bytes: int | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sizeof: Callable[[Any], int] | None = None,
        l2: CacheBackend | None = None,
        l2_retry_after: float = 5.0,
    ) -> None:
        self._maxsize = cast(int, _check_count("maxsize", maxsize, optional=False))
        self._ttl = _check_ttl("ttl", ttl)
        self._max_bytes = _check_count("max_bytes", max_bytes, optional=True)
        _check_callable("clock", clock)
        if sizeof is not None:
            _check_callable("sizeof", sizeof)
        if isinstance(l2_retry_after, bool) or not isinstance(l2_retry_after, int | float):
            raise TypeError(f"l2_retry_after must be a number of seconds, got {l2_retry_after!r}")
        if not l2_retry_after >= 0:
            raise ValueError(f"l2_retry_after must be >= 0 seconds, got {l2_retry_after!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        self.name = name if name is not None else f"cache-{next(_NAMES)}"
        self._clock = clock
        self._sizeof = sizeof if sizeof is not None else estimate_bytes
        self._l2 = l2
        self._l2_retry_after = float(l2_retry_after)
        self._l2_retry_at = -_INF
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._tags: dict[str, set[Hashable]] = {}
        self._flights: dict[Hashable, _Flight] = {}
        self._aflights: dict[Hashable, asyncio.Future[Any]] = {}
        self._bytes = 0
        self._hits = self._misses = 0
        self._ev_ttl = self._ev_size = self._ev_memory = 0
        self._l2_hits = self._l2_misses = self._l2_errors = 0
        self._l2_rejected = self._l2_skipped = 0
        _REGISTRY.add(self)

    # -- properties ---------------------------------------------------------------------

    @property
    def maxsize(self) -> int:
        """Maximum number of entries."""
        return self._maxsize

    @property
    def ttl(self) -> float | None:
        """Default entry lifetime in seconds (``None``: no expiry)."""
        return self._ttl

    @property
    def max_bytes(self) -> int | None:
        """Byte budget of the stored values (``None``: unbounded)."""
        return self._max_bytes

    @property
    def l2(self) -> CacheBackend | None:
        """The second level, if any."""
        return self._l2

    def __repr__(self) -> str:
        return (
            f"SmartCache(name={self.name!r}, entries={len(self._data)}, maxsize={self._maxsize}, "
            f"ttl={self._ttl!r}, max_bytes={self._max_bytes!r})"
        )

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return self.contains(key)

    # -- reads --------------------------------------------------------------------------

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return the value cached under ``key`` (asking the second level on a miss).

        Parameters
        ----------
        key : Hashable
            The key.
        default : Any, default None
            Returned when the key is absent or expired.
        """
        with self._lock:
            value = self._hit_locked(key)
            if value is not _MISSING:
                return value
            self._misses += 1
        value = self._l2_get(key)
        return default if value is _MISSING else value

    def contains(self, key: Hashable) -> bool:
        """Whether ``key`` holds a live entry in L1 (no stats, no LRU touch, no L2)."""
        with self._lock:
            entry = self._data.get(key)
            return entry is not None and entry.expires > self._clock()

    def _hit_locked(self, key: Hashable) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return _MISSING
        if entry.expires > self._clock():
            self._data.move_to_end(key)
            self._hits += 1
            return entry.value
        self._remove_locked(key, entry)
        self._ev_ttl += 1
        return _MISSING

    # -- writes -------------------------------------------------------------------------

    def set(
        self, key: Hashable, value: Any, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store ``value`` under ``key`` in L1 and, if configured, L2.

        Parameters
        ----------
        key : Hashable
            The key (a str key can be invalidated by prefix).
        value : Any
            The value; its size is estimated once, now.
        ttl : float or None, default None
            Lifetime in seconds; ``None`` uses the cache's ``ttl``; ``math.inf``: no expiry.
        tags : iterable of str, default ()
            Labels for :meth:`invalidate_tag`.
        """
        seconds = self._entry_ttl(ttl)
        tagset = _check_tags(tags)
        self._store(key, value, seconds, tagset)
        self._l2_set(key, value, seconds, tagset)

    def _entry_ttl(self, ttl: float | None) -> float | None:
        return self._ttl if ttl is None else _check_ttl("ttl", ttl)

    def _store(self, key: Hashable, value: Any, ttl: float | None, tags: frozenset[str]) -> None:
        size = int(self._sizeof(value))
        with self._lock:
            now = self._clock()
            old = self._data.get(key)
            if old is not None:
                self._remove_locked(key, old)
            if self._max_bytes is not None and size > self._max_bytes:
                self._ev_memory += 1
                return
            expires = _INF if ttl is None else now + ttl
            self._data[key] = _Entry(value, expires, size, tags)
            self._bytes += size
            for tag in tags:
                self._tags.setdefault(tag, set()).add(key)
            self._enforce_bounds_locked(now)

    def _enforce_bounds_locked(self, now: float) -> None:
        data = self._data
        while len(data) > self._maxsize:
            self._evict_oldest_locked(now, EvictionReason.SIZE)
        limit = self._max_bytes
        while limit is not None and self._bytes > limit and data:
            self._evict_oldest_locked(now, EvictionReason.MEMORY)

    def _evict_oldest_locked(self, now: float, reason: EvictionReason) -> None:
        key, entry = next(iter(self._data.items()))
        self._remove_locked(key, entry)
        if entry.expires <= now:
            self._ev_ttl += 1
        elif reason is EvictionReason.SIZE:
            self._ev_size += 1
        else:
            self._ev_memory += 1

    def _remove_locked(self, key: Hashable, entry: _Entry) -> None:
        del self._data[key]
        self._bytes -= entry.size
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    # -- invalidation -------------------------------------------------------------------

    def delete(self, key: Hashable) -> bool:
        """Remove ``key`` from L1 and L2; return whether L1 held it."""
        with self._lock:
            entry = self._data.get(key)
            if entry is not None:
                self._remove_locked(key, entry)
        self._l2_call("delete", key)
        return entry is not None

    def invalidate_tag(self, tag: str) -> int:
        """Remove every entry tagged ``tag`` (L1 and L2); return how many L1 held."""
        if not isinstance(tag, str):
            raise TypeError(f"tag must be a str, got {tag!r}")
        with self._lock:
            keys = list(self._tags.get(tag, ()))
            for key in keys:
                self._remove_locked(key, self._data[key])
        self._l2_call("invalidate_tag", tag)
        return len(keys)

    def invalidate_prefix(self, prefix: str) -> int:
        """Remove every str key starting with ``prefix`` (L1 and L2); return the L1 count."""
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {prefix!r}")
        with self._lock:
            keys = [k for k in self._data if isinstance(k, str) and k.startswith(prefix)]
            for key in keys:
                self._remove_locked(key, self._data[key])
        self._l2_call("invalidate_prefix", prefix)
        return len(keys)

    def clear(self) -> None:
        """Remove every entry, in L1 and in this cache's L2 namespace (stats are kept)."""
        with self._lock:
            self._data.clear()
            self._tags.clear()
            self._bytes = 0
        self._l2_call("clear")

    def purge_expired(self) -> int:
        """Drop every expired L1 entry now (counted as ``ttl`` evictions); return the count."""
        with self._lock:
            now = self._clock()
            dead = [(k, e) for k, e in self._data.items() if e.expires <= now]
            for key, entry in dead:
                self._remove_locked(key, entry)
            self._ev_ttl += len(dead)
        return len(dead)

    # -- stats --------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Return a consistent snapshot of the counters."""
        with self._lock:
            lookups = self._hits + self._misses
            return CacheStats(
                name=self.name,
                hits=self._hits,
                misses=self._misses,
                hit_rate=self._hits / lookups if lookups else 0.0,
                evictions=self._ev_ttl + self._ev_size + self._ev_memory,
                evictions_ttl=self._ev_ttl,
                evictions_size=self._ev_size,
                evictions_memory=self._ev_memory,
                entries=len(self._data),
                current_bytes=self._bytes,
                max_entries=self._maxsize,
                max_bytes=self._max_bytes,
                l2_hits=self._l2_hits,
                l2_misses=self._l2_misses,
                l2_errors=self._l2_errors,
                l2_rejected=self._l2_rejected,
                l2_skipped=self._l2_skipped,
            )

    # -- compute on miss (single-flight) ------------------------------------------------

    def get_or_compute(
        self,
        key: Hashable,
        compute: Callable[[], T],
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> T:
        """Return the cached value, or compute, store and return it (once per key at a time).

        Concurrent callers missing the same key wait for the first one's result; if
        ``compute`` raises, they all get the exception and nothing is cached.

        Parameters
        ----------
        key : Hashable
            The key.
        compute : callable
            Called with no arguments on a miss (of L1 and L2).
        ttl, tags
            As for :meth:`set`.

        Raises
        ------
        RuntimeError
            If ``compute`` asks for the same key again in the same thread.
        """
        _check_callable("compute", compute)
        return cast(T, self._load(key, compute, self._entry_ttl(ttl), _check_tags(tags)))

    async def aget_or_compute(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[T]],
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> T:
        """Async :meth:`get_or_compute`: ``compute`` returns an awaitable; concurrent tasks
        of one event loop missing the same key await one shared future."""
        _check_callable("compute", compute)
        seconds, tagset = self._entry_ttl(ttl), _check_tags(tags)
        return cast(T, await self._aload(key, compute, seconds, tagset))

    def _load(
        self, key: Hashable, compute: Callable[[], Any], ttl: float | None, tags: frozenset[str]
    ) -> Any:
        with self._lock:
            value = self._hit_locked(key)
            if value is not _MISSING:
                return value
            self._misses += 1
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight()
                leader = True
            elif flight.owner == threading.get_ident():
                raise RuntimeError(f"cache {self.name!r}: recursive computation of key {key!r}")
            else:
                leader = False
        if not leader:
            flight.event.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            value = self._fetch_or_compute(key, compute, ttl, tags)
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.value = value
        finally:
            with self._lock:
                del self._flights[key]
            flight.event.set()
        return value

    def _fetch_or_compute(
        self, key: Hashable, compute: Callable[[], Any], ttl: float | None, tags: frozenset[str]
    ) -> Any:
        value = self._l2_get(key)
        if value is _MISSING:
            value = compute()
            self._store(key, value, ttl, tags)
            self._l2_set(key, value, ttl, tags)
        return value

    async def _aload(
        self,
        key: Hashable,
        compute: Callable[[], Awaitable[Any]],
        ttl: float | None,
        tags: frozenset[str],
    ) -> Any:
        loop = asyncio.get_running_loop()
        with self._lock:
            value = self._hit_locked(key)
            if value is not _MISSING:
                return value
            self._misses += 1
            shared = self._aflights.get(key)
            if shared is None or shared.get_loop() is not loop:
                future: asyncio.Future[Any] = loop.create_future()
                self._aflights.setdefault(key, future)
                shared = None
        if shared is not None:
            # shield: a cancelled follower must not cancel the leader's computation.
            return await asyncio.shield(shared)
        try:
            value = self._l2_get(key)
            if value is _MISSING:
                value = await compute()
                self._store(key, value, ttl, tags)
                self._l2_set(key, value, ttl, tags)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved: no "never retrieved" log without followers
            raise
        else:
            future.set_result(value)
        finally:
            with self._lock:
                if self._aflights.get(key) is future:
                    del self._aflights[key]
        return value

    # -- second level -------------------------------------------------------------------

    def _l2_ready(self) -> bool:
        return self._l2 is not None and self._clock() >= self._l2_retry_at

    def _l2_failed(self, operation: str, exc: BaseException) -> None:
        with self._lock:
            self._l2_errors += 1
            self._l2_retry_at = self._clock() + self._l2_retry_after
        _log.warning(
            "cache %r: L2 %s failed (%s); L1 only for %.1f s",
            self.name,
            operation,
            exc,
            self._l2_retry_after,
        )

    def _l2_get(self, key: Hashable) -> Any:
        if not self._l2_ready():
            return _MISSING
        try:
            entry = cast(CacheBackend, self._l2).get(key)
        except (ConnectionError, TimeoutError) as exc:
            self._l2_failed("get", exc)
            return _MISSING
        except ValueError as exc:
            with self._lock:
                self._l2_rejected += 1
            _log.warning("cache %r: L2 value for %r refused: %s", self.name, key, exc)
            return _MISSING
        if entry is None:
            with self._lock:
                self._l2_misses += 1
            return _MISSING
        with self._lock:
            self._l2_hits += 1
        ttl = entry.ttl
        if self._ttl is not None:
            ttl = self._ttl if ttl is None else min(ttl, self._ttl)
        if ttl is None or ttl > 0:
            self._store(key, entry.value, ttl, entry.tags)
        return entry.value

    def _l2_set(self, key: Hashable, value: Any, ttl: float | None, tags: frozenset[str]) -> None:
        if not self._l2_ready():
            return
        try:
            stored = cast(CacheBackend, self._l2).set(key, value, ttl, tags)
        except (ConnectionError, TimeoutError) as exc:
            self._l2_failed("set", exc)
            return
        if not stored:
            with self._lock:
                self._l2_skipped += 1

    def _l2_call(self, operation: str, *args: Any) -> None:
        if not self._l2_ready():
            return
        try:
            getattr(self._l2, operation)(*args)
        except (ConnectionError, TimeoutError) as exc:
            self._l2_failed(operation, exc)


# The decorator lives in its own module; imported last, since it builds on the names above.
from greekfire.perf._memoize import cached  # noqa: E402
