"""Processing steps of the pipeline: kernels applied to a whole :class:`~nii.model.Scan`.

A step is a function ``(scan, parameters) -> (scan, recorded)`` whose parameters are a frozen
dataclass validated at construction (:class:`ResampleParameters` ...); ``parse`` reads them from the
command line's ``step=ARGUMENT`` text. The pipeline records what the step returns in the scan's
provenance. Steps compute in float32; :func:`quantize` turns the
result into the 16-bit codes that DICOS stores (conventions in :mod:`nii.values`).

Available steps (``nii convert --normalize calibrate,resample=4x4,steel``):

``calibrate``
    raw counts → transmission, with dark/air/source-monitor correction and dead or saturated
    element repair (the repaired elements go into provenance). Without dark/air lines the open
    beam the scan shows (lines before and after the object, rows above it) is the air reference
    and its rows above the object the source monitor (the region found goes into provenance).
    Starved (no counts) and saturated pixels are marked in a ``pixel_flags`` channel
    (:data:`nii.kernels.air.STARVED`, ``SATURATED``) and do not become extreme attenuation.
``attenuate[=float32|uint16]``
    → −ln T (from raw counts in one fused pass, or from transmission); ``uint16`` gives the
    16-bit codes directly.
``orient``
    canonical orientation: travel left to right, top of the object in row 0.
``spacing=ROWSxLINES``
    declares the pixel spacing in mm of views whose file does not give it (a spacing the file
    gives is never overwritten).
``resample=ROWSxLINES``
    to a pixel spacing in mm (``4x4``), using per-line positions when the speed varied; refused
    for a view of unknown spacing.
``steel[=SCANNER]``
    adds ``steel_mm``: the attenuation of the high (or only) channel as millimetres of steel,
    through the scanner's physics calibration curve, so 4, 6 and 9 MV scans share one scale.
``materials[=SCANNER]``
    adds ``zeff`` and ``material`` from the high and low channels, averaged over
    :data:`MATERIAL_SMOOTHING_PX` pixels square first.

``align[=SEGMENTS]``
    puts the low-energy channel on the high-energy one (:func:`nii.kernels.estimate_channel_offset`
    per detector segment, then :func:`nii.kernels.shift_along_travel`); needs attenuation.

``SCANNER`` names a model of :data:`nii.physics.SCANNERS`; by default the scan's
``Scanner.model``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar

import cv2
import numpy as np

from nii.calibration import MATERIAL_SMOOTHING_PX
from nii.errors import ValidationError
from nii.kernels import (
    QUANTIZATION,
    Calibration,
    MaterialClass,
    attenuation,
    orient,
    resample,
)
from nii.kernels.flagged import calibrated_flagged
from nii.model import MEASURED_CHANNELS, CalibrationState, Geometry, RowOrder, Scan, TravelDirection, View
from nii.values import (
    adc_maximum,
    attenuation_of,
    calibration_and_air_of,
    physical,
    quantize_array,
    raw_of,
)

__all__ = [
    "STEPS",
    "STEP_PARAMETERS",
    "AlignParameters",
    "AttenuateParameters",
    "CalibrateParameters",
    "MaterialMisfitWarning",
    "MaterialsParameters",
    "OrientParameters",
    "QuantizeParameters",
    "ResampleParameters",
    "SpacingParameters",
    "SteelParameters",
    "StepFunction",
    "StepParameters",
    "quantize",
    "register_step",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepParameters:
    """The parameters of a step that takes none; the base of every step's parameters.

    Examples
    --------
    >>> CalibrateParameters.parse(None)
    CalibrateParameters()
    >>> CalibrateParameters.parse("x")
    Traceback (most recent call last):
    nii.errors.ValidationError: calibrate takes no argument, got 'x'
    """

    step: ClassVar[str] = ""
    """The step's name (``nii convert --normalize NAME[=ARGUMENT]``)."""

    @classmethod
    def parse(cls, argument: str | None) -> Self:
        """The parameters written as the command line's ``ARGUMENT`` (None: none given)."""
        if argument is not None:
            raise ValidationError(f"{cls.step} takes no argument, got {argument!r}")
        return cls()

    def argument(self) -> str | None:
        """These parameters as the command line writes them (:meth:`parse` reads it back)."""
        return None


