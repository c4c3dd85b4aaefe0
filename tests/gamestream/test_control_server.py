"""The control stream's ENet edge over loopback: Moonlight's side is a pyenet client that
seals its messages here from the protocol facts (client direction, IV ending in 'CC')."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import enet  # type: ignore[import-not-found, unused-ignore]
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from host.gamestream.control import (
    ControlEvent,
    FrameFecStatus,
    IdrRequest,
    InputMessage,
    LossStats,
    Ping,
    StartB,
)
from host.gamestream.control_server import (
    ControlChannel,
    ControlServer,
    DisconnectReason,
    addressed_peer,
)
from host.gamestream.input import InputEvent, KeyEvent, MouseMove

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
CONNECT_DATA = 0x5EED1234
CHANNELS = 0x30

LOSS_PAYLOAD = (
    struct.pack("<iII", 2, 50, 1000) + struct.pack("<Q", 4242) + struct.pack("<III", 0, 0, 0x14)
)
# frame 7, highest 0x1234, next 0x1230, missing 3, data 40, parity 8, got 38 + 5, 20 %, block 1 of 2
FEC_PAYLOAD = bytes.fromhex("000000071234123000030028000800260005140102")
PING_PAYLOAD = b"\x04\x00" + bytes(4)
# key down, VK 'A' as moonlight-qt sends it (0x8000 | vk), shift held
KEY_DOWN = struct.pack(">I", 10) + struct.pack("<I", 3) + b"\x00\x41\x80\x01\x00\x00"
MOUSE_MOVE = struct.pack(">I", 8) + struct.pack("<I", 7) + struct.pack(">hh", -3, 5)
BAD_KEY = struct.pack(">I", 10) + struct.pack("<I", 3) + b"\x00\x41\x40\x00\x00\x00"


def client_seal(seq: int, msg_type: int, payload: bytes, *, key: bytes = KEY) -> bytes:
    """LE16 1 | LE16 length | LE32 seq | tag | AES-GCM(LE16 type | LE16 len | payload) under
    the IV LE32 seq | 6 zeros | 'CC'; length counts seq, tag and ciphertext."""
    iv = struct.pack("<I", seq) + bytes(6) + b"CC"
    sealed = AESGCM(key).encrypt(iv, struct.pack("<HH", msg_type, len(payload)) + payload, None)
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return struct.pack("<HHI", 0x0001, 4 + 16 + len(ciphertext), seq) + tag + ciphertext


def open_host_message(packet: bytes, *, key: bytes = KEY) -> tuple[int, int, bytes]:
    """What the client does with a host message (IV ending in 'HC'): (seq, type, payload)."""
    _, length, seq = struct.unpack_from("<HHI", packet)
    assert length + 4 == len(packet)
    iv = struct.pack("<I", seq) + bytes(6) + b"HC"
    plaintext = AESGCM(key).decrypt(iv, packet[24:] + packet[8:24], None)
    msg_type, payload_length = struct.unpack_from("<HH", plaintext)
    assert payload_length == len(plaintext) - 4
    return seq, msg_type, plaintext[4:]


class Recorder:
    """A ControlListener that writes everything down."""

    def __init__(self) -> None:
        self.connects = 0
        self.events: list[ControlEvent] = []
        self.inputs: list[InputEvent] = []
        self.rejected: list[str] = []
        self.drops: list[str] = []
        self.disconnects: list[str] = []

    def connected(self) -> None:
        self.connects += 1

    def event(self, event: ControlEvent) -> None:
        self.events.append(event)

    def input(self, event: InputEvent) -> None:
        self.inputs.append(event)

    def input_rejected(self, reason: str) -> None:
        self.rejected.append(reason)

    def dropped(self, reason: str) -> None:
        self.drops.append(reason)

    def disconnected(self, reason: str) -> None:
        self.disconnects.append(reason)


class Client:
    """Moonlight's end of the control stream: a pyenet host the test services by hand."""

    def __init__(self, port: int, connect_data: int = CONNECT_DATA, bind: str | None = None):
        address = enet.Address(bind.encode(), 0) if bind else None
        self.host: Any = enet.Host(address, 1, CHANNELS, 0, 0)
        self.peer: Any = self.host.connect(enet.Address(b"127.0.0.1", port), CHANNELS, connect_data)
        self.connected = False
        self.disconnected = False
        self.received: list[bytes] = []
        self.seq = 0

    def service(self) -> None:
        while True:
            event = self.host.service(0)
            if event.type == enet.EVENT_TYPE_NONE:
                return
            if event.type == enet.EVENT_TYPE_CONNECT:
                self.connected = True
            elif event.type == enet.EVENT_TYPE_DISCONNECT:
                self.disconnected = True
            elif event.type == enet.EVENT_TYPE_RECEIVE:
                self.received.append(bytes(event.packet.data))

    def seal(self, msg_type: int, payload: bytes) -> bytes:
        packet = client_seal(self.seq, msg_type, payload)
        self.seq += 1
        return packet

    def send_raw(self, packet: bytes, *, channel: int = 0, reliable: bool = True) -> None:
        flags = enet.PACKET_FLAG_RELIABLE if reliable else enet.PACKET_FLAG_UNSEQUENCED
        assert self.peer.send(channel, enet.Packet(packet, flags)) == 0
        self.host.flush()

    def send(self, msg_type: int, payload: bytes, **options: Any) -> bytes:
        packet = self.seal(msg_type, payload)
        self.send_raw(packet, **options)
        return packet

    def close(self) -> None:
        if self.host is None:
            return
        if self.connected and not self.disconnected:
            self.peer.disconnect_now(0)
            self.host.flush()
        # pyenet closes the socket when the host goes away.
        self.peer = None
        self.host = None


