"""Input injection for GameStream sessions: decoded Moonlight input events (`input.py`)
become Linux input events on uinput virtual devices.

Devices (created when the injector starts, pads when they first appear):

    keyboard   EV_KEY for every key of `VK_TO_KEY` (Windows virtual keys -> KEY_*)
    mouse      EV_REL X/Y, WHEEL/HWHEEL and their *_HI_RES twins; BTN_LEFT/MIDDLE/RIGHT/
               SIDE/EXTRA (Moonlight's X1/X2); mouse buttons always go here
    pointer    EV_ABS X/Y over 0..pointer_max; MousePosition is scaled from the client's
               reference size (Moonlight sends width-1 and height-1, so its far edge lands
               on pointer_max)
    pad N      one Xbox 360 style pad per controller number: BTN_SOUTH/EAST/NORTH/WEST
               (A/B/X/Y in xpad's order), TL/TR, SELECT/START/MODE, THUMBL/THUMBR, the
               four paddles as BTN_TRIGGER_HAPPY5..8 and the misc button as KEY_RECORD
               (as xpad reports them; the touchpad click has no key); sticks
               ABS_X/Y/RX/RY (Y flipped: Moonlight's up is positive, evdev's negative),
               triggers ABS_Z/RZ 0..255, the d-pad as ABS_HAT0X/Y. Created on arrival or
               on its first state; removed, held buttons released first, when its bit
               leaves the active mask

Keys: only the virtual key (the low byte of the key code) is used. The modifier byte is
not replayed: the client sends its modifier keys as key events of their own.

Scroll: Moonlight and the kernel's *_HI_RES axes both count 120 per notch, so the amount is
passed through; whole notches are also sent on REL_WHEEL/REL_HWHEEL for readers that know
only those (the rest is carried to the next event and reset when the direction turns).

Text: characters a US keyboard types directly (printable ASCII, newline, tab) are typed
as key presses, with shift where needed; this assumes the host's keymap is US. Any other
character cannot be typed this way: it is skipped, and the event is counted as dropped
`text_unmapped` (its typeable characters are still typed).

Threading: `InputInjector.submit` never blocks on a device: it appends to a bounded queue
(DEFAULT_QUEUE_CAPACITY) that one worker thread drains; a full queue drops and counts the
event. `close()` drops what is still queued, and the worker releases held keys and buttons,
removes every device and ends; events submitted after it are dropped and counted.

`InputInjector.open()` checks `/dev/uinput` first: where it is missing, not the uinput
device or not writable, or the devices cannot be created, it logs one line and returns a
`CountingInjector` (same interface; events are counted as received, not injected).

Counters (`counters()`, a flat dict for the host's stats): `received` (every submit),
`accepted` (queued), `injected`, and `dropped_<reason>` for each of DROP_REASONS.
After `flush()` or `close()`: received == injected + the sum of the dropped counters.
Events that inject nothing here (touch, pen, controller touchpad/motion/battery, haptics)
are counted as `dropped_unsupported`.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import string
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from evdev import AbsInfo, InputDevice, UInput, UInputError, ecodes

from host.gamestream.input import (
    BUTTON_LEFT,
    BUTTON_MIDDLE,
    BUTTON_RIGHT,
    BUTTON_X1,
    BUTTON_X2,
    PAD_A,
    PAD_B,
    PAD_BACK,
    PAD_DOWN,
    PAD_HOME,
    PAD_LB,
    PAD_LEFT,
    PAD_LS_CLICK,
    PAD_MISC,
    PAD_PADDLE1,
    PAD_PADDLE2,
    PAD_PADDLE3,
    PAD_PADDLE4,
    PAD_RB,
    PAD_RIGHT,
    PAD_RS_CLICK,
    PAD_START,
    PAD_UP,
    PAD_X,
    PAD_Y,
    ControllerArrival,
    ControllerRemoved,
    ControllerState,
    InputEvent,
    KeyEvent,
    MouseButton,
    MouseMove,
    MousePosition,
    Scroll,
    Text,
)

log = logging.getLogger(__name__)

DEFAULT_UINPUT = "/dev/uinput"
# The kernel's fixed number for uinput (misc major 10, UINPUT_MINOR 223).
UINPUT_DEVICE = (10, 223)
DEFAULT_QUEUE_CAPACITY = 1024
DEFAULT_POINTER_MAX = 65535
DEFAULT_NAME = "punktfunk"
WHEEL_NOTCH = 120
CLOSE_TIMEOUT_S = 5.0

DROP_REASONS: Final = (
    "queue_full",  # the worker is behind by DEFAULT_QUEUE_CAPACITY events
    "after_close",  # the session has ended (submitted after close, or still queued at it)
    "no_uinput",  # counting-only injector
    "unmapped_key",  # a virtual key with no entry in VK_TO_KEY
    "text_unmapped",  # text with a character no US key types
    "unsupported",  # an event type that injects nothing here
    "device_error",  # a virtual device could not be created or written
)

# Xbox 360 pad ids, so that SDL and Steam apply their xpad mapping to the virtual pad.
PAD_VENDOR, PAD_PRODUCT, PAD_VERSION = 0x045E, 0x028E, 0x0114
STICK_MIN, STICK_MAX = -32768, 32767


def _vk_table() -> dict[int, int]:
    key = ecodes.ecodes  # KEY_* name -> code
    table = {
        0x08: ecodes.KEY_BACKSPACE,
        0x09: ecodes.KEY_TAB,
        0x0C: ecodes.KEY_CLEAR,
        0x0D: ecodes.KEY_ENTER,
        0x10: ecodes.KEY_LEFTSHIFT,  # VK_SHIFT, VK_CONTROL, VK_MENU: side not given
        0x11: ecodes.KEY_LEFTCTRL,
        0x12: ecodes.KEY_LEFTALT,
        0x13: ecodes.KEY_PAUSE,
        0x14: ecodes.KEY_CAPSLOCK,
        0x1B: ecodes.KEY_ESC,
        0x1C: ecodes.KEY_HENKAN,  # VK_CONVERT
        0x1D: ecodes.KEY_MUHENKAN,  # VK_NONCONVERT
        0x20: ecodes.KEY_SPACE,
        0x21: ecodes.KEY_PAGEUP,
        0x22: ecodes.KEY_PAGEDOWN,
        0x23: ecodes.KEY_END,
        0x24: ecodes.KEY_HOME,
        0x25: ecodes.KEY_LEFT,
        0x26: ecodes.KEY_UP,
        0x27: ecodes.KEY_RIGHT,
        0x28: ecodes.KEY_DOWN,
        0x29: ecodes.KEY_SELECT,
        0x2A: ecodes.KEY_PRINT,
        0x2C: ecodes.KEY_SYSRQ,  # VK_SNAPSHOT, the Print Screen key
        0x2D: ecodes.KEY_INSERT,
        0x2E: ecodes.KEY_DELETE,
        0x2F: ecodes.KEY_HELP,
        0x5B: ecodes.KEY_LEFTMETA,
        0x5C: ecodes.KEY_RIGHTMETA,
        0x5D: ecodes.KEY_COMPOSE,  # VK_APPS, the context-menu key
        0x5F: ecodes.KEY_SLEEP,
        0x6A: ecodes.KEY_KPASTERISK,
        0x6B: ecodes.KEY_KPPLUS,
        0x6D: ecodes.KEY_KPMINUS,
        0x6E: ecodes.KEY_KPDOT,
        0x6F: ecodes.KEY_KPSLASH,
        0x90: ecodes.KEY_NUMLOCK,
        0x91: ecodes.KEY_SCROLLLOCK,
        0xA0: ecodes.KEY_LEFTSHIFT,
        0xA1: ecodes.KEY_RIGHTSHIFT,
        0xA2: ecodes.KEY_LEFTCTRL,
        0xA3: ecodes.KEY_RIGHTCTRL,
        0xA4: ecodes.KEY_LEFTALT,
        0xA5: ecodes.KEY_RIGHTALT,
        0xA6: ecodes.KEY_BACK,
        0xA7: ecodes.KEY_FORWARD,
        0xA8: ecodes.KEY_REFRESH,
        0xA9: ecodes.KEY_STOP,
        0xAA: ecodes.KEY_SEARCH,
        0xAB: ecodes.KEY_BOOKMARKS,
        0xAC: ecodes.KEY_HOMEPAGE,
        0xAD: ecodes.KEY_MUTE,
        0xAE: ecodes.KEY_VOLUMEDOWN,
        0xAF: ecodes.KEY_VOLUMEUP,
        0xB0: ecodes.KEY_NEXTSONG,
        0xB1: ecodes.KEY_PREVIOUSSONG,
        0xB2: ecodes.KEY_STOPCD,
        0xB3: ecodes.KEY_PLAYPAUSE,
        0xB4: ecodes.KEY_MAIL,
        0xB5: ecodes.KEY_MEDIA,
        0xB7: ecodes.KEY_CALC,  # VK_LAUNCH_APP2
        # US-layout punctuation (VK_OEM_*); the host's keymap decides the character
        0xBA: ecodes.KEY_SEMICOLON,
        0xBB: ecodes.KEY_EQUAL,
        0xBC: ecodes.KEY_COMMA,
        0xBD: ecodes.KEY_MINUS,
        0xBE: ecodes.KEY_DOT,
        0xBF: ecodes.KEY_SLASH,
        0xC0: ecodes.KEY_GRAVE,
        0xDB: ecodes.KEY_LEFTBRACE,
        0xDC: ecodes.KEY_BACKSLASH,
        0xDD: ecodes.KEY_RIGHTBRACE,
        0xDE: ecodes.KEY_APOSTROPHE,
        0xE2: ecodes.KEY_102ND,  # VK_OEM_102, the extra key of ISO keyboards
    }
    table.update({0x30 + digit: key[f"KEY_{digit}"] for digit in range(10)})
    table.update({ord(letter): key[f"KEY_{letter}"] for letter in string.ascii_uppercase})
    table.update({0x60 + digit: key[f"KEY_KP{digit}"] for digit in range(10)})
    table.update({0x70 + n: key[f"KEY_F{n + 1}"] for n in range(24)})
    return table


# Windows virtual key (the low byte of Moonlight's key code) -> evdev KEY_* code.
VK_TO_KEY: Final[dict[int, int]] = _vk_table()


def _text_table() -> dict[str, tuple[int, bool]]:
    key = ecodes.ecodes
    plain = "`1234567890-=[]\\;',./"
    shifted = '~!@#$%^&*()_+{}|:"<>?'
    names = ["GRAVE", *"1234567890", "MINUS", "EQUAL", "LEFTBRACE", "RIGHTBRACE"]
    names += ["BACKSLASH", "SEMICOLON", "APOSTROPHE", "COMMA", "DOT", "SLASH"]
    table = {" ": (ecodes.KEY_SPACE, False), "\n": (ecodes.KEY_ENTER, False)}
    table["\t"] = (ecodes.KEY_TAB, False)
    for plain_char, shifted_char, name in zip(plain, shifted, names, strict=True):
        table[plain_char] = (key[f"KEY_{name}"], False)
        table[shifted_char] = (key[f"KEY_{name}"], True)
    for letter in string.ascii_uppercase:
        table[letter.lower()] = (key[f"KEY_{letter}"], False)
        table[letter] = (key[f"KEY_{letter}"], True)
    return table


# A character of a Text event -> (KEY_* code, needs shift), on a US keymap.
CHAR_TO_KEY: Final[dict[str, tuple[int, bool]]] = _text_table()

MOUSE_BUTTONS: Final = {
    BUTTON_LEFT: ecodes.BTN_LEFT,
    BUTTON_MIDDLE: ecodes.BTN_MIDDLE,
    BUTTON_RIGHT: ecodes.BTN_RIGHT,
    BUTTON_X1: ecodes.BTN_SIDE,
    BUTTON_X2: ecodes.BTN_EXTRA,
}

# Moonlight's PAD_* bit -> the key an xpad-driven Xbox pad reports for it.
PAD_BUTTONS: Final = {
    PAD_A: ecodes.BTN_SOUTH,
    PAD_B: ecodes.BTN_EAST,
    PAD_X: ecodes.BTN_NORTH,
    PAD_Y: ecodes.BTN_WEST,
    PAD_LB: ecodes.BTN_TL,
    PAD_RB: ecodes.BTN_TR,
    PAD_BACK: ecodes.BTN_SELECT,
    PAD_START: ecodes.BTN_START,
    PAD_HOME: ecodes.BTN_MODE,
    PAD_LS_CLICK: ecodes.BTN_THUMBL,
    PAD_RS_CLICK: ecodes.BTN_THUMBR,
    PAD_PADDLE1: ecodes.BTN_TRIGGER_HAPPY5,
    PAD_PADDLE2: ecodes.BTN_TRIGGER_HAPPY6,
    PAD_PADDLE3: ecodes.BTN_TRIGGER_HAPPY7,
    PAD_PADDLE4: ecodes.BTN_TRIGGER_HAPPY8,
    PAD_MISC: ecodes.KEY_RECORD,
}


@dataclass(frozen=True)
class AbsAxis:
    code: int
    minimum: int
    maximum: int
    fuzz: int = 0
    flat: int = 0


@dataclass(frozen=True)
class DeviceSpec:
    """What a virtual device can send; evdev-free so that fakes can read it."""

    name: str
    phys: str
    keys: tuple[int, ...] = ()
    relative: tuple[int, ...] = ()
    absolute: tuple[AbsAxis, ...] = ()
    bustype: int = ecodes.BUS_VIRTUAL
    vendor: int = 0
    product: int = 0
    version: int = 0


class VirtualDevice(Protocol):
    """The uinput boundary: one virtual device (evdev's UInput has this shape)."""

    def write(self, event_type: int, code: int, value: int, /) -> None: ...

    def syn(self) -> None: ...

    def close(self) -> None: ...


DeviceFactory = Callable[[DeviceSpec], VirtualDevice]


class _UInput(UInput):
    """evdev's UInput then opens the new device's /dev/input node for reading. The injector
    never reads it, and where only /dev/uinput is passed into a container the node does not
    exist: evdev would wait 2 s and raise, leaving the device created and its fd open."""

    def _find_device(self, fd: int) -> InputDevice[str] | None:  # type: ignore[override]
        return None


def uinput_device(spec: DeviceSpec, devnode: str = DEFAULT_UINPUT) -> VirtualDevice:
    """A real uinput device (OSError or evdev.UInputError when it cannot be created)."""
    events: dict[int, list[int] | list[tuple[int, AbsInfo]]] = {}
    if spec.keys:
        events[ecodes.EV_KEY] = sorted(spec.keys)
    if spec.relative:
        events[ecodes.EV_REL] = sorted(spec.relative)
    if spec.absolute:
        events[ecodes.EV_ABS] = [
            (axis.code, AbsInfo(0, axis.minimum, axis.maximum, axis.fuzz, axis.flat, 0))
            for axis in spec.absolute
        ]
    return _UInput(
        events,  # type: ignore[arg-type]  # evdev's hint omits (code, AbsInfo) entries
        name=spec.name,
        vendor=spec.vendor,
        product=spec.product,
        version=spec.version,
        bustype=spec.bustype,
        devnode=devnode,
        phys=spec.phys,
    )


def uinput_problem(devnode: str = DEFAULT_UINPUT) -> str | None:
    """Why uinput cannot be used at `devnode`, or None where it looks usable."""
    try:
        status = os.stat(devnode)
    except FileNotFoundError:
        return f"{devnode} does not exist (no uinput module, or not passed to this container)"
    except OSError as error:
        return f"{devnode} cannot be examined: {error.strerror}"
    device = (os.major(status.st_rdev), os.minor(status.st_rdev))
    if not stat.S_ISCHR(status.st_mode) or device != UINPUT_DEVICE:
        return f"{devnode} is not the uinput device (character device 10:223)"
    if not os.access(devnode, os.W_OK):
        return f"{devnode} is not writable by this user (add it to the uinput group)"
    return None


def scale(value: int, reference: int, maximum: int) -> int:
    """`value` on 0..reference (clamped), as the nearest point on 0..maximum."""
    reference = max(reference, 1)
    value = min(max(value, 0), reference)
    return (value * maximum + reference // 2) // reference


@dataclass
class _Pad:
    device: VirtualDevice
    buttons: int = 0
    axes: dict[int, int] = field(default_factory=dict)


def _flip(stick_y: int) -> int:
    return min(-stick_y, STICK_MAX)


def _hat(buttons: int, negative: int, positive: int) -> int:
    return (1 if buttons & positive else 0) - (1 if buttons & negative else 0)


class VirtualInput:
    """The virtual devices of one session and what they hold down. `apply(event)` turns one
    event into device writes and returns None, or the reason it was dropped. One thread
    only; device creation errors of __init__ propagate (nothing is left created)."""

    def __init__(
        self,
        factory: DeviceFactory,
        *,
        name: str = DEFAULT_NAME,
        pointer_max: int = DEFAULT_POINTER_MAX,
    ) -> None:
        if pointer_max < 1:
            raise ValueError("pointer_max must be positive")
        self._factory = factory
        self._name = name
        self.pointer_max = pointer_max
        self._held_keys: set[int] = set()
        self._held_buttons: set[int] = set()
        self._wheel_rest = {ecodes.REL_WHEEL: 0, ecodes.REL_HWHEEL: 0}
        self._pads: dict[int, _Pad] = {}
        self._pad_numbers: frozenset[int] = frozenset()  # swapped whole: read from any thread
        self._closed = False
        keyboard_keys = {*VK_TO_KEY.values()}
        created: list[VirtualDevice] = []
        try:
            self.keyboard = factory(
                DeviceSpec(f"{name} keyboard", f"{name}/keyboard", keys=tuple(keyboard_keys))
            )
            created.append(self.keyboard)
            self.mouse = factory(
                DeviceSpec(
                    f"{name} mouse",
                    f"{name}/mouse",
                    keys=tuple(MOUSE_BUTTONS.values()),
                    relative=(
                        ecodes.REL_X,
                        ecodes.REL_Y,
                        ecodes.REL_WHEEL,
                        ecodes.REL_HWHEEL,
                        ecodes.REL_WHEEL_HI_RES,
                        ecodes.REL_HWHEEL_HI_RES,
                    ),
                )
            )
            created.append(self.mouse)
            # Mouse buttons make udev call an absolute X/Y device a pointer (as a VM's
            # tablet is); the clicks themselves are sent on the relative mouse.
            self.pointer = factory(
                DeviceSpec(
                    f"{name} pointer",
                    f"{name}/pointer",
                    keys=(ecodes.BTN_LEFT, ecodes.BTN_RIGHT, ecodes.BTN_MIDDLE),
                    absolute=(
                        AbsAxis(ecodes.ABS_X, 0, pointer_max),
                        AbsAxis(ecodes.ABS_Y, 0, pointer_max),
                    ),
                )
            )
        except BaseException:
            for device in created:
                device.close()
            raise

    @property
    def pads(self) -> frozenset[int]:
        """Controller numbers that have a virtual pad now."""
        return self._pad_numbers

    def apply(self, event: InputEvent) -> str | None:
        if self._closed:
            return "after_close"
        match event:
            case KeyEvent():
                return self._key(event)
            case MouseMove():
                self._move(event)
            case MousePosition():
                self.pointer.write(
                    ecodes.EV_ABS,
                    ecodes.ABS_X,
                    scale(event.x, event.reference_width, self.pointer_max),
                )
                self.pointer.write(
                    ecodes.EV_ABS,
                    ecodes.ABS_Y,
                    scale(event.y, event.reference_height, self.pointer_max),
                )
                self.pointer.syn()
            case MouseButton():
                self._button(event)
            case Scroll():
                self._scroll(event)
            case Text():
                return self._text(event.text)
            case ControllerArrival():
                return None if self._pad(event.number) else "device_error"
            case ControllerState():
                self._remove_absent(event.active_mask)
                pad = self._pad(event.number)
                if pad is None:
                    return "device_error"
                self._pad_state(pad, event)
            case ControllerRemoved():
                self._remove_absent(event.active_mask)  # its own bit is clear
            case _:
                return "unsupported"
        return None

    def close(self) -> None:
        """Releases what is held and removes every device; best effort, never raises."""
        if self._closed:
            return
        self._closed = True
        for number in list(self._pads):
            self._remove_pad(number)
        self._release(self.keyboard, self._held_keys)
        self._release(self.mouse, self._held_buttons)
        for device in (self.keyboard, self.mouse, self.pointer):
            _close_quietly(device)

    def _key(self, event: KeyEvent) -> str | None:
        code = VK_TO_KEY.get(event.vk)
        if code is None:
            return "unmapped_key"
        if event.down:
            # A second down is the client's auto-repeat: evdev's repeat value.
            value = 2 if code in self._held_keys else 1
            self._held_keys.add(code)
        else:
            value = 0
            self._held_keys.discard(code)
        self.keyboard.write(ecodes.EV_KEY, code, value)
        self.keyboard.syn()
        return None

    def _move(self, event: MouseMove) -> None:
        if event.dx:
            self.mouse.write(ecodes.EV_REL, ecodes.REL_X, event.dx)
        if event.dy:
            self.mouse.write(ecodes.EV_REL, ecodes.REL_Y, event.dy)
        if event.dx or event.dy:
            self.mouse.syn()

    def _button(self, event: MouseButton) -> None:
        code = MOUSE_BUTTONS[event.button]
        if event.down:
            self._held_buttons.add(code)
        else:
            self._held_buttons.discard(code)
        self.mouse.write(ecodes.EV_KEY, code, 1 if event.down else 0)
        self.mouse.syn()

    def _scroll(self, event: Scroll) -> None:
        if not event.amount:
            return
        wheel, hi_res = (
            (ecodes.REL_HWHEEL, ecodes.REL_HWHEEL_HI_RES)
            if event.horizontal
            else (ecodes.REL_WHEEL, ecodes.REL_WHEEL_HI_RES)
        )
        rest = self._wheel_rest[wheel]
        if rest * event.amount < 0:  # the direction turned: a part-notch is not owed
            rest = 0
        rest += event.amount
        notches = int(rest / WHEEL_NOTCH)  # toward zero, both directions
        self._wheel_rest[wheel] = rest - notches * WHEEL_NOTCH
        self.mouse.write(ecodes.EV_REL, hi_res, event.amount)
        if notches:
            self.mouse.write(ecodes.EV_REL, wheel, notches)
        self.mouse.syn()

    def _text(self, text: str) -> str | None:
        unmapped = False
        shift = ecodes.KEY_LEFTSHIFT
        for char in text:
            mapped = CHAR_TO_KEY.get(char)
            if mapped is None:
                unmapped = True
                continue
            code, shifted = mapped
            if shifted:
                self.keyboard.write(ecodes.EV_KEY, shift, 1)
            self.keyboard.write(ecodes.EV_KEY, code, 1)
            self.keyboard.syn()
            self.keyboard.write(ecodes.EV_KEY, code, 0)
            if shifted:
                self.keyboard.write(ecodes.EV_KEY, shift, 0)
            self.keyboard.syn()
        return "text_unmapped" if unmapped else None

    def _pad(self, number: int) -> _Pad | None:
        pad = self._pads.get(number)
        if pad is not None:
            return pad
        stick = (STICK_MIN, STICK_MAX, 16, 128)
        spec = DeviceSpec(
            f"{self._name} pad {number}",
            f"{self._name}/pad{number}",
            keys=tuple(PAD_BUTTONS.values()),
            absolute=(
                AbsAxis(ecodes.ABS_X, *stick),
                AbsAxis(ecodes.ABS_Y, *stick),
                AbsAxis(ecodes.ABS_RX, *stick),
                AbsAxis(ecodes.ABS_RY, *stick),
                AbsAxis(ecodes.ABS_Z, 0, 255),
                AbsAxis(ecodes.ABS_RZ, 0, 255),
                AbsAxis(ecodes.ABS_HAT0X, -1, 1),
                AbsAxis(ecodes.ABS_HAT0Y, -1, 1),
            ),
            bustype=ecodes.BUS_USB,
            vendor=PAD_VENDOR,
            product=PAD_PRODUCT,
            version=PAD_VERSION,
        )
        try:
            device = self._factory(spec)
        except (OSError, UInputError) as error:
            log.warning("virtual pad %d could not be created: %s", number, error)
            return None
        pad = self._pads[number] = _Pad(device)
        self._pad_numbers = frozenset(self._pads)
        return pad

    def _pad_state(self, pad: _Pad, event: ControllerState) -> None:
        wrote = False
        changed = event.buttons ^ pad.buttons
        for bit, code in PAD_BUTTONS.items():
            if changed & bit:
                pad.device.write(ecodes.EV_KEY, code, 1 if event.buttons & bit else 0)
                wrote = True
        axes = {
            ecodes.ABS_X: event.left_x,
            ecodes.ABS_Y: _flip(event.left_y),
            ecodes.ABS_RX: event.right_x,
            ecodes.ABS_RY: _flip(event.right_y),
            ecodes.ABS_Z: event.left_trigger,
            ecodes.ABS_RZ: event.right_trigger,
            ecodes.ABS_HAT0X: _hat(event.buttons, PAD_LEFT, PAD_RIGHT),
            ecodes.ABS_HAT0Y: _hat(event.buttons, PAD_UP, PAD_DOWN),
        }
        for code, value in axes.items():
            if pad.axes.get(code, 0) != value:
                pad.device.write(ecodes.EV_ABS, code, value)
                wrote = True
        pad.buttons = event.buttons
        pad.axes = axes
        if wrote:  # Moonlight repeats unchanged states; an empty frame says nothing
            pad.device.syn()

    def _remove_absent(self, active_mask: int) -> None:
        for number in [n for n in self._pads if not active_mask >> n & 1]:
            self._remove_pad(number)

    def _remove_pad(self, number: int) -> None:
        pad = self._pads.pop(number)
        self._pad_numbers = frozenset(self._pads)
        held = [(ecodes.EV_KEY, code) for bit, code in PAD_BUTTONS.items() if pad.buttons & bit]
        held += [(ecodes.EV_ABS, code) for code, value in pad.axes.items() if value]
        try:
            for event_type, code in held:
                pad.device.write(event_type, code, 0)
            if held:
                pad.device.syn()
        except OSError as error:
            log.debug("releasing pad %d failed: %s", number, error)
        _close_quietly(pad.device)

    @staticmethod
    def _release(device: VirtualDevice, held: set[int]) -> None:
        try:
            for code in sorted(held):
                device.write(ecodes.EV_KEY, code, 0)
            if held:
                device.syn()
        except OSError as error:
            log.debug("releasing held keys failed: %s", error)
        held.clear()


def _close_quietly(device: VirtualDevice) -> None:
    try:
        device.close()
    except OSError as error:
        log.debug("removing a virtual device failed: %s", error)


class Injector(Protocol):
    """What the host holds for a session's input: InputInjector or CountingInjector."""

    @property
    def injecting(self) -> bool:
        """False for the counting-only injector."""

    def submit(self, event: InputEvent) -> bool:
        """Never blocks; True when the event was queued for injection."""

    def flush(self, timeout_s: float) -> bool:
        """Waits until every queued event is handled; False on timeout."""

    def close(self) -> None:
        """Ends injection: held keys released, devices removed; later events dropped."""

    def counters(self) -> dict[str, int]:
        """received, accepted, injected and dropped_<reason> for each of DROP_REASONS."""


def _counters(received: int, accepted: int, injected: int, dropped: Counter[str]) -> dict[str, int]:
    counts = {"received": received, "accepted": accepted, "injected": injected}
    counts.update({f"dropped_{reason}": dropped[reason] for reason in DROP_REASONS})
    return counts


class InputInjector:
    """Injects a session's input through virtual devices from one worker thread.

    `device_factory` is the uinput boundary (real uinput devices at DEFAULT_UINPUT by
    default). The keyboard, mouse and pointer are created here, on the caller's thread;
    their creation errors propagate. Use `open()` to fall back to counting instead.
    """

    def __init__(
        self,
        device_factory: DeviceFactory = uinput_device,
        *,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        pointer_max: int = DEFAULT_POINTER_MAX,
        name: str = DEFAULT_NAME,
    ) -> None:
        if queue_capacity < 1:
            raise ValueError("queue_capacity must be positive")
        self._devices = VirtualInput(device_factory, name=name, pointer_max=pointer_max)
        self._capacity = queue_capacity
        self._queue: deque[InputEvent] = deque()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the worker waits for events
        self._idle = threading.Condition(self._lock)  # flush() waits for an empty queue
        self._busy = False
        self._closed = False
        self._error_logged = False
        self._received = self._accepted = self._injected = 0
        self._dropped: Counter[str] = Counter()
        self._worker = threading.Thread(target=self._run, name="input-inject", daemon=True)
        self._worker.start()

    @classmethod
    def open(
        cls,
        *,
        devnode: str = DEFAULT_UINPUT,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        pointer_max: int = DEFAULT_POINTER_MAX,
        name: str = DEFAULT_NAME,
    ) -> Injector:
        """An injector on uinput at `devnode`, or, where uinput cannot be used, a
        CountingInjector after one log line that says why."""
        problem = uinput_problem(devnode)
        if problem is None:
            try:
                return cls(
                    functools.partial(uinput_device, devnode=devnode),
                    queue_capacity=queue_capacity,
                    pointer_max=pointer_max,
                    name=name,
                )
            except (OSError, UInputError) as error:
                problem = f"virtual input devices could not be created: {error}"
        log.warning("input is counted, not injected: %s", problem)
        return CountingInjector()

    @property
    def injecting(self) -> bool:
        return True

    @property
    def pending(self) -> int:
        """Events queued and not yet taken by the worker (at most the queue capacity)."""
        with self._lock:
            return len(self._queue)

    @property
    def pads(self) -> frozenset[int]:
        """Controller numbers with a virtual pad (read from the worker's state)."""
        return self._devices.pads

    def submit(self, event: InputEvent) -> bool:
        with self._lock:
            self._received += 1
            if self._closed:
                self._dropped["after_close"] += 1
                return False
            if len(self._queue) >= self._capacity:
                self._dropped["queue_full"] += 1
                return False
            self._queue.append(event)
            self._accepted += 1
            self._work.notify()
            return True

    def flush(self, timeout_s: float) -> bool:
        with self._lock:
            return self._idle.wait_for(lambda: not self._queue and not self._busy, timeout_s)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._dropped["after_close"] += len(self._queue)
                self._queue.clear()
                self._work.notify_all()
                self._idle.notify_all()
        if threading.current_thread() is not self._worker:
            self._worker.join(timeout_s)
            if self._worker.is_alive():
                log.warning("input worker still busy %.1f s after close", timeout_s)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return _counters(self._received, self._accepted, self._injected, self._dropped)

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    self._work.wait_for(lambda: self._queue or self._closed)
                    if self._closed:
                        return
                    event = self._queue.popleft()
                    self._busy = True
                reason = self._apply(event)
                with self._lock:
                    self._busy = False
                    if reason is None:
                        self._injected += 1
                    else:
                        self._dropped[reason] += 1
                    if not self._queue:
                        self._idle.notify_all()
        finally:
            self._devices.close()

    def _apply(self, event: InputEvent) -> str | None:
        # The worker must outlive any one event: a device that fails is counted and logged
        # once, and the session keeps its input.
        try:
            return self._devices.apply(event)
        except Exception:
            if not self._error_logged:
                self._error_logged = True
                # The type only: a Text event may carry a password.
                log.exception(
                    "injecting a %s failed (further failures are only counted)",
                    type(event).__name__,
                )
            return "device_error"


class CountingInjector:
    """The injector where uinput cannot be used: counts every event as received and drops
    it as `no_uinput` (`after_close` once closed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._received = 0
        self._dropped: Counter[str] = Counter()

    @property
    def injecting(self) -> bool:
        return False

    def submit(self, event: InputEvent) -> bool:
        with self._lock:
            self._received += 1
            self._dropped["after_close" if self._closed else "no_uinput"] += 1
        return False

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def counters(self) -> dict[str, int]:
        with self._lock:
            return _counters(self._received, 0, 0, self._dropped)
