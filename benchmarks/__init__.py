"""Benchmarks: pytest-benchmark suites, each against a baseline measured in the same run."""

import pytest


def benchmarking(config: pytest.Config) -> bool:
    """Whether pytest-benchmark measures (``--benchmark-enable``) or only runs each test once."""
    return bool(config.getoption("benchmark_enable") or not config.getoption("benchmark_disable"))
