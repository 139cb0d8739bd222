import csv
from importlib.resources import files

import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels.spectral import polychromatic_transmission_numpy
from nii.materials import DETECTORS, MATERIALS, Material, effective_z, load_xcom, mass_attenuation
from nii.physics import (
    SCANNERS,
    Spectrum,
    compton_energy_transfer,
    deposited_fraction,
    detected,
    filtered,
    layered_transmission,
    linac_spectrum,
    transmission,
    tube_spectrum,
)


def xcom_rows(z):
    with (files("nii") / "data" / "nist_xcom_elements.csv").open() as handle:
        return [row for row in csv.DictReader(handle) if int(row["z"]) == z]


def test_table_has_every_element_with_its_check_value():
    table = load_xcom()
    assert len(table) == 100 and table["H"].z == 1 and table["Fm"].z == 100
    assert load_xcom() is table  # cached
    # README check value of the data: iron at 1 MeV, 5.995E-02 cm²/g.
    assert mass_attenuation("iron", 1.0) == pytest.approx(5.995e-2, rel=1e-12)
    assert table["Fe"].atomic_weight == pytest.approx(55.845)


def test_monochromatic_transmission_through_10_cm_iron_is_beer_lambert():
    row = next(r for r in xcom_rows(26) if float(r["energy_mev"]) == 1.0)
    mu_rho = float(row["total_with_coherent"])
    density, thickness_cm = MATERIALS["iron"].density_g_cm3, 10.0
    expected = np.exp(-mu_rho * density * thickness_cm)
    got = transmission(Spectrum.monochromatic(1.0), "iron", density * thickness_cm)
    assert got == pytest.approx(expected, rel=0.005)


def test_water_from_hydrogen_and_oxygen_matches_nist_water():
    # NIST X-Ray Mass Attenuation Coefficients (J. H. Hubbell and S. M. Seltzer, NISTIR 5632,
    # Table 4, "Water, Liquid"; https://physics.nist.gov/PhysRefData/XrayMassCoef/ComTab/water.html):
    # mu/rho = 1.707E-01 cm²/g at 0.1 MeV and 2.770E-02 cm²/g at 6 MeV.
    water = Material.from_formula("water", {"H": 2, "O": 1}, 1.0)
    got = mass_attenuation(water, [0.1, 6.0])
    np.testing.assert_allclose(got, [0.1707, 0.02770], rtol=0.01)
    assert water.composition["H"] == pytest.approx(0.1119, abs=1e-4)  # the data README's composition


def test_interpolation_is_log_log_and_never_crosses_an_edge():
    rows = [(float(r["energy_mev"]), float(r["total_with_coherent"])) for r in xcom_rows(82)]
    k_edge = 0.088
    below = next(mu for e, mu in rows if e == k_edge)
    above = [mu for e, mu in rows if e == k_edge][-1]
    assert above > 3 * below  # the K edge of lead
    previous = max((e, mu) for e, mu in rows if e < k_edge)
    energy = 0.086
    slope = np.log(below / previous[1]) / np.log(k_edge / previous[0])
    expected = previous[1] * (energy / previous[0]) ** slope
    assert mass_attenuation("lead", energy) == pytest.approx(expected, rel=1e-12)
    assert mass_attenuation("lead", k_edge) == pytest.approx(above)
    assert mass_attenuation("lead", k_edge * (1 - 1e-9)) == pytest.approx(below, rel=1e-6)
    # Tabulated points come back exactly.
    for e, mu in rows[::17]:
        if sum(1 for x, _ in rows if x == e) == 1:
            assert mass_attenuation("lead", e) == pytest.approx(mu, rel=1e-12)


def test_energies_outside_the_table_are_refused():
    with pytest.raises(ValidationError, match="photon energies"):
        mass_attenuation("water", 5e-4)


