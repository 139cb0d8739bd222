"""Physics-based simulator of dual-energy X-ray scanners, with ground truth.

* :mod:`nii.physics`: NIST XCOM attenuation data, materials, source spectra,
  detector response, polychromatic transmission and the simulated scanners.
* :mod:`nii.simulate.solids` and :mod:`nii.simulate.phantoms`: objects to scan (a container
  on a trailer, a truck, a suitcase, calibration step wedges) and their known threats.
* :mod:`nii.simulate.detector`: detector electronics, noise and ADC.
* :mod:`nii.simulate.simulator`: :func:`simulate` puts it together into a RAW
  :class:`~nii.model.Scan` and its :class:`Truth`.

Example::

    >>> from nii.simulate import simulate
    >>> scan, truth = simulate("suitcase", seed=3, scale=0.1)
    >>> [view.name for view in scan.views], truth.materials[0].name
    (['side', 'top'], 'polycarbonate')
"""

from nii.materials import MATERIALS, Material
from nii.physics import SCANNERS, ScannerModel, Spectrum
from nii.simulate.assembly import Phantom
from nii.simulate.phantoms import SCENARIOS, CargoBlock
from nii.simulate.preview import preview_image, write_preview
from nii.simulate.simulator import Truth, ViewTruth, simulate

__all__ = [
    "MATERIALS",
    "SCANNERS",
    "SCENARIOS",
    "CargoBlock",
    "Material",
    "Phantom",
    "ScannerModel",
    "Spectrum",
    "Truth",
    "ViewTruth",
    "preview_image",
    "simulate",
    "write_preview",
]
