"""X-ray physics shared by the simulator, calibration and processing: spectra, detectors, scanners.

It builds on the attenuation data and materials of :mod:`nii.materials` (the NIST XCOM
element table), whose public names it also offers (``nii.physics.MATERIALS`` and so on).

A :class:`Spectrum` is a set of energies with weights. Sources give photon-fluence spectra
(:func:`linac_spectrum`, :func:`tube_spectrum`); :func:`detected` folds in an
energy-integrating detector, after which the weights are what the detector integrates
(photons × energy × deposited fraction). Polychromatic transmission is the weighted sum of
monochromatic transmissions, which is what makes dual-energy ratios depend on the material::

    >>> high = detected(linac_spectrum(6.0))
    >>> low = detected(linac_spectrum(4.0))
    >>> a = 100.0  # g/cm² of iron
    >>> bool(np.log(transmission(high, "iron", a)) / np.log(transmission(low, "iron", a)) < 1)
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike

from nii.errors import ValidationError
from nii.kernels.spectral import polychromatic_transmission
from nii.materials import (
    DETECTORS,
    MATERIALS,
    Component,
    Element,
    Material,
    as_material,
    effective_z,
    load_xcom,
    mass_attenuation,
)
from nii.model import SourceKind

__all__ = [
    "DETECTORS",
    "MATERIALS",
    "SCANNERS",
    "DetectorModel",
    "Element",
    "Material",
    "ScannerModel",
    "Spectrum",
    "compton_energy_transfer",
    "deposited_fraction",
    "detected",
    "effective_z",
    "filtered",
    "layered_transmission",
    "linac_spectrum",
    "load_xcom",
    "mass_attenuation",
    "transmission",
    "tube_spectrum",
]

ELECTRON_REST_ENERGY_MEV = 0.51099895
"""m_e c² (CODATA 2018)."""


# --------------------------------------------------------------------------------------------
# Spectra


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Discrete X-ray spectrum: energies (bin centres, MeV) and weights normalised to sum 1.

    Parameters
    ----------
    energies_mev
        Strictly increasing, within the XCOM range.
    weights
        Non-negative. Before :func:`detected` they are the photon fluence per bin; after it, what the detector
        integrates (photons × energy × deposited fraction).
    detector
        ``None`` for a photon-fluence spectrum; the detector's description once its response is folded in.
    description
        How the spectrum was made, for metadata and plots.

    Examples
    --------
    >>> Spectrum.monochromatic(1.0).weights
    array([1.])
    """

    energies_mev: np.ndarray
    weights: np.ndarray
    detector: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        energies = np.array(self.energies_mev, dtype=np.float64, ndmin=1)
        weights = np.array(self.weights, dtype=np.float64, ndmin=1)
        if energies.ndim != 1 or weights.shape != energies.shape:
            raise ValidationError(f"spectrum needs 1-D energies and weights of one length, got {energies.shape}")
        if not (np.all(np.isfinite(energies)) and np.all(energies > 0) and np.all(np.diff(energies) > 0)):
            raise ValidationError("spectrum energies must be positive and strictly increasing")
        if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
            raise ValidationError("spectrum weights must be non-negative with a positive sum")
        weights = weights / weights.sum()
        energies.setflags(write=False)
        weights.setflags(write=False)
        object.__setattr__(self, "energies_mev", energies)
        object.__setattr__(self, "weights", weights)

    @classmethod
    def monochromatic(cls, energy_mev: float) -> Spectrum:
        """A single energy (for checks against Beer–Lambert)."""
        return cls(np.array([energy_mev]), np.array([1.0]), description=f"monochromatic {energy_mev:g} MeV")

    @property
    def mean_energy_mev(self) -> float:
        """Weight-averaged energy."""
        return float(self.weights @ self.energies_mev)

    def times(self, factors: np.ndarray, *, detector: str | None = None, description: str = "") -> Spectrum:
        """A spectrum with the weights multiplied by ``factors`` (renormalised)."""
        return Spectrum(
            self.energies_mev,
            self.weights * factors,
            detector if detector is not None else self.detector,
            description or self.description,
        )


Filtration = Sequence[tuple[Material | str, float]]
"""Filters as ``(material, thickness in mm)`` pairs."""


