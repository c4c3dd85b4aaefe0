"""The GameStream audio wire format: Opus packets <-> RTP datagrams with FEC (sans-I/O).

What Moonlight (moonlight-common-c `AudioStream.c`, `RtpAudioQueue.c`) expects, as
Sunshine (`stream.cpp`) sends it:

- A data datagram is a 12-byte RTP header (0x80, payload type 97, big-endian sequence
  number, timestamp and SSRC 0) and the payload. Sequence numbers start at 0; the
  timestamp starts at 0 and advances by the packet duration in milliseconds per packet.
- The payload is the Opus packet, or with audio encryption (Moonlight always asks for it)
  the Opus packet encrypted with AES-128-CBC and PKCS#7 padding under the launch's
  `rikey`; the IV is the big-endian u32 (rikeyid + sequence number) then 12 zero bytes.
- Every 4 data packets whose sequence numbers start at a multiple of 4 form an FEC block
  with 2 parity shards over their payloads. The code is nanors' 4 + 2, but with a fixed
  parity matrix (77 40 38 0e / c7 a7 0d 6c, the one GFE uses) in place of the Cauchy one.
  A parity datagram is an RTP header (0x80, payload type 127, sequence number = the
  block's last data sequence number + 1 + shard index, timestamp 0, SSRC 0), a 12-byte
  FEC header (shard index, payload type 97, big-endian base sequence number, base
  timestamp and SSRC 0) and the parity.
- The client reads at most 1400 bytes per datagram and needs all payloads of a block to
  be equally long (constant-bitrate Opus; AES-CBC keeps equal lengths equal). On a
  block with unequal lengths it gives up audio FEC for the session but keeps playing, so
  `AudioPacketizer` sends no parity for such a block.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from host.gamestream import fec

AUDIO_PAYLOAD_TYPE = 97
AUDIO_FEC_PAYLOAD_TYPE = 127
DATA_SHARDS = 4
PARITY_SHARDS = 2
RTP_HEADER_SIZE = 12
FEC_HEADER_SIZE = 12
MAX_DATAGRAM_SIZE = 1400  # the client's receive buffer
MAX_PAYLOAD_SIZE = MAX_DATAGRAM_SIZE - RTP_HEADER_SIZE - FEC_HEADER_SIZE
DEFAULT_PACKET_DURATION_MS = 5
RTP_VERSION_2 = 0x80

# GFE's audio parity matrix (row j = parity shard j), which Moonlight puts into nanors.
AUDIO_PARITY_MATRIX = np.array([[0x77, 0x40, 0x38, 0x0E], [0xC7, 0xA7, 0x0D, 0x6C]], dtype=np.uint8)
AUDIO_PARITY_MATRIX.setflags(write=False)

_RTP = struct.Struct(">BBHII")
_FEC_HEADER = struct.Struct(">BBHII")


class AudioWireError(ValueError):
    """An audio packet the wire cannot carry, or a datagram that is not one of ours."""


def audio_iv(key_id: int, sequence: int) -> bytes:
    """The AES-CBC IV of the audio payload with this sequence number."""
    return ((key_id + sequence) & 0xFFFF_FFFF).to_bytes(4, "big") + bytes(12)


class AudioCipher:
    """AES-128-CBC (PKCS#7) of audio payloads under the launch's rikey and rikeyid."""

    def __init__(self, key: bytes, key_id: int) -> None:
        if len(key) != 16:
            raise AudioWireError(f"the audio key must be 16 bytes (rikey), got {len(key)}")
        self._algorithm = algorithms.AES(key)
        self.key_id = key_id & 0xFFFF_FFFF

    def encrypt(self, sequence: int, plaintext: bytes | bytearray | memoryview) -> bytes:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(self._algorithm, modes.CBC(audio_iv(self.key_id, sequence))).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    def decrypt(self, sequence: int, ciphertext: bytes | bytearray | memoryview) -> bytes:
        if not ciphertext or len(ciphertext) % 16:
            raise AudioWireError(f"ciphertext of {len(ciphertext)} bytes is not whole blocks")
        decryptor = Cipher(self._algorithm, modes.CBC(audio_iv(self.key_id, sequence))).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError as error:
            raise AudioWireError(f"audio payload {sequence} does not decrypt") from error


class AudioPacketizer:
    """Turns Opus packets into audio datagrams; owns the sequence number and timestamp."""

    def __init__(
        self,
        packet_duration_ms: int = DEFAULT_PACKET_DURATION_MS,
        cipher: AudioCipher | None = None,
    ) -> None:
        if packet_duration_ms <= 0:
            raise AudioWireError(f"packet duration {packet_duration_ms} ms must be positive")
        self.packet_duration_ms = packet_duration_ms
        self.cipher = cipher
        self.sequence = 0  # a multiple of 4 starts each FEC block, so start at 0
        self.timestamp = 0
        self._block: list[bytes] = []
        self._block_timestamp = 0
        self.blocks_without_fec = 0

    def packetize(self, opus_packet: bytes | bytearray | memoryview) -> list[bytes]:
        """The datagram of this packet, followed by the block's 2 parity datagrams when it
        completes an FEC block."""
        if not opus_packet:
            raise AudioWireError("an Opus packet must not be empty")
        sequence = self.sequence & 0xFFFF
        timestamp = self.timestamp & 0xFFFF_FFFF
        payload = (
            bytes(opus_packet)
            if self.cipher is None
            else self.cipher.encrypt(sequence, opus_packet)
        )
        if len(payload) > MAX_PAYLOAD_SIZE:
            raise AudioWireError(
                f"audio payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_SIZE}"
            )
        self.sequence += 1
        self.timestamp += self.packet_duration_ms
        datagrams = [_RTP.pack(RTP_VERSION_2, AUDIO_PAYLOAD_TYPE, sequence, timestamp, 0) + payload]
        if sequence % DATA_SHARDS == 0:
            self._block = []
            self._block_timestamp = timestamp
        self._block.append(payload)
        if sequence % DATA_SHARDS == DATA_SHARDS - 1:
            datagrams += self._parity(sequence)
        return datagrams

    def _parity(self, last_sequence: int) -> list[bytes]:
        block = self._block
        self._block = []
        if len(block) != DATA_SHARDS or len({len(p) for p in block}) != 1:
            self.blocks_without_fec += 1
            return []
        size = len(block[0])
        data = np.frombuffer(b"".join(block), dtype=np.uint8).reshape(DATA_SHARDS, size)
        parity = fec.encode(data, PARITY_SHARDS, matrix=AUDIO_PARITY_MATRIX)
        base = (last_sequence - (DATA_SHARDS - 1)) & 0xFFFF
        return [
            _RTP.pack(
                RTP_VERSION_2, AUDIO_FEC_PAYLOAD_TYPE, (last_sequence + 1 + shard) & 0xFFFF, 0, 0
            )
            + _FEC_HEADER.pack(shard, AUDIO_PAYLOAD_TYPE, base, self._block_timestamp, 0)
            + parity[shard].tobytes()
            for shard in range(PARITY_SHARDS)
        ]


# --- the receiving side (tests and tools) ----------------------------------------------------


@dataclass(frozen=True)
class AudioPacket:
    """One audio packet as the receiver hands it to the decoder."""

    sequence: int
    timestamp: int
    opus: bytes
    recovered: bool


class _Block:
    def __init__(self) -> None:
        self.shards: list[bytes | None] = [None] * (DATA_SHARDS + PARITY_SHARDS)
        self.base_timestamp: int | None = None
        self.done = False


class AudioDepacketizer:
    """Audio datagrams in (any order, some lost) -> Opus packets out, lost ones rebuilt from
    parity when the block allows. Keeps at most `max_blocks` FEC blocks."""

    def __init__(
        self,
        packet_duration_ms: int = DEFAULT_PACKET_DURATION_MS,
        cipher: AudioCipher | None = None,
        max_blocks: int = 16,
    ) -> None:
        self.packet_duration_ms = packet_duration_ms
        self.cipher = cipher
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[int, _Block] = OrderedDict()

    def receive(self, datagram: bytes | bytearray | memoryview) -> list[AudioPacket]:
        if not RTP_HEADER_SIZE <= len(datagram) <= MAX_DATAGRAM_SIZE:
            raise AudioWireError(f"audio datagram of {len(datagram)} bytes")
        flags, payload_type, sequence, timestamp, _ = _RTP.unpack_from(datagram, 0)
        if flags & 0xC0 != RTP_VERSION_2:
            raise AudioWireError(f"not an RTP v2 datagram (0x{flags:02x})")
        if payload_type == AUDIO_PAYLOAD_TYPE:
            base = sequence - sequence % DATA_SHARDS
            block = self._block(base)
            slot = sequence - base
            if block.base_timestamp is None:
                block.base_timestamp = timestamp - slot * self.packet_duration_ms
            if block.shards[slot] is not None:
                return []
            payload = bytes(datagram[RTP_HEADER_SIZE:])
            if not payload:
                raise AudioWireError(f"audio datagram {sequence} has no payload")
            block.shards[slot] = payload
            packets = [AudioPacket(sequence, timestamp, self._opus(sequence, payload), False)]
        elif payload_type == AUDIO_FEC_PAYLOAD_TYPE:
            if len(datagram) <= RTP_HEADER_SIZE + FEC_HEADER_SIZE:
                raise AudioWireError("audio FEC datagram without parity")
            shard, inner_type, base, base_timestamp, _ = _FEC_HEADER.unpack_from(
                datagram, RTP_HEADER_SIZE
            )
            if shard >= PARITY_SHARDS or inner_type != AUDIO_PAYLOAD_TYPE or base % DATA_SHARDS:
                raise AudioWireError(
                    f"audio FEC header: shard {shard}, type {inner_type}, base {base}"
                )
            block = self._block(base)
            block.base_timestamp = base_timestamp
            if block.shards[DATA_SHARDS + shard] is not None:
                return []
            block.shards[DATA_SHARDS + shard] = bytes(datagram[RTP_HEADER_SIZE + FEC_HEADER_SIZE :])
            packets = []
        else:
            raise AudioWireError(f"RTP payload type {payload_type} is not audio")
        return packets + self._recover(base, block)

    def _block(self, base: int) -> _Block:
        block = self._blocks.get(base)
        if block is None:
            block = self._blocks[base] = _Block()
            while len(self._blocks) > self.max_blocks:
                self._blocks.popitem(last=False)
        return block

    def _recover(self, base: int, block: _Block) -> list[AudioPacket]:
        missing = [i for i in range(DATA_SHARDS) if block.shards[i] is None]
        present = [s for s in block.shards if s is not None]
        if block.done or not missing or len(present) < DATA_SHARDS:
            return []
        if len({len(s) for s in present}) != 1:
            return []  # unequal payloads: no FEC for this block
        block.done = True
        data = fec.decode(block.shards, DATA_SHARDS, PARITY_SHARDS, matrix=AUDIO_PARITY_MATRIX)
        for i in missing:
            block.shards[i] = data[i]  # a straggler of a rebuilt packet is now a duplicate
        base_timestamp = block.base_timestamp or 0
        return [
            AudioPacket(
                sequence=(base + i) & 0xFFFF,
                timestamp=(base_timestamp + i * self.packet_duration_ms) & 0xFFFF_FFFF,
                opus=self._opus((base + i) & 0xFFFF, data[i]),
                recovered=True,
            )
            for i in missing
        ]

    def _opus(self, sequence: int, payload: bytes) -> bytes:
        return payload if self.cipher is None else self.cipher.decrypt(sequence, payload)
