"""SmartCache with a real Redis as L2: two processes, bit-exact numpy/pandas round trips,
pickle refusal, a Redis killed mid-run, invalidation reaching Redis."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greekfire.perf.cache import SmartCache, cached
from greekfire.perf.cache_redis import RedisBackend

redis = pytest.importorskip("redis")

pytestmark = [pytest.mark.integration, pytest.mark.service]


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_server(require_service: Callable[..., None], tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "install redis-server")
    assert binary is not None
    port = _free_port()
    args = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
    args += ["--bind", "127.0.0.1", "--dir", str(tmp_path)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    probe = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
    pause = threading.Event()
    try:
        for _ in range(500):  # bounded wait for the server to answer PING
            if process.poll() is not None:
                pytest.fail(f"redis-server exited with {process.returncode}")
            try:
                if probe.ping():
                    break
            except redis.ConnectionError:
                pause.wait(0.02)
        else:
            pytest.fail("redis-server did not answer PING")
        yield RedisServer(url, process)
    finally:
        probe.close()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture
def backend(redis_server: RedisServer) -> Iterator[RedisBackend]:
    b = RedisBackend(redis_server.url, prefix="gf-test:")
    yield b
    b.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from greekfire.perf.cache import SmartCache
    from greekfire.perf.cache_redis import RedisBackend

    cache = SmartCache(l2=RedisBackend(sys.argv[1], prefix="gf-test:"))
    def must_not_compute():
        raise SystemExit("computed in the child: the L2 hit failed")
    array = cache.get_or_compute("surface:SPY", must_not_compute)
    quote = cache.get_or_compute(("quote", "SPY", 450.0), must_not_compute)
    stats = cache.stats()
    print(json.dumps({
        "sum": float(array.sum()), "dtype": str(array.dtype), "bytes": array.tobytes().hex(),
        "quote": quote, "l2_hits": stats.l2_hits, "misses": stats.misses,
    }))
    """
)


def test_l2_hit_across_two_processes(redis_server: RedisServer, backend: RedisBackend) -> None:
    array = np.linspace(0.0, 1.0, 257).reshape(257, 1) ** 3
    writer = SmartCache(ttl=300, l2=backend)
    writer.set("surface:SPY", array)
    writer.set(("quote", "SPY", 450.0), {"bid": 1.25, "ask": 1.3, "legs": [1, 2]})
    out = subprocess.run(
        [sys.executable, "-c", CHILD, redis_server.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["bytes"] == array.tobytes().hex()
    assert result["dtype"] == "float64"
    assert result["quote"] == {"bid": 1.25, "ask": 1.3, "legs": [1, 2]}
    assert (result["l2_hits"], result["misses"]) == (2, 2)


def test_set_writes_the_ttl_as_redis_expiry(backend: RedisBackend) -> None:
    cache = SmartCache(ttl=30, l2=backend)
    cache.set("k", 1)
    cache.set("forever", 2, ttl=math.inf)
    pttl = backend.client.pttl(backend.redis_key("k"))
    assert 0 < pttl <= 30_000
    assert backend.client.pttl(backend.redis_key("forever")) == -1


@pytest.mark.parametrize(
    "array",
    [
        np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, 1.7976931348623157e308]),
        np.arange(24, dtype=np.int8).reshape(2, 3, 4),
        np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        np.array(["2024-01-02T03:04:05.123456789"], dtype="datetime64[ns]"),
        np.array([1 + 2j, np.nan - 1j]),
        np.zeros((0, 3)),
        np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
    ],
    ids=["float-specials", "int8-3d", "fortran-f32", "datetime64ns", "complex", "empty", "record"],
)
def test_numpy_round_trip_is_bit_exact(backend: RedisBackend, array: np.ndarray) -> None:
    SmartCache(l2=backend).set("arr", array)
    back = SmartCache(l2=backend).get("arr")
    assert isinstance(back, np.ndarray)
    assert (back.dtype, back.shape) == (array.dtype, array.shape)
    assert back.tobytes(order="A") == array.tobytes(order="A")


def test_numpy_scalars_and_bytes_round_trip(backend: RedisBackend) -> None:
    writer = SmartCache(l2=backend)
    writer.set("f", np.float64(-0.0))
    writer.set("i", np.int64(2**62))
    writer.set("b", b"\x00\xffraw")
    reader = SmartCache(l2=backend)
    f = reader.get("f")
    assert type(f) is np.float64
    assert math.copysign(1.0, f) == -1.0
    assert reader.get("i") == np.int64(2**62)
    assert type(reader.get("i")) is np.int64
    assert reader.get("b") == b"\x00\xffraw"


def test_dataframe_and_series_round_trip_is_bit_exact(backend: RedisBackend) -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="min", tz="UTC", name="ts")
    frame = pd.DataFrame(
        {
            "px": [1.1, -0.0, np.nan, np.inf, 1e-310],
            "qty": np.arange(5, dtype=np.int64),
            "side": pd.Categorical(["b", "s", "b", "b", "s"]),
            "sym": ["SPY", "QQQ", "IWM", "SPY", "DIA"],
        },
        index=index,
    )
    series = pd.Series([0.1, 0.2, np.nan], index=["a", "b", "c"], name="iv")
    writer = SmartCache(l2=backend)
    writer.set("frame", frame)
    writer.set("series", series)
    reader = SmartCache(l2=backend)
    got_frame, got_series = reader.get("frame"), reader.get("series")
    pd.testing.assert_frame_equal(got_frame, frame, check_exact=True)
    assert got_frame["px"].to_numpy().tobytes() == frame["px"].to_numpy().tobytes()
    pd.testing.assert_series_equal(got_series, series, check_exact=True)
    assert reader.stats().l2_hits == 2


