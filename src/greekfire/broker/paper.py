"""The embedded paper broker: fills against a quote source, on an injected clock.

Time
    The broker never reads wall time: every public call first runs :meth:`PaperBroker.advance`
    at ``clock.now_ns()``, which (in this order) expires ``DAY`` orders whose session closed,
    settles options whose expiry close passed, and, while the regular session is open
    (:mod:`greekfire.sim.calendar`), fills every open order the current quotes make executable.
Fills
    A market order fills at once, in full, while the market is open (it waits for the open
    otherwise) at the :class:`~greekfire.broker.fees.SlippageModel` price, with the fees of
    :class:`~greekfire.broker.fees.FeeModel`. A limit order fills, at that same model price,
    when the price is at or better than its limit (buy ``<=``, sell ``>=``); otherwise it rests.
    A multi-leg order (options only) fills every leg or none: its net price per spread unit
    (``sum(sign * ratio * leg price)``, positive = debit) must be ``<=`` the net limit.
Buying power
    :mod:`greekfire.broker.paper_margin`: cash minus what positions reserve (cash-secured puts,
    verticals at max loss; covered calls nothing) minus what resting opening orders would
    reserve at their limit. An order that would leave free buying power negative (and lower than
    before), add a naked short call, or short stock is refused with ``OrderRejected``.
Settlement
    After ``expiry_close(expiry)`` an option position is settled against the underlying's last
    quote (``last``, else the mid): in the money by at least $0.01 -> a long is exercised
    (``OPTION_EXERCISED``), a short assigned (``OPTION_ASSIGNED``): the option leg closes at 0.00
    and 100 shares per contract move at the strike; otherwise it expires worthless
    (``OPTION_EXPIRED``, closed at 0.00). Settlement fills carry no fees and the client order id
    ``"<kind>:<option symbol>"``. An option whose underlying has no quote waits.
History
    Open orders are always kept (and indexed, so a call costs O(open orders), not O(history));
    of the finished ones only the last ``cfg.history_orders`` (oldest finished dropped first),
    of the events the last ``cfg.history_events``. A dropped order is unknown to
    :meth:`PaperBroker.get_order`, and its client order id may be used again (duplicates are
    refused among the kept orders only; the engine's ids are unique by construction). Event
    seqs keep counting: :meth:`PaperBroker.events` returns the kept ones, so a reader more than
    ``history_events`` events behind misses the older ones (the engine reads every cycle).
    A dropped event's fills are already in the ledger (and in its checkpoint).
Persistence
    With a ``state_path`` (or ``cfg.state_file``) every change is saved before the call
    returns, as one fsynced line of a change log beside a snapshot that is rewritten atomically
    once the log grows (:mod:`greekfire.broker.paper_state`), so the files stay bounded by the
    history caps and a save costs what changed; a new broker on the same file continues the
    same account, orders and event sequence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from greekfire.broker.config import PaperBrokerConfig
from greekfire.broker.fees import FeeModel, SlippageModel
from greekfire.broker.paper_margin import requirement
from greekfire.broker.paper_state import PaperState, StateFile
from greekfire.broker.port import QuoteSource
from greekfire.domain.clock import Clock
from greekfire.domain.instruments import OptionContract, instrument_for
from greekfire.domain.market import Quote
from greekfire.domain.orders import (
    BrokerEvent,
    EventKind,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from greekfire.domain.portfolio import Account, Position, cents
from greekfire.errors import OrderRejected
from greekfire.sim.calendar import session_arrays
from greekfire.sim.chains import expiry_close

__all__ = ["PaperBroker"]

_EPS = 1e-9
_DAY_NS = 86_400 * 1_000_000_000
_ITM_MIN = 0.01 - 1e-9


@dataclass(frozen=True, slots=True)
class _Session:
    # The first regular session whose close is after ``valid_from`` (UTC ns).
    valid_from: int
    open_ns: int
    close_ns: int


def _valid(quote: Quote | None) -> bool:
    return (
        quote is not None
        and math.isfinite(quote.bid)
        and math.isfinite(quote.ask)
        and quote.bid >= 0
        and quote.ask > 0
        and quote.ask >= quote.bid
    )


class PaperBroker:
    """A simulated broker account; see the module docstring for its rules.

    Parameters
    ----------
    cfg : PaperBrokerConfig
        Starting cash (of a new account), fill rule, slippage, fees, default state file.
    quotes : QuoteSource
        Latest quotes for stocks and options; orders fill against them.
    clock : Clock
        The only source of time.
    state_path : str or Path or None
        The JSON state snapshot (its change log is ``<state_path>.log``); ``cfg.state_file``
        when omitted; no persistence when both are ``None``. An existing file is loaded (its
        starting cash wins over ``cfg``).

    Raises
    ------
    StateError
        The state file or its log is unreadable, or its fills do not add up to its cash.
    """

    name = "paper"

    def __init__(
        self,
        cfg: PaperBrokerConfig,
        quotes: QuoteSource,
        clock: Clock,
        *,
        state_path: str | Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.fees = FeeModel(cfg.fees)
        self.slippage = SlippageModel(cfg)
        self._quotes = quotes
        self._clock = clock
        path = state_path if state_path is not None else cfg.state_file
        self.state_path = None if path is None else Path(path)
        self._st = PaperState.new(cfg.starting_cash_usd)
        self._expires: dict[str, int] = {}  # open DAY orders -> their session close (ns)
        self._session: _Session | None = None
        self._dirty = False
        self._file: StateFile | None = None
        if self.state_path is not None:
            self._file = StateFile(self.state_path, cfg.state_log_lines)
            self._load(self._file)

    def history_size(self) -> tuple[int, int]:
        """How much history the account holds in memory (and in its state file).

        Returns
        -------
        (int, int)
            Orders kept (open + the kept finished ones) and events kept; at most
            open + ``cfg.history_orders`` and ``cfg.history_events``.
        """
        return len(self._st.orders), len(self._st.events)

    # ----------------------------------------------------------------- Broker API

    def account(self) -> Account:
        """Cash, equity (positions marked at the mid, else their cost) and free buying power."""
        now = self.advance()
        ledger = self._st.ledger
        marks = self._marks(ledger.positions)
        long_value, short_value = ledger.market_value_usd(marks)
        cash = ledger.cash_usd
        return Account(
            cash_usd=cash,
            equity_usd=cents(cash + long_value + short_value),
            buying_power_usd=max(0.0, cents(self._free_usd())),
            long_market_value_usd=cents(long_value),
            short_market_value_usd=cents(short_value),
            last_equity_usd=self._st.last_equity_usd,
            ts_ns=now,
        )

    def positions(self) -> dict[str, Position]:
        """Open positions by symbol."""
        self.advance()
        return self._st.ledger.positions

    def orders(self, *, open_only: bool = True) -> list[Order]:
        """Orders in submission order; only open ones by default, else open + kept finished."""
        self.advance()
        orders = self._st.orders
        if open_only:
            return [orders[c] for c in self._st.open]
        return list(orders.values())

    def get_order(self, client_order_id: str) -> Order | None:
        """The order with this client id, ``None`` when never received (or refused) or
        dropped from the history (see ``cfg.history_orders``)."""
        self.advance()
        return self._st.orders.get(client_order_id)

    def submit(self, order: Order) -> Order:
        """Accept ``order`` (``NEW``) and fill it at once when it is executable.

        Raises
        ------
        OrderRejected
            Duplicate client order id (among the kept orders), unknown symbol (no quote),
            expired option, multi-leg order with a stock leg, short stock, naked short call, or
            not enough buying power.
        """
        now = self.advance()
        self._check_new(order, now)
        accepted = Order(
            order.client_order_id,
            order.intent,
            OrderStatus.NEW,
            created_ns=now,
            updated_ns=now,
            broker_order_id=f"paper-{self._st.next_order}",
        )
        self._st.next_order += 1
        self._put(accepted)
        if accepted.intent.tif is TimeInForce.DAY:
            self._expires[accepted.client_order_id] = self._session_at(now).close_ns
        self._emit(EventKind.ORDER_ACCEPTED, now, accepted, detail="accepted")
        if self._is_open(now):
            self._try_fill(accepted.client_order_id, now)
        self._save()
        return self._st.orders[accepted.client_order_id]

    def cancel(self, client_order_id: str) -> Order:
        """Cancel an open order.

        Raises
        ------
        OrderRejected
            Unknown id, or the order is no longer open.
        """
        now = self.advance()
        order = self._st.orders.get(client_order_id)
        if order is None:
            raise OrderRejected(f"client_order_id {client_order_id!r}: no such order to cancel")
        if not order.is_open:
            raise OrderRejected(
                f"client_order_id {client_order_id!r}: order is {order.status.value}, not open"
            )
        self._finish(order, OrderStatus.CANCELED, now, "canceled by request")
        self._save()
        return self._st.orders[client_order_id]

    def events(self, after_seq: int = 0) -> list[BrokerEvent]:
        """Kept events with ``seq > after_seq``, oldest first (see ``cfg.history_events``)."""
        self.advance()
        kept = self._st.events
        count = len(kept) - max(0, int(after_seq) - self._st.base_seq)
        if count >= len(kept):
            return list(kept)
        # walk from the newest end: a reader that keeps up costs O(new events)
        newest = list(islice(reversed(kept), max(0, count)))
        newest.reverse()
        return newest

    def close(self) -> None:
        """Save the state (nothing else to release)."""
        self._dirty = True
        self._save()

    # ----------------------------------------------------------------- time

    def advance(self) -> int:
        """Bring the account up to ``clock.now_ns()``: expire DAY orders after their close,
        settle expired options, fill executable open orders while the market is open.

        Returns
        -------
        int
            The time advanced to (UTC ns).
        """
        now = self._clock.now_ns()
        self._expire_day_orders(now)
        self._settle_options(now)
        if self._is_open(now):
            for client_order_id in list(self._st.open):
                self._try_fill(client_order_id, now)
        self._roll_last_equity(now)
        self._save()
        return now

    def _session_at(self, ns: int) -> _Session:
        cached = self._session
        if cached is not None and cached.valid_from <= ns < cached.close_ns:
            return cached
        _, opens, closes = session_arrays(ns, ns + 14 * _DAY_NS)
        later = closes > ns
        index = int(later.argmax())
        session = _Session(ns, int(opens[index]), int(closes[index]))
        self._session = session
        return session

    def _is_open(self, ns: int) -> bool:
        session = self._session_at(ns)
        return session.open_ns <= ns < session.close_ns

    def _previous_close(self, ns: int) -> int:
        _, _, closes = session_arrays(ns - 14 * _DAY_NS, ns)
        passed = closes[closes <= ns]
        return int(passed[-1]) if passed.size else 0

    def _roll_last_equity(self, now: int) -> None:
        close = self._previous_close(now)
        st = self._st
        if close != st.last_close_ns:
            marks = self._marks(st.ledger.positions)
            st.last_equity_usd = cents(st.ledger.equity_usd(marks))
            st.last_close_ns = close
            self._dirty = True

    def _expire_day_orders(self, now: int) -> None:
        # ``_expires`` holds open orders only: ``_put`` drops an order's entry when it finishes
        orders = self._st.orders
        for client_order_id, expires_ns in list(self._expires.items()):
            if expires_ns <= now:
                order = orders[client_order_id]
                self._finish(order, OrderStatus.EXPIRED, expires_ns, "day order expired at close")
        for order in [orders[c] for c in self._st.open]:
            close = self._option_close(order)
            if close is not None and close <= now:
                self._finish(order, OrderStatus.EXPIRED, close, "option leg expired")

    @staticmethod
    def _option_close(order: Order) -> int | None:
        # The earliest expiry close among the order's option legs.
        closes = [
            int(expiry_close(inst.expiry).value)
            for inst in (instrument_for(leg.symbol) for leg in order.intent.legs)
            if isinstance(inst, OptionContract)
        ]
        return min(closes) if closes else None

    # ----------------------------------------------------------------- settlement

    def _settle_options(self, now: int) -> None:
        due: list[tuple[int, str, OptionContract, float]] = []
        for symbol, position in self._st.ledger.positions.items():
            inst = instrument_for(symbol)
            if isinstance(inst, OptionContract):
                close = int(expiry_close(inst.expiry).value)
                if close <= now:
                    due.append((close, symbol, inst, position.qty))
        for close, symbol, contract, qty in sorted(due, key=lambda d: (d[0], d[1])):
            spot = self._spot(contract.underlying)
            if spot is not None:
                self._settle(contract, symbol, qty, spot, close)

    def _spot(self, underlying: str) -> float | None:
        quote = self._quotes.quote(underlying)
        if quote is None:
            return None
        if math.isfinite(quote.last) and quote.last > 0:
            return quote.last
        return quote.mid if _valid(quote) else None

    def _settle(
        self, contract: OptionContract, symbol: str, qty: float, spot: float, ts_ns: int
    ) -> None:
        long = qty > 0
        itm = contract.intrinsic(spot) >= _ITM_MIN
        if not itm:
            kind = EventKind.OPTION_EXPIRED
        else:
            kind = EventKind.OPTION_EXERCISED if long else EventKind.OPTION_ASSIGNED
        tag = f"{kind.value}:{symbol}"
        contracts = abs(qty)
        fills = [self._fill(tag, symbol, Side.SELL if long else Side.BUY, contracts, 0.0, ts_ns)]
        if itm:
            takes_stock = long == (contract.right > 0)  # long call / short put receive shares
            shares = contracts * contract.multiplier
            side = Side.BUY if takes_stock else Side.SELL
            fills.append(self._fill(tag, contract.underlying, side, shares, contract.strike, ts_ns))
        for fill in fills:
            self._st.ledger.apply_fill(fill)
        verb = {
            EventKind.OPTION_EXPIRED: "expired worthless",
            EventKind.OPTION_EXERCISED: "exercised",
            EventKind.OPTION_ASSIGNED: "assigned",
        }[kind]
        detail = (
            f"{contracts:g} {symbol} {verb} with {contract.underlying} at {spot:.2f}"
            f" (strike {contract.strike:g})"
        )
        self._emit(kind, ts_ns, None, symbol=symbol, fills=tuple(fills), detail=detail)

    def _fill(
        self, client_order_id: str, symbol: str, side: Side, qty: float, price: float, ts_ns: int
    ) -> Fill:
        fill_id = f"paper-fill-{self._st.next_fill}"
        fill = Fill(fill_id, client_order_id, symbol, side, qty, price, 0.0, ts_ns)
        self._st.next_fill += 1
        return fill

    # ----------------------------------------------------------------- orders

    def _check_new(self, order: Order, now: int) -> None:
        existing = self._st.orders.get(order.client_order_id)
        if existing is not None:
            raise OrderRejected(
                f"client_order_id {order.client_order_id!r}: duplicate, the broker already holds"
                f" this order (status {existing.status.value})"
            )
        if order.status not in (OrderStatus.PENDING_NEW, OrderStatus.NEW):
            raise ValueError(
                f"status: expected a pending_new order to submit, got {order.status.value!r}"
            )
        legs = order.intent.legs
        for leg in legs:
            if not _valid(self._quotes.quote(leg.symbol)):
                raise OrderRejected(f"symbol {leg.symbol!r}: unknown symbol, no quote to fill at")
            inst = instrument_for(leg.symbol)
            if isinstance(inst, OptionContract) and int(expiry_close(inst.expiry).value) <= now:
                raise OrderRejected(f"symbol {leg.symbol!r}: the option has expired")
            if len(legs) > 1 and not isinstance(inst, OptionContract):
                raise OrderRejected(
                    f"legs: multi-leg orders take options only, got stock leg {leg.symbol!r}"
                )
        self._check_buying_power(order, exclude=None)

    def _check_buying_power(self, order: Order, exclude: str | None) -> None:
        ledger = self._st.ledger
        holdings = {s: p.qty for s, p in ledger.positions.items()}
        before = requirement(holdings)
        cash_delta, after_holdings = self._apply_estimate(order, holdings)
        after = requirement(after_holdings)
        for symbol, qty in after.naked.items():
            if qty > before.naked.get(symbol, 0.0) + _EPS:
                is_option = isinstance(instrument_for(symbol), OptionContract)
                what = "naked short call" if is_option else "short stock"
                raise OrderRejected(
                    f"symbol {symbol!r}: {what} not allowed in the paper cash account"
                    f" (uncovered qty {qty:g})"
                )
        resting = self._resting_reserve(exclude=exclude or order.client_order_id)
        free_before = ledger.cash_usd - before.reserve_usd - resting
        free_after = ledger.cash_usd + cash_delta - after.reserve_usd - resting
        if free_after < -0.005 and free_after < free_before - 0.005:
            raise OrderRejected(
                f"buying power: order {order.client_order_id!r} needs"
                f" ${free_before - free_after:,.2f}, ${max(0.0, free_before):,.2f} available"
            )

    def _apply_estimate(
        self, order: Order, holdings: Mapping[str, float]
    ) -> tuple[float, dict[str, float]]:
        # Cash change and holdings if ``order``'s remainder filled at its limit (else the model).
        intent = order.intent
        qty = order.remaining_qty
        after = dict(holdings)
        cash = 0.0
        prices = self._leg_prices(order)
        for leg in intent.legs:
            units = qty * leg.ratio
            after[leg.symbol] = after.get(leg.symbol, 0.0) + leg.side.sign * units
            price = prices.get(leg.symbol, 0.0)
            if intent.order_type is OrderType.LIMIT and not intent.is_multi_leg:
                assert intent.limit_price is not None
                price = intent.limit_price
            mult = instrument_for(leg.symbol).multiplier
            cash -= leg.side.sign * units * price * mult
            cash -= self.fees.fee_usd(leg.symbol, leg.side, units, price)
        if intent.order_type is OrderType.LIMIT and intent.is_multi_leg:
            assert intent.limit_price is not None
            model_net = sum(
                leg.side.sign * leg.ratio * prices.get(leg.symbol, 0.0) for leg in intent.legs
            )
            mult = instrument_for(intent.symbol).multiplier
            cash -= (intent.limit_price - model_net) * qty * mult
        return cash, after

    def _resting_reserve(self, exclude: str | None) -> float:
        holdings = {s: p.qty for s, p in self._st.ledger.positions.items()}
        base = requirement(holdings).reserve_usd
        total = 0.0
        orders = self._st.orders
        for client_order_id in self._st.open:
            if client_order_id == exclude:
                continue
            order = orders[client_order_id]
            cash_delta, after = self._apply_estimate(order, holdings)
            total += max(0.0, requirement(after).reserve_usd - base - cash_delta)
        return total

    def _free_usd(self) -> float:
        ledger = self._st.ledger
        holdings = {s: p.qty for s, p in ledger.positions.items()}
        reserve = requirement(holdings).reserve_usd
        return ledger.cash_usd - reserve - self._resting_reserve(exclude=None)

    def _leg_prices(self, order: Order) -> dict[str, float]:
        # Model fill price per leg; a leg without a usable quote is left out.
        prices: dict[str, float] = {}
        for leg in order.intent.legs:
            quote = self._quotes.quote(leg.symbol)
            if quote is not None and _valid(quote):
                prices[leg.symbol] = self.slippage.fill_price(leg.symbol, leg.side, quote)
        return prices

    def _executable(self, order: Order, prices: Mapping[str, float]) -> float | None:
        # The net fill price per order unit when ``order`` can fill now, else None.
        intent = order.intent
        if len(prices) != len(intent.legs):
            return None
        if intent.is_multi_leg:
            net = sum(leg.side.sign * leg.ratio * prices[leg.symbol] for leg in intent.legs)
            net = round(net, 6)
            if intent.order_type is OrderType.LIMIT:
                assert intent.limit_price is not None
                if net > intent.limit_price + _EPS:
                    return None
            return net
        price = prices[intent.symbol]
        if intent.order_type is OrderType.LIMIT:
            assert intent.limit_price is not None
            if intent.side is Side.BUY and price > intent.limit_price + _EPS:
                return None
            if intent.side is Side.SELL and price < intent.limit_price - _EPS:
                return None
        return price

    def _try_fill(self, client_order_id: str, now: int) -> None:
        order = self._st.orders[client_order_id]
        prices = self._leg_prices(order)
        net = self._executable(order, prices)
        if net is None:
            return
        try:
            self._check_buying_power(order, exclude=client_order_id)
        except OrderRejected as exc:
            self._finish(order, OrderStatus.CANCELED, now, f"canceled at fill time: {exc}")
            return
        qty = order.remaining_qty
        fills: list[Fill] = []
        for leg in order.intent.legs:
            units = qty * leg.ratio
            price = prices[leg.symbol]
            fee = self.fees.fee_usd(leg.symbol, leg.side, units, price)
            fill = Fill(
                f"paper-fill-{self._st.next_fill}",
                client_order_id,
                leg.symbol,
                leg.side,
                units,
                price,
                fee,
                now,
            )
            self._st.next_fill += 1
            self._st.ledger.apply_fill(fill)
            fills.append(fill)
        filled = order.with_status(
            OrderStatus.FILLED, now, filled_qty=order.intent.qty, avg_fill_price=net
        )
        self._put(filled)
        self._emit(EventKind.ORDER_FILLED, now, filled, fills=tuple(fills), detail="filled")

    def _finish(self, order: Order, status: OrderStatus, ts_ns: int, reason: str) -> None:
        done = order.with_status(status, ts_ns, reason=reason)
        self._put(done)
        kind = {
            OrderStatus.CANCELED: EventKind.ORDER_CANCELED,
            OrderStatus.EXPIRED: EventKind.ORDER_EXPIRED,
        }[status]
        self._emit(kind, ts_ns, done, detail=reason)

    def _emit(
        self,
        kind: EventKind,
        ts_ns: int,
        order: Order | None,
        *,
        symbol: str = "",
        fills: tuple[Fill, ...] = (),
        detail: str = "",
    ) -> None:
        st = self._st
        event = BrokerEvent(
            kind,
            ts_ns,
            st.last_seq + 1,
            symbol or (order.symbol if order is not None else ""),
            None if order is None else order.client_order_id,
            order,
            fills,
            detail,
        )
        st.events.append(event)
        self._dirty = True
        self._prune_events()

    def _prune_events(self) -> None:
        st = self._st
        while len(st.events) > self.cfg.history_events:
            dropped = st.events.popleft()
            for fill in dropped.fills:  # already in the ledger: fold them into the checkpoint
                st.base.apply_fill(fill)
            st.base_seq = dropped.seq
            if self._file is not None:
                self._file.event_dropped(dropped)
            self._dirty = True

    def _put(self, order: Order) -> None:
        # The one place an order is stored: keeps the open index, the finished queue (capped
        # at cfg.history_orders), the DAY expiries and the state file's change set in step.
        st = self._st
        client_order_id = order.client_order_id
        st.orders[client_order_id] = order
        finished = not order.is_open
        if finished:
            st.open.pop(client_order_id, None)
            self._expires.pop(client_order_id, None)
            st.finished[client_order_id] = None
        else:
            st.open[client_order_id] = None
        if self._file is not None:
            self._file.order_put(client_order_id, finished=finished)
        self._dirty = True
        self._prune_orders()

    def _prune_orders(self) -> None:
        st = self._st
        while len(st.finished) > self.cfg.history_orders:
            oldest, _ = st.finished.popitem(last=False)
            del st.orders[oldest]
            if self._file is not None:
                self._file.order_dropped(oldest)
            self._dirty = True

    def _marks(self, positions: Iterable[str]) -> dict[str, float]:
        marks: dict[str, float] = {}
        for symbol in positions:
            quote = self._quotes.quote(symbol)
            if quote is not None and _valid(quote):
                marks[symbol] = quote.mid
        return marks

    # ----------------------------------------------------------------- persistence

    def _save(self) -> None:
        if self._dirty and self._file is not None:
            self._file.save(self._st)
        self._dirty = False

    def _load(self, file: StateFile) -> None:
        loaded = file.load()
        if loaded is None:
            return
        self._st = loaded
        for client_order_id in loaded.open:
            order = loaded.orders[client_order_id]
            if order.intent.tif is TimeInForce.DAY:
                # the close of the session it was accepted in, as at submission
                self._expires[client_order_id] = self._session_at(order.created_ns).close_ns
        # the caps may be smaller than when the file was written
        self._prune_orders()
        self._prune_events()
