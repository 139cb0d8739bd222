"""Compare two scans of one object: put both on one grid, register them, measure how well they agree.

Two scanners of one fleet see a container at other energies, pitches, speeds and orientations. To
compare them, each scan's view is brought to attenuation (whatever it holds: raw counts with their
references, transmission or attenuation), to the canonical orientation and to one square pixel spacing
in millimetres (the coarser of the two scans, or coarser still for large scans); the moving scan is then
registered onto the reference (:func:`nii.kernels.register`, affine, air and saturation masked out),
warped onto its grid and scaled onto its intensities (one gain: attenuation is 0 in air on every scanner), and
compared: registration confidence, NCC, SSIM, PSNR, and, when both scanners are known models of
:data:`nii.physics.SCANNERS`, the agreement of their steel-equivalent thickness in mm.

Examples
--------
>>> from nii.simulate import simulate
>>> first, _ = simulate("cargo", scanner="linac-6/4", seed=3, rows=128, lines=450, speed_variation=0.0)
>>> second, _ = simulate("cargo", scanner="linac-9/6", seed=3, rows=128, lines=480, speed_variation=0.0)
>>> comparison = compare_scans(first, second)
>>> comparison.confidence > 0.8, round(comparison.parameters["scale_travel"], 2)
(True, 1.0)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nii.calibration import SteelEquivalentCurve, ZeffTable
from nii.errors import ValidationError
from nii.io import atomic_output
from nii.kernels import checkerboard, flicker, ncc, psnr, register, signed_difference, ssim, valid_mask
from nii.kernels.registration import Registration
from nii.model import CalibrationState, Geometry, Scan, View
from nii.physics import SCANNERS
from nii.render import Quantity, RenderOptions, Window, auto_window, render
from nii.render.quantities import measured_channel
from nii.steps import STEPS, OrientParameters, ResampleParameters
from nii.values import attenuation_of

__all__ = [
    "MAX_SIDE_PX",
    "Comparison",
    "ComparisonImage",
    "common_spacing",
    "compare_images",
    "compare_scans",
    "comparison_image",
    "comparison_pictures",
    "material_agreement",
    "steel_agreement",
    "write_pictures",
]

MAX_SIDE_PX = 1536
"""Longest side of the common grid: larger scans are compared at a coarser spacing (registration and
the measures need the object's structure, not every pixel)."""

AIR_ATTENUATION = 0.02
"""Attenuation below which a pixel is taken for air (about 2 % absorbed): no structure to compare."""

SATURATED_ATTENUATION = 13.0
"""Attenuation above which a pixel is taken for starved (the calibration floors transmission at 1e-6)."""


@dataclass(frozen=True, eq=False)
class ComparisonImage:
    """One scan's view as compared: float32 attenuation, canonical orientation, square pixels.

    Attributes
    ----------
    attenuation
        ``(rows, columns)`` float32, −ln(I/I0).
    spacing_mm
        Pixel side in mm (rows and columns alike).
    view, channel
        What was taken from the scan.
    scanner
        The scan's scanner model name ("" when the scan names none).
    """

    attenuation: np.ndarray
    spacing_mm: float
    view: str
    channel: str
    scanner: str

    @property
    def mask(self) -> np.ndarray:
        """Pixels with structure: neither air nor starved."""
        return valid_mask(self.attenuation, low=AIR_ATTENUATION, high=SATURATED_ATTENUATION)


def _pick_channel(view: View, channel: str | None) -> str:
    if channel is None:
        return measured_channel(view)
    if channel not in view.channels:
        raise ValidationError(f"view {view.name!r} has no channel {channel!r}; channels: {view.channel_names}")
    return channel


def _native_spacing(scan: Scan, view: str | None) -> tuple[float, float, float]:
    """(detector spacing, travel spacing, longer extent) of the view in mm."""
    chosen = scan.view(view) if view is not None else scan.views[0]
    purpose = "comparing scans in mm (convert with --normalize spacing=ROWSxLINES first)"
    detector, travel = chosen.geometry.known_spacing(purpose)
    rows, lines = chosen.shape
    return detector, travel, max(rows * detector, lines * travel)


def comparison_image(
    scan: Scan, *, view: str | None = None, channel: str | None = None, spacing_mm: float
) -> ComparisonImage:
    """One view of a scan as float32 attenuation, oriented canonically, resampled to ``spacing_mm`` square pixels.

    Parameters
    ----------
    view
        View name; the first view by default.
    channel
        Measured channel; ``high``, else ``single``, else the first measured one.
    spacing_mm
        Side of the square output pixels.

    Examples
    --------
    >>> from nii.simulate import simulate
    >>> scan, _ = simulate("steps", seed=1, rows=64, lines=96)
    >>> image = comparison_image(scan, spacing_mm=100.0)
    >>> image.channel, image.attenuation.dtype.name, image.spacing_mm
    ('high', 'float32', 100.0)
    """
    if not (math.isfinite(spacing_mm) and spacing_mm > 0):
        raise ValidationError(f"comparison spacing must be positive, got {spacing_mm!r}")
    source = scan.view(view) if view is not None else scan.views[0]
    name = _pick_channel(source, channel)
    g = source.geometry
    single = View(
        source.name,
        {name: attenuation_of(source, name)},
        Geometry(g.detector_spacing_mm, g.travel_spacing_mm, g.travel_direction, g.row_order, g.line_positions_mm),
        CalibrationState.ATTENUATION,
    )
    reduced = replace(scan, views=[single], threats=[])
    reduced, _ = STEPS["orient"](reduced, OrientParameters())
    reduced, _ = STEPS["resample"](reduced, ResampleParameters((spacing_mm, spacing_mm)))
    image = np.ascontiguousarray(reduced.views[0].channels[name], dtype=np.float32)
    return ComparisonImage(image, float(spacing_mm), source.name, name, scan.scanner.model or "")


def common_spacing(reference: Scan, moving: Scan, *, view: str | None = None, max_side_px: int = MAX_SIDE_PX) -> float:
    """The square pixel side (mm) both scans are compared at: the coarsest of their spacings, or coarser so
    that the longer side of either view is at most ``max_side_px``."""
    first = _native_spacing(reference, view)
    second = _native_spacing(moving, view)
    coarsest = max(*first[:2], *second[:2])
    return float(max(coarsest, max(first[2], second[2]) / max_side_px))


@dataclass(frozen=True, eq=False)
class Comparison:
    """Result of :func:`compare_scans`.

    Attributes
    ----------
    reference, moving
        The two images compared (the moving one as read, before warping).
    aligned
        The moving image on the reference grid, on the reference's intensity scale (NaN outside it).
    registration
        What :func:`nii.kernels.register` found (transform from reference to moving pixels).
    confidence, ncc, ssim, psnr_db
        Registration confidence in [0, 1]; normalised cross-correlation, structural similarity and peak
        signal-to-noise ratio (dB) of the reference and the aligned image over their common object pixels.
    parameters
        Transform about the reference's centre: ``offset_mm`` (rows, travel), ``scale_rows``,
        ``scale_travel``, ``rotation_deg``, ``shear``.
    steel_difference_mm
        Median and 90th percentile of ``|steel(reference) - steel(moving)|`` in mm over the common object
        pixels, each scan through its own scanner's steel curve; ``None`` when either scanner is unknown.
    """

    reference: ComparisonImage
    moving: ComparisonImage
    aligned: np.ndarray
    registration: Registration
    confidence: float
    ncc: float
    ssim: float
    psnr_db: float
    parameters: dict[str, Any]
    steel_difference_mm: dict[str, float] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "confidence": self.confidence,
            "ncc": self.ncc,
            "ssim": self.ssim,
            "psnr_db": self.psnr_db,
            **self.parameters,
            "steel_difference_mm": self.steel_difference_mm,
            "converged": self.registration.converged,
            "overlap": self.registration.overlap,
            "spacing_mm": self.reference.spacing_mm,
            **{
                role: {"view": image.view, "channel": image.channel, "scanner": image.scanner}
                for role, image in (("reference", self.reference), ("moving", self.moving))
            },
            "transform": self.registration.transform.to_dict(),
        }


