"""Option chains for the event backtester: a chain as it looked at the simulated clock.

A :class:`ChainSource` answers "the chain of ``underlying`` at ``now``, when the underlying
trades at ``spot``". :class:`~greekfire.backtest.event_data.HistoricalProvider` asks it with
the price it quotes at the clock's time (the newest bar price at or before now), so a chain
never depends on anything after the clock.

Two sources:

:class:`SyntheticChains`
    The synthetic market's chain model, :func:`greekfire.sim.chains.option_chain` (the one
    :class:`~greekfire.sim.provider.SyntheticProvider` serves): weekly and monthly expiries on
    the NYSE calendar (:class:`~greekfire.sim.chains.ExpirySchedule`), strikes around the
    forward, Black-Scholes-Merton prices from the SSVI :class:`~greekfire.sim.surface.VolSurface`
    (one surface, or one per underlying), quotes on the tick grid with the
    :class:`~greekfire.sim.chains.SpreadModel`, valued at the clock's time. The vol is the
    surface's, not the realised vol of the history: the sim has no realised-vol model.
:class:`StoredChains`
    Recorded chain snapshots (``CHAIN_COLUMNS`` frames whose ``timestamp`` says when each was
    quoted): the newest snapshot at or before now, if it is at most ``max_age`` old.

:func:`resolve_chains` turns the ``chains=`` argument of
:class:`~greekfire.backtest.event.EventBacktester` into a source; :func:`option_marks` values
held contracts with a source (the mid, else the intrinsic value).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.market import CHAIN_COLUMNS
from greekfire.sim.chains import ExpirySchedule, SpreadModel, option_chain
from greekfire.sim.surface import VolSurface

__all__ = [
    "ChainSource",
    "ChainsSpec",
    "StoredChains",
    "SyntheticChains",
    "option_marks",
    "resolve_chains",
]


@runtime_checkable
class ChainSource(Protocol):
    """Where the backtest's option chains come from."""

    @property
    def name(self) -> str:
        """A short label (``"synthetic"``, ``"stored"``), written to the result's meta."""
        ...

    def chain(self, underlying: str, spot: float, now: pd.Timestamp) -> pd.DataFrame:
        """The chain of ``underlying`` quoted at ``now`` (``CHAIN_COLUMNS``; empty: none)."""
        ...


@dataclass(frozen=True, slots=True)
class SyntheticChains:
    """The sim's chain model over the backtest's prices (see the module docstring).

    Parameters
    ----------
    seed : int
        Seed of the chains' last, volume and open interest (>= 0); with the valuation date
        and the underlying it fixes each chain.
    rate : float
        Continuously compounded annual risk-free rate (decimal).
    dividend_yields : float or mapping of str to float
        Continuous dividend yield; a float for every underlying, a mapping per underlying
        (missing ones 0.0).
    surface : VolSurface or mapping of str to VolSurface, optional
        Implied vols; one for all, or one per underlying (missing ones ``VolSurface()``);
        default ``VolSurface()`` (18 % ATM short-dated, equity put skew).
    expiries : ExpirySchedule, optional
        Weeklies and monthlies listed (default ``ExpirySchedule()``: 4 and 6).
    strikes_per_expiry : int
        Most strikes per expiry.
    spreads : SpreadModel, optional
        Bid/ask width model (default ``SpreadModel()``).
    """

    seed: int = 0
    rate: float = 0.04
    dividend_yields: float | Mapping[str, float] = 0.0
    surface: VolSurface | Mapping[str, VolSurface] | None = None
    expiries: ExpirySchedule | None = None
    strikes_per_expiry: int = 41
    spreads: SpreadModel | None = None
    name: str = "synthetic"

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed: expected a whole number >= 0, got {self.seed!r}")
        if not math.isfinite(self.rate):
            raise ValueError(f"rate: expected a finite number, got {self.rate!r}")

    def surface_of(self, underlying: str) -> VolSurface | None:
        """The surface used for ``underlying`` (None: the sim's default)."""
        if isinstance(self.surface, Mapping):
            return self.surface.get(underlying)
        return self.surface

    def dividend_yield(self, underlying: str) -> float:
        """The dividend yield used for ``underlying`` (decimal)."""
        if isinstance(self.dividend_yields, Mapping):
            return float(self.dividend_yields.get(underlying, 0.0))
        return float(self.dividend_yields)

    def chain(self, underlying: str, spot: float, now: pd.Timestamp) -> pd.DataFrame:
        """:func:`greekfire.sim.chains.option_chain` of ``underlying`` at ``spot``, valued at
        ``now`` (the chain's ``timestamp``)."""
        return option_chain(
            underlying,
            spot,
            now,
            rate=self.rate,
            dividend_yield=self.dividend_yield(underlying),
            surface=self.surface_of(underlying),
            expiries=self.expiries,
            strikes_per_expiry=self.strikes_per_expiry,
            seed=self.seed,
            spreads=self.spreads,
        )


