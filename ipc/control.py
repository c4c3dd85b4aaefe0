"""The control block: what producers must do, written by its owner only.

One u64 word, `flags` (bit 0 armed, bit 1 perf, bit 2 always), and spares for later
use. Producers read `flags` once per frame; measuring happens when it is non-zero
(`perf or armed`, or always when the operator set `measure = always` so that /metrics
has latency histograms without a capture).
"""

from __future__ import annotations

from ipc.segment import Segment, SegmentKind

ARMED = 1
PERF = 2
ALWAYS = 4  # measure every frame whether or not anyone records (setting `measure`)
_WORDS = 4


class ControlBlock:
    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.name = segment.name
        self._words = segment.payload[: _WORDS * 8].cast("Q")

    @classmethod
    def create(cls, *, perf: bool = False, measure_always: bool = False) -> ControlBlock:
        block = cls(Segment.create(SegmentKind.CONTROL, _WORDS * 8))
        block.set_perf(perf)
        block.set_measure_always(measure_always)
        return block

    @classmethod
    def attach(cls, name: str) -> ControlBlock:
        return cls(Segment.attach(name, SegmentKind.CONTROL))

    # -- readers (any process) ---------------------------------------------------------

    def measuring(self) -> bool:
        """`perf or armed or always` with one aligned load; cheap enough for every frame."""
        return self._words[0] != 0

    @property
    def armed(self) -> bool:
        return bool(self._words[0] & ARMED)

    @property
    def perf(self) -> bool:
        return bool(self._words[0] & PERF)

    @property
    def measure_always(self) -> bool:
        return bool(self._words[0] & ALWAYS)

    # -- owner ------------------------------------------------------------------------

    def set_armed(self, armed: bool) -> None:
        self._set(ARMED, armed)

    def set_perf(self, perf: bool) -> None:
        self._set(PERF, perf)

    def set_measure_always(self, always: bool) -> None:
        self._set(ALWAYS, always)

    def _set(self, bit: int, on: bool) -> None:
        self._require_owner()
        # One aligned 8-byte store publishes the new flags (see ipc.ring on why not pack_into).
        self._words[0] = (self._words[0] | bit) if on else (self._words[0] & ~bit)

    def _require_owner(self) -> None:
        if not self.segment.owner:
            raise PermissionError("only the process that created the control block writes it")

    def close(self) -> None:
        self._words.release()
        self.segment.close()
