"""The launcher's Kafka cluster id: one starting with "-" made the storage tool refuse to format
(its argument parser took the id for an option), so `make test` failed on a fresh clone once in
64 runs."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def stack() -> ModuleType:
    return load_script("deploy/local/stack.py", "stack")


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    module = stack()
    draws = iter([b"\xf8" + bytes(15), os.urandom(16)])  # 0b111110... encodes as "-"
    monkeypatch.setattr(module.os, "urandom", lambda n: next(draws))
    cluster_id = module.new_cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22  # 16 bytes, base64url without padding


def test_the_first_draw_is_kept_when_it_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    module = stack()
    monkeypatch.setattr(module.os, "urandom", bytes)
    assert module.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