class StoredChains:
    """Recorded chain snapshots served as of the clock (see the module docstring).

    Parameters
    ----------
    frames : mapping of str to DataFrame
        Per underlying, one or more snapshots in ``CHAIN_COLUMNS`` (``timestamp`` tz-aware:
        when the rows were quoted).
    max_age : timedelta-like
        The newest snapshot at or before now is served only if it is at most this old
        (default 4 days: a weekend and a holiday); otherwise the chain is empty.

    Raises
    ------
    ValueError
        A frame without a column of ``CHAIN_COLUMNS`` or with a naive ``timestamp``.
    """

    name = "stored"

    def __init__(self, frames: Mapping[str, pd.DataFrame], *, max_age: Any = "4D") -> None:
        self.max_age_ns = int(pd.Timedelta(max_age).value)
        if self.max_age_ns < 0:
            raise ValueError(f"max_age: expected a duration >= 0, got {max_age!r}")
        self._snapshots: dict[str, tuple[np.ndarray, list[pd.DataFrame]]] = {}
        for underlying, frame in frames.items():
            missing = [c for c in CHAIN_COLUMNS if c not in frame.columns]
            if missing:
                raise ValueError(f"chains[{underlying!r}]: missing columns {missing}")
            stamps = pd.DatetimeIndex(frame["timestamp"])
            if stamps.tz is None:
                raise ValueError(f"chains[{underlying!r}].timestamp: expected tz-aware stamps")
            ns = stamps.tz_convert("UTC").as_unit("ns").asi8
            keys = np.unique(ns)
            parts = [
                frame.loc[ns == key, list(CHAIN_COLUMNS)].reset_index(drop=True) for key in keys
            ]
            self._snapshots[str(underlying)] = (keys, parts)

    def chain(self, underlying: str, spot: float, now: pd.Timestamp) -> pd.DataFrame:
        """The newest stored snapshot of ``underlying`` quoted at or before ``now``."""
        keys, parts = self._snapshots.get(underlying, (np.empty(0, np.int64), []))
        now_ns = int(now.value)
        i = int(np.searchsorted(keys, now_ns, side="right")) - 1
        if i < 0 or now_ns - int(keys[i]) > self.max_age_ns:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in CHAIN_COLUMNS})
        return parts[i]


ChainsSpec = ChainSource | Mapping[str, pd.DataFrame] | str | None
"""What ``EventBacktester(chains=...)`` accepts (see :func:`resolve_chains`)."""


def resolve_chains(spec: ChainsSpec) -> ChainSource | None:
    """The chain source named by ``spec``.

    ``None`` or ``"none"``: no chains; ``"synthetic"``: ``SyntheticChains()``; a mapping of
    underlying to chain snapshots: :class:`StoredChains`; a :class:`ChainSource`: itself.

    Raises
    ------
    ValueError
        Anything else (the message lists the choices).
    """
    if spec is None or (isinstance(spec, str) and spec == "none"):
        return None
    if isinstance(spec, str):
        if spec == "synthetic":
            return SyntheticChains()
        raise ValueError(
            f"chains: expected None, 'none', 'synthetic', a mapping of chain snapshots or a"
            f" ChainSource, got {spec!r}"
        )
    if isinstance(spec, ChainSource):
        return spec
    if isinstance(spec, Mapping):
        return StoredChains(spec)
    raise ValueError(
        f"chains: expected None, 'synthetic', a mapping of chain snapshots or a ChainSource,"
        f" got {type(spec).__name__}"
    )


def option_marks(
    source: ChainSource, underlying: str, spot: float, now: pd.Timestamp, symbols: Iterable[str]
) -> dict[str, float]:
    """The value per unit (not per contract) of each option of ``symbols`` on ``underlying``
    at ``now``: its mid in ``source``'s chain, else its intrinsic value at ``spot``."""
    wanted = [s for s in symbols if isinstance(instrument_for(s), OptionContract)]
    if not wanted:
        return {}
    chain = source.chain(underlying, spot, now)
    mids: dict[str, float] = {}
    if len(chain):
        rows = chain[chain["contract"].isin(wanted)]
        mid = (rows["bid"].to_numpy(np.float64) + rows["ask"].to_numpy(np.float64)) / 2.0
        mids = dict(zip(rows["contract"].astype(str).tolist(), mid.tolist(), strict=True))
    out: dict[str, float] = {}
    for symbol in wanted:
        value = mids.get(symbol, math.nan)
        if not math.isfinite(value):
            contract = instrument_for(symbol)
            assert isinstance(contract, OptionContract)
            value = contract.intrinsic(spot)
        out[symbol] = float(value)
    return out
