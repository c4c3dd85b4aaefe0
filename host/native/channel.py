"""Waiting on the punktfunk/1 control connection: the asyncio edge of `messages`.

The server and the client read the TLS stream in chunks and feed them to a
`MessageDecoder`; this module owns how long they wait. Bytes already read stay in the
decoder, so a timeout never loses part of a message and the caller may simply wait
again.
"""

from __future__ import annotations

import asyncio

from host.native.messages import Message, MessageDecoder, ProtocolError

READ_CHUNK = 64 * 1024
STALL_TIMEOUT_S = 10.0  # a peer that starts a message must finish it within this


async def receive(
    reader: asyncio.StreamReader, decoder: MessageDecoder, idle_timeout: float | None = None
) -> Message:
    """The next message; ProtocolError on bad input, EOFError on a clean close.

    TimeoutError when no message starts within `idle_timeout`. Once part of a message
    has arrived the wait is bounded by STALL_TIMEOUT_S instead, and running out of it is
    a protocol error: a peer that stalls inside a message is broken or hostile.
    """
    loop = asyncio.get_running_loop()
    stall_deadline: float | None = None
    while (message := decoder.next_message()) is None:
        timeout: float | None = idle_timeout
        if decoder.in_message:
            if stall_deadline is None:
                stall_deadline = loop.time() + STALL_TIMEOUT_S
            timeout = stall_deadline - loop.time()
        try:
            async with asyncio.timeout(timeout):
                data = await reader.read(READ_CHUNK)
        except TimeoutError:
            if decoder.in_message:
                raise ProtocolError(
                    f"peer stalled for {STALL_TIMEOUT_S:g} s inside a message"
                ) from None
            raise
        if not data:
            decoder.feed_eof()
            raise EOFError("control connection closed")
        decoder.feed(data)
    return message
