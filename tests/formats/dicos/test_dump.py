"""``nii dump``: every attribute dcmdump shows, with DICOS names, as text and JSON."""

from __future__ import annotations

import json
import re

import pytest

import nii
from nii.cli import main
from tests.formats.dicos.conftest import make_baggage_scan
from tests.formats.dicos.tools import require_program, run


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("dump") / "scan.dicos"
    nii.write(make_baggage_scan(), path)
    return path


def _tags(entries: list[dict]) -> set[str]:
    found = set()
    for entry in entries:
        found.add(entry["tag"])
        for item in entry.get("items", []):
            found |= _tags(item)
    return found


@pytest.mark.parametrize("name", ["dx-side-high.dcs", "ct-ct.dcs", "tdr-1.dcs"])
def test_dump_lists_every_element_dcmdump_shows(folder, name, capsys):
    assert main(["dump", "--json", str(folder / name)]) == 0
    entries = json.loads(capsys.readouterr().out)
    dump = run(require_program("dcmdump"), "+L", folder / name)
    theirs = {f"({m.group(1).upper()})" for m in re.finditer(r"^\s*\(([0-9a-f]{4},[0-9a-f]{4})\)", dump.stdout, re.M)}
    theirs -= {"(FFFE,E000)", "(FFFE,E00D)", "(FFFE,E0DD)"}  # item delimiters
    assert theirs and theirs <= _tags(entries), theirs - _tags(entries)


def test_dump_names_attributes_as_dicos_does(folder, capsys):
    assert main(["dump", str(folder / "tdr-1.dcs")]) == 0
    text = capsys.readouterr().out
    for line in (
        "(0010,0020) LO OOI ID",
        "(0020,000d) UI Scan Instance UID",
        "(4010,1042) CS OOI Type",
        "(4010,1011) SQ Threat Sequence",
        "(4010,1005) FL Threat ROI Extents",
        "(0002,0004) CS DICOS Version (meta)",
    ):
        assert line in text, line
    assert main(["dump", str(folder / "dx-side-high.dcs")]) == 0
    text = capsys.readouterr().out
    assert re.search(r"\(0008,0118\) CS Image Origin\s+MACHINE", text)
    assert re.search(r"\(7fe0,0010\) OB Pixel Data\s+<\d+ bytes>", text) or "(7fe0,0010) OW Pixel Data" in text


def test_dump_of_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["dump", str(tmp_path / "none.dcs")]) == 1
    assert "cannot read" in capsys.readouterr().err
