"""Settings of the case side: time limits, timers, the calendar, and the outside systems.

Kept apart from ``hotline.settings`` (which composes them) so that file stays about telephony.
Categories, departments and routing rules are data an administrator edits, so they live in the
database (seeded from ``case_bridge/defaults.toml``); what is here is what a site sets once.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

SLUG_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarYearSettings(_Section):
    """One year's holiday notice, for a year not shipped yet or to correct a shipped one."""

    year: int = Field(ge=2000, le=2100)
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = Field((), description="Make-up working days (调休) on weekends")
    source: str = ""


class WebhookSettings(_Section):
    """An outside system told of case events (e.g. the city grid platform), signed with HMAC."""

    name: str = Field(pattern=SLUG_PATTERN)
    url: HttpUrl
    secret: str = Field(min_length=16, description="Shared HMAC-SHA256 key; also signs its updates to us")
    events: tuple[str, ...] = Field((), description="Event names to send; empty: every case event")
    accepts_updates: bool = Field(False, description="May post status updates back to us")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="How long to wait for its answer")


class SmsSettings(_Section):
    gateway_url: str = Field("", description="HTTP SMS gateway; empty: SMS are not sent (kept in the outbox)")
    api_key: str = ""
    sender: str = Field("12345", max_length=20)
    timeout_seconds: float = Field(10.0, gt=0, le=120)


class EmailSettings(_Section):
    smtp_host: str = Field("", description="SMTP server; empty: e-mails are not sent (kept in the outbox)")
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str = ""
    password: str = ""
    sender: str = "12345@localhost"
    timeout_seconds: float = Field(10.0, gt=0, le=120)


class OutboxSettings(_Section):
    max_attempts: int = Field(12, ge=1, le=100, description="Deliveries tried before a message is dead")
    first_retry_seconds: float = Field(5.0, gt=0, le=3600)
    max_retry_seconds: float = Field(3600.0, gt=0, le=86400)
    every_seconds: float = Field(5.0, gt=0, le=3600, description="How often due messages are looked for")


class Open311Settings(_Section):
    enabled: bool = True
    jurisdiction_id: str = Field("", description="Empty: any jurisdiction_id (or none) is accepted")
    default_department: str = Field("", description="Where requests of unrouted services go")


class CaseSettings(_Section):
    sign_for_days: int = Field(1, ge=1, le=30, description="Working days a department has to sign for a case")
    timer_every_seconds: float = Field(
        60.0, gt=0, le=3600, description="How often deadlines are checked (warn, overdue, escalate)"
    )
    escalate_after_hours: float = Field(
        0.0, ge=0, le=720, description="Hours overdue before the supervisor is pressed; 0: at once"
    )
    voicemail_cases: bool = Field(True, description="A voicemail left after hours becomes a case")
    duplicate_window_days: int = Field(30, ge=1, le=365, description="How far back duplicates are looked for")
    calendar: tuple[CalendarYearSettings, ...] = ()
    default_urgency: Literal["normal", "urgent"] = "normal"
    hotline_emails: tuple[str, ...] = Field(
        (), description="The hotline's own staff told of replies, overdue cases and escalations"
    )
    hotline_sms: tuple[str, ...] = Field((), description="Mobile numbers pressed when a case is escalated")
    citizen_sms: bool = Field(
        True, description="Text callers on mobile numbers when their case is replied/closed"
    )
    sms: SmsSettings = SmsSettings()
    email: EmailSettings = EmailSettings()
    outbox: OutboxSettings = OutboxSettings()
    webhooks: tuple[WebhookSettings, ...] = ()
    open311: Open311Settings = Open311Settings()

    @model_validator(mode="after")
    def _unique(self) -> CaseSettings:
        years = [year.year for year in self.calendar]
        if len(set(years)) != len(years):
            raise ValueError("cases.calendar: each year once")
        names = [hook.name for hook in self.webhooks]
        if len(set(names)) != len(names):
            raise ValueError("cases.webhooks: names must be unique")
        return self
