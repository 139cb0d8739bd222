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
from collections.abc import Callable
from pathlib import Path

import pytest

import nii
from tests.conftest import make_scan
from tests.formats.fuzzing import Worker, keep, run_campaign
from tests.formats.vendor_scans import counts_scan, portal_scan

CORPUS = Path(__file__).parent / "fuzz_corpus"
INPUTS = int(os.environ.get("NII_FUZZ_INPUTS", "150"))
SECONDS = float(os.environ.get("NII_FUZZ_SECONDS", "60"))


def _single(name: str, make: Callable[[], nii.Scan]) -> Callable[[Path], tuple[Path, Path]]:
    def write(folder: Path) -> tuple[Path, Path]:
        path = folder / name
        nii.write(make(), path)
        return path, path

    return write


def _dicos(compression: str) -> Callable[[Path], tuple[Path, Path]]:
    def write(folder: Path) -> tuple[Path, Path]:
        path = folder / "scan.dicos"
        nii.write(make_scan(), path, compression=compression)
        return path, sorted(path.glob("dx-*.dcs"))[0]

    return write


SEEDS: dict[str, Callable[[Path], tuple[Path, Path]]] = {
    "npz": _single("scan.npz", make_scan),
    "nii-archive": _single("scans.niih5", make_scan),
    "ref-rawxml": _single("scan.rxr", counts_scan),
    "ref-tiff": _single("scan.tif", make_scan),
    "ref-hdf5": _single("scan.rh5", make_scan),
    "ref-packed12": _single("scan.p12", portal_scan),
    "dicos": _dicos("none"),
    "dicos-rle": _dicos("rle"),
    "dicos-jpeg-lossless": _dicos("jpeg-lossless"),
}
"""Reader → writes a good file in a folder; returns (what to read, the file to damage)."""


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_damaged_files_give_only_nii_errors(name, tmp_path):
    seed, member = SEEDS[name](tmp_path)
    nii.read(seed)  # the undamaged file reads
    campaign = run_campaign(name, seed, member, seconds=SECONDS, limit=INPUTS)
    print(f"\n{name}: {campaign.tried} damaged inputs, outcomes {dict(campaign.outcomes)}")
    kept = keep(campaign, tmp_path / "findings", seed, member)
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
    must never do again is let another exception out, hang or die.
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
    assert {str(k): v for k, v in outcomes.items() if not (v == "ok" or v.startswith("nii"))} == {}