def compare_images(reference: ComparisonImage, moving: ComparisonImage, *, model: str = "affine") -> Comparison:
    """Register ``moving`` onto ``reference`` (same pixel spacing) and measure their agreement."""
    if reference.spacing_mm != moving.spacing_mm:
        raise ValidationError(
            f"images to compare need one spacing, got {reference.spacing_mm} and {moving.spacing_mm} mm"
        )
    result = register(
        reference.attenuation,
        moving.attenuation,
        model=model,
        reference_mask=reference.mask,
        moving_mask=moving.mask,
    )
    warped = result.transform.warp(moving.attenuation, output_shape=reference.attenuation.shape, order="bicubic")
    common = reference.mask & valid_mask(warped, low=AIR_ATTENUATION, high=SATURATED_ATTENUATION)
    if common.sum() < 64:
        raise ValidationError("the two scans share fewer than 64 object pixels after registration: nothing to compare")
    # Attenuation is 0 in air on every scanner: the scale between two scanners is a gain through the origin.
    gain = float(np.sum(reference.attenuation[common] * warped[common]) / np.sum(warped[common] ** 2))
    aligned = (warped * np.float32(gain)).astype(np.float32)
    peak = float(np.nanpercentile(reference.attenuation[common], 99.5))
    centre = ((reference.attenuation.shape[0] - 1) / 2, (reference.attenuation.shape[1] - 1) / 2)
    found = result.transform.parameters(center=centre)
    parameters = {
        "offset_mm": [float(v) * reference.spacing_mm for v in found["translation"]],
        "scale_rows": found["scale_rows"],
        "scale_travel": found["scale_travel"],
        "rotation_deg": found["rotation_deg"],
        "shear": found["shear"],
    }
    return Comparison(
        reference=reference,
        moving=moving,
        aligned=aligned,
        registration=result,
        confidence=float(result.confidence),
        ncc=ncc(reference.attenuation, aligned, mask=common),
        ssim=ssim(reference.attenuation, aligned, mask=common, data_range=peak),
        psnr_db=psnr(reference.attenuation, aligned, mask=common, data_range=peak),
        parameters=parameters,
        steel_difference_mm=steel_agreement(reference, moving, warped, common),
    )


