"""The JPEG Lossless (SV1) encoder: numba kernel == numpy reference, and decoders agree."""

import numpy as np
import pytest
from libjpeg import decode

from nii.kernels.jpeg_lossless import encode_frame, encode_frame_reference


def _frames():
    rng = np.random.default_rng(3)
    yield "noise", rng.integers(0, 65536, (37, 53), dtype=np.uint16)
    yield "constant", np.full((8, 9), 7, np.uint16)
    yield "single", np.array([[65535]], np.uint16)
    yield "extremes", np.where(rng.random((16, 20)) < 0.5, 0, 65535).astype(np.uint16)
    yield "ramp", (np.arange(40 * 70) * 97 % 65536).astype(np.uint16).reshape(40, 70)
    yield "signed", rng.integers(-32768, 32767, (12, 31), dtype=np.int16)
    smooth = 30000 + 2000 * np.sin(np.linspace(0, 6, 64))[:, None] * np.cos(np.linspace(0, 9, 90))[None, :]
    yield "smooth", (smooth + rng.normal(0, 20, smooth.shape)).astype(np.uint16)


@pytest.mark.parametrize(("name", "frame"), list(_frames()), ids=[name for name, _ in _frames()])
def test_kernel_equals_reference_and_decodes_bit_exact(name, frame):
    stream = encode_frame(frame)
    assert stream == encode_frame_reference(frame)
    assert stream[:4] == b"\xff\xd8\xff\xc3" and stream[-2:] == b"\xff\xd9"
    decoded = decode(stream).reshape(frame.shape)
    np.testing.assert_array_equal(decoded.view(frame.dtype), frame)


def test_header_announces_size_precision_and_predictor():
    frame = np.zeros((300, 70000 // 2), np.uint16)
    stream = encode_frame(frame)
    sof = stream.index(b"\xff\xc3")
    assert stream[sof + 4] == 16
    assert int.from_bytes(stream[sof + 5 : sof + 7], "big") == 300
    assert int.from_bytes(stream[sof + 7 : sof + 9], "big") == 35000
    sos = stream.index(b"\xff\xda")
    assert stream[sos + 7 : sos + 10] == b"\x01\x00\x00"  # Ss = 1 (SV1), Se = 0, Ah/Al = 0


def test_huffman_table_is_optimised_for_the_frame():
    rng = np.random.default_rng(0)
    quiet = (30000 + rng.normal(0, 3, (64, 64))).astype(np.uint16)
    noisy = rng.integers(0, 65536, (64, 64), dtype=np.uint16)
    assert len(encode_frame(quiet)) < 0.35 * len(encode_frame(noisy))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((2, 3, 4), np.uint16), "2-D"),
        (np.zeros((2, 3), np.float32), "16-bit"),
        (np.zeros((0, 3), np.uint16), "non-empty"),
        (np.zeros((2, 70000), np.uint16), "65535"),
    ],
)
def test_refuses_what_jpeg_cannot_hold(frame, message):
    with pytest.raises(ValueError, match=message):
        encode_frame(frame)
