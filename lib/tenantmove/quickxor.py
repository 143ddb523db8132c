"""Microsoft's ``quickXorHash``, the only content hash OneDrive for Business and SharePoint report.

The hash is a 160-bit register: byte ``n`` of the content is XORed into it at bit ``(11 * n) mod 160``,
wrapping round from the top bit to bit 0; at the end the content's length (64-bit little-endian) is XORed
into the last eight of the register's twenty bytes, and the result is base64.

Computed here without a per-byte Python loop: the bytes of a chunk are XOR-folded by their position
modulo 160 with numpy (all bytes that land on the same bit offset are XORed first), and only the 160
folded bytes are then rotated into the register. Feed it chunk by chunk while streaming.
"""

from __future__ import annotations

import base64

import numpy as np

WIDTH = 160  # bits in the register
SHIFT = 11  # bits the insertion point moves per byte
_MASK = (1 << WIDTH) - 1


class QuickXorHash:
    """``update`` with chunks of any size, then ``b64digest``. Cheap to copy: the state is one integer."""

    def __init__(self) -> None:
        self._register = 0
        self._length = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        size = len(data)
        if not size:
            return
        start = self._length % WIDTH  # the byte position (mod 160) of this chunk's first byte
        buf = np.frombuffer(data, dtype=np.uint8)
        rows = -(-(start + size) // WIDTH)
        padded = np.zeros(rows * WIDTH, dtype=np.uint8)
        padded[start:start + size] = buf  # line the chunk up with the register's byte positions
        folded = np.bitwise_xor.reduce(padded.reshape(rows, WIDTH), axis=0)
        register = self._register
        for position in np.flatnonzero(folded).tolist():
            offset = (SHIFT * position) % WIDTH
            value = int(folded[position]) << offset
            register ^= (value | (value >> WIDTH)) & _MASK  # a rotation: bits past the top wrap to bit 0
        self._register = register
        self._length += size

    def digest(self) -> bytes:
        raw = bytearray(self._register.to_bytes(WIDTH // 8, "little"))
        for i, byte in enumerate(self._length.to_bytes(8, "little")):
            raw[WIDTH // 8 - 8 + i] ^= byte
        return bytes(raw)

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")

    def copy(self) -> QuickXorHash:
        twin = QuickXorHash()
        twin._register, twin._length = self._register, self._length
        return twin


def quickxor(data: bytes) -> str:
    """The base64 ``quickXorHash`` of ``data`` (for small values; stream large ones through the class)."""
    h = QuickXorHash()
    h.update(data)
    return h.b64digest()
