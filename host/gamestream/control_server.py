"""The control stream's ENet edge: one UDP ENet host, one `ControlChannel` per launch.

A launch registers with `ControlServer.expect(connect_data, key, ...)`; the client's ENet
connection is matched to it by the connect data it sends (RTSP's `X-SS-Connect-Data`) and
must come from the launching client's IP, or it is disconnected and counted. Packets of a
matched connection go through the launch's `ControlDecoder` (and input messages through an
`InputDecoder`); what comes out is handed to the launch's `ControlListener`. The protocol
itself lives in `control.py` and `input.py`; this module owns sockets and time only.

pyenet's `Host.service(timeout)` keeps the GIL while it waits, so it is never called with a
timeout here: the event loop watches the ENet socket (`add_reader` on its descriptor; ENet
makes the socket non-blocking) and calls `service(0)` when it is readable, and a timer does
the same so that ENet's own retransmissions, pings and timeouts run without traffic: every
10 ms while any connection exists or is being set up, every 250 ms otherwise.

A client that goes silent is noticed by a watchdog (`timeout_s`, default 10 s, as long as
Moonlight waits): every acknowledgement or packet from the peer counts as a sign of life,
and ENet pings an idle peer every 500 ms, so a live client is never silent for long. Stock
ENet may notice first (it gives up after 5 to 30 s without acknowledgements).

Datagrams that belong to no live ENet connection (garbage, or late ones of a connection that
has ended) are counted as `stray_datagrams` on their way into ENet, which ignores them.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

import enet  # type: ignore[import-not-found, unused-ignore]  # no type information

from host.gamestream.control import (
    TERMINATION_GRACEFUL,
    ControlDecoder,
    ControlEncoder,
    ControlEvent,
    InputMessage,
)
from host.gamestream.input import InputDecoder, InputEvent, Rejected

log = logging.getLogger(__name__)

DEFAULT_PORT = 47999
# Moonlight connects with 0x30 channels; a peer asking for more gets this many.
CHANNELS = 0x30
# One stream at a time, plus room for a reconnect and a stranger or two.
DEFAULT_MAX_PEERS = 4
DEFAULT_TIMEOUT_S = 10.0
# ENet pings an idle peer every 500 ms: a shorter watchdog would end live connections.
MIN_TIMEOUT_S = 1.0
DEFAULT_CLOSE_TIMEOUT_S = 1.0
TICK_S = 0.01
# With no connection (not even one being set up) ENet has no timers to run: tick slowly.
IDLE_TICK_S = 0.25
# Events handled per wake-up, so that a flood cannot hold the event loop; the rest wait
# for the next wake-up (the socket stays readable).
MAX_EVENTS_PER_PUMP = 256
# ENet times a peer out only after 5 s without an acknowledgement; a disconnect that comes
# after less silence than this was the client's own.
_ENET_TIMEOUT_MIN_SILENCE_S = 4.0
HOST_SEND_CHANNEL = 0

# ENet's datagram header (big endian): peer id with flags in the top bits, then an
# optional sent time, then commands whose first byte holds the command number.
_ENET_PEER_ID = struct.Struct(">H")
_ENET_SENT_TIME_FLAG = 0x8000
_ENET_COMPRESSED_FLAG = 0x4000
_ENET_PEER_ID_MASK = 0x0FFF
_ENET_UNASSIGNED_PEER = 0x0FFF  # a connection request, before the host assigned a peer
_ENET_COMMAND_HEADER_BYTES = 4
_ENET_COMMAND_CONNECT = 2
_ENET_LAST_COMMAND = 12

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DisconnectReason(enum.StrEnum):
    CLIENT = "client disconnected"
    TIMEOUT = "timeout"
    TERMINATED = "terminated"  # after `send_termination`
    HOST_CLOSED = "host closed"  # `ControlServer.close()`


class ControlListener(Protocol):
    """What a launch hears from its control channel. Called on the event loop; an exception
    raised here is logged and does not disturb the channel."""

    def connected(self) -> None:
        """The client's ENet connection is matched to this launch."""

    def event(self, event: ControlEvent) -> None:
        """One decoded control message (input messages too, before `input`)."""

    def input(self, event: InputEvent) -> None:
        """One input event, decoded from an input message."""

    def input_rejected(self, reason: str) -> None:
        """An input message whose packet `InputDecoder` rejected."""

    def dropped(self, reason: str) -> None:
        """A control packet `ControlDecoder` dropped (auth, replay, short, ...)."""

    def disconnected(self, reason: str) -> None:
        """The connection ended (a `DisconnectReason`); called once, only after `connected`,
        never after `ControlChannel.close()`."""


