"""The gateway's keep-alive upstream client: framing, connection reuse, stale connections, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from walletstubs.gateway.upstream import UpstreamError, UpstreamPool
from walletstubs.localstack.servers import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int, list[int]]:
    """A loopback server; ``handler`` answers one request and says whether to keep the connection."""
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        number = len(connections)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                if not await handler(reader, writer, number):
                    break
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], connections


def _run(coro: Awaitable[object]) -> object:
    return asyncio.run(asyncio.wait_for(coro, 20))  # type: ignore[arg-type]


def test_content_length_responses_reuse_one_connection() -> None:
    async def handler(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> bool:
        body = f'{{"connection":{number}}}'.encode()
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )
        await writer.drain()
        return True

    async def scenario() -> tuple[list[int], list[bytes], int]:
        server, port, connections = await _serve(handler)
        pool = UpstreamPool("127.0.0.1", port)
        responses = [await pool.request("POST", "/v1/x", [(b"x-consumer", b"c")], b"{}") for _ in range(3)]
        pool.close()
        server.close()
        return [r.status for r in responses], [r.body for r in responses], len(connections)

    statuses, bodies, connections = _run(scenario())  # type: ignore[misc]
    assert statuses == [201, 201, 201]
    assert bodies == [b'{"connection":1}'] * 3
    assert connections == 1


def test_chunked_and_close_delimited_bodies_are_read_whole() -> None:
    async def handler(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> bool:
        if number == 1:
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
            await writer.drain()
            return True
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil close")
        await writer.drain()
        return False

    async def scenario() -> list[bytes]:
        server, port, _ = await _serve(handler)
        pool = UpstreamPool("127.0.0.1", port)
        first = await pool.request("GET", "/", [], b"")
        pool.close()  # the next request opens connection 2, which answers close-delimited
        second = await pool.request("GET", "/", [], b"")
        server.close()
        return [first.body, second.body]

    assert _run(scenario()) == [b"hello world", b"until close"]


def test_a_keep_alive_closed_by_the_server_is_retried_on_a_fresh_connection() -> None:
    async def handler(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % number)
        await writer.drain()
        return False  # advertises keep-alive, then closes: the pooled connection is stale

    async def scenario() -> list[bytes]:
        server, port, _ = await _serve(handler)
        pool = UpstreamPool("127.0.0.1", port)
        first = await pool.request("GET", "/", [], b"")
        await asyncio.sleep(0.05)
        second = await pool.request("GET", "/", [], b"")
        server.close()
        return [first.body, second.body]

    assert _run(scenario()) == [b"1", b"2"]


def test_many_stale_pooled_connections_still_give_an_answer() -> None:
    async def handler(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> bool:
        await asyncio.sleep(0.02)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % (number % 10))
        await writer.drain()
        return False  # every connection is closed after its answer, as an idle keep-alive timeout would

    async def scenario() -> bytes:
        server, port, _ = await _serve(handler)
        pool = UpstreamPool("127.0.0.1", port)
        await asyncio.gather(*(pool.request("GET", "/", [], b"") for _ in range(3)))
        await asyncio.sleep(0.05)
        answer = await pool.request("GET", "/", [], b"")
        server.close()
        return answer.body

    assert _run(scenario()) == b"4"


def test_unreachable_and_non_http_upstreams_raise_upstream_error() -> None:
    async def garbage(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> bool:
        writer.write(b"SSH-2.0-OpenSSH\r\n")
        await writer.drain()
        return False

    async def scenario() -> None:
        with pytest.raises(UpstreamError, match="cannot connect"):
            await UpstreamPool("127.0.0.1", free_port()).request("GET", "/", [], b"")
        server, port, _ = await _serve(garbage)
        with pytest.raises(UpstreamError, match="not an HTTP"):
            await UpstreamPool("127.0.0.1", port).request("GET", "/", [], b"")
        server.close()

    _run(scenario())
