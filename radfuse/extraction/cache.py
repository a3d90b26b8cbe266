"""On-disk cache of per-case extraction results.

One JSON file per (image, mask, spec) in the cache folder. Its name is a SHA-256 over

* the content hashes (BLAKE2b) of the image and mask files,
* the mask label and the resample-mask option,
* the spec's *resolved* settings (PyRadiomics' defaults applied), and
* the PyRadiomics version and the cache format,

so renaming or moving files keeps the cache valid, while any changed byte, setting or version
gives new keys (stale values are never served). Files are written to a temporary name in the
same folder and moved into place (:func:`radfuse._utils.io.atomic_write_json`), so a killed run
leaves either a complete entry or none.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from radfuse._utils.hashing import json_digest
from radfuse._utils.io import atomic_write_json, unwritable_folder

__all__ = ["CACHE_FORMAT", "FeatureCache", "file_digest"]

#: Bump when the stored content or its meaning changes.
CACHE_FORMAT = 1


def file_digest(path) -> str:
    """BLAKE2b hex digest of a file's bytes."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pyradiomics_version() -> str:
    import radiomics

    return str(radiomics.__version__)


class FeatureCache:
    """A folder of per-case results.

    Parameters
    ----------
    folder : str or path
        Created if needed. Read and written by the process that calls :func:`extract_cohort`
        (workers never touch it).

    Raises
    ------
    ValueError
        The folder cannot be created or written (checked with a real file, so it holds for
        every user, root included, and for read-only or full file systems).
    """

    def __init__(self, folder):
        self.folder = Path(folder).expanduser()
        why = unwritable_folder(self.folder)
        if why is not None:
            raise ValueError(
                f"cache_dir {str(self.folder)!r} cannot be written ({why}); nothing was "
                "extracted. Choose a writable folder or run without a cache."
            )
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(image_digest: str, mask_digest: str, spec_fingerprint: str, options: dict) -> str:
        """Cache key of one case."""
        return json_digest(
            {
                "format": CACHE_FORMAT,
                "pyradiomics": _pyradiomics_version(),
                "image": image_digest,
                "mask": mask_digest,
                "spec": spec_fingerprint,
                "options": options,
            }
        )

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored entry, or None when absent or unreadable (then it is recomputed)."""
        p = self.path(key)
        try:
            with open(p) as fh:
                entry = json.load(fh)
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if entry.get("key") != key:
            return None
        return entry

    def put(self, key: str, features: dict, diagnostics: dict, meta: dict | None = None) -> None:
        """Store one case atomically (a temporary file moved into place)."""
        entry = {
            "key": key,
            "features": features,
            "diagnostics": diagnostics,
            "meta": meta or {},
        }
        # floats are written with repr and NaN is kept: they read back bit-identical
        atomic_write_json(self.path(key), entry)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json"))