@dataclass(frozen=True)
class ControlStats:
    """Totals over the server's lifetime, all channels together."""

    stray_datagrams: int  # belonged to no live ENet connection
    unmatched_peers: int  # wrong connect data or wrong IP: disconnected
    messages_accepted: int
    messages_dropped: dict[str, int]  # by ControlDecoder reason
    inputs_accepted: int
    inputs_rejected: dict[str, int]  # by InputDecoder reason
    service_errors: int  # ENet's service failed (a socket error)


def addressed_peer(datagram: bytes) -> int | None:
    """The peer slot an ENet datagram is for (`_ENET_UNASSIGNED_PEER` for a connection
    request); None if ENet would ignore it whatever the host's state."""
    if len(datagram) < _ENET_PEER_ID.size:
        return None
    field: int = _ENET_PEER_ID.unpack_from(datagram)[0]
    if field & _ENET_COMPRESSED_FLAG:
        return None  # this host has no compressor
    header = 4 if field & _ENET_SENT_TIME_FLAG else 2
    if len(datagram) < header + _ENET_COMMAND_HEADER_BYTES:
        return None
    command = datagram[header] & 0x0F
    peer_id = field & _ENET_PEER_ID_MASK
    if peer_id == _ENET_UNASSIGNED_PEER:
        return peer_id if command == _ENET_COMMAND_CONNECT else None
    if not 1 <= command <= _ENET_LAST_COMMAND:
        return None
    return peer_id


def _parse_ip(text: str) -> IPAddress:
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class _Peer:
    """A typed view of one pyenet peer slot. Valid while its host lives."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    @property
    def slot(self) -> int:
        return int(self._raw.incomingPeerID)

    @property
    def state(self) -> int:
        return int(self._raw.state)

    @property
    def ip(self) -> str:
        return str(self._raw.address.host)

    @property
    def port(self) -> int:
        return int(self._raw.address.port)

    @property
    def round_trip_ms(self) -> int:
        return int(self._raw.roundTripTime)

    @property
    def last_receive_time(self) -> int:
        """ENet's clock (ms) when the peer last acknowledged something."""
        return int(self._raw.lastReceiveTime)

    def send(self, channel: int, data: bytes) -> bool:
        result = self._raw.send(channel, enet.Packet(data, enet.PACKET_FLAG_RELIABLE))
        return result is not None and int(result) == 0

    def disconnect_later(self) -> None:
        self._raw.disconnect_later(0)

    def disconnect_now(self) -> None:
        self._raw.disconnect_now(0)


class _ChannelState(enum.Enum):
    PENDING = "pending"
    CONNECTED = "connected"
    TERMINATING = "terminating"
    ENDED = "ended"
    CLOSED = "closed"


