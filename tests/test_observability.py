"""The dashboard and the alert rules are generated, current, and name only metrics that exist."""

import importlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "deploy" / "observability"
PACKAGES = ("connector", "token_keeper", "health_checker", "notifier", "billing_gate")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def generator() -> Any:
    return load_script("deploy/observability/generate.py", "obs_gen")


def exported() -> set[str]:
    """Every series name the five services' registries can export."""
    names: set[str] = set()
    for package in PACKAGES:
        runtime = importlib.import_module(f"{package}.main").create_app().state.runtime
        for family in runtime.metrics.registry.collect():
            names |= {family.name + s for s in SUFFIXES.get(family.type, ("",))}
    return names


def test_the_committed_files_are_what_the_generator_writes() -> None:
    for name, text in generator().render().items():
        assert (HERE / name).read_text() == text, f"run `make observability` ({name})"


def test_every_expression_names_an_exported_metric() -> None:
    known = exported()
    for expression in generator().expressions():
        for metric in re.findall(r"\bmooring_[a-z_]+", expression):
            assert metric in known, (metric, expression)


def test_the_dashboard_and_the_rules_are_well_formed() -> None:
    dashboard = json.loads((HERE / "grafana-dashboard.json").read_text())
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(p["targets"] for p in dashboard["panels"])
    rules = yaml.safe_load((HERE / "alerts.yaml").read_text())["groups"][0]["rules"]
    runbook = (ROOT / "docs" / "runbooks.md").read_text()
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["alert"] in runbook, f"{rule['alert']} is not explained in docs/runbooks.md"
