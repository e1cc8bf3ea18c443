"""The README's figures table, rendered from `bench/results/*.json` (what `make bench` wrote).

`python bench/figures.py` rewrites the block between the two markers in README.md; `make bench`
does it after the benchmarks, and a unit test fails when the README and the results disagree.
A benchmark whose result file is missing shows as "not measured", never as a stale figure.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
START = "<!-- figures:start (bench/figures.py writes this table from bench/results) -->"
END = "<!-- figures:end -->"
X = "\N{MULTIPLICATION SIGN}"

Result = dict[str, Any]
Row = tuple[str, str, str, str, str, str]


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _met(flag: bool | None) -> str:
    return "—" if flag is None else ("yes" if flag else "**no**")


def _pipeline(r: Result) -> list[Row]:
    lat = r["latency_at_500_per_s"]
    rows: list[Row] = [
        (
            "Event pipeline: outbox → relay → Kafka → inbox consumer",
            f"{_n(r['pipeline']['events_per_s'])} events/s",
            f"plain aiokafka {_n(r['plain_aiokafka']['events_per_s'])} events/s",
            f"{r['ratio_pipeline_to_plain']:.2f}{X}",
            f"≥ {r['targets']['ratio_min']}{X}",
            _met(r["met"]["ratio"]),
        ),
        (
            "Pipeline latency at 500 events/s",
            f"p50 {_n(lat['p50_ms'])} ms, p99 {_n(lat['p99_ms'])} ms",
            "—",
            "—",
            f"p50 ≤ {r['targets']['p50_ms_max']} ms",
            _met(r["met"]["p50"]),
        ),
    ]
    if "pruning" in r:
        p = r["pruning"]
        rows.append(
            (
                "Pruning outbox and inbox (the runs' rows, aged)",
                f"{_n(p['events_per_s'])} events/s; {p['left']} rows left",
                f"pipeline {_n(r['pipeline']['events_per_s'])} events/s",
                f"{r['ratio_prune_to_pipeline']:.1f}{X}",
                f"≥ {r['targets']['prune_ratio_min']}{X}, none left",
                _met(r["met"]["prune"]),
            )
        )
    return rows


def _token_keeper(r: Result) -> list[Row]:
    e2e, targets = r["end_to_end"], r["targets"]
    rows: list[Row] = [
        (
            f"Refresh sweep: {_n(r['accounts'])} due accounts, token-keeper {X} {r['replicas']}",
            f"{_n(e2e['per_s'])} refreshes/s ({_n(e2e['seconds'])} s)",
            f"the same adapter calls, no database or Kafka: {_n(r['ceiling_per_s'])}/s",
            f"{r['ratio_to_ceiling']:.2f}{X}",
            f"≥ {targets['ratio_at_least']}{X}; ≤ {targets['seconds_at_most']} s",
            f"{_met(targets['ratio_met'])}; {_met(targets['seconds_met'])}",
        )
    ]
    if "plain_httpx_ceiling" in r:
        rows.append(
            (
                "Refresh sweep against plain httpx",
                f"{_n(e2e['per_s'])} refreshes/s",
                f"plain httpx client, same calls: {_n(r['plain_httpx_ceiling']['per_s'])}/s",
                f"{r['ratio_to_plain_httpx_ceiling']:.2f}{X}",
                f"≥ {targets['ratio_at_least']}{X}",
                _met(targets["plain_httpx_ratio_met"]),
            )
        )
    return rows


def _connector(r: Result) -> list[Row]:
    start, decision = r["paced_start"], r["paced_billing_decision"]
    return [
        (
            f"Connect start at {_n(r['offered_rps'])}/s (connector)",
            f"p50 {start['p50_ms']:.1f} ms, p99 {start['p99_ms']:.1f} ms",
            f"billing decision p99 {decision['p99_ms']:.1f} ms",
            f"{r['ratios']['start_p99_over_billing_decision_p99']:.1f}{X}",
            f"p99 ≤ {_n(r['target_p99_ms'])} ms",
            _met(r["meets_target"]),
        )
    ]


def _billing_gate(r: Result) -> list[Row]:
    paced, saturated = r["paced"], r["saturated"]
    return [
        (
            f"Billing decision at {_n(paced['offered_rps'])}/s (billing-gate)",
            f"p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms",
            f"saturated {_n(saturated['throughput_rps'])}/s",
            "—",
            f"p99 < {_n(r['target_p99_ms'])} ms",
            _met(r["meets_target"]),
        )
    ]


def _health_checker(r: Result) -> list[Row]:
    checker = r["checker"]
    return [
        (
            f"Health check of {_n(r['accounts'])} accounts, 12 platforms",
            f"{_n(checker['accounts_per_s'])} accounts/s ({_n(checker['seconds'])} s)",
            f"bare check calls {_n(r['ceiling']['accounts_per_s'])}/s",
            f"{r['ratios']['checker_vs_ceiling']:.2f}{X}",
            f"≥ {r['ratios']['target']}{X}",
            _met(r["ratios"]["checker_vs_ceiling"] >= r["ratios"]["target"]),
        )
    ]


def _notifier(r: Result) -> list[Row]:
    burst, emails, paced = r["burst"], r["emails"], r["paced"]
    return [
        (
            f"Notifications burst: {_n(burst['events'])} events",
            f"{_n(burst['notifications_per_s'])} notifications/s",
            f"kernel inbox consume {_n(burst['kernel_inbox_consume_per_s'])}/s",
            f"{burst['ratio_to_kernel_inbox_consume']:.2f}{X}",
            "—",
            "—",
        ),
        (
            "E-mails to SMTP",
            f"{_n(emails['emails_per_s'])} e-mails/s",
            f"raw aiosmtplib {_n(emails['raw_aiosmtplib_per_s'])}/s",
            f"{emails['ratio_to_raw_aiosmtplib']:.2f}{X}",
            "—",
            "—",
        ),
        (
            f"Notification visible, at {_n(paced['offered_per_s'])} events/s",
            f"p99 {_n(paced['to_visible']['p99_ms'])} ms",
            f"plain Kafka p99 {_n(paced['plain_kafka']['p99_ms'])} ms",
            f"{paced['p99_ratio_to_plain_kafka']:.2f}{X}",
            "—",
            "—",
        ),
    ]


def _simulator(r: Result) -> list[Row]:
    return [
        (
            "Platform simulator, token refreshes",
            f"{_n(r['best_refreshes_per_s'])}/s",
            "—",
            "—",
            f"≥ {_n(r['target_refreshes_per_s'])}/s",
            _met(r["meets_target"]),
        )
    ]


def _http_client(r: Result) -> list[Row]:
    medians = r["medians"]
    return [
        (
            "Adapter refresh calls over aiohttp vs httpx",
            f"{_n(medians['adapter-aiohttp']['refreshes_per_s'])}/s",
            f"httpx {_n(medians['adapter-httpx']['refreshes_per_s'])}/s",
            f"{r['ratios']['adapter_aiohttp_rate_vs_adapter_httpx']:.1f}{X}",
            "—",
            "—",
        )
    ]


ROWS: list[tuple[str, str, Callable[[Result], list[Row]]]] = [
    ("pipeline.json", "Event pipeline", _pipeline),
    ("token_keeper.json", "Refresh sweep", _token_keeper),
    ("connector.json", "Connect start", _connector),
    ("billing_gate.json", "Billing decision", _billing_gate),
    ("health_checker.json", "Health check", _health_checker),
    ("notifier.json", "Notifications", _notifier),
    ("simulator.json", "Platform simulator", _simulator),
    ("http_client.json", "HTTP client", _http_client),
]


def render(results: Path = RESULTS) -> str:
    lines = [
        "| Benchmark | Mooring | Baseline, same run | Ratio | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    for file, label, rows in ROWS:
        path = results / file
        if not path.exists():
            lines.append(f"| {label} | not measured | — | — | — | — |")
            continue
        lines.extend("| " + " | ".join(row) + " |" for row in rows(json.loads(path.read_text())))
    return "\n".join(lines)


def with_table(readme: str, table: str) -> str:
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README.md has no figures block ({START} … {END})")
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> int:
    README.write_text(with_table(README.read_text(), render()))
    print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
