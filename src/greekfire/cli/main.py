"""The ``greekfire`` command: ``price``, ``iv``, ``chain``, ``bench``, ``serve-market`` and the
trading commands of :mod:`greekfire.cli.trading` (``run``, ``demo``, ``status``, ``positions``,
``orders``, ``init``).

Exit codes: 0 success; 1 unexpected error or a trading halt (``StateError``); 2 bad input
(an invalid option value, a usage error, ``greekfire.errors.ConfigError``); 130 interrupted.
Errors print one red line on stderr that names the option and the value; set
``GREEKFIRE_DEBUG=1`` to also get the traceback of an unexpected error.

numpy, pandas and the analytics are imported inside the commands, so ``greekfire --help`` and
``greekfire --version`` stay fast.
"""

from __future__ import annotations

import io
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.markup import escape
from typer.core import TyperGroup

from greekfire import __version__
from greekfire.cli import trading
from greekfire.cli.params import (
    Model,
    OutputFormat,
    parse_expiries,
    parse_right,
    parse_strikes,
)
from greekfire.domain.enums import OptionRight
from greekfire.errors import ConfigError, StateError

__all__ = ["app", "run"]

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _report_error(message: str) -> None:
    # soft_wrap keeps the message on one line whatever the terminal width.
    Console(stderr=True).print(
        f"[bold red]error:[/] [red]{escape(message)}[/]", soft_wrap=True, highlight=False
    )


def _typer_message(exc: typer.TyperException) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)  # usage errors carry the context of the failing command
    if exc.exit_code == EXIT_USAGE and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def _guarded(main: Callable[[], Any]) -> int:
    """Run the command line and map every outcome to an exit code; the one catch-all."""
    try:
        result = main()
    except typer.TyperException as exc:  # bad option values and usage errors: exit_code 2
        _report_error(_typer_message(exc))
        return exc.exit_code
    except ConfigError as exc:
        _report_error(f"invalid configuration: {exc}")
        return EXIT_USAGE
    except StateError as exc:  # e.g. startup reconciliation found a mismatch under "halt"
        _report_error(f"halted: {exc}")
        return EXIT_UNEXPECTED
    except (typer.Abort, KeyboardInterrupt):
        _report_error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        _report_error(f"unexpected {type(exc).__name__}: {exc} (GREEKFIRE_DEBUG=1 shows more)")
        if os.environ.get("GREEKFIRE_DEBUG"):
            Console(stderr=True).print_exception()
        return EXIT_UNEXPECTED
    # Non-standalone runs return the code of a typer.Exit; commands themselves return None.
    return result if isinstance(result, int) else EXIT_OK


