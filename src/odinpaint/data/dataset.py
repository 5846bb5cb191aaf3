"""Opening a prepared data set: the manifest plus memory-mapped uint8 splits.

    >>> from odinpaint.data.dataset import DataSet
    >>> ds = DataSet("data/photos64")
    >>> ds.size, len(ds.split("test"))
    (64, 1032)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from odinpaint.data.prepare import MANIFEST_FORMAT
from odinpaint.errors import UserError
from odinpaint.data.sources import SPLITS


class DataSetError(UserError):
    """A data set directory that is missing, incomplete or of another format."""


class DataSet:
    def __init__(self, root):
        self.root = Path(root)
        mf = self.root / "manifest.json"
        if not mf.is_file():
            raise DataSetError(f"{self.root}: not a data set (no manifest.json); make one with `odinpaint data prepare`")
        try:
            self.manifest = json.loads(mf.read_text())
        except json.JSONDecodeError as e:
            raise DataSetError(f"{mf}: corrupt manifest ({e})") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != MANIFEST_FORMAT:
            found = self.manifest.get("format") if isinstance(self.manifest, dict) else None
            raise DataSetError(f"{mf}: data set format {found!r}, expected {MANIFEST_FORMAT}")
        try:
            self.size = int(self.manifest["size"])
            self.counts = {s: int(self.manifest["splits"][s]["count"]) for s in SPLITS}
        except (KeyError, TypeError, ValueError) as e:
            raise DataSetError(f"{mf}: corrupt manifest (bad or missing {e})") from None
        self._splits: dict[str, np.ndarray] = {}

    def split(self, name: str) -> np.ndarray:
        """The (N, H, W, 3) uint8 array of split ``name``, memory-mapped read-only."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; known: {', '.join(SPLITS)}")
        if name not in self._splits:
            path = self.root / f"{name}.npy"
            try:  # never allow_pickle: a .npy holding objects is refused, not unpickled
                arr = np.load(path, mmap_mode="r")
            except (OSError, ValueError, EOFError) as e:
                raise DataSetError(f"{path}: cannot open split ({type(e).__name__}: {e})") from None
            expected = (self.counts[name], self.size, self.size, 3)
            if not isinstance(arr, np.ndarray):  # e.g. an .npz archive under the .npy name
                raise DataSetError(f"{path}: not a .npy array file")
            if arr.shape != expected or arr.dtype != np.uint8:
                raise DataSetError(f"{path}: shape {arr.shape} {arr.dtype}, manifest says {expected} uint8")
            self._splits[name] = arr
        return self._splits[name]
