# ruff: noqa: B023, E501, PT018  (a one-off verification script: lambdas run at once, long report lines)
"""Check tests/unit/kernels/_compat_ref.py against TA-Lib with set_compatibility(1).

Run with a TA-Lib whose TA_SetCompatibility works, e.g. TA-Lib C 0.6.4 from PyPI ta-lib==0.6.8,
in a scratch virtual environment (not the project's):
    python -m venv /tmp/ta06 && /tmp/ta06/bin/pip install "ta-lib==0.6.8" numpy
    /tmp/ta06/bin/python tools/check_compat_ref.py
(The project's ta-lib==0.8.2 / C 0.8.1 compiles TA_SetCompatibility as a no-op; this script
detects that and exits 2.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import talib

REF = Path(__file__).resolve().parents[1] / "tests" / "unit" / "kernels" / "_compat_ref.py"
spec = importlib.util.spec_from_file_location("_compat_ref", REF)
assert spec is not None and spec.loader is not None
ref = importlib.util.module_from_spec(spec)
sys.modules["_compat_ref"] = ref
spec.loader.exec_module(ref)

TOL = 1e-12
MA = {"sma": 0, "ema": 1, "dema": 3, "tema": 4}

print(f"talib {talib.__version__}, TA-Lib C {talib.__ta_version__.decode()}")
talib.set_compatibility(1)
honoured = talib.get_compatibility() == 1
talib.set_compatibility(0)
if not honoured:
    print("set_compatibility(1) is not honoured by this TA-Lib build (get_compatibility() == 0)")
    sys.exit(2)


def walk(seed: int, n: int = 300) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    c = 100 + np.cumsum(rng.normal(0, 1, n))
    h = c + rng.uniform(0, 1, n)
    lo = c - rng.uniform(0, 1, n)
    v = rng.uniform(1e3, 2e3, n)
    return h, lo, c, v


def as_list(x: object) -> list[np.ndarray]:
    return list(x) if isinstance(x, tuple | list) else [x]  # type: ignore[list-item]


failures = 0
rows: list[str] = []


def check(name: str, mine: object, theirs_fn) -> None:  # type: ignore[no-untyped-def]
    global failures
    talib.set_compatibility(1)
    try:
        theirs = as_list(theirs_fn())
    finally:
        talib.set_compatibility(0)
    default = as_list(theirs_fn())
    for i, (a, b, d) in enumerate(zip(as_list(mine), theirs, default, strict=True)):
        nan_ok = np.array_equal(np.isnan(a), np.isnan(b))
        err = float(np.nanmax(np.abs(a - b))) if nan_ok else float("inf")
        first = int(np.argmax(~np.isnan(b)))
        first_def = int(np.argmax(~np.isnan(d)))
        differs = not (np.array_equal(np.isnan(b), np.isnan(d)) and np.nanmax(np.abs(b - d)) == 0)
        ok = nan_ok and err <= TOL
        failures += not ok
        rows.append(
            f"| {name}[{i}] | {first} | {first_def} | {'yes' if differs else 'no'} "
            f"| {err:.2e} | {'PASS' if ok else 'FAIL'} |"
        )


for seed in (0, 1, 2):
    h, lo, c, v = walk(seed)
    tag = f"s{seed}"
    for p in (2, 5, 10, 30):
        check(f"{tag} EMA({p})", ref.ema_metastock(c, p), lambda p=p: talib.EMA(c, p))
        check(f"{tag} DEMA({p})", ref.dema_metastock(c, p), lambda p=p: talib.DEMA(c, p))
        check(f"{tag} TEMA({p})", ref.tema_metastock(c, p), lambda p=p: talib.TEMA(c, p))
        check(f"{tag} RSI({p})", ref.rsi_metastock(c, p), lambda p=p: talib.RSI(c, p))
    for f, s, g in ((12, 26, 9), (5, 35, 5), (26, 12, 9), (3, 10, 2)):
        check(
            f"{tag} MACD({f},{s},{g})",
            ref.macd_metastock(c, f, s, g),
            lambda f=f, s=s, g=g: talib.MACD(c, f, s, g),
        )
    for mt in ("sma", "ema", "dema", "tema"):
        check(
            f"{tag} BBANDS(20,2,2,{mt})",
            ref.bbands_metastock(c, 20, 2.0, 2.0, mt),
            lambda mt=mt: talib.BBANDS(c, 20, 2.0, 2.0, MA[mt]),
        )
        check(
            f"{tag} STOCH(5,3,{mt},3,{mt})",
            ref.stoch_metastock(h, lo, c, 5, 3, mt, 3, mt),
            lambda mt=mt: talib.STOCH(h, lo, c, 5, 3, MA[mt], 3, MA[mt]),
        )
        check(
            f"{tag} STOCHF(5,3,{mt})",
            ref.stochf_metastock(h, lo, c, 5, 3, mt),
            lambda mt=mt: talib.STOCHF(h, lo, c, 5, 3, MA[mt]),
        )
        check(
            f"{tag} STOCHRSI(14,5,3,{mt})",
            ref.stochrsi_metastock(c, 14, 5, 3, mt),
            lambda mt=mt: talib.STOCHRSI(c, 14, 5, 3, MA[mt]),
        )
    check(
        f"{tag} STOCH(14,1,ema,3,sma)",
        ref.stoch_metastock(h, lo, c, 14, 1, "ema", 3, "sma"),
        lambda: talib.STOCH(h, lo, c, 14, 1, 1, 3, 0),
    )

# Leading NaNs are skipped like the talib wrapper does.
h, lo, c, v = walk(7)
cn = c.copy()
cn[:5] = np.nan
check("lead-NaN EMA(10)", ref.ema_metastock(cn, 10), lambda: talib.EMA(cn, 10))
check("lead-NaN RSI(14)", ref.rsi_metastock(cn, 14), lambda: talib.RSI(cn, 14))
check("lead-NaN MACD", ref.macd_metastock(cn), lambda: talib.MACD(cn))

print(
    "| case[output] | first idx (metastock) | first idx (default) | differs from default "
    "| max abs err vs talib(compat=1) | result |"
)
print("|---|---|---|---|---|---|")
for r in rows:
    print(r)

# --- TradingView references: internal consistency with TA-Lib default (no TV oracle here) ---
print("\nTradingView references vs TA-Lib default (consistency only; TradingView not available):")
h, lo, c, v = walk(0)
assert talib.get_compatibility() == 0


def first(a: np.ndarray) -> int:
    return int(np.argmax(~np.isnan(a)))


e_tv = ref.ema_tradingview(c, 10)
print(
    f"  ema_tradingview(10) == talib.EMA(10) bitwise: {np.array_equal(e_tv, talib.EMA(c, 10), equal_nan=True)}"
)
r_tv = ref.rsi_tradingview(c, 14)
r_ta = talib.RSI(c, 14)
print(
    f"  rsi_tradingview(14): first {first(r_tv)} vs talib {first(r_ta)}, max|diff| {np.nanmax(np.abs(r_tv - r_ta)):.2e}"
)
a_tv = ref.atr_tradingview(h, lo, c, 14)
a_ta = talib.ATR(h, lo, c, 14)
d = np.abs(a_tv - a_ta)
print(
    f"  atr_tradingview(14): first {first(a_tv)} vs talib {first(a_ta)}; |diff| at 14: {d[14]:.3e}, at 100: {d[100]:.3e}, at 299: {d[299]:.3e}"
)
m_tv = ref.macd_tradingview(c)
m_ta = talib.MACD(c)
for name, x, y in zip(("macd", "signal", "hist"), m_tv, m_ta, strict=True):
    dd = np.abs(x - y)
    print(
        f"  macd_tradingview {name}: first {first(x)} vs talib {first(y)}; |diff| at 33: {dd[33]:.3e}, at 299: {dd[299]:.3e}"
    )
mf_tv = ref.mfi_tradingview(h, lo, c, v, 14)
mf_ta = talib.MFI(h, lo, c, v, 14)
dd = np.abs(mf_tv - mf_ta)
print(
    f"  mfi_tradingview(14): first {first(mf_tv)} vs talib {first(mf_ta)}; |diff| at 14: {dd[14]:.3e}, max from 15: {np.nanmax(dd[15:]):.2e}"
)
k_tv, d_tv = ref.stoch_tradingview(h, lo, c, 14, 3, 3)
k_ta, d_ta = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
print(
    f"  stoch_tradingview(14,3,3): k first {first(k_tv)}, d first {first(d_tv)} vs talib both {first(k_ta)}; max|diff| k {np.nanmax(np.abs(k_tv - k_ta)):.2e}, d {np.nanmax(np.abs(d_tv - d_ta)):.2e}"
)
tr0 = ref.tr_tradingview(h, lo, c)
print(
    f"  tr_tradingview(handle_na=False) == talib.TRANGE: {np.array_equal(tr0, talib.TRANGE(h, lo, c), equal_nan=True)}"
)
flat = np.full(40, 5.0)
print(
    f"  flat series: rsi_tradingview {ref.rsi_tradingview(flat, 14)[20]} vs talib.RSI {talib.RSI(flat, 14)[20]}; "
    f"mfi_tradingview {ref.mfi_tradingview(flat, flat, flat, np.full(40, 1e3), 14)[20]} vs talib.MFI {talib.MFI(flat, flat, flat, np.full(40, 1e3), 14)[20]}"
)

print(f"\ncompatibility after run: {talib.get_compatibility()}")
print(f"{len(rows) - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
