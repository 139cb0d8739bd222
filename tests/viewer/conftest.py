"""Scans for the viewer's tests: two small simulated cargo scans of one container (two scanners)
and a DICOS folder of the first, made once per session; fresh copies where a test writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import nii
from nii.simulate import simulate
from nii.viewer.app import create_app
from nii.viewer.catalogue import Catalogue


@pytest.fixture(scope="session")
def scan_files(tmp_path_factory) -> dict[str, Path]:
    """``a``: cargo on a 6/4 MV linac with its threats; ``b``: the same container on a 9/6 MV linac;
    ``dicos``: ``a`` as a DICOS folder."""
    folder = tmp_path_factory.mktemp("viewer-scans")
    first, _ = simulate("cargo", seed=1, rows=160, lines=560, threats_in_scan=True)
    second, _ = simulate("cargo", seed=1, scanner="linac-9/6", rows=150, lines=600)
    nii.write(first, folder / "a.npz")
    nii.write(second, folder / "b.npz")
    nii.write(first, folder / "a.dicos")
    return {"a": folder / "a.npz", "b": folder / "b.npz", "dicos": folder / "a.dicos"}


@pytest.fixture
def dicos_copy(scan_files, tmp_path) -> Path:
    """A DICOS folder the test may add reports to."""
    target = tmp_path / "a.dicos"
    shutil.copytree(scan_files["dicos"], target)
    return target


@pytest.fixture
def catalogue(scan_files, dicos_copy) -> Catalogue:
    """s0 = a.npz, s1 = b.npz, s2 = a copy of a.dicos."""
    return Catalogue([scan_files["a"], scan_files["b"], dicos_copy])


@pytest.fixture
def client(catalogue) -> TestClient:
    """The app over :func:`catalogue`; server errors come back as responses, as a browser sees them."""
    return TestClient(create_app(catalogue), raise_server_exceptions=False)
