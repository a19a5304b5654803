"""Deterministic unit-length embedding vectors.

A vector is read out of a SHAKE-256 stream of the input, so equal inputs give
equal vectors and different inputs give near-orthogonal ones, with no model.
"""

from __future__ import annotations

import base64
import hashlib
import math
import sys
from array import array


def embedding_vector(data: bytes, dimensions: int) -> array[float]:
    """A float32 vector of ``dimensions`` values with Euclidean norm 1."""
    raw = hashlib.shake_256(data).digest(dimensions * 2)
    centred = [value - 32767.5 for value in memoryview(raw).cast("H")]
    norm = math.sqrt(math.fsum(value * value for value in centred)) or 1.0
    return array("f", [value / norm for value in centred])


def encode_base64(vector: array[float]) -> str:
    """Base64 of little-endian float32s: what OpenAI sends and its SDK decodes."""
    if sys.byteorder != "little":
        vector = array("f", vector)
        vector.byteswap()
    return base64.b64encode(vector.tobytes()).decode("ascii")
