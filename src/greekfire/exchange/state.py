"""The simulated exchange's shared state, reachable from every route as
``request.app.state.exchange``: config, clock, market, bar store, chains, counters, faults and
a bounded cache of encoded (and gzipped) response bodies."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Final

import anyio.to_thread
import pandas as pd

from greekfire.exchange.barstore import BarStore
from greekfire.exchange.clock import SimClock
from greekfire.exchange.config import ExchangeConfig
from greekfire.exchange.faults import FaultInjector
from greekfire.exchange.stats import ExchangeStats
from greekfire.exchange.wire import GZIP_MIN_BYTES, gzip_bytes
from greekfire.sim.market import SyntheticMarket
from greekfire.sim.provider import SyntheticProvider

__all__ = ["BodyCache", "CachedBody", "ExchangeState"]

_THREAD_GZIP_BYTES: Final = 256 * 1024  # zlib releases the GIL: compress big bodies off-loop
_DEFAULT_CACHE_BYTES: Final = 256 * 1024 * 1024


@dataclass(slots=True)
class CachedBody:
    """One encoded body and, once asked for, its gzip copy."""

    raw: bytes
    gz: bytes | None = None

    @property
    def size(self) -> int:
        """Bytes held."""
        return len(self.raw) + (len(self.gz) if self.gz is not None else 0)


class BodyCache:
    """An LRU of response bodies bounded by total bytes (raw plus gzip)."""

    def __init__(self, max_bytes: int = _DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, CachedBody] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def get_or_build(self, key: Hashable, build: Callable[[], bytes]) -> CachedBody:
        """The cached body for ``key``, built (and stored) on a miss."""
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return entry
        entry = CachedBody(build())
        with self._lock:
            self.misses += 1
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._items[key] = entry
            self._bytes += entry.size
            self._trim()
        return entry

    def add_gzip(self, key: Hashable, entry: CachedBody, gz: bytes) -> None:
        """Attach the gzip copy of the body cached under ``key`` (counted in the bound)."""
        with self._lock:
            if entry.gz is None:
                entry.gz = gz
                if self._items.get(key) is entry:
                    self._bytes += len(gz)
            self._trim()

    def _trim(self) -> None:
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= dropped.size

    def clear(self) -> None:
        """Drop every body."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


@dataclass
class ExchangeState:
    """Everything the routes share (see the module docstring)."""

    config: ExchangeConfig
    clock: SimClock
    market: SyntheticMarket
    store: BarStore
    provider: SyntheticProvider
    stats: ExchangeStats
    injector: FaultInjector
    bodies: BodyCache = field(default_factory=BodyCache)
    contract_ids: dict[str, str] = field(default_factory=dict)
    chains: dict[tuple[str, int], pd.DataFrame] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        config: ExchangeConfig,
        *,
        clock: SimClock | None = None,
        injector: FaultInjector | None = None,
    ) -> ExchangeState:
        """Build the market, store and provider of ``config`` (warming the daily bars when
        ``config.warm``)."""
        sim_clock = clock if clock is not None else SimClock(config.start, config.speed)
        market = SyntheticMarket(config.universe_symbols, seed=config.seed)
        store = BarStore(market)
        if config.warm:
            store.warm(sim_clock.now_ns())
        provider = SyntheticProvider(market, seed=config.seed, rate=config.rate, clock=sim_clock)
        return cls(
            config=config,
            clock=sim_clock,
            market=market,
            store=store,
            provider=provider,
            stats=ExchangeStats(),
            injector=injector if injector is not None else FaultInjector(config.faults),
        )

    def now(self) -> pd.Timestamp:
        """The simulated now (UTC)."""
        return self.clock()

    async def encoded(
        self, key: Hashable, entry: CachedBody, wants_gzip: bool
    ) -> tuple[bytes, bool]:
        """The bytes to send for the body cached under ``key``, and whether they are gzipped."""
        if not (wants_gzip and self.config.gzip and len(entry.raw) >= GZIP_MIN_BYTES):
            return entry.raw, False
        if entry.gz is None:
            if len(entry.raw) >= _THREAD_GZIP_BYTES:
                gz = await anyio.to_thread.run_sync(gzip_bytes, entry.raw)
            else:
                gz = gzip_bytes(entry.raw)
            self.bodies.add_gzip(key, entry, gz)
        assert entry.gz is not None
        return entry.gz, True