@dataclass(frozen=True)
class CalibrateParameters(StepParameters):
    """``calibrate``: no parameters."""

    step: ClassVar[str] = "calibrate"


@dataclass(frozen=True)
class OrientParameters(StepParameters):
    """``orient``: no parameters."""

    step: ClassVar[str] = "orient"


@dataclass(frozen=True)
class QuantizeParameters(StepParameters):
    """``quantize``: no parameters."""

    step: ClassVar[str] = "quantize"


@dataclass(frozen=True)
class AttenuateParameters(StepParameters):
    """``attenuate[=float32|uint16]``: the type of the attenuation written.

    Examples
    --------
    >>> AttenuateParameters.parse("uint16") == AttenuateParameters("uint16")
    True
    >>> AttenuateParameters("int8")
    Traceback (most recent call last):
    nii.errors.ValidationError: attenuate takes float32 or uint16, got 'int8'
    """

    step: ClassVar[str] = "attenuate"
    dtype: Literal["float32", "uint16"] = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "uint16"):
            raise ValidationError(f"attenuate takes float32 or uint16, got {self.dtype!r}")

    @classmethod
    def parse(cls, argument: str | None) -> Self:
        return cls() if argument is None else cls(argument)  # type: ignore[arg-type]  # checked at construction

    def argument(self) -> str | None:
        return None if self.dtype == "float32" else self.dtype


@dataclass(frozen=True)
class _PixelSpacing(StepParameters):
    """``ROWSxLINES``: a pixel spacing in mm, rows × lines (``4`` means ``4x4``)."""

    spacing_mm: tuple[float, float]

    def __post_init__(self) -> None:
        try:
            rows, lines = (float(value) for value in self.spacing_mm)
        except (TypeError, ValueError):
            raise ValidationError(f"{self.step} needs (rows, lines) in mm, got {self.spacing_mm!r}") from None
        if min(rows, lines) <= 0:
            raise ValidationError(f"{self.step} spacing must be positive, got {self.spacing_mm!r}")
        object.__setattr__(self, "spacing_mm", (rows, lines))

    @classmethod
    def parse(cls, argument: str | None) -> Self:
        try:
            rows, _, lines = (argument or "").lower().partition("x")
            spacing = (float(rows), float(lines or rows))
        except ValueError:
            raise ValidationError(f"{cls.step} needs ROWSxLINES in mm such as 4x4, got {argument!r}") from None
        if min(spacing) <= 0:
            raise ValidationError(f"{cls.step} spacing must be positive, got {argument!r}")
        return cls(spacing)

    def argument(self) -> str | None:
        return "x".join(f"{value:g}" for value in self.spacing_mm)


@dataclass(frozen=True)
class SpacingParameters(_PixelSpacing):
    """``spacing=ROWSxLINES``: the pixel spacing to declare, in mm.

    Examples
    --------
    >>> SpacingParameters.parse("5x8") == SpacingParameters((5.0, 8.0))
    True
    """

    step: ClassVar[str] = "spacing"


@dataclass(frozen=True)
class ResampleParameters(_PixelSpacing):
    """``resample=ROWSxLINES``: the pixel spacing to resample to, in mm.

    Examples
    --------
    >>> ResampleParameters.parse("4") == ResampleParameters((4.0, 4.0))
    True
    >>> ResampleParameters((4.0, 0.0))
    Traceback (most recent call last):
    nii.errors.ValidationError: resample spacing must be positive, got (4.0, 0.0)
    """

    step: ClassVar[str] = "resample"


