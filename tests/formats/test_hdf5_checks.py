"""HDF5 structures checked before libhdf5 follows them (formats/_hdf5_checks.py), on real damaged bytes.

Each damage below is made in a file nii wrote; libhdf5 would crash on, or follow out of the file,
what the checks refuse. The first test reads an input a fuzz campaign found (libhdf5 died with
SIGSEGV on it) through the CLI in a subprocess, so a regression is a failing test, not a dead run.
"""

import struct
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import nii
from nii.errors import CorruptFileError, UnsupportedError
from tests.conftest import make_scan
from tests.helpers import assert_scans_equal

CORPUS = Path(__file__).parent / "fuzz_corpus"
USER_BLOCK = 512


def test_a_damaged_attribute_datatype_is_one_error_line_not_a_crash(tmp_path):
    # Found by the ref-hdf5 campaign: the variable-length kind of /operator's "name" reads 9 (neither
    # sequence nor string); libhdf5 died with SIGSEGV reading it, in `nii info` and in every batch.
    path = tmp_path / "vlen-kind-0.rh5"
    path.write_bytes((CORPUS / "ref-hdf5" / "vlen-kind-0.rh5").read_bytes())
    done = subprocess.run([sys.executable, "-m", "nii", "info", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and str(path) in lines[0], lines
    assert "/operator: attribute 'name' has a datatype nii does not read" in lines[0]


@pytest.fixture
def written(tmp_path):
    path = tmp_path / "cargo.rh5"
    nii.write(make_scan(), path)
    return path


def heap_element(data: bytes, text: bytes) -> int:
    """Where the attribute value ``text`` (a variable-length string) keeps its heap reference."""
    collection = data.index(b"GCOL\x01\x00\x00\x00")
    here = collection + 16
    while True:
        index, _, size = struct.unpack_from("<HHxxxxQ", data, here)
        if data[here + 16 : here + 16 + size] == text:
            break
        here += 16 + -(-size // 8) * 8
    element = struct.pack("<IQI", len(text), collection - USER_BLOCK, index)
    assert data.count(element) == 1
    return data.index(element)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("length", 3, "refers to object"),  # libhdf5 would copy 16 bytes into a buffer of 3
        ("length", 2**31, "refers to object"),
        ("index", 999, "the heap holds no such object"),
        ("collection", 24, "where there is none"),
    ],
)
def test_a_damaged_heap_reference_of_an_attribute_is_refused(written, field, value, problem):
    data = bytearray(written.read_bytes())
    start = heap_element(data, b"officer-17")
    offset, form = {"length": (0, "<I"), "collection": (4, "<Q"), "index": (12, "<I")}[field]
    struct.pack_into(form, data, start + offset, value)
    written.write_bytes(data)
    with pytest.raises(CorruptFileError, match=f"/operator: attribute 'identifier' .*{problem}") as caught:
        nii.read(written)
    assert caught.value.path == written


def test_a_number_attribute_turned_into_variable_length_text_is_refused(written):
    # The class nibble of /scanner's float64 datatype flipped to 9: libhdf5 would take the
    # value's bytes for a heap reference.
    data = bytearray(written.read_bytes())
    float64 = bytes.fromhex("11203f00080000000000400034") + bytes([11, 0, 52]) + struct.pack("<I", 1023)
    start = data.index(float64)
    data[start] = 0x19
    written.write_bytes(data)
    with pytest.raises(CorruptFileError, match="/scanner: attribute .* has a datatype nii does not read"):
        nii.read(written)


def test_an_object_reference_attribute_is_refused(written):
    with h5py.File(written, "r+") as file:
        file["object"].attrs["see"] = file["views"].ref
    with pytest.raises(CorruptFileError, match="attribute 'see' has a datatype nii does not read"):
        nii.read(written)


def test_a_link_to_another_file_is_refused_before_it_is_followed(written, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file.create_dataset("x", data=np.zeros((48, 80), np.uint16))
    with h5py.File(written, "r+") as file:
        file["views/side/extra"] = h5py.ExternalLink(str(other), "/x")
    with pytest.raises(CorruptFileError, match="/views/side/extra links to another file"):
        nii.read(written)


def test_a_dataset_with_its_data_in_another_file_is_refused(written, tmp_path):
    raw = tmp_path / "positions.bin"
    raw.write_bytes(np.arange(80, dtype=np.float64).tobytes())
    with h5py.File(written, "r+") as file:
        del file["views/side/line_positions_mm"]
        file["views/side"].create_dataset("line_positions_mm", (80,), np.float64, external=[(str(raw), 0, 640)])
    with pytest.raises(CorruptFileError, match="line_positions_mm keeps its data in other files"):
        nii.read(written)


def test_attributes_in_dense_storage_are_refused_not_read_unchecked(written):
    with h5py.File(written, "r+") as file:
        for index in range(10):  # more than 8 attributes on a new-style header: a fractal heap
            file.attrs[f"extra_{index}"] = f"value {index}"
    with pytest.raises(UnsupportedError, match="attributes in dense storage"):
        nii.read(written)


def test_every_attribute_of_a_good_file_is_checked_and_read(written):
    scan = nii.read(written)
    assert scan.operator is not None and scan.operator.identifier == "officer-17"
    assert scan.scanner.manufacturer == "nii reference" and scan.threats


def test_the_archive_checks_its_root_attributes_and_links(tmp_path):
    path = tmp_path / "scans.niih5"
    nii.write(make_scan(), path)
    with h5py.File(path, "r+") as file:
        file.attrs["see"] = file["scans"].ref
    with pytest.raises(CorruptFileError, match="attribute 'see' has a datatype nii does not read"):
        nii.read(path, format="nii-archive")
    with h5py.File(path, "r+") as file:
        del file.attrs["see"]
        file["scans/0/elsewhere"] = h5py.ExternalLink("other.h5", "/")
    with pytest.raises(CorruptFileError, match="/scans/0/elsewhere links to another file"):
        nii.read(path)


def test_only_the_heap_collections_that_checked_values_refer_to_are_walked(written, tmp_path):
    # A collection that would hang libhdf5 (an object of size 0) but that no attribute refers to: libhdf5
    # never loads it, so reading goes on; the file is not scanned for collections on every read.
    data = written.read_bytes()
    stray = b"GCOL\x01\x00\x00\x00" + struct.pack("<Q", 4096) + bytes(4096 - 16)
    damaged = tmp_path / "stray-heap.rh5"
    damaged.write_bytes(data + stray)
    # (ref-hdf5 stores no frame of reference: each file is given its own)
    assert_scans_equal(nii.read(damaged), nii.read(written), ignore=("provenance", "frame_of_reference_uid"))


def test_an_archive_opened_from_a_file_object_is_checked_too(tmp_path):
    from nii.formats.archive import open_archive

    path = tmp_path / "lib.niih5"
    nii.write(make_scan(), path, format="nii-archive")
    data = bytearray(path.read_bytes())
    int32 = bytes.fromhex("100800000400000000002000")  # the root's nii_archive_version attribute
    data[data.index(int32)] = 0x19  # its class nibble now says variable-length
    path.write_bytes(data)
    problem = "/: attribute 'nii_archive_version' has a datatype nii does not read"
    with pytest.raises(CorruptFileError, match=problem):
        open_archive(path)
    with pytest.raises(CorruptFileError, match=problem), open(path, "rb") as handle:
        open_archive(handle)


def test_a_stream_that_reads_short_is_an_error_not_a_crash(tmp_path):
    import io

    from nii.formats.archive import open_archive

    class ShortReads(io.BytesIO):
        def read(self, size=-1):  # fewer bytes than asked (h5py itself reads with readinto)
            return super().read(max(0, size // 2) if size and size > 0 else size)

    path = tmp_path / "lib.niih5"
    nii.write(make_scan(), path, format="nii-archive")
    with pytest.raises(CorruptFileError, match="could be read"):
        open_archive(ShortReads(path.read_bytes()))
