"""On-disk cache of images that evaluation derives from its input files alone.

The atlas brain mask of x_PC and the co-registration of x_SD and x_LD to x_PC do not depend on the
predictions, yet they take most of an evaluation's time (an atlas registration and up to two rigid ones
per case, plus loading ITK). Evaluating several models on the same test cases (a reproduction study, the
snapshots of a learning curve) repeats them identically. With a cache folder each result is computed once
and read back afterwards.

An entry is keyed by what it depends on: its kind (which derivation, with its settings) and the SHA-256 of
the bytes of every source file, so a changed input file misses the cache instead of returning a stale
image. An entry is one ``.npz`` file of the derived arrays (exact, in their own dtype), written atomically;
the images are rebuilt on the grid they were derived on (x_PC's), so a cached result equals the computed
one voxel for voxel and in geometry.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.verify import same_grid
from gdr_toolkit.file_io import atomic_path, file_sha256

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def entry_key(kind: str, sources: Sequence[Path]) -> str:
    """Hex key of a derivation ``kind`` (its name and settings) applied to the files ``sources``."""
    digest = hashlib.sha256(f"v{CACHE_FORMAT_VERSION}|{kind}".encode())
    for source in sources:
        digest.update(b"|" + file_sha256(source).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class DerivedImageCache:
    """Derived images on one grid, cached in ``folder`` (None: no cache, always computed).

    Attributes:
        folder: cache folder (created on the first write), or None.
    """

    folder: Path | None = None

    def images(
        self,
        kind: str,
        sources: Sequence[Path],
        grid: sitk.Image,
        compute: Callable[[], dict[str, sitk.Image]],
        names: tuple[str, ...],
    ) -> dict[str, sitk.Image]:
        """The named images ``compute()`` derives from ``sources``, all on ``grid``: read from the cache
        when an entry exists, else computed and stored.

        Args:
            kind: the derivation and its settings (e.g. ``"brain_mask:atlas"``); part of the key.
            sources: every file the result depends on; their bytes are part of the key.
            grid: the image whose geometry the derived images share (size, spacing, origin, direction).
            compute: returns the images by name; each must lie on ``grid``.
            names: the names ``compute`` returns (an entry without one of them is recomputed).

        Raises:
            ValueError: a computed image does not lie on ``grid`` (it could not be rebuilt from the cache),
                or ``compute`` returned other names.
        """
        if self.folder is None:
            return compute()
        path = self.folder / f"{kind.split(':')[0]}_{entry_key(kind, sources)}.npz"
        if path.is_file():
            try:
                return self._read(path, grid, names)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                logger.warning("evaluation cache entry %s is unreadable (%s); recomputing", path, error)
        images = compute()
        if set(images) != set(names):
            raise ValueError(f"{kind!r} computed {sorted(images)}, expected {sorted(names)}")
        arrays = {}
        for name, image in images.items():
            if not same_grid(image, grid):
                raise ValueError(f"derived image {name!r} of {kind!r} does not lie on the evaluation grid")
            arrays[name] = sitk.GetArrayFromImage(image)
        with atomic_path(path) as temporary:
            with temporary.open("wb") as stream:
                np.savez_compressed(stream, **arrays)  # type: ignore[arg-type]  # names are str keys
        return images

    @staticmethod
    def _read(path: Path, grid: sitk.Image, names: tuple[str, ...]) -> dict[str, sitk.Image]:
        images = {}
        with np.load(path, allow_pickle=False) as stored:
            for name in names:
                array = stored[name]  # KeyError when missing
                if array.shape != tuple(reversed(grid.GetSize())):
                    raise ValueError(f"array {name!r} has shape {array.shape}, the grid {grid.GetSize()}")
                image = sitk.GetImageFromArray(array)
                image.CopyInformation(grid)
                images[name] = image
        return images
