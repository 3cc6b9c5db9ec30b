"""Regenerate the Chebyshev coefficients used by greekfire.kernels.special.

Both series use t = (y - K) / (y + K), which maps y in [0, inf) onto t in [-1, 1) and keeps
the functions analytic at t = 1 (their expansions at y = inf go in powers of 1/y):

- erfcx:  g(t) = (1 + 2y) erfcx(y)
- mills1: j(t) = (1 + 2y)^2 (1 - sqrt(pi) y erfcx(y)), i.e. 1 - z M(z) at z = y sqrt(2),
  the first moment I_1(z) of the normal tail, which cancels if computed from M(z).

Coefficients come from Chebyshev-Gauss interpolation at N nodes in 50-digit arithmetic and are
truncated where every later coefficient is below 1e-18 (relative to a function of order 1).

Run: .venv/bin/python tools/fit_erfcx.py
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath as mp

K = mp.mpf("3.5")
N = 110


def erfcx(y: mp.mpf) -> mp.mpf:
    return mp.exp(y * y) * mp.erfc(y)


def g_erfcx(y: mp.mpf) -> mp.mpf:
    return (1 + 2 * y) * erfcx(y)


def g_mills1(y: mp.mpf) -> mp.mpf:
    return (1 + 2 * y) ** 2 * (1 - mp.sqrt(mp.pi) * y * erfcx(y))


def fit(func: Callable[[mp.mpf], mp.mpf]) -> list[mp.mpf]:
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / N) for k in range(N)]
    vals = [func(K * (1 + t) / (1 - t)) for t in nodes]
    coeffs = []
    for j in range(N):
        s = mp.fsum(vals[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / N) for k in range(N))
        coeffs.append(2 * s / N)
    coeffs[0] /= 2
    last = max(j for j in range(N) if abs(coeffs[j]) >= mp.mpf("1e-18"))
    return coeffs[: last + 1]


def main() -> None:
    mp.mp.dps = 60
    for name, func in (("erfcx", g_erfcx), ("mills1", g_mills1)):
        coeffs = fit(func)
        print(f"# {name}: K = {K}, {len(coeffs)} terms")
        for c in coeffs:
            print(f"    {mp.nstr(c, 20, min_fixed=-100, max_fixed=100)},")


if __name__ == "__main__":
    main()
