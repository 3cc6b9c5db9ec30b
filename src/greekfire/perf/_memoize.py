"""``@cached``: memoise a function, method or coroutine in a :class:`SmartCache`.

The decorator half of :mod:`greekfire.perf.cache` (which re-exports :func:`cached`): key
building, the generated hot-path wrappers and the single-flight miss path live here, the cache
itself there. See that module's docstring for the design of the hot path.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar, cast, overload

from greekfire.perf.cache import (
    _ABSENT,
    SmartCache,
    _check_callable,
    _check_tags,
    _check_ttl,
)

__all__ = ["cached"]

F = TypeVar("F", bound=Callable[..., Any])


class _KwargsMark:
    # Separates positional args from sorted kwargs in a private cache's keys.
    __slots__ = ()

    def __repr__(self) -> str:
        return "<kwargs>"


_KW = _KwargsMark()
_KeyMaker = Callable[[tuple[Any, ...], dict[str, Any]], Hashable]


def _key_maker(func: Callable[..., Any], key: Callable[..., Hashable] | None, shared: bool) -> Any:
    if key is not None:
        return lambda args, kwargs: key(*args, **kwargs)
    if not shared:
        return lambda args, kwargs: (*args, _KW, *sorted(kwargs.items())) if kwargs else args
    # A shared cache: namespace the key by function; plain values keep it encodable for L2.
    space = _namespace(func)
    return lambda args, kwargs: (
        (space, args, tuple(sorted(kwargs.items()))) if kwargs else (space, args)
    )


def _namespace(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _tags_maker(
    tags: Iterable[str] | Callable[..., Iterable[str]] | None,
) -> Callable[[tuple[Any, ...], dict[str, Any]], frozenset[str]]:
    if tags is None:
        return lambda args, kwargs: frozenset()
    if callable(tags):
        tag_fn = tags
        return lambda args, kwargs: _check_tags(tag_fn(*args, **kwargs))
    fixed = _check_tags(tags)
    return lambda args, kwargs: fixed


def _unhashable(func: Callable[..., Any], exc: TypeError) -> TypeError:
    return TypeError(
        f"@cached {func.__qualname__}: the arguments do not form a hashable key ({exc}); "
        "pass key=... to build one (e.g. key=lambda self, x: (id(self), x))"
    )


def _sync_wrapper(
    func: Callable[..., Any],
    cache: SmartCache,
    make_key: _KeyMaker,
    ttl: float | None,
    tags_of: Callable[[tuple[Any, ...], dict[str, Any]], frozenset[str]],
) -> Callable[..., Any]:
    acquire, release = cache._lock.acquire, cache._lock.release
    clock, load = cache._clock, cache._load
    lookup, touch = cache._data.get, cache._data.move_to_end

    # The miss path lives in its own function: a lambda over args/kwargs in the wrapper would
    # turn them into cells on every call, hits included (~50 ns).
    def miss(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return load(key, lambda: func(*args, **kwargs), ttl, tags_of(args, kwargs))

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = make_key(args, kwargs)
        acquire()
        try:
            entry = lookup(key, _ABSENT)
            if entry.expires > clock():
                touch(key)
                cache._hits += 1
                return entry.value
        except TypeError as exc:
            raise _unhashable(func, exc) from None
        finally:
            release()
        return miss(key, args, kwargs)

    return wrapper


# The hot path, generated for a signature of plain parameters (defaults allowed): no
# ``**kwargs`` dict per call, no key function call, a flat key tuple (~60-100 ns less than
# the generic wrapper). dataclasses builds its methods the same way.
_COMPILED = """
def wrapper({params}):
    key = {key}
    _gf_acquire()
    try:
        entry = _gf_lookup(key, _gf_absent)
        if entry.expires > _gf_clock():
            _gf_touch(key)
            _gf_cache._hits += 1
            return entry.value
    except TypeError as exc:
        raise _gf_unhashable(exc) from None
    finally:
        _gf_release()
    return _gf_miss(key, ({args},))
