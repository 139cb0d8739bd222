"""Physics-based simulator of dual-energy X-ray scanners, with ground truth.

:mod:`nii.simulate.physics` holds the physics: NIST XCOM attenuation data, materials,
source spectra, detector response, polychromatic transmission and the simulated scanners.
"""
