"""DICOS files written by nii (hand-built and simulated scans), TLS certificates, a running `nii receive`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import nii
from nii.model import View, new_uid
from nii.simulate import simulate
from tests.formats.dicos.conftest import make_baggage_scan

from .tools import ReceiverProcess, make_certificates

COMPRESSIONS = ("none", "rle", "jpeg-lossless", "jpegls", "j2k")
LOAD_SCANS = 100
ALLOWED = "STORESCU,ECHOSCU,NII,NII2"
MAX_OBJECT_BYTES = 100_000


@pytest.fixture(scope="session")
def dicos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bag-<compression>/``: a DX, CT and TDR baggage scan in every transfer syntax nii writes (each
    its own scan UID); ``suitcase/``: a simulated scan; ``load/NNN/``: 100 one-file simulated scans."""
    root = tmp_path_factory.mktemp("dicos")
    bag = make_baggage_scan(large=True)
    for compression in COMPRESSIONS:
        scan = dataclasses.replace(bag, scan_uid=new_uid(), frame_of_reference_uid=new_uid())
        nii.write(scan, root / f"bag-{compression}", format="dicos", compression=compression)
    suitcase, _ = simulate("suitcase", seed=1, rows=16, lines=24)
    nii.write(suitcase, root / "suitcase", format="dicos")
    view = suitcase.views[0]
    single = dataclasses.replace(suitcase, views=[View(view.name, {"high": view.channels["high"]}, view.geometry)])
    (root / "load").mkdir()
    for index in range(LOAD_SCANS):
        scan = dataclasses.replace(single, threats=[], scan_uid=new_uid(), frame_of_reference_uid=new_uid())
        nii.write(scan, root / "load" / f"{index:03d}", format="dicos")
    return root


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory):
    """One `nii receive` for a module's tests: they also show it keeps serving after refusals."""
    store = tmp_path_factory.mktemp("store")
    process = ReceiverProcess(
        store, "--ae-title", "NIISCP", "--allow", ALLOWED, "--max-object-bytes", str(MAX_OBJECT_BYTES)
    ).start()
    yield process
    assert process.stop() == 0