@dataclass(frozen=True)
class _ScannerParameters(StepParameters):
    """``[=SCANNER]``: a model of :data:`nii.physics.SCANNERS`, or a measured calibration (a ``.toml`` file);
    None: the scan's ``Scanner.model``."""

    scanner: str | Path | None = None
    """A scanner model's name; a path (or a name ending in ``.toml``, made a path): a measured calibration."""

    def __post_init__(self) -> None:
        if not (
            self.scanner is None or isinstance(self.scanner, Path) or (isinstance(self.scanner, str) and self.scanner)
        ):
            raise ValidationError(f"{self.step} takes a scanner model or a calibration file, got {self.scanner!r}")
        if isinstance(self.scanner, str) and self.scanner.endswith(".toml"):
            object.__setattr__(self, "scanner", Path(self.scanner))

    @classmethod
    def parse(cls, argument: str | None) -> Self:
        return cls(argument)

    def argument(self) -> str | None:
        return None if self.scanner is None else str(self.scanner)

    @property
    def calibration_file(self) -> str | None:
        """The measured calibration file named, else None."""
        return str(self.scanner) if isinstance(self.scanner, Path) else None


@dataclass(frozen=True)
class SteelParameters(_ScannerParameters):
    """``steel[=SCANNER]``: the physics calibration curve's scanner, or a measured calibration.

    Examples
    --------
    >>> SteelParameters.parse("linac-6/4") == SteelParameters("linac-6/4")
    True
    >>> SteelParameters.parse("site.toml").calibration_file
    'site.toml'
    """

    step: ClassVar[str] = "steel"


@dataclass(frozen=True)
class MaterialsParameters(_ScannerParameters):
    """``materials[=SCANNER]``: the scanner whose materials table classifies, or a measured calibration.

    Examples
    --------
    >>> MaterialsParameters.parse(None)
    MaterialsParameters(scanner=None)
    """

    step: ClassVar[str] = "materials"


@dataclass(frozen=True)
class AlignParameters(StepParameters):
    """``align[=SEGMENTS]``: detector segments whose offsets are measured separately.

    Examples
    --------
    >>> AlignParameters.parse("4") == AlignParameters(4)
    True
    >>> AlignParameters.parse("0")
    Traceback (most recent call last):
    nii.errors.ValidationError: align takes a positive whole number, got '0'
    """

    step: ClassVar[str] = "align"
    segments: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.segments, int) or isinstance(self.segments, bool) or self.segments < 1:
            raise ValidationError(f"align takes a positive whole number, got {self.segments!r}")

    @classmethod
    def parse(cls, argument: str | None) -> Self:
        if argument is None:
            return cls()
        if not argument.isdigit() or int(argument) < 1:
            raise ValidationError(f"align takes a positive whole number, got {argument!r}")
        return cls(int(argument))

    def argument(self) -> str | None:
        return None if self.segments == 8 else str(self.segments)


Parameters = TypeVar("Parameters", bound=StepParameters)

StepFunction = Callable[[Scan, Any], tuple[Scan, dict[str, Any]]]
"""``(scan, parameters) -> (scan, what the provenance records)``; ``parameters`` the step's
:class:`StepParameters`."""

STEPS: dict[str, StepFunction] = {}
"""Processing steps by name."""

STEP_PARAMETERS: dict[str, type[StepParameters]] = {}
"""The parameters class of each step, by name."""


def register_step(
    parameters: type[Parameters],
) -> Callable[[Callable[[Scan, Parameters], tuple[Scan, dict[str, Any]]]], StepFunction]:
    """Decorator adding a processing step taking ``parameters``, under ``parameters.step``."""

    def decorate(function: Callable[[Scan, Parameters], tuple[Scan, dict[str, Any]]]) -> StepFunction:
        STEPS[parameters.step] = function
        STEP_PARAMETERS[parameters.step] = parameters
        return function

    return decorate


def _measured(view: View) -> dict[str, np.ndarray]:
    return {name: array for name, array in view.channels.items() if name in MEASURED_CHANNELS}


