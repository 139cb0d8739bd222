"""Registration kernels: numba against numpy references, the transform object, accuracy on simulated pairs.

The moving images are rendered from an analytic scene at the truly transformed positions
(:mod:`tests.kernels.scenes`), with another energy, more blur and more noise: the truth never goes through
nii's own warp, and the expected parameters are those the pair was generated with.
"""

from __future__ import annotations

import itertools
import json

import cv2
import numba
import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels import (
    AffineTransform,
    ChannelOffset,
    _common,
    estimate_channel_offset,
    gauss_newton,
    pyramid,
    register,
    shift_along_travel,
    valid_mask,
    warp,
)
from nii.kernels import registration as reg
from tests.kernels.scenes import SATURATION, CargoScene, affine_matrix, measure, scanner_pair

SHAPE = (256, 1024)
CENTER = ((SHAPE[0] - 1) / 2, (SHAPE[1] - 1) / 2)


def masks(*images):
    return [valid_mask(image, low=0.05, high=SATURATION - 0.1) for image in images]


# ---------------------------------------------------------------------------------------------------------------
# Kernels against their numpy references


@pytest.fixture(scope="module")
def texture():
    rng = np.random.default_rng(7)
    image = cv2.GaussianBlur(rng.random((61, 83)).astype(np.float32), (0, 0), 1.5) * 4
    image[12:15, 30:33] = np.nan
    return image


@pytest.mark.parametrize("cubic", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_warp_kernel_matches_numpy_reference(texture, cubic, dtype):
    rng = np.random.default_rng(1)
    image = texture.astype(dtype)
    for trial in range(12):
        matrix = AffineTransform.from_parameters(
            translation=rng.normal(0, 6, 2),
            rotation_deg=0.0 if trial % 3 == 0 else rng.normal(0, 4),
            scale=(rng.uniform(0.8, 1.2), 1.0 if trial % 3 == 0 else rng.uniform(0.8, 1.2)),
            center=(30, 41),
        ).matrix.copy()
        shape = (int(rng.integers(1, 70)), int(rng.integers(1, 90)))
        row_shift = rng.normal(0, 2, shape[0]) if trial % 2 else np.zeros(shape[0])
        out = np.empty(shape, dtype)
        warp.warp_kernel(image, matrix, row_shift, out, -5.0, cubic)
        expected = warp.warp_reference(image, matrix, shape, cubic=cubic, fill=-5.0, row_shift=row_shift)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))


def test_bilinear_warp_agrees_with_opencv():
    rows, cols = np.mgrid[0:120, 0:300]
    image = (np.sin(rows / 7.0) * np.cos(cols / 11.0) + cols / 150.0).astype(np.float32)
    transform = AffineTransform.from_parameters(translation=(3.3, -7.6), rotation_deg=2.0, scale=(1.0, 1.03))
    ours = transform.warp(image)
    m = transform.matrix  # OpenCV works in (x, y) = (column, row)
    theirs = cv2.warpAffine(
        image,
        np.array([[m[1, 1], m[1, 0], m[1, 2]], [m[0, 1], m[0, 0], m[0, 2]]]),
        (300, 120),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderValue=np.nan,
    )
    both = np.isfinite(ours) & np.isfinite(theirs)
    assert both.mean() > 0.85
    # OpenCV rounds the sample position to 1/32 pixel; the image's slope is below 0.2 per pixel.
    assert np.abs(ours - theirs)[both].max() < 0.2 / 32 + 1e-5


def test_shift_along_travel_matches_linear_interpolation():
    rng = np.random.default_rng(3)
    image = rng.random((5, 40))
    offsets = np.array([0.0, 0.25, -1.5, 3.75, -0.5])
    shifted = shift_along_travel(image, offsets)
    columns = np.arange(40.0)
    for row, offset in enumerate(offsets):
        inside = (columns + offset >= 0) & (columns + offset <= 39)
        expected = np.interp(columns + offset, columns, image[row])
        np.testing.assert_allclose(shifted[row, inside], expected[inside], atol=1e-12)
        assert np.all(np.isnan(shifted[row, ~inside]))
    # A shift by whole columns with bicubic weights copies the pixels.
    np.testing.assert_array_equal(shift_along_travel(image, 2.0, order="BICUBIC")[:, :30], image[:, 2:32])


