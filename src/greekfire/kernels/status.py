"""Per-element status codes returned by vector kernels (int8 arrays).

Kernels never raise per element: an element that cannot be computed gets NaN and one of these
codes. ``greekfire.domain.IVStatus`` is the user-facing enum with the same values.
"""

from __future__ import annotations

OK = 0
BELOW_INTRINSIC = 1
ABOVE_MAX_PRICE = 2
NO_CONVERGENCE = 3
INVALID_INPUT = 4

CALL = 1
PUT = -1