@pytest.mark.parametrize(
    ("composition", "density", "message"),
    [
        ({"H": 0.5, "O": 0.4}, 1.0, "sum to"),
        ({"H": 0.1119, "O": 0.8881}, 0.0, "density"),
        ({"Xx": 1.0}, 1.0, "unknown element"),
        ({"H": -0.1, "O": 1.1}, 1.0, "positive"),
    ],
)
def test_material_validation(composition, density, message):
    with pytest.raises(ValidationError, match=message):
        Material("bad", composition, density)


def test_required_materials_and_effective_z():
    for name in ("air", "polyethylene", "water", "cellulose", "aluminium", "iron", "copper", "lead", "tungsten"):
        assert name in MATERIALS
    assert effective_z("water") == pytest.approx(7.42, abs=0.01)  # the textbook value of the 2.94 power law
    assert effective_z("lead") == 82.0
    zs = [effective_z(m) for m in ("polyethylene", "cellulose", "aluminium", "iron", "copper", "lead")]
    assert zs == sorted(zs)
    with pytest.raises(ValidationError, match="unknown material"):
        effective_z("unobtainium")


def test_spectra_shapes_and_validation():
    six = linac_spectrum(6.0)
    assert six.energies_mev[-1] < 6.0 and six.weights.sum() == pytest.approx(1.0)
    assert linac_spectrum(9.0).mean_energy_mev > six.mean_energy_mev > linac_spectrum(4.0).mean_energy_mev
    tube = tube_spectrum(160.0)
    assert tube.energies_mev[-1] < 0.160 and tube.energies_mev[0] >= 0.010
    assert tube_spectrum(160.0, filtration_mm_al=6.0).mean_energy_mev > tube.mean_energy_mev
    assert filtered(tube, [("copper", 0.5)]).mean_energy_mev > tube.mean_energy_mev
    with pytest.raises(ValidationError):
        linac_spectrum(100.0)
    with pytest.raises(ValidationError):
        Spectrum(np.array([0.2, 0.1]), np.array([1.0, 1.0]))
    with pytest.raises(ValidationError):
        Spectrum(np.array([0.1, 0.2]), np.array([0.0, 0.0]))


def test_detector_response_weights_energy_and_absorption():
    fluence = tube_spectrum(160.0)
    thin = detected(fluence, detector="CsI", thickness_mm=0.2)
    thick = detected(fluence, detector="CsI", thickness_mm=5.0)
    # A thin crystal stops mostly the soft photons; every detected spectrum is energy-weighted.
    assert thin.mean_energy_mev < thick.mean_energy_mev
    assert thick.mean_energy_mev > fluence.mean_energy_mev
    assert thick.detector == "5 mm CsI"
    with pytest.raises(ValidationError, match="already"):
        detected(thick)
    with pytest.raises(ValidationError, match="unknown detector"):
        detected(fluence, detector="NaI")
    assert set(DETECTORS) >= {"CdWO4", "CsI"}


def test_deposited_energy_fraction():
    # Mean energy transferred to the Compton electron, T/hv, from Klein-Nishina: 0.138 at
    # 0.1 MeV, 0.440 at 1 MeV, 0.683 at 10 MeV (tabulated in H. E. Johns and J. R.
    # Cunningham, The Physics of Radiology, table of Compton energy transfer).
    np.testing.assert_allclose(compton_energy_transfer([0.1, 1.0, 10.0]), [0.138, 0.440, 0.683], rtol=0.02)
    # A thick crystal stops a soft photon and absorbs it photoelectrically (coherent scattering deposits nothing)...
    assert 0.95 < deposited_fraction("CsI", 5.0, 0.04) < 1.0
    # ...while at MV energies scattered and annihilation photons escape: less than the interaction probability.
    energies = np.array([1.0, 3.0, 6.0])
    interacting = -np.expm1(-mass_attenuation(DETECTORS["CdWO4"], energies) * 7.9 * 3.0)
    fraction = deposited_fraction("CdWO4", 30.0, energies)
    assert np.all((fraction > 0.2 * interacting) & (fraction < interacting))


