"""A TCP forwarder: listen on one port, pass every byte to another and back.

The chaos soak puts one in front of moto's SQS server and kills it to make the SQS endpoint
unreachable (connections refused, requests in flight cut), while moto itself, and every
message it holds, lives on: an SQS outage never loses an acknowledged message, and moto keeps
its queues only in memory, so killing moto itself would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

CHUNK_BYTES = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies until end of file, then half-closes: the answer to a request may still come back.
    A broken side closes the other whole, so neither connection outlives the pair."""
    try:
        while chunk := await reader.read(CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def _forward(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    target_host: str,
    target_port: int,
) -> None:
    try:
        target_reader, target_writer = await asyncio.open_connection(target_host, target_port)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(_pipe(client_reader, target_writer), _pipe(target_reader, client_writer))
    finally:
        for writer in (client_writer, target_writer):
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()


async def serve(
    listen_host: str,
    listen_port: int,
    target_host: str,
    target_port: int,
    *,
    tls: ssl.SSLContext | None = None,
    started: asyncio.Event | None = None,
) -> None:
    """Forwards until cancelled (or the process is killed, which is the point). With `tls`, the
    listening side speaks TLS and the target plain TCP: a TLS terminator, as a managed Redis's
    endpoint is to a client. `started` is set once the port accepts connections."""
    # asyncio holds a connection's task only weakly once the client side has closed: without a
    # reference of our own, a pipe still waiting on moto is garbage collected mid-flight.
    live: set[asyncio.Task[None] | None] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        live.add(task)
        try:
            await _forward(reader, writer, target_host, target_port)
        finally:
            live.discard(task)

    server = await asyncio.start_server(handle, listen_host, listen_port, backlog=256, ssl=tls)
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()
