"""What the worker sets up before it starts: the cyclic GC's threshold."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.settings import Settings
from streams.worker.runner import tune_gc


@pytest.fixture
def gc_threshold() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("gc_threshold")
def test_gc_threshold_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc(Settings().stream.gc_threshold)
    assert gc.get_threshold() == (100_000, 10, 10)
    monkeypatch.setenv("EMC_STREAM__GC_THRESHOLD", "25000")
    tune_gc(Settings().stream.gc_threshold)
    assert gc.get_threshold() == (25_000, 10, 10)


@pytest.mark.usefixtures("gc_threshold")
def test_gc_threshold_zero_keeps_cpython_default(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.set_threshold(700, 10, 10)
    monkeypatch.setenv("EMC_STREAM__GC_THRESHOLD", "0")
    tune_gc(Settings().stream.gc_threshold)
    assert gc.get_threshold() == (700, 10, 10)