def filtered(spectrum: Spectrum, filtration: Filtration) -> Spectrum:
    """The spectrum behind filters, ``[(material, thickness_mm), ...]`` (Beer–Lambert per energy).

    Examples
    --------
    >>> soft = tube_spectrum(160.0, filtration_mm_al=1.0)
    >>> filtered(soft, [("copper", 0.5)]).mean_energy_mev > soft.mean_energy_mev
    True
    """
    factors = np.ones(spectrum.energies_mev.shape)
    notes = []
    for item, thickness_mm in filtration:
        material = as_material(item)
        if not (math.isfinite(thickness_mm) and thickness_mm >= 0):
            raise ValidationError(f"filter thickness must be ≥ 0 mm, got {thickness_mm!r}")
        area_density = material.density_g_cm3 * thickness_mm / 10.0
        factors = factors * np.exp(-mass_attenuation(material, spectrum.energies_mev) * area_density)
        notes.append(f"{thickness_mm:g} mm {material.name}")
    if not notes:
        return spectrum
    description = f"{spectrum.description}, filtered by {' + '.join(notes)}".lstrip(", ")
    return spectrum.times(factors, description=description)


def _kramers(endpoint_mev: float, bin_mev: float, lowest_mev: float) -> tuple[np.ndarray, np.ndarray]:
    # Kramers' thick-target law: photon number per unit energy ∝ (E0 - E) / E.
    edges = np.arange(0.0, endpoint_mev + bin_mev / 2, bin_mev)
    centres = (edges[:-1] + edges[1:]) / 2
    centres = centres[(centres >= lowest_mev) & (centres < endpoint_mev)]
    return centres, (endpoint_mev - centres) / centres


def linac_spectrum(
    endpoint_mv: float, *, bin_mev: float = 0.1, target_mm_w: float = 1.0, filtration: Filtration = ()
) -> Spectrum:
    """Bremsstrahlung photon spectrum of an electron linac (forward direction), an approximation.

    Kramers' thick-target law ``N(E) ∝ (E0 - E) / E`` up to the end point ``E0``, hardened
    by the self-absorption of the tungsten target (``target_mm_w``) and any further
    filtration. This ignores the angular distribution and the electron transport in the
    target, so it is softer than Monte-Carlo spectra of radiotherapy linacs (mean photon
    energy 1.3 MeV at 6 MV, against about 1.6-2 MeV); it is smooth and has the right end
    point, which is what dual-energy contrast depends on to first order. Because of the
    soft part, thin high-Z objects (transmission above about 0.3) show a lower dual-energy
    ratio than iron: photoelectric absorption of the few-hundred-keV photons.

    Parameters
    ----------
    endpoint_mv
        Electron energy in MeV (the end point of the spectrum), e.g. 6.0 for a 6 MV linac.
    bin_mev
        Width of the energy bins (energies are bin centres from 50 keV up).
    target_mm_w
        Tungsten thickness the photons cross on their way out of the target.
    filtration
        Further filters, ``[(material, thickness_mm), ...]``.

    Examples
    --------
    >>> spectrum = linac_spectrum(6.0)
    >>> bool(spectrum.energies_mev[-1] < 6.0), 1.0 < spectrum.mean_energy_mev < 2.5
    (True, True)
    """
    if not (0.5 <= endpoint_mv <= 50):
        raise ValidationError(f"linac end point must be 0.5-50 MV, got {endpoint_mv!r}")
    if not (0 < bin_mev <= endpoint_mv / 10):
        raise ValidationError(f"energy bin must be positive and at most a tenth of the end point, got {bin_mev!r}")
    energies, photons = _kramers(endpoint_mv, bin_mev, lowest_mev=0.05)
    spectrum = Spectrum(energies, photons, description=f"{endpoint_mv:g} MV linac (Kramers)")
    return filtered(spectrum, [(Material("tungsten", {"W": 1.0}, 19.3), target_mm_w), *filtration])


