import numpy as np
import pytest

from nii.errors import ValidationError
from nii.simulate.solids import Box, Ellipsoid, Grid, Prism, box_shell, corrugated_wall, cylinder, thick_polyline


def grid(view="side", *, pitch=1.0, step=1.0, offset=0.0):
    # Covers x in [-10, 110] and rows over [-60, 60] (top) or [0, 120] (side), finer than the solids.
    columns = np.arange(-10.0, 110.0, step) + step / 2 + offset
    rows = (np.arange(120 / pitch)[::-1] + 0.5) * pitch
    return Grid(view, columns, np.full(columns.size, step), rows - 60 if view == "top" else rows, pitch)


def volume(solid, g):
    # Sum of chord × pixel area: the solid's volume inside the field of view.
    block = solid.project(g)
    return 0.0 if block is None else float(block[2].sum()) * g.row_width_mm * float(g.column_width_mm[0])


@pytest.mark.parametrize("view", ["side", "top"])
@pytest.mark.parametrize(("pitch", "step", "offset"), [(1.0, 1.0, 0.0), (1.7, 2.3, 0.4), (3.1, 0.9, -0.3)])
def test_projected_volumes_are_exact_or_close(view, pitch, step, offset):
    g = grid(view, pitch=pitch, step=step, offset=offset)
    box = Box("steel", 1.0, (10.3, 47.9), (-20.2, 33.3), (11.1, 40.4))
    assert volume(box, g) == pytest.approx(37.6 * 53.5 * 29.3, rel=1e-5)  # boxes are averaged exactly
    tube = cylinder("steel", 1.0, axis="y", centre=(50.0, 30.0), radius=20.0, inner_radius=12.0, extent=(-30.0, 20.0))
    assert volume(tube, g) == pytest.approx(np.pi * (20**2 - 12**2) * 50.0, rel=0.01)
    upright = cylinder("steel", 1.0, axis="z", centre=(60.0, 0.0), radius=15.0, extent=(5.0, 45.0))
    assert volume(upright, g) == pytest.approx(np.pi * 15**2 * 40.0, rel=0.01)
    ellipsoid = Ellipsoid("water", 1.0, (50.0, 5.0, 50.0), (20.0, 15.0, 10.0))
    assert volume(ellipsoid, g) == pytest.approx(4 / 3 * np.pi * 20 * 15 * 10, rel=0.03)


def test_a_box_edge_is_averaged_over_the_pixel():
    g = Grid("side", np.array([0.5, 1.5, 2.5]), np.ones(3), np.array([0.5]), 1.0)
    _, columns, chords = Box("steel", 1.0, (1.25, 9.0), (0.0, 10.0), (0.0, 1.0)).project(g)
    assert columns == slice(0, 3) and chords.tolist() == [[0.0, 7.5, 10.0]]  # one pixel of margin


def test_corrugated_wall_has_the_sheet_volume():
    pitch, outer, inner, depth, thickness = 30.0, 8.0, 6.0, 10.0, 2.0
    sheet = corrugated_wall(
        "steel", axis="z", extent=(0.0, 40.0), span=(0.0, 90.0), base=0.0, depth=depth, pitch=pitch,
        outer_flat=outer, inner_flat=inner, thickness=thickness,
    )  # fmt: skip
    assert len(sheet) == 3
    slant = np.hypot((pitch - outer - inner) / 2, depth)
    centre_line = 3 * (outer + inner + 2 * slant)
    g = grid("side", pitch=0.5, step=0.25)
    total = sum(volume(piece, g) for piece in sheet)
    assert total == pytest.approx(centre_line * thickness * 40.0, rel=0.01)
    # Seen face on (side view) the sheet is 'thickness' thick on flats, thicker on the slants.
    chords = np.zeros(g.shape)
    for piece in sheet:
        rows, columns, block = piece.project(g)
        chords[rows, columns] += block
    row = chords[g.shape[0] - 40]  # z = 19.75, inside the extrusion
    flat = row[(g.columns_mm > 1) & (g.columns_mm < 7)]
    np.testing.assert_allclose(flat, thickness, rtol=1e-6)
    assert row[(g.columns_mm > 10) & (g.columns_mm < 14)].min() > thickness * 1.05


def test_shells_and_cavities():
    outer = Box("steel", 1.0, (0.0, 50.0), (-20.0, 20.0), (0.0, 30.0))
    shell = box_shell("steel", 1.0, outer, 2.0)
    g = grid("side")
    walls = sum(part.fill * volume(part, g) for part in shell)
    assert walls == pytest.approx(50 * 40 * 30 - 46 * 36 * 26, rel=1e-5)
    assert shell[1].fill == -1.0


def test_thick_polyline_keeps_the_thickness_on_bends():
    outline = thick_polyline(np.array([(0.0, 0.0), (10.0, 0.0), (20.0, 10.0)]), 2.0)
    assert outline.shape == (6, 2)
    np.testing.assert_allclose(outline[0], (0.0, 1.0))
    # The mitred corner lies on both offset lines: y = 1 and the 45° line offset by 1.
    corner = outline[1]
    assert corner[1] == pytest.approx(1.0)
    assert (corner[1] - (corner[0] - 10.0)) / np.sqrt(2) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Box("steel", 0.0, (0, 1), (0, 1), (0, 1)),
        lambda: Box("steel", 1.0, (1, 0), (0, 1), (0, 1)),
        lambda: Ellipsoid("water", 1.0, (0, 0, 0), (1, 0, 1)),
        lambda: Prism("steel", 1.0, axis="z", extent=(0, 1), rings=(np.zeros((2, 2)),)),
    ],
)
def test_invalid_solids_are_refused(make):
    with pytest.raises(ValidationError):
        make()
