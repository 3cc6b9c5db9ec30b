"""The fuzzing of the bad-input suite: Hypothesis targets over the parsers and loaders.

Each ``_fuzz_*`` target runs a fixed-seed budget of examples through one parser and counts the
outcomes in a :class:`FuzzTally`: only the target's documented exceptions are allowed; an escape
raised by a function listed in :data:`KNOWN_LEAKS` is expected-to-fail. The inputs reuse the
corpus builders of :mod:`greekfire.reliability.corpus_cases`.
"""

from __future__ import annotations

import json
import math
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
import pandas as pd
import yaml
from hypothesis import strategies as st

from greekfire.analytics.options import black_scholes, greeks, implied_vol
from greekfire.data.alpaca_wire import parse_bars_page
from greekfire.data.validate import BarValidationError, validate_bars
from greekfire.errors import (
    ConfigError,
    DataQualityError,
    ParseError,
    ProviderError,
    TransientError,
)
from greekfire.reliability.corpus_cases import (
    _CSV_HEAD,
    _CSV_ROWS,
    _by_path,
    _file_reader,
    _json,
    call_provider,
)
from greekfire.settings import Settings, load_settings

__all__ = ["KNOWN_LEAKS", "FuzzTally"]

# Where each known leak is raised (file suffix, function): fuzz escapes from there are counted
# as expected-to-fail, not unexpected.
KNOWN_LEAKS: dict[str, tuple[str, str]] = {}
# The suite's own modules: an escape raised there is a finding, never a known leak.
_SUITE_FILES = tuple(
    f"/reliability/{name}.py" for name in ("corpus", "corpus_cases", "corpus_fuzz", "corpus_loop")
)

# --------------------------------------------------------------------------- fuzzing


@dataclass(slots=True)
class FuzzTally:
    """One fuzz target's counts: examples run, returned, documented errors, unexpected."""

    target: str
    examples: int = 0
    returned: int = 0
    clear_error: int = 0
    unexpected: int = 0
    known_bug: int = 0
    warnings: int = 0
    samples: list[str] = field(default_factory=list)
    known_samples: dict[str, str] = field(default_factory=dict)

    def record(
        self, call: Callable[[], object], allowed: tuple[type[BaseException], ...], shown: object
    ) -> None:
        """Run ``call`` once and count its outcome (an invariant breach raises AssertionError)."""
        self.examples += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                call()
            except allowed:
                self.clear_error += 1
            except Exception as exc:  # the fuzz boundary: every escape is a finding
                text = f"{type(exc).__name__}: {exc!s:.200} <- {shown!r:.300}"
                bug = _known_leak(exc)
                if bug is not None:
                    self.known_bug += 1
                    self.known_samples.setdefault(bug, text)
                else:
                    self.unexpected += 1
                    if len(self.samples) < 5:
                        self.samples.append(text)
            else:
                self.returned += 1
        self.warnings += len(caught)


def _known_leak(exc: BaseException) -> str | None:
    # The known bug whose function raised ``exc`` (the innermost greekfire frame), if any.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/greekfire/" in f.filename]
    if not frames or frames[-1].filename.replace("\\", "/").endswith(_SUITE_FILES):
        return None
    last = frames[-1]
    for name, (suffix, function) in KNOWN_LEAKS.items():
        if last.filename.replace("\\", "/").endswith(suffix) and last.name == function:
            return name
    return None


def _fuzz(
    strategy: st.SearchStrategy[Any], budget: int, seed: int, body: Callable[[Any], None]
) -> None:
    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=budget,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @hypothesis.given(strategy)
    def run_all(value: Any) -> None:
        body(value)

    run_all()


_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
_TIMES = st.sampled_from(
    [
        "2024-01-02T05:00:00Z",
        "2024-01-02T05:00:00.5-04:00",
        "1677-09-21T00:12:44Z",
        "2262-04-11T23:47:17Z",
        "2024-02-30T00:00:00Z",
        "2024-01-02 05:00:00",
        "9999-12-31T23:59:59Z",
        "",
    ]
) | st.text(max_size=30)
_NUMBERS = st.floats() | st.integers(min_value=-(10**25), max_value=10**25) | _JSON_SCALARS


@st.composite
def _bar_bodies(draw: st.DrawFn) -> bytes:
    # Mostly-valid Alpaca pages with hostile fields, dumped by the standard json module (it
    # writes NaN/Infinity and huge integers that orjson would refuse to dump), then spliced.
    keys = ("t", "o", "h", "l", "c", "v", "n", "vw")
    bars = []
    for _ in range(draw(st.integers(0, 4))):
        bar: dict[str, Any] = {
            k: draw(_TIMES if k == "t" else _NUMBERS)
            for k in keys
            if draw(st.booleans()) or k in "tohlcv"
        }
        bar.update(draw(st.dictionaries(st.text(max_size=3), _JSON, max_size=2)))
        bars.append(bar)
    doc: object = {"bars": {draw(st.text(max_size=5)): bars}, "next_page_token": draw(_JSON)}
    doc = draw(st.sampled_from([doc, {"bars": bars}, draw(_JSON)]))
    body = json.dumps(doc).encode()
    cut = draw(st.integers(0, len(body)))
    return draw(
        st.sampled_from([body, body[:cut], body[:cut] + draw(st.binary(max_size=8)) + body[cut:]])
    )


