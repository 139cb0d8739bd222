import subprocess
import sys
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import nii
import nii.formats
from nii.errors import (
    ConfigurationError,
    CorruptFileError,
    FileAccessError,
    LimitExceededError,
    UnknownFormatError,
    UnsupportedError,
)
from nii.model import CalibrationState
from nii.registry import Format, Option, available, declare, find_format, get_format, library_errors, register
from tests.conftest import make_scan

PLUGIN = Path(__file__).parents[1] / "plugin_dist"


def test_builtin_formats_are_available():
    names = [f.name for f in nii.formats.available()]
    assert "npz" in names
    assert get_format("NPZ").name == "npz"
    with pytest.raises(UnknownFormatError, match="no format called 'nope'"):
        get_format("nope")


def test_sniffing_errors(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.touch()
    with pytest.raises(CorruptFileError, match="empty.npz: file is empty"):
        find_format(empty)
    noise = tmp_path / "noise.npz"
    noise.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnknownFormatError, match="noise.npz: not a known scan format"):
        find_format(noise)
    with pytest.raises(FileAccessError, match="no such file"):
        find_format(tmp_path / "missing")
    with pytest.raises(UnknownFormatError, match="folder holds no scan"):
        find_format(tmp_path)


def test_write_needs_a_known_writable_format(scan, tmp_path):
    with pytest.raises(UnknownFormatError, match="cannot tell the output format"):
        nii.write(scan, tmp_path / "scan.xyz")

    class ReadOnly(Format):
        name = "readonly-test"
        extensions = (".ro",)

        def can_read(self, head, path):
            return False

        def read(self, path, **options):  # pragma: no cover - never sniffed
            raise AssertionError

    register(ReadOnly)
    assert get_format("readonly-test").can_read_files and not get_format("readonly-test").can_write_files
    with pytest.raises(UnsupportedError, match="read-only"):
        nii.write(scan, tmp_path / "x.ro", format="readonly-test")
    with pytest.raises(ValueError, match="already taken"):

        class Clash(Format):
            name = "npz"

        register(Clash)


