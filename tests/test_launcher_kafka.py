"""The launcher's Kafka cluster id: one starting with "-" made the storage tool refuse to format
(its argument parser took the id for an option), so `make test` failed on a fresh clone once in
64 runs."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stack", ROOT / "deploy/local/stack.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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
