"""Moonlight's input packets (carried in control-stream input messages), decoded and checked.

Sans-I/O: `parse_input(packet)` returns one typed event or raises InputError;
`InputDecoder.decode` never raises and counts rejections by reason.

Every packet starts with an 8-byte header: BE32 size (bytes after this field) and LE32
magic (the packet type). Fields after it are mixed: mouse motion, position and scroll
values are big endian; key codes, controller fields, touch/pen fields and floats are
little endian. Fixed-size packets must be exactly their size.

    magic        packet                         layout after the header
    0x03 / 0x04  key down / up                  u8 flags, LE16 key code, u8 modifiers, 2 zero
    0x05         mouse position                 BE16 x, y, unused, reference width, height
    0x07         relative mouse motion          BE16 dx, dy
    0x08 / 0x09  mouse button down / up         u8 button
    0x0A         vertical scroll                BE16 amount, BE16 amount again, 2 zero
    0x0C         controller state               see _CONTROLLER
    0x0D         haptics enable                 LE16 enable
    0x17         UTF-8 text                     1-32 bytes
    0x55000001   horizontal scroll              BE16 amount
    0x55000002   touch                          see _TOUCH
    0x55000003   pen                            see _PEN
    0x55000004   controller arrival             u8 number, u8 type, LE16 caps, LE32 buttons
    0x55000005   controller touchpad            u8 number, u8 event, 2 zero, LE32 id, 3 floats
    0x55000006   controller motion              u8 number, u8 type, 2 zero, 3 floats
    0x55000007   controller battery             u8 number, u8 state, u8 percent, 1 zero

Values that no client sends are rejected (`InputError.reason` in brackets): controller
numbers over 15 [controller_number], key codes whose low byte is not a Windows virtual
key 1..254 or whose high byte is not 0x00/0x80 [key_code], undefined modifier, flag or
button bits [key_modifiers, key_flags, buttons, button], unknown event/tool/motion/
controller types, non-finite floats [float], empty reference sizes [reference_size],
text that is not UTF-8 [utf8].
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass

HEADER = struct.Struct(">I")  # size; the magic is read separately, little endian
HEADER_BYTES = 8
# The client's own bound on an input packet.
MAX_INPUT_PACKET = 128
MAX_CONTROLLERS = 16
MAX_TEXT_BYTES = 32

KEY_DOWN = 0x03
KEY_UP = 0x04
MOUSE_POSITION = 0x05
MOUSE_MOVE = 0x07
MOUSE_BUTTON_DOWN = 0x08
MOUSE_BUTTON_UP = 0x09
SCROLL = 0x0A
CONTROLLER = 0x0C
HAPTICS_ENABLE = 0x0D
UTF8_TEXT = 0x17
HSCROLL = 0x55000001
TOUCH = 0x55000002
PEN = 0x55000003
CONTROLLER_ARRIVAL = 0x55000004
CONTROLLER_TOUCH = 0x55000005
CONTROLLER_MOTION = 0x55000006
CONTROLLER_BATTERY = 0x55000007

MODIFIER_SHIFT = 0x01
MODIFIER_CTRL = 0x02
MODIFIER_ALT = 0x04
MODIFIER_META = 0x08
KEY_FLAG_NON_NORMALIZED = 0x01  # the key code is not a US-layout key; take it as is

BUTTON_LEFT, BUTTON_MIDDLE, BUTTON_RIGHT, BUTTON_X1, BUTTON_X2 = 1, 2, 3, 4, 5

# Controller button bits (LE16 low half, the Sunshine extension's LE16 high half).
PAD_UP, PAD_DOWN, PAD_LEFT, PAD_RIGHT = 0x0001, 0x0002, 0x0004, 0x0008
PAD_START, PAD_BACK, PAD_LS_CLICK, PAD_RS_CLICK = 0x0010, 0x0020, 0x0040, 0x0080
PAD_LB, PAD_RB, PAD_HOME = 0x0100, 0x0200, 0x0400
PAD_A, PAD_B, PAD_X, PAD_Y = 0x1000, 0x2000, 0x4000, 0x8000
PAD_PADDLE1, PAD_PADDLE2, PAD_PADDLE3, PAD_PADDLE4 = 0x10000, 0x20000, 0x40000, 0x80000
PAD_TOUCHPAD, PAD_MISC = 0x100000, 0x200000
KNOWN_BUTTONS = 0x3FF7FF  # 0x0800 is unassigned

CONTROLLER_TYPES = {0: "unknown", 1: "xbox", 2: "playstation", 3: "nintendo"}
TOUCH_HOVER, TOUCH_DOWN, TOUCH_UP, TOUCH_MOVE = 0, 1, 2, 3
TOUCH_CANCEL, TOUCH_BUTTON_ONLY, TOUCH_HOVER_LEAVE, TOUCH_CANCEL_ALL = 4, 5, 6, 7
TOOL_UNKNOWN, TOOL_PEN, TOOL_ERASER = 0, 1, 2
MOTION_ACCEL, MOTION_GYRO = 1, 2
ROTATION_UNKNOWN = 0xFFFF
TILT_UNKNOWN = 0xFF

_KEY = struct.Struct("<BHBH")
_MOUSE_MOVE = struct.Struct(">hh")
_MOUSE_POSITION = struct.Struct(">hhhhh")
_BUTTON = struct.Struct("<B")
_SCROLL = struct.Struct(">hhh")
_HSCROLL = struct.Struct(">h")
_HAPTICS = struct.Struct("<H")
# header B, number, active mask, mid B, buttons, LT, RT, LX, LY, RX, RY, tail A, buttons2, tail B
_CONTROLLER = struct.Struct("<HHHHHBBhhhhHHH")
_ARRIVAL = struct.Struct("<BBHI")
# event, zero, rotation, pointer id, x, y, pressure/distance, contact major, minor
_TOUCH = struct.Struct("<BBHIfffff")
# event, tool, buttons, zero, x, y, pressure/distance, rotation, tilt, zero, major, minor
_PEN = struct.Struct("<BBBBfffHBBff")
_CONTROLLER_TOUCH = struct.Struct("<BBHIfff")
_MOTION = struct.Struct("<BBHfff")
_BATTERY = struct.Struct("<BBBB")


class InputError(ValueError):
    """A rejected input packet; `reason` is the counter it is filed under."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class KeyEvent:
    down: bool
    key_code: int  # as sent: Windows virtual key in the low byte, 0x80 in the high byte
    modifiers: int  # MODIFIER_* bits
    flags: int  # KEY_FLAG_* bits

    @property
    def vk(self) -> int:
        return self.key_code & 0xFF


