import numpy as np
import pytest
from PIL import Image

import nii
from nii.errors import ConfigurationError, FileAccessError, UnsupportedError
from nii.render import RenderOptions, render
from nii.render.export import export_picture, picture_metadata
from tests.conftest import make_scan


def read(path) -> tuple[np.ndarray, dict]:
    with Image.open(path) as picture:
        picture.load()
        return np.array(picture), dict(picture.info)


def test_write_a_picture_through_the_registry(tmp_path):
    scan = make_scan()
    path = tmp_path / "top.png"
    assert nii.write(scan, path, view="top", channel="low", threats=True, legend=True) == [path]
    pixels, info = read(path)
    expected = render(scan, view="top", options=RenderOptions(channel="low", threats=True, legend=True)).image
    np.testing.assert_array_equal(pixels, expected)
    assert picture_metadata(path)["quantity"] == "attenuation"
    pixel_mm = render(scan, view="top").mm_per_pixel[0]
    assert info["dpi"][0] == pytest.approx(25.4 / pixel_mm, abs=0.03)  # PNG stores whole pixels per metre


def test_jpeg_and_tiff_pictures(tmp_path):
    scan = make_scan()
    options = RenderOptions(window="0.5,4")
    expected = render(scan, options=options).image[:, :, 0]
    jpeg = export_picture(scan, tmp_path / "side.jpg", options=options)
    assert np.abs(read(jpeg)[0].astype(int) - expected).mean() < 3  # lossy but close
    tiff = nii.write(scan, tmp_path / "side.tif", format="tiff-export", window="0.5,4")[0]
    np.testing.assert_array_equal(read(tiff)[0], expected)
    assert picture_metadata(tiff)["window"] == [0.5, 4.0]
    codes = export_picture(scan, tmp_path / "raw.tiff", options=RenderOptions(quantity="raw"), sixteen_bit=True)
    np.testing.assert_array_equal(read(codes)[0], scan.views[0].channels["high"])


def test_picture_errors(tmp_path):
    scan = make_scan()
    with pytest.raises(ConfigurationError, match="png-export writer has no option 'mode'; it takes .*sixteen_bit"):
        nii.write(scan, tmp_path / "a.png", mode="16bit")
    with pytest.raises(UnsupportedError, match="8-bit"):
        export_picture(scan, tmp_path / "a.jpg", sixteen_bit=True)
    with pytest.raises(ConfigurationError, match="image format"):
        export_picture(scan, tmp_path / "a.bmp")
    with pytest.raises(ConfigurationError, match="no view"):
        export_picture(scan, tmp_path / "a.png", view="front")
    with pytest.raises(FileAccessError):
        export_picture(scan, tmp_path / "missing" / "a.png")
    assert list(tmp_path.iterdir()) == []
