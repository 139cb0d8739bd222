"""Quantities a picture can show, their values from a view's channels, the object in them and the window.

Part of :mod:`nii.render`; see there for the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

from nii.calibration import MATERIAL_SMOOTHING_PX
from nii.errors import ConfigurationError, ValidationError
from nii.kernels import QUANTIZATION, MaterialClass, orient
from nii.model import MEASURED_CHANNELS, CalibrationState, LenientStrEnum, RowOrder, TravelDirection, View
from nii.values import attenuation_of, calibration_of, physical

if TYPE_CHECKING:
    from nii.calibration import ZeffTable

__all__ = [
    "AIR_ATTENUATION",
    "AUTO_PERCENTILES",
    "STARVED_ATTENUATION",
    "STARVED_COUNTS",
    "Preset",
    "Quantity",
    "Strip",
    "Window",
    "auto_window",
    "can_attenuate",
    "cell_edges",
    "choose",
    "measured_channel",
    "object_mask",
    "occupied_span",
    "oriented",
    "quantity_values",
]

AIR_ATTENUATION = 0.05
"""Attenuation below which a pixel counts as air (about 5 % of the beam absorbed)."""
STARVED_COUNTS = 4.0
"""Raw counts above the dark level below which a pixel is photon-starved (no information)."""
STARVED_ATTENUATION = 13.0
"""Attenuation at or above which a calibrated pixel is photon-starved (near the transmission floor)."""
AUTO_PERCENTILES = (0.5, 99.5)
"""Percentiles of the object's values that bound the automatic window."""
_SAMPLES = 1_000_000


class Quantity(LenientStrEnum):
    """What a picture shows."""

    RAW = "raw"
    TRANSMISSION = "transmission"
    ATTENUATION = "attenuation"
    STEEL = "steel"
    ZEFF = "zeff"
    MATERIAL = "material"

    @property
    def unit(self) -> str:
        """The physical unit of the values (as written into legends and file metadata)."""
        return _UNITS[self]

    @property
    def denser_is_higher(self) -> bool:
        """True when denser matter gives higher values (attenuation, steel, Zeff)."""
        return self not in (Quantity.RAW, Quantity.TRANSMISSION)


_UNITS = {
    Quantity.RAW: "counts",
    Quantity.TRANSMISSION: "I/I0",
    Quantity.ATTENUATION: "-ln(I/I0)",
    Quantity.STEEL: "mm steel",
    Quantity.ZEFF: "Z",
    Quantity.MATERIAL: "class",
}
_DERIVED_CHANNEL = {Quantity.STEEL: "steel_mm", Quantity.ZEFF: "zeff", Quantity.MATERIAL: "material"}


class Preset(LenientStrEnum):
    """A part of the object's range (in order of density): all of it, the light, the dense, the densest."""

    FULL = "full"
    ORGANIC = "organic"
    METAL = "metal"
    HIGH_PENETRATION = "high-penetration"

    @property
    def percentiles(self) -> tuple[float, float]:
        """Percentiles of the object's values, lightest first, that bound the window."""
        return {"full": (0.0, 100.0), "organic": (0.5, 60.0), "metal": (40.0, 99.5), "high-penetration": (80.0, 100.0)}[
            self.value
        ]


class Strip(LenientStrEnum):
    """Material class shown alone (the others fade to light grey)."""

    ORGANIC = "organic"
    INORGANIC = "inorganic"
    METAL = "metal"

    @property
    def classes(self) -> tuple[MaterialClass, ...]:
        """The :class:`~nii.kernels.MaterialClass` codes kept."""
        return {
            "organic": (MaterialClass.ORGANIC,),
            "inorganic": (MaterialClass.INORGANIC,),
            "metal": (MaterialClass.METAL, MaterialClass.HIGH_Z),
        }[self.value]


@dataclass(frozen=True)
class Window:
    """Values shown from black to white (before ``invert``), in the quantity's units.

    Examples
    --------
    >>> Window.parse("0.5,6")
    Window(low=0.5, high=6.0)
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValidationError(f"a window needs finite LOW < HIGH, got {self.low}, {self.high}")

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"LOW,HIGH"`` as the command line takes it."""
        parts = text.split(",")
        try:
            if len(parts) != 2:
                raise ValueError(text)
            return cls(float(parts[0]), float(parts[1]))
        except (ValueError, ValidationError):
            raise ConfigurationError(f"window {text!r} must be LOW,HIGH (two numbers, LOW < HIGH)") from None


