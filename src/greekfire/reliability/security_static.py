"""The static half of the security suite: scans of the source tree and the dependency audit.

:func:`check_token_comparison` checks the dashboard compares its token in constant time,
:func:`scan_sql` that every SQL statement is a constant (or allowlisted), and
:func:`scan_deserialisation` that nothing unpickles or evaluates outside data (all with
:mod:`ast`). :func:`unaccepted_vulnerabilities` reads a pip-audit report. The suite that runs
them is :mod:`greekfire.reliability.security`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "AUDIT_ACCEPTED",
    "DESERIALISATION_ALLOWLIST",
    "LOCK",
    "SQL_ALLOWLIST",
    "SRC",
    "AuditResult",
    "SqlSite",
    "check_token_comparison",
    "pip_audit",
    "scan_deserialisation",
    "scan_sql",
    "unaccepted_vulnerabilities",
]

SRC: Final = Path(__file__).resolve().parents[1]
"""The ``greekfire`` package directory the static scans read."""

DESERIALISATION_ALLOWLIST: Final[Mapping[tuple[str, str], str]] = {
    # (path relative to the package, call) -> why it is safe
    ("perf/cache_redis.py", "pickle.loads"): "only with the explicit allow_pickle=True opt-in"
    " (off by default; a pickle read without it is refused with ValueError)",
    ("perf/_memoize.py", "exec"): "compiles the cache wrapper from its own template and the"
    " decorated function's parameter names (in-process code, no outside data)",
}
"""Unsafe-deserialisation sites that are accepted, each with its reason."""

SQL_ALLOWLIST: Final[Mapping[tuple[str, str], str]] = {
    # (path relative to the package, function) -> why its non-literal SQL is safe
    ("journal/schema.py", "migrate"): "runs the statements of the MIGRATIONS constant"
    " (string literals in journal/schema.py)",
    ("reliability/security.py", "_scan_journal"): "this suite's own read-only scan: a table"
    " name read from the file's sqlite_master, quoted as an identifier",
}
"""SQL sites whose statement is not a literal but is safe, each with its reason."""

AUDIT_ACCEPTED: Final[Mapping[str, str]] = {}
"""pip-audit vulnerability ids accepted, each with its reason (none are)."""

_UNSAFE_CALLS: Final = frozenset(
    {
        "pickle.load",
        "pickle.loads",
        "pickle.Unpickler",
        "cPickle.loads",
        "marshal.load",
        "marshal.loads",
        "shelve.open",
        "yaml.load",
        "yaml.unsafe_load",
        "yaml.full_load",
        "dill.loads",
        "joblib.load",
        "eval",
        "exec",
        "pandas.read_pickle",
        "pd.read_pickle",
    }
)


# ---------------------------------------------------------------------------- static checks
def _call_name(node: ast.Call) -> str:
    func = node.func
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def check_token_comparison(path: Path | None = None) -> list[str]:
    """Problems with the dashboard's token check in ``web/api.py`` (empty when it is sound).

    Sound: ``hmac.compare_digest`` (or ``secrets.compare_digest``) is called, and no ``==``,
    ``!=``, ``in`` or ``startswith`` involves a name that holds the token.
    """
    source = path if path is not None else SRC / "web" / "api.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    problems: list[str] = []
    suspects = ("token", "secret", "given", "credential")

    def holds_token(node: ast.AST) -> bool:
        return any(
            isinstance(n, ast.Name | ast.Attribute)
            and any(s in (n.id if isinstance(n, ast.Name) else n.attr).lower() for s in suspects)
            for n in ast.walk(node)
        )

    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    if not any(_call_name(c) in ("hmac.compare_digest", "secrets.compare_digest") for c in calls):
        problems.append(f"{source.name}: no hmac.compare_digest call")
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            timing_ops = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
            if any(isinstance(op, timing_ops) for op in node.ops) and holds_token(node):
                problems.append(f"{source.name}:{node.lineno}: token compared with ==/!=/in")
        elif (
            isinstance(node, ast.Call)
            and _call_name(node).endswith(".startswith")
            and holds_token(node)
        ):
            problems.append(f"{source.name}:{node.lineno}: token compared with startswith")
    return problems


@dataclass(frozen=True, slots=True)
class SqlSite:
    """One ``.execute``/``.executemany``/``.executescript`` call: where, and its verdict."""

    path: str
    line: int
    call: str
    verdict: str  # constant, parameter (checked at its callers), allowlisted, skipped, dynamic
    detail: str


class _Consts:
    # which names of a module hold constant strings/numbers (module level, assigned once)
    def __init__(self, tree: ast.Module) -> None:
        self.module: dict[str, ast.expr] = {}
        counts: dict[str, int] = {}
        for node in tree.body:
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(node, ast.Assign):
                targets, value = list(node.targets), node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    counts[target.id] = counts.get(target.id, 0) + 1
                    self.module[target.id] = value
        self.module = {k: v for k, v in self.module.items() if counts[k] == 1}


def _assignments(func: ast.AST, name: str) -> list[ast.expr] | None:
    # every value bound to local ``name`` in ``func``; None when it is bound another way
    values: list[ast.expr] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    values.append(node.value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            if isinstance(node.target, ast.Name) and node.target.id == name and node.value:
                values.append(node.value)
        elif isinstance(node, ast.For | ast.comprehension):
            bound = [n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)]
            if name in bound:
                values.append(node.iter)
    return values


def _is_const(  # noqa: C901 - one branch per node kind
    node: ast.expr,
    consts: _Consts,
    func: ast.AST | None,
    params: set[str],
    depth: int = 0,
    seen: frozenset[str] = frozenset(),
) -> str | None:
    """``None`` when ``node`` is built only of constants; else why not (``param:<name>`` for a
    function parameter)."""
    if depth > 40:
        return "too deep"

    def again(n: ast.expr) -> str | None:
        return _is_const(n, consts, func, params, depth + 1, seen)

    if isinstance(node, ast.Constant):
        return None
    if isinstance(node, ast.JoinedStr | ast.Tuple | ast.List | ast.Set):
        items = node.values if isinstance(node, ast.JoinedStr) else node.elts
        return next((r for r in map(again, items) if r), None)
    if isinstance(node, ast.FormattedValue):
        return again(node.value)
    if isinstance(node, ast.BinOp):
        return again(node.left) or again(node.right)
    if isinstance(node, ast.IfExp):
        return again(node.body) or again(node.orelse)
    if isinstance(node, ast.Subscript):
        return again(node.value)
    if isinstance(node, ast.Call):
        # "sep".join(constants), "constant".format(constants)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("join", "format"):
            parts = [node.func.value, *node.args, *(k.value for k in node.keywords)]
            return next((r for r in map(again, parts) if r), None)
        if isinstance(node.func, ast.Name) and node.func.id in (
            "tuple",
            "list",
            "str",
            "len",
            "sorted",
        ):
            return next((r for r in map(again, node.args) if r), None)
        return f"call {ast.unparse(node)[:60]}"
    if isinstance(node, ast.GeneratorExp | ast.ListComp):
        for gen in node.generators:
            why = again(gen.iter)
            if why:
                return why
        inner = params - {
            n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        }
        bound = {
            n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)
        }
        return _is_const(_unbind(node.elt, bound), consts, func, inner, depth + 1)
    if isinstance(node, ast.Name):
        if node.id in params:
            return f"param:{node.id}"
        if node.id in seen:
            return None  # ``sql += ...``: its other bindings are checked
        if func is not None:
            bindings = _assignments(func, node.id)
            if bindings:
                chain = seen | {node.id}
                return next(
                    (
                        r
                        for r in (
                            _is_const(b, consts, func, params, depth + 1, chain) for b in bindings
                        )
                        if r
                    ),
                    None,
                )
        if node.id in consts.module:
            return again(consts.module[node.id])
        if node.id.lstrip("_").replace("_", "").isupper():
            return None  # an imported UPPER_CASE constant
        return f"unknown name {node.id}"
    if isinstance(node, ast.Attribute) and (
        node.attr.isupper() or isinstance(node.value, ast.Constant)
    ):
        return None  # another module's UPPER_CASE constant, or an attribute of a loop constant
    return f"expression {ast.unparse(node)[:60]}"


def _unbind(node: ast.expr, bound: set[str]) -> ast.expr:
    # a comprehension's element with its loop names (checked constant) replaced by constants
    class _Sub(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.AST:
            return ast.Constant("") if name.id in bound else name

    return _Sub().visit(ast.parse(ast.unparse(node), mode="eval")).body  # type: ignore[no-any-return]


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def scan_sql(root: Path | None = None) -> list[SqlSite]:
    """Every ``.execute``/``.executemany``/``.executescript`` call under ``root`` (the package
    by default) with its verdict. A SQL argument that is a parameter of its function is checked
    at every call of that function in the module (verdict ``parameter`` when they all pass)."""
    base = root if root is not None else SRC
    sites: list[SqlSite] = []
    for path in sorted(base.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        sites += _sql_sites(tree, path.relative_to(base).as_posix())
    return sites


def _sql_sites(tree: ast.Module, rel: str) -> list[SqlSite]:
    consts = _Consts(tree)
    out: list[SqlSite] = []
    for func in _functions(tree):
        reason = SQL_ALLOWLIST.get((rel, func.name))
        args = func.args
        params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        for node in ast.walk(func):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("execute", "executemany", "executescript"):
                continue
            call = f"{ast.unparse(node.func)}()"
            if not node.args:
                out.append(SqlSite(rel, node.lineno, call, "skipped", "no SQL argument"))
                continue
            why = _is_const(node.args[0], consts, func, params)
            if why is not None and reason is not None:
                out.append(SqlSite(rel, node.lineno, call, "allowlisted", reason))
            elif why is None:
                out.append(SqlSite(rel, node.lineno, call, "constant", "constant SQL"))
            elif why.startswith("param:"):
                out.append(_check_callers(tree, consts, func, why[6:], rel, node.lineno, call))
            else:
                out.append(SqlSite(rel, node.lineno, call, "dynamic", why))
    return out


def _check_callers(
    tree: ast.Module,
    consts: _Consts,
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    param: str,
    rel: str,
    line: int,
    call: str,
) -> SqlSite:
    names = [a.arg for a in [*func.args.posonlyargs, *func.args.args]]
    index = names.index(param) - (1 if names and names[0] in ("self", "cls") else 0)
    checked, problems = 0, []
    for caller in _functions(tree):
        cargs = caller.args
        cparams = {a.arg for a in [*cargs.posonlyargs, *cargs.args, *cargs.kwonlyargs]}
        for node in ast.walk(caller):
            if not isinstance(node, ast.Call) or _call_name(node).split(".")[-1] != func.name:
                continue
            given = [k.value for k in node.keywords if k.arg == param]
            given += node.args[index : index + 1]
            for arg in given:
                checked += 1
                why = _is_const(arg, consts, caller, cparams)
                if why is not None:
                    problems.append(f"{caller.name}:{node.lineno}: {why}")
    if problems or checked == 0:
        detail = "; ".join(problems) or f"no caller of {func.name} found"
        return SqlSite(rel, line, call, "dynamic", detail)
    return SqlSite(rel, line, call, "parameter", f"{checked} call(s) of {func.name}: constant")


def scan_deserialisation(root: Path | None = None) -> tuple[list[str], list[str]]:
    """Calls that unpickle, evaluate or unsafely load (``pickle.load(s)``, ``eval``, ``exec``,
    ``yaml.load``, ``marshal``, ``shelve``, ...) under ``root``: ``(allowlisted, unexpected)``,
    each as ``path:line: call (reason)``."""
    base = root if root is not None else SRC
    allowed: list[str] = []
    unexpected: list[str] = []
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(base).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {
            a.asname or a.name: f"{n.module}.{a.name}"
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module
            for a in n.names
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            name = aliases.get(name, name)
            if name == "yaml.load" and any(
                k.arg == "Loader" and "Safe" in ast.unparse(k.value) for k in node.keywords
            ):
                continue
            if name in ("np.load", "numpy.load") and any(
                k.arg == "allow_pickle" and ast.unparse(k.value) != "False" for k in node.keywords
            ):
                name = "np.load(allow_pickle)"
            elif name not in _UNSAFE_CALLS:
                continue
            reason = DESERIALISATION_ALLOWLIST.get((rel, name))
            where = f"{rel}:{node.lineno}: {name}"
            if reason is None:
                unexpected.append(where)
            else:
                allowed.append(f"{where} ({reason})")
    return allowed, unexpected


# ---------------------------------------------------------------------------- pip-audit
def unaccepted_vulnerabilities(
    report: Mapping[str, Any], accepted: Mapping[str, str] = AUDIT_ACCEPTED
) -> tuple[int, list[str]]:
    """From pip-audit's JSON report: ``(vulnerabilities found, the ones not accepted)``, each
    as ``package version: id`` (an id or any alias in ``accepted`` accepts it)."""
    found, bad = 0, []
    for dep in report.get("dependencies", []):
        for vuln in dep.get("vulns", []):
            found += 1
            ids = {vuln.get("id", ""), *vuln.get("aliases", [])}
            if not ids & set(accepted):
                bad.append(f"{dep.get('name')} {dep.get('version')}: {vuln.get('id')}")
    return found, bad


LOCK: Final = SRC.parents[1] / "constraints.txt"
"""The locked dependency set of a source checkout (absent in an installed wheel)."""


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What pip-audit said: ``audited`` dependencies looked up, ``skipped`` ones it could not
    look up (``note`` gives a reason), ``found`` vulnerabilities, ``unaccepted`` the ones not in
    :data:`AUDIT_ACCEPTED` (``package version: id``), ``source`` what was audited."""

    audited: int
    skipped: int
    found: int
    unaccepted: list[str]
    note: str
    source: str


