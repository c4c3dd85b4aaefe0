"""The punktfunk/1 video datagram: header layout, AES-GCM sealing, replay protection.

    offset size field
    0      2    magic "PF"
    2      1    version (1)
    3      1    frame flags (ipc.records.FrameFlags: bit 0 repeat, bit 1 keyframe)
    4      4    session id
    8      8    datagram sequence number (per session, from 0; also the AES-GCM nonce)
    16     4    frame index
    20     4    frame bytes (the access unit's length)
    24     1    block index        25  1  block count
    26     1    shard index        27  1  data shards in this block
    28     1    parity shards in this block
    29     3    reserved (zero)
    32     ...  one shard, AES-GCM encrypted, with the header as associated data
    -16    16   GCM tag

Sans-I/O: no sockets here; the send process and the client own those.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"PF"
VERSION = 1
HEADER = struct.Struct("<2sBBIQIIBBBBB3x")
HEADER_SIZE = HEADER.size
TAG_SIZE = 16
KEY_SIZE = 16  # AES-128-GCM
SALT_SIZE = 4  # nonce = salt (4) || sequence number (8)
MAX_FRAME_BYTES = 32 * 1024 * 1024
REPLAY_WINDOW = 4096

assert HEADER_SIZE == 32


class DatagramHeader(NamedTuple):
    frame_flags: int
    session_id: int
    seq: int
    frame_index: int
    frame_bytes: int
    block_index: int
    block_count: int
    shard_index: int
    data_shards: int
    parity_shards: int


class DatagramError(ValueError):
    """A datagram was dropped. `reason` is one of DROP_REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


DROP_REASONS = ("short", "magic", "version", "session", "header", "auth", "replay", "stale")


def _nonce(salt: bytes, seq: int) -> bytes:
    return salt + seq.to_bytes(8, "little")


def _cipher(key: bytes, salt: bytes) -> AESGCM:
    if len(key) != KEY_SIZE or len(salt) != SALT_SIZE:
        raise ValueError(f"datagram key must be {KEY_SIZE} bytes and salt {SALT_SIZE} bytes")
    return AESGCM(key)


class Sealer:
    """Builds sealed datagrams for one session; owns the sequence counter."""

    def __init__(self, key: bytes, salt: bytes, session_id: int) -> None:
        self._aead = _cipher(key, salt)
        self._salt = salt
        self._session_id = session_id
        self.seq = 0

    def seal(
        self,
        frame_flags: int,
        frame_index: int,
        frame_bytes: int,
        block_index: int,
        block_count: int,
        shard_index: int,
        data_shards: int,
        parity_shards: int,
        shard: bytes,
    ) -> bytes:
        seq = self.seq
        self.seq = seq + 1
        header = HEADER.pack(
            MAGIC,
            VERSION,
            frame_flags,
            self._session_id,
            seq,
            frame_index & 0xFFFF_FFFF,
            frame_bytes,
            block_index,
            block_count,
            shard_index,
            data_shards,
            parity_shards,
        )
        return header + self._aead.encrypt(_nonce(self._salt, seq), shard, header)


class ReplayWindow:
    """Sliding window over sequence numbers: each accepted at most once, none too old."""

    def __init__(self, size: int = REPLAY_WINDOW) -> None:
        self.size = size
        self._slots = [-1] * size
        self.highest = -1
        self.first = -1
        self.accepted = 0

    def check(self, seq: int) -> str | None:
        """The drop reason for `seq`, or None if it is new."""
        if seq <= self.highest - self.size:
            return "stale"
        if self._slots[seq % self.size] == seq:
            return "replay"
        return None

    def mark(self, seq: int) -> None:
        self._slots[seq % self.size] = seq
        if self.first < 0:
            self.first = seq
        self.highest = max(self.highest, seq)
        self.accepted += 1

    @property
    def missing(self) -> int:
        """Sequence numbers in [first, highest] never accepted: datagrams lost on the way."""
        if self.first < 0:
            return 0
        return self.highest - self.first + 1 - self.accepted


class Opener:
    """Authenticates and parses datagrams for one session; drops are typed and counted."""

    def __init__(self, key: bytes, salt: bytes, session_id: int) -> None:
        self._aead = _cipher(key, salt)
        self._salt = salt
        self._session_id = session_id
        self.window = ReplayWindow()
        self.dropped = dict.fromkeys(DROP_REASONS, 0)

    def open(self, datagram: bytes) -> tuple[DatagramHeader, bytes]:
        try:
            return self._open(datagram)
        except DatagramError as exc:
            self.dropped[exc.reason] += 1
            raise

    def _open(self, datagram: bytes) -> tuple[DatagramHeader, bytes]:
        if len(datagram) < HEADER_SIZE + TAG_SIZE:
            raise DatagramError("short", f"{len(datagram)} bytes")
        fields = HEADER.unpack_from(datagram)
        if fields[0] != MAGIC:
            raise DatagramError("magic")
        if fields[1] != VERSION:
            raise DatagramError("version", f"version {fields[1]}")
        header = DatagramHeader(*fields[2:])
        if header.session_id != self._session_id:
            raise DatagramError("session", f"session {header.session_id}")
        if not _plausible(header):
            raise DatagramError("header", repr(header))
        seen = self.window.check(header.seq)
        if seen:
            raise DatagramError(seen, f"seq {header.seq}")
        raw = memoryview(datagram)
        try:
            shard = self._aead.decrypt(
                _nonce(self._salt, header.seq), raw[HEADER_SIZE:], raw[:HEADER_SIZE]
            )
        except InvalidTag:
            raise DatagramError("auth", f"seq {header.seq}") from None
        # Only authenticated datagrams move the window, so forgeries cannot push it.
        self.window.mark(header.seq)
        return header, shard


def _plausible(h: DatagramHeader) -> bool:
    return (
        0 < h.frame_bytes <= MAX_FRAME_BYTES
        and h.block_count > 0
        and h.block_index < h.block_count
        and h.data_shards > 0
        and h.shard_index < h.data_shards + h.parity_shards
        and h.data_shards + h.parity_shards <= 255
    )