def _replace_measured(scan: Scan, convert: Callable[[View, str], np.ndarray], state: CalibrationState) -> Scan:
    views = []
    for view in scan.views:
        channels = dict(view.channels)
        for name in _measured(view):
            channels[name] = convert(view, name)
        # The dark/air/monitor references describe raw counts only; calibrated data drops them.
        views.append(view.with_channels(channels, calibration=state, dark={}, air={}, reference={}))
    return scan.with_views(views)


class _Calibrator:
    """Calibrations of a scan's raw channels: from its dark/air lines, or from the open beam it shows.

    Collects what goes into the provenance: repaired elements, the air region found, and the
    starved and saturated pixels (set to the view's largest measured attenuation, or to none,
    instead of the extremes their clipped counts would give, and marked in ``pixel_flags``).
    """

    def __init__(self) -> None:
        self.repaired: dict[str, list[int]] = {}
        self.air_regions: dict[str, dict[str, int]] = {}
        self.flagged: dict[str, dict[str, int]] = {}
        self.flags: dict[str, np.ndarray] = {}

    def calibration(self, view: View, name: str) -> Calibration:
        key = f"{view.name}/{name}"
        calibration, region = calibration_and_air_of(view, name)
        if region is not None:
            self.air_regions[key] = region.as_dict()
        self.repaired[key] = calibration.repaired.tolist()
        return calibration

    def calibrated(self, view: View, name: str, *, quantity: str, dtype: Any = np.float32) -> np.ndarray:
        """``view``'s raw ``name`` calibrated to ``quantity`` (:func:`~nii.kernels.flagged.calibrated_flagged`),
        its starved and saturated pixels flagged and replaced."""
        raw = raw_of(view, name)
        result, flags, (starved, saturated) = calibrated_flagged(
            raw, self.calibration(view, name), saturation=adc_maximum(raw), quantity=quantity, dtype=dtype
        )
        self.flagged[f"{view.name}/{name}"] = {"starved": starved, "saturated": saturated}
        if starved or saturated:
            previous = self.flags.get(view.name)
            if previous is None:
                self.flags[view.name] = flags
            else:  # in place: a new frame would cost its page faults again
                np.bitwise_or(previous, flags, out=previous)
        return result

    def parameters(self) -> dict[str, Any]:
        found = {"repaired_elements": self.repaired, "flagged_pixels": self.flagged}
        return found | ({"air_from_scan": self.air_regions} if self.air_regions else {})

    def with_flags(self, scan: Scan) -> Scan:
        if not self.flags:
            return scan
        return scan.with_views(
            [
                view.with_channels({**view.channels, "pixel_flags": self.flags[view.name]})
                if view.name in self.flags
                else view
                for view in scan.views
            ]
        )


@register_step(CalibrateParameters)
def calibrate(scan: Scan, parameters: CalibrateParameters) -> tuple[Scan, dict[str, Any]]:
    """Raw counts → float32 transmission."""
    calibrator = _Calibrator()

    def convert(view: View, name: str) -> np.ndarray:
        if view.calibration is not CalibrationState.RAW:
            raise ValidationError(f"view {view.name!r} is already {view.calibration}; calibrate needs RAW counts")
        return calibrator.calibrated(view, name, quantity="transmission")

    scan = _replace_measured(scan, convert, CalibrationState.TRANSMISSION)
    return calibrator.with_flags(scan), calibrator.parameters()


@register_step(AttenuateParameters)
def attenuate(scan: Scan, parameters: AttenuateParameters) -> tuple[Scan, dict[str, Any]]:
    """→ attenuation −ln T as float32, or with ``attenuate=uint16`` straight to the 16-bit codes of
    :data:`QUANTIZATION` (raw counts then go to codes in one fused pass)."""
    dtype = np.uint16 if parameters.dtype == "uint16" else np.float32
    calibrator = _Calibrator()

    def convert(view: View, name: str) -> np.ndarray:
        if view.calibration is CalibrationState.RAW:
            return calibrator.calibrated(view, name, quantity="attenuation", dtype=dtype)
        if view.calibration is CalibrationState.ATTENUATION:
            value = physical(view.channels[name], view.calibration)
            return value if dtype is np.float32 else quantize_array(value, QUANTIZATION[str(view.calibration)])
        return attenuation(physical(view.channels[name], view.calibration), dtype=dtype)

    scan = _replace_measured(scan, convert, CalibrationState.ATTENUATION)
    return calibrator.with_flags(scan), calibrator.parameters() | {"dtype": np.dtype(dtype).name}


