"""Frames between the receiver and its DuckDB writer process: a 4-byte length, then a pickle.

Both ends are this package, over a private socketpair, so pickle is safe here and is the
cheapest way to move a batch of bodies and the feed's rows (datetimes, bytes) across.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct

HEADER = struct.Struct("!I")


class WriterGone(ConnectionError):
    """The writer process closed its end: it exited or was killed."""


def encode(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = sock.recv(min(missing, 1 << 20))
        if not chunk:
            raise WriterGone("the other end closed the connection")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class FrameReader:
    """The writer's end: frames from a blocking socket, one at a time (``next``), or whichever
    have already arrived (``ready``), so that requests waiting together can be served together."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _take(self) -> object | None:
        if len(self.buffer) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self.buffer)
        end = HEADER.size + size
        if len(self.buffer) < end:
            return None
        payload = self.buffer[HEADER.size : end]
        del self.buffer[:end]
        return pickle.loads(payload)

    def next(self) -> object:
        """The next frame, waiting for it if need be."""
        while (frame := self._take()) is None:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise WriterGone("the other end closed the connection")
            self.buffer += chunk
        return frame

    def ready(self) -> object | None:
        """The next frame if it has arrived whole, else None (without waiting)."""
        while (frame := self._take()) is None:
            try:
                chunk = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return None
            if not chunk:
                return None  # closed: ``next`` says so once the frames before are served
            self.buffer += chunk
        return frame


def send(sock: socket.socket, message: object) -> None:
    sock.sendall(encode(message))


def receive(sock: socket.socket) -> object:
    (size,) = HEADER.unpack(_recv_exactly(sock, HEADER.size))
    return pickle.loads(_recv_exactly(sock, size))


async def read(reader: asyncio.StreamReader) -> object:
    try:
        (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
        return pickle.loads(await reader.readexactly(size))
    except asyncio.IncompleteReadError:
        raise WriterGone("the writer process closed the connection") from None