@dataclass(frozen=True)
class MouseMove:
    dx: int
    dy: int


@dataclass(frozen=True)
class MousePosition:
    """x, y on a reference plane of the given size (Moonlight sends its size minus one)."""

    x: int
    y: int
    reference_width: int
    reference_height: int


@dataclass(frozen=True)
class MouseButton:
    button: int  # BUTTON_LEFT .. BUTTON_X2
    down: bool


@dataclass(frozen=True)
class Scroll:
    amount: int  # 120 per wheel notch; smaller steps from high-resolution devices
    horizontal: bool = False


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class HapticsEnable:
    enabled: bool


@dataclass(frozen=True)
class ControllerState:
    number: int
    active_mask: int  # bit n: controller n is connected
    buttons: int  # PAD_* bits
    left_trigger: int  # 0..255
    right_trigger: int
    left_x: int  # -32768..32767
    left_y: int
    right_x: int
    right_y: int


@dataclass(frozen=True)
class ControllerArrival:
    number: int
    controller_type: str  # "unknown" | "xbox" | "playstation" | "nintendo"
    capabilities: int  # LI_CCAP_* bits: analog triggers, rumble, touchpad, motion, ...
    supported_buttons: int


@dataclass(frozen=True)
class ControllerRemoved:
    """A controller packet whose own bit is clear in the active mask: it was unplugged."""

    number: int
    active_mask: int


@dataclass(frozen=True)
class ControllerTouch:
    number: int
    event_type: int  # TOUCH_*
    pointer_id: int
    x: float  # 0..1 on the touchpad
    y: float
    pressure: float


@dataclass(frozen=True)
class ControllerMotion:
    number: int
    motion_type: int  # MOTION_ACCEL (m/s^2) or MOTION_GYRO (deg/s)
    x: float
    y: float
    z: float


@dataclass(frozen=True)
class ControllerBattery:
    number: int
    state: int  # 0 unknown, 1 absent, 2 discharging, 3 charging, 4 not charging, 5 full
    percent: int  # 0..100, or 255 when unknown


@dataclass(frozen=True)
class Touch:
    event_type: int  # TOUCH_*
    pointer_id: int
    x: float  # 0..1 across the video
    y: float
    pressure_or_distance: float
    contact_major: float
    contact_minor: float
    rotation: int  # degrees, ROTATION_UNKNOWN when unknown


