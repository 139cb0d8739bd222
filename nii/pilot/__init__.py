"""Interoperability pilots: several scanners, the same objects, one report (``nii pilot run``).

* :mod:`nii.pilot.config` reads ``pilot.toml``;
* :mod:`nii.pilot.run` produces or collects the scans and converts them to DICOS;
* :mod:`nii.pilot.measure` computes interoperability, image quality and agreement;
* :mod:`nii.pilot.report` writes ``results.json`` and ``report.html``.
"""

from nii.pilot.config import PilotConfig, load_pilot
from nii.pilot.run import run_pilot

__all__ = ["PilotConfig", "load_pilot", "run_pilot"]
