"""Independent, named random streams derived from one seed.

Every generator draws from its own stream (e.g. ``("ner", "t2", "train")``), so adding a language or resizing
one split never changes the data of another, and Python's salted ``hash`` is never involved.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, *names: str) -> int:
    """A 64-bit seed from ``seed`` and a path of names, stable across processes and platforms."""
    digest = hashlib.sha256("/".join([str(seed), *names]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stream(seed: int, *names: str) -> random.Random:
    """A ``random.Random`` for the named stream (its algorithms are stable across Python 3 versions)."""
    return random.Random(derive_seed(seed, *names))