def auto_window(
    values: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    percentiles: tuple[float, float] = AUTO_PERCENTILES,
) -> Window:
    """The window between two percentiles of the values where ``mask`` is true (the object).

    Large images are sampled (an even stride through at most a million pixels). Without object pixels,
    all finite values count; without any, the window is 0 to 1.

    Examples
    --------
    >>> values = np.array([[0.0, 1.0, 2.0, 3.0, 100.0]], np.float32)
    >>> auto_window(values, values < 50, percentiles=(0, 100))
    Window(low=0.0, high=3.0)
    """
    flat = np.asarray(values).reshape(-1)
    chosen = flat if mask is None else flat[np.asarray(mask).reshape(-1)]
    if chosen.size == 0:
        chosen = flat
    sample = chosen[:: max(1, chosen.size // _SAMPLES)]
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return Window(0.0, 1.0)
    low, high = (float(v) for v in np.percentile(sample, percentiles))
    if not high > low:
        high = low + max(1e-6, abs(low) * 1e-3)
    return Window(low, high)


def measured_channel(view: View) -> str:
    """``high``, ``single`` or the first measured channel of the view."""
    for name in ("high", "single", *MEASURED_CHANNELS):
        if name in view.channels:
            return name
    raise ConfigurationError(
        f"view {view.name!r} has no measured channel ({', '.join(MEASURED_CHANNELS)}): {view.channel_names}"
    )


def can_attenuate(view: View, channel: str) -> bool:
    """True when the channel's attenuation is known: calibrated, raw with dark and air references, or raw
    integer counts, calibrated on the open beam the scan shows (:func:`nii.values.calibration_and_air_of`)."""
    if view.calibration is not CalibrationState.RAW or (channel in view.dark and channel in view.air):
        return True
    if np.asarray(view.channels[channel]).dtype.kind not in "ui":
        return False
    try:
        calibration_of(view, channel)
    except ValidationError:  # the scan shows no open beam to calibrate on
        return False
    return True


def choose(view: View, quantity: Quantity | None, channel: str | None) -> tuple[Quantity, str]:
    """The quantity shown (by default attenuation when the view allows it) and the channel it comes from."""
    measured = [name for name in view.channels if name in MEASURED_CHANNELS]
    if channel is not None and channel not in view.channels:
        raise ConfigurationError(f"view {view.name!r} has no channel {channel!r}; channels: {view.channel_names}")
    channel = channel or (measured_channel(view) if measured else view.channel_names[0])
    # Asked once: for raw counts without references it means finding the scan's open beam.
    attenuable = channel in MEASURED_CHANNELS and can_attenuate(view, channel)
    if quantity is None:
        if channel in _DERIVED_CHANNEL.values():
            quantity = next(q for q, name in _DERIVED_CHANNEL.items() if name == channel)
        elif attenuable:
            quantity = Quantity.ATTENUATION
        else:
            quantity = Quantity.RAW
    if quantity in (Quantity.TRANSMISSION, Quantity.ATTENUATION) and not attenuable:
        raise ConfigurationError(
            f"{quantity} of view {view.name!r} channel {channel!r} needs a measured channel: calibrated, or raw "
            "counts (calibrated with their dark and air references, or on the open beam the scan shows)"
        )
    if quantity is Quantity.RAW and view.calibration is not CalibrationState.RAW and channel in MEASURED_CHANNELS:
        raise ConfigurationError(f"view {view.name!r} holds {view.calibration}, not raw counts")
    return quantity, channel


def _derived(view: View, name: str) -> np.ndarray | None:
    """A derived channel (steel_mm, zeff, material) as float32 values, 16-bit codes decoded."""
    if name not in view.channels:
        return None
    array = np.asarray(view.channels[name])
    if name == "material":
        if array.dtype.kind not in "ui" or (array.size and int(array.max()) >= len(MaterialClass)):
            raise ValidationError(
                f"channel 'material' of view {view.name!r} must hold material class codes 0..{len(MaterialClass) - 1}"
            )
        return array.astype(np.float32)
    if array.dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=np.float32)
    return (array * np.float32(QUANTIZATION[name])).astype(np.float32)


def quantity_values(view: View, quantity: Quantity, channel: str, scanner: str | None) -> np.ndarray:
    """float32 values of the quantity in the view's own orientation."""
    if quantity is Quantity.RAW:
        return np.asarray(view.channels[channel]).astype(np.float32)
    if quantity is Quantity.ATTENUATION:
        return attenuation_of(view, channel)
    if quantity is Quantity.TRANSMISSION:
        if view.calibration is CalibrationState.TRANSMISSION:
            return physical(view.channels[channel], view.calibration)
        return np.exp(-attenuation_of(view, channel))
    name = _DERIVED_CHANNEL[quantity]
    stored = _derived(view, name)
    if stored is not None:
        return stored
    if scanner is None:
        raise ConfigurationError(
            f"view {view.name!r} has no {name!r} channel and the scan names no scanner model to compute it with; "
            "give one (RenderOptions(scanner=...), nii export --scanner)"
        )
    if quantity is Quantity.STEEL:
        from nii.calibration import SteelEquivalentCurve

        source = channel if channel in MEASURED_CHANNELS else measured_channel(view)
        curve = SteelEquivalentCurve.from_scanner(_known(scanner), source if source != "single" else None)
        return curve.apply(attenuation_of(view, source))
    table = _zeff_table(view, scanner)
    box = (MATERIAL_SMOOTHING_PX, MATERIAL_SMOOTHING_PX)
    a_high = cv2.blur(attenuation_of(view, "high"), box)
    a_low = cv2.blur(attenuation_of(view, "low"), box)
    if quantity is Quantity.ZEFF:
        from nii.kernels import effective_z

        return effective_z(a_high, a_low, table.grid)
    return table.classify(a_high, a_low).astype(np.float32)


def _known(scanner: str) -> str:
    from nii.physics import SCANNERS

    if scanner not in SCANNERS:
        raise ConfigurationError(
            f"scanner model {scanner!r} is not one nii can compute with; known: {', '.join(sorted(SCANNERS))}"
        )
    return scanner


def _zeff_table(view: View, scanner: str) -> ZeffTable:

    if not {"high", "low"} <= set(view.channels):
        raise ConfigurationError(
            f"Zeff and material classes need channels 'high' and 'low'; view {view.name!r} has {view.channel_names}"
        )
    return _cached_zeff_table(_known(scanner))


@lru_cache(maxsize=8)
def _cached_zeff_table(scanner: str) -> ZeffTable:
    from nii.calibration import ZeffTable

    return ZeffTable.from_scanner(scanner)


def object_mask(view: View, channel: str, values: np.ndarray, quantity: Quantity) -> np.ndarray:
    """Pixels of the object: not air, not photon-starved, not saturated (view orientation)."""
    source = (
        channel
        if channel in MEASURED_CHANNELS
        else (measured_channel(view) if any(n in MEASURED_CHANNELS for n in view.channels) else None)
    )
    # The attenuation shown was computed, so the source can attenuate: no need to find its open beam again.
    shown = quantity is Quantity.ATTENUATION and source == channel
    if source is None or not (shown or can_attenuate(view, source)):
        finite = np.isfinite(values)
        low, high = np.percentile(values[finite], (0, 100)) if finite.any() else (0.0, 0.0)
        return finite & (values > low) & (values < high)
    a = values if shown else attenuation_of(view, source)
    mask = (a > AIR_ATTENUATION) & (a < STARVED_ATTENUATION)
    if view.calibration is CalibrationState.RAW:
        counts = np.asarray(view.channels[source])
        dark = (  # no dark lines: calibrated on the scan's own open beam, with no offset
            np.asarray(view.dark[source], np.float32).reshape(counts.shape[0], -1).mean(axis=1)
            if source in view.dark
            else np.zeros(counts.shape[0], np.float32)
        )
        mask &= counts > (dark + STARVED_COUNTS)[:, None]
        top = int(counts.max())
        if top in (4095, 16383, 65535):  # the ADC's full scale: saturated
            mask &= counts < top
    if quantity in (Quantity.ZEFF, Quantity.MATERIAL):
        mask &= np.isfinite(values)
    return mask


def oriented(array: np.ndarray, view: View) -> np.ndarray:
    g = view.geometry
    return orient(
        np.ascontiguousarray(array),
        reverse_rows=g.row_order is RowOrder.BOTTOM_UP,
        reverse_lines=g.travel_direction is TravelDirection.RIGHT_TO_LEFT,
    )


def cell_edges(view: View) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges in mm of the rows and of the lines, canonically oriented (line positions when known)."""
    g = view.geometry
    rows, lines = view.shape
    if g.detector_spacing_mm is None or g.travel_spacing_mm is None:  # unknown: one unit per sample
        return np.arange(rows + 1, dtype=np.float64), np.arange(lines + 1, dtype=np.float64)
    row_edges = g.detector_spacing_mm * np.arange(rows + 1, dtype=np.float64)
    positions = g.line_positions_mm
    if positions is None:
        return row_edges, g.travel_spacing_mm * np.arange(lines + 1, dtype=np.float64)
    if g.travel_direction is TravelDirection.RIGHT_TO_LEFT:
        positions = positions[-1] - positions[::-1]
    if lines == 1:
        return row_edges, np.array([positions[0] - 0.5 * g.travel_spacing_mm, positions[0] + 0.5 * g.travel_spacing_mm])
    middles = (positions[1:] + positions[:-1]) / 2
    first, last = positions[0] - (middles[0] - positions[0]), positions[-1] + (positions[-1] - middles[-1])
    return row_edges, np.concatenate([[first], middles, [last]])


def occupied_span(counts: np.ndarray, length: int) -> tuple[int, int] | None:
    """First and last index with a real share of object pixels (a few noisy pixels do not count)."""
    occupied = np.flatnonzero(counts >= max(2, 0.01 * length))
    return (int(occupied[0]), int(occupied[-1])) if occupied.size else None
