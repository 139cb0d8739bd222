"""Shared fixtures: small hand-built scans for tests that need any valid scan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from nii.model import Box, Geometry, InspectedObject, Operator, Scan, Scanner, Site, Threat, View
from nii.provenance import ProcessingStep, Provenance


def make_scan(rows: int = 48, lines: int = 80, *, seed: int = 0) -> Scan:
    """A small dual-energy two-view cargo scan with every optional field set."""
    rng = np.random.default_rng(seed)
    tz = timezone(timedelta(hours=2))
    views = []
    for name in ("side", "top"):
        high = rng.integers(0, 65535, size=(rows, lines), dtype=np.uint16)
        low = rng.integers(0, 65535, size=(rows, lines), dtype=np.uint16)
        views.append(
            View(
                name,
                {"high": high, "low": low},
                Geometry(5.0, 4.2, line_positions_mm=np.cumsum(rng.uniform(3.0, 5.0, lines))),
                dark={"high": rng.normal(100, 2, rows), "low": rng.normal(90, 2, rows)},
                air={"high": rng.normal(60000, 50, (rows, 4)), "low": rng.normal(50000, 50, (rows, 4))},
                reference={"high": rng.normal(1, 0.01, lines), "low": rng.normal(1, 0.01, lines)},
            )
        )
    mask = np.zeros((6, 10), bool)
    mask[1:5, 2:8] = True
    return Scan(
        views=views,
        acquired_at=datetime(2026, 3, 4, 10, 20, 30, 123000, tzinfo=tz),
        inspected_object=InspectedObject(
            "CARGO", container_numbers=("CSQU3054383",), licence_plate="AB-123-CD", declaration="26NL000000001234567"
        ),
        scanner=Scanner(
            manufacturer="nii reference",
            model="sim-6/4",
            serial_number="0001",
            software_version="1.2",
            source="linac",
            energies_kv={"high": 6000, "low": 4000},
            detector_pitch_mm=5.0,
            line_rate_hz=200.0,
            speed_mm_s=840.0,
        ),
        site=Site(name="Port of Test", machine_id="GATE-3", address="Quay 1", country="NL"),
        operator=Operator("officer-17", "A. Officer"),
        threats=[
            Threat(
                "side",
                Box(20, 10, 10, 6),
                category="CONTRABAND",
                assessment="THREAT",
                probability=0.8,
                origin="MACHINE",
                algorithm="atr",
                algorithm_version="2.0",
                description="cigarettes",
                polygon=np.array([[20, 10], [29, 10], [29, 15], [20, 15]]),
                mask=mask,
            ),
            Threat("top", Box(0, 0, 5, 5), category="PI", assessment="NO_THREAT", origin="OPERATOR"),
        ],
        provenance=Provenance(
            steps=(ProcessingStep("calibrate", {"floor": 1e-6}, "nii 0.1", datetime(2026, 3, 4, tzinfo=tz)),)
        ),
    )


@pytest.fixture
def scan() -> Scan:
    return make_scan()
