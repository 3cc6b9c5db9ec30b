"""What a fill costs the paper broker: commissions, regulatory fees and slippage.

Fees (:class:`FeeModel`), per fill, rates from :class:`~greekfire.broker.config.FeeConfig`:

- commission: ``equity_commission_per_share_usd`` per share (Alpaca charges none for US stock),
  ``option_commission_per_contract_usd`` per contract (0.65, the usual retail rate);
- SEC section 31 fee, sells only: sale proceeds (``qty * price * multiplier``) times
  ``sec_fee_per_million_usd / 1e6``; the default $27.80 per million is the fiscal-2024 rate
  the SEC set in its fee-rate advisory (effective 22 May 2024);
- FINRA trading activity fee (TAF), sells only: ``taf_per_share_usd`` per share sold, at most
  ``taf_max_usd`` per trade ($0.000166 and $8.30, FINRA By-Laws Schedule A section 1, 2024);
  option sales pay ``taf_per_contract_usd`` per contract ($0.00279, same schedule);
- options regulatory fee (ORF), buys and sells: ``orf_per_contract_usd`` per contract
  (the exchanges' ORF, passed through by the clearing firm).

Each regulatory fee is rounded *up* to the cent per fill, as brokers pass them through; the
commission is rounded to the nearest cent. The fee of a fill is the sum, so it is always a
whole number of cents.

Fill prices (:class:`SlippageModel`): a market order fills at the mid (``fill_at="mid"``) or
at the touch (ask for a buy, bid for a sell), moved against the order by the slippage: equity
prices by ``slippage_bps`` of the base price, rounded to $0.0001; option prices by
``option_slippage_fraction`` of the spread, then rounded to the cent against the order (a
buy up, a sell down: a half-cent mid never flatters the account).
"""

from __future__ import annotations

import math

from greekfire.broker.config import FeeConfig, PaperBrokerConfig
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.market import Quote
from greekfire.domain.orders import Side
from greekfire.domain.portfolio import cents

__all__ = ["FeeModel", "SlippageModel", "ceil_cents", "floor_cents"]

_EPS = 1e-7


def ceil_cents(amount: float) -> float:
    """``amount`` (>= 0) rounded up to the cent, robust to binary float error."""
    if amount <= 0:
        return 0.0
    return math.ceil(amount * 100.0 - _EPS) / 100.0


def floor_cents(amount: float) -> float:
    """``amount`` (>= 0) rounded down to the cent, robust to binary float error."""
    if amount <= 0:
        return 0.0
    return math.floor(amount * 100.0 + _EPS) / 100.0


class FeeModel:
    """Commissions and regulatory fees of one fill; see the module docstring for the rules.

    Parameters
    ----------
    cfg : FeeConfig
        The rates.
    """

    def __init__(self, cfg: FeeConfig) -> None:
        self.cfg = cfg

    def fee_usd(self, symbol: str, side: Side, qty: float, price: float) -> float:
        """Total fee of a fill of ``qty`` units of ``symbol`` at ``price`` per share, in dollars
        (whole cents).

        Raises
        ------
        ValueError
            ``qty`` not > 0 or ``price`` not >= 0 (the message names the field and value).
        """
        if not (math.isfinite(qty) and qty > 0):
            raise ValueError(f"qty: expected a finite number > 0, got {qty!r}")
        if not (math.isfinite(price) and price >= 0):
            raise ValueError(f"price: expected a finite price >= 0, got {price!r}")
        side = Side(side)
        instrument = instrument_for(symbol)
        if isinstance(instrument, OptionContract):
            return self._option_fee(side, qty, price, instrument.multiplier)
        return self._equity_fee(side, qty, price)

    def _equity_fee(self, side: Side, qty: float, price: float) -> float:
        cfg = self.cfg
        fee = cents(qty * cfg.equity_commission_per_share_usd)
        if side is Side.SELL:
            fee += self.sec_fee_usd(qty * price)
            fee += ceil_cents(min(qty * cfg.taf_per_share_usd, cfg.taf_max_usd))
        return cents(fee)

    def _option_fee(self, side: Side, qty: float, price: float, multiplier: int) -> float:
        cfg = self.cfg
        fee = cents(qty * cfg.option_commission_per_contract_usd)
        fee += ceil_cents(qty * cfg.orf_per_contract_usd)
        if side is Side.SELL:
            fee += self.sec_fee_usd(qty * price * multiplier)
            fee += ceil_cents(qty * cfg.taf_per_contract_usd)
        return cents(fee)

    def sec_fee_usd(self, proceeds_usd: float) -> float:
        """SEC section 31 fee on ``proceeds_usd`` of sales, rounded up to the cent."""
        return ceil_cents(proceeds_usd * self.cfg.sec_fee_per_million_usd / 1e6)


class SlippageModel:
    """The price a marketable order fills at, per :class:`PaperBrokerConfig`.

    Parameters
    ----------
    cfg : PaperBrokerConfig
        ``fill_at``, ``slippage_bps`` and ``option_slippage_fraction`` are used.
    """

    def __init__(self, cfg: PaperBrokerConfig) -> None:
        self.cfg = cfg

    def fill_price(self, symbol: str, side: Side, quote: Quote) -> float:
        """Per-share fill price of a market order for ``symbol`` on ``side`` against ``quote``."""
        side = Side(side)
        if self.cfg.fill_at == "mid":
            base = quote.mid
        else:
            base = quote.ask if side is Side.BUY else quote.bid
        if isinstance(instrument_for(symbol), OptionContract):
            moved = base + side.sign * self.cfg.option_slippage_fraction * quote.spread
            moved = max(0.0, moved)
            return ceil_cents(moved) if side is Side.BUY else floor_cents(moved)
        moved = base * (1.0 + side.sign * self.cfg.slippage_bps / 10_000.0)
        return round(moved, 4)
