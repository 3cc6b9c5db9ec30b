"""The package facade: __all__ complete and importable; importing stays light."""

from __future__ import annotations

import subprocess
import sys

import greekfire


def test_all_is_importable_and_complete() -> None:
    for name in greekfire.__all__:
        assert getattr(greekfire, name) is not None, name
    public = {n for n in dir(greekfire) if not n.startswith("_")}
    assert public <= set(greekfire.__all__) | {"annotations"}


def test_import_does_not_load_numba_or_pandas_or_compile() -> None:
    code = "import sys, greekfire; print(sorted(m for m in ('numba', 'pandas', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version_matches_metadata() -> None:
    from importlib.metadata import version

    assert greekfire.__version__ == version("greekfire")