@register_step(OrientParameters)
def orient_canonically(scan: Scan, parameters: OrientParameters) -> tuple[Scan, dict[str, Any]]:
    """Travel left to right, top of the object in row 0."""
    flipped: dict[str, list[str]] = {}
    views = []
    for view in scan.views:
        g = view.geometry
        reverse_lines = g.travel_direction is TravelDirection.RIGHT_TO_LEFT
        reverse_rows = g.row_order is RowOrder.BOTTOM_UP
        if not (reverse_lines or reverse_rows):
            views.append(view)
            continue
        flipped[view.name] = [axis for axis, on in (("rows", reverse_rows), ("lines", reverse_lines)) if on]
        positions = g.line_positions_mm
        if positions is not None and reverse_lines:
            positions = positions[-1] - positions[::-1]
        channels = {
            name: orient(array, reverse_rows=reverse_rows, reverse_lines=reverse_lines)
            for name, array in view.channels.items()
        }
        row_slice = slice(None, None, -1 if reverse_rows else 1)
        line_slice = slice(None, None, -1 if reverse_lines else 1)
        views.append(
            view.with_channels(
                channels,
                geometry=Geometry(g.detector_spacing_mm, g.travel_spacing_mm, line_positions_mm=positions),
                dark={k: v[row_slice] for k, v in view.dark.items()},
                air={k: v[row_slice] for k, v in view.air.items()},
                reference={k: v[line_slice] for k, v in view.reference.items()},
            )
        )
    return scan.with_views(views), {"flipped": flipped}


@register_step(SpacingParameters)
def declare_spacing(scan: Scan, parameters: SpacingParameters) -> tuple[Scan, dict[str, Any]]:
    """Declare the pixel spacing (mm, rows × lines) of views whose file does not give it."""
    spacing = parameters.spacing_mm
    views = []
    for view in scan.views:
        g = view.geometry
        if g.spacing_known and (g.detector_spacing_mm, g.travel_spacing_mm) != spacing:
            raise ValidationError(
                f"view {view.name!r} already has a spacing of {g.detector_spacing_mm} × {g.travel_spacing_mm} mm"
            )
        geometry = replace(g, detector_spacing_mm=spacing[0], travel_spacing_mm=spacing[1])
        views.append(view.with_channels(view.channels, geometry=geometry))
    return scan.with_views(views), {"spacing_mm": list(spacing)}


@register_step(ResampleParameters)
def resample_views(scan: Scan, parameters: ResampleParameters) -> tuple[Scan, dict[str, Any]]:
    """Resample every channel to the given pixel spacing in mm (rows × lines)."""
    spacing = parameters.spacing_mm
    views = []
    for view in scan.views:
        if view.calibration is CalibrationState.RAW:
            raise ValidationError(f"view {view.name!r} holds raw counts: calibrate before resampling")
        g = view.geometry
        if g.detector_spacing_mm is None or g.travel_spacing_mm is None:
            raise ValidationError(
                f"view {view.name!r} has no known pixel spacing to resample from; give it first "
                "(spacing=ROWSxLINES in mm, or [geometry] in a raw profile)"
            )
        positions = (
            g.line_positions_mm
            if g.line_positions_mm is not None
            else g.travel_spacing_mm * np.arange(view.shape[1], dtype=np.float64)
        )
        channels = {
            name: resample(
                physical(array, view.calibration),
                pitch_mm=g.detector_spacing_mm,
                line_positions_mm=positions,
                spacing_mm=spacing,
            )
            for name, array in view.channels.items()
            if name not in ("material", "pixel_flags")  # classes and flags cannot be interpolated
        }
        geometry = Geometry(spacing[0], spacing[1], g.travel_direction, g.row_order)
        views.append(view.with_channels(channels, geometry=geometry))
    return scan.with_views(views), {"spacing_mm": list(spacing)}