def test_entry_point_plugin_is_picked_up(tmp_path):
    """Install the tiny plug-in distribution from tests/ and use it from a fresh process."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
    )
    sample = tmp_path / "sample.weird"  # extension unknown: found by content
    sample.write_bytes(b"EXMP" + (3).to_bytes(2, "little") + (2).to_bytes(2, "little") + bytes(range(12)))
    code = (
        "import sys, nii, nii.formats;"
        "names = [f.name for f in nii.formats.available()];"
        "scan = nii.read(sys.argv[1]);"
        "print(names, scan.views[0].channels['single'].tolist())"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code, str(sample)], capture_output=True, text=True, env=env, check=True)
    assert "'example'" in out.stdout and "'npz'" in out.stdout
    assert "[[256, 770], [1284, 1798], [2312, 2826]]" in out.stdout
    assert any(f.name == "npz" for f in available())


def mapped(array):
    while array is not None:
        if isinstance(array, np.memmap):
            return True
        array = getattr(array, "base", None)
    return False


def test_declared_options_are_checked_once_with_one_clear_error(scan, tmp_path):
    path = nii.write(scan, tmp_path / "scan.npz")[0]
    with pytest.raises(ConfigurationError, match=r"scan.npz: the npz reader has no option 'bogus'; it takes mmap$"):
        nii.read(path, bogus=1)
    with pytest.raises(ConfigurationError, match="npz reader option 'mmap' must be true or false, got 'maybe'"):
        nii.read(path, mmap="maybe")
    with pytest.raises(ConfigurationError, match="npz reader option 'mmap' must be bool, got 3"):
        nii.read(path, mmap=3)
    read_in_memory = nii.read(path, mmap="no")  # a CLI string, converted to the declared kind
    assert not mapped(read_in_memory.views[0].channels["high"])
    assert mapped(nii.read(path).views[0].channels["high"])  # the declared default
    with pytest.raises(ConfigurationError, match="nii-archive writer option 'compression' must be one of blosc-lz4"):
        nii.write(scan, tmp_path / "a.niih5", compression="lzma")
    with pytest.raises(ConfigurationError, match="dicos writer option 'modality' must be one of XRAY, DX; got 'CT'"):
        nii.write(scan, tmp_path / "a.dicos", modality="CT")
    with pytest.raises(ConfigurationError, match="the ref-tiff writer has no option 'compression'; it takes none"):
        nii.write(scan, tmp_path / "a.tif", compression="gzip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.npz"]  # nothing written by a refused call


def test_option_kinds_choices_and_description():
    calibration = Option("what the values are", default=CalibrationState.RAW, kind=CalibrationState)
    assert calibration.check("attenuation") is CalibrationState.ATTENUATION
    with pytest.raises(ValueError, match="must be one of RAW, TRANSMISSION, ATTENUATION; got 'counts'"):
        calibration.check("counts")
    assert (
        calibration.describe()
        == "CalibrationState (RAW, TRANSMISSION, ATTENUATION), default 'RAW': what the values are"
    )
    index = Option("which scan", default=0, kind=(int, str))
    assert index.check(2) == 2 and index.check("1.2.3") == "1.2.3"
    with pytest.raises(ValueError, match="must be int or str, got True"):
        index.check(True)
    assert Option("a float", default=1.0, kind=float).check(" 2.5") == 2.5
    assert Option("anything", kind=object).check([1, 2]) == [1, 2]
    with pytest.raises(ValueError, match="must be one of a, b; got 'c'"):
        Option("letters", default="a", choices=("a", "b")).check("c")


class Recording(Format):
    """A plug-in that declares no options: it gets them as given, unchecked."""

    name = "recording-test"
    extensions = (".rec",)
    given: ClassVar[list[dict]] = []

    def read(self, path, **options):
        self.given.append(options)
        return make_scan()


def test_undeclared_options_pass_through_and_nii_read_stamps_provenance_once(tmp_path):
    register(Recording)
    path = tmp_path / "a.rec"
    path.write_bytes(b"REC")
    scan = nii.read(path, format="recording-test", anything=1)
    assert Recording.given == [{"anything": 1}]
    assert (scan.provenance.source_path, scan.provenance.source_format) == (str(path), "recording-test")
    assert scan.provenance.reader_version == "1"
    assert [step.name for step in scan.provenance.steps] == ["calibrate"]  # the reader's steps kept


@pytest.mark.parametrize("name", ["npz", "nii-archive", "dicos", "ref-hdf5", "ref-tiff"])
def test_readers_return_the_file_and_nii_read_records_the_source(scan, tmp_path, name):
    fmt = get_format(name)
    path = tmp_path / f"scan{fmt.extensions[0]}"
    nii.write(scan, path, format=name)
    direct = fmt.read(path, **{option: spec.default for option, spec in fmt.read_options.items()})
    assert (direct.provenance.source_path, direct.provenance.source_format) == (None, None)  # as written
    read = nii.read(path)
    assert read.provenance.source_path == str(path)
    assert (read.provenance.source_format, read.provenance.reader_version) == (name, fmt.version)
    assert read.provenance.steps == direct.provenance.steps


class _Failing(Format):
    """A reader failing as its libraries do."""

    name = "failing-test"
    read_errors = library_errors("zipfile.BadZipFile", limits=("zipfile.LargeZipFile",))
    read_options = declare(raise_=Option("the exception to raise", kind=object))

    def read(self, path, **options):  # type: ignore[no-untyped-def]
        raise options["raise_"]


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (zipfile.BadZipFile("Bad CRC-32"), CorruptFileError, "damaged failing-test file \\(BadZipFile: Bad CRC-32\\)"),
        (zipfile.LargeZipFile("ZIP64"), LimitExceededError, "damaged failing-test file \\(LargeZipFile"),
        (MemoryError(), LimitExceededError, "failing-test reader ran out of memory"),
        (TypeError("a bug"), CorruptFileError, "failing-test reader failed: TypeError: a bug"),
        (CorruptFileError("as the reader says"), CorruptFileError, "as the reader says"),
    ],
)
def test_a_reader_called_directly_raises_only_nii_errors_naming_the_file(tmp_path, raised, expected, message):
    path = tmp_path / "x.bin"
    with pytest.raises(expected, match=message) as caught:
        _Failing().read(path, raise_=raised)
    assert caught.type is expected
    if not isinstance(raised, CorruptFileError):
        assert caught.value.path == path and caught.value.__cause__ is raised


def test_ctrl_c_and_exit_pass_through_a_reader(tmp_path):
    for stop in (KeyboardInterrupt(), SystemExit(3)):
        with pytest.raises(type(stop)):
            _Failing().read(tmp_path / "x.bin", raise_=stop)


def test_every_builtin_reader_maps_library_errors(tmp_path):
    """Each reader's read is wrapped, whichever way it is called: a damaged npz through the format object."""
    path = tmp_path / "scan.npz"
    nii.write(make_scan(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a member: its CRC no longer matches
    path.write_bytes(data)
    with pytest.raises(CorruptFileError) as caught:
        np.asarray(get_format("npz").read(path, mmap=False).views[0].channels["high"])
    assert caught.value.path == path
    assert all(type(f).read is Format.read or hasattr(type(f).read, "__wrapped__") for f in available())
