"""The outbox's ways out: an SMS gateway, an SMTP server, and the webhook receivers of outside
systems. Each is a small typed interface with one real implementation (decision 6: adapters at
the edge); the outbox (``case_bridge.outbox``) only ever sees ``Delivery`` answers.

Wire formats
------------

SMS (``HttpSmsGateway``): ``POST cases.sms.gateway_url`` with ``Content-Type:
application/json``, ``Authorization: Bearer <cases.sms.api_key>`` (left out when no key is set)
and ``Idempotency-Key: <outbox key>``; the body is ``{"to": "<number>", "text": "<message>",
"sender": "<cases.sms.sender>"}`` in UTF-8. Any 2xx answer means the gateway took the message.

E-mail (``SmtpEmailSender``): one plain-text UTF-8 message per recipient over SMTP
(``cases.email``), STARTTLS and login when configured. Its ``Message-ID`` is made from the
outbox key, so a message sent twice (a lost answer after DATA) carries the same id both times.

Webhooks (``HttpWebhookSender``): ``POST <webhook url>``, the body the JSON payload of
``notify.webhook_payload`` (UTF-8, compact, keys sorted) with these headers::

    Content-Type: application/json
    X-Hotline-Event: case.dispatch
    Idempotency-Key: webhook:1234:grid          (the same on every retry of this delivery)
    X-Hotline-Timestamp: 1767225600             (Unix seconds when this try was signed)
    X-Hotline-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + key + "." + body)>

The receiver recomputes the HMAC over the exact bytes it received, compares in constant time,
and refuses timestamps more than five minutes away from its clock. The same scheme signs the
status updates outside systems send back (``case_bridge.inbound``).

What an answer means (``http_verdict``): 2xx sent; 408, 409, 425, 429, 5xx, 3xx and no answer
are tried again later; any other 4xx is a permanent refusal (the message is dead at once). A
webhook receiver's 409 means "I have this one already" and counts as sent.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from enum import StrEnum
from typing import Any, Protocol

import httpx

from hotline.case_settings import CaseSettings, EmailSettings, SmsSettings, WebhookSettings

USER_AGENT = "hotline-outbox/1"
# What is kept of a receiver's answer in the delivery log: enough to read the reason.
DETAIL_LIMIT = 500
SIGNATURE_PREFIX = "sha256="
# 4xx answers that say "not now" rather than "never": timeout, conflict, too early, too many.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # not taken this time; try again later
    REFUSED = "refused"  # will never be taken as it is: the message is dead at once


@dataclass(frozen=True)
class Delivery:
    """One try's answer: the verdict, the receiver's status (HTTP or SMTP code; None when no
    answer came) and a line for the delivery log."""

    verdict: Verdict
    status_code: int | None = None
    detail: str = ""


class SmsGateway(Protocol):
    def send_sms(self, *, to: str, text: str, idempotency_key: str) -> Delivery: ...


class EmailSender(Protocol):
    def send_email(self, *, to: str, subject: str, text: str, idempotency_key: str) -> Delivery: ...


class WebhookSender(Protocol):
    def post_event(self, *, event: str, payload: Mapping[str, Any], idempotency_key: str) -> Delivery: ...


# ----- signatures (outgoing webhooks and incoming updates share them) ----------------------------


def signature(secret: str, timestamp: str, key: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + key + "." + body``: the time and
    the idempotency key are inside the signed bytes, so a captured request can be sent again
    neither later nor under another key (which would make it a new update)."""
    signed = timestamp.encode("ascii") + b"." + key.encode("utf-8", "surrogateescape") + b"." + body
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def signature_matches(secret: str, timestamp: str, key: str, body: bytes, given: str) -> bool:
    if not timestamp.isascii():
        return False
    # compare_digest takes the same time whatever prefix matches, so the HMAC cannot be guessed
    # byte by byte from response times.
    return hmac.compare_digest(
        signature(secret, timestamp, key, body).encode(), given.strip().encode("utf-8")
    )


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes signed and sent: compact, keys sorted, UTF-8 (Chinese left readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


# ----- what an answer means -----------------------------------------------------------------------


def http_verdict(status_code: int, *, conflict_means_delivered: bool = False) -> Verdict:
    if 200 <= status_code < 300:
        return Verdict.SENT
    if status_code == 409 and conflict_means_delivered:
        return Verdict.SENT
    if 400 <= status_code < 500 and status_code not in RETRYABLE_4XX:
        return Verdict.REFUSED
    # 5xx, the "not now" 4xx, and 1xx/3xx (a redirect is a setting to fix, not a refusal).
    return Verdict.RETRY


def _answer_text(response: httpx.Response) -> str:
    text = response.text.strip().replace("\r", " ").replace("\n", " ")
    reason = response.reason_phrase or ""
    return f"{response.status_code} {reason}: {text}"[:DETAIL_LIMIT].rstrip(": ")


def _http_delivery(response: httpx.Response, *, conflict_means_delivered: bool = False) -> Delivery:
    verdict = http_verdict(response.status_code, conflict_means_delivered=conflict_means_delivered)
    return Delivery(verdict, response.status_code, _answer_text(response))


def _no_answer(exc: httpx.HTTPError, timeout: float) -> Delivery:
    if isinstance(exc, httpx.TimeoutException):
        return Delivery(Verdict.RETRY, None, f"no answer within {timeout:g} s ({type(exc).__name__})")
    return Delivery(Verdict.RETRY, None, f"{type(exc).__name__}: {exc}"[:DETAIL_LIMIT])


# ----- the real implementations -------------------------------------------------------------------


class HttpSmsGateway:
    """An SMS gateway reached over HTTP with a bearer key (the wire format is in the module's
    docstring). ``transport`` is for tests that answer without a network."""

    def __init__(self, settings: SmsSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        headers = {"User-Agent": USER_AGENT}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._client = httpx.Client(
            timeout=settings.timeout_seconds, headers=headers, transport=transport, follow_redirects=False
        )

    def send_sms(self, *, to: str, text: str, idempotency_key: str) -> Delivery:
        body = {"to": to, "text": text, "sender": self.settings.sender}
        try:
            response = self._client.post(
                self.settings.gateway_url, json=body, headers={"Idempotency-Key": idempotency_key}
            )
        except httpx.HTTPError as exc:
            return _no_answer(exc, self.settings.timeout_seconds)
        return _http_delivery(response)

    def close(self) -> None:
        self._client.close()


class HttpWebhookSender:
    """One outside system's receiver: the payload POSTed and signed with its secret."""

    def __init__(
        self,
        hook: WebhookSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hook = hook
        self.timeout = hook.timeout_seconds if timeout is None else timeout
        self._clock = clock  # Unix seconds; tests pass an old clock to see a stale signature refused
        self._client = httpx.Client(
            timeout=timeout, headers={"User-Agent": USER_AGENT}, transport=transport, follow_redirects=False
        )

    def post_event(self, *, event: str, payload: Mapping[str, Any], idempotency_key: str) -> Delivery:
        body = payload_bytes(payload)
        # Signed at each try: a retry hours later must still fall inside the receiver's window.
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Hotline-Event": event,
            "Idempotency-Key": idempotency_key,
            "X-Hotline-Timestamp": timestamp,
            "X-Hotline-Signature": signature(self.hook.secret, timestamp, idempotency_key, body),
        }
        try:
            response = self._client.post(str(self.hook.url), content=body, headers=headers)
        except httpx.HTTPError as exc:
            return _no_answer(exc, self.timeout)
        return _http_delivery(response, conflict_means_delivered=True)

    def close(self) -> None:
        self._client.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def smtp_verdict(code: int | None, *, about_this_message: bool) -> Verdict:
    """5xx about this message (its recipient, its content) is final; anything about the server
    or our account (login, sender, greeting) is a setting to fix, so it is tried again."""
    if code is not None and 500 <= code < 600 and about_this_message:
        return Verdict.REFUSED
    return Verdict.RETRY


class SmtpEmailSender:
    """Plain-text mail through one SMTP server (a connection per message: the outbox sends few)."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def _message(self, *, to: str, subject: str, text: str, idempotency_key: str) -> EmailMessage:
        message = EmailMessage()  # the default policy refuses CR/LF in headers: no header injection
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        domain = self.settings.sender.rpartition("@")[2] or "localhost"
        digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
        message["Message-ID"] = f"<outbox.{digest}@{domain}>"
        message.set_content(text)
        return message

    def send_email(self, *, to: str, subject: str, text: str, idempotency_key: str) -> Delivery:
        s = self.settings
        try:
            message = self._message(to=to, subject=subject, text=text, idempotency_key=idempotency_key)
        except ValueError as exc:  # a header with a line break, an address the library cannot write
            return Delivery(Verdict.REFUSED, None, f"cannot write this message: {exc}"[:DETAIL_LIMIT])
        if s.username and not s.starttls and not _is_loopback(s.smtp_host):
            # The password would cross the network in the clear; fix the settings, then retry.
            return Delivery(Verdict.RETRY, None, "cases.email: a login needs starttls = true off this host")
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_seconds)
        except (OSError, smtplib.SMTPException) as exc:
            where = f"{s.smtp_host}:{s.smtp_port}"
            return Delivery(Verdict.RETRY, None, f"cannot reach {where}: {exc}"[:DETAIL_LIMIT])
        try:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()), (None, b""))
            verdict = smtp_verdict(code, about_this_message=True)
            return Delivery(verdict, code, f"recipient refused: {code} {_said(reason)}"[:DETAIL_LIMIT])
        except smtplib.SMTPResponseException as exc:
            about_message = isinstance(exc, smtplib.SMTPDataError)
            verdict = smtp_verdict(exc.smtp_code, about_this_message=about_message)
            return Delivery(verdict, exc.smtp_code, f"{exc.smtp_code} {_said(exc.smtp_error)}"[:DETAIL_LIMIT])
        except (OSError, smtplib.SMTPException) as exc:
            return Delivery(Verdict.RETRY, None, f"{type(exc).__name__}: {exc}"[:DETAIL_LIMIT])
        finally:
            _quietly_quit(smtp)
        return Delivery(Verdict.SENT, 250, f"accepted by {s.smtp_host}")


def _said(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _quietly_quit(smtp: smtplib.SMTP) -> None:
    # Once DATA was accepted the message is sent: a failed QUIT must not turn it into a retry
    # (that would send it twice), so errors here are dropped.
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


# ----- the set a worker uses -----------------------------------------------------------------------


class Gateways:
    """What one outbox run may send through; a channel left None has no gateway configured."""

    def __init__(
        self,
        *,
        sms: SmsGateway | None = None,
        email: EmailSender | None = None,
        webhooks: Mapping[str, WebhookSender] | None = None,
    ) -> None:
        self.sms = sms
        self.email = email
        self.webhooks = dict(webhooks or {})

    @classmethod
    def from_settings(cls, cases: CaseSettings) -> Gateways:
        return cls(
            sms=HttpSmsGateway(cases.sms) if cases.sms.gateway_url else None,
            email=SmtpEmailSender(cases.email) if cases.email.smtp_host else None,
            webhooks={hook.name: HttpWebhookSender(hook) for hook in cases.webhooks},
        )

    def close(self) -> None:
        for sender in (self.sms, self.email, *self.webhooks.values()):
            close = getattr(sender, "close", None)
            if close is not None:
                close()


def configured(cases: CaseSettings, channel: str, recipient: str) -> bool:
    """Whether the settings name a way out for this channel (else its messages are held)."""
    if channel == "sms":
        return bool(cases.sms.gateway_url)
    if channel == "email":
        return bool(cases.email.smtp_host)
    if channel == "webhook":
        return any(hook.name == recipient for hook in cases.webhooks)
    return False
