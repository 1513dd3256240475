"""chatsite.asgi_server's WebSocket protocol, driven byte by byte: a real
uvicorn protocol over an in-memory transport, with `websockets`' client
protocol reading what it writes."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import parse_uri

from chatsite.asgi_server import SEND_BATCH, WebSocketProtocol


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _open(app) -> tuple[WebSocketProtocol, _Transport, ClientProtocol]:
    config = Config(app=app, ws="websockets-sansio", lifespan="off", ws_ping_interval=None, log_level="warning")
    config.load()
    protocol = WebSocketProtocol(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    protocol.connection_made(transport)
    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws/"))
    request = client.connect()
    client.send_request(request)
    protocol.data_received(b"".join(client.data_to_send()))
    return protocol, transport, client


def _texts(client: ClientProtocol, data: bytes) -> list[str]:
    client.receive_data(data)
    return [event.data.decode() for event in client.events_received() if getattr(event, "opcode", None) is Opcode.TEXT]


async def _serve(batches: list[list[str]]):
    """Open a socket whose app accepts, sends `batches`, then waits; return
    (scope seen by the app, transport writes after the handshake, client)."""
    seen = {}
    sent = asyncio.Event()

    async def app(scope, receive, send):
        seen.update(scope)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        for texts in batches:
            await send({"type": "websocket.send_batch", "texts": texts})
        sent.set()
        await receive()

    protocol, transport, client = await _open(app)
    await asyncio.wait_for(sent.wait(), 5)
    handshake, *writes = transport.writes
    client.receive_data(handshake)
    assert client.handshake_exc is None and [type(e).__name__ for e in client.events_received()] == ["Response"]
    protocol.connection_lost(None)
    return seen, writes, client


async def test_the_scope_offers_the_batch_extension():
    seen, _, _ = await _serve([])
    assert SEND_BATCH in seen["extensions"]
    assert "websocket.http.response" in seen["extensions"]  # uvicorn's own is kept


async def test_a_batch_is_one_write_of_one_frame_per_text_in_order():
    texts = [f'{{"type":"message.new","n":{n},"text":"{"é" * n}"}}' for n in range(25)]
    _, writes, client = await _serve([texts, ["last"]])
    assert len(writes) == 2  # one write per batch, not per frame
    assert _texts(client, writes[0]) == texts
    assert _texts(client, writes[1]) == ["last"]


async def test_a_batch_waits_while_the_client_is_not_reading():
    """Backpressure as for one frame: while the transport is paused nothing
    is written; when it drains, the batch goes out whole, in order."""
    release = asyncio.Event()
    done = asyncio.Event()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        await send({"type": "websocket.send_batch", "texts": ["one", "two", "three"]})
        done.set()
        await receive()

    protocol, transport, client = await _open(app)
    await asyncio.sleep(0)
    protocol.pause_writing()
    release.set()
    await asyncio.sleep(0.05)
    assert not done.is_set() and len(transport.writes) == 1  # the handshake only
    protocol.resume_writing()
    await asyncio.wait_for(done.wait(), 5)
    handshake, batch = transport.writes
    client.receive_data(handshake)
    client.events_received()
    assert _texts(client, batch) == ["one", "two", "three"]
    protocol.connection_lost(None)


async def test_a_close_while_a_batch_waits_goes_out_and_the_batch_is_refused():
    """The gateway closes a socket that stopped reading: the close frame is
    queued at once (chatsite.asgi_server), and a batch still waiting for the
    client to read is refused rather than written after the close."""
    release = asyncio.Event()
    outcome = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()

        async def late_batch():
            try:
                await send({"type": "websocket.send_batch", "texts": ["late"]})
            except RuntimeError as exc:
                outcome.set_result(exc)
            else:
                outcome.set_result(None)

        waiting = asyncio.ensure_future(late_batch())
        await asyncio.sleep(0.01)
        await send({"type": "websocket.close", "code": 1012})
        await waiting

    protocol, transport, client = await _open(app)
    await asyncio.sleep(0)
    protocol.pause_writing()
    release.set()
    assert isinstance(await asyncio.wait_for(outcome, 5), RuntimeError)
    handshake, *rest = transport.writes
    client.receive_data(handshake)
    client.events_received()
    client.receive_data(b"".join(rest))
    events = client.events_received()
    assert [e.opcode for e in events] == [Opcode.CLOSE] and not any(b"late" in w for w in rest)
    protocol.connection_lost(None)


async def test_a_batch_to_a_socket_that_is_gone_raises_client_disconnected():
    from uvicorn.protocols.utils import ClientDisconnected  # the error the stock `websocket.send` raises too

    raised = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the disconnect
        try:
            await send({"type": "websocket.send_batch", "texts": ["late"]})
        except Exception as exc:
            raised.set_result(exc)
        else:
            raised.set_result(None)

    protocol, transport, _ = await _open(app)
    await asyncio.sleep(0)
    protocol.connection_lost(None)
    assert isinstance(await asyncio.wait_for(raised, 5), ClientDisconnected)
    assert len(transport.writes) == 1  # the handshake only


async def test_a_batch_before_accept_is_refused():
    raised = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await receive()
        try:
            await send({"type": "websocket.send_batch", "texts": ["early"]})
        except RuntimeError as exc:
            raised.set_result(exc)
        await send({"type": "websocket.close"})

    protocol, transport, _ = await _open(app)
    assert "accepted" in str(await asyncio.wait_for(raised, 5))
    protocol.connection_lost(None)
    assert not any(b"early" in w for w in transport.writes)


@pytest.mark.parametrize("extension", [True, False, None])
async def test_the_gateway_flushes_its_queue_as_one_batch_where_offered(extension):
    """The gateway's outbox: one `websocket.send_batch` for all that is queued
    when the server offers it, one `websocket.send` per frame when not (daphne)."""
    from chatsite.gateway.consumer import Connection  # the gateway needs Django set up (conftest)

    sent: list[dict] = []

    async def base_send(message):
        sent.append(message)

    conn = Connection()
    # None: a server that sets `extensions` to null (ASGI allows it to be absent).
    conn.scope = {"extensions": {SEND_BATCH: {}} if extension else ({} if extension is False else None)}
    conn.base_send = base_send
    conn.greeted = True
    for n in range(3):
        conn.push_text(f"frame {n}")
    await conn._flush_task
    if extension:
        assert sent == [{"type": "websocket.send_batch", "texts": ["frame 0", "frame 1", "frame 2"]}]
    else:
        assert sent == [{"type": "websocket.send", "text": f"frame {n}"} for n in range(3)]


async def test_a_long_queue_goes_out_in_batches_of_at_most_send_batch_max():
    """So that the server's wait for a client that is not reading comes between
    batches, and what such a client has not read stays in the gateway's queue."""
    from chatsite.gateway.consumer import SEND_BATCH_MAX, Connection  # the gateway needs Django set up (conftest)

    sent: list[dict] = []

    async def base_send(message):
        sent.append(message)

    conn = Connection()
    conn.scope = {"extensions": {SEND_BATCH: {}}}
    conn.base_send = base_send
    conn.greeted = True
    frames = [f"frame {n}" for n in range(2 * SEND_BATCH_MAX + 5)]
    for text in frames:
        conn.push_text(text)
    await conn._flush_task
    assert [len(m["texts"]) for m in sent] == [SEND_BATCH_MAX, SEND_BATCH_MAX, 5]
    assert [t for m in sent for t in m["texts"]] == frames
