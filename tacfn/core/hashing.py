"""The one stable hash: canonical JSON, hex digests and 63-bit integer keys (never hash()).

Every value here is part of a stored contract (cell keys, protocol hashes, data-cache keys,
corruption seeds); tests/test_hashing.py pins them, so changing one is a breaking change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MASK_63 = (1 << 63) - 1


def canonical_json(value: Any, compact: bool = True) -> str:
    """JSON text with sorted keys; compact=False keeps the spaced separators of the data-cache
    keys (so existing caches stay valid)."""
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(value, sort_keys=True, separators=separators, default=str)


def digest(value: Any, length: int = 16, compact: bool = True) -> str:
    """Hex sha256 of the canonical JSON of `value`, truncated to `length`."""
    text = canonical_json(value, compact)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def hash64(text: str) -> int:
    """An unsigned 64-bit integer from text (blake2b, 8 bytes, little-endian)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def stable_key(*parts: object) -> int:
    """A 63-bit integer key of a tuple of JSON-serialisable parts."""
    return hash64(canonical_json(parts)) & MASK_63
