"""The control block: what producers must do, written by its owner only.

One u64 word, `flags` (bit 0 armed, bit 1 perf), and spares for later use. Producers
read `flags` once per frame; measuring happens when it is non-zero (`perf or armed`).
"""

from __future__ import annotations

from ipc.segment import Segment, SegmentKind

ARMED = 1
PERF = 2
_WORDS = 4


class ControlBlock:
    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.name = segment.name
        self._words = segment.payload[: _WORDS * 8].cast("Q")

    @classmethod
    def create(cls, *, perf: bool = False) -> ControlBlock:
        block = cls(Segment.create(SegmentKind.CONTROL, _WORDS * 8))
        block.set_perf(perf)
        return block

    @classmethod
    def attach(cls, name: str) -> ControlBlock:
        return cls(Segment.attach(name, SegmentKind.CONTROL))

    # -- readers (any process) ---------------------------------------------------------

    def measuring(self) -> bool:
        """`perf or armed` with one aligned load; cheap enough for every frame."""
        return self._words[0] != 0

    @property
    def armed(self) -> bool:
        return bool(self._words[0] & ARMED)

    @property
    def perf(self) -> bool:
        return bool(self._words[0] & PERF)

    # -- owner ------------------------------------------------------------------------

    def set_armed(self, armed: bool) -> None:
        self._require_owner()
        self._words[0] = (self._words[0] | ARMED) if armed else (self._words[0] & ~ARMED)

    def set_perf(self, perf: bool) -> None:
        self._require_owner()
        self._words[0] = (self._words[0] | PERF) if perf else (self._words[0] & ~PERF)

    def _require_owner(self) -> None:
        if not self.segment.owner:
            raise PermissionError("only the process that created the control block writes it")

    def close(self) -> None:
        self._words.release()
        self.segment.close()