def tube_spectrum(
    kv: float, *, filtration_mm_al: float = 2.0, bin_kev: float = 1.0, filtration: Filtration = ()
) -> Spectrum:
    """Bremsstrahlung photon spectrum of a tungsten-anode X-ray tube, an approximation.

    Kramers' law ``N(E) ∝ (kV - E) / E`` from 10 keV to the tube voltage, behind
    ``filtration_mm_al`` of aluminium (inherent plus added filtration) and any further
    filters. The tungsten K lines (58-69 keV) are left out: at 140-180 kV they carry a few
    per cent of the fluence and hardly move dual-energy ratios.

    Examples
    --------
    >>> spectrum = tube_spectrum(160.0)
    >>> 0.04 < spectrum.mean_energy_mev < 0.08
    True
    """
    if not (20 <= kv <= 600):
        raise ValidationError(f"tube voltage must be 20-600 kV, got {kv!r}")
    if not (0 < bin_kev <= kv / 20):
        raise ValidationError(f"energy bin must be positive and at most 1/20 of the voltage, got {bin_kev!r}")
    energies, photons = _kramers(kv / 1000, bin_kev / 1000, lowest_mev=0.010)
    spectrum = Spectrum(energies, photons, description=f"{kv:g} kV tube (Kramers)")
    return filtered(spectrum, [("aluminium", filtration_mm_al), *filtration])


def compton_energy_transfer(energies_mev: ArrayLike) -> np.ndarray:
    """Mean fraction of the photon energy given to the electron in Compton scattering.

    The Klein-Nishina cross-section integrated numerically over the scattering angle.

    Examples
    --------
    >>> compton_energy_transfer([1.0]).round(2)
    array([0.44])
    """
    energies = np.asarray(energies_mev, dtype=np.float64)
    cos_theta = np.linspace(-1.0, 1.0, 801)
    k = energies.reshape(-1, 1) / ELECTRON_REST_ENERGY_MEV
    ratio = 1.0 / (1.0 + k * (1.0 - cos_theta))  # E'/E
    cross_section = ratio**2 * (ratio + 1.0 / ratio - (1.0 - cos_theta**2))
    transferred = np.trapezoid(cross_section * (1.0 - ratio), cos_theta, axis=1)
    return np.asarray(transferred / np.trapezoid(cross_section, cos_theta, axis=1)).reshape(energies.shape)


def deposited_fraction(detector: str, thickness_mm: float, energies_mev: ArrayLike) -> np.ndarray:
    """Mean fraction of a photon's energy deposited in a scintillator crystal, per incident photon.

    A photon interacts with probability ``1 - exp(-μ ρ t)`` and deposits, on average, its
    whole energy when absorbed photoelectrically, the Klein-Nishina mean energy transfer in
    Compton scattering, and ``E - 2 m c²`` in pair production; scattered and annihilation
    photons escape (a first-interaction approximation, good for the thin crystals of
    line-scan detectors).

    Examples
    --------
    >>> deposited_fraction("CsI", 5.0, [0.04]).round(2)
    array([0.97])
    """
    if detector not in DETECTORS:
        raise ValidationError(f"unknown detector {detector!r}; known: {', '.join(DETECTORS)}")
    if not (math.isfinite(thickness_mm) and thickness_mm > 0):
        raise ValidationError(f"detector thickness must be positive, got {thickness_mm!r}")
    crystal = DETECTORS[detector]
    energies = np.asarray(energies_mev, dtype=np.float64)
    total = mass_attenuation(crystal, energies)

    def part(component: Component) -> np.ndarray:
        return mass_attenuation(crystal, energies, component=component)

    pair_kinetic = np.clip(energies - 2 * ELECTRON_REST_ENERGY_MEV, 0.0, None)
    deposited = (
        part("photoelectric") * energies
        + part("incoherent") * energies * compton_energy_transfer(energies)
        + part("pair") * pair_kinetic
    ) / (total * energies)
    return -np.expm1(-total * crystal.density_g_cm3 * thickness_mm / 10.0) * deposited


def detected(spectrum: Spectrum, *, detector: str = "CdWO4", thickness_mm: float = 10.0) -> Spectrum:
    """Fold an energy-integrating scintillator's response into a photon-fluence spectrum.

    The weights become ``N(E) × E × deposited_fraction(E)`` (see :func:`deposited_fraction`),
    which is what the detector integrates.

    Parameters
    ----------
    spectrum
        Photon-fluence spectrum reaching the detector.
    detector
        A name of :data:`DETECTORS`.
    thickness_mm
        Crystal depth along the beam.

    Examples
    --------
    >>> fluence = linac_spectrum(6.0)
    >>> detected(fluence).mean_energy_mev > fluence.mean_energy_mev
    True
    """
    if spectrum.detector is not None:
        raise ValidationError(f"spectrum already includes the response of {spectrum.detector}")
    energies = spectrum.energies_mev
    response = energies * deposited_fraction(detector, thickness_mm, energies)
    name = f"{thickness_mm:g} mm {detector}"
    return spectrum.times(response, detector=name, description=f"{spectrum.description}, {name}")


