"""Fuzz one running service against its committed OpenAPI document with schemathesis.

Two runs per service: the public routes with a gateway token for one workspace (every path's
`workspace_id` is that workspace, so requests get past authentication to the routes' own
rules), and the internal routes with the service token. Every check runs, so no 5xx passes and
every status, content type and body must be as documented; two settings follow from the API's
documented semantics:
- a schema-valid request may still be refused by a rule no schema states: an OAuth state the
  service never issued (400), a plan cap (402), a catalogue, a pair of fields that go
  together (422);
- releasing a reservation (DELETE) keeps it, released, for the record: reading it afterwards is
  right, not a "use after free".
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FuzzRun", "fuzz"]

ROOT = Path(__file__).resolve().parents[1]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
_CHECKS = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "402", "403", "404", "409", "422", "429", "5xx"]
"""


@dataclass(frozen=True)
class FuzzRun:
    label: str
    passed: bool
    output: str


def fuzz(
    service: str,
    url: str,
    *,
    workspace: str,
    gateway_token: str,
    service_token: str,
    examples: int = 30,
) -> list[FuzzRun]:
    spec = ROOT / "deploy" / "openapi" / f"{service}.json"
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(f'[parameters]\n"path.workspace_id" = "{workspace}"\n{_CHECKS}')
        for label, regex, token in (
            ("public", "^/v1/", gateway_token),
            ("internal", "^/internal/", service_token),
        ):
            command = [
                str(SCHEMATHESIS), "--config-file", str(config), "run", str(spec),
                "--url", url, "--include-path-regex", regex,
                "-H", f"Authorization: Bearer {token}",
                "--checks", "all", "--exclude-checks", "use_after_free",
                "--max-examples", str(examples), "--request-timeout", "10",
                "--generation-deterministic", "--no-color", "--report-dir", tmp,
            ]  # fmt: skip
            result = subprocess.run(
                command, check=False, cwd=tmp, capture_output=True, text=True, timeout=600
            )
            output = result.stdout + result.stderr
            # A service without routes of this kind has nothing to fuzz.
            nothing = "No operations matched the filters" in result.stdout
            runs.append(FuzzRun(f"{service} {label}", result.returncode == 0 or nothing, output))
    return runs
