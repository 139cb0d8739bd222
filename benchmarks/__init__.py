"""Benchmarks: pytest-benchmark suites, each against a baseline measured in the same run."""

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from nii.bench import best_in_turn


def benchmarking(config: pytest.Config) -> bool:
    """Whether pytest-benchmark measures (``--benchmark-enable``) or only runs each test once."""
    return bool(config.getoption("benchmark_enable") or not config.getoption("benchmark_disable"))


def timed(function: Callable[[], Any]) -> Callable[[], float]:
    """``function`` made to return the seconds it took."""

    def run() -> float:
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    return run


def alternate(
    baseline: Callable[[], Any], candidate: Callable[[], Any], rounds: int, *, min_seconds: float = 0
) -> float:
    """Best baseline time over best candidate time, the two timed in turn (:func:`nii.bench.best_in_turn`:
    ``rounds`` rounds, more until ``min_seconds`` have passed), so that the load of a shared machine slows
    both alike."""
    baseline_seconds, candidate_seconds = best_in_turn(
        [timed(baseline), timed(candidate)], rounds, min_seconds=min_seconds
    )
    return baseline_seconds / candidate_seconds


def best_seconds(function: Callable[[], Any], rounds: int) -> float:
    """The least time of ``rounds`` calls of ``function``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def write_table(config: pytest.Config, title: str, rows: Sequence[str]) -> None:
    """Print a suite's table of results past pytest's output capture, when it measured any."""
    if not rows or not benchmarking(config):
        return
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    with config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        for line in ("", title, *rows):
            terminal.write_line(line)
