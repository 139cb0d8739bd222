"""Each reference format is recognised from its content only, and by no other format."""

import pytest

import nii
from nii.cli import main
from nii.registry import HEAD_SIZE, available
from tests.formats.vendor_scans import counts_scan, portal_scan

FORMATS = ["ref-rawxml", "ref-tiff", "ref-hdf5", "ref-packed12"]
WRONG_EXTENSION = {"ref-rawxml": ".tif", "ref-tiff": ".rh5", "ref-hdf5": ".p12", "ref-packed12": ".rxr"}
"""Each file is named as if it were of another format: the content must win."""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sniff")
    written = {}
    for name in FORMATS:
        scan = portal_scan() if name == "ref-packed12" else counts_scan()
        path = folder / f"{name}{WRONG_EXTENSION[name]}"
        nii.write(scan, path, format=name)
        written[name] = path
    return written


@pytest.mark.parametrize("name", FORMATS)
def test_exactly_one_format_recognises_each_file(files, name):
    path = files[name]
    with open(path, "rb") as handle:
        head = handle.read(HEAD_SIZE)
    claiming = [fmt.name for fmt in available() if fmt.can_read_files and fmt.can_read(head, path)]
    assert claiming == [name]
    assert nii.read(path).provenance.source_format == name


def test_formats_are_listed_with_read_and_write():
    listed = {fmt.name: fmt for fmt in available()}
    for name in FORMATS:
        assert listed[name].can_read_files and listed[name].can_write_files
    assert listed["profile"].can_read_files and not listed["profile"].can_write_files


@pytest.mark.parametrize("name", FORMATS)
def test_nii_info_describes_each_format(files, name, capsys):
    assert main(["info", str(files[name])]) == 0
    out = capsys.readouterr().out
    assert f": {name} scan" in out and "view side" in out and "high" in out