def steel_agreement(
    reference: ComparisonImage, moving: ComparisonImage, moving_on_reference: np.ndarray, common: np.ndarray
) -> dict[str, float] | None:
    """Median and 90th percentile of the steel-equivalent difference (mm) over ``common`` pixels.

    Each image goes through the steel curve of its own scanner and channel
    (:class:`nii.calibration.SteelEquivalentCurve`); ``None`` when a scanner is not a known model.
    ``moving_on_reference`` is the moving attenuation warped onto the reference grid.
    """
    if not common.any():
        return None
    images = []
    for image, attenuation in ((reference, reference.attenuation), (moving, moving_on_reference)):
        if image.scanner not in SCANNERS:
            return None
        model = SCANNERS[image.scanner]
        curve = SteelEquivalentCurve.from_scanner(model, image.channel if image.channel in model.spectra else None)
        finite = np.where(np.isfinite(attenuation), attenuation, 0).astype(np.float32)
        images.append(curve.apply(np.ascontiguousarray(finite)))
    difference = np.abs(images[0][common] - images[1][common])
    return {"median": float(np.median(difference)), "p90": float(np.percentile(difference, 90))}


def material_agreement(reference: Scan, moving: Scan, comparison: Comparison) -> float | None:
    """Share of the common object pixels that both scanners put in one material class.

    Each scan's ``high`` and ``low`` attenuation on the comparison grid is classified with its own
    scanner's effective-Z table (:class:`nii.calibration.ZeffTable`), the moving scan's after the
    comparison's warp; pixels either scanner cannot decide (too thin, too thick) are left out.
    ``None`` when either scan is not dual-energy of a known scanner model, or no pixel is decided by both.
    """
    classes = []
    for scan, image, warp in ((reference, comparison.reference, False), (moving, comparison.moving, True)):
        view = scan.view(image.view)
        if image.scanner not in SCANNERS or not {"high", "low"} <= set(view.channels):
            return None
        energies = []
        for channel in ("high", "low"):
            values = comparison_image(scan, view=image.view, channel=channel, spacing_mm=image.spacing_mm).attenuation
            if warp:
                values = comparison.registration.transform.warp(
                    values, output_shape=comparison.reference.attenuation.shape, order="bilinear"
                )
            energies.append(np.ascontiguousarray(np.nan_to_num(values, nan=0.0), dtype=np.float32))
        classes.append(ZeffTable.from_scanner(image.scanner).classify(energies[0], energies[1]))
    decided = comparison.reference.mask & np.isfinite(comparison.aligned) & (classes[0] > 0) & (classes[1] > 0)
    if not decided.any():
        return None
    return float(np.mean(classes[0][decided] == classes[1][decided]))


