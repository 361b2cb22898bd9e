"""The one typed settings object that drives the whole platform.

Settings come from a TOML file (``hotline.toml`` by default, or the path in ``HOTLINE_CONFIG``)
overlaid with environment variables named ``HOTLINE__SECTION__KEY`` (double underscores separate
levels, e.g. ``HOTLINE__DATABASE__URL``). A bad value stops the platform at start with a message
that names the key and says how to fix it, rather than failing later inside Asterisk.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hotline.case_settings import CaseSettings

ENV_PREFIX = "HOTLINE__"
DEFAULT_CONFIG_FILE = "hotline.toml"

# Names that end up inside Asterisk config sections, dialplan labels and AMI actions: kept to a
# conservative alphabet so no setting can smuggle syntax into a generated file.
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
DIGITS_PATTERN = r"^[0-9]{1,20}$"


class SettingsError(Exception):
    """Settings are unusable; the message names every offending key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    name: str = Field("12345 政务服务便民热线", description="Shown in the web pages")
    hotline_number: str = Field("12345", pattern=DIGITS_PATTERN)
    timezone: str = "Asia/Shanghai"
    language: Literal["zh-CN", "en"] = "zh-CN"
    state_dir: Path = Field(Path("var"), description="Runtime files: database, Asterisk, prompts")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseSettings(_Section):
    url: str = Field("", description="SQLAlchemy URL; empty means SQLite in state_dir")

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        return value


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    managed: bool = Field(
        True, description="The platform starts its own redis-server at url's host:port (one machine)"
    )

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "unix://")):
            raise ValueError("a redis:// (or unix://) URL, e.g. redis://127.0.0.1:6379/0")
        return value


class AsteriskSettings(_Section):
    runtime: Literal["auto", "system", "chroot"] = Field(
        "auto", description="auto: a system Asterisk >= 20 if installed, else the Debian sid chroot"
    )
    chroot_dir: Path = Path("/var/lib/hotline/asterisk-root")
    debian_mirror: str = Field("", description="Mirror for the chroot; empty: the host's apt source")
    instance: str = Field("main", pattern=NAME_PATTERN)
    bind_address: str = "127.0.0.1"
    sip_port: int = Field(5060, ge=1, le=65535)
    ami_port: int = Field(5038, ge=1, le=65535)
    http_port: int = Field(8088, ge=1, le=65535)
    rtp_start: int = Field(10000, ge=1024, le=65535)
    rtp_end: int = Field(10999, ge=1024, le=65535)
    ami_user: str = Field("hotline", pattern=NAME_PATTERN)
    rtp_timeout: int = Field(
        60, ge=5, le=3600, description="Seconds without RTP before a call counts as dead (no BYE came)"
    )
    rtp_timeout_hold: int = Field(600, ge=5, le=7200, description="The same while the call is on hold")
    dahdi_hardware: bool = Field(False, description="DAHDI E1 cards installed: load chan_dahdi")
    # A secret file is generated on first start; settings never hold the secret itself.

    @field_validator("bind_address")
    @classmethod
    def _ip(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @model_validator(mode="after")
    def _rtp_range(self) -> AsteriskSettings:
        if self.rtp_end - self.rtp_start < 20:
            raise ValueError("rtp_end must be at least 20 above rtp_start (two ports per call)")
        return self


class AgiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(4573, ge=1, le=65535)
    header_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for agi_* headers")
    # A flow waiting on Asterisk (a prompt playing, a message recording) is working; a flow that
    # sends nothing is stuck. So the tight limit is on our silence, the loose one on the whole flow.
    idle_timeout: float = Field(
        10.0, gt=0, le=600, description="Longest our flow code may go without an AGI command in flight"
    )
    max_flow_seconds: float = Field(
        900.0, gt=0, le=7200, description="Longest any call may stay in the IVR before it is queued"
    )
    watchdog_grace: float = Field(5.0, gt=0, le=600, description="Extra time before the AMI watchdog acts")


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="web processes sharing the port; one Python process uses one core, so a busy "
        "site runs about one per core (they keep no state of their own: see ARCHITECTURE)",
    )