def pip_audit(
    out_dir: Path, requirement: Path | None = None, *, timeout_s: float = 300.0
) -> AuditResult:
    """Run pip-audit on ``requirement`` (a pinned file such as :data:`LOCK`: ``--no-deps
    --disable-pip``, nothing is resolved or installed) or, without one, on this environment;
    its JSON report goes to ``out_dir/pip-audit.json``.

    pip-audit looks each package version up in PyPI's JSON API; a package it cannot look up is
    reported as skipped, not as clean, and counted in ``skipped``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "pip-audit.json"
    target.unlink(missing_ok=True)
    if requirement is None:
        scope = ["--local", "--skip-editable"]
        source = "the installed environment"
    else:
        scope = ["--requirement", str(requirement), "--no-deps", "--disable-pip"]
        source = str(requirement)
    command = [sys.executable, "-m", "pip_audit", *scope, "--progress-spinner", "off"]
    command += ["--format", "json", "--output", str(target)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return AuditResult(0, 0, 0, [], f"pip-audit timed out after {timeout_s:g} s", source)
    if not target.exists():
        note = f"pip-audit failed ({done.returncode}): {done.stderr.strip()[-400:]}"
        return AuditResult(0, 0, 0, [], note, source)
    report = json.loads(target.read_text(encoding="utf-8"))
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if "skip_reason" in d]
    found, bad = unaccepted_vulnerabilities(report)
    note = f"pip-audit exit {done.returncode}: {found} vulnerabilities"
    if skipped:
        note += f"; {len(skipped)} skipped, e.g. {skipped[0]['skip_reason']}"
    return AuditResult(len(deps) - len(skipped), len(skipped), found, bad, note, source)