def _scanner_name(scan: Scan, parameters: _ScannerParameters) -> str:
    name = parameters.argument() or scan.scanner.model
    if not name:
        raise ValidationError("the scan names no scanner model; give one, e.g. steel=linac-6")
    return name


def _calibration_file(parameters: _ScannerParameters) -> Any:
    """The measured calibration the parameters name (a ``.toml`` file), else None."""
    if parameters.calibration_file is None:
        return None
    from nii.material_calibration import MaterialCalibration

    return MaterialCalibration.load(parameters.calibration_file)


@register_step(SteelParameters)
def steel_equivalent(scan: Scan, parameters: SteelParameters) -> tuple[Scan, dict[str, Any]]:
    """Add ``steel_mm``, the steel-equivalent thickness of the high (or only) channel."""
    from nii.calibration import SteelEquivalentCurve

    measured = _calibration_file(parameters)
    scanner = measured.scanner if measured is not None else _scanner_name(scan, parameters)
    views = []
    for view in scan.views:
        channel = "high" if "high" in view.channels else next(iter(_measured(view)), None)
        if channel is None:
            raise ValidationError(f"view {view.name!r} has no measured channel to convert to steel thickness")
        if measured is not None:
            curve = measured.steel_curve(channel)
        else:
            curve = SteelEquivalentCurve.from_scanner(scanner, channel if channel != "single" else None)
        a = attenuation_of(view, channel)
        views.append(view.with_channels({**view.channels, "steel_mm": curve.apply(a)}))
    return scan.with_views(views), {"scanner": scanner} | (
        {"calibration": parameters.calibration_file} if measured else {}
    )


class MaterialMisfitWarning(UserWarning):
    """A scan's (high, low) attenuation pairs lie outside what the material calibration covers."""

    def __init__(self, problem: str, path: str | None) -> None:
        self.problem, self.path = problem, path
        super().__init__(f"{path}: {problem}" if path else problem)


MISFIT_TOLERANCE = 0.02
"""Fraction of a view's decidable pixels (on plateaus, not edges) that may lie outside the calibration
before it warns."""


@register_step(MaterialsParameters)
def materials(scan: Scan, parameters: MaterialsParameters) -> tuple[Scan, dict[str, Any]]:
    """Add ``zeff`` and ``material`` (:class:`nii.kernels.MaterialClass`) from the high and low channels.

    Pixels whose pair lies outside the reference materials' span are unknown, not high Z; when
    more than :data:`MISFIT_TOLERANCE` of a view's pixels do, a :class:`MaterialMisfitWarning`
    names the file and the measured misfit (``nii convert --strict`` makes it an error).
    """
    from nii.calibration import ZeffTable
    from nii.kernels import effective_z
    from nii.material_calibration import plateaus

    measured = _calibration_file(parameters)
    scanner = measured.scanner if measured is not None else _scanner_name(scan, parameters)
    table = measured.zeff_table() if measured is not None else ZeffTable.from_scanner(scanner)
    classes = table.material_table()
    views = []
    misfits: dict[str, dict[str, float]] = {}
    for view in scan.views:
        if not {"high", "low"} <= set(view.channels):
            raise ValidationError(f"view {view.name!r} needs high and low channels for materials")
        # Per-pixel ratios are too noisy to classify near the thickness limits; average first.
        a_high = cv2.blur(attenuation_of(view, "high"), (MATERIAL_SMOOTHING_PX, MATERIAL_SMOOTHING_PX))
        a_low = cv2.blur(attenuation_of(view, "low"), (MATERIAL_SMOOTHING_PX, MATERIAL_SMOOTHING_PX))
        material = table.classify(a_high, a_low, classes)
        if "pixel_flags" in view.channels:  # starved or saturated: not measured
            material[view.channels["pixel_flags"] != 0] = MaterialClass.UNKNOWN
        misfit = table.misfit(a_high, a_low, material != MaterialClass.UNKNOWN)
        outside = misfit > 0
        material[outside] = MaterialClass.UNKNOWN
        # Judged on plateaus: at edges the channels mix two materials into a ratio of neither.
        judged = ~np.isnan(misfit) & plateaus(a_high) & plateaus(a_low)
        share = float(outside[judged].mean()) if judged.any() else 0.0
        misfits[view.name] = {
            "outside_fraction": share,
            "median_misfit": float(np.median(misfit[judged & outside])) if (judged & outside).any() else 0.0,
        }
        if share > MISFIT_TOLERANCE:
            warnings.warn(
                MaterialMisfitWarning(
                    f"view {view.name!r}: {share:.1%} of the decidable pixels lie outside the material "
                    f"calibration {scanner!r} (median ratio misfit {misfits[view.name]['median_misfit']:.3g}); "
                    "they are marked unknown",
                    scan.provenance.source_path,
                ),
                stacklevel=2,
            )
        derived = {"zeff": effective_z(a_high, a_low, table.grid), "material": material}
        views.append(view.with_channels({**view.channels, **derived}))
    return scan.with_views(views), {
        "scanner": scanner,
        "smoothing_px": MATERIAL_SMOOTHING_PX,
        "min_attenuation": classes.min_attenuation,
        "max_attenuation": classes.max_attenuation,
        "classes": {member.name: int(member) for member in MaterialClass},
        "misfit": misfits,
    } | ({"calibration": parameters.calibration_file} if measured else {})


