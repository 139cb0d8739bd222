"""Comparison kernels against numpy references and scikit-image, and the composites after a registration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nii.errors import ValidationError
from nii.kernels import (
    checkerboard,
    compare,
    flicker,
    match_intensity,
    mean_absolute_difference,
    ncc,
    psnr,
    register,
    signed_difference,
    ssim,
)
from tests.kernels.scenes import affine_matrix, scanner_pair


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(2)
    reference = rng.random((70, 90)).astype(np.float32)
    moving = (0.8 * reference + 0.1 + rng.normal(0, 0.05, reference.shape)).astype(np.float32)
    return reference, moving


def test_moments_kernel_matches_numpy_reference(pair):
    reference, moving = pair
    moving = moving.copy()
    moving[3:9, 20:25] = np.nan
    mask = np.ones(reference.shape, bool)
    mask[40:, 60:] = False
    for m in (None, mask):
        np.testing.assert_allclose(
            compare._sums(reference, moving, m), compare.moments_reference(reference, moving, m), rtol=1e-12
        )


def test_ncc_psnr_and_mad_against_numpy_and_scikit_image(pair):
    reference, moving = pair
    assert ncc(reference, moving) == pytest.approx(np.corrcoef(reference.ravel(), moving.ravel())[0, 1], abs=1e-12)
    assert psnr(reference, moving, data_range=1.0) == pytest.approx(
        peak_signal_noise_ratio(reference, moving, data_range=1.0), abs=1e-6
    )
    assert mean_absolute_difference(reference, moving) == pytest.approx(
        np.abs(moving.astype(np.float64) - reference).mean(), rel=1e-12
    )
    assert psnr(reference, reference) == math.inf
    assert ncc(reference, np.full(reference.shape, 2.0)) == 0.0


def test_measures_use_only_overlapping_valid_pixels(pair):
    reference, moving = pair
    holed = moving.copy()
    holed[:, :30] = np.nan  # outside the overlap after a warp
    mask = np.ones(reference.shape, bool)
    mask[:10] = False
    keep = np.isfinite(holed) & mask
    a, b = reference[keep], holed[keep]
    assert ncc(reference, holed, mask=mask) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-12)
    assert mean_absolute_difference(reference, holed, mask=mask) == pytest.approx(np.abs(b - a.astype(float)).mean())
    assert psnr(reference, holed, mask=mask) == pytest.approx(
        10 * np.log10((a.max() - a.min()) ** 2 / ((b.astype(float) - a) ** 2).mean())
    )


def test_ssim_matches_scikit_image_and_the_numpy_reference(pair):
    reference, moving = pair
    assert ssim(reference, moving, data_range=1.0) == pytest.approx(
        structural_similarity(reference, moving, data_range=1.0), abs=1e-9
    )
    assert ssim(reference, moving, data_range=1.0, window=11) == pytest.approx(
        structural_similarity(reference, moving, data_range=1.0, win_size=11), abs=1e-9
    )
    valid = np.ones(reference.shape, bool)
    valid[20:30, 40:55] = False
    assert ssim(reference, moving, mask=valid, data_range=1.0) == pytest.approx(
        compare.ssim_reference(reference, moving, valid, 7, 1.0), abs=1e-9
    )
    assert ssim(reference, reference) == 1.0


def test_signed_difference_and_intensity_matching():
    reference = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], np.float32)
    moving = 1.5 * reference - 0.25
    moving[1, 2] = np.nan
    difference = signed_difference(reference, moving)
    assert difference.dtype == np.float32
    np.testing.assert_allclose(difference[0], 0.5 * reference[0] - 0.25)
    assert np.isnan(difference[1, 2])
    mask = np.ones(reference.shape, bool)
    mask[0, 0] = False
    assert np.isnan(signed_difference(reference, moving, mask=mask)[0, 0])
    matched = match_intensity(reference, moving)
    np.testing.assert_allclose(matched[np.isfinite(matched)], reference[np.isfinite(matched)], atol=1e-5)
    with pytest.raises(ValidationError, match="constant"):
        match_intensity(reference, np.ones_like(reference))


def test_checkerboard_and_flicker_frames():
    a = np.zeros((4, 6), np.float32)
    b = np.ones((4, 6), np.float32)
    board = checkerboard(a, b, tile=2)
    np.testing.assert_array_equal(board[:2, :2], 0)
    np.testing.assert_array_equal(board[:2, 2:4], 1)
    np.testing.assert_array_equal(board[2:, :2], 1)
    np.testing.assert_array_equal(checkerboard(a, b, tile=(4, 3)), np.hstack([a[:, :3], b[:, 3:]]))
    frames = flicker(a, b, steps=3)
    assert frames.shape == (8, 4, 6) and frames.dtype == np.float32
    np.testing.assert_allclose(frames[:, 0, 0], [0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25])
    np.testing.assert_array_equal(flicker(a, b)[:, 0, 0], [0, 1])


def test_registration_brings_the_measures_and_the_checkerboard_together():
    # Two scanners' images of one container: compare them before and after alignment.
    reference, moving = scanner_pair(affine_matrix(shift=(2.6, -9.3), travel_scale=1.01), seed=40)
    result = register(reference, moving, model="travel_scale")
    aligned = match_intensity(reference, result.transform.warp(moving, order="bicubic"))
    unaligned = match_intensity(reference, moving)
    assert ncc(reference, aligned) > 0.99 > ncc(reference, unaligned)
    assert ssim(reference, aligned) > ssim(reference, unaligned) + 0.1
    assert psnr(reference, aligned) > psnr(reference, unaligned) + 6

    # Misalignment shows as jumps at the tile borders of the checkerboard.
    def border_jump(board):
        return np.nanmean(np.abs(board[:, 63] - board[:, 64]))

    assert border_jump(checkerboard(reference, aligned)) < 0.5 * border_jump(checkerboard(reference, unaligned))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: ncc(a, a[:, :5]), "one shape"),
        (lambda a: ncc(a, np.full(a.shape, np.nan)), "share 0 valid pixels"),
        (lambda a: ssim(a, a, window=4), "window must be odd"),
        (lambda a: ssim(a, a, data_range=0), "data range must be positive"),
        (lambda a: psnr(a, a + 1, data_range=-1), "data range must be positive"),
        (lambda a: checkerboard(a, a, tile=(0, 3)), "tile"),
        (lambda a: flicker(a, a, steps=-1), "steps"),
        (lambda a: ncc(a, a, mask=np.ones((2, 2), bool)), "mask has shape"),
    ],
)
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValidationError, match=message):
        call(np.arange(100.0).reshape(10, 10))
