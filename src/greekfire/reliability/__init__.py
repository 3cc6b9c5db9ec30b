"""Reliability suites: faults, crash recovery, bad input, soak, security; their figures.

Each suite module exposes ``run(out_dir, *, short=False, seed=0) -> SuiteResult``
(:mod:`greekfire.reliability.result`); ``greekfire reliability`` (``make reliability``) runs
them all and writes the figures that docs/RELIABILITY.md quotes. The tests under
``tests/reliability/`` run the short versions inside ``make test``.
"""
