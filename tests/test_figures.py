"""The README's figures table is the one `bench/figures.py` renders from `bench/results`."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def figures() -> ModuleType:
    return load_script("bench/figures.py", "bench_figures")


def test_the_readme_shows_the_table_of_the_committed_results() -> None:
    module = figures()
    readme = (ROOT / "README.md").read_text()
    assert module.with_table(readme, module.render()) == readme, (
        "README.md's figures differ from bench/results: run `python bench/figures.py`"
    )


def test_every_result_file_has_a_row() -> None:
    module = figures()
    table = module.render()
    assert "not measured" not in table
    assert len(table.splitlines()) >= 2 + len(module.ROWS)


def test_a_missing_result_says_not_measured_rather_than_a_stale_figure(tmp_path: Path) -> None:
    module = figures()
    results = ROOT / "bench" / "results"
    for path in results.glob("*.json"):
        if path.name != "pipeline.json":
            (tmp_path / path.name).write_text(path.read_text())
    table = module.render(tmp_path)
    assert "| Event pipeline | not measured |" in table
    assert "Event pipeline: outbox" not in table  # no row from a result that is not there
    assert "| Refresh sweep: " in table  # the others still render


def test_a_readme_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="no figures block"):
        figures().with_table("# README\n", "| table |")