def _fuzz_wire(budget: int, seed: int) -> FuzzTally:
    tally = FuzzTally("parse_bars_page")

    def body(value: tuple[bytes, bool]) -> None:
        data, single = value
        tally.record(
            lambda: parse_bars_page(data, source="fuzz", symbol="SPY" if single else None),
            (ParseError,),
            data,
        )

    _fuzz(st.tuples(_bar_bodies() | st.binary(max_size=200), st.booleans()), budget, seed, body)
    return tally


_PRICES = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [0.0, -1.0, 1e-300, 1e300, 100.0, 101.0, 99.0]
)


@st.composite
def _frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    base = np.datetime64("2024-01-02", "ns").astype(np.int64)
    offsets = draw(st.lists(st.integers(-3, 12), min_size=n, max_size=n))
    ts = base + np.asarray(offsets, dtype=np.int64) * 86_400 * 10**9
    index = pd.DatetimeIndex(ts.view("datetime64[ns]"), name="timestamp").tz_localize("UTC")
    cols = {
        c: draw(st.lists(_PRICES, min_size=n, max_size=n))
        for c in ("open", "high", "low", "close", "volume")
    }
    frame = pd.DataFrame({c: np.asarray(v, dtype=np.float64) for c, v in cols.items()}, index=index)
    return frame


def _check_clean(frame: pd.DataFrame, strict: bool) -> None:
    clean, report = validate_bars(frame, source="fuzz", symbol="FZ", strict=strict)
    rejected = report.rejected_rows
    kept = len(clean) + len(report.duplicates) + len(rejected)
    if kept != len(frame) or report.rows_out != len(clean):
        raise AssertionError(f"rows lost: {len(frame)} in, {kept} accounted for")
    prices = clean[["open", "high", "low", "close"]].to_numpy()
    if not (np.isfinite(prices).all() and (prices > 0).all()):
        raise AssertionError("a non-finite or non-positive price passed")
    if not (clean.index.is_monotonic_increasing and clean.index.is_unique):
        raise AssertionError("clean frame not strictly increasing")
    if ((clean["low"] > clean["high"]) | (clean["close"] > clean["high"])).any():
        raise AssertionError("crossed OHLC passed")


def _fuzz_validate(budget: int, seed: int) -> FuzzTally:
    tally = FuzzTally("validate_bars")

    def body(value: tuple[pd.DataFrame, bool]) -> None:
        frame, strict = value
        tally.record(lambda: _check_clean(frame, strict), (BarValidationError,), frame.to_dict())

    _fuzz(st.tuples(_frames(), st.booleans()), budget, seed, body)
    return tally


_CELLS = st.sampled_from(
    [
        "2024-01-02",
        "20240103",
        "2024-01-04T09:30:00-05:00",
        "",
        "nan",
        "1e999",
        "-1",
        "0",
        "abc",
        "100.5",
        '"1,5"',
        "2024-13-45",
    ]
) | st.text(max_size=8)
_HEADERS = st.sampled_from(
    [
        _CSV_HEAD.strip(),
        _CSV_HEAD.strip(),
        "Date,Time,Open,High,Low,Close",
        "ts,o,h,l,c,v",
        "Date,Open,High,Low,Close,Adj Close,Volume",
        "<DATE>,<OPEN>",
        "symbol,date,open,high,low,close,volume",
        "Date,Open,Open,Close",
    ]
)


@st.composite
def _csv_files(draw: st.DrawFn) -> bytes:
    header = draw(_HEADERS | st.text(max_size=30))
    good = _CSV_ROWS.splitlines()
    lines = [
        draw(st.sampled_from(good))
        if draw(st.integers(0, 3))
        else ",".join(draw(st.lists(_CELLS, max_size=8)))
        for _ in range(draw(st.integers(0, 6)))
    ]
    text = "\n".join([header, *lines])
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
    return text.encode(encoding, errors="replace")


def _fuzz_files(root: Path, budget: int, seed: int) -> FuzzTally:
    tally = FuzzTally("FileProvider.csv")
    folder = root / "fuzz_csv"
    folder.mkdir(parents=True, exist_ok=True)
    reader = _file_reader(folder, "SYM")

    def body(data: bytes) -> None:
        (folder / "SYM.csv").write_bytes(data)
        tally.record(reader, (ParseError, ProviderError, DataQualityError), data)

    _fuzz(_csv_files(), budget, seed, body)
    return tally


def _config_keys() -> tuple[list[str], list[str]]:
    sections = list(Settings.model_fields)
    keys = sorted({k for s in sections for k in _fields_of(Settings.model_fields[s].annotation)})
    return sections, keys


