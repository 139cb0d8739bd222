from datetime import UTC, datetime

import numpy as np
import pytest

from nii.errors import ValidationError
from nii.model import (
    AssessmentFlag,
    Box,
    Geometry,
    InspectedObject,
    ObjectType,
    Scan,
    Scanner,
    Threat,
    ThreatOrigin,
    View,
    container_check_digit,
    new_uid,
)

UTC = UTC


def view(shape=(4, 6), **kwargs):
    return View("side", {"high": np.zeros(shape, np.uint16)}, Geometry(5.0, 4.0), **kwargs)


@pytest.mark.parametrize(("number", "digit"), [("CSQU305438", 3), ("MSCU123456", 6), ("TGHU000004", 0)])
def test_container_check_digit_matches_iso6346(number, digit):
    # CSQU3054383 is the standard's worked example. By hand, with A=10, B=12 (11 skipped) ... U=32:
    # MSCU123456: 24 + 30*2 + 13*4 + 32*8 + 1*16 + 2*32 + 3*64 + 4*128 + 5*256 + 6*512 = 5528, 5528 % 11 = 6;
    # TGHU000004: 31 + 17*2 + 18*4 + 32*8 + 4*512 = 2441, 2441 % 11 = 10, which the standard writes as 0.
    assert container_check_digit(number) == digit


def test_container_number_with_wrong_check_digit_is_refused():
    assert InspectedObject("CARGO", container_numbers=("csqu 3054383",)).container_numbers == ("CSQU3054383",)
    with pytest.raises(ValidationError, match=r"check digit 4, ISO 6346 gives 3"):
        InspectedObject("CARGO", container_numbers=("CSQU3054384",))
    with pytest.raises(ValidationError, match="ISO 6346 form"):
        InspectedObject("CARGO", container_numbers=("CSQ3054384",))


def test_enums_accept_strings_case_insensitively():
    assert ObjectType("baggage") is ObjectType.BAGGAGE
    assert ThreatOrigin("ground truth") is ThreatOrigin.GROUND_TRUTH
    assert ThreatOrigin("GROUND_TRUTH") is ThreatOrigin.GROUND_TRUTH
    assert AssessmentFlag("high_threat").is_alarm
    with pytest.raises(ValueError):
        ObjectType("submarine")


def test_negative_or_zero_spacing_is_refused():
    with pytest.raises(ValidationError, match="detector spacing"):
        Geometry(-1.0, 4.0)
    with pytest.raises(ValidationError, match="travel spacing"):
        Geometry(5.0, 0.0)
    with pytest.raises(ValidationError, match="travel spacing"):
        Geometry(5.0, float("nan"))


def test_channel_shape_mismatch_is_refused():
    with pytest.raises(ValidationError, match=r"channel 'low' of view 'side' has shape \(4, 7\)"):
        View("side", {"high": np.zeros((4, 6)), "low": np.zeros((4, 7))})
    with pytest.raises(ValidationError, match="2-D"):
        View("side", {"high": np.zeros((4, 6, 2))})


def test_references_and_line_positions_must_fit_the_view():
    with pytest.raises(ValidationError, match="dark reference"):
        view(dark={"high": np.zeros(5)})
    with pytest.raises(ValidationError, match="unknown channel"):
        view(air={"low": np.zeros(4)})
    with pytest.raises(ValidationError, match="reference-detector"):
        view(reference={"high": np.zeros(5)})
    with pytest.raises(ValidationError, match="strictly increasing"):
        Geometry(1.0, 1.0, line_positions_mm=np.array([0.0, 2.0, 1.0]))
    with pytest.raises(ValidationError, match="line positions"):
        View("side", {"high": np.zeros((4, 6))}, Geometry(1.0, 1.0, line_positions_mm=np.arange(5.0)))


def test_naive_datetime_is_refused():
    with pytest.raises(ValidationError, match="no time zone"):
        Scan([view()], datetime(2026, 1, 1, 12, 0))


def test_arrays_are_not_copied():
    data = np.arange(24, dtype=np.uint16).reshape(4, 6)
    v = View("side", {"high": data})
    assert v.channels["high"] is data


def test_threats_are_validated_against_their_view():
    ok = Threat("side", Box(1, 1, 5, 3), probability=0.5)
    Scan([view()], datetime(2026, 1, 1, tzinfo=UTC), threats=[ok])
    with pytest.raises(ValidationError, match="outside"):
        Scan([view()], datetime(2026, 1, 1, tzinfo=UTC), threats=[Threat("side", Box(2, 1, 5, 3))])
    with pytest.raises(ValidationError, match="unknown view 'top'"):
        Scan([view()], datetime(2026, 1, 1, tzinfo=UTC), threats=[Threat("top", Box(0, 0, 1, 1))])
    with pytest.raises(ValidationError, match=r"outside \[0, 1\]"):
        Threat("side", Box(0, 0, 1, 1), probability=1.5)
    with pytest.raises(ValidationError, match="mask has shape"):
        Threat("side", Box(0, 0, 2, 2), mask=np.ones((3, 2), bool))
    with pytest.raises(ValidationError, match="size"):
        Box(0, 0, 0, 2)


def test_scan_rules():
    with pytest.raises(ValidationError, match="at least one view"):
        Scan([], datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationError, match="unique"):
        Scan([view(), view()], datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationError, match="not a valid UID"):
        Scan([view()], datetime(2026, 1, 1, tzinfo=UTC), scan_uid="1.2.abc")
    # Leading-zero components written by the reference DICOS toolkit are tolerated.
    Scan([view()], datetime(2026, 1, 1, tzinfo=UTC), scan_uid="0995258432.40471.16154.096030.069018049142053046")


def test_new_uids_are_2_25_and_short():
    uid = new_uid()
    assert uid.startswith("2.25.") and len(uid) <= 64 and uid != new_uid()


def test_scanner_energies_must_be_positive():
    assert Scanner(energies_kv={"high": 6000, "low": 4000}).energies_kv == {"high": 6000.0, "low": 4000.0}
    with pytest.raises(ValidationError, match="energy of channel 'low'"):
        Scanner(energies_kv={"low": -4})
