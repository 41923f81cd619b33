"""A small keep-alive HTTP/1.1 client for the in-process gateway's upstreams (our own services).

The gateway sits in front of every request, so its own cost decides how much throughput the embedded
stack loses behind it. ``httpx``/``httpcore`` spend about a millisecond of CPU per proxied request in
their generic machinery (anyio streams, connection-pool bookkeeping); this client does only what a
reverse proxy to loopback services needs: one pool of idle connections per upstream, requests with a
Content-Length body, responses framed by Content-Length, chunked encoding or connection close. A
connection that fails before any response byte arrives (a keep-alive the server already closed) is
retried once on a fresh connection, which is safe because nothing reached the service; the other idle
connections are dropped with it, since they idled as long and the server closed them too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

CONNECT_TIMEOUT_SECONDS = 2.0
RESPONSE_TIMEOUT_SECONDS = 30.0
MAX_IDLE_CONNECTIONS = 64
MAX_HEADER_LINES = 200


class UpstreamError(Exception):
    """The upstream could not be reached or answered with something that is not HTTP/1.x."""


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Stale(Exception):
    """A reused connection closed before answering."""


class UpstreamPool:
    """Keep-alive connections to one upstream at ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []

    async def request(
        self, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamResponse:
        """Send one request; raises :class:`UpstreamError` when the upstream is unreachable or broken."""
        head = bytearray(f"{method} {target} HTTP/1.1\r\n".encode("latin-1"))
        head += f"Host: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n".encode()
        for name, value in headers:
            head += name + b": " + value + b"\r\n"
        payload = bytes(head) + b"\r\n" + body
        for attempt in range(2):
            reused = attempt == 0 and bool(self._idle)
            connection = self._idle.pop() if reused else await self._connect()
            try:
                response, keep = await asyncio.wait_for(
                    self._exchange(connection, payload), RESPONSE_TIMEOUT_SECONDS
                )
            except _Stale:
                connection[1].close()
                if reused:
                    self.close()  # the other idle connections waited as long: drop them too
                    continue
                raise UpstreamError(
                    f"{self.host}:{self.port} closed the connection without answering"
                ) from None
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                connection[1].close()
                raise UpstreamError(f"{self.host}:{self.port}: {exc!r}") from exc
            if keep and len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(connection)
            else:
                connection[1].close()
            return response
        raise UpstreamError(f"{self.host}:{self.port} closed the connection without answering")

    async def _connect(self) -> _Connection:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_SECONDS
            )
        except (TimeoutError, OSError) as exc:
            raise UpstreamError(f"cannot connect to {self.host}:{self.port}: {exc!r}") from exc

    async def _exchange(self, connection: _Connection, payload: bytes) -> tuple[UpstreamResponse, bool]:
        reader, writer = connection
        try:
            writer.write(payload)
            await writer.drain()
            status_line = await reader.readline()
        except (ConnectionResetError, BrokenPipeError):
            raise _Stale from None
        if not status_line:
            raise _Stale
        version, _, rest = status_line.partition(b" ")
        if not version.startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.x response: {status_line[:40]!r}")
        status = int(rest[:3])
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        keep = version == b"HTTP/1.1"
        for _ in range(MAX_HEADER_LINES):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = b"close" not in value.lower() and (keep or b"keep-alive" in value.lower())
            headers.append((name, value))
        else:
            raise ValueError("too many response headers")
        if chunked:
            body = await _read_chunked(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body = await reader.read()
            keep = False
        return UpstreamResponse(status, headers, body), keep

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop()[1].close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
