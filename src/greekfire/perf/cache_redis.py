"""The Redis second level of SmartCache: ``SmartCache(..., l2=RedisBackend(url))``.

Optional: needs the ``redis`` extra (``pip install 'greekfire[redis]'``, which brings redis-py
and pyarrow); both are imported when a backend is built or a DataFrame is stored, never at
import time.

Layout in Redis (everything under ``prefix``)
---------------------------------------------
- ``{prefix}s:{key}`` for a str key (so a key prefix is a ``SCAN MATCH`` pattern),
  ``{prefix}k:{repr(key)}`` for a key built from str/int/float/bool/None/bytes and tuples of
  them (the sha256 of the repr when it is long); other keys stay in L1 only.
- ``{prefix}t:{tag}``: a set holding the Redis keys that carry the tag. It is deleted with its
  members on invalidation; members whose value already expired are harmless.
- Values expire with the entry's TTL (``PX``); a read also returns the remaining lifetime
  (``PTTL``) so that L1 never outlives L2.

Payload: ``b"GF\\x01"``, one type byte, a 4-byte big-endian length, a JSON header (tags and,
for a Series, its name), then the body:

=====  ==========================================================================
``B``  bytes, raw
``J``  JSON: str/int/float/bool/None, lists and str-keyed dicts of them (exact types)
``N``  numpy array or scalar: ``np.save(allow_pickle=False)``
``D``  pandas DataFrame: Arrow IPC stream (index and dtypes kept by pyarrow's pandas metadata)
``S``  pandas Series: the same, as a one-column frame
``P``  pickle: written and read only with ``allow_pickle=True``
=====  ==========================================================================

Reading never unpickles unless ``allow_pickle=True``: Redis is shared, and whoever can write
to it could otherwise run code in this process. A payload without the header, or a pickle
without the opt-in, raises ``ValueError`` (the cache counts it in ``l2_rejected`` and treats
it as a miss). A value that no safe format fits is not written (``l2_skipped``).

Failures: every redis-py error is mapped here, in one place, to the builtin
``ConnectionError`` (or ``TimeoutError``) that SmartCache understands; the client is built
with short socket timeouts and no retries, because the cache itself backs off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import pickle
import struct
import sys
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any

from greekfire.perf.cache import L2Entry

if TYPE_CHECKING:
    import redis

__all__ = ["RedisBackend"]

_MAGIC = b"GF\x01"
_HEADER = struct.Struct(">3sBI")
_BYTES, _JSON, _NUMPY, _FRAME, _SERIES, _PICKLE = (ord(c) for c in "BJNDSP")
_SERIES_COLUMN = "__greekfire_series__"
# Longer key reprs are replaced by their sha256 to keep Redis keys short.
_MAX_KEY_CHARS = 200
_DELETE_BATCH = 500
_KEY_SCALARS = (str, int, float, bool, bytes, type(None))
_JSON_SCALARS = (str, int, float, bool, type(None))
_PICKLE_ERRORS = (pickle.UnpicklingError, AttributeError, ImportError)


def _import_redis() -> Any:
    try:
        return importlib.import_module("redis")
    except ImportError as exc:
        raise ImportError(
            "RedisBackend needs redis-py, from the optional 'redis' extra: "
            "pip install 'greekfire[redis]'"
        ) from exc


def _import_pyarrow() -> Any:
    try:
        return importlib.import_module("pyarrow")
    except ImportError as exc:
        raise ImportError(
            "storing pandas objects in Redis needs pyarrow, from the optional 'redis' extra: "
            "pip install 'greekfire[redis]'"
        ) from exc


def _key_text(key: Hashable) -> str | None:
    if type(key) in _KEY_SCALARS:
        return repr(key)
    if type(key) is tuple:
        parts = [_key_text(item) for item in key]
        if all(part is not None for part in parts):
            return f"({','.join(str(part) for part in parts)},)"
    return None


def _is_json(value: Any, depth: int = 0) -> bool:
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if depth > 32:
        return False
    if kind is list:
        return all(_is_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisBackend:
    """A Redis second level for :class:`~greekfire.perf.cache.SmartCache`.

    Parameters
    ----------
    url_or_client : str or redis.Redis, default "redis://127.0.0.1:6379/0"
        A ``redis://`` URL (a client is built with the timeouts below and no retries), or a
        ready ``redis.Redis`` client (used as is).
    prefix : str, default "greekfire:cache:"
        Namespace of every key this backend writes, scans or deletes.
    allow_pickle : bool, default False
        Store values no safe format fits with pickle, and unpickle them on read. Only for a
        Redis that nobody untrusted can write to.
    socket_timeout : float, default 0.25
        Seconds for a command, when built from a URL.
    connect_timeout : float, default 0.25
        Seconds to connect, when built from a URL.

    Raises
    ------
    ImportError
        redis-py is missing (the ``redis`` extra).
    """

    def __init__(
        self,
        url_or_client: str | redis.Redis = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "greekfire:cache:",
        allow_pickle: bool = False,
        socket_timeout: float = 0.25,
        connect_timeout: float = 0.25,
    ) -> None:
        redis_mod = _import_redis()
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty str, got {prefix!r}")
        for name, value in (
            ("socket_timeout", socket_timeout),
            ("connect_timeout", connect_timeout),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(url_or_client, str):
            retry = importlib.import_module("redis.retry")
            backoff = importlib.import_module("redis.backoff")
            self._client = redis_mod.Redis.from_url(
                url_or_client,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                retry=retry.Retry(backoff.NoBackoff(), 0),
            )
        elif isinstance(url_or_client, redis_mod.Redis):
            self._client = url_or_client
        else:
            raise TypeError(
                f"url_or_client must be a redis:// URL or a redis.Redis, got {url_or_client!r}"
            )
        self._redis_error: type[Exception] = redis_mod.RedisError
        self._timeout_error: type[Exception] = redis_mod.TimeoutError
        self.prefix = prefix
        self.allow_pickle = bool(allow_pickle)

    def __repr__(self) -> str:
        return f"RedisBackend(prefix={self.prefix!r}, allow_pickle={self.allow_pickle})"

    @property
    def client(self) -> Any:
        """The redis-py client."""
        return self._client

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    # -- keys ----------------------------------------------------------------------------

    def redis_key(self, key: Hashable) -> str | None:
        """The Redis key for a cache key, or ``None`` if the key cannot be encoded."""
        if isinstance(key, str):
            return f"{self.prefix}s:{key}"
        text = _key_text(key)
        if text is None:
            return None
        if len(text) > _MAX_KEY_CHARS:
            text = "h:" + hashlib.sha256(text.encode()).hexdigest()
        return f"{self.prefix}k:{text}"

    def _tag_key(self, tag: str) -> str:
        return f"{self.prefix}t:{tag}"

    @contextlib.contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        # The one place redis-py's exceptions become the builtins SmartCache handles.
        try:
            yield
        except self._timeout_error as exc:
            raise TimeoutError(f"redis: {exc}") from exc
        except (self._redis_error, OSError) as exc:
            raise ConnectionError(f"redis: {exc}") from exc

    # -- CacheBackend ---------------------------------------------------------------------

    def get(self, key: Hashable) -> L2Entry | None:
        """Read ``key``; ``ValueError`` if the payload is refused (see the module docstring)."""
        rkey = self.redis_key(key)
        if rkey is None:
            return None
        with self._mapped_errors():
            pipe = self._client.pipeline(transaction=False)
            pipe.get(rkey)
            pipe.pttl(rkey)
            raw, pttl_ms = pipe.execute()
        if raw is None or pttl_ms == -2:
            return None
        value, tags = self.decode(raw)
        return L2Entry(value, None if pttl_ms < 0 else pttl_ms / 1000.0, tags)

    def set(self, key: Hashable, value: Any, ttl: float | None, tags: frozenset[str]) -> bool:
        """Write ``value`` with ``ttl`` seconds of expiry; ``False`` if it cannot be stored."""
        rkey = self.redis_key(key)
        payload = None if rkey is None else self.encode(value, tags)
        if rkey is None or payload is None:
            return False
        expiry_ms = None if ttl is None or ttl == float("inf") else max(1, round(ttl * 1000))
        with self._mapped_errors():
            pipe = self._client.pipeline(transaction=False)
            pipe.set(rkey, payload, px=expiry_ms)
            for tag in tags:
                pipe.sadd(self._tag_key(tag), rkey)
            pipe.execute()
        return True

    def delete(self, key: Hashable) -> None:
        """Delete ``key``."""
        rkey = self.redis_key(key)
        if rkey is not None:
            with self._mapped_errors():
                self._client.delete(rkey)

    def invalidate_tag(self, tag: str) -> None:
        """Delete every key in the tag's set, and the set."""
        tag_key = self._tag_key(tag)
        with self._mapped_errors():
            members = list(self._client.smembers(tag_key))
            self._delete_batches([*members, tag_key])

    def invalidate_prefix(self, prefix: str) -> None:
        """Delete every str key starting with ``prefix`` (``SCAN MATCH``)."""
        self._delete_matching(_glob_escape(f"{self.prefix}s:{prefix}") + "*")

    def clear(self) -> None:
        """Delete every key under this backend's ``prefix`` (never ``FLUSHDB``)."""
        self._delete_matching(_glob_escape(self.prefix) + "*")

    def _delete_matching(self, pattern: str) -> None:
        with self._mapped_errors():
            keys = list(self._client.scan_iter(match=pattern, count=_DELETE_BATCH))
            self._delete_batches(keys)

    def _delete_batches(self, keys: list[Any]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            self._client.delete(*keys[start : start + _DELETE_BATCH])

    # -- serialisation --------------------------------------------------------------------

    def encode(self, value: Any, tags: frozenset[str] = frozenset()) -> bytes | None:
        """Serialise ``value`` (with its tags) to a payload, or ``None`` if no allowed format
        fits (see the module docstring)."""
        encoded = self._body(value)
        if encoded is None:
            return None
        kind, meta, body = encoded
        header = json.dumps({"tags": sorted(tags), **meta}).encode()
        return _HEADER.pack(_MAGIC, kind, len(header)) + header + body

    def decode(self, raw: bytes) -> tuple[Any, frozenset[str]]:
        """Deserialise a payload written by :meth:`encode` into ``(value, tags)``.

        Raises
        ------
        ValueError
            Unknown header, corrupt payload, or a pickle while ``allow_pickle`` is False.
        """
        if len(raw) < _HEADER.size or raw[:3] != _MAGIC:
            raise ValueError("not a greekfire cache payload (unknown header); refusing to decode")
        _, kind, header_len = _HEADER.unpack_from(raw)
        start = _HEADER.size + header_len
        if kind == _PICKLE and not self.allow_pickle:
            raise ValueError(
                "refusing to unpickle a value read from Redis: pass allow_pickle=True to "
                "RedisBackend only if every writer of this Redis is trusted"
            )
        try:
            meta = json.loads(raw[_HEADER.size : start])
            value = self._load_body(kind, meta, raw[start:])
        except (ValueError, TypeError, KeyError, EOFError, OSError, *_PICKLE_ERRORS) as exc:
            raise ValueError(f"corrupt greekfire cache payload: {exc}") from exc
        return value, frozenset(meta.get("tags", ()))

    def _body(self, value: Any) -> tuple[int, dict[str, Any], bytes] | None:
        if type(value) is bytes:
            return _BYTES, {}, value
        numeric = self._numeric_body(value)
        if numeric is not None:
            return numeric
        if _is_json(value):
            return _JSON, {}, json.dumps(value).encode()
        if self.allow_pickle:
            return _PICKLE, {}, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return None

    def _numeric_body(self, value: Any) -> tuple[int, dict[str, Any], bytes] | None:
        # numpy/pandas are only looked for when the program already imported them.
        np = sys.modules.get("numpy")
        if np is not None and isinstance(value, np.ndarray | np.generic):
            buffer = io.BytesIO()
            try:
                np.save(buffer, np.asarray(value), allow_pickle=False)
            except ValueError:  # object arrays
                return None
            return _NUMPY, {"scalar": isinstance(value, np.generic)}, buffer.getvalue()
        pd = sys.modules.get("pandas")
        if pd is None or not isinstance(value, pd.DataFrame | pd.Series):
            return None
        # Arrow keeps the index but not a DatetimeIndex's freq: carried in the header.
        freq = getattr(value.index, "freqstr", None)
        meta: dict[str, Any] = {} if freq is None else {"freq": freq}
        if isinstance(value, pd.DataFrame):
            body = _arrow_bytes(value)
            return None if body is None else (_FRAME, meta, body)
        if not _is_json(value.name):
            return None
        body = _arrow_bytes(value.to_frame(_SERIES_COLUMN))
        return None if body is None else (_SERIES, {**meta, "name": value.name}, body)

    def _load_body(self, kind: int, meta: dict[str, Any], body: bytes) -> Any:
        if kind == _BYTES:
            return body
        if kind == _JSON:
            return json.loads(body)
        if kind == _NUMPY:
            np = importlib.import_module("numpy")
            array = np.load(io.BytesIO(body), allow_pickle=False)
            return array[()] if meta.get("scalar") else array
        if kind in (_FRAME, _SERIES):
            pa = _import_pyarrow()
            frame = pa.ipc.open_stream(body).read_all().to_pandas()
            if meta.get("freq") is not None:
                frame.index = type(frame.index)(frame.index, freq=meta["freq"])
            if kind == _FRAME:
                return frame
            return frame[_SERIES_COLUMN].rename(meta.get("name"))
        if kind == _PICKLE:
            return pickle.loads(body)
        raise ValueError(f"unknown payload type byte {kind!r}")


def _arrow_bytes(frame: Any) -> bytes | None:
    pa = _import_pyarrow()
    try:
        table = pa.Table.from_pandas(frame)
    except (pa.ArrowException, TypeError, ValueError):  # mixed-type object columns and the like
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())