"""
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _plain_signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    plain = all(p.kind in _POSITIONAL and not p.name.startswith("_gf_") for p in params)
    return signature if plain and params else None


def _compiled_wrapper(
    func: Callable[..., Any],
    cache: SmartCache,
    signature: inspect.Signature,
    space: str | None,
    ttl: float | None,
    tags_of: Callable[[tuple[Any, ...], dict[str, Any]], frozenset[str]],
) -> Callable[..., Any]:
    load = cache._load
    params, names = [], []
    for index, p in enumerate(signature.parameters.values()):
        params.append(p.name if p.default is p.empty else f"{p.name}=_gf_default_{index}")
        names.append(p.name)
        if p.kind is inspect.Parameter.POSITIONAL_ONLY and (
            index + 1 == len(signature.parameters)
            or list(signature.parameters.values())[index + 1].kind is not p.kind
        ):
            params.append("/")
    args = ", ".join(names)
    key = f"({args},)" if space is None else f"(_gf_space, {args})"

    def miss(key: Hashable, args: tuple[Any, ...]) -> Any:
        return load(key, lambda: func(*args), ttl, tags_of(args, {}))

    namespace: dict[str, Any] = {
        "_gf_acquire": cache._lock.acquire,
        "_gf_release": cache._lock.release,
        "_gf_lookup": cache._data.get,
        "_gf_touch": cache._data.move_to_end,
        "_gf_clock": cache._clock,
        "_gf_cache": cache,
        "_gf_absent": _ABSENT,
        "_gf_space": space,
        "_gf_miss": miss,
        "_gf_unhashable": lambda exc: _unhashable(func, exc),
    }
    for index, p in enumerate(signature.parameters.values()):
        namespace[f"_gf_default_{index}"] = p.default
    exec(_COMPILED.format(params=", ".join(params), key=key, args=args), namespace)
    return cast(Callable[..., Any], namespace["wrapper"])


def _bound_key(signature: inspect.Signature, space: str | None) -> _KeyMaker:
    # invalidate() for a compiled wrapper: the same flat key, defaults applied.
    def make(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = tuple(bound.arguments.values())
        return values if space is None else (space, *values)

    return make


def _async_wrapper(
    func: Callable[..., Awaitable[Any]],
    cache: SmartCache,
    make_key: _KeyMaker,
    fast: bool,
    ttl: float | None,
    tags_of: Callable[[tuple[Any, ...], dict[str, Any]], frozenset[str]],
) -> Callable[..., Awaitable[Any]]:
    acquire, release = cache._lock.acquire, cache._lock.release
    clock, aload = cache._clock, cache._aload
    lookup, touch = cache._data.get, cache._data.move_to_end

    async def miss(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return await aload(key, lambda: func(*args, **kwargs), ttl, tags_of(args, kwargs))

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = args if fast and not kwargs else make_key(args, kwargs)
        acquire()
        try:
            entry = lookup(key, _ABSENT)
            if entry.expires > clock():
                touch(key)
                cache._hits += 1
                return entry.value
        except TypeError as exc:
            raise _unhashable(func, exc) from None
        finally:
            release()
        return await miss(key, args, kwargs)

    return wrapper


@overload
def cached(ttl: F) -> F: ...


@overload
def cached(
    ttl: float | None = None,
    *,
    key: Callable[..., Hashable] | None = None,
    tags: Iterable[str] | Callable[..., Iterable[str]] | None = None,
    cache: SmartCache | None = None,
    maxsize: int | None = None,
    max_bytes: int | None = None,
    clock: Callable[[], float] | None = None,
) -> Callable[[F], F]: ...


def cached(
    ttl: Any = None,
    *,
    key: Callable[..., Hashable] | None = None,
    tags: Iterable[str] | Callable[..., Iterable[str]] | None = None,
    cache: SmartCache | None = None,
    maxsize: int | None = None,
    max_bytes: int | None = None,
    clock: Callable[[], float] | None = None,
) -> Any:
    """Cache a sync or async function's results, computing each key once at a time.

    Parameters
    ----------
    ttl : float or None, default None
        Lifetime of the entries in seconds (``None``: the cache's default, or no expiry).
    key : callable, optional
        ``key(*args, **kwargs) -> Hashable``. Default: the positional arguments (plus the
        sorted keyword arguments). On a method ``self`` is part of the default key, compared
        by its ``__hash__``/``__eq__`` (the cache keeps it alive until the entry goes); pass
        ``key=`` for unhashable instances or to build str keys for prefix invalidation.
    tags : iterable of str or callable, optional
        Tags for every entry, or ``tags(*args, **kwargs) -> iterable of str``.
    cache : SmartCache, optional
        A shared cache (keys are then namespaced by the function's qualified name unless
        ``key=`` is given). Default: a private ``SmartCache``.
    maxsize, max_bytes, clock
        For the private cache only (maxsize defaults to 1024).

    Returns
    -------
    callable
        The wrapper, with ``wrapper.cache`` (the SmartCache) and
        ``wrapper.invalidate(*args, **kwargs) -> bool`` (drop that call's entry).

    Examples
    --------
    >>> @cached(ttl=30)
    ... def square(x):
    ...     return x * x
    >>> square(4), square.cache.stats().misses
    (16, 1)
    """
    if callable(ttl) and not isinstance(ttl, int | float):
        return cached()(ttl)
    seconds = _check_ttl("ttl", ttl)
    if key is not None:
        _check_callable("key", key)
    if cache is not None:
        if not isinstance(cache, SmartCache):
            raise TypeError(f"cache must be a SmartCache, got {cache!r}")
        given = {"maxsize": maxsize, "max_bytes": max_bytes, "clock": clock}
        extra = sorted(name for name, value in given.items() if value is not None)
        if extra:
            raise TypeError(f"{', '.join(extra)} configure the private cache; not with cache=")
    tags_of = _tags_maker(tags)

    def decorate(func: F) -> F:
        _check_callable("the decorated object", func)
        own = cache
        if own is None:
            own = SmartCache(
                1024 if maxsize is None else maxsize,
                seconds,
                max_bytes=max_bytes,
                name=_namespace(func),
                clock=time.monotonic if clock is None else clock,
            )
        entry_ttl = own.ttl if seconds is None else seconds
        make_key = _key_maker(func, key, shared=cache is not None)
        space = None if cache is None else _namespace(func)
        signature = None if key is not None else _plain_signature(func)
        wrapper: Any
        if inspect.iscoroutinefunction(func):
            fast = key is None and cache is None
            wrapper = _async_wrapper(func, own, make_key, fast, entry_ttl, tags_of)
        elif signature is not None:
            wrapper = _compiled_wrapper(func, own, signature, space, entry_ttl, tags_of)
            make_key = _bound_key(signature, space)
        else:
            wrapper = _sync_wrapper(func, own, make_key, entry_ttl, tags_of)
        functools.update_wrapper(wrapper, func)
        wrapper.cache = own
        wrapper.invalidate = lambda *args, **kwargs: own.delete(make_key(args, kwargs))
        return cast(F, wrapper)

    return decorate
