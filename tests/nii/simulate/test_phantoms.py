import numpy as np
import pytest

from nii.errors import ValidationError
from nii.model import ObjectType, container_check_digit
from nii.physics import SCANNERS
from nii.simulate.assembly import Phantom
from nii.simulate.baggage import suitcase_phantom
from nii.simulate.phantoms import SCENARIOS, CargoBlock, container_phantom, steps_phantom, truck_phantom
from nii.simulate.solids import Box


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_builds_and_depends_only_on_the_seed(name):
    scenario = SCENARIOS[name]
    scanner = SCANNERS[scenario.default_scanner]
    first = scenario.build(np.random.default_rng(8), scanner)
    again = scenario.build(np.random.default_rng(8), scanner)
    assert len(first.solids) == len(again.solids) > 10
    assert [s.bounds().tolist() for s in first.solids] == [s.bounds().tolist() for s in again.solids]
    assert first.length_mm > 0 and set(first.material_names) <= set(first.materials)


def test_container_metadata_and_threat_choice():
    phantom = container_phantom(np.random.default_rng(3), threats=["cigarettes", "rifles"])
    (number,) = phantom.inspected_object.container_numbers
    assert phantom.inspected_object.type is ObjectType.CARGO
    assert int(number[-1]) == container_check_digit(number[:10])
    assert [t.category.value for t in phantom.threats] == ["CONTRABAND", "PI"]
    random_kinds = {len(container_phantom(np.random.default_rng(seed)).threats) for seed in range(6)}
    assert random_kinds <= {1, 2} and random_kinds
    assert container_phantom(np.random.default_rng(3), threats=()).threats == ()
    with pytest.raises(ValidationError, match="unknown threat"):
        container_phantom(np.random.default_rng(3), threats=["cheese"])


def test_chosen_cargo_blocks_are_placed():
    cargo = [CargoBlock("lead", 1.0, 1000.0, 400.0, 500.0, width=100.0)]
    phantom = truck_phantom(np.random.default_rng(0), cargo=cargo, threats=())
    lead = [s for s in phantom.solids if s.material == "lead" and isinstance(s, Box) and s.fill == 1.0]
    assert len(lead) == 1 and lead[0].y == (-50.0, 50.0) and lead[0].x[1] - lead[0].x[0] == 400.0
    with pytest.raises(ValidationError, match="cargo block"):
        truck_phantom(np.random.default_rng(0), cargo=[CargoBlock("lead", 2.0, 0.0, 1.0, 1.0)])


def test_suitcase_and_steps():
    bag = suitcase_phantom(np.random.default_rng(1), threats=["knife", "handgun", "explosive"])
    assert [t.category.value for t in bag.threats] == ["LAPTOP", "PI", "PI", "EXPLOSIVE"]
    assert bag.inspected_object.type is ObjectType.BAGGAGE
    wedges = steps_phantom("TUBE", steps=5)
    assert len(wedges.solids) == 20 and wedges.material_names == ("polyethylene", "aluminium", "iron", "lead")


def test_phantom_validation():
    box = Box("steel", 1.0, (0, 1), (0, 1), (0, 1))
    with pytest.raises(ValidationError, match="unknown materials"):
        Phantom("bad", (Box("cheese", 1.0, (0, 1), (0, 1), (0, 1)),), 1.0, container_phantom().inspected_object)
    with pytest.raises(ValidationError, match="no solids"):
        Phantom("bad", (), 1.0, container_phantom().inspected_object)
    with pytest.raises(ValidationError, match="length"):
        Phantom("bad", (box,), 0.0, container_phantom().inspected_object)