def compare_scans(
    reference: Scan,
    moving: Scan,
    *,
    view: str | None = None,
    channel: str | None = None,
    model: str = "affine",
    max_side_px: int = MAX_SIDE_PX,
) -> Comparison:
    """Compare two scans of one object (any formats, scanners and orientations); see the module docstring.

    Parameters
    ----------
    view, channel
        What to compare (the same in both scans); the first view and its ``high`` or ``single`` channel
        by default.
    model
        Registration model: ``"translation"``, ``"travel_scale"`` or ``"affine"``.
    max_side_px
        Longest side of the common grid.
    """
    spacing = common_spacing(reference, moving, view=view, max_side_px=max_side_px)
    first = comparison_image(reference, view=view, channel=channel, spacing_mm=spacing)
    second = comparison_image(moving, view=view, channel=channel, spacing_mm=spacing)
    return compare_images(first, second, model=model)


# ---------------------------------------------------------------------------------------------------------------
# Pictures


def _picture(values: np.ndarray, spacing_mm: float, window: Window, *, invert: bool | None = None) -> np.ndarray:
    """An attenuation-like array on the comparison grid rendered by :mod:`nii.render` (NaN shown as air)."""
    view = View(
        "side",
        {"single": np.nan_to_num(values, nan=0.0).astype(np.float32)},
        Geometry(spacing_mm, spacing_mm),
        CalibrationState.ATTENUATION,
    )
    scan = Scan(views=[view], acquired_at=datetime.now(UTC))
    options = RenderOptions(quantity=Quantity.ATTENUATION, window=window, invert=invert, crop=False)
    return render(scan, options=options).image


def comparison_pictures(comparison: Comparison, *, tile: int = 32, flicker_steps: int = 2) -> dict[str, np.ndarray]:
    """The pictures of a comparison, rendered by :mod:`nii.render` on the comparison grid: ``reference``,
    ``aligned``, ``checkerboard`` (alternating tiles) and ``flicker`` (frames, reference ↔ aligned) in one
    attenuation window; ``difference`` (aligned - reference) mid-grey where the scans agree, darker where
    the moving scan attenuates more, lighter where it attenuates less."""
    reference = comparison.reference.attenuation
    aligned = comparison.aligned
    spacing = comparison.reference.spacing_mm
    common = comparison.reference.mask & np.isfinite(aligned)
    window = auto_window(reference, comparison.reference.mask)
    difference = signed_difference(reference, aligned)
    limit = float(np.nanpercentile(np.abs(difference[common]), 99)) if common.any() else 1.0
    return {
        "reference": _picture(reference, spacing, window),
        "aligned": _picture(aligned, spacing, window),
        "checkerboard": _picture(checkerboard(reference, aligned, tile=tile), spacing, window),
        "difference": _picture(difference, spacing, Window(-max(limit, 1e-3), max(limit, 1e-3)), invert=True),
        "flicker": np.stack(
            [_picture(frame, spacing, window) for frame in flicker(reference, aligned, steps=flicker_steps)]
        ),
    }


def write_pictures(comparison: Comparison, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``reference.png``, ``aligned.png``, ``checkerboard.png``, ``difference.png`` and the animated
    ``flicker.gif`` (looping reference ↔ aligned) into ``out_dir`` (created), atomically; return the paths."""
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pictures = comparison_pictures(comparison)
    written = []
    for name in ("reference", "aligned", "checkerboard", "difference"):
        path = out / f"{name}.png"
        with atomic_output(path) as temporary:
            Image.fromarray(pictures[name]).save(temporary, format="PNG")
        written.append(path)
    frames = [Image.fromarray(frame) for frame in pictures["flicker"]]
    path = out / "flicker.gif"
    with atomic_output(path) as temporary:
        frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:], duration=500, loop=0)
    written.append(path)
    return written
