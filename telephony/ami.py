"""The platform's only AMI connection code: panoramisk behind typed actions.

panoramisk reconnects by itself after Asterisk restarts, but it also replays actions that were
sent while it was disconnected, which could fire an Originate late or twice. So ``send`` refuses
to queue anything while the link is down (the caller decides what to do), and every reconnect is
announced to ``on_ready`` so live state can be rebuilt from Asterisk.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from telephony.ami_actions import AmiAction

log = logging.getLogger("telephony.ami")

AmiEvent = dict[str, Any]
EventHandler = Callable[[AmiEvent], None]
ReadyHandler = Callable[[], Awaitable[None]]


class AmiUnavailable(Exception):
    """Asterisk's manager interface is not connected and logged in right now."""


class AmiActionFailed(Exception):
    pass


class _WholeCharacters(AMIProtocol):  # type: ignore[misc]
    """panoramisk decodes each TCP read on its own and drops undecodable bytes, so a Chinese caller
    name split across two reads would lose characters. Only whole UTF-8 characters are passed on."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def data_received(self, data: bytes) -> None:
        text = self._utf8.decode(data)
        if text:
            super().data_received(text.encode("utf-8"))


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager, noting a refused login (it otherwise just stays unauthenticated)."""

    login_refused = False

    def login(self, future: Any) -> bool:
        ok = bool(super().login(future))
        self.login_refused = not ok
        return ok


def event_dict(message: Any) -> dict[str, Any]:
    """A panoramisk Message as a plain dict; repeated ChanVariable lines become a mapping."""
    data = {str(k): v for k, v in dict(message).items()}
    raw = data.pop("ChanVariable", None)
    variables: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else ([raw] if raw else []):
        name, _, value = str(item).partition("=")
        variables[name] = value
    data["ChanVariable"] = variables
    return data


class AmiClient:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: EventHandler,
        on_ready: ReadyHandler | None = None,
        action_timeout: float = 10.0,
    ) -> None:
        self._on_event = on_event
        self._on_ready = on_ready
        self._timeout = action_timeout
        self._ready = asyncio.Event()
        self._manager = _Manager(
            host=host,
            port=port,
            username=username,
            secret=secret,
            ping_delay=5,
            ping_interval=5,
            reconnect_timeout=1,
            protocol_factory=_WholeCharacters,
            forgetable_actions=("ping", "login", "coreshowchannels", "queuestatus"),
            on_login=self._logged_in,
            on_disconnect=self._lost,
            log=logging.getLogger("telephony.ami.panoramisk"),
        )
        self._manager.register_event("*", self._dispatch)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def start(self, timeout: float = 30.0) -> None:
        """Connect and wait for a successful login; later reconnects happen in the background."""
        self._manager.loop = asyncio.get_running_loop()
        self._manager.connect()
        try:
            await asyncio.wait_for(self._wait_login(), timeout)
        except TimeoutError:
            raise AmiUnavailable(
                "could not log in to the Asterisk manager interface within "
                f"{timeout:.0f}s (is Asterisk running, and manager.conf rendered?)"
            ) from None

    async def _wait_login(self) -> None:
        while not self._ready.is_set():
            if self._manager.login_refused:
                raise AmiUnavailable("AMI login refused: the secret in state_dir/secrets does not match")
            await asyncio.sleep(0.05)

    def _logged_in(self, manager: Manager) -> None:
        log.info("AMI logged in")
        self._ready.set()
        if self._on_ready is not None:
            task = asyncio.ensure_future(self._run_ready())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_ready(self) -> None:
        assert self._on_ready is not None
        try:
            await self._on_ready()
        except Exception:
            log.exception("rebuilding live state after AMI login failed")

    def _lost(self, manager: Manager, exc: Exception | None) -> None:
        if self._ready.is_set():
            log.warning("AMI connection lost; reconnecting", extra={"why": str(exc)})
        self._ready.clear()
        # Forget actions panoramisk parked for replay: they would run late against a new Asterisk.
        self._manager.awaiting_actions.clear()

    def _dispatch(self, manager: Manager, message: Any) -> None:
        try:
            self._on_event(event_dict(message))
        except Exception:
            log.exception("AMI event handler failed", extra={"event": str(message.get("Event"))})

    async def send(self, action: AmiAction) -> list[dict[str, Any]]:
        """Send one validated action; return its reply (and list events, for list actions)."""
        if not self._ready.is_set():
            raise AmiUnavailable(f"{action.name}: AMI is not connected")
        fields = action.fields()  # validates before anything is written
        # Always say whether a reply is a list: panoramisk otherwise guesses from the reply's text
        # and takes QueueAdd's "Added interface to queue" for the start of a list that never ends.
        future = self._manager.send_action(fields, as_list=action.is_list)
        try:
            reply = await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            raise AmiActionFailed(f"{action.name}: no reply within {self._timeout:.0f}s") from None
        messages = reply if isinstance(reply, list) else [reply]
        first = dict(messages[0])
        if str(first.get("Response", "")).lower() in ("error", "fail", "failure"):
            raise AmiActionFailed(f"{action.name}: {first.get('Message', 'refused')}")
        return [event_dict(m) for m in messages]

    async def close(self) -> None:
        self._ready.clear()
        self._manager.close()
        # Stop panoramisk from reconnecting behind our back after close.
        self._manager.connection_lost = lambda exc: None
        for task in list(self._tasks):
            task.cancel()