def test_downsample_kernel_matches_numpy_reference(texture):
    image = np.ascontiguousarray(texture)
    image[40, 10:12] = np.nan  # one valid pixel of four in a block: NaN
    out = pyramid.build_pyramid(image, 2)[1]
    expected = pyramid.downsample_reference(image)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))


def test_prepared_pyramid_counts_valid_pixels_while_downsampling(texture):
    image = texture.copy()  # 61 × 83: an odd last row and column, read by no 2 × 2 mean
    image[60, 5] = image[7, 82] = np.nan
    pyramid_levels, valid = pyramid.prepared_pyramid(image, None, "image", 3)
    assert pyramid_levels[0] is image  # float32 without infinities: used as it is
    assert valid == np.isfinite(image).sum()
    for finer, coarser in itertools.pairwise(pyramid_levels):
        np.testing.assert_allclose(coarser, pyramid.downsample_reference(finer), rtol=1e-6)
        np.testing.assert_array_equal(np.isnan(coarser), np.isnan(pyramid.downsample_reference(finer)))
    # Infinities become NaN (a copy); a mask leaves pixels out.
    for where in ((20, 30), (60, 40), (30, 82)):
        infinite = image.copy()
        infinite[where] = np.inf
        levels, counted = pyramid.prepared_pyramid(infinite, None, "image", 3)
        assert levels[0] is not infinite and np.isnan(levels[0][where]) and counted == valid - 1
        np.testing.assert_array_equal(
            levels[1], pyramid.build_pyramid(np.where(np.isinf(infinite), np.nan, infinite), 2)[1]
        )
    keep = np.ones(image.shape, bool)
    keep[:10] = False
    masked, counted = pyramid.prepared_pyramid(image, keep, "image", 2)
    assert counted == np.isfinite(image[10:]).sum() and np.isnan(masked[0][:10]).all()