def test_layered_transmission_couples_materials_through_beam_hardening():
    spectrum = SCANNERS["linac-6/4"].spectra["high"]
    steel, wood = 30.0, np.array([0.0, 20.0, 80.0])
    together = layered_transmission(spectrum, [("steel", steel), ("wood", wood)])
    separately = transmission(spectrum, "steel", steel) * transmission(spectrum, "wood", wood)
    assert together[0] == pytest.approx(separately[0])
    # Behind steel the beam is harder, so wood attenuates less than it would alone.
    assert np.all(together[1:] > separately[1:])
    mu = np.stack([mass_attenuation(m, spectrum.energies_mev) for m in ("steel", "wood")])
    area = np.stack(np.broadcast_arrays(np.full(3, steel), wood))
    np.testing.assert_allclose(together, polychromatic_transmission_numpy(area, mu, spectrum.weights), rtol=1e-12)
    assert transmission(spectrum, "water", np.zeros((2, 2))).shape == (2, 2)
    with pytest.raises(ValidationError, match="≥ 0"):
        transmission(spectrum, "water", -1.0)


def _ratios(scanner, materials, high_transmission):
    """ln T_high / ln T_low of each material at the area density giving ``high_transmission``."""
    high, low = scanner.spectra["high"], scanner.spectra["low"]
    grid = np.geomspace(1e-4, 3000.0, 3000)
    ratios = []
    for material in materials:
        t_high = transmission(high, material, grid)
        usable = t_high > 1e-12
        area = np.interp(np.log(high_transmission), np.log(t_high[usable][::-1]), grid[usable][::-1])
        ratios.append(float(np.log(transmission(high, material, area)) / np.log(transmission(low, material, area))))
    return ratios


ORDER = ("polyethylene", "aluminium", "iron", "lead")


@pytest.mark.parametrize("high_transmission", [0.2, 0.05, 0.01])
def test_dual_energy_ratio_orders_materials_at_6_4_mv(high_transmission):
    # Pair production grows with Z at high energy, so the high/low ratio grows with Z. (For
    # thin high-Z objects, T above about 0.3, photoelectric absorption of the soft part of
    # the spectrum pulls lead below iron: see linac_spectrum.)
    ratios = _ratios(SCANNERS["linac-6/4"], ORDER, high_transmission)
    assert ratios == sorted(ratios) and len(set(ratios)) == 4, dict(zip(ORDER, ratios, strict=True))


@pytest.mark.parametrize("high_transmission", [0.5, 0.2, 0.05])
def test_dual_energy_ratio_at_160_80_kv(high_transmission):
    # At kV energies the photoelectric effect (∝ Z^4 / E^3) makes low-energy attenuation grow
    # with Z, so the high/low ratio falls as Z rises: polyethylene > aluminium > iron.
    poly, aluminium, iron, lead = _ratios(SCANNERS["tube-160/80"], ORDER, high_transmission)
    assert poly > aluminium > iron
    # Lead's K edge (88 keV) lies between the two spectra: it attenuates the 160 kV beam
    # strongly and breaks the order, lead's ratio comes out above iron's (it looks lighter).
    assert lead > iron


def test_scanners():
    required = ("linac-4", "linac-6", "linac-9", "linac-6/4", "linac-6/3.5", "linac-9/6", "tube-160/80")
    assert set(required) <= set(SCANNERS)
    dual = SCANNERS["linac-6/4"]
    assert dict(dual.energies_kv) == {"high": 6000.0, "low": 4000.0}
    assert dual.channel_offsets_lines["low"] == 0.5 and dual.line_step_mm == pytest.approx(3.0)
    assert SCANNERS["linac-6"].channels == ("single",)
    baggage = SCANNERS["tube-160/80"]
    assert baggage.views == ("side", "top") and baggage.detector.bits == 12
    assert baggage.detector.full_scale == 4095
