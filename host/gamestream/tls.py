"""TLS for GameStream's HTTPS port: pyOpenSSL through memory BIOs, under asyncio.

GameStream's HTTPS port asks every client for a certificate, accepts any certificate
at the TLS layer, and only then, inside HTTP, answers an unpaired one with the 401 XML
that makes Moonlight offer to pair. Python's `ssl` module cannot do that: a server
context either does not ask for a certificate (CERT_NONE) or verifies it against
trusted CAs and aborts the handshake when that fails, and it has no verify callback.
(Trusting each paired certificate as its own CA would turn "unpaired" into a failed
handshake that Moonlight cannot tell from a network error, and unpairing would mean
rebuilding the context.) pyOpenSSL exposes OpenSSL's verify callback: the context
requests a certificate and the callback accepts whatever comes; the HTTP layer looks
the certificate's fingerprint up in the paired-clients store.

The socket stays an asyncio stream: bytes read from it are written into the TLS
engine's input BIO, and whatever the engine writes to its output BIO goes to the
socket. `TlsStream` offers the same recv/send/close as the plain stream.
"""

from __future__ import annotations

import asyncio
import contextlib

from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from host.gamestream.identity import HostIdentity

READ_CHUNK = 65536
# Resuming a session skips the certificate exchange; a server that asks for client
# certificates must name its session context, or OpenSSL refuses resumption attempts.
SESSION_ID_CONTEXT = b"punktfunk-gamestream"


class TlsError(ConnectionError):
    """The TLS handshake or record layer failed; the connection is unusable."""


def _accept_any_certificate(
    connection: SSL.Connection, certificate: object, errno: int, depth: int, ok: int
) -> bool:
    # Pairing decides who is trusted, not a CA: every certificate passes the TLS layer.
    return True


def server_context(identity: HostIdentity) -> SSL.Context:
    """TLS 1.2+ with the host certificate, asking for (and accepting) any client cert."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate(identity.certificate)
    context.use_privatekey(identity.private_key)
    context.check_privatekey()
    context.set_verify(SSL.VERIFY_PEER, _accept_any_certificate)
    context.set_session_id(SESSION_ID_CONTEXT)
    return context


class TlsStream:
    """The server side of one TLS connection over an asyncio stream pair."""

    def __init__(
        self, context: SSL.Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._conn = SSL.Connection(context, None)  # None: memory BIOs
        self._conn.set_accept_state()

    async def _flush(self) -> None:
        """Send whatever the TLS engine has written."""
        while True:
            try:
                chunk = self._conn.bio_read(READ_CHUNK)
            except SSL.WantReadError:
                break
            self._writer.write(chunk)
        await self._writer.drain()

    async def _feed(self) -> bool:
        """Move the next bytes from the socket into the engine; False at end of stream."""
        await self._flush()
        data = await self._reader.read(READ_CHUNK)
        if not data:
            return False
        self._conn.bio_write(data)
        return True

    async def handshake(self) -> None:
        while True:
            try:
                self._conn.do_handshake()
                break
            except SSL.WantReadError:
                if not await self._feed():
                    raise TlsError("the client closed the connection in the handshake") from None
            except SSL.Error as exc:
                raise TlsError(f"TLS handshake failed: {exc}") from None
        await self._flush()

    def peer_certificate_der(self) -> bytes | None:
        certificate = self._conn.get_peer_certificate(as_cryptography=True)
        if certificate is None:
            return None
        return certificate.public_bytes(serialization.Encoding.DER)

    async def recv(self) -> bytes:
        """The next decrypted bytes; b"" when the client closed (with or without notify)."""
        while True:
            try:
                return self._conn.recv(READ_CHUNK)
            except SSL.WantReadError:
                if not await self._feed():
                    return b""
            except SSL.ZeroReturnError:
                return b""
            except SSL.Error as exc:
                raise TlsError(f"TLS error: {exc}") from None

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self._conn.send(view[:READ_CHUNK])
            except SSL.Error as exc:
                raise TlsError(f"TLS error: {exc}") from None
            view = view[sent:]
            await self._flush()

    async def close(self) -> None:
        """Send close_notify (best effort; the caller closes the socket)."""
        with contextlib.suppress(SSL.Error):
            self._conn.shutdown()
        with contextlib.suppress(ConnectionError):
            await self._flush()
