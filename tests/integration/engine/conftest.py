"""Puts this folder on sys.path: the tests import ``engine_settings``, ``engine_strategies`` and
``scripted_market`` from it, and the engine loads ``engine_strategies`` by module path."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