@dataclass(frozen=True)
class Pen:
    event_type: int  # TOUCH_*
    tool: int  # TOOL_*
    buttons: int  # 1 primary, 2 secondary, 4 tertiary
    x: float
    y: float
    pressure_or_distance: float
    rotation: int
    tilt: int  # degrees from vertical, TILT_UNKNOWN when unknown
    contact_major: float
    contact_minor: float


InputEvent = (
    KeyEvent
    | MouseMove
    | MousePosition
    | MouseButton
    | Scroll
    | Text
    | HapticsEnable
    | ControllerState
    | ControllerArrival
    | ControllerRemoved
    | ControllerTouch
    | ControllerMotion
    | ControllerBattery
    | Touch
    | Pen
)


@dataclass(frozen=True)
class Rejected:
    reason: str
    message: str


_FIXED_SIZES = {
    KEY_DOWN: _KEY.size,
    KEY_UP: _KEY.size,
    MOUSE_POSITION: _MOUSE_POSITION.size,
    MOUSE_MOVE: _MOUSE_MOVE.size,
    MOUSE_BUTTON_DOWN: _BUTTON.size,
    MOUSE_BUTTON_UP: _BUTTON.size,
    SCROLL: _SCROLL.size,
    CONTROLLER: _CONTROLLER.size,
    HAPTICS_ENABLE: _HAPTICS.size,
    HSCROLL: _HSCROLL.size,
    TOUCH: _TOUCH.size,
    PEN: _PEN.size,
    CONTROLLER_ARRIVAL: _ARRIVAL.size,
    CONTROLLER_TOUCH: _CONTROLLER_TOUCH.size,
    CONTROLLER_MOTION: _MOTION.size,
    CONTROLLER_BATTERY: _BATTERY.size,
}


def parse_input(packet: bytes) -> InputEvent:
    """The event one input packet carries; InputError if it is malformed or out of range."""
    if len(packet) < HEADER_BYTES:
        raise InputError("short", f"{len(packet)} bytes is shorter than the 8-byte header")
    if len(packet) > MAX_INPUT_PACKET:
        raise InputError("oversized", f"{len(packet)} bytes is over {MAX_INPUT_PACKET}")
    (size,) = HEADER.unpack_from(packet)
    if size != len(packet) - 4:
        raise InputError("size", f"size field {size} for a {len(packet)}-byte packet")
    (magic,) = struct.unpack_from("<I", packet, 4)
    body = packet[HEADER_BYTES:]
    if magic == UTF8_TEXT:
        return _text(body)
    expected = _FIXED_SIZES.get(magic)
    if expected is None:
        raise InputError("unknown", f"unknown input type {magic:#010x}")
    if len(body) != expected:
        raise InputError("length", f"type {magic:#x} takes {expected} bytes, got {len(body)}")
    if magic in (KEY_DOWN, KEY_UP):
        return _key(body, magic == KEY_DOWN)
    if magic == MOUSE_MOVE:
        return MouseMove(*_MOUSE_MOVE.unpack(body))
    if magic == MOUSE_POSITION:
        x, y, _, width, height = _MOUSE_POSITION.unpack(body)
        if width <= 0 or height <= 0:
            raise InputError("reference_size", f"reference size {width}x{height}")
        return MousePosition(x, y, width, height)
    if magic in (MOUSE_BUTTON_DOWN, MOUSE_BUTTON_UP):
        (button,) = _BUTTON.unpack(body)
        if not BUTTON_LEFT <= button <= BUTTON_X2:
            raise InputError("button", f"mouse button {button}")
        return MouseButton(button, magic == MOUSE_BUTTON_DOWN)
    if magic == SCROLL:
        return Scroll(_SCROLL.unpack(body)[0])
    if magic == HSCROLL:
        return Scroll(_HSCROLL.unpack(body)[0], horizontal=True)
    if magic == HAPTICS_ENABLE:
        return HapticsEnable(_HAPTICS.unpack(body)[0] != 0)
    if magic == CONTROLLER:
        return _controller(body)
    if magic == CONTROLLER_ARRIVAL:
        return _arrival(body)
    if magic == TOUCH:
        return _touch(body)
    if magic == PEN:
        return _pen(body)
    if magic == CONTROLLER_TOUCH:
        number, event, _, pointer, x, y, pressure = _CONTROLLER_TOUCH.unpack(body)
        _check_controller(number)
        _check_touch_event(event)
        _check_finite(x, y, pressure)
        return ControllerTouch(number, event, pointer, x, y, pressure)
    if magic == CONTROLLER_MOTION:
        number, motion, _, x, y, z = _MOTION.unpack(body)
        _check_controller(number)
        if motion not in (MOTION_ACCEL, MOTION_GYRO):
            raise InputError("motion_type", f"motion type {motion}")
        _check_finite(x, y, z)
        return ControllerMotion(number, motion, x, y, z)
    number, state, percent, _ = _BATTERY.unpack(body)  # CONTROLLER_BATTERY, the last one
    _check_controller(number)
    if state > 5 or (percent > 100 and percent != 0xFF):
        raise InputError("battery", f"battery state {state}, {percent} %")
    return ControllerBattery(number, state, percent)


