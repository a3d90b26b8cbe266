"""SHA-256 of canonical JSON: the one way radfuse turns settings into keys."""

from __future__ import annotations

import hashlib
import json

__all__ = ["canonical_json", "json_digest"]


def canonical_json(obj) -> str:
    """``obj`` as JSON with sorted keys; values JSON cannot hold are written with ``str``."""
    return json.dumps(obj, sort_keys=True, default=str)


def json_digest(obj, length: int | None = None) -> str:
    """Hex SHA-256 of :func:`canonical_json` of ``obj``, cut to ``length`` characters if given."""
    digest = hashlib.sha256(canonical_json(obj).encode()).hexdigest()
    return digest if length is None else digest[:length]