# --------------------------------------------------------------------------------------------
# Transmission


def layered_transmission(spectrum: Spectrum, layers: Sequence[tuple[Material | str, ArrayLike]]) -> np.ndarray:
    """Polychromatic transmission of rays that cross several materials one after another.

    ``T = sum_E w(E) exp(-sum_m μ_m(E) a_m)``: the materials harden the beam together, so
    this is not the product of their separate transmissions. Area densities of the layers
    broadcast against each other.

    Parameters
    ----------
    spectrum
        What the detector integrates (usually the output of :func:`detected`).
    layers
        ``[(material, area_density_g_cm2), ...]``; area densities are ≥ 0 and may be arrays.

    Returns
    -------
    numpy.ndarray
        Transmission I/I0, shape of the broadcast area densities.

    Examples
    --------
    >>> spectrum = detected(linac_spectrum(6.0))
    >>> steel_then_wood = layered_transmission(spectrum, [("steel", 20.0), ("wood", [0.0, 50.0])])
    >>> steel_then_wood.shape, bool(steel_then_wood[1] < steel_then_wood[0])
    ((2,), True)
    """
    if not layers:
        raise ValidationError("layered_transmission needs at least one (material, area density) layer")
    materials = [as_material(material) for material, _ in layers]
    densities = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for _, a in layers))
    shape = densities[0].shape
    stacked = np.stack([d.reshape(-1) for d in densities]) if densities[0].size else np.zeros((len(layers), 0))
    if not np.all(np.isfinite(stacked)) or np.any(stacked < 0):
        raise ValidationError("area densities must be finite and ≥ 0")
    mu = np.stack([mass_attenuation(m, spectrum.energies_mev) for m in materials])
    return polychromatic_transmission(stacked, mu, spectrum.weights).reshape(shape)


def transmission(spectrum: Spectrum, material: Material | str, area_density_g_cm2: ArrayLike) -> np.ndarray:
    """Polychromatic transmission through ``area_density_g_cm2`` (g/cm², array) of one material.

    Examples
    --------
    >>> t = transmission(Spectrum.monochromatic(1.0), "iron", 78.74)  # 10 cm of iron
    >>> bool(abs(t - np.exp(-0.05995 * 78.74)) < 1e-12)
    True
    """
    return layered_transmission(spectrum, [(material, area_density_g_cm2)])


# --------------------------------------------------------------------------------------------
# Scanners


