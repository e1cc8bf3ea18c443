"""`make bench`: every benchmark in one run; figures printed and written to bench/results/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "bench_pipeline.py",
    "bench_simulator.py",
    "bench_http_client.py",
    "bench_billing_gate.py",
    "bench_connector.py",
    "bench_token_keeper.py",
    "bench_health_checker.py",
    "bench_notifier.py",
]


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], check=False).returncode != 0:
            failed.append(name)
    print(f"\nresults in {HERE / 'results'}")
    # The README's table comes from the results just written (those of a failed bench are
    # whatever it last wrote, or "not measured").
    subprocess.run([sys.executable, str(HERE / "figures.py")], check=False)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
