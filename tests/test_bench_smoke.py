"""Every benchmark runs, at a small size, against the real stack: `make bench` is run by hand,
so without this a kernel change can break a benchmark unnoticed (one did: a handler signature
changed and the pipeline benchmark timed out on every batch). Figures from these runs mean
nothing and go to a temporary folder; only that each bench finishes, writes its result and
that the README's table can be rendered from it are checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mooring.settings import DatabaseSettings, KafkaSettings
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

# (script and arguments, environment, result file)
SMALL: list[tuple[list[str], dict[str, str], str]] = [
    (
        ["bench_pipeline.py"],
        {"BENCH_EVENTS": "300", "BENCH_ROUNDS": "1", "BENCH_PER_RECORD_EVENTS": "50"},
        "pipeline.json",
    ),
    (
        ["bench_billing_gate.py"],
        {"BENCH_BG_PACED": "100", "BENCH_BG_SATURATED": "100", "BENCH_BG_CONTENDED": "50"},
        "billing_gate.json",
    ),
    (
        ["bench_connector.py"],
        {
            "BENCH_CONNECTOR_PACED": "100",
            "BENCH_CONNECTOR_SATURATED": "100",
            "BENCH_CONNECTOR_CALLBACKS_PACED": "20",
            "BENCH_CONNECTOR_CALLBACKS_SATURATED": "20",
        },
        "connector.json",
    ),
    (["bench_token_keeper.py", "--accounts", "200"], {}, "token_keeper.json"),
    (
        ["bench_health_checker.py"],
        {"BENCH_HC_ACCOUNTS": "600", "BENCH_HC_BINDING_ACCOUNTS": "10"},
        "health_checker.json",
    ),
    (
        ["bench_notifier.py"],
        {
            "BENCH_NOTIFIER_BURST": "300",
            "BENCH_NOTIFIER_WORKSPACES": "30",
            "BENCH_NOTIFIER_SECONDS": "3",
        },
        "notifier.json",
    ),
    (["bench_simulator.py", "--requests", "500"], {}, "simulator.json"),
    (["bench_http_client.py", "--requests", "200", "--rounds", "1"], {}, "http_client.json"),
]


def figures() -> ModuleType:
    return load_script("bench/figures.py", "bench_figures")


def test_every_benchmark_is_smoke_tested() -> None:
    assert {args[0] for args, _, _ in SMALL} == {p.name for p in BENCH.glob("bench_*.py")}


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("args", "env", "result"), SMALL, ids=[s[2] for s in SMALL])
def test_the_benchmark_runs_at_a_small_size(
    args: list[str],
    env: dict[str, str],
    result: str,
    infra: tuple[DatabaseSettings, KafkaSettings],
    tmp_path: Path,
) -> None:
    database, kafka = infra
    environment = (
        os.environ
        | env
        | {
            "BENCH_RESULTS_DIR": str(tmp_path),
            "DATABASE_URL": database.url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        }
    )
    run = subprocess.run(
        [sys.executable, str(BENCH / args[0]), *args[1:]],
        env=environment,
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert (tmp_path / result).exists(), run.stdout[-2000:]
    label = next(label for file, label, _ in figures().ROWS if file == result)
    table = figures().render(tmp_path)
    assert f"| {label} | not measured |" not in table
