"""File content for the sandbox's drives, never held whole in memory: seeded content is generated
block by block from a seed (a 300 MiB file costs nothing until read, and the same bytes come back on
every read), uploaded content lives in files under the sandbox's state folder."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..quickxor import QuickXorHash

BLOCK = 1 << 20  # generated content is produced in 1 MiB blocks, each from (seed, block number)


class Blob:
    """Immutable content: ``size`` bytes, read by ranges, with its quickXorHash computed once."""

    def __init__(self, size: int, *, seed: str | None = None, path: Path | None = None,
                 data: bytes | None = None) -> None:
        self.size = size
        self.seed, self.path, self.data = seed, path, data
        self._hash: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def generated(cls, size: int, seed: str) -> Blob:
        return cls(size, seed=seed)

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls(len(data), data=bytes(data))

    def _block(self, index: int) -> bytes:
        key = int.from_bytes(hashlib.sha256(f"{self.seed}/{index}".encode()).digest()[:8], "little")
        return np.random.default_rng(key).bytes(BLOCK)

    def chunks(self, start: int = 0, end: int | None = None, step: int = BLOCK) -> Iterator[bytes]:
        """Bytes ``start`` up to (not including) ``end``, in pieces of at most ``step``."""
        end = self.size if end is None else min(end, self.size)
        if self.data is not None:
            for pos in range(start, end, step):
                yield self.data[pos:min(end, pos + step)]
        elif self.path is not None:
            with open(self.path, "rb") as fh:
                fh.seek(start)
                pos = start
                while pos < end:
                    piece = fh.read(min(step, end - pos))
                    if not piece:
                        return
                    pos += len(piece)
                    yield piece
        else:
            pos = start
            while pos < end:
                index, offset = divmod(pos, BLOCK)
                piece = self._block(index)[offset:offset + min(step, end - pos)]
                pos += len(piece)
                yield piece

    def read(self) -> bytes:
        return b"".join(self.chunks())

    @property
    def quick_xor(self) -> str:
        with self._lock:
            if self._hash is None:
                h = QuickXorHash()
                for piece in self.chunks(step=8 * BLOCK):
                    h.update(piece)
                self._hash = h.b64digest()
            return self._hash


class BlobStore:
    """Where uploads are assembled and kept: one file per upload under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def new_file(self) -> Path:
        return self.folder / f"{uuid.uuid4().hex}.part"

    def finish(self, path: Path, size: int) -> Blob:
        final = path.with_suffix(".blob")
        os.replace(path, final)
        return Blob(size, path=final)

    def clear(self) -> None:
        for path in self.folder.glob("*.*"):
            path.unlink(missing_ok=True)
