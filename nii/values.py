"""What the numbers in a channel mean: the 16-bit code conventions and physical values.

Steps compute in float32; 16-bit formats (DICOS) store codes with these fixed scales,
:data:`nii.kernels.QUANTIZATION` (the value is ``code × scale``):

===================  =================  ====================================
what                 channel            scale
===================  =================  ====================================
transmission I/I0    measured channels  1 / 65535
attenuation −ln T    measured channels  1 / :data:`nii.kernels.ATTENUATION_SCALE`
steel equivalent mm  ``steel_mm``       0.1 mm
effective Z          ``zeff``           0.01
material class       ``material``       1 (:class:`nii.kernels.MaterialClass`)
===================  =================  ====================================

:func:`attenuation_of` gives the float32 attenuation of a measured channel whatever the
view holds (raw counts with references, transmission or attenuation, float or codes), so
every consumer (pipeline steps, picture export) reads channels the same way.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from nii.kernels import QUANTIZATION, Calibration, attenuation, calibrated_attenuation
from nii.kernels.air import AirRegion, air_references, find_air
from nii.model import CalibrationState, View

__all__ = [
    "adc_maximum",
    "attenuation_of",
    "calibration_and_air_of",
    "calibration_of",
    "open_beam_calibration",
    "physical",
    "quantize_array",
    "raw_frame",
    "raw_of",
]


def quantize_array(values: np.ndarray, scale: float) -> np.ndarray:
    """``round(values / scale)`` clipped to uint16."""
    return np.clip(np.rint(values * np.float32(1.0 / scale)), 0, 65535).astype(np.uint16)


def physical(array: np.ndarray, state: CalibrationState) -> np.ndarray:
    """A measured channel as float32 physical values (16-bit codes decoded); raw counts as float32."""
    values = np.asarray(array)  # lazy channels are read here
    if values.dtype == np.float32:
        return np.ascontiguousarray(values)
    if values.dtype == np.uint16 and state is not CalibrationState.RAW:
        return (values * np.float32(QUANTIZATION[str(state)])).astype(np.float32)
    return np.ascontiguousarray(values, dtype=np.float32)


def calibration_of(view: View, channel: str) -> Calibration:
    """The calibration kernels' references of one raw channel (see :func:`calibration_and_air_of`)."""
    return calibration_and_air_of(view, channel)[0]


def calibration_and_air_of(view: View, channel: str) -> tuple[Calibration, AirRegion | None]:
    """The calibration of one raw channel, and the open-beam region it came from when the file had no references.

    From the view's dark and air lines when it has them; otherwise (vendor exports without
    calibration lines) from the open beam the scan itself shows: the lines before and after the
    object and the rows above it (:func:`nii.kernels.air.find_air`), with no dark offset. Every
    consumer (steps, renderer, comparisons) calibrates the same way; the steps record the region.

    The open beam is searched once per channel array (see :func:`open_beam_calibration`), however
    many consumers ask: a view whose channel is replaced by another array is searched again.
    """
    if channel in view.dark and channel in view.air:
        references = Calibration.from_references(
            view.dark[channel], view.air[channel], reference=view.reference.get(channel)
        )
        return references, None
    return open_beam_calibration(view.channels[channel])


_OPEN_BEAM: dict[int, tuple[Calibration, AirRegion]] = {}
"""Open-beam calibrations by ``id`` of the channel array they were found on; an entry is dropped when
its array is freed (``weakref.finalize``), so the cache holds no more than the arrays alive."""
_OPEN_BEAM_LOCK = threading.Lock()


def open_beam_calibration(counts: Any) -> tuple[Calibration, AirRegion]:
    """The calibration of raw integer counts on the open beam they show, and the region it is in.

    Remembered for as long as the ``counts`` object lives, keyed on its identity: the renderer,
    the steps and the object mask ask for the same channel several times, and finding the open
    beam reads the whole channel. Channels are not edited in place (steps make new views with new
    arrays); an array changed in place after its calibration was asked for keeps that calibration.

    Examples
    --------
    >>> counts = np.full((4, 30), 40000, np.uint16)
    >>> counts[1:, 10:20] = 9000  # an object, with the open beam before, after and above it
    >>> open_beam_calibration(counts) is open_beam_calibration(counts)
    True
    """
    key = id(counts)
    found = _OPEN_BEAM.get(key)
    if found is not None:
        return found
    raw = raw_frame(counts)
    region = find_air(raw)
    air, level = air_references(raw, region)
    calibration = Calibration.from_references(
        np.zeros(raw.shape[0], np.float32), air, reference=level, saturation=adc_maximum(raw)
    )
    with _OPEN_BEAM_LOCK:
        if key not in _OPEN_BEAM:
            try:
                weakref.finalize(counts, _OPEN_BEAM.pop, key, None)
            except TypeError:  # an object without weak references is not remembered
                return calibration, region
            _OPEN_BEAM[key] = (calibration, region)
        return _OPEN_BEAM[key]


def adc_maximum(raw: np.ndarray) -> float:
    """The ADC maximum of raw counts: the largest value of their integer type."""
    return float(np.iinfo(raw.dtype).max) if raw.dtype.kind in "ui" else float("inf")


def raw_of(view: View, channel: str) -> np.ndarray:
    """A raw channel as the C-contiguous uint16 frame the kernels take."""
    return raw_frame(view.channels[channel])


def raw_frame(counts: Any) -> np.ndarray:
    """Raw counts (an array or an array-like, e.g. a lazily read channel) as the C-contiguous uint16 frame
    the kernels take."""
    return np.ascontiguousarray(np.asarray(counts), dtype=np.uint16)


def attenuation_of(view: View, channel: str) -> np.ndarray:
    """float32 attenuation ``−ln(I/I0)`` of a measured channel."""
    if view.calibration is CalibrationState.ATTENUATION:
        return physical(view.channels[channel], view.calibration)
    if view.calibration is CalibrationState.TRANSMISSION:
        return attenuation(physical(view.channels[channel], view.calibration))
    return calibrated_attenuation(raw_of(view, channel), calibration_of(view, channel))
