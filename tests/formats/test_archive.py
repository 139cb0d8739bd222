import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import nii
from nii.errors import (
    ConfigurationError,
    CorruptFileError,
    LimitExceededError,
    TruncatedFileError,
    UnknownFormatError,
    UnsupportedError,
    ValidationError,
)
from nii.formats.archive import (
    ArchiveFormat,
    Compression,
    append_archive,
    open_archive,
    write_archive,
)
from nii.limits import Limits, set_limits
from nii.registry import find_format
from tests.conftest import make_scan
from tests.helpers import assert_scans_equal

ROOT = Path(__file__).parents[2]


def truth_for(seed: int) -> tuple[dict[str, np.ndarray], dict]:
    rng = np.random.default_rng(seed)
    arrays = {
        "material": rng.integers(0, 4, size=(48, 80), dtype=np.uint8),
        "thickness_mm": rng.uniform(0, 300, size=(3, 48, 80)).astype(np.float32),
        "present": np.array(True),
    }
    return arrays, {"phantom": f"pallet-{seed}", "objects": [{"name": "steel", "box": [1, 2, 3, 4]}]}


@pytest.fixture
def library(tmp_path):
    """An archive of three scans, the second and third with truth."""
    scans = [make_scan(seed=seed) for seed in range(3)]
    truths = [truth_for(seed) for seed in range(3)]
    path = tmp_path / "library.niih5"
    items = [scans[0], (scans[1], *truths[1]), (scans[2], *truths[2])]
    assert write_archive(path, items) == range(3)
    return path, scans, truths


def test_one_scan_round_trip_through_the_registry(scan, tmp_path):
    path = tmp_path / "scan.niih5"
    assert nii.write(scan, path) == [path]
    back = nii.read(path)
    assert_scans_equal(back, scan)
    assert back.provenance.source_format == "nii-archive" and back.provenance.source_path == str(path)
    assert back.provenance.steps == scan.provenance.steps
    assert back.operator == scan.operator


@pytest.mark.parametrize("compression", list(Compression))
def test_every_compression_is_lossless_and_chunks_the_pixels(tmp_path, compression):
    scan = make_scan(rows=600, lines=200)
    path = tmp_path / "scan.niih5"
    write_archive(path, [scan], compression=compression)
    assert_scans_equal(nii.read(path), scan)
    with h5py.File(path, "r") as file:
        high = file["scans/0/views/side/channels/high"]
        small = file["scans/0/views/side/dark/high"]
        filters = high.id.get_create_plist().get_nfilters()
        assert small.chunks is None  # small arrays stay contiguous
        if compression is Compression.NONE:
            assert high.chunks is None and filters == 0
        else:
            assert high.chunks == (512, 200)
            pipeline = [high.id.get_create_plist().get_filter(i) for i in range(filters)]
            if compression is Compression.GZIP:
                assert [code for code, *_ in pipeline] == [h5py.h5z.FILTER_SHUFFLE, 1]
            else:
                [(code, _, values, _)] = pipeline
                # Blosc cd_values: level, shuffle (2: bit shuffle), compressor (1: LZ4, 5: Zstandard).
                compressor = {Compression.BLOSC_LZ4: 1, Compression.BLOSC_ZSTD: 5}[compression]
                assert code == 32001 and values[4:7] == ((5, 2, 1) if compressor == 1 else (3, 2, 5))


