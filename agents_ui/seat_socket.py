"""Serve one live websocket: the first picture, then pushed changes, pings, and a clean end.

The subscription is taken before the first picture is read, so a change that happens in between
arrives (perhaps twice, which is harmless: every message is a whole state, not a delta).

A socket lives for hours, so its login is checked again every ``RECHECK_SECONDS``: a logout
elsewhere, a disabled account, a role taken away or the session's absolute expiry closes it
(1008) and the page goes to the login form. An open live page counts as activity for the idle
expiry: an agent waiting for calls is not idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable

from fastapi import WebSocket, WebSocketDisconnect, status

from agents_ui.seat_link import Message, SeatLink, SeatServiceUnavailable

PING_SECONDS = 20.0
RECHECK_SECONDS = 30.0
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
    *,
    view: Hashable,
    still_allowed: Callable[[], bool],
) -> None:
    """``still_allowed`` runs in a thread (it reads the database); ``view``: see Subscriber."""
    await websocket.accept()
    subscriber = link.subscribe(wants, view)
    closed = asyncio.create_task(_until_closed(websocket))
    recheck_at = time.monotonic() + RECHECK_SECONDS
    try:
        try:
            for picture in await first():
                await websocket.send_json(picture)
        except SeatServiceUnavailable:
            await websocket.close(TRY_AGAIN, "seat service unavailable")
            return
        while not closed.done():
            if time.monotonic() >= recheck_at:
                if not await asyncio.to_thread(still_allowed):
                    await websocket.close(status.WS_1008_POLICY_VIOLATION, "login ended")
                    return
                recheck_at = time.monotonic() + RECHECK_SECONDS
            getter = asyncio.create_task(subscriber.inbox.get())
            done, _ = await asyncio.wait(
                {getter, closed}, timeout=PING_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if getter not in done:
                getter.cancel()
                if not closed.done():
                    await websocket.send_json({"type": "ping"})
                continue
            text = getter.result()
            if text is None:
                await websocket.close(TRY_AGAIN, "fell behind; reconnect")
                return
            await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser went away mid-send
    finally:
        link.unsubscribe(subscriber)
        closed.cancel()
