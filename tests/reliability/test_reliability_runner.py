"""The reliability runner: every suite runs, a suite's own crash is reported and the rest go
on, and the figures land in JSON, Markdown and the document's figures section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from greekfire.reliability import runner
from greekfire.reliability.result import Figure, SuiteResult


def result(name: str, passed: bool = True) -> SuiteResult:
    return SuiteResult(
        suite=name,
        passed=passed,
        figures=[
            Figure("requests", 5123, "requests", "HTTP requests the exchange answered"),
            Figure("lost_fills", 0, "", "fills at the exchange missing from the journal"),
            Figure("rss_drift", 1.25, "%", "RSS at the end vs after warm-up | pipes escaped"),
        ],
        failures=[] if passed else ["2 fills lost after kill 7"],
        artifacts=[Path(f"/tmp/{name}/rss.png")],
        seconds=12.5,
        params={"short": False, "seed": 3},
    )


def test_the_markdown_holds_every_figure_the_date_and_the_command() -> None:
    info = runner.RunInfo(
        started="2026-11-21T18:00:00+00:00",
        command="greekfire reliability --out x",
        machine="x86_64, 2 cores, Python 3.11.7",
        short=False,
        seed=3,
        seconds=25.0,
    )
    text = runner.render_markdown([result("faults"), result("crash", passed=False)], info)
    assert "2026-11-21T18:00:00+00:00" in text
    assert "`greekfire reliability --out x`" in text
    assert "| faults | passed | 12.5 s |" in text
    assert "**FAILED**: 1 broken guarantee(s)" in text
    assert "| requests | 5,123 requests |" in text
    assert "| rss_drift | 1.25 % | RSS at the end vs after warm-up \\| pipes escaped |" in text
    assert "- 2 fills lost after kill 7" in text
    assert "`rss.png`" in text


def test_the_document_section_is_replaced_between_its_markers() -> None:
    doc = f"# Title\n\nintro\n\n{runner.BEGIN}\nold figures\n{runner.END}\n\nafter\n"
    new = runner.replace_section(doc, "new figures\n")
    assert "old figures" not in new
    assert new.startswith("# Title\n\nintro\n\n")
    assert new.endswith(f"{runner.BEGIN}\nnew figures\n{runner.END}\n\nafter\n")
    with pytest.raises(ValueError, match="expected the markers"):
        runner.replace_section("no markers here", "x")
    with pytest.raises(ValueError, match="expected the markers"):
        runner.replace_section(f"{runner.END} {runner.BEGIN}", "x")


def test_a_suite_that_raises_is_reported_and_the_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    def suite_of(name: str) -> Any:
        def run(out_dir: Path, *, short: bool, seed: int) -> SuiteResult:
            ran.append(name)
            assert out_dir == tmp_path / name
            if name == "crash":
                raise RuntimeError("the exchange did not start")
            return result(name)

        return run

    monkeypatch.setattr(runner, "_suite", suite_of)
    lines: list[str] = []
    results, info = runner.run_suites(
        tmp_path, suites=("faults", "crash", "soak"), short=True, seed=7, progress=lines.append
    )
    assert ran == ["faults", "crash", "soak"]
    assert [r.passed for r in results] == [True, False, True]
    assert results[1].failures == ["the suite raised RuntimeError: the exchange did not start"]
    assert info["short"] is True
    assert info["seed"] == 7
    assert "crash: FAILED (1)" in " ".join(lines)

    doc = tmp_path / "RELIABILITY.md"
    doc.write_text(f"intro\n{runner.BEGIN}\n{runner.END}\n", "utf-8")
    written = runner.write_reports(results, info, tmp_path / "out", docs=doc)
    payload = json.loads(written["json"].read_text("utf-8"))
    assert [s["suite"] for s in payload["suites"]] == ["faults", "crash", "soak"]
    assert payload["suites"][0]["figures"][0] == {
        "name": "requests",
        "value": 5123,
        "unit": "requests",
        "description": "HTTP requests the exchange answered",
    }
    assert "| soak | passed |" in doc.read_text("utf-8")
    assert written["markdown"].read_text("utf-8").startswith("# Reliability figures")


def test_an_unknown_suite_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown suite 'fuzz'"):
        runner.run_suites(tmp_path / "x", suites=("fuzz",))
    assert not (tmp_path / "x").exists()


def test_figure_lookup_names_what_exists() -> None:
    r = result("soak")
    assert r.figure("lost_fills").value == 0
    with pytest.raises(KeyError, match="no figure 'nope' \\(figures: requests, lost_fills"):
        r.figure("nope")


def test_the_document_embeds_the_curves_copied_beside_it(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    (out / "soak").mkdir(parents=True)
    curve = out / "soak" / "soak_rss.png"
    curve.write_bytes(b"\x89PNG fake curve")
    docs = tmp_path / "docs" / "RELIABILITY.md"
    docs.parent.mkdir()
    docs.write_text(f"# R\n\n{runner.BEGIN}\nold\n{runner.END}\n", "utf-8")
    soak = SuiteResult("soak", True, [Figure("cycles", 10, "cycles", "")], [], [curve], 1.0, {})
    info = runner.RunInfo(
        started="2026-11-21T18:00:00+00:00",
        command="greekfire reliability",
        machine="m",
        short=False,
        seed=0,
        seconds=1.0,
    )
    written = runner.write_reports([soak], info, out, docs=docs)
    assert "![soak_rss](reliability/soak_rss.png)" in written["docs"].read_text("utf-8")
    assert (docs.parent / "reliability" / "soak_rss.png").read_bytes() == curve.read_bytes()
    assert "![soak_rss](soak/soak_rss.png)" in written["markdown"].read_text("utf-8")


def test_a_relative_output_directory_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # make reliability passes a relative --out; the corpus loop's engine resolves its config's
    # paths against its own workdir, so a relative root once nested them and lost the journal
    monkeypatch.chdir(tmp_path)
    results, _ = runner.run_suites(Path("out"), suites=("corpus",), short=True, seed=0)
    assert results[0].passed, results[0].failures
    assert (tmp_path / "out" / "corpus" / "corpus" / "loop" / "journal.db").is_file()
    assert not (tmp_path / "out" / "corpus" / "corpus" / "loop" / "out").exists()