@dataclass(frozen=True)
class DetectorModel:
    """Detector electronics and noise of one scanner (the same for all its elements on average).

    Counts of element ``r`` on line ``j`` through transmission ``T``::

        n      ~ Poisson(air_quanta × f_j × T)            quanta detected
        counts = dark_r + k_r × n + N(0, electronic_noise_counts²), rounded, clipped to [0, 2**bits - 1]
        k_r    = gain_r × air_fraction × (2**bits - 1) / air_quanta

    with ``f_j = 1 + source_fluctuation × N(0, 1)`` per line and channel (pulse-to-pulse
    intensity, recorded by the reference detector with ``reference_noise``), ``gain_r = 1 +
    gain_spread × N(0, 1)`` and ``dark_r = (dark_fraction + dark_spread × N(0, 1)) × (2**bits
    - 1)`` per element. Dead elements (``dead_fraction`` of them) have ``k_r = 0``. The
    variance in a uniform region is therefore ``k² (q T + q² T² σ_f²) + σ_e² + 1/12`` with
    ``q = air_quanta`` (the 1/12 is the rounding).
    """

    bits: int = 16
    air_quanta: float = 2.0e5
    air_fraction: float = 0.8
    dark_fraction: float = 0.015
    dark_spread: float = 0.002
    gain_spread: float = 0.05
    electronic_noise_counts: float = 4.0
    source_fluctuation: float = 0.01
    reference_noise: float = 0.001
    dead_fraction: float = 0.002

    def __post_init__(self) -> None:
        if self.bits not in (12, 14, 16):
            raise ValidationError(f"bit depth must be 12, 14 or 16, got {self.bits!r}")
        if not self.air_quanta > 0:
            raise ValidationError(f"air quanta must be positive, got {self.air_quanta!r}")
        if not 0 < self.air_fraction + self.dark_fraction <= 1:
            raise ValidationError("air level plus dark offset must fit in the ADC range")
        for name in (
            "dark_fraction",
            "dark_spread",
            "gain_spread",
            "electronic_noise_counts",
            "source_fluctuation",
            "reference_noise",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValidationError(f"{name} must be ≥ 0, got {value!r}")
        if not 0 <= self.dead_fraction < 0.5:
            raise ValidationError(f"dead fraction must be in [0, 0.5), got {self.dead_fraction!r}")

    @property
    def full_scale(self) -> int:
        """Largest count the ADC can give (saturation)."""
        return int(2**self.bits - 1)


@dataclass(frozen=True)
class ScannerModel:
    """A simulated scanner: source, detected spectra per channel, detector geometry and electronics.

    Parameters
    ----------
    name
        Key in :data:`SCANNERS`, also the model name written to the scan.
    source
        LINAC or TUBE.
    energies_kv
        Nominal energy of each channel in kV (``{"high": 6000, "low": 4000}``); the channel names.
    spectra
        Detected spectrum (:func:`detected`) of each channel.
    views
        View names: ``("side",)`` for a horizontal beam, ``("side", "top")`` for a two-view baggage scanner.
    rows
        Detector elements per view.
    detector_pitch_mm, line_rate_hz, speed_mm_s
        Element pitch, lines per second (per channel), belt or vehicle speed.
    detector
        Electronics and noise (:class:`DetectorModel`).
    channel_offsets_lines
        Where each channel samples the object, in lines: interlaced linac pulses and offset
        detector layers see the object half a line (or another fraction) apart.
    speed_variation
        Relative amplitude of a slow speed change along the scan (0: constant speed).
    """

    name: str
    source: SourceKind
    energies_kv: Mapping[str, float]
    spectra: Mapping[str, Spectrum]
    views: tuple[str, ...] = ("side",)
    rows: int = 1280
    detector_pitch_mm: float = 3.75
    line_rate_hz: float = 400.0
    speed_mm_s: float = 1200.0
    detector: DetectorModel = field(default_factory=DetectorModel)
    channel_offsets_lines: Mapping[str, float] = field(default_factory=dict)
    speed_variation: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", SourceKind(self.source))
        if set(self.energies_kv) != set(self.spectra) or not self.spectra:
            raise ValidationError(f"scanner {self.name!r}: channels of energies and spectra differ")
        for channel, spectrum in self.spectra.items():
            if spectrum.detector is None:
                raise ValidationError(f"scanner {self.name!r}: spectrum of {channel!r} lacks the detector response")
        unknown = set(self.channel_offsets_lines) - set(self.spectra)
        if unknown:
            raise ValidationError(f"scanner {self.name!r}: offsets for unknown channels {sorted(unknown)}")
        if not self.views or len(set(self.views)) != len(self.views) or not set(self.views) <= {"side", "top"}:
            raise ValidationError(f"scanner {self.name!r}: views must be distinct names among 'side', 'top'")
        if self.rows < 1:
            raise ValidationError(f"scanner {self.name!r}: needs at least one detector row")
        for what in ("detector_pitch_mm", "line_rate_hz", "speed_mm_s"):
            value = getattr(self, what)
            if not (math.isfinite(value) and value > 0):
                raise ValidationError(f"scanner {self.name!r}: {what} must be positive, got {value!r}")
        if not 0 <= self.speed_variation < 0.5:
            raise ValidationError(f"scanner {self.name!r}: speed variation must be in [0, 0.5)")
        object.__setattr__(self, "energies_kv", MappingProxyType(dict(self.energies_kv)))
        object.__setattr__(self, "spectra", MappingProxyType(dict(self.spectra)))
        offsets = {channel: float(self.channel_offsets_lines.get(channel, 0.0)) for channel in self.spectra}
        object.__setattr__(self, "channel_offsets_lines", MappingProxyType(offsets))

    __hash__ = object.__hash__

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.spectra)

    @property
    def line_step_mm(self) -> float:
        """Distance travelled per line (speed / line rate)."""
        return self.speed_mm_s / self.line_rate_hz