def _fields_of(annotation: Any) -> list[str]:
    fields = getattr(annotation, "model_fields", None)
    return list(fields) if fields else ["name", "module", "symbols", "params", "enabled"]


def _fuzz_config(root: Path, budget: int, seed: int) -> list[FuzzTally]:
    sections, keys = _config_keys()
    names = st.sampled_from(keys) | st.text(max_size=6)
    values = _JSON | st.sampled_from(["1d", "2m", "-1", "1e9", "[SPY, QQQ]", "{a: 1}", "yes"])
    docs = st.dictionaries(
        st.sampled_from(sections) | st.text(max_size=6),
        st.dictionaries(names, values, max_size=3) | values,
        max_size=3,
    )
    path = root / "fuzz_config.yaml"
    yaml_tally, env_tally = FuzzTally("load_settings.yaml"), FuzzTally("load_settings.env")

    def yaml_body(value: tuple[object, bytes]) -> None:
        doc, junk = value
        text = yaml.safe_dump(doc).encode() + junk
        path.write_bytes(text)
        yaml_tally.record(lambda: load_settings(path, env={}), (ConfigError,), text)

    env_names = st.builds(
        lambda s, k, i: "__".join(p for p in ("GREEKFIRE_" + s, i, k) if p),
        st.sampled_from([s.upper() for s in sections]) | st.text(max_size=4),
        st.sampled_from([k.upper() for k in keys]) | st.text(max_size=4),
        st.sampled_from(["", "0", "7", "-1", "X"]),
    )
    env_values = st.text(max_size=12) | st.sampled_from(["[", "{}", "null", "1e400", "- a"])

    def env_body(env: dict[str, str]) -> None:
        env_tally.record(lambda: load_settings(None, env=env), (ConfigError,), env)

    junk = st.sampled_from(
        [b"", b"\n: :", b"\n\t- x", b"\xff\xfe", b"\n&a [*a]", b"\n!!python/object:os.system x"]
    )
    _fuzz(st.tuples(docs, junk), budget, seed, yaml_body)
    _fuzz(st.dictionaries(env_names, env_values, max_size=3), budget, seed, env_body)
    return [yaml_tally, env_tally]


def _fuzz_http(budget: int, seed: int) -> FuzzTally:
    tally = FuzzTally("AlpacaProvider.http")
    allowed = (ParseError, ProviderError, TransientError, DataQualityError)
    quote = st.fixed_dictionaries(
        {}, optional={"t": _TIMES, "bp": _NUMBERS, "ap": _NUMBERS, "bs": _NUMBERS, "as": _NUMBERS}
    )
    quotes = st.dictionaries(st.sampled_from(["SPY", "QQQ"]), quote | _JSON, max_size=2) | _JSON
    trades = (
        st.dictionaries(
            st.sampled_from(["SPY", "QQQ"]),
            st.fixed_dictionaries({}, optional={"p": _NUMBERS}) | _JSON,
        )
        | _JSON
    )
    snaps = (
        st.dictionaries(
            st.sampled_from(["SPY240119C00400000", "SPY", "X" * 30]) | st.text(), _JSON, max_size=2
        )
        | _JSON
    )

    def body(value: tuple[object, object, object, bool]) -> None:
        q, t, s, chain = value
        routes = {
            "/quotes/latest": lambda: _json(json.dumps({"quotes": q}).encode()),
            "/trades/latest": lambda: _json(json.dumps({"trades": t}).encode()),
            "/snapshots/SPY": lambda: _json(json.dumps({"snapshots": s}).encode()),
            "/options/contracts": lambda: _json({"option_contracts": []}),
        }
        handler = _by_path(routes)
        if chain:
            tally.record(lambda: call_provider(handler, "option_chain", "SPY"), allowed, value)
        else:
            tally.record(
                lambda: call_provider(handler, "latest_quotes", ["SPY", "QQQ"]), allowed, value
            )

    _fuzz(st.tuples(quotes, trades, snaps, st.booleans()), budget, seed, body)
    return tally


def _fuzz_options(budget: int, seed: int) -> FuzzTally:
    tally = FuzzTally("analytics.options")
    num = st.floats() | st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1.0])

    def price_all(args: tuple[float, ...]) -> None:
        spot, strike, t, vol, rate, price = args
        value = black_scholes(spot, strike, t, vol, rate, right="put")
        if not (math.isnan(value) or value >= 0):
            raise AssertionError(f"negative put price {value}")
        greeks(spot, strike, t, vol, rate)
        vol_out, status = implied_vol(price, spot, strike, t, rate)
        if math.isnan(vol_out) == (int(status) == 0):
            raise AssertionError(f"iv {vol_out} with status {status}")

    def body(args: tuple[float, ...]) -> None:
        tally.record(lambda: price_all(args), (), args)

    _fuzz(st.tuples(num, num, num, num, num, num), budget, seed, body)
    return tally