@contextmanager
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    try:
        yield opened
    finally:
        for client in opened:
            client.close()


async def until(
    condition: Callable[[], bool], *pumped: Client, timeout_s: float = 5.0, what: str = ""
) -> None:
    """Services the clients (the server runs on the loop) until `condition` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        for client in pumped:
            client.service()
        if condition():
            return
        assert loop.time() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.002)


async def connected_client(
    server: ControlServer, channel: ControlChannel, opened: list[Client], **options: Any
) -> Client:
    client = Client(server.port, **options)
    opened.append(client)
    await until(lambda: client.connected and channel.connected, client, what="connect")
    return client


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


# ----------------------------------------------------------------------------- sessions


def test_client_messages_reach_the_listener_in_order() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            assert channel.rtt_us() is None
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                assert recorder.connects == 1
                client.send(0x0302, b"\x00\x00", channel=1)  # "start A" is an IDR request
                client.send(0x0307, b"\x00", channel=1)
                client.send(0x0201, LOSS_PAYLOAD, channel=1)
                client.send(0x5502, FEC_PAYLOAD, channel=1)
                client.send(0x0206, KEY_DOWN, channel=1)
                client.send(0x0206, MOUSE_MOVE, channel=1)
                client.send(0x0206, BAD_KEY, channel=1)
                await until(lambda: len(recorder.events) == 7, client, what="7 events")
                client.send(0x0200, PING_PAYLOAD, channel=0, reliable=False)
                await until(lambda: len(recorder.events) == 8, client, what="ping")

                assert recorder.events == [
                    IdrRequest(),
                    StartB(),
                    LossStats(2, 50, 4242),
                    FrameFecStatus(7, 0x1234, 0x1230, 3, 40, 8, 38, 5, 20, 1, 2),
                    InputMessage(KEY_DOWN),
                    InputMessage(MOUSE_MOVE),
                    InputMessage(BAD_KEY),
                    Ping(PING_PAYLOAD),
                ]
                assert recorder.inputs == [KeyEvent(True, 0x8041, 0x01, 0), MouseMove(-3, 5)]
                assert recorder.rejected == ["key_code"]
                assert recorder.drops == []
                rtt = channel.rtt_us()
                assert rtt is not None
                assert rtt > 0
                stats = server.stats()
                assert (stats.messages_accepted, stats.inputs_accepted) == (8, 2)
                assert stats.inputs_rejected == {"key_code": 1}
                assert (stats.stray_datagrams, stats.unmatched_peers) == (0, 0)

                client.peer.disconnect(0)
                await until(lambda: bool(recorder.disconnects), client, what="disconnect")
                assert recorder.disconnects == [DisconnectReason.CLIENT]
                assert channel.rtt_us() is None
                assert server.connected_channels == 0

    run(scenario)


def test_termination_reaches_the_client_and_then_the_host_disconnects() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                assert channel.send(channel.encoder.rumble(0, 0x1111, 0x2222))
                assert channel.send_termination()
                await until(lambda: client.disconnected, client, what="host disconnects")
                assert [open_host_message(p)[:2] for p in client.received] == [
                    (0, 0x010B),
                    (1, 0x0109),
                ]
                assert open_host_message(client.received[1])[2] == b"\x80\x03\x00\x23"
                await until(lambda: bool(recorder.disconnects), client, what="callback")
                assert recorder.disconnects == [DisconnectReason.TERMINATED]
                assert not channel.send_termination()  # nobody left to tell

    run(scenario)


def test_close_after_termination_still_delivers_it() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                channel.send_termination()
                channel.close()
                await until(lambda: client.disconnected, client, what="host disconnects")
                assert [open_host_message(p)[1] for p in client.received] == [0x0109]
                assert recorder.disconnects == []  # closed: no more callbacks

    run(scenario)


def test_closing_a_channel_disconnects_its_client_without_callbacks() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                channel.close()
                assert not channel.connected
                assert not channel.send(channel.encoder.rumble(0, 1, 1))
                client.send(0x0302, b"\x00\x00")  # too late: nobody listens
                await until(lambda: client.disconnected, client, what="host disconnects")
                assert recorder.events == []
                assert recorder.disconnects == []
                assert server.connected_channels == 0

    run(scenario)


def test_the_v1_iv_mode_is_used_when_the_launch_asks_for_it() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=False, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                client.send(0x0302, b"\x00\x00")  # sealed with the v2 IV: refused
                iv = bytes([1]) + bytes(15)
                sealed = AESGCM(KEY).encrypt(iv, b"\x07\x03\x01\x00\x00", None)
                legacy = struct.pack("<HHI", 1, 4 + len(sealed), 1) + sealed[-16:] + sealed[:-16]
                client.send_raw(legacy)
                await until(lambda: bool(recorder.events), client, what="legacy message")
                assert recorder.drops == ["auth"]
                assert recorder.events == [StartB()]

    run(scenario)


# ---------------------------------------------------------------------- who may connect


def test_wrong_connect_data_is_disconnected_and_counted() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                stranger = Client(server.port, connect_data=CONNECT_DATA ^ 1)
                opened.append(stranger)
                await until(lambda: stranger.disconnected, stranger, what="stranger dropped")
                assert server.stats().unmatched_peers == 1
                assert recorder.connects == 0
                # The launch still waits for its own client.
                await connected_client(server, channel, opened)
                assert recorder.connects == 1
                assert server.stats().unmatched_peers == 1

    run(scenario)


def test_the_right_connect_data_from_another_ip_is_refused() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="::ffff:127.0.0.1", listener=recorder
            )
            with clients() as opened:
                impostor = Client(server.port, bind="127.0.0.2")
                opened.append(impostor)
                await until(lambda: impostor.disconnected, impostor, what="impostor dropped")
                assert server.stats().unmatched_peers == 1
                await connected_client(server, channel, opened)  # IPv4-mapped form matches
                assert recorder.connects == 1

    run(scenario)


def test_expect_refuses_a_connect_data_already_expected() -> None:
    async def scenario() -> None:
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=Recorder()
            )
            with pytest.raises(ValueError, match="already expected"):
                server.expect(
                    CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=Recorder()
                )
            channel.close()
            server.expect(CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=Recorder())
            with pytest.raises(ValueError, match="16 bytes"):
                server.expect(1, b"short", v2_iv=True, client_ip="127.0.0.1", listener=Recorder())
            with pytest.raises(ValueError, match="does not appear to be"):
                server.expect(2, KEY, v2_iv=True, client_ip="not an ip", listener=Recorder())

    run(scenario)


# ------------------------------------------------------------------------------ silence


def test_a_vanished_client_is_disconnected_within_the_timeout() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        loop = asyncio.get_running_loop()
        async with ControlServer("127.0.0.1", 0, timeout_s=1.0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                client.send(0x0302, b"\x00\x00")
                await until(lambda: bool(recorder.events), client, what="a message")
                vanished_at = loop.time()  # from now on the client is not serviced
                await until(lambda: bool(recorder.disconnects), timeout_s=4.0, what="timeout")
                silent_s = loop.time() - vanished_at
                assert recorder.disconnects == [DisconnectReason.TIMEOUT]
                # The server's silence starts at the client's last acknowledgement, which
                # can reach it a few ms before the test stops servicing the client.
                assert silent_s >= 0.95
                assert channel.rtt_us() is None
                assert server.connected_channels == 0

    run(scenario)


def test_a_quiet_client_that_keeps_servicing_is_not_timed_out() -> None:
    """ENet's own pings keep a connection alive that carries no messages."""

    async def scenario() -> None:
        recorder = Recorder()
        loop = asyncio.get_running_loop()
        async with ControlServer("127.0.0.1", 0, timeout_s=1.0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                end = loop.time() + 2.5
                await until(lambda: loop.time() >= end or bool(recorder.disconnects), client)
                assert recorder.disconnects == []
                assert channel.connected

    run(scenario)


# ------------------------------------------------------------------------------ hostile


def test_garbage_bad_tags_and_replays_are_counted_and_good_clients_are_still_served() -> None:
    async def scenario() -> None:
        good, other = Recorder(), Recorder()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=good
            )
            other_channel = server.expect(
                CONNECT_DATA + 1, KEY, v2_iv=True, client_ip="127.0.0.1", listener=other
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                neighbour = await connected_client(
                    server, other_channel, opened, connect_data=CONNECT_DATA + 1
                )
                garbage = [
                    b"x",
                    b"\xff\xff\xff\xff\xff\xff\xff\xff",  # "compressed": this host has no codec
                    b"\x00\x00\x0f\x00\x00\x00",  # no such command
                    b"\x00\x09\x05\x00\x00\x01",  # a ping for a peer slot that does not exist
                    b"\x00\x00\x05\x00\x00\x01",  # a ping for slot 0, but from elsewhere
                    bytes(range(256)) * 4,
                ]
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                    for datagram in garbage:
                        raw.sendto(datagram, ("127.0.0.1", server.port))
                    await until(
                        lambda: server.stats().stray_datagrams >= len(garbage),
                        client,
                        neighbour,
                        what="garbage counted",
                    )

                idr = client.seal(0x0302, b"\x00\x00")
                forged = bytearray(client.seal(0x0307, b"\x00"))
                forged[10] ^= 0x01  # a tag byte
                client.send_raw(bytes(forged))
                client.send_raw(client_seal(client.seq, 0x0307, b"\x00", key=bytes(16)))
                client.send_raw(idr)
                client.send_raw(idr)  # a replay
                client.send_raw(b"\x01\x00\x02\x00")  # too short for the envelope
                client.send(0x0302, b"\x00\x00")
                neighbour.send(0x0307, b"\x00")
                await until(
                    lambda: len(good.events) == 2 and len(other.events) == 1,
                    client,
                    neighbour,
                    what="the good messages",
                )
                assert good.events == [IdrRequest(), IdrRequest()]
                assert good.drops == ["auth", "auth", "replay", "short"]
                assert other.events == [StartB()]
                assert other.drops == []
                stats = server.stats()
                assert stats.messages_dropped == {"auth": 2, "replay": 1, "short": 1}
                assert stats.stray_datagrams == len(garbage)
                assert channel.dropped == {"auth": 2, "replay": 1, "short": 1}
                assert stats.service_errors == 0
                assert good.disconnects == []
                assert other.disconnects == []

    run(scenario)


def test_a_listener_that_raises_does_not_stop_its_channel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Faulty(Recorder):
        def event(self, event: ControlEvent) -> None:
            super().event(event)
            if len(self.events) == 1:
                raise RuntimeError("listener bug")

    async def scenario() -> None:
        recorder = Faulty()
        async with ControlServer("127.0.0.1", 0) as server:
            await server.start()
            channel = server.expect(
                CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
            )
            with clients() as opened:
                client = await connected_client(server, channel, opened)
                client.send(0x0302, b"\x00\x00")
                client.send(0x0307, b"\x00")
                await until(lambda: len(recorder.events) == 2, client, what="both events")
                assert channel.connected

    run(scenario)
    assert "listener bug" in caplog.text


# ---------------------------------------------------------------------------- lifetime


def test_close_disconnects_clients_politely_and_frees_the_port() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        server = ControlServer("127.0.0.1", 0)
        await server.start()
        port = server.port
        channel = server.expect(
            CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
        )
        pending = Recorder()
        server.expect(CONNECT_DATA + 1, KEY, v2_iv=True, client_ip="127.0.0.1", listener=pending)
        with clients() as opened:
            client = await connected_client(server, channel, opened)
            closing = asyncio.create_task(server.close())
            await until(closing.done, client, what="close")
            await closing
            assert client.disconnected  # acknowledged the host's disconnect in time
        assert recorder.disconnects == [DisconnectReason.HOST_CLOSED]
        assert pending.connects == 0
        assert pending.disconnects == []
        with pytest.raises(RuntimeError):
            server.expect(9, KEY, v2_iv=True, client_ip="127.0.0.1", listener=Recorder())
        async with ControlServer("127.0.0.1", port) as again:  # the socket is gone
            await again.start()
            assert again.port == port

    run(scenario)


def test_close_does_not_wait_long_for_a_client_that_vanished() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        loop = asyncio.get_running_loop()
        server = ControlServer("127.0.0.1", 0, close_timeout_s=0.3)
        await server.start()
        channel = server.expect(
            CONNECT_DATA, KEY, v2_iv=True, client_ip="127.0.0.1", listener=recorder
        )
        with clients() as opened:
            await connected_client(server, channel, opened)
            started = loop.time()
            await asyncio.wait_for(server.close(), 5)  # the client is not serviced
            assert loop.time() - started >= 0.3
        assert recorder.disconnects == [DisconnectReason.HOST_CLOSED]

    run(scenario)


def test_a_port_in_use_is_an_os_error() -> None:
    async def scenario() -> None:
        async with ControlServer("127.0.0.1", 0) as first:
            await first.start()
            second = ControlServer("127.0.0.1", first.port)
            with pytest.raises(OSError, match="in use"):
                await second.start()
            await second.close()

    run(scenario)


def test_constructor_rejects_what_enet_cannot_do() -> None:
    with pytest.raises(ValueError, match="IPv4"):
        ControlServer("::", 0)
    with pytest.raises(ValueError, match="not an IP"):
        ControlServer("localhost", 0)
    with pytest.raises(ValueError, match="timeout_s"):
        ControlServer("127.0.0.1", 0, timeout_s=0.2)
    with pytest.raises(ValueError, match="port"):
        ControlServer("127.0.0.1", 70000)


# ------------------------------------------------------------------------ ENet headers


@pytest.mark.parametrize(
    ("datagram", "peer"),
    [
        (b"\x8f\xff\x39\xe4\x82\xff\x00\x01" + bytes(44), 0xFFF),  # connect, with sent time
        (b"\x0f\xff\x82\xff\x00\x01", 0xFFF),  # connect without sent time
        (b"\x0f\xff\x85\xff\x00\x01", None),  # only a connect may come before a peer id
        (b"\x80\x03\x3b\xe4\x01\xff\x00\x02", 3),  # an acknowledgement for slot 3
        (b"\x10\x02\x05\x00\x00\x01", 2),  # session bits are not part of the id
        (b"\x00\x00\x00\x00\x00\x00", None),  # command 0 does not exist
        (b"\x00\x00\x0d\x00\x00\x00", None),  # nor does 13
        (b"\x40\x00\x05\x00\x00\x01", None),  # compressed
        (b"\x80\x00\x05\x00", None),  # sent time, then too short for a command
        (b"\x00", None),
        (b"", None),
    ],
)
def test_addressed_peer_reads_the_enet_header(datagram: bytes, peer: int | None) -> None:
    assert addressed_peer(datagram) == peer
