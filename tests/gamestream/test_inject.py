"""Input injection: Moonlight events to uinput devices.

Where the machine has a writable /dev/uinput, virtual devices are read back with evdev.
Everywhere else the uinput boundary is a recording fake device (the one true external
boundary here): it checks every write against the capabilities the device was created
with, as the kernel would, and keeps the frames (writes between two SYN_REPORTs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import struct
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from evdev import InputDevice, UInputError, ecodes, list_devices
from hypothesis import given
from hypothesis import strategies as st

from host.gamestream.inject import (
    CHAR_TO_KEY,
    DEFAULT_POINTER_MAX,
    DROP_REASONS,
    PAD_BUTTONS,
    VK_TO_KEY,
    CountingInjector,
    DeviceSpec,
    InputInjector,
    VirtualInput,
    scale,
    uinput_device,
    uinput_problem,
)
from host.gamestream.input import (
    BUTTON_LEFT,
    BUTTON_X2,
    PAD_A,
    PAD_DOWN,
    PAD_LEFT,
    PAD_RIGHT,
    PAD_UP,
    PAD_Y,
    ControllerArrival,
    ControllerBattery,
    ControllerRemoved,
    ControllerState,
    HapticsEnable,
    InputDecoder,
    InputEvent,
    KeyEvent,
    MouseButton,
    MouseMove,
    MousePosition,
    Rejected,
    Scroll,
    Text,
    Touch,
)

LOGGER = "host.gamestream.inject"
Write = tuple[int, int, int]
K, R, A = ecodes.EV_KEY, ecodes.EV_REL, ecodes.EV_ABS


class FakeDevice:
    """Records writes; refuses what the real device would not have been set up for."""

    def __init__(self, spec: DeviceSpec) -> None:
        self.spec = spec
        self.frames: list[list[Write]] = []
        self.open_frame: list[Write] = []
        self.closed = False

    def write(self, event_type: int, code: int, value: int, /) -> None:
        if self.closed:
            raise OSError(9, "write to a removed device")
        if event_type == K:
            assert code in self.spec.keys, f"{ecodes.KEY.get(code, code)} not enabled"
            assert value in (0, 1, 2)
        elif event_type == R:
            assert code in self.spec.relative
        else:
            assert event_type == A
            axis = {axis.code: axis for axis in self.spec.absolute}[code]
            assert axis.minimum <= value <= axis.maximum, (code, value)
        self.open_frame.append((event_type, code, value))

    def syn(self) -> None:
        assert self.open_frame, "an empty frame"
        self.frames.append(self.open_frame)
        self.open_frame = []

    def close(self) -> None:
        self.closed = True

    @property
    def writes(self) -> list[Write]:
        return [write for frame in self.frames for write in frame]


class FakeUinput:
    """The device factory: every device it made, by the last word of its name."""

    def __init__(self, fail_pads: bool = False) -> None:
        self.made: list[FakeDevice] = []
        self.fail_pads = fail_pads

    def __call__(self, spec: DeviceSpec) -> FakeDevice:
        if self.fail_pads and " pad " in spec.name:
            raise OSError(24, "Too many open files")
        device = FakeDevice(spec)
        self.made.append(device)
        return device

    def device(self, name: str) -> FakeDevice:
        (device,) = [d for d in self.made if d.spec.name.endswith(name) and not d.closed]
        return device


class GatedDevice(FakeDevice):
    """A device whose writes wait for `gate`: a worker stuck on a slow device."""

    entered = threading.Event()
    gate = threading.Event()

    def write(self, event_type: int, code: int, value: int, /) -> None:
        type(self).entered.set()
        assert type(self).gate.wait(30), "the test never opened the gate"
        super().write(event_type, code, value)


@pytest.fixture
def fake() -> FakeUinput:
    return FakeUinput()


@pytest.fixture
def devices(fake: FakeUinput) -> Iterator[VirtualInput]:
    virtual = VirtualInput(fake)
    yield virtual
    virtual.close()


@pytest.fixture
def injector(fake: FakeUinput) -> Iterator[InputInjector]:
    injector = InputInjector(fake)
    yield injector
    injector.close()


def state(
    number: int = 0,
    mask: int = 0b1,
    buttons: int = 0,
    triggers: tuple[int, int] = (0, 0),
    sticks: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> ControllerState:
    return ControllerState(number, mask, buttons, *triggers, *sticks)


def key_packet(down: bool, vk: int) -> bytes:
    body = bytes([0]) + struct.pack("<H", 0x8000 | vk) + bytes([0]) + b"\0\0"
    return struct.pack(">I", 4 + len(body)) + struct.pack("<I", 3 if down else 4) + body


def wait_until(condition: Callable[[], bool], timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def balanced(counters: dict[str, int]) -> bool:
    dropped = sum(counters[f"dropped_{reason}"] for reason in DROP_REASONS)
    return counters["received"] == counters["injected"] + dropped


# --- the key table -----------------------------------------------------------------------


def test_every_mapped_virtual_key_is_an_evdev_key_code() -> None:
    for vk, code in VK_TO_KEY.items():
        assert 1 <= vk <= 0xFE
        name = ecodes.KEY[code]
        names = name if isinstance(name, tuple | list) else [name]
        assert any(n.startswith("KEY_") for n in names), (hex(vk), names)


@pytest.mark.parametrize(
    ("vk", "name"),
    [
        (0x41, "KEY_A"),
        (0x5A, "KEY_Z"),
        (0x30, "KEY_0"),
        (0x39, "KEY_9"),
        (0x70, "KEY_F1"),
        (0x7B, "KEY_F12"),
        (0x87, "KEY_F24"),
        (0x25, "KEY_LEFT"),
        (0x28, "KEY_DOWN"),
        (0x21, "KEY_PAGEUP"),
        (0x2E, "KEY_DELETE"),
        (0xA0, "KEY_LEFTSHIFT"),
        (0xA3, "KEY_RIGHTCTRL"),
        (0xA5, "KEY_RIGHTALT"),
        (0x5B, "KEY_LEFTMETA"),
        (0x60, "KEY_KP0"),
        (0x69, "KEY_KP9"),
        (0x6F, "KEY_KPSLASH"),
        (0xBA, "KEY_SEMICOLON"),
        (0xC0, "KEY_GRAVE"),
        (0xDE, "KEY_APOSTROPHE"),
        (0x0D, "KEY_ENTER"),
        (0x1B, "KEY_ESC"),
    ],
)
def test_virtual_key_maps_to(vk: int, name: str) -> None:
    assert VK_TO_KEY[vk] == ecodes.ecodes[name]


def test_every_typeable_character_is_an_enabled_key() -> None:
    keyboard_keys = set(VK_TO_KEY.values())
    assert len(CHAR_TO_KEY) == 95 + 2  # printable ASCII, newline, tab
    for char, (code, _) in CHAR_TO_KEY.items():
        assert code in keyboard_keys, repr(char)


def test_unmapped_virtual_keys_from_the_wire_are_dropped_as_unmapped_key(
    fake: FakeUinput, injector: InputInjector
) -> None:
    decoder = InputDecoder()
    unmapped = [vk for vk in range(1, 0xFF) if vk not in VK_TO_KEY]
    assert 0x07 in unmapped  # undefined in Windows' table
    assert 0xFE not in VK_TO_KEY
    for vk in unmapped:
        for down in (True, False):
            event = decoder.decode(key_packet(down, vk))
            assert not isinstance(event, Rejected)
            assert injector.submit(event)
    assert injector.flush(10)
    counters = injector.counters()
    assert counters["dropped_unmapped_key"] == 2 * len(unmapped)
    assert counters["injected"] == 0
    assert fake.device("keyboard").frames == []


def test_every_mapped_virtual_key_from_the_wire_is_pressed_and_released(
    fake: FakeUinput, injector: InputInjector
) -> None:
    decoder = InputDecoder()
    for vk in sorted(VK_TO_KEY):
        for down in (True, False):
            event = decoder.decode(key_packet(down, vk))
            assert not isinstance(event, Rejected)
            injector.submit(event)
    assert injector.flush(10)
    frames = fake.device("keyboard").frames
    assert len(frames) == 2 * len(VK_TO_KEY)
    assert frames[0] == [(K, ecodes.KEY_BACKSPACE, 1)]
    assert frames[1] == [(K, ecodes.KEY_BACKSPACE, 0)]
    assert injector.counters()["injected"] == 2 * len(VK_TO_KEY)


# --- keyboard, mouse and pointer --------------------------------------------------------


def test_key_held_down_repeats_then_releases(fake: FakeUinput, devices: VirtualInput) -> None:
    for down in (True, True, True, False):
        assert devices.apply(KeyEvent(down, 0x8041, 0, 0)) is None
    assert fake.device("keyboard").writes == [
        (K, ecodes.KEY_A, 1),
        (K, ecodes.KEY_A, 2),
        (K, ecodes.KEY_A, 2),
        (K, ecodes.KEY_A, 0),
    ]


def test_relative_motion_and_the_five_buttons(fake: FakeUinput, devices: VirtualInput) -> None:
    devices.apply(MouseMove(-3, 7))
    devices.apply(MouseMove(5, 0))
    devices.apply(MouseMove(0, 0))  # nothing to send
    for button in range(BUTTON_LEFT, BUTTON_X2 + 1):
        devices.apply(MouseButton(button, True))
        devices.apply(MouseButton(button, False))
    frames = fake.device("mouse").frames
    assert frames[:2] == [[(R, ecodes.REL_X, -3), (R, ecodes.REL_Y, 7)], [(R, ecodes.REL_X, 5)]]
    pressed = [frame[0][1] for frame in frames[2::2]]
    assert pressed == [
        ecodes.BTN_LEFT,
        ecodes.BTN_MIDDLE,
        ecodes.BTN_RIGHT,
        ecodes.BTN_SIDE,
        ecodes.BTN_EXTRA,
    ]
    assert [frame[0][2] for frame in frames[2:]] == [1, 0] * 5


@pytest.mark.parametrize(
    ("x", "reference", "maximum", "expected"),
    [
        (0, 1919, 65535, 0),
        (1919, 1919, 65535, 65535),  # Moonlight's far edge: width - 1
        (960, 1919, 65535, 32785),  # 960 * 65535 / 1919 = 32784.6
        (-5, 1919, 65535, 0),
        (4000, 1919, 65535, 65535),
        (700, 1919, 1919, 700),  # a pointer as large as the stream: pixel for pixel
        (1, 1, 100, 100),
    ],
)
def test_absolute_position_scales_from_the_reference_size(
    x: int, reference: int, maximum: int, expected: int
) -> None:
    assert scale(x, reference, maximum) == expected


@given(
    st.integers(-32768, 32767),
    st.integers(-32768, 32767),
    st.integers(1, 32767),
    st.integers(1, 1 << 20),
)
def test_scaling_stays_in_range_keeps_order_and_rounds_to_nearest(
    a: int, b: int, reference: int, maximum: int
) -> None:
    low, high = sorted((a, b))
    assert 0 <= scale(low, reference, maximum) <= scale(high, reference, maximum) <= maximum
    clamped = min(max(a, 0), reference)
    assert abs(scale(a, reference, maximum) - clamped * maximum / reference) <= 0.5


def test_mouse_position_moves_the_absolute_pointer(fake: FakeUinput) -> None:
    devices = VirtualInput(fake, pointer_max=1000)
    try:
        devices.apply(MousePosition(1919, 0, 1919, 1079))
        devices.apply(MousePosition(960, 540, 1919, 1079))
    finally:
        devices.close()
    assert fake.made[2].spec.name.endswith("pointer")
    assert fake.made[2].frames == [
        [(A, ecodes.ABS_X, 1000), (A, ecodes.ABS_Y, 0)],
        [(A, ecodes.ABS_X, 500), (A, ecodes.ABS_Y, 500)],
    ]


def test_default_pointer_range(fake: FakeUinput, devices: VirtualInput) -> None:
    axes = {axis.code: axis.maximum for axis in fake.device("pointer").spec.absolute}
    assert axes == {ecodes.ABS_X: DEFAULT_POINTER_MAX, ecodes.ABS_Y: DEFAULT_POINTER_MAX}


# --- scroll -----------------------------------------------------------------------------


def test_one_notch_is_120_high_resolution_units_and_one_wheel_step(
    fake: FakeUinput, devices: VirtualInput
) -> None:
    devices.apply(Scroll(120))
    devices.apply(Scroll(-240))
    devices.apply(Scroll(120, horizontal=True))
    assert fake.device("mouse").frames == [
        [(R, ecodes.REL_WHEEL_HI_RES, 120), (R, ecodes.REL_WHEEL, 1)],
        [(R, ecodes.REL_WHEEL_HI_RES, -240), (R, ecodes.REL_WHEEL, -2)],
        [(R, ecodes.REL_HWHEEL_HI_RES, 120), (R, ecodes.REL_HWHEEL, 1)],
    ]


def test_partial_notches_add_up_to_a_wheel_step(fake: FakeUinput, devices: VirtualInput) -> None:
    for amount in (40, 40, 40, 40):
        devices.apply(Scroll(amount))
    writes = fake.device("mouse").writes
    assert [w for w in writes if w[1] == ecodes.REL_WHEEL_HI_RES] == [
        (R, ecodes.REL_WHEEL_HI_RES, 40)
    ] * 4
    assert [w for w in writes if w[1] == ecodes.REL_WHEEL] == [(R, ecodes.REL_WHEEL, 1)]


def test_turning_the_wheel_back_forgets_the_partial_notch(
    fake: FakeUinput, devices: VirtualInput
) -> None:
    devices.apply(Scroll(100))
    devices.apply(Scroll(-30))  # back: the 100 owed upward is dropped, -30 carried
    devices.apply(Scroll(-90))  # -120 in all: one step down
    devices.apply(Scroll(60, horizontal=True))  # the horizontal wheel keeps its own rest
    devices.apply(Scroll(0))
    steps = [w for w in fake.device("mouse").writes if w[1] == ecodes.REL_WHEEL]
    assert steps == [(R, ecodes.REL_WHEEL, -1)]
    assert fake.device("mouse").frames[-1] == [(R, ecodes.REL_HWHEEL_HI_RES, 60)]


# --- text -------------------------------------------------------------------------------


def test_ascii_text_is_typed_with_shift_where_needed(
    fake: FakeUinput, devices: VirtualInput
) -> None:
    assert devices.apply(Text("aB!\n")) is None
    shift = ecodes.KEY_LEFTSHIFT
    assert fake.device("keyboard").frames == [
        [(K, ecodes.KEY_A, 1)],
        [(K, ecodes.KEY_A, 0)],
        [(K, shift, 1), (K, ecodes.KEY_B, 1)],
        [(K, ecodes.KEY_B, 0), (K, shift, 0)],
        [(K, shift, 1), (K, ecodes.KEY_1, 1)],
        [(K, ecodes.KEY_1, 0), (K, shift, 0)],
        [(K, ecodes.KEY_ENTER, 1)],
        [(K, ecodes.KEY_ENTER, 0)],
    ]


def test_text_no_key_types_is_counted_and_the_rest_still_typed(
    fake: FakeUinput, devices: VirtualInput
) -> None:
    assert devices.apply(Text("é🎮\x07")) == "text_unmapped"
    assert fake.device("keyboard").frames == []
    assert devices.apply(Text("x→y")) == "text_unmapped"
    typed = [w[1] for w in fake.device("keyboard").writes if w[2] == 1]
    assert typed == [ecodes.KEY_X, ecodes.KEY_Y]


# --- controllers ------------------------------------------------------------------------


def test_arrival_creates_an_xbox_style_pad(fake: FakeUinput, devices: VirtualInput) -> None:
    assert devices.apply(ControllerArrival(2, "xbox", 0, 0)) is None
    assert devices.pads == {2}
    spec = fake.device("pad 2").spec
    assert (spec.vendor, spec.product, spec.bustype) == (0x045E, 0x028E, ecodes.BUS_USB)
    assert {ecodes.BTN_SOUTH, ecodes.BTN_EAST, ecodes.BTN_NORTH, ecodes.BTN_WEST} <= set(spec.keys)
    ranges = {axis.code: (axis.minimum, axis.maximum) for axis in spec.absolute}
    assert ranges[ecodes.ABS_X] == ranges[ecodes.ABS_RY] == (-32768, 32767)
    assert ranges[ecodes.ABS_Z] == ranges[ecodes.ABS_RZ] == (0, 255)
    assert ranges[ecodes.ABS_HAT0X] == ranges[ecodes.ABS_HAT0Y] == (-1, 1)
    # A second arrival of the same number keeps the one pad.
    assert devices.apply(ControllerArrival(2, "xbox", 0, 0)) is None
    assert len([d for d in fake.made if " pad " in d.spec.name]) == 1


def test_first_state_creates_the_pad_and_sends_buttons_sticks_triggers_and_hat(
    fake: FakeUinput, devices: VirtualInput
) -> None:
    event = state(1, 0b10, PAD_A | PAD_UP | PAD_LEFT, (255, 7), (-32768, 32767, 100, -32768))
    assert devices.apply(event) is None
    (frame,) = fake.device("pad 1").frames
    assert set(frame) == {
        (K, ecodes.BTN_SOUTH, 1),
        (A, ecodes.ABS_X, -32768),
        (A, ecodes.ABS_Y, -32767),  # Moonlight's up is evdev's negative
        (A, ecodes.ABS_RX, 100),
        (A, ecodes.ABS_RY, 32767),  # -(-32768) does not fit: clamped
        (A, ecodes.ABS_Z, 255),
        (A, ecodes.ABS_RZ, 7),
        (A, ecodes.ABS_HAT0X, -1),
        (A, ecodes.ABS_HAT0Y, -1),
    }


def test_pad_state_sends_only_what_changed(fake: FakeUinput, devices: VirtualInput) -> None:
    devices.apply(state(buttons=PAD_A, sticks=(10, 0, 0, 0)))
    devices.apply(state(buttons=PAD_A | PAD_Y | PAD_DOWN | PAD_RIGHT, sticks=(10, 0, 0, 0)))
    devices.apply(state(buttons=PAD_UP | PAD_DOWN, sticks=(10, 0, 0, 0)))  # both: centred
    frames = fake.device("pad 0").frames
    assert set(frames[1]) == {
        (K, ecodes.BTN_WEST, 1),
        (A, ecodes.ABS_HAT0X, 1),
        (A, ecodes.ABS_HAT0Y, 1),
    }
    assert set(frames[2]) == {
        (K, ecodes.BTN_SOUTH, 0),
        (K, ecodes.BTN_WEST, 0),
        (A, ecodes.ABS_HAT0X, 0),
        (A, ecodes.ABS_HAT0Y, 0),
    }


def test_a_repeated_pad_state_writes_nothing(fake: FakeUinput, devices: VirtualInput) -> None:
    event = state(buttons=PAD_A, triggers=(9, 0), sticks=(1, 2, 3, 4))
    devices.apply(event)
    devices.apply(event)  # Moonlight repeats states while nothing moves
    assert len(fake.device("pad 0").frames) == 1


def test_every_pad_button_bit_has_its_own_key(fake: FakeUinput, devices: VirtualInput) -> None:
    assert len(set(PAD_BUTTONS.values())) == len(PAD_BUTTONS)
    for bit in PAD_BUTTONS:
        devices.apply(state(buttons=bit))
    pressed = [w[1] for w in fake.device("pad 0").writes if w[0] == K and w[2] == 1]
    assert pressed == list(PAD_BUTTONS.values())


def test_pad_leaving_the_active_mask_is_released_and_removed(
    fake: FakeUinput, devices: VirtualInput
) -> None:
    devices.apply(state(0, 0b11, PAD_A, (200, 0), (5, 0, 0, 0)))
    devices.apply(state(1, 0b11, PAD_Y))
    pad0, pad1 = fake.device("pad 0"), fake.device("pad 1")
    # Pad 1 reports with pad 0's bit gone: pad 0 is removed, its A and trigger let go.
    devices.apply(state(1, 0b10, PAD_Y))
    assert devices.pads == {1}
    assert pad0.closed
    assert set(pad0.frames[-1]) == {
        (K, ecodes.BTN_SOUTH, 0),
        (A, ecodes.ABS_Z, 0),
        (A, ecodes.ABS_X, 0),
    }
    # Then pad 1 itself is unplugged.
    assert devices.apply(ControllerRemoved(1, 0b00)) is None
    assert devices.pads == frozenset()
    assert pad1.closed
    assert pad1.frames[-1] == [(K, ecodes.BTN_WEST, 0)]
    # It may come back as a new device.
    devices.apply(state(1, 0b10))
    assert devices.pads == {1}
    assert not fake.device("pad 1").closed


def test_sixteen_pads_come_and_go(fake: FakeUinput, devices: VirtualInput) -> None:
    mask = 0xFFFF
    for number in range(16):
        devices.apply(ControllerArrival(number, "xbox", 0, 0))
    assert devices.pads == set(range(16))
    for number in range(16):
        mask &= ~(1 << number)
        devices.apply(ControllerRemoved(number, mask))
    assert devices.pads == frozenset()
    assert all(d.closed for d in fake.made if " pad " in d.spec.name)


def test_pad_that_cannot_be_created_is_a_device_error() -> None:
    fake = FakeUinput(fail_pads=True)
    injector = InputInjector(fake)
    try:
        injector.submit(ControllerArrival(0, "xbox", 0, 0))
        injector.submit(state(0))
        injector.submit(KeyEvent(True, 0x41, 0, 0))  # the keyboard still works
        assert injector.flush(10)
        counters = injector.counters()
        assert counters["dropped_device_error"] == 2
        assert counters["injected"] == 1
    finally:
        injector.close()


def test_events_without_a_device_are_unsupported(devices: VirtualInput) -> None:
    for event in (
        Touch(1, 0, 0.5, 0.5, 1.0, 0.0, 0.0, 0xFFFF),
        HapticsEnable(True),
        ControllerBattery(0, 2, 50),
    ):
        assert devices.apply(event) == "unsupported"


# --- the worker, close, counters --------------------------------------------------------


def test_close_releases_what_is_held_and_removes_every_device(fake: FakeUinput) -> None:
    injector = InputInjector(fake)
    for event in (
        KeyEvent(True, 0xA0, 0, 0),
        KeyEvent(True, 0x41, 0, 0),
        MouseButton(BUTTON_LEFT, True),
        state(3, 0b1000, PAD_A),
    ):
        assert injector.submit(event)
    assert injector.flush(10)
    injector.close()
    assert all(device.closed for device in fake.made)
    assert len(fake.made) == 4
    assert fake.made[0].frames[-1] == [(K, ecodes.KEY_A, 0), (K, ecodes.KEY_LEFTSHIFT, 0)]
    assert fake.made[1].frames[-1] == [(K, ecodes.BTN_LEFT, 0)]
    assert fake.made[3].frames[-1] == [(K, ecodes.BTN_SOUTH, 0)]
    assert balanced(injector.counters())


def test_events_after_close_are_dropped_and_counted(fake: FakeUinput) -> None:
    injector = InputInjector(fake)
    injector.close()
    injector.close()  # twice is harmless
    assert not injector.submit(KeyEvent(True, 0x41, 0, 0))
    assert not injector.submit(MouseMove(1, 1))
    counters = injector.counters()
    assert counters["dropped_after_close"] == 2
    assert counters["accepted"] == counters["injected"] == 0
    assert fake.made[0].frames == []
    assert injector.flush(1)


def test_events_still_queued_at_close_are_dropped_as_after_close() -> None:
    GatedDevice.entered.clear()
    GatedDevice.gate.clear()
    injector = InputInjector(GatedDevice, queue_capacity=8)
    try:
        injector.submit(MouseMove(1, 0))
        assert GatedDevice.entered.wait(10)  # the worker holds that one, stuck
        for _ in range(5):
            assert injector.submit(MouseMove(1, 0))
        # close() drops the queue at once, then waits for the worker's event in hand.
        closer = threading.Thread(target=injector.close)
        closer.start()
        assert wait_until(lambda: injector.counters()["dropped_after_close"] == 5)
        assert closer.is_alive()
        GatedDevice.gate.set()
        closer.join(10)
        assert not closer.is_alive()
    finally:
        GatedDevice.gate.set()
        injector.close()
    counters = injector.counters()
    assert (counters["injected"], counters["dropped_after_close"]) == (1, 5)
    assert balanced(counters)


def test_flood_is_bounded_by_the_queue_and_drops_are_counted() -> None:
    """100 000 events from a producer thread while the worker is stuck in a device write:
    the queue holds at most its capacity, the rest is counted, nothing raises."""
    GatedDevice.entered.clear()
    GatedDevice.gate.clear()
    injector = InputInjector(GatedDevice, queue_capacity=1024)
    flood = 100_000
    errors: list[BaseException] = []
    queue_sizes: list[int] = []

    def produce() -> None:
        try:
            for n in range(flood):
                injector.submit(MouseMove(1, n & 0xFF))
                if n % 10_000 == 0:
                    queue_sizes.append(injector.pending)
        except BaseException as error:
            errors.append(error)

    try:
        injector.submit(MouseMove(1, 1))
        assert GatedDevice.entered.wait(10)  # the worker holds that one, stuck
        tracemalloc.start()
        baseline, _ = tracemalloc.get_traced_memory()
        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(60)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert not producer.is_alive()
        assert errors == []
        assert injector.pending == 1024
        assert max(queue_sizes) <= 1024
        # 1024 queued events and their ints stay well under this; 100 000 would not.
        assert peak - baseline < 1_000_000, peak - baseline
        counters = injector.counters()
        assert counters["accepted"] == 1 + 1024
        assert counters["dropped_queue_full"] == flood - 1024
        GatedDevice.gate.set()
        assert injector.flush(30)
        counters = injector.counters()
        assert counters["injected"] == 1 + 1024
        assert counters["received"] == 1 + flood
        assert balanced(counters)
    finally:
        GatedDevice.gate.set()
        injector.close()


class BrokenDevice(FakeDevice):
    def write(self, event_type: int, code: int, value: int, /) -> None:
        if self.spec.name.endswith("mouse"):
            raise OSError(19, "No such device")
        super().write(event_type, code, value)


def test_a_failing_device_is_counted_logged_once_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    injector = InputInjector(BrokenDevice)
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            for _ in range(3):
                injector.submit(MouseMove(1, 1))
            injector.submit(KeyEvent(True, 0x41, 0, 0))
            assert injector.flush(10)
        counters = injector.counters()
        assert counters["dropped_device_error"] == 3
        assert counters["injected"] == 1
        records = [r for r in caplog.records if r.name == LOGGER]
        assert len(records) == 1
        assert "MouseMove" in records[0].getMessage()
    finally:
        injector.close()


def test_counters_name_every_reason(fake: FakeUinput, injector: InputInjector) -> None:
    counters = injector.counters()
    assert set(counters) == {"received", "accepted", "injected"} | {
        f"dropped_{reason}" for reason in DROP_REASONS
    }
    assert set(counters.values()) == {0}
    assert injector.injecting


def test_bad_settings_are_refused(fake: FakeUinput) -> None:
    with pytest.raises(ValueError, match="queue_capacity"):
        InputInjector(fake, queue_capacity=0)
    with pytest.raises(ValueError, match="pointer_max"):
        InputInjector(fake, pointer_max=0)


# --- without uinput ---------------------------------------------------------------------


def counting_events() -> list[InputEvent]:
    return [KeyEvent(True, 0x41, 0, 0), MouseMove(1, 2), Scroll(120), Text("hi"), state(0)]


@pytest.mark.parametrize(
    ("node", "says"),
    [
        ("missing", "does not exist"),
        ("regular file", "not the uinput device"),
        ("/dev/null", "not the uinput device"),  # a character device, but not 10:223
    ],
)
def test_without_uinput_open_logs_one_line_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, node: str, says: str
) -> None:
    devnode = tmp_path / "uinput"
    if node == "regular file":
        devnode.write_bytes(b"")
    elif node == "/dev/null":
        devnode = Path(node)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        injector = InputInjector.open(devnode=str(devnode))
        try:
            assert isinstance(injector, CountingInjector)
            assert not injector.injecting
            for event in counting_events() * 100:
                assert not injector.submit(event)
            assert injector.flush(0)
        finally:
            injector.close()
        injector.submit(MouseMove(1, 1))
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "counted, not injected" in records[0].getMessage()
    assert says in records[0].getMessage()
    counters = injector.counters()
    assert counters["received"] == 501
    assert counters["dropped_no_uinput"] == 500
    assert counters["dropped_after_close"] == 1
    assert counters["injected"] == counters["accepted"] == 0
    assert balanced(counters)


def test_uinput_problem_names_the_cause(tmp_path: Path) -> None:
    assert "does not exist" in (uinput_problem(str(tmp_path / "nothing")) or "")
    assert "not the uinput device" in (uinput_problem(str(tmp_path)) or "")


def test_real_device_factory_refuses_a_missing_node(tmp_path: Path) -> None:
    spec = DeviceSpec("punktfunk test", "punktfunk/test", keys=(ecodes.KEY_A,))
    with pytest.raises(UInputError, match="does not exist"):
        uinput_device(spec, devnode=str(tmp_path / "uinput"))


# --- with a real /dev/uinput ------------------------------------------------------------

needs_uinput = pytest.mark.skipif(
    uinput_problem() is not None or not os.path.isdir("/dev/input"),
    reason=f"needs a writable /dev/uinput and /dev/input: {uinput_problem() or 'no /dev/input'}",
)


def find_node(name: str, deadline: float) -> InputDevice[str]:
    """The /dev/input node of the virtual device called `name` (udev may take a moment)."""
    while time.monotonic() < deadline:
        for path in list_devices():
            with contextlib.suppress(OSError):
                device = InputDevice(path)
                if device.name == name:
                    return device
                device.close()
        time.sleep(0.02)
    raise AssertionError(f"no input node for {name!r}")


def read_until(device: InputDevice[str], count: int, deadline: float) -> list[Write]:
    """Events other than SYN, until `count` of them or the deadline."""
    got: list[Write] = []
    while len(got) < count and time.monotonic() < deadline:
        select.select([device.fd], [], [], max(0.0, deadline - time.monotonic()))
        while (event := device.read_one()) is not None:
            if event.type != ecodes.EV_SYN:
                got.append((event.type, event.code, event.value))
    return got


@pytest.fixture
def real() -> Iterator[tuple[InputInjector, str]]:
    name = f"pf-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    injector = InputInjector.open(name=name)
    assert isinstance(injector, InputInjector)
    yield injector, name
    injector.close()


@needs_uinput
def test_real_keyboard_and_mouse_receive_the_events(real: tuple[InputInjector, str]) -> None:
    injector, name = real
    deadline = time.monotonic() + 10
    keyboard = find_node(f"{name} keyboard", deadline)
    mouse = find_node(f"{name} mouse", deadline)
    pointer = find_node(f"{name} pointer", deadline)
    try:
        for event in (
            KeyEvent(True, 0x41, 0, 0),
            KeyEvent(False, 0x41, 0, 0),
            MouseMove(5, -3),
            MouseButton(BUTTON_LEFT, True),
            MouseButton(BUTTON_LEFT, False),
            Scroll(120),
            MousePosition(1919, 0, 1919, 1079),
        ):
            assert injector.submit(event)
        assert read_until(keyboard, 2, deadline) == [(K, ecodes.KEY_A, 1), (K, ecodes.KEY_A, 0)]
        assert read_until(mouse, 6, deadline) == [
            (R, ecodes.REL_X, 5),
            (R, ecodes.REL_Y, -3),
            (K, ecodes.BTN_LEFT, 1),
            (K, ecodes.BTN_LEFT, 0),
            (R, ecodes.REL_WHEEL_HI_RES, 120),  # in the order written, one frame
            (R, ecodes.REL_WHEEL, 1),
        ]
        assert (A, ecodes.ABS_X, DEFAULT_POINTER_MAX) in read_until(pointer, 1, deadline)
    finally:
        for device in (keyboard, mouse, pointer):
            device.close()
    assert injector.flush(10)
    assert injector.counters()["injected"] == 7


@needs_uinput
def test_real_pad_appears_reports_and_disappears(real: tuple[InputInjector, str]) -> None:
    injector, name = real
    deadline = time.monotonic() + 10
    injector.submit(ControllerArrival(0, "xbox", 0, 0))
    pad = find_node(f"{name} pad 0", deadline)
    try:
        injector.submit(state(0, 0b1, PAD_A, (128, 0), (1000, 0, 0, 0)))
        got = read_until(pad, 3, deadline)
        assert set(got) == {
            (K, ecodes.BTN_SOUTH, 1),
            (A, ecodes.ABS_X, 1000),
            (A, ecodes.ABS_Z, 128),
        }
        injector.submit(ControllerRemoved(0, 0))
        assert injector.flush(10)
        assert injector.pads == frozenset()
    finally:
        pad.close()
