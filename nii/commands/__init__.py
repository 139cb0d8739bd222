"""Sub-commands of the ``nii`` CLI, one module each (see :mod:`nii.cli`)."""
