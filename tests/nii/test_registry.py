import subprocess
import sys
from pathlib import Path

import pytest

import nii
import nii.formats
from nii.errors import CorruptFileError, FileAccessError, UnknownFormatError, UnsupportedError
from nii.registry import Format, available, find_format, get_format, register

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