@register_step(AlignParameters)
def align_channels(scan: Scan, parameters: AlignParameters) -> tuple[Scan, dict[str, Any]]:
    """Put the low-energy channel on the high-energy one: the offset along travel of every detector
    segment (``align=SEGMENTS``, default 8) measured and undone. A view whose offset cannot be
    measured is left as it is, with a warning naming the file."""
    from nii.kernels import estimate_channel_offset, shift_along_travel

    segments = parameters.segments
    views, offsets = [], {}
    for view in scan.views:
        if not {"high", "low"} <= set(view.channels):
            views.append(view)
            continue
        if view.calibration is not CalibrationState.ATTENUATION:
            raise ValidationError(f"view {view.name!r} is {view.calibration}: align needs attenuation (attenuate)")
        a_high, a_low = attenuation_of(view, "high"), attenuation_of(view, "low")
        offset = estimate_channel_offset(a_high, a_low, segments=segments)
        offsets[view.name] = offset.to_dict()
        if offset.reason is not None:
            source = scan.provenance.source_path
            log.warning("%s: view %r: channels left unaligned: %s", source, view.name, offset.reason)
            views.append(view)
            continue
        shifted = shift_along_travel(a_low, offset.row_offsets(), order="bicubic")
        aligned = np.where(np.isnan(shifted), a_low, shifted).astype(np.float32)  # the ends keep their values
        views.append(view.with_channels({**view.channels, "low": aligned}))
    return scan.with_views(views), {"offsets": offsets}


@register_step(QuantizeParameters)
def quantize(scan: Scan, parameters: QuantizeParameters = QuantizeParameters()) -> tuple[Scan, dict[str, Any]]:
    """Turn float channels into the 16-bit codes of :data:`QUANTIZATION` (for 16-bit formats such as DICOS)."""
    scales: dict[str, float] = {}
    views = []
    for view in scan.views:
        channels = {}
        for name, array in view.channels.items():
            if array.dtype.kind != "f" and name != "material":
                channels[name] = array
                continue
            key = name if name in QUANTIZATION else str(view.calibration)
            if key not in QUANTIZATION:
                raise ValidationError(f"no 16-bit convention for float channel {name!r} of view {view.name!r}")
            scale = QUANTIZATION[key]
            channels[name] = quantize_array(array, scale) if name != "material" else array.astype(np.uint16)
            scales[f"{view.name}/{name}"] = scale
        views.append(view.with_channels(channels))
    return scan.with_views(views), {"scale": scales}