class TrunkSettings(_Section):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["sip"] = "sip"
    host: str
    port: int = Field(5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    max_channels: int = Field(90, ge=1, le=10000)
    codecs: tuple[str, ...] = ("alaw", "ulaw")
    flow: str = Field("", description="IVR flow for calls on this trunk; empty: ivr.flow")
    ivr_mode: Literal["fastagi", "classic_agi", "dialplan"] = Field(
        "fastagi",
        description="fastagi: the flow engine over FastAGI; classic_agi: the same flow as a process "
        "per call (pyst2); dialplan: greeting and main queue in pure dialplan, no Python at all",
    )

    @field_validator("flow")
    @classmethod
    def _flow_name(cls, value: str) -> str:
        if value and not re.fullmatch(NAME_PATTERN, value):
            raise ValueError("a flow name is lower-case letters, digits, '_' or '-'")
        return value

    @field_validator("host")
    @classmethod
    def _ip_only(cls, value: str) -> str:
        # Trunks are identified by source IP and port; a host name would be resolved once at
        # load time and silently go stale, so only literal addresses are accepted.
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ValueError("a trunk host must be an IP address (trunks are matched by IP:port)") from exc
        return value

    @field_validator("codecs")
    @classmethod
    def _known_codecs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        allowed = {"alaw", "ulaw", "g722", "gsm", "opus", "g729"}
        unknown = [c for c in value if c not in allowed]
        if unknown or not value:
            raise ValueError(f"codecs must be a non-empty subset of {sorted(allowed)}")
        return value


class E1SpanSettings(_Section):
    """One 30B+D E1 span (ISDN PRI, Q.931 over the D channel on timeslot 16)."""

    span: int = Field(ge=1, le=64)
    timing: int = Field(1, ge=0, le=64, description="0: never use this span as clock source")
    framing: Literal["ccs"] = "ccs"
    coding: Literal["hdb3"] = "hdb3"
    crc4: bool = True
    signalling: Literal["pri_cpe", "pri_net"] = "pri_cpe"
    switchtype: Literal["euroisdn", "national"] = "euroisdn"


class CapacitySettings(_Section):
    channels: int = Field(90, ge=1, le=10000, description="Simultaneous inbound calls in the IVR/queues")
    overflow: Literal["busy", "announcement"] = "announcement"


class QueueSettings(_Section):
    name: str = Field(pattern=NAME_PATTERN)
    title: str = ""
    strategy: Literal["ringall", "leastrecent", "fewestcalls", "rrmemory", "linear", "random"] = "rrmemory"
    timeout: int = Field(15, ge=1, le=600, description="Seconds an agent's phone rings")
    retry: int = Field(2, ge=0, le=60)
    wrapup_time: int = Field(10, ge=0, le=3600, description="Seconds of wrap-up after a call; 0: none")
    wrapup_until_done: bool = Field(False, description="Wrap-up lasts until the agent says done")

    @property
    def wrapup_seconds(self) -> int | None:
        """The seat machine's wrap-up: None until the agent is done, 0 none, n at most n seconds."""
        return None if self.wrapup_until_done else self.wrapup_time

    service_level: int = Field(15, ge=1, le=3600, description="Answer-within target in seconds")
    max_wait: int = Field(0, ge=0, le=7200, description="0: wait for ever")
    max_callers: int = Field(0, ge=0, le=10000)
    overflow_flow: str = Field(
        "queue_overflow",
        pattern=NAME_PATTERN,
        description="IVR flow for a caller nobody answered within max_wait, or who found the queue full",
    )


class SeatSettings(_Section):
    """A fixed SIP seat (desk phone or test agent) reached at a known address.

    Web softphone seats come from the database (agents); these cover desk phones and the test suite.
    The PJSIP endpoint is named ``seat<extension>``.
    """

    extension: str = Field(pattern=r"^[0-9]{2,8}$")
    contact: str = Field(description="Where the phone listens, host:port (an IP address)")
    queues: tuple[str, ...] = ("main",)
    penalty: int = Field(0, ge=0, le=100)

    @field_validator("contact")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        try:
            ipaddress.ip_address(host)
        except ValueError as exc:
            raise ValueError("contact must be IP:port, e.g. 127.0.0.1:5071") from exc
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("contact must end with a port number, e.g. :5071")
        return value

    @property
    def endpoint(self) -> str:
        return f"seat{self.extension}"


class LabelSettings(_Section):
    """A code the platform stores, with what people see in each language."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    zh: str = Field(min_length=1, max_length=32)
    en: str = Field(min_length=1, max_length=48)


def _labels(*items: tuple[str, str, str]) -> tuple[LabelSettings, ...]:
    return tuple(LabelSettings(code=c, zh=z, en=e) for c, z, e in items)


class AgentSettings(_Section):
    """The web seats: what agents pick from, and how their softphones reach Asterisk."""

    pause_reasons: tuple[LabelSettings, ...] = _labels(
        ("meal", "就餐", "Meal"),
        ("break", "小休", "Short break"),
        ("training", "培训", "Training"),
        ("meeting", "会议", "Meeting"),
        ("coaching", "质检辅导", "Coaching"),
        ("case_work", "工单处理", "Case follow-up"),
    )
    dispositions: tuple[LabelSettings, ...] = _labels(
        ("resolved", "当场解答", "Answered on the call"),
        ("case_created", "已建工单", "Case created"),
        ("transferred", "已转接", "Transferred"),
        ("consultation", "咨询", "Enquiry"),
        ("nuisance", "骚扰电话", "Nuisance call"),
        ("silent", "无声电话", "Silent call"),
        ("other", "其他", "Other"),
    )
    softphone_ws_url: str = Field(
        "", description="Where browsers reach Asterisk's SIP websocket; empty: ws://bind_address:http_port/ws"
    )
    external_prefix: str = Field("9", pattern=r"^[0-9]{1,3}$", description="Dialled before an outside number")
    full_numbers_for_agents: bool = Field(
        True, description="Agents see the full number of the caller they talk to (others see it masked)"
    )

    @model_validator(mode="after")
    def _unique(self) -> AgentSettings:
        for name in ("pause_reasons", "dispositions"):
            codes = [item.code for item in getattr(self, name)]
            if len(set(codes)) != len(codes):
                raise ValueError(f"{name}: codes must be unique")
        if "wrapup" in (r.code for r in self.pause_reasons):
            raise ValueError("pause_reasons: 'wrapup' is reserved for wrap-up after a call")
        return self


class BusinessHoursSettings(_Section):
    """When agents answer. A 7x24 hotline keeps the default of always open."""

    always_open: bool = True
    weekdays: tuple[int, ...] = Field((1, 2, 3, 4, 5), description="ISO weekdays, 1=Monday")
    open_at: time = time(8, 30)
    close_at: time = time(17, 30)
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = Field((), description="Make-up working days (调休) on weekends")

    @field_validator("weekdays")
    @classmethod
    def _iso(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 or d > 7 for d in value):
            raise ValueError("weekdays are ISO numbers 1 (Monday) to 7 (Sunday)")
        return value

    @model_validator(mode="after")
    def _order(self) -> BusinessHoursSettings:
        if self.open_at >= self.close_at:
            raise ValueError("open_at must be before close_at")
        return self


class IvrSettings(_Section):
    flow: str = Field("default_12345", pattern=NAME_PATTERN)
    flows_dir: Path = Field(Path(""), description="Extra flow files; empty: only the shipped flows")
    prompts_dir: Path = Field(Path(""), description="Recorded prompts that replace generated ones")
    features: tuple[str, ...] = Field((), description="Optional flow branches, e.g. self_service")
    step_modules: tuple[str, ...] = Field(
        (), description="Python modules with a site's own @flow_step functions, imported at start"
    )

    @field_validator("step_modules")
    @classmethod
    def _module_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
                raise ValueError(f"{name!r} is not a Python module name")
        return value

    main_queue: str = Field("main", pattern=NAME_PATTERN)


class RetentionSettings(_Section):
    """Days each kind of recording is kept; 0 keeps it for ever. A legal hold overrides these."""

    call: int = Field(730, ge=0, le=36500)
    voicemail: int = Field(365, ge=0, le=36500)
    survey: int = Field(365, ge=0, le=36500)


class RecordingSettings(_Section):
    enabled: bool = Field(True, description="Record every answered call (agent leg and caller leg)")
    archive_format: Literal["opus", "gsm", "wav"] = Field(
        "opus",
        description="The kept copy: opus (Ogg Opus mono mix, ~2.4 MB/hour), gsm (mono mix in WAV, "
        "~5.9 MB/hour, decoded for listening), wav (PCM, caller and agent apart, ~115 MB/hour)",
    )
    keep_pcm: bool = Field(
        False, description="Keep Asterisk's PCM leg files after the transcript is stored (ASR input)"
    )
    min_free_mb: int = Field(
        200, ge=0, le=10_000_000, description="Below this free space a new recording is marked failed"
    )
    retention: RetentionSettings = RetentionSettings()
    agents_hear_own: bool = Field(True, description="Agents may listen to their own calls")
    finalize_grace_seconds: int = Field(
        20, ge=1, le=3600, description="How long a hung-up call's files may stay open before repair"
    )


class KeyPhraseSettings(_Section):
    """A phrase spotted in transcripts: a category (to prefill cases) or an urgent word (alerts)."""

    phrase: str = Field(min_length=1, max_length=64)
    category: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    urgent: bool = False


def _phrases(*items: tuple[str, str, bool]) -> tuple[KeyPhraseSettings, ...]:
    return tuple(KeyPhraseSettings(phrase=p, category=c, urgent=u) for p, c, u in items)


DEFAULT_VOCABULARY = _phrases(
    ("路灯", "street_light", False),
    ("street light", "street_light", False),
    ("停水", "water_outage", False),
    ("water outage", "water_outage", False),
    ("no water", "water_outage", False),
    ("停电", "power_outage", False),
    ("power cut", "power_outage", False),
    ("噪音", "noise", False),
    ("noise", "noise", False),
    ("垃圾", "rubbish", False),
    ("rubbish", "rubbish", False),
    ("井盖", "manhole_cover", False),
    ("manhole", "manhole_cover", False),
    ("欠薪", "unpaid_wages", False),
    ("unpaid wages", "unpaid_wages", False),
    ("火灾", "fire", True),
    ("着火", "fire", True),
    ("fire", "fire", True),
    ("燃气泄漏", "gas_leak", True),
    ("煤气", "gas_leak", True),
    ("gas leak", "gas_leak", True),
)


class AsrSettings(_Section):
    engine: Literal["pocketsphinx", "vosk"] = Field(
        "pocketsphinx",
        description="pocketsphinx ships an English model (works out of the box); vosk needs vosk_model",
    )
    vosk_model: Path = Field(
        Path(""), description="Folder of a Vosk model, e.g. vosk-model-cn-0.22 for Mandarin"
    )
    pocketsphinx_grammar: Literal["general", "vocabulary"] = Field(
        "vocabulary",
        description="general: the shipped en-us language model; vocabulary: the hotline's words "
        "(key phrases plus everyday words), far more accurate on them",
    )
    workers: int = Field(1, ge=0, le=64, description="Transcription worker processes started by make run")
    max_seconds: int = Field(
        1800, ge=10, le=86400, description="Longest a transcription may run before it is retried"
    )
    max_attempts: int = Field(3, ge=1, le=20)
    requeue_after_seconds: int = Field(
        60, ge=1, le=86400, description="A queued transcription not started by then is queued again"
    )
    vocabulary: tuple[KeyPhraseSettings, ...] = DEFAULT_VOCABULARY


class Settings(_Section):
    site: SiteSettings = SiteSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    asterisk: AsteriskSettings = AsteriskSettings()
    agi: AgiSettings = AgiSettings()
    web: WebSettings = WebSettings()
    capacity: CapacitySettings = CapacitySettings()
    business_hours: BusinessHoursSettings = BusinessHoursSettings()
    ivr: IvrSettings = IvrSettings()
    trunks: tuple[TrunkSettings, ...] = (TrunkSettings(name="carrier", host="127.0.0.1", port=5080),)
    e1_spans: tuple[E1SpanSettings, ...] = (
        E1SpanSettings(span=1, timing=1),
        E1SpanSettings(span=2, timing=2),
        E1SpanSettings(span=3, timing=0),
    )
    queues: tuple[QueueSettings, ...] = (QueueSettings(name="main", title="综合受理"),)
    seats: tuple[SeatSettings, ...] = ()
    agents: AgentSettings = AgentSettings()
    recording: RecordingSettings = RecordingSettings()
    asr: AsrSettings = AsrSettings()
    cases: CaseSettings = CaseSettings()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        names = [q.name for q in self.queues]
        if len(set(names)) != len(names):
            raise ValueError("queues: names must be unique")
        if self.ivr.main_queue not in names:
            raise ValueError(f"ivr.main_queue {self.ivr.main_queue!r} is not one of queues {names}")
        trunk_names = [t.name for t in self.trunks]
        if len(set(trunk_names)) != len(trunk_names):
            raise ValueError("trunks: names must be unique")
        endpoints = [(t.host, t.port) for t in self.trunks]
        if len(set(endpoints)) != len(endpoints):
            raise ValueError("trunks: two trunks share one host:port; each must be unique")
        for seat in self.seats:
            missing = [q for q in seat.queues if q not in names]
            if missing:
                raise ValueError(f"seats: {seat.extension} names unknown queues {missing}")
        extensions = [seat.extension for seat in self.seats]
        if len(set(extensions)) != len(extensions):
            raise ValueError("seats: extensions must be unique")
        prefix = self.agents.external_prefix
        for extension in extensions:
            if extension.startswith(prefix):
                raise ValueError(f"seats: {extension} starts with agents.external_prefix {prefix!r}")
        spans = [s.span for s in self.e1_spans]
        if len(set(spans)) != len(spans):
            raise ValueError("e1_spans: span numbers must be unique")
        a = self.asterisk
        ports = {
            "asterisk.sip_port": a.sip_port,
            "asterisk.ami_port": a.ami_port,
            "asterisk.http_port": a.http_port,
            "agi.port": self.agi.port,
            "web.port": self.web.port,
        }
        for trunk in self.trunks:
            if trunk.host in ("127.0.0.1", a.bind_address) and trunk.port == a.sip_port:
                raise ValueError(
                    f"trunks: {trunk.name} uses Asterisk's own SIP port {a.sip_port}; "
                    "a trunk peer must send from another port"
                )
        seen: dict[int, str] = {}
        for key, port in ports.items():
            if port in seen:
                raise ValueError(f"{key} and {seen[port]} are both {port}; give each its own port")
            seen[port] = key
            if a.rtp_start <= port <= a.rtp_end:
                raise ValueError(f"{key} {port} lies inside the RTP range {a.rtp_start}-{a.rtp_end}")
        return self

    # Derived paths: one place decides the layout of state_dir.
    @property
    def state_dir(self) -> Path:
        return self.site.state_dir.resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.state_dir / 'hotline.db'}"

    def queue(self, name: str) -> QueueSettings:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Turn HOTLINE__A__B=value into {"a": {"b": value}}; JSON values are decoded when they parse."""
    tree: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        value: Any = raw
        # Only structures and quoted strings are taken from JSON: a bare number or true/false stays
        # text, which pydantic converts for number fields and keeps for string ones (a hotline
        # number such as 12345 must stay a string).
        with contextlib.suppress(ValueError):
            decoded = json.loads(raw)
            if isinstance(decoded, dict | list | str):
                value = decoded
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SettingsError(f"environment {key}: {part} is not a section")
        node[parts[-1]] = value
    return tree


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: Mapping[str, Any], source: str) -> str:
    loc = ".".join(str(p) for p in error["loc"] if not re.fullmatch(r"function-after\[.*\]", str(p)))
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        msg = "unknown key; check its spelling against hotline.example.toml"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or error["type"] == "extra_forbidden" else f" (got {got!r})"
    return f"  {loc or '(top level)'}: {msg}{shown}  [{source}]"


def load_settings(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings file and environment; raise SettingsError naming each bad key."""
    environ = os.environ if environ is None else environ
    named = path is not None
    if path is None:
        path = environ.get("HOTLINE_CONFIG", DEFAULT_CONFIG_FILE)
    path = Path(path)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    elif named:
        raise SettingsError(f"the settings file {path} does not exist")
    elif "HOTLINE_CONFIG" in environ:
        raise SettingsError(f"HOTLINE_CONFIG names {path}, which does not exist")
    data = _merge(data, _env_overrides(environ))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e, str(path) if path.exists() else "defaults/environment") for e in exc.errors()]
        raise SettingsError(
            "The settings cannot be used; fix these keys in "
            f"{path} (or the matching {ENV_PREFIX}SECTION__KEY variable):\n" + "\n".join(lines)
        ) from None