def _linac(
    name: str,
    energies_mv: Mapping[str, float],
    *,
    bits: int = 16,
    speed_mm_s: float = 1200.0,
    speed_variation: float = 0.0,
) -> ScannerModel:
    # Cargo linacs: a CdWO4 column 30 mm deep, 1280 elements of 3.75 mm covering 4.8 m,
    # 400 lines/s, interlaced dual-energy pulses half a line apart.
    spectra = {
        channel: detected(linac_spectrum(mv), detector="CdWO4", thickness_mm=30.0)
        for channel, mv in energies_mv.items()
    }
    noise = {16: 4.0, 14: 1.5, 12: 0.6}[bits]
    return ScannerModel(
        name=name,
        source=SourceKind.LINAC,
        energies_kv={channel: mv * 1000.0 for channel, mv in energies_mv.items()},
        spectra=spectra,
        detector=DetectorModel(bits=bits, air_quanta=2.0e5, electronic_noise_counts=noise, source_fluctuation=0.02),
        channel_offsets_lines={"low": 0.5} if "low" in energies_mv else {},
        speed_mm_s=speed_mm_s,
        speed_variation=speed_variation,
    )


def _tube_dual(name: str, high_kv: float, low_kv: float) -> ScannerModel:
    # Two-view baggage scanner switching the tube voltage line by line: 700 elements of 1 mm,
    # 0.6 mm CsI, 12-bit electronics, belt at 0.25 m/s and 250 lines/s (1 mm per line).
    spectra = {
        "high": detected(
            tube_spectrum(high_kv, filtration_mm_al=2.0, filtration=[("copper", 0.3)]), detector="CsI", thickness_mm=0.6
        ),
        "low": detected(tube_spectrum(low_kv, filtration_mm_al=2.0), detector="CsI", thickness_mm=0.6),
    }
    return ScannerModel(
        name=name,
        source=SourceKind.TUBE,
        energies_kv={"high": high_kv, "low": low_kv},
        spectra=spectra,
        views=("side", "top"),
        rows=700,
        detector_pitch_mm=1.0,
        line_rate_hz=250.0,
        speed_mm_s=250.0,
        detector=DetectorModel(
            bits=12, air_quanta=4.0e4, electronic_noise_counts=0.8, source_fluctuation=0.002, reference_noise=0.0005
        ),
        channel_offsets_lines={"low": 0.5},
    )


def _portal(name: str, energies_mv: Mapping[str, float]) -> ScannerModel:
    # Drive-through portal: the driver stays in the cab and drives through at 5-10 km/h, so the
    # speed varies along the scan; 12-bit electronics, 1024 elements of 5 mm (5.1 m), 600 lines/s.
    # Its electronics subtract each element's dark offset before export (its files carry no dark lines,
    # and calibration from the scan's own open beam assumes no offset is left).
    linac = _linac(name, energies_mv, bits=12, speed_mm_s=2500.0, speed_variation=0.08)
    detector = replace(linac.detector, dark_fraction=0.0, dark_spread=0.0)
    return replace(linac, detector=detector, rows=1024, detector_pitch_mm=5.0, line_rate_hz=600.0)


SCANNERS: Mapping[str, ScannerModel] = MappingProxyType(
    {
        scanner.name: scanner
        for scanner in (
            _linac("linac-4", {"single": 4.0}, bits=14, speed_mm_s=900.0, speed_variation=0.05),
            _linac("linac-6", {"single": 6.0}),
            _linac("linac-9", {"single": 9.0}),
            _linac("linac-6/4", {"high": 6.0, "low": 4.0}),
            _linac("linac-6/3.5", {"high": 6.0, "low": 3.5}),
            _linac("linac-9/6", {"high": 9.0, "low": 6.0}),
            _tube_dual("tube-160/80", 160.0, 80.0),
            _portal("portal-6/4", {"high": 6.0, "low": 4.0}),
        )
    }
)
"""Simulated scanners by name: single-energy linacs (4, 6, 9 MV), interlaced dual-energy
linacs (6/4, 6/3.5, 9/6 MV), a two-view dual-energy baggage scanner (160/80 kV) and a 12-bit
drive-through portal (6/4 MV, varying speed; its scans fit the ``ref-packed12`` format)."""