def _key(body: bytes, down: bool) -> KeyEvent:
    flags, key_code, modifiers, _ = _KEY.unpack(body)
    vk, high = key_code & 0xFF, key_code >> 8
    if not 1 <= vk <= 0xFE or high not in (0x00, 0x80):
        raise InputError("key_code", f"key code {key_code:#06x}")
    if modifiers & ~0x0F:
        raise InputError("key_modifiers", f"modifier bits {modifiers:#04x}")
    if flags & ~KEY_FLAG_NON_NORMALIZED:
        raise InputError("key_flags", f"key flags {flags:#04x}")
    return KeyEvent(down, key_code, modifiers, flags)


def _text(body: bytes) -> Text:
    if not 1 <= len(body) <= MAX_TEXT_BYTES:
        raise InputError("length", f"text of {len(body)} bytes (1..{MAX_TEXT_BYTES})")
    try:
        return Text(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("utf8", "text is not UTF-8") from None


def _controller(body: bytes) -> ControllerState | ControllerRemoved:
    (_, number, mask, _, low, lt, rt, lx, ly, rx, ry, _, high, _) = _CONTROLLER.unpack(body)
    _check_controller(number)
    buttons = low | high << 16
    if buttons & ~KNOWN_BUTTONS:
        raise InputError("buttons", f"undefined controller buttons {buttons:#x}")
    if not mask >> number & 1:
        return ControllerRemoved(number, mask)
    return ControllerState(number, mask, buttons, lt, rt, lx, ly, rx, ry)


def _arrival(body: bytes) -> ControllerArrival:
    number, kind, capabilities, supported = _ARRIVAL.unpack(body)
    _check_controller(number)
    if kind not in CONTROLLER_TYPES:
        raise InputError("controller_type", f"controller type {kind}")
    return ControllerArrival(number, CONTROLLER_TYPES[kind], capabilities, supported)


def _touch(body: bytes) -> Touch:
    event, _, rotation, pointer, x, y, pressure, major, minor = _TOUCH.unpack(body)
    _check_touch_event(event)
    _check_finite(x, y, pressure, major, minor)
    return Touch(event, pointer, x, y, pressure, major, minor, rotation)


def _pen(body: bytes) -> Pen:
    event, tool, buttons, _, x, y, pressure, rotation, tilt, _, major, minor = _PEN.unpack(body)
    _check_touch_event(event)
    if tool > TOOL_ERASER:
        raise InputError("tool_type", f"pen tool {tool}")
    if buttons & ~0x07:
        raise InputError("buttons", f"pen buttons {buttons:#x}")
    _check_finite(x, y, pressure, major, minor)
    return Pen(event, tool, buttons, x, y, pressure, rotation, tilt, major, minor)


def _check_controller(number: int) -> None:
    if number >= MAX_CONTROLLERS:
        raise InputError("controller_number", f"controller {number} (0..{MAX_CONTROLLERS - 1})")


def _check_touch_event(event: int) -> None:
    if event > TOUCH_CANCEL_ALL:
        raise InputError("event_type", f"touch event {event}")


def _check_finite(*values: float) -> None:
    if not all(math.isfinite(v) for v in values):
        raise InputError("float", "a coordinate is not a finite number")


class InputDecoder:
    """`decode` turns a packet into an event or a `Rejected`, never an exception; it counts
    accepted packets and rejections by reason."""

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected: Counter[str] = Counter()

    def decode(self, packet: bytes) -> InputEvent | Rejected:
        try:
            event = parse_input(packet)
        except InputError as error:
            self.rejected[error.reason] += 1
            return Rejected(error.reason, str(error))
        self.accepted += 1
        return event
