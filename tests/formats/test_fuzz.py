"""A bounded mutation fuzz run per reader, and the inputs earlier runs found, kept as regressions.

Each reader gets ``NII_FUZZ_INPUTS`` (default 150, the same ones every run; at most
``NII_FUZZ_SECONDS``, default 60) damaged copies of a good file (truncated,
bit-flipped, overwritten, header integers set to 0 / -1 / 2^31 / 2^63, numbers in text headers
replaced, wrong magic, garbage appended), read in a worker with a time limit per input and a
memory cap (:mod:`tests.formats.fuzzing`). Only ``nii.errors`` may come out: another exception, a
hang, a memory blow-up or a crash fails the test, and the input is written to the test's folder
to be added to ``tests/formats/fuzz_corpus/``.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import nii
from tests.conftest import make_scan
from tests.formats.fuzzing import Seed, Worker, keep, run_campaign
from tests.formats.vendor_scans import counts_scan, portal_scan

CORPUS = Path(__file__).parent / "fuzz_corpus"
EXAMPLE_PROFILE = Path(__file__).parents[2] / "docs/formats/example-profile.toml"
INPUTS = int(os.environ.get("NII_FUZZ_INPUTS", "150"))
SECONDS = float(os.environ.get("NII_FUZZ_SECONDS", "60"))


def _single(name: str, make: Callable[[], nii.Scan]) -> Callable[[Path], Seed]:
    def write(folder: Path) -> Seed:
        path = folder / name
        nii.write(make(), path)
        return Seed(path, path)

    return write


def _dicos(compression: str) -> Callable[[Path], Seed]:
    def write(folder: Path) -> Seed:
        path = folder / "scan.dicos"
        nii.write(make_scan(), path, compression=compression)
        return Seed(path, sorted(path.glob("dx-*.dcs"))[0])

    return write


def _npy(folder: Path) -> Seed:
    path = folder / "export.npy"
    np.save(path, np.random.default_rng(0).integers(0, 60000, (48, 80, 2)).astype(np.uint16))
    return Seed(path, path)


def _profile(damage: str) -> Callable[[Path], Seed]:
    """The documented example profile and a portal export it describes; ``damage`` the export or the profile."""

    def write(folder: Path) -> Seed:
        profile = folder / "example-profile.toml"
        shutil.copy(EXAMPLE_PROFILE, profile)
        rows, lines, calibration = 16, 40, 8 + 16  # the example profile has 8 dark and 16 air lines
        block = np.random.default_rng(5).integers(0, 16384, (calibration + lines, 2, rows)).astype(">u2")
        path = folder / "portal.bin"
        path.write_bytes(
            b"NIIX" + struct.pack("<HHIIq", 1, 0, rows, lines, 1_767_225_600) + bytes(40) + block.tobytes()
        )
        return Seed(path, profile if damage == "profile" else path, {"format": "profile", "profile": str(profile)})

    return write


SEEDS: dict[str, Callable[[Path], Seed]] = {
    "npz": _single("scan.npz", make_scan),
    "nii-archive": _single("scans.niih5", make_scan),
    "ref-rawxml": _single("scan.rxr", counts_scan),
    "ref-tiff": _single("scan.tif", make_scan),
    "ref-hdf5": _single("scan.rh5", make_scan),
    "ref-packed12": _single("scan.p12", portal_scan),
    "dicos": _dicos("none"),
    "dicos-rle": _dicos("rle"),
    "dicos-jpeg-lossless": _dicos("jpeg-lossless"),
    "npy": _npy,
    "profile": _profile("export"),
    "profile-toml": _profile("profile"),
}
"""Reader → writes a good file in a folder; returns (what to read, the file to damage)."""


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_damaged_files_give_only_nii_errors(name, tmp_path):
    seed = SEEDS[name](tmp_path)
    nii.read(seed.read, **seed.options)  # the undamaged file reads
    campaign = run_campaign(name, seed, seconds=SECONDS, limit=INPUTS)
    print(f"\n{name}: {campaign.tried} damaged inputs, outcomes {dict(campaign.outcomes)}")
    kept = keep(campaign, tmp_path / "findings", seed)
    assert not campaign.findings, [f"{kind}: {outcome}" for kind, outcome, _ in campaign.findings] + [
        f"inputs kept in {tmp_path / 'findings'}: {[p.name for p in kept]}"
    ]
    assert campaign.tried >= 10
    assert campaign.outcomes["nii"] > 0  # the damage was seen


def corpus() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*/*") if p.suffix != ".txt") if CORPUS.exists() else []


def test_every_kept_crash_input_reads_or_gives_a_nii_error(tmp_path):
    """Each input a campaign found (a file, or a DICOS folder with a damaged member) is read again.

    A reader may come to accept an input it once refused, as it learns the tolerance of the
    reference toolkit (an empty TDR algorithm name, say, which `nii validate` still flags); what it
    must never do again is let another exception out, hang or die, or fail with a library exception
    its format does not declare (``Format.read_errors``: "nii: ... from ..." is the last resort's).
    """
    inputs = corpus()
    assert inputs, "the corpus holds the inputs earlier campaigns found"
    worker = Worker()
    try:
        outcomes = {}
        for path in inputs:
            copy = tmp_path / path.parent.name / path.name  # readers may not write beside the corpus
            copy.parent.mkdir(exist_ok=True)
            (shutil.copytree if path.is_dir() else shutil.copy)(path, copy)
            outcomes[path.relative_to(CORPUS)] = worker.read(copy)
            if not worker.alive():
                worker = Worker()
    finally:
        worker.close()
    assert {
        str(k): v for k, v in outcomes.items() if not (v == "ok" or (v.startswith("nii") and " from " not in v))
    } == {}