class _GreekfireGroup(TyperGroup):
    """The root command; standalone runs go through ``_guarded`` (one-line errors, exit codes)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def invoke() -> Any:
            return super(_GreekfireGroup, self).main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )

        if not standalone_mode:
            return invoke()
        sys.exit(_guarded(invoke))


app = typer.Typer(
    name="greekfire",
    cls=_GreekfireGroup,
    help="Fast, exact options analytics: prices, Greeks, implied vols and synthetic chains.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _finite_number(value: str | float) -> float:
    # Used as a typer parser so that the error message can quote the value as typed.
    try:
        number = float(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise typer.BadParameter(f"{value!r} is not a finite number")
    return number


def _positive_number(value: str | float) -> float:
    number = _finite_number(value)
    if number <= 0:
        raise typer.BadParameter(f"must be > 0, got {value}")
    return number


SpotOption = Annotated[
    float, typer.Option(help="Spot price of the underlying, > 0.", parser=_positive_number)
]
StrikeOption = Annotated[float, typer.Option(help="Strike, > 0.", parser=_positive_number)]
VolOption = Annotated[
    float,
    typer.Option(
        help="Annualised volatility, decimal (0.25 = 25 %), > 0.", parser=_positive_number
    ),
]
RateOption = Annotated[
    float, typer.Option(help="Risk-free rate, continuous, decimal per year.", parser=_finite_number)
]
DividendOption = Annotated[
    float, typer.Option(help="Dividend yield, continuous, decimal per year.", parser=_finite_number)
]
ExpiryDaysOption = Annotated[
    float | None,
    typer.Option(
        help="Calendar days to expiry (t = days / 365); or use --t-years.", parser=_positive_number
    ),
]
TYearsOption = Annotated[
    float | None,
    typer.Option(help="Years to expiry; or use --expiry-days.", parser=_positive_number),
]
RightOption = Annotated[str, typer.Option(help="call or put (c, p also accepted).")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


def _t_years(expiry_days: float | None, t_years: float | None) -> float:
    if expiry_days is not None and t_years is not None:
        raise typer.BadParameter(
            f"give --expiry-days ({expiry_days:g}) or --t-years ({t_years:g}), not both",
            param_hint="'--t-years'",
        )
    if t_years is not None:
        return t_years
    if expiry_days is None:
        raise typer.BadParameter(
            "missing: give --expiry-days or --t-years", param_hint="'--expiry-days'"
        )
    from greekfire.analytics.options import DAYS_PER_YEAR

    return expiry_days / DAYS_PER_YEAR


def _right(value: str) -> OptionRight:
    try:
        return parse_right(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--right'") from None


def _underlying(model: Model, spot: float | None, forward: float | None, dividend: float) -> float:
    if model is Model.BLACK76:
        if spot is not None:
            raise typer.BadParameter(
                f"black76 prices off --forward, not --spot ({spot:g})", param_hint="'--spot'"
            )
        if dividend != 0.0:
            raise typer.BadParameter(
                f"black76 takes no dividend ({dividend:g}): the forward already carries it",
                param_hint="'--dividend'",
            )
        if forward is None:
            raise typer.BadParameter(
                "missing: --model black76 needs --forward", param_hint="'--forward'"
            )
        return forward
    if forward is not None:
        raise typer.BadParameter(
            f"--forward ({forward:g}) needs --model black76", param_hint="'--forward'"
        )
    if spot is None:
        raise typer.BadParameter(f"missing: --model {model} needs --spot", param_hint="'--spot'")
    return spot


def _steps(model: Model, steps: int | None) -> int:
    if steps is not None and model is not Model.AMERICAN_CRR:
        raise typer.BadParameter(
            f"--steps ({steps}) only applies to --model american-crr, not {model}",
            param_hint="'--steps'",
        )
    return 500 if steps is None else steps


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {str(output)!r}: {exc.strerror}", param_hint="'--output'"
        ) from None


def _print(renderable: RenderableType, output: Path | None = None) -> None:
    if output is None:
        Console().print(renderable)
        return
    buffer = io.StringIO()
    Console(file=buffer, width=120, no_color=True).print(renderable)
    _write(buffer.getvalue(), output)


def _emit_record(
    record: dict[str, object],
    output_format: OutputFormat,
    table: Callable[[dict[str, object]], RenderableType],
) -> None:
    from greekfire.cli.render import to_csv, to_json

    if output_format is OutputFormat.TABLE:
        _print(table(record))
    elif output_format is OutputFormat.JSON:
        _write(to_json(record), None)
    else:
        _write(to_csv([record]), None)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"greekfire {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        help_text = ctx.get_help()  # rich help prints itself and returns ""
        if help_text:
            typer.echo(help_text)
        raise typer.Exit(EXIT_USAGE)


@app.command("price")
def price_command(
    *,
    spot: Annotated[
        float | None,
        typer.Option(help="Spot price, > 0 (bsm and american models).", parser=_positive_number),
    ] = None,
    forward: Annotated[
        float | None,
        typer.Option(help="Forward price, > 0 (black76 only).", parser=_positive_number),
    ] = None,
    strike: StrikeOption,
    expiry_days: ExpiryDaysOption = None,
    t_years: TYearsOption = None,
    vol: VolOption,
    rate: RateOption = 0.0,
    dividend: DividendOption = 0.0,
    right: RightOption = "call",
    model: Annotated[Model, typer.Option(help="Pricing model.")] = Model.BSM,
    steps: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="Binomial steps for american-crr [500].")
    ] = None,
    output_format: FormatOption = OutputFormat.TABLE,
) -> None:
    """Price one option and show every Greek with its unit."""
    from greekfire.cli.pricing import GREEKS_METHOD, PricingInputs, price_option
    from greekfire.cli.render import price_table

    inputs = PricingInputs(
        model=model,
        underlying=_underlying(model, spot, forward, dividend),
        strike=strike,
        t_years=_t_years(expiry_days, t_years),
        vol=vol,
        rate=rate,
        dividend_yield=dividend,
        right=_right(right),
        steps=_steps(model, steps),
    )
    underlying_name = "forward" if model is Model.BLACK76 else "spot"
    record: dict[str, object] = {
        "model": str(model),
        "right": inputs.right.name.lower(),
        "underlying_name": underlying_name,
        underlying_name: inputs.underlying,
        "strike": inputs.strike,
        "t_years": inputs.t_years,
        "vol": inputs.vol,
        "rate": inputs.rate,
        "dividend_yield": inputs.dividend_yield,
        "greeks_method": GREEKS_METHOD[model],
        **price_option(inputs),
    }
    if model is Model.AMERICAN_CRR:
        record["steps"] = inputs.steps
    _emit_record(record, output_format, price_table)


@app.command("iv")
def iv_command(
    price: Annotated[float, typer.Option(help="Option price, > 0.", parser=_positive_number)],
    spot: SpotOption,
    strike: StrikeOption,
    expiry_days: ExpiryDaysOption = None,
    t_years: TYearsOption = None,
    rate: RateOption = 0.0,
    dividend: DividendOption = 0.0,
    right: RightOption = "call",
    american: Annotated[
        bool, typer.Option("--american", help="Invert the American (BAW) price instead of BSM.")
    ] = False,
    output_format: FormatOption = OutputFormat.TABLE,
) -> None:
    """Implied volatility of one option price, and its status.

    A status other than OK (price below intrinsic, above the no-arbitrage maximum, no
    convergence) is an answer, not an error: the command still exits 0 and the vol is NaN.
    """
    import numpy as np

    from greekfire.analytics.options import implied_vol
    from greekfire.cli.render import iv_table
    from greekfire.domain.enums import IVStatus

    option_right = _right(right)
    years = _t_years(expiry_days, t_years)
    result = implied_vol(
        price, spot, strike, years, rate, dividend, right=option_right, american=american
    )
    status = IVStatus(int(np.asarray(result.status).item()))
    record: dict[str, object] = {
        "iv": float(np.asarray(result.vol, dtype=np.float64).item()),
        "status": status.name,
        "model": "american-baw" if american else "bsm",
        "price": price,
        "spot": spot,
        "strike": strike,
        "t_years": years,
        "rate": rate,
        "dividend_yield": dividend,
        "right": option_right.name.lower(),
    }
    _emit_record(record, output_format, iv_table)


@app.command("chain")
def chain_command(
    spot: SpotOption,
    vol: VolOption,
    strikes: Annotated[
        str, typer.Option(help="start:stop:step, inclusive (80:120:5), or a list (90,100,110).")
    ],
    expiries: Annotated[str, typer.Option(help="Calendar days to expiry, a list (7,30,90).")],
    rate: RateOption = 0.0,
    dividend: DividendOption = 0.0,
    output_format: FormatOption = OutputFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option(help="Write to this file instead of the terminal.", dir_okay=False),
    ] = None,
) -> None:
    """Price a synthetic chain: every strike x expiry, calls and puts, with Greeks (BSM)."""
    try:
        strike_list = parse_strikes(strikes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--strikes'") from None
    try:
        day_list = parse_expiries(expiries)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--expiries'") from None

    from greekfire.analytics.chain import build_chain
    from greekfire.cli.render import chain_tables, to_json

    frame = build_chain(spot, strike_list, day_list, vol, rate=rate, dividend_yield=dividend)
    if output_format is OutputFormat.TABLE:
        _print(chain_tables(frame), output)
    elif output_format is OutputFormat.JSON:
        records = [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]
        _write(to_json(records), output)
    else:
        _write(frame.to_csv(index=False, lineterminator="\n"), output)


@app.command("bench")
def bench_command(
    out: Annotated[
        Path, typer.Option(help="Directory for the benchmark report files.", file_okay=False)
    ] = Path("reports"),
    quick: Annotated[bool, typer.Option("--quick", help="Fewer sizes and repeats.")] = False,
    cases: Annotated[
        str | None,
        typer.Option(
            "--cases",
            help="Run only these cases, comma-separated letters (e.g. e,f,g,h); "
            "skips the first-call measurements.",
        ),
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="A baseline: an earlier bench.json, or a JSON object {name: seconds}. "
            "Prints each benchmark's ratio to it.",
            dir_okay=False,
        ),
    ] = None,
    fail_over: Annotated[
        str | None,
        typer.Option(
            "--fail-over",
            help="With --compare: exit with code 1 when a benchmark is slower than the "
            "baseline by more than this (e.g. 20%).",
        ),
    ] = None,
) -> None:
    """Run the benchmark suite (greekfire vs peers) and print the summary."""
    from greekfire.bench.progress import progress_bar
    from greekfire.bench.report import render_summary
    from greekfire.bench.runner import run_bench
    from greekfire.perf.monitor import (
        bench_report_medians,
        compare_to_baseline,
        load_benchmark_json,
        parse_tolerance,
    )

    baseline: dict[str, float] | None = None
    tolerance = 0.2
    if fail_over is not None:
        if compare is None:
            raise typer.BadParameter("needs --compare (a baseline)", param_hint="'--fail-over'")
        try:
            tolerance = parse_tolerance(fail_over)
        except (ValueError, TypeError) as exc:
            raise typer.BadParameter(str(exc), param_hint="'--fail-over'") from None
    if compare is not None:  # read before the run: a bad baseline fails in a second
        try:
            baseline = load_benchmark_json(compare)
        except (OSError, ValueError, TypeError) as exc:
            raise typer.BadParameter(f"{compare}: {exc}", param_hint="'--compare'") from None
    selection: dict[str, Any] = {}
    if cases is not None:
        selection["cases"] = [c.strip() for c in cases.split(",") if c.strip()]
        from greekfire.bench.cases import FULL, build_cases, select_cases

        try:
            select_cases(build_cases(FULL), selection["cases"])
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--cases'") from None
    with progress_bar() as on_event:  # None when stderr is no terminal: no bar to feed
        if on_event is not None:
            selection["events"] = on_event
        report = run_bench(out, quick=quick, **selection)
    console = Console()
    console.print(render_summary(report))
    if baseline is not None:
        comparison = compare_to_baseline(bench_report_medians(report), baseline, tolerance)
        console.print(comparison.format_text(), markup=False, highlight=False)
        if fail_over is not None and comparison.has_regressions:
            raise typer.Exit(code=1)


_SERVE_FIELD_OPTIONS = {
    "host": "--host",
    "port": "--port",
    "seed": "--seed",
    "symbols": "--symbols",
    "universe": "--universe",
    "key_id": "--key",
    "secret_key": "--secret",
    "start": "--start",
    "speed": "--speed",
    "faults.latency_ms": "--latency-ms",
    "faults.jitter_ms": "--jitter-ms",
    "faults.rate_limit_rps": "--rate-limit",
    "faults.error_rate": "--error-rate",
    "faults.hang_rate": "--hang-rate",
    "faults.malformed_rate": "--malformed-rate",
    "faults.truncate_rate": "--truncate-rate",
    "faults.drop_rate": "--drop-rate",
    "faults.seed": "--fault-seed",
}


@app.command("serve-market")
def serve_market_command(
    *,
    host: Annotated[str | None, typer.Option(help="Interface to listen on [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port; 0 picks a free one [0].")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic market [0].")] = None,
    symbols: Annotated[
        str | None, typer.Option(help="The universe, comma-separated (e.g. SPY,AAPL).")
    ] = None,
    universe: Annotated[
        int | None, typer.Option(help="Add generated tickers up to this many symbols.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A TOML config file; the flags override it.", dir_okay=False),
    ] = None,
    key: Annotated[str | None, typer.Option(help="Expected APCA-API-KEY-ID [greekfire].")] = None,
    secret: Annotated[
        str | None, typer.Option(help="Expected APCA-API-SECRET-KEY [greekfire].")
    ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept any request.")] = False,
    speed: Annotated[
        float | None,
        typer.Option(
            help="Simulated seconds per second; 0 freezes the clock [1].", parser=_finite_number
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Simulated start time, RFC 3339 (default: now).")
    ] = None,
    latency_ms: Annotated[
        float | None, typer.Option(help="Injected latency, ms.", parser=_finite_number)
    ] = None,
    jitter_ms: Annotated[
        float | None, typer.Option(help="Uniform extra latency, ms.", parser=_finite_number)
    ] = None,
    rate_limit: Annotated[
        float | None,
        typer.Option(help="Requests per second before 429s (token bucket).", parser=_finite_number),
    ] = None,
    error_rate: Annotated[
        float | None, typer.Option(help="Share of 5xx answers.", parser=_finite_number)
    ] = None,
    hang_rate: Annotated[
        float | None, typer.Option(help="Share of requests never answered.", parser=_finite_number)
    ] = None,
    malformed_rate: Annotated[
        float | None, typer.Option(help="Share of invalid JSON answers.", parser=_finite_number)
    ] = None,
    truncate_rate: Annotated[
        float | None, typer.Option(help="Share of truncated bodies.", parser=_finite_number)
    ] = None,
    drop_rate: Annotated[
        float | None,
        typer.Option(help="Share of connections closed unanswered.", parser=_finite_number),
    ] = None,
    fault_seed: Annotated[int | None, typer.Option(help="Seed of the fault sequence.")] = None,
    no_gzip: Annotated[bool, typer.Option("--no-gzip", help="Never compress answers.")] = False,
    warm: Annotated[
        bool, typer.Option("--warm", help="Encode every symbol's daily bars before serving.")
    ] = False,
) -> None:
    """Serve the synthetic market through Alpaca's REST API, with fault injection."""
    import contextlib
    import dataclasses

    from greekfire.exchange.config import ExchangeConfig
    from greekfire.exchange.server import serve

    values: dict[str, Any] = {
        "host": host,
        "port": port,
        "seed": seed,
        "symbols": symbols,
        "universe": universe,
        "key_id": key,
        "secret_key": secret,
        "speed": speed,
        "start": start,
    }
    faults: dict[str, Any] = {
        "latency_ms": latency_ms,
        "jitter_ms": jitter_ms,
        "rate_limit_rps": rate_limit,
        "error_rate": error_rate,
        "hang_rate": hang_rate,
        "malformed_rate": malformed_rate,
        "truncate_rate": truncate_rate,
        "drop_rate": drop_rate,
        "seed": fault_seed,
    }
    try:
        base = ExchangeConfig.from_toml(config) if config is not None else ExchangeConfig()
        changes = {k: v for k, v in values.items() if v is not None}
        if no_auth:
            changes.update(key_id=None, secret_key=None)
        if no_gzip:
            changes["gzip"] = False
        if warm:
            changes["warm"] = True
        fault_changes = {k: v for k, v in faults.items() if v is not None}
        if fault_changes:
            changes["faults"] = dataclasses.replace(base.faults, **fault_changes)
        settings = base.replace(**changes)
    except ConfigError as exc:
        option = _SERVE_FIELD_OPTIONS.get(exc.field)
        if option is None:
            raise
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None

    def announce(url: str) -> None:
        lines = [
            f"greekfire serve-market: serving {len(settings.universe_symbols)} symbols at {url}",
            f"  APCA_API_BASE_URL={url}",
            f"  APCA_API_DATA_URL={url}",
        ]
        if settings.key_id is not None:
            lines.append(
                f"  APCA_API_KEY_ID={settings.key_id}  APCA_API_SECRET_KEY=<as configured>"
            )
        else:
            lines.append("  auth: off (any key is accepted)")
        lines.append("  Ctrl-C stops the server.")
        typer.echo("\n".join(lines))

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how this command ends: exit 0
        serve(settings, announce=announce)


trading.register(app)


def run() -> None:
    """Console-script entry point: run ``greekfire`` on ``sys.argv`` and exit with its code."""
    app(prog_name="greekfire")