class ControlChannel:
    """One launch's control connection, from `expect` until it ends or is closed."""

    def __init__(
        self,
        server: ControlServer,
        connect_data: int,
        key: bytes,
        *,
        v2_iv: bool,
        client_ip: IPAddress,
        listener: ControlListener,
    ) -> None:
        self.connect_data = connect_data
        self.client_ip = client_ip
        self.encoder = ControlEncoder(key, v2_iv=v2_iv)
        self._decoder = ControlDecoder(key, v2_iv=v2_iv)
        self._input = InputDecoder()
        self._seen_drops: Counter[str] = Counter()
        self._server = server
        self._listener = listener
        self._state = _ChannelState.PENDING
        self._peer: _Peer | None = None
        self._last_heard = 0.0
        self._last_receive_time = 0

    @property
    def connected(self) -> bool:
        return self._state in (_ChannelState.CONNECTED, _ChannelState.TERMINATING)

    @property
    def dropped(self) -> Counter[str]:
        """Control packets this channel's decoder dropped, by reason."""
        return self._decoder.dropped.copy()

    @property
    def accepted(self) -> int:
        return self._decoder.accepted

    def rtt_us(self) -> int | None:
        """ENet's smoothed round-trip time to the client (whole milliseconds, in µs);
        None unless connected."""
        if not self.connected or self._peer is None:
            return None
        return self._peer.round_trip_ms * 1000

    def send(self, sealed: bytes) -> bool:
        """Sends a sealed host message (from `encoder`) reliably; False unless connected."""
        if self._state is not _ChannelState.CONNECTED or self._peer is None:
            return False
        sent = self._peer.send(HOST_SEND_CHANNEL, sealed)
        self._server._flush()
        return sent

    def send_termination(self, reason: int = TERMINATION_GRACEFUL) -> bool:
        """Tells the client the stream is over, then disconnects once the message is
        acknowledged; `disconnected(TERMINATED)` follows. False unless connected."""
        if not self.send(self.encoder.termination(reason)):
            return False
        assert self._peer is not None
        self._peer.disconnect_later()
        self._state = _ChannelState.TERMINATING
        self._server._flush()
        return True

    def close(self) -> None:
        """Stops expecting or disconnects the client (politely); no callbacks follow."""
        if self._state is _ChannelState.CLOSED:
            return
        if self._state is _ChannelState.CONNECTED and self._peer is not None:
            # After what is queued (a termination, say) is delivered: ENet's plain
            # disconnect would discard it.
            self._peer.disconnect_later()
            self._server._flush()
        self._server._forget(self)
        self._peer = None
        self._state = _ChannelState.CLOSED

    # -- driven by the server ----------------------------------------------------------

    def _attach(self, peer: _Peer, now: float) -> None:
        self._peer = peer
        self._state = _ChannelState.CONNECTED
        self._last_heard = now
        self._last_receive_time = peer.last_receive_time
        self._notify("connected")

    def _silent_for(self, now: float) -> float:
        """Seconds since the peer last acknowledged or sent anything."""
        if self._peer is not None:
            receive_time = self._peer.last_receive_time
            if receive_time != self._last_receive_time:
                self._last_receive_time = receive_time
                self._last_heard = now
        return now - self._last_heard

    def _receive(self, packet: bytes, now: float) -> None:
        self._last_heard = now
        event = self._decoder.feed(packet)
        if event is None:
            reason = self._new_drop_reason()
            self._server._dropped[reason] += 1
            self._notify("dropped", reason)
            return
        self._server._accepted += 1
        self._notify("event", event)
        if isinstance(event, InputMessage):
            decoded = self._input.decode(event.payload)
            if isinstance(decoded, Rejected):
                self._server._inputs_rejected[decoded.reason] += 1
                self._notify("input_rejected", decoded.reason)
            else:
                self._server._inputs_accepted += 1
                self._notify("input", decoded)

    def _new_drop_reason(self) -> str:
        # The decoder counts one reason per dropped packet: the one that moved.
        for reason, count in self._decoder.dropped.items():
            if count != self._seen_drops[reason]:
                self._seen_drops[reason] = count
                return reason
        return "unknown"

    def _end(self, reason: DisconnectReason) -> None:
        if not self.connected:
            return
        self._state = _ChannelState.ENDED
        self._peer = None
        self._notify("disconnected", str(reason))

    def _notify(self, name: str, *args: object) -> None:
        try:
            getattr(self._listener, name)(*args)
        except Exception:
            log.exception("control listener %s failed", name)


