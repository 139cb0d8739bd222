import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import nii
from nii.errors import ConfigurationError, CorruptFileError, TruncatedFileError
from nii.formats.profile import RawProfile, check_file
from nii.kernels.decode import pack12_reference
from tests.formats.vendor_scans import assert_refused_before_allocating

ROWS, LINES, DARK, AIR = 6, 10, 2, 3
EXAMPLE = Path(__file__).parents[2] / "docs/formats/example-profile.toml"


def toml(value):
    """Enough TOML for these tests: scalars, lists and inline tables."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def write_profile(path, tables):
    path.write_text(
        "\n".join(f"[{name}]\n" + "".join(f"{k} = {toml(v)}\n" for k, v in t.items()) for name, t in tables.items())
    )
    return path


def encode(block, *, dtype, endian, layout, order):
    """Independent numpy encoder: ``block`` is (channels, lines, rows), calibration lines first."""
    if layout == "planar":
        stored = block if order == "line" else block.transpose(0, 2, 1)
    elif layout == "line":
        stored = block.transpose(1, 0, 2)
    else:
        stored = block.transpose(1, 2, 0) if order == "line" else block.transpose(2, 1, 0)
    flat = np.ascontiguousarray(stored).reshape(-1)
    if dtype == "uint12":
        return pack12_reference(flat.astype(np.uint16), big_endian=endian == "big").tobytes()
    return flat.astype(("<" if endian == "little" else ">") + np.dtype(dtype).str[1:]).tobytes()


def tables(**data):
    return {
        "data": {
            "channels": ["high", "low"],
            "rows": ROWS,
            "lines": LINES,
            "dark_lines": DARK,
            "air_lines": AIR,
            **data,
        },
        "scan": {"view": "side", "acquired_at": "file-mtime"},
        "geometry": {"detector_spacing_mm": 5.0, "travel_spacing_mm": 4.0},
        "object": {"type": "cargo"},
        "scanner": {"energies_kv": {"high": 6000, "low": 4000}},
    }


def sample_block(dtype, seed=0):
    rng = np.random.default_rng(seed)
    high = {"uint8": 255, "uint12": 4095, "float32": 1.0, "float64": 1.0}.get(dtype, 60000)
    if dtype.startswith("float"):
        return rng.uniform(0, high, (2, DARK + AIR + LINES, ROWS)).astype(dtype)
    low = -30000 if dtype == "int16" else 0
    native = "uint16" if dtype == "uint12" else dtype
    return rng.integers(low, high, (2, DARK + AIR + LINES, ROWS), endpoint=True).astype(native)


@pytest.mark.parametrize(
    ("dtype", "endian", "layout", "order"),
    [
        ("uint16", "big", "line", "line"),
        ("uint16", "little", "planar", "line"),
        ("int16", "big", "planar", "row"),
        ("uint16", "big", "pixel", "line"),
        ("uint8", "little", "pixel", "row"),
        ("uint12", "little", "line", "line"),
        ("uint12", "big", "planar", "row"),
        ("uint32", "big", "line", "line"),
        ("float32", "big", "line", "line"),
        ("float64", "little", "pixel", "line"),
    ],
)
def test_every_layout_decodes_to_the_encoded_samples(tmp_path, dtype, endian, layout, order):
    block = sample_block(dtype)
    path = tmp_path / "export.raw"
    path.write_bytes(encode(block, dtype=dtype, endian=endian, layout=layout, order=order))
    profile = RawProfile.from_dict(tables(dtype=dtype, endian=endian, layout=layout, order=order))
    scan = nii.read(path, format="profile", profile=profile)
    view = scan.view("side")
    for index, name in enumerate(("high", "low")):
        expected = block[index]  # (lines, rows)
        assert view.channels[name].dtype == block.dtype
        np.testing.assert_array_equal(view.channels[name], expected[DARK + AIR :].T)
        np.testing.assert_array_equal(view.dark[name], expected[:DARK].T)
        np.testing.assert_array_equal(view.air[name], expected[DARK:].T[:, :AIR])
    assert scan.scanner.energies_kv == {"high": 6000.0, "low": 4000.0}
    assert scan.inspected_object.type == "CARGO" and scan.view("side").geometry.travel_spacing_mm == 4.0
    assert scan.acquired_at == datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    assert check_file(profile, path).ok


def header_tables(**data):
    result = tables(
        layout="line",
        dtype="uint16",
        endian="big",
        rows={"offset": 8, "type": "uint32"},
        lines={"offset": 12, "type": "uint32"},
        **data,
    )
    result["header"] = {"size": 32, "endian": "little", "magic": "RAWX"}
    result["scan"]["acquired_at"] = {"offset": 16, "type": "int64", "unit": "ms"}
    return result


def header(rows=ROWS, lines=LINES, stamp_ms=1_767_225_600_000, magic=b"RAWX"):
    return magic + b"\0" * 4 + struct.pack("<IIq", rows, lines, stamp_ms) + b"\0" * 8


def test_sizes_and_time_from_the_header(tmp_path):
    block = sample_block("uint16")
    path = tmp_path / "export.raw"
    path.write_bytes(header() + encode(block, dtype="uint16", endian="big", layout="line", order="line"))
    profile = write_profile(tmp_path / "p.toml", header_tables())
    scan = nii.read(path, format="profile", profile=profile)
    assert scan.view("side").shape == (ROWS, LINES)
    assert scan.acquired_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert scan.provenance.source_format == "profile"
    assert scan.provenance.steps[0].parameters["profile"] == str(profile)


def test_lines_auto_from_the_file_size(tmp_path):
    block = sample_block("uint12")
    path = tmp_path / "export.raw"
    path.write_bytes(encode(block, dtype="uint12", endian="little", layout="line", order="line"))
    profile = RawProfile.from_dict(tables(dtype="uint12", layout="line", lines="auto"))
    assert nii.read(path, format="profile", profile=profile).view("side").shape == (ROWS, LINES)
    path.write_bytes(path.read_bytes() + b"\0" * 5)
    with pytest.raises(CorruptFileError, match="not a whole number of lines of 18 bytes"):
        nii.read(path, format="profile", profile=profile)


def test_the_example_profile_in_the_docs_reads_a_matching_file(tmp_path):
    profile = RawProfile.load(EXAMPLE)
    assert profile.magic == b"NIIX" and profile.valid_range == (0.0, 16383.0)
    rows, lines = 64, 100
    rng = np.random.default_rng(5)
    total = profile.dark_lines + profile.air_lines + lines
    block = rng.integers(0, 16384, (2, total, rows)).astype(np.uint16)
    path = tmp_path / "portal.bin"
    path.write_bytes(
        b"NIIX" + struct.pack("<HHIIq", 1, 0, rows, lines, 1_767_225_600) + bytes(40)
        + encode(block, dtype="uint16", endian="big", layout="line", order="line")
    )  # fmt: skip
    scan = nii.read(path, format="profile", profile=EXAMPLE)
    np.testing.assert_array_equal(scan.view("side").channels["low"], block[1, total - lines :].T)
    assert scan.acquired_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert check_file(profile, path).ok


# --- mismatches and bad input ------------------------------------------------------------


@pytest.fixture
def with_header(tmp_path):
    path = tmp_path / "export.raw"
    body = encode(sample_block("uint16"), dtype="uint16", endian="big", layout="line", order="line")
    path.write_bytes(header() + body)
    return path, RawProfile.from_dict(header_tables(valid_range=[0, 50000])), body


def test_check_reports_values_out_of_range(with_header):
    path, profile, _ = with_header
    report = check_file(profile, path)
    assert not report.ok
    assert report.mismatches[0].startswith("channel 'high': ") and "outside [0, 50000]" in report.mismatches[0]
    assert any("2 channels × 6 rows × 10 lines" in fact for fact in report.facts)


def test_truncated_and_too_long(with_header):
    path, profile, body = with_header
    path.write_bytes(header() + body[:-2])
    with pytest.raises(TruncatedFileError, match=r"export.raw: file has 390 bytes, the profile expects 392"):
        nii.read(path, format="profile", profile=profile)
    assert "file has 390 bytes, the profile expects 392" in check_file(profile, path).mismatches[0]
    path.write_bytes(header() + body + b"\0\0")
    with pytest.raises(CorruptFileError, match="file has 394 bytes"):
        nii.read(path, format="profile", profile=profile)


def test_dimensions_larger_than_the_file(with_header):
    path, profile, body = with_header
    path.write_bytes(header(lines=LINES + 5) + body)
    with pytest.raises(TruncatedFileError, match="export.raw"):
        nii.read(path, format="profile", profile=profile)


def test_zero_size(with_header):
    path, profile, body = with_header
    path.write_bytes(header(rows=0) + body)
    with pytest.raises(CorruptFileError, match="invalid dimensions"):
        nii.read(path, format="profile", profile=profile)


def test_absurd_size_is_refused_before_allocation(with_header):
    path, profile, body = with_header
    path.write_bytes(header(rows=900_000, lines=900_000) + body)
    assert_refused_before_allocating(path, format="profile", profile=profile)
    assert "over the limit" in check_file(profile, path).mismatches[0]


def test_wrong_magic(with_header):
    path, profile, body = with_header
    path.write_bytes(header(magic=b"RAWY") + body)
    with pytest.raises(CorruptFileError, match="export.raw: header starts b'RAWY', the profile expects b'RAWX'"):
        nii.read(path, format="profile", profile=profile)


def test_inconsistent_channel_count(with_header):
    # A file with one channel fewer than the profile says is a size mismatch.
    path, profile, _ = with_header
    one_channel = encode(sample_block("uint16")[:1], dtype="uint16", endian="big", layout="line", order="line")
    path.write_bytes(header() + one_channel)
    with pytest.raises(TruncatedFileError, match="2 channels"):
        nii.read(path, format="profile", profile=profile)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": {"dtype": "uint24"}}, "dtype must be one of"),
        ({"data": {"layout": "line", "order": "row"}}, 'order must be "line"'),
        ({"data": {"channels": ["high", "high"]}}, "distinct names"),
        ({"data": {"rows": {"offset": 40, "type": "uint32"}}}, "past the 32-byte header"),
        ({"data": {"colour": "red"}}, "unknown keys"),
        ({"geometry": {"detector_spacing_mm": -1.0}}, "detector spacing"),
        ({"scan": {"acquired_at": None}}, "missing \\[scan\\] acquired_at"),
    ],
)
def test_bad_profiles_are_configuration_errors_naming_the_profile(tmp_path, change, message):
    data = header_tables()
    for table, values in change.items():
        data[table] = {key: value for key, value in {**data[table], **values}.items() if value is not None}
    path = write_profile(tmp_path / "bad.toml", data)
    with pytest.raises(ConfigurationError, match=f"bad.toml: profile: .*{message}"):
        RawProfile.load(path)


def test_profile_must_be_given_and_valid_toml(tmp_path):
    path = tmp_path / "x.raw"
    path.write_bytes(b"\0" * 10)
    with pytest.raises(ConfigurationError, match="needs profile="):
        nii.read(path, format="profile")
    broken = tmp_path / "broken.toml"
    broken.write_text("[data\n")
    with pytest.raises(ConfigurationError, match="broken.toml: profile is not valid TOML"):
        nii.read(path, format="profile", profile=broken)
