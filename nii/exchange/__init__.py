"""Trusted exchange of DICOS files between administrations: de-identification and digital signatures.

* :mod:`nii.exchange.deidentify`: a PS3.15 Annex E profile for DICOS with keyed pseudonyms
  (``nii deidentify``, ``nii convert --deidentify``);
* :mod:`nii.exchange.sign`: PS3.15 digital signatures (``nii sign``, ``nii verify``).

Both work on pydicom datasets of DICOS files (processing level); ``nii.formats`` never imports them.
"""
