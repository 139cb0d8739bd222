"""The version of nii, from the installed package's metadata.

A leaf module (it imports nothing of nii), so that any layer, formats included, can stamp files
with it without importing the package's API.
"""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("nii")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