def test_compression_shrinks_smooth_images(tmp_path):
    scan = make_scan(rows=256, lines=512)
    ramp = np.add.outer(np.arange(256), np.arange(512)).astype(np.uint16)
    for view in scan.views:
        view.channels = {"high": ramp, "low": ramp // 2}
    sizes = {}
    for compression in Compression:
        path = tmp_path / f"{compression}.niih5"
        write_archive(path, [scan], compression=compression)
        sizes[compression] = path.stat().st_size
        assert_scans_equal(nii.read(path), scan)
    assert sizes[Compression.BLOSC_LZ4] < sizes[Compression.NONE] / 4
    assert sizes[Compression.BLOSC_ZSTD] < sizes[Compression.NONE] / 4
    assert sizes[Compression.GZIP] < sizes[Compression.NONE] / 4


def test_many_scans_with_truth_listed_and_read_by_index_or_uid(library):
    path, scans, truths = library
    with open_archive(path) as archive:
        assert len(archive) == 3
        entries = archive.entries
        assert [entry.index for entry in entries] == [0, 1, 2]
        assert [entry.scan_uid for entry in entries] == [s.scan_uid for s in scans]
        assert entries[1].views == {"side": (48, 80), "top": (48, 80)}
        assert entries[1].threat_count == 2 and entries[1].acquired_at == scans[1].acquired_at
        assert entries[0].truth_names == () and set(entries[2].truth_names) == set(truths[2][0])
        for index, scan in enumerate(scans):
            assert_scans_equal(archive.read(index), scan)
        assert_scans_equal(archive.read(scans[2].scan_uid), scans[2])
        assert_scans_equal(archive.read(-1), scans[2])
        assert archive.truth(0) == ({}, None)
        arrays, document = archive.truth(2)
        assert document == truths[2][1]
        assert arrays.keys() == truths[2][0].keys()
        for name, expected in truths[2][0].items():
            assert arrays[name].dtype == expected.dtype and arrays[name].shape == expected.shape
            np.testing.assert_array_equal(arrays[name], expected)
        with pytest.raises(ConfigurationError, match="library.niih5: scan index 3 is out of range"):
            archive.read(3)
        with pytest.raises(ConfigurationError, match="no scan with UID 1.2.3"):
            archive.read("1.2.3")
    assert_scans_equal(nii.read(path), scans[0])
    assert_scans_equal(nii.read(path, scan=1), scans[1])
    assert_scans_equal(nii.read(path, scan=scans[2].scan_uid), scans[2])


class CountingFile(io.RawIOBase):
    """A read-only file that records the byte range of every read."""

    def __init__(self, path):
        self._file = open(path, "rb")  # noqa: SIM115 (closed by close())
        self.reads: list[tuple[int, int]] = []

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        return self._file.seek(offset, whence)

    def tell(self):
        return self._file.tell()

    def readinto(self, buffer):
        start = self._file.tell()
        count = self._file.readinto(buffer)
        self.reads.append((start, start + count))
        return count

    def close(self):
        self._file.close()
        super().close()


def data_extents(group: h5py.Group) -> list[tuple[int, int]]:
    """Byte ranges of the raw data (chunks or contiguous blocks) of every dataset under ``group``."""
    extents = []

    def visit(_name, item):
        if not isinstance(item, h5py.Dataset) or item.shape == ():
            return
        if item.chunks is None:
            offset = item.id.get_offset()
            extents.append((offset, offset + item.id.get_storage_size()))
        else:
            for i in range(item.id.get_num_chunks()):
                info = item.id.get_chunk_info(i)
                extents.append((info.byte_offset, info.byte_offset + info.size))

    group.visititems(visit)
    return extents


def union(ranges):
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def overlap(reads, extents) -> int:
    """Bytes of ``extents`` covered by ``reads`` (each byte counted once)."""
    return sum(max(0, min(b, d) - max(a, c)) for a, b in union(reads) for c, d in union(extents))


def test_reading_one_scan_never_reads_the_others(tmp_path):
    scans = [make_scan(rows=256, lines=512, seed=seed) for seed in range(4)]
    path = tmp_path / "four.niih5"
    write_archive(path, scans)
    with h5py.File(path, "r") as file:
        extents = {index: data_extents(file[f"scans/{index}"]) for index in range(4)}
    target = 2
    counting = CountingFile(path)
    with open_archive(counting) as archive:
        assert len(archive) == 4
        back = archive.read(target)
    counting.close()
    assert_scans_equal(back, scans[target])
    own = sum(b - a for a, b in extents[target])
    others = [extent for index, group in extents.items() if index != target for extent in group]
    assert own > 1_000_000 and sum(b - a for a, b in others) > 2 * own
    # Every byte of the scan's own data is read; of the other scans' data at most a few KB each, at
    # block edges: HDF5 reads metadata speculatively in 512-byte blocks, and the check that no link
    # leads out of the file (nii.formats._hdf5_checks) reads every group's header.
    assert overlap(counting.reads, extents[target]) == own
    assert overlap(counting.reads, others) <= 4096 * (len(scans) - 1)
    assert sum(b - a for a, b in counting.reads) < own + 200_000


def test_append_adds_scans_and_keeps_the_old_ones(library):
    path, scans, _ = library
    path.chmod(0o640)
    extra = [make_scan(seed=10), (make_scan(seed=11), *truth_for(11))]
    assert append_archive(path, extra) == range(3, 5)
    assert path.stat().st_mode & 0o777 == 0o640
    with open_archive(path) as archive:
        assert len(archive) == 5
        for index, scan in enumerate(scans):
            assert_scans_equal(archive.read(index), scan)
        assert_scans_equal(archive.read(3), extra[0])
        assert archive.truth(4).metadata == truth_for(11)[1]
    assert sorted(p.name for p in path.parent.iterdir()) == ["library.niih5"]


def test_append_of_a_duplicate_uid_changes_nothing(library):
    path, scans, _ = library
    before = path.read_bytes()
    with pytest.raises(ValidationError, match=f"library.niih5: scan UID {scans[1].scan_uid} is already in the archive"):
        append_archive(path, [make_scan(seed=20), scans[1]])
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["library.niih5"]


def test_interrupted_append_leaves_the_archive_intact(library):
    path, _, _ = library
    before = path.read_bytes()

    def items():
        yield make_scan(seed=30)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        append_archive(path, items())
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["library.niih5"]


def test_append_killed_midway_leaves_the_archive_intact(library):
    path, scans, _ = library
    before = path.read_bytes()
    script = textwrap.dedent(
        """
        import os, signal, sys
        from nii.formats.archive import append_archive
        from tests.conftest import make_scan

        def items():
            yield make_scan(rows=512, lines=512, seed=40)
            os.kill(os.getpid(), signal.SIGKILL)

        append_archive(sys.argv[1], items())
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, capture_output=True)
    assert result.returncode == -9, result.stderr
    assert path.read_bytes() == before
    with open_archive(path) as archive:
        assert len(archive) == 3
        assert_scans_equal(archive.read(2), scans[2])
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert len(leftovers) == 1 and leftovers[0].startswith(".library.niih5.") and leftovers[0].endswith(".partial")


def test_content_is_sniffed_and_other_hdf5_is_not_claimed(scan, tmp_path):
    path = tmp_path / "scan.h5"
    nii.write(scan, path, format="nii-archive")
    assert isinstance(find_format(path), ArchiveFormat)
    assert nii.read(path).scan_uid == scan.scan_uid
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file.attrs["nii_format"] = "something-else"
        file["data"] = np.zeros((4, 4))
    with pytest.raises(UnknownFormatError, match="other.h5: not a known scan format"):
        nii.read(other)
    with pytest.raises(UnknownFormatError, match="other.h5: HDF5 file without the root attribute"):
        open_archive(other)
    npz = tmp_path / "scan.npz"
    nii.write(scan, npz)
    with pytest.raises(UnknownFormatError, match="scan.npz: not an HDF5 file"):
        open_archive(npz)


def test_sniffer_opens_files_whose_attribute_is_not_in_the_first_bytes(scan, tmp_path):
    path = tmp_path / "scan.bin"
    write_archive(path, [scan])
    head = path.read_bytes()[:4096]
    assert ArchiveFormat().can_read(head, path)
    blinded = b"\x89HDF\r\n\x1a\n" + bytes(100)  # as if another writer had put the attributes further on
    assert ArchiveFormat().can_read(blinded, path)
    assert not ArchiveFormat().can_read(blinded, tmp_path)


def test_failed_writes_leave_nothing(scan, tmp_path):
    path = tmp_path / "out.niih5"
    with pytest.raises(ValidationError, match="out.niih5: an archive needs at least one scan"):
        write_archive(path, [])
    with pytest.raises(ValidationError, match="truth array name 'a/b' of scan 0"):
        write_archive(path, [(scan, {"a/b": np.zeros(3)}, None)])
    with pytest.raises(ValidationError, match="truth JSON of scan 1 is not JSON-serialisable"):
        write_archive(path, [scan, (make_scan(seed=1), {}, {"when": object()})])
    with pytest.raises(ValidationError, match="truth array 'names' of scan 0 has element type object"):
        write_archive(path, [(scan, {"names": np.array(["a", None], dtype=object)}, None)])
    with pytest.raises(ValidationError, match="archive item 0 is str"):
        write_archive(path, ["scan.npz"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="already in the archive"):
        write_archive(path, [scan, scan])
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- bad input


def edit(path: Path, change) -> Path:
    with h5py.File(path, "r+") as file:
        change(file)
    return path


def set_metadata(file: h5py.File, index: int, change) -> None:
    document = json.loads(file[f"scans/{index}/metadata.json"][()])
    change(document)
    del file[f"scans/{index}/metadata.json"]
    file[f"scans/{index}/metadata.json"] = np.bytes_(json.dumps(document).encode())


@pytest.mark.parametrize("fraction", [0.03, 0.3, 0.7, 0.999])
def test_truncated_archive(scan, tmp_path, fraction):
    path = tmp_path / "scan.niih5"
    write_archive(path, [scan, make_scan(seed=1)])
    data = path.read_bytes()
    cut = tmp_path / "cut.niih5"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(
        TruncatedFileError, match=r"cut.niih5: truncated: the file holds \d+ bytes, its HDF5 superblock"
    ):
        nii.read(cut)


def test_missing_groups_and_datasets(library):
    path, _, _ = library
    with pytest.raises(
        CorruptFileError, match=r"library.niih5: array 'views/top/channels/low' named in the metadata is missing"
    ):
        nii.read(edit(path, lambda f: f.__delitem__("scans/1/views/top/channels/low")), scan=1)
    with pytest.raises(
        CorruptFileError, match=r"library.niih5: metadata of scan 0 \(/scans/0/metadata.json\) is missing"
    ):
        nii.read(edit(path, lambda f: f.__delitem__("scans/0/metadata.json")))
    with pytest.raises(CorruptFileError, match="library.niih5: scan groups must be numbered 0..1; found 2 groups"):
        nii.read(edit(path, lambda f: f.__delitem__("scans/1")))
    with pytest.raises(CorruptFileError, match="library.niih5: the group /scans is missing"):
        nii.read(edit(path, lambda f: f.__delitem__("scans")))


def test_lying_shapes_and_types(library):
    path, _, _ = library
    edit(path, lambda f: set_metadata(f, 0, lambda d: d["views"][0].update(shape=[49, 80])))
    with pytest.raises(
        CorruptFileError,
        match=r"views/side/channels/high of scan 0 is uint16 \(48, 80\), the metadata announces uint16 \(49, 80\)",
    ):
        nii.read(path)

    def to_float(f):
        del f["scans/1/views/side/channels/high"]
        f["scans/1/views/side/channels/high"] = np.zeros((48, 80), np.float32)

    with pytest.raises(CorruptFileError, match=r"scan 1 is float32 \(48, 80\), the metadata announces uint16"):
        nii.read(edit(path, to_float), scan=1)

    def to_text(f):
        del f["scans/2/truth/material"]
        f["scans/2/truth/material"] = np.array([b"abc"])

    with open_archive(edit(path, to_text)) as archive, pytest.raises(CorruptFileError, match="not a numeric array"):
        archive.truth(2)


def test_absurd_size_is_refused_before_allocation(library):
    path, _, _ = library

    def huge(f):
        for channel in ("high", "low"):
            key = f"scans/0/views/top/channels/{channel}"
            del f[key]
            f.create_dataset(key, shape=(10**6, 10**6), dtype=np.uint16, chunks=(256, 256))
        set_metadata(f, 0, lambda d: d["views"][1].update(shape=[10**6, 10**6]))

    with pytest.raises(LimitExceededError, match=r"library.niih5: .*over the limit"):
        nii.read(edit(path, huge))
    previous = set_limits(Limits(max_pixels=1000))
    try:
        with pytest.raises(LimitExceededError, match="library.niih5"):
            nii.read(path, scan=1)
    finally:
        set_limits(previous)


def test_missing_and_damaged_chunks(tmp_path):
    scan = make_scan(rows=300, lines=300)
    path = tmp_path / "scan.niih5"
    write_archive(path, [scan])

    def drop_chunks(f):
        del f["scans/0/views/side/channels/high"]
        dataset = f.create_dataset(
            "scans/0/views/side/channels/high", shape=(300, 300), dtype=np.uint16, chunks=(256, 256)
        )
        dataset[:256, :256] = 1  # one chunk of four

    with pytest.raises(TruncatedFileError, match="scan.niih5: .* announces 4 chunks of data, the file holds 1"):
        nii.read(edit(path, drop_chunks))
    write_archive(path, [scan], compression="gzip")
    with h5py.File(path, "r") as file:
        info = file["scans/0/views/top/channels/low"].id.get_chunk_info(0)
    data = bytearray(path.read_bytes())
    data[info.byte_offset : info.byte_offset + info.size] = bytes(info.size)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="scan.niih5: cannot read dataset views/top/channels/low of scan 0"):
        nii.read(path)


def test_bad_json_and_future_versions(library):
    path, _, _ = library

    def garble(f):
        del f["scans/0/metadata.json"]
        f["scans/0/metadata.json"] = np.bytes_(b"{not json")

    with pytest.raises(CorruptFileError, match="library.niih5: metadata of scan 0 is not valid JSON"):
        nii.read(edit(path, garble))
    with pytest.raises(CorruptFileError, match="library.niih5: malformed scan metadata"):
        nii.read(edit(path, lambda f: set_metadata(f, 1, lambda d: d.pop("site"))), scan=1)
    with pytest.raises(UnsupportedError, match="library.niih5: archive layout version 7"):
        nii.read(edit(path, lambda f: f.attrs.__setitem__("nii_archive_version", np.int32(7))))