def test_planted_pickle_is_refused_without_allow_pickle(backend: RedisBackend) -> None:
    rkey = backend.redis_key("planted")
    assert rkey is not None
    backend.client.set(rkey, pickle.dumps({"evil": True}))  # a bare pickle
    trusting = RedisBackend(backend.client, prefix=backend.prefix, allow_pickle=True)
    framed = trusting.encode({"evil", "set"})
    assert framed is not None
    backend.client.set(backend.redis_key("framed"), framed)  # a greekfire-framed pickle

    with pytest.raises(ValueError, match="not a greekfire cache payload"):
        backend.get("planted")
    with pytest.raises(ValueError, match="allow_pickle=True"):
        backend.get("framed")
    cache = SmartCache(l2=backend)
    assert cache.get("planted") is None
    assert cache.get_or_compute("framed", lambda: "recomputed") == "recomputed"
    assert cache.stats().l2_rejected == 2
    assert cache.stats().l2_errors == 0
    with pytest.raises(ValueError, match="not a greekfire cache payload"):
        trusting.get("planted")  # opting in never unpickles unframed data


def test_allow_pickle_opt_in_round_trips_other_objects(backend: RedisBackend) -> None:
    safe = SmartCache(l2=backend)
    safe.set("tuple", (1, "a"))
    assert safe.stats().l2_skipped == 1  # no safe format: not written
    assert backend.client.exists(backend.redis_key("tuple")) == 0
    trusting = RedisBackend(backend.client, prefix=backend.prefix, allow_pickle=True)
    SmartCache(l2=trusting).set("tuple", (1, "a"))
    assert SmartCache(l2=trusting).get("tuple") == (1, "a")


def test_redis_killed_mid_run_falls_back_to_l1(
    redis_server: RedisServer, backend: RedisBackend
) -> None:
    clock = FakeClock()
    cache = SmartCache(clock=clock, l2=backend, l2_retry_after=30)
    cache.set("before", 1)
    assert backend.client.exists(backend.redis_key("before")) == 1
    redis_server.kill()

    cache.set("after", 2)  # the L2 write fails: counted, then L2 is left alone
    assert cache.stats().l2_errors == 1
    assert cache.get("before") == 1
    assert cache.get("after") == 2
    assert cache.get("missing") is None
    assert cache.get_or_compute("computed", lambda: 3) == 3
    assert cache.invalidate_tag("t") == 0
    assert cache.stats().l2_errors == 1  # backing off on the injected clock

    clock.now += 30
    assert cache.get("missing-2") is None  # one retry, still down
    assert cache.stats().l2_errors == 2
    assert cache.get("computed") == 3


def test_invalidation_reaches_redis(backend: RedisBackend) -> None:
    client = backend.client
    other = RedisBackend(client, prefix="gf-other:")
    SmartCache(l2=other).set("quote:SPY", 99, tags=("quotes",))
    writer = SmartCache(ttl=600, l2=backend)
    writer.set("quote:SPY", 1, tags=("quotes", "SPY"))
    writer.set("quote:QQQ", 2, tags=("quotes",))
    writer.set("chain:SPY", 3, tags=("chains", "SPY"))
    writer.set("misc", 4)

    reader = SmartCache(l2=backend)
    assert reader.get("chain:SPY") == 3  # L2 hit; L1 filled with the tags from Redis
    assert reader.invalidate_tag("SPY") == 1
    assert client.exists(backend.redis_key("quote:SPY"), backend.redis_key("chain:SPY")) == 0
    assert client.exists("gf-test:t:SPY") == 0
    assert SmartCache(l2=backend).get("quote:SPY") is None
    assert SmartCache(l2=backend).get("quote:QQQ") == 2

    writer.invalidate_prefix("quote:")
    assert client.exists(backend.redis_key("quote:QQQ")) == 0
    assert client.exists(backend.redis_key("misc")) == 1
    writer.clear()
    assert list(client.scan_iter(match="gf-test:*")) == []
    assert SmartCache(l2=other).get("quote:SPY") == 99  # another prefix is untouched


def test_cached_function_result_survives_in_redis(backend: RedisBackend) -> None:
    calls: list[float] = []

    def make() -> Callable[[str, float], float]:
        # A fresh L1 each time, as after a restart; same function name, so same L2 keys.
        @cached(cache=SmartCache(ttl=60, l2=backend))
        def vol(symbol: str, strike: float) -> float:
            calls.append(strike)
            return strike / 100

        return vol

    assert make()("SPY", 450.0) == 4.5
    second = make()
    assert second("SPY", 450.0) == 4.5
    assert calls == [450.0]
    assert second.cache.stats().l2_hits == 1  # type: ignore[attr-defined]
    second.invalidate("SPY", 450.0)  # type: ignore[attr-defined]
    assert make()("SPY", 450.0) == 4.5
    assert calls == [450.0, 450.0]