class ControlServer:
    """The UDP ENet host of the control stream, driven by the running event loop."""

    def __init__(
        self,
        bind_host: str = "0.0.0.0",  # noqa: S104
        port: int = DEFAULT_PORT,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_peers: int = DEFAULT_MAX_PEERS,
        close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S,
    ) -> None:
        try:
            bind_ip = ipaddress.ip_address(bind_host)
        except ValueError:
            raise ValueError(f"bind address {bind_host!r} is not an IP address") from None
        if not isinstance(bind_ip, ipaddress.IPv4Address):
            raise ValueError(f"the ENet control port listens on IPv4 only, not {bind_host}")
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} is out of range")
        if timeout_s < MIN_TIMEOUT_S:
            raise ValueError(f"timeout_s must be at least {MIN_TIMEOUT_S} s")
        if not 1 <= max_peers <= _ENET_PEER_ID_MASK:
            raise ValueError("max_peers must be between 1 and 4095")
        self.bind_host = bind_host
        self.timeout_s = timeout_s
        self.max_peers = max_peers
        self.close_timeout_s = close_timeout_s
        self._requested_port = port
        self._host: Any = None
        self._slots: list[_Peer] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._timer: asyncio.TimerHandle | None = None
        self._idle = True
        self._closing = False
        self._closed = False
        self._quiet: asyncio.Event | None = None
        self._pending: dict[int, ControlChannel] = {}
        self._by_slot: dict[int, ControlChannel] = {}
        self._stray = 0
        self._unmatched = 0
        self._service_errors = 0
        self._accepted = 0
        self._dropped: Counter[str] = Counter()
        self._inputs_accepted = 0
        self._inputs_rejected: Counter[str] = Counter()

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._host is None:
            raise RuntimeError("the control server is not listening")
        return int(self._host.address.port)

    def stats(self) -> ControlStats:
        return ControlStats(
            stray_datagrams=self._stray,
            unmatched_peers=self._unmatched,
            messages_accepted=self._accepted,
            messages_dropped=dict(self._dropped),
            inputs_accepted=self._inputs_accepted,
            inputs_rejected=dict(self._inputs_rejected),
            service_errors=self._service_errors,
        )

    @property
    def connected_channels(self) -> int:
        return len(self._by_slot)

    async def start(self) -> None:
        if self._host is not None or self._closed:
            raise RuntimeError("the control server can be started once")
        address = enet.Address(self.bind_host.encode(), self._requested_port)
        try:
            host = enet.Host(address, self.max_peers, CHANNELS, 0, 0)
        except MemoryError:  # what pyenet raises when ENet cannot create or bind the socket
            raise OSError(
                f"cannot listen for ENet on {self.bind_host}:{self._requested_port} "
                "(is the port in use?)"
            ) from None
        self._host = host
        # The slots are an array allocated with the host; these views stay valid with it.
        self._slots = [_Peer(raw) for raw in host.peers]
        host.intercept = self._intercept
        self._loop = asyncio.get_running_loop()
        self._quiet = asyncio.Event()
        self._fd = int(host.socket.fileno())
        self._loop.add_reader(self._fd, self._pump)
        self._schedule_tick()
        log.info("control (ENet) listening on %s:%d", self.bind_host, self.port)

    def expect(
        self,
        connect_data: int,
        key: bytes,
        *,
        v2_iv: bool,
        client_ip: str,
        listener: ControlListener,
    ) -> ControlChannel:
        """Waits for the client of a launch: its ENet connect data and its IP."""
        if self._closing or self._closed:
            raise RuntimeError("the control server is closed")
        if not 0 <= connect_data <= 0xFFFFFFFF:
            raise ValueError("connect_data must fit in 32 bits")
        if connect_data in self._pending or any(
            channel.connect_data == connect_data for channel in self._by_slot.values()
        ):
            raise ValueError(f"connect data {connect_data:#x} is already expected")
        channel = ControlChannel(
            self,
            connect_data,
            key,
            v2_iv=v2_iv,
            client_ip=_parse_ip(client_ip),
            listener=listener,
        )
        self._pending[connect_data] = channel
        return channel

    async def close(self) -> None:
        """Disconnects every client politely (waiting up to `close_timeout_s` for them to
        acknowledge), then closes the socket. Connected channels hear HOST_CLOSED."""
        if self._closed:
            return
        self._closing = True
        host = self._host
        if host is not None:
            for channel in self._by_slot.values():
                if channel._state is _ChannelState.CONNECTED and channel._peer is not None:
                    channel._peer.disconnect_later()
            for peer in self._slots:
                if peer.state < enet.PEER_STATE_CONNECTED and self._live(peer):
                    peer.disconnect_now()  # strangers in the middle of a handshake
            self._flush()
            # Closed channels may still be delivering a termination: wait for them too.
            if self._quiet is not None and self._any_live():
                try:
                    await asyncio.wait_for(self._quiet.wait(), self.close_timeout_s)
                except TimeoutError:
                    log.info("control: some clients did not acknowledge the disconnect")
            for peer in self._slots:
                if self._live(peer):
                    peer.disconnect_now()
        for channel in list(self._by_slot.values()):
            channel._end(DisconnectReason.HOST_CLOSED)
        self._by_slot.clear()
        for channel in self._pending.values():
            channel._state = _ChannelState.CLOSED
        self._pending.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is not None and self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._fd = -1
        if host is not None:
            host.flush()
            host.intercept = None  # the callback refers back to this server
            self._slots = []
            # pyenet has no close: the last reference going destroys the host and its socket.
            self._host = None
            del host
        self._closed = True

    async def __aenter__(self) -> ControlServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- driving ENet ------------------------------------------------------------------

    def _tick(self) -> None:
        self._timer = None
        if self._host is None:
            return
        self._pump()
        self._watch_silence()
        if self._closing and self._quiet is not None and not self._any_live():
            self._quiet.set()
        self._schedule_tick()

    def _schedule_tick(self) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._idle = not self._any_live()
        self._timer = self._loop.call_later(IDLE_TICK_S if self._idle else TICK_S, self._tick)

    def _pump(self) -> None:
        host = self._host
        if host is None:
            return
        for _ in range(MAX_EVENTS_PER_PUMP):
            try:
                event = host.service(0)
            except OSError as error:
                self._service_errors += 1
                log.warning("control: ENet service failed: %s", error)
                break
            if event.type == enet.EVENT_TYPE_NONE:
                break
            self._dispatch(event)
            if self._host is None:
                return
        if self._idle and self._any_live():
            self._schedule_tick()  # a connection is being set up: ENet's timers matter now

    def _dispatch(self, event: Any) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        kind = event.type
        if kind == enet.EVENT_TYPE_RECEIVE:
            # Reading the packet also frees it: pyenet releases a received packet only
            # through its wrapper.
            data = bytes(event.packet.data)
            channel = self._by_slot.get(int(event.peer.incomingPeerID))
            if channel is not None:
                channel._receive(data, now)
        elif kind == enet.EVENT_TYPE_CONNECT:
            self._connected(self._slots[int(event.peer.incomingPeerID)], int(event.data), now)
        elif kind == enet.EVENT_TYPE_DISCONNECT:
            channel = self._by_slot.pop(int(event.peer.incomingPeerID), None)
            if channel is not None:
                channel._end(self._disconnect_reason(channel, now))

    def _connected(self, peer: _Peer, connect_data: int, now: float) -> None:
        channel = self._pending.get(connect_data)
        if channel is None or channel.client_ip != _parse_ip(peer.ip) or self._closing:
            self._unmatched += 1
            log.info("control: unexpected ENet connection from %s dropped", peer.ip)
            peer.disconnect_now()
            return
        del self._pending[connect_data]
        self._by_slot[peer.slot] = channel
        channel._attach(peer, now)

    def _disconnect_reason(self, channel: ControlChannel, now: float) -> DisconnectReason:
        if self._closing:
            return DisconnectReason.HOST_CLOSED
        if channel._state is _ChannelState.TERMINATING:
            return DisconnectReason.TERMINATED
        # ENet has already reset the peer, so its receive time is gone: use the last one seen.
        if now - channel._last_heard >= _ENET_TIMEOUT_MIN_SILENCE_S:
            return DisconnectReason.TIMEOUT
        return DisconnectReason.CLIENT

    def _watch_silence(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for slot, channel in list(self._by_slot.items()):
            if channel._silent_for(now) >= self.timeout_s:
                log.info("control: client silent for %.1f s, disconnecting", self.timeout_s)
                del self._by_slot[slot]
                if channel._peer is not None:
                    channel._peer.disconnect_now()
                channel._end(DisconnectReason.TIMEOUT)

    def _intercept(self, address: Any, datagram: bytes) -> None:
        """Sees every datagram before ENet does; counts strays, lets everything through."""
        try:
            if not self._for_live_peer(str(address.host), int(address.port), datagram):
                self._stray += 1
        except Exception:  # an exception here would make ENet's service fail
            log.exception("control: datagram classification failed")
        # Returning nothing (falsy) tells ENet to process the datagram as usual.

    def _for_live_peer(self, ip: str, port: int, datagram: bytes) -> bool:
        peer_id = addressed_peer(datagram)
        if peer_id is None:
            return False
        if peer_id == _ENET_UNASSIGNED_PEER:
            return True
        if peer_id >= len(self._slots):
            return False
        peer = self._slots[peer_id]
        return self._live(peer) and peer.ip == ip and peer.port == port

    def _any_live(self) -> bool:
        return any(self._live(peer) for peer in self._slots)

    @staticmethod
    def _live(peer: _Peer) -> bool:
        return peer.state not in (enet.PEER_STATE_DISCONNECTED, enet.PEER_STATE_ZOMBIE)

    # -- for channels ------------------------------------------------------------------

    def _flush(self) -> None:
        if self._host is not None:
            self._host.flush()

    def _forget(self, channel: ControlChannel) -> None:
        if self._pending.get(channel.connect_data) is channel:
            del self._pending[channel.connect_data]
        for slot, mapped in list(self._by_slot.items()):
            if mapped is channel:
                del self._by_slot[slot]
