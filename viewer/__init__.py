"""The scan viewer (installed as ``nii.viewer``)."""
