"""Serve one live websocket: the first picture, then pushed changes, pings, and a clean end.

The subscription is taken before the first picture is read, so a change that happens in between
arrives (perhaps twice, which is harmless: every message is a whole state, not a delta).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fastapi import WebSocket, WebSocketDisconnect

from agents_ui.seat_link import Message, SeatLink, SeatServiceUnavailable

PING_SECONDS = 20.0
# Close code 1013 "try again later": the page reconnects and gets a fresh first picture.
TRY_AGAIN = 1013


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()  # the browser says nothing we need; this notices it leave


async def serve(
    websocket: WebSocket,
    link: SeatLink,
    wants: Callable[[Message], Message | None],
    first: Callable[[], Awaitable[list[Message]]],
) -> None:
    await websocket.accept()
    subscriber = link.subscribe(wants)
    closed = asyncio.create_task(_until_closed(websocket))
    try:
        try:
            for picture in await first():
                await websocket.send_json(picture)
        except SeatServiceUnavailable:
            await websocket.close(TRY_AGAIN, "seat service unavailable")
            return
        while not closed.done():
            getter = asyncio.create_task(subscriber.inbox.get())
            done, _ = await asyncio.wait(
                {getter, closed}, timeout=PING_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                if not closed.done():
                    await websocket.send_json({"type": "ping"})
                continue
            message = getter.result()
            if message is None:
                await websocket.close(TRY_AGAIN, "fell behind; reconnect")
                return
            await websocket.send_json(message)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser went away mid-send
    finally:
        link.unsubscribe(subscriber)
        closed.cancel()
