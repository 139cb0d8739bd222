"""Realistic cargo contents: the scenarios simulate, and the truth names their materials where they are."""

from __future__ import annotations

import numpy as np
import pytest

from nii.simulate import simulate
from nii.simulate.contents import CARGO_FLOOR, GOODS, car


@pytest.mark.parametrize(
    ("scenario", "materials"),
    [("container-goods", {"wood", "paper"}), ("car-container", {"rubber", "glass", "diesel"})],
)
def test_scenarios_show_their_goods_in_the_truth(scenario, materials):
    scan, truth = simulate(scenario, seed=4, scale=0.25)
    names = {m.name for m in truth.materials}
    assert materials <= names
    label = truth.views["side"].label
    present = {truth.material(int(v)).name for v in np.unique(label) if v}
    assert materials <= present | {"diesel"}  # fuel lies under steel: seen, but not dominant
    assert scan.views[0].shape == label.shape


def test_every_builder_fits_the_container():
    rng = np.random.default_rng(0)
    x0, _, floor, height, width = CARGO_FLOOR
    for build in [*GOODS.values(), car]:
        solids, used = build(rng, x0, floor, height, width)
        bounds = np.stack([solid.bounds() for solid in solids])
        assert bounds[:, 0, 0].min() >= x0 - 1 and bounds[:, 0, 1].max() <= x0 + used + 1
        assert bounds[:, 1, 0].min() >= -width / 2 and bounds[:, 1, 1].max() <= width / 2
        assert bounds[:, 2, 0].min() >= floor - 1 and bounds[:, 2, 1].max() <= floor + height