def test_gradient_features_match_numpy_reference(texture):
    out = pyramid.gradient_features(np.ascontiguousarray(texture))
    expected = pyramid.gradient_features_reference(texture)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    # A blurred step gives a ridge centred on the step whose samples sum to the step's height.
    step = np.zeros((16, 32), np.float32)
    step[:, 16:] = 2.0
    ridge = pyramid.gradient_features(step)[8]
    assert ridge[15] == ridge[16] == np.nanmax(ridge)
    assert np.nansum(ridge) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "matrix_parameters",
    [{"translation": (1.3, -2.6)}, {"translation": (0.7, 2.2), "rotation_deg": 1.5, "scale": (1.02, 0.97)}],
)
def test_normal_equations_match_numpy_reference(texture, matrix_parameters):
    reference = np.ascontiguousarray(texture)
    rng = np.random.default_rng(5)
    moving = np.ascontiguousarray(texture + rng.normal(0, 0.05, texture.shape).astype(np.float32))
    matrix = AffineTransform.from_parameters(**matrix_parameters, center=(30, 41)).matrix.copy()
    center = ((reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2)
    hessian, gradient, count = gauss_newton.gauss_newton_reference(reference, moving, matrix, center, 1.1, 0.05)
    estimate = gauss_newton.Estimate(matrix, 1.1, 0.05)
    sums = np.empty((reference.shape[0], gauss_newton.AFFINE_SUMS))
    h, g, stats = gauss_newton.normal_equations(reference, moving, estimate, True, sums)
    assert stats[0] == count
    np.testing.assert_allclose(h, hessian, rtol=1e-9, atol=1e-9 * np.abs(hessian).max())
    np.testing.assert_allclose(g, gradient, rtol=1e-9, atol=1e-9 * np.abs(gradient).max())
    if "rotation_deg" not in matrix_parameters:
        # The translation kernel (float32 partial sums) gives the same system on its four unknowns.
        sums = np.empty((reference.shape[0], gauss_newton.TRANSLATION_SUMS))
        h, g, stats = gauss_newton.normal_equations(reference, moving, estimate, False, sums)
        index = gauss_newton.TRANSLATION_INDEX
        assert stats[0] == count
        np.testing.assert_allclose(h[np.ix_(index, index)], hessian[np.ix_(index, index)], rtol=1e-5)
        np.testing.assert_allclose(g[index], gradient[index], rtol=1e-4, atol=1e-5 * np.abs(gradient).max())


def test_translation_sums_with_scattered_invalid_pixels_match_numpy_reference(texture):
    # Wide rows: several chunks per row, some summed unchecked (valid throughout), some with NaN pixels
    # that must be summed again, checked, and the chunk after a NaN one.
    reference = np.ascontiguousarray(np.tile(texture, (1, 40)))
    rng = np.random.default_rng(3)
    moving = np.ascontiguousarray(reference + rng.normal(0, 0.05, reference.shape).astype(np.float32))
    moving[rng.random(moving.shape) < 2e-4] = np.nan
    moving[20:25, 1500:1530] = np.nan
    matrix = AffineTransform.from_parameters(translation=(1.6, -3.3)).matrix.copy()
    center = ((reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2)
    hessian, gradient, count = gauss_newton.gauss_newton_reference(reference, moving, matrix, center, 0.9, 0.1)
    index = gauss_newton.TRANSLATION_INDEX
    estimate = gauss_newton.Estimate(matrix, 0.9, 0.1)
    sums = np.empty((reference.shape[0], gauss_newton.TRANSLATION_SUMS))
    h, g, stats = gauss_newton.normal_equations(reference, moving, estimate, False, sums)
    assert stats[0] == count
    expected = hessian[np.ix_(index, index)]
    np.testing.assert_allclose(h[np.ix_(index, index)], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_allclose(g[index], gradient[index], rtol=1e-4, atol=1e-5 * np.abs(gradient).max())
    # The kernel itself on all threads (normal_equations runs images this small on one) and on one.
    rows = reference.shape[0]
    per_row = [np.full(rows, value) for value in (1.6, -3.3, 0.9, 0.1)]
    previous = numba.get_num_threads()
    results = []
    for threads in (previous, 1):
        numba.set_num_threads(threads)
        try:
            gauss_newton.translation_sums(reference, moving, *per_row, sums)
        finally:
            numba.set_num_threads(previous)
        results.append(sums.copy())
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize("shift", [(2.3, -3.6), (-1.7, 4.2), (40.0, 0.0)])
def test_translation_sums_of_gradients_match_numpy_reference(texture, shift):
    # The features computed on the fly, row by row, in tasks of 64 rows (several here), against the
    # numpy references of the features and of the normal equations; a moving image of another size.
    rng = np.random.default_rng(11)
    reference = np.ascontiguousarray(np.tile(texture, (3, 14)))
    moving = np.ascontiguousarray(np.tile(texture, (3, 15))[5:] + rng.normal(0, 0.05, (178, 1245)).astype(np.float32))
    moving[rng.random(moving.shape) < 1e-4] = np.nan
    matrix = AffineTransform.from_parameters(translation=shift).matrix.copy()
    center = ((reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2)
    features = (pyramid.gradient_features_reference(reference), pyramid.gradient_features_reference(moving))
    hessian, gradient, count = gauss_newton.gauss_newton_reference(*features, matrix, center, 1.2, 0.03)
    index = gauss_newton.TRANSLATION_INDEX
    estimate = gauss_newton.Estimate(matrix, 1.2, 0.03)
    sums = np.empty((reference.shape[0], gauss_newton.TRANSLATION_SUMS))
    h, g, stats = gauss_newton.normal_equations(reference, moving, estimate, False, sums, of_gradients=True)
    assert stats[0] == count
    expected = hessian[np.ix_(index, index)]
    np.testing.assert_allclose(h[np.ix_(index, index)], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    np.testing.assert_allclose(g[index], gradient[index], rtol=1e-4, atol=1e-5 * np.abs(gradient).max())
    # The kernel itself on all threads (normal_equations runs images this small on one) and on one.
    previous = numba.get_num_threads()
    results = []
    for threads in (previous, 1):
        numba.set_num_threads(threads)
        try:
            gauss_newton.gradient_translation_sums(reference, moving, *shift, 1.2, 0.03, sums)
        finally:
            numba.set_num_threads(previous)
        results.append(sums.copy())
    np.testing.assert_array_equal(*results)


def test_gradient_correlation_matches_numpy_reference(texture):
    a = np.ascontiguousarray(texture)
    b = np.ascontiguousarray(texture[::-1].copy())
    sums = np.empty((a.shape[0], 8))
    for first, second in ((a, a), (a, b)):
        reg._gradient_sums(first, second, sums)
        assert reg._correlation_from_sums(sums.sum(axis=0)) == pytest.approx(
            reg.gradient_correlation_reference(first, second), abs=1e-9
        )


def test_parallel_kernels_give_the_same_result_on_one_thread(texture):
    big = np.ascontiguousarray(np.tile(texture, (20, 12)))  # over the one-thread threshold
    assert big.size >= _common.PARALLEL_PIXELS
    matrix = AffineTransform.from_parameters(translation=(2.5, -1.25), rotation_deg=0.5).matrix.copy()
    results = []
    previous = numba.get_num_threads()
    for threads in (previous, 1):
        numba.set_num_threads(threads)
        try:
            warped = AffineTransform(matrix).warp(big, order="bicubic")
            sums = np.empty((big.shape[0], gauss_newton.AFFINE_SUMS))
            gauss_newton.affine_sums(big, warped, matrix, 10.0, 1.0, 0.0, sums)
            results.append((warped, sums.sum(axis=0), pyramid.gradient_features(big)))
        finally:
            numba.set_num_threads(previous)
    for one, other in zip(*results, strict=True):
        np.testing.assert_array_equal(one, other)


# ---------------------------------------------------------------------------------------------------------------
# The transform object


def test_parameters_follow_the_documented_factorisation():
    # The truth matrix is built by the test scenes independently of AffineTransform.
    truth = affine_matrix(shift=(2.5, -7.0), travel_scale=1.013, rotation_deg=0.7, shear=0.004, center=(100, 400))
    parameters = AffineTransform(truth).parameters(center=(100, 400))
    np.testing.assert_allclose(parameters["translation"], [2.5, -7.0], atol=1e-12)
    assert parameters["scale_travel"] == pytest.approx(1.013, abs=1e-12)
    assert parameters["scale_rows"] == pytest.approx(1.0, abs=1e-12)
    assert parameters["rotation_deg"] == pytest.approx(0.7, abs=1e-12)
    assert parameters["shear"] == pytest.approx(0.004, abs=1e-12)
    rebuilt = AffineTransform.from_parameters(
        translation=parameters["translation"],
        scale=(parameters["scale_rows"], parameters["scale_travel"]),
        rotation_deg=parameters["rotation_deg"],
        shear=parameters["shear"],
        center=(100, 400),
    )
    np.testing.assert_allclose(rebuilt.matrix, truth, atol=1e-12)


def test_positive_rotation_turns_content_counter_clockwise_as_displayed():
    # The point one column right of the centre moves up (to a smaller row) in the moving image.
    moved = AffineTransform.from_parameters(rotation_deg=10.0, center=(50, 50)).apply([[50.0, 51.0]])
    assert moved[0, 0] < 50 and moved[0, 1] < 51


def test_inverse_apply_and_dict_round_trip():
    transform = AffineTransform.from_parameters(translation=(1, 2), scale=(0.98, 1.05), rotation_deg=-3, shear=0.01)
    points = np.array([[0.0, 0.0], [10.0, -4.0], [123.5, 77.25]])
    np.testing.assert_allclose(transform.inverse().apply(transform.apply(points)), points, atol=1e-12)
    description = json.loads(json.dumps(transform.to_dict()))
    assert description["type"] == "affine"
    np.testing.assert_array_equal(AffineTransform.from_dict(description).matrix, transform.matrix)
    assert AffineTransform(transform.matrix[:2]).matrix.shape == (3, 3)
    with pytest.raises(ValueError, match="read-only"):
        transform.matrix[0, 0] = 2


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.eye(4), "2 × 3 or 3 × 3"),
        ([[1, 0, 0], [0, 1, 0], [1, 0, 1]], "last row"),
        ([[1, 0, np.nan], [0, 1, 0]], "finite"),
        ([[1, 2, 0], [2, 4, 0]], "invertible"),
    ],
)
def test_bad_matrices_are_refused(matrix, message):
    with pytest.raises(ValidationError, match=message):
        AffineTransform(matrix)


def test_warp_checks_its_arguments():
    image = np.zeros((8, 8), np.float32)
    with pytest.raises(ValidationError, match="order must be one of bilinear, bicubic"):
        AffineTransform.identity().warp(image, order="nearest")
    with pytest.raises(ValidationError, match="output shape"):
        AffineTransform.identity().warp(image, output_shape=(0, 5))
    with pytest.raises(ValidationError, match="2-D"):
        AffineTransform.identity().warp(np.zeros(8))
    with pytest.raises(ValidationError, match="real numbers"):
        AffineTransform.identity().warp(np.zeros((8, 8), complex))
    with pytest.raises(ValidationError, match="one per row"):
        shift_along_travel(image, [1.0, 2.0])
    with pytest.raises(ValidationError, match="from_dict|not an affine"):
        AffineTransform.from_dict({"type": "projective"})


# ---------------------------------------------------------------------------------------------------------------
# Scan-to-scan registration on simulated pairs (two scanners: another energy, blur and noise)


def test_translation_within_a_twentieth_of_a_pixel():
    rng = np.random.default_rng(11)
    for seed in range(3):
        shift = tuple(rng.uniform(-40, 40, 2))
        reference, moving = scanner_pair(affine_matrix(shift=shift), seed=seed)
        mask_reference, mask_moving = masks(reference, moving)
        result = register(
            reference, moving, model="translation", reference_mask=mask_reference, moving_mask=mask_moving
        )
        assert result.converged
        np.testing.assert_allclose(result.transform.parameters()["translation"], shift, atol=0.05)
        assert result.transform.parameters()["scale_travel"] == 1.0
        assert result.confidence > 0.9


def test_travel_scale_within_a_thousandth():
    rng = np.random.default_rng(12)
    for seed in range(3, 5):
        truth = dict(shift=tuple(rng.uniform(-20, 20, 2)), travel_scale=rng.uniform(0.97, 1.03), center=CENTER)
        reference, moving = scanner_pair(affine_matrix(**truth), seed=seed)
        mask_reference, mask_moving = masks(reference, moving)
        result = register(
            reference, moving, model="travel_scale", reference_mask=mask_reference, moving_mask=mask_moving
        )
        found = result.transform.parameters(center=CENTER)
        assert found["scale_travel"] / truth["travel_scale"] - 1 == pytest.approx(0, abs=1e-3)
        np.testing.assert_allclose(found["translation"], truth["shift"], atol=0.05)
        assert found["rotation_deg"] == 0 and found["scale_rows"] == 1


def test_affine_rotation_scale_and_shear():
    rng = np.random.default_rng(13)
    for seed in range(5, 8):
        truth = dict(
            shift=tuple(rng.uniform(-20, 20, 2)),
            travel_scale=rng.uniform(0.97, 1.03),
            rotation_deg=rng.uniform(-1, 1),
            shear=rng.uniform(-0.01, 0.01),
            center=CENTER,
        )
        reference, moving = scanner_pair(affine_matrix(**truth), seed=seed)
        mask_reference, mask_moving = masks(reference, moving)
        result = register(reference, moving, reference_mask=mask_reference, moving_mask=mask_moving)
        found = result.transform.parameters(center=CENTER)
        assert result.converged
        np.testing.assert_allclose(found["translation"], truth["shift"], atol=0.05)
        assert found["scale_travel"] / truth["travel_scale"] - 1 == pytest.approx(0, abs=1e-3)
        assert found["scale_rows"] - 1 == pytest.approx(0, abs=1e-3)
        assert found["rotation_deg"] == pytest.approx(truth["rotation_deg"], abs=0.02)
        assert found["shear"] == pytest.approx(truth["shear"], abs=1e-3)


def test_moving_scan_of_another_length_and_an_opencv_made_pair():
    # A longer moving scan (the vehicle drove slower), then a pair whose moving image OpenCV warped.
    truth = affine_matrix(shift=(3.0, 60.0), travel_scale=1.2, center=(0, 0))
    reference, moving = scanner_pair(truth, seed=8, moving_shape=(256, 1300))
    result = register(reference, moving, model="travel_scale")
    assert result.transform.parameters()["scale_travel"] == pytest.approx(1.2, rel=1e-3)
    np.testing.assert_allclose(result.transform.parameters()["translation"], (3.0, 60.0), atol=0.05)

    shift = (4.4, -9.7)
    reference = measure(CargoScene(SHAPE, seed=9).render(SHAPE), seed=9)
    forward = np.array([[1.0, 0.0, shift[1]], [0.0, 1.0, shift[0]]])  # (x, y): content moves by the shift
    moving = cv2.warpAffine(reference, forward, SHAPE[::-1], flags=cv2.INTER_CUBIC, borderValue=np.nan)
    result = register(reference, moving, model="translation", features="intensity")
    np.testing.assert_allclose(result.transform.parameters()["translation"], shift, atol=0.05)


def test_masks_keep_corrupted_regions_out():
    shift = (2.25, -13.5)
    reference, moving = scanner_pair(affine_matrix(shift=shift), seed=10)
    # A strong pattern that is not in the reference (another load, a reflection) over a fifth of the scan.
    corrupted = moving.copy()
    rows, cols = np.mgrid[0 : SHAPE[0], 300:500]
    corrupted[:, 300:500] = 3.0 * ((rows // 6 + cols // 6) % 2)
    mask_reference, mask_moving = masks(reference, corrupted)
    mask_moving[:, 300:500] = False
    result = register(reference, corrupted, model="translation", reference_mask=mask_reference, moving_mask=mask_moving)
    np.testing.assert_allclose(result.transform.parameters()["translation"], shift, atol=0.05)
    # The same region as NaN (or infinite values) works the same way.
    nan_moving = corrupted.copy()
    nan_moving[:, 300:500] = np.nan
    nan_moving[:, 300:310] = np.inf
    result = register(reference, nan_moving, model="translation")
    np.testing.assert_allclose(result.transform.parameters()["translation"], shift, atol=0.05)


@pytest.mark.parametrize("confidence_pixels", [None, 20_000])
def test_confidence_separates_correct_from_unrelated_pairs(confidence_pixels, monkeypatch):
    # 20 000 pixels: the confidence of these 256 x 1024 pairs measured a level coarser, as on large images.
    if confidence_pixels is not None:
        monkeypatch.setattr(reg, "CONFIDENCE_PIXELS", confidence_pixels)
    rng = np.random.default_rng(14)
    correct, unrelated = [], []
    for seed in range(20, 24):
        truth = affine_matrix(shift=tuple(rng.uniform(-30, 30, 2)), travel_scale=rng.uniform(0.98, 1.02), center=CENTER)
        reference, moving = scanner_pair(truth, seed=seed)
        correct.append(register(reference, moving, reference_mask=masks(reference)[0]))
        reference, moving = scanner_pair(truth, seed=seed, scene_seed=seed + 100)
        unrelated.append(register(reference, moving, reference_mask=masks(reference)[0]))
    low, high = min(r.confidence for r in correct), max(r.confidence for r in unrelated)
    assert low > 0.9 > 0.4 > high, (low, high)
    assert all(r.converged and r.overlap > 0.9 for r in correct)
    description = json.loads(json.dumps(correct[0].to_dict()))
    assert description["confidence"] == correct[0].confidence
    assert description["transform"]["matrix"] == correct[0].transform.matrix[:2].tolist()


def test_registration_checks_its_arguments():
    image = np.zeros((64, 64), np.float32)
    with pytest.raises(ValidationError, match="model must be one of translation, travel_scale, affine"):
        register(image, image, model="rigid")
    with pytest.raises(ValidationError, match="features must be one of"):
        register(image, image, features="edges")
    with pytest.raises(ValidationError, match="at least 8 × 8"):
        register(image[:4], image)
    with pytest.raises(ValidationError, match="reference mask has shape"):
        register(image, image, reference_mask=np.ones((8, 8), bool))
    with pytest.raises(ValidationError, match="boolean"):
        register(image, image, moving_mask=np.ones((64, 64)))
    with pytest.raises(ValidationError, match="levels"):
        register(image, image, levels=5)
    with pytest.raises(ValidationError, match="tolerance"):
        register(image, image, tolerance=0)
    with pytest.raises(ValidationError, match="valid pixels"):
        register(np.full((64, 64), np.nan), image)


# ---------------------------------------------------------------------------------------------------------------
# Dual-energy channel alignment


def two_channels(offsets: np.ndarray, *, seed: int, segment_rows: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """High and low energy of one scan, each detector segment's low layer displaced by its offset: the low
    channel's pixel (r, c) sees the object at column c - offset."""
    scene = CargoScene(SHAPE, seed=seed)
    high = measure(scene.render(SHAPE), seed=seed)
    low = np.empty(SHAPE, np.float32)
    for k, offset in enumerate(offsets):
        start = k * segment_rows
        matrix = np.array([[1.0, 0.0, start], [0.0, 1.0, -offset], [0.0, 0.0, 1.0]])
        part = scene.render((segment_rows, SHAPE[1]), matrix=matrix, energy="low")
        low[start : start + segment_rows] = measure(part, photons=5e3, seed=seed * 100 + k)
    return high, low


def test_channel_offset_global_and_per_segment():
    rng = np.random.default_rng(15)
    offsets = 0.4 + rng.uniform(-0.3, 0.3, SHAPE[0] // 32)
    high, low = two_channels(offsets, seed=30)
    mask_high, mask_low = masks(high, low)
    result = estimate_channel_offset(high, low, segments=8, reference_mask=mask_high, other_mask=mask_low)
    assert isinstance(result, ChannelOffset)
    np.testing.assert_array_equal(result.segment_starts, np.arange(8) * 32)
    # Segments of rows above and below the container see only air and are masked out.
    measured = np.isfinite(result.segment_offsets)
    assert measured.sum() >= 6
    np.testing.assert_allclose(result.segment_offsets[measured], offsets[measured], atol=0.05)
    # Corrected with its own measurement, the low channel is aligned to within the same tolerance.
    aligned = shift_along_travel(low, result.row_offsets(), order="bicubic")
    again = estimate_channel_offset(
        high,
        aligned,
        segments=8,
        reference_mask=mask_high,
        other_mask=valid_mask(aligned, low=0.05, high=SATURATION - 0.1),
    )
    measured_again = np.isfinite(again.segment_offsets)
    np.testing.assert_allclose(again.segment_offsets[measured_again], 0.0, atol=0.05)


def test_channel_offset_of_a_single_layer_displacement():
    high, low = two_channels(np.full(8, -0.63), seed=31)
    result = estimate_channel_offset(high, low, segments=[0, 100, 200])
    assert result.offset == pytest.approx(-0.63, abs=0.05)
    np.testing.assert_allclose(result.segment_offsets, -0.63, atol=0.05)
    assert result.row_offsets().shape == (SHAPE[0],)
    assert json.loads(json.dumps(result.to_dict()))["segment_starts"] == [0, 100, 200]


def test_segment_without_structure_falls_back_to_the_global_offset():
    high, low = two_channels(np.full(8, 0.25), seed=32)
    low[:64] = np.nan  # two segments lose their pixels
    result = estimate_channel_offset(high, low, segments=8)
    assert np.isnan(result.segment_offsets[:2]).all()
    rows = result.row_offsets()
    assert np.all(rows[:64] == result.offset) and np.all(np.isfinite(rows))
    assert result.to_dict()["segment_offsets"][0] is None


@pytest.mark.parametrize(
    ("segments", "message"),
    [(0, "between 1 and"), ([0, 2], "at least 4 rows apart"), ([5, 50], "from 0"), ([0, 254], "within 256 rows")],
)
def test_bad_segments_are_refused(segments, message):
    image = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValidationError, match=message):
        estimate_channel_offset(image, image, segments=segments)


def test_channels_of_different_shapes_are_refused():
    with pytest.raises(ValidationError, match="one shape"):
        estimate_channel_offset(np.zeros((64, 64)), np.zeros((64, 65)))


def test_valid_mask_leaves_out_air_saturation_and_nan():
    image = np.array([[0.0, 0.04, 0.5, 5.95, 6.0, np.nan, np.inf]])
    np.testing.assert_array_equal(valid_mask(image, low=0.05, high=5.9)[0], [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(valid_mask(image)[0], [1, 1, 1, 1, 1, 0, 0])
