"""The Docker files (docker/) checked against the code, without Docker.

Neither CI nor the developers' machines run Docker, so nothing else would notice when a setting,
a CLI command or a path changes under the compose stack. These tests read compose.yaml (PyYAML),
the Dockerfiles and the entry point as text and compare them with the platform's own settings
loader, CLI parser and state-directory layout.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from asterisk_conf.layout import InstanceLayout
from hotline.cli import COMPONENTS, build_parser
from hotline.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENTRYPOINT = DOCKER / "entrypoint.sh"
PLATFORM_DOCKERFILE = DOCKER / "Dockerfile.platform"
ASTERISK_DOCKERFILE = DOCKER / "Dockerfile.asterisk"
STATE_VOLUME = "hotline-state"
# What an operator puts into docker/.env; the stack refuses to start without the password.
DOTENV = {"POSTGRES_PASSWORD": "test-password"}
# Environment variables the platform reads besides HOTLINE__SECTION__KEY.
PLAIN_VARIABLES = {"HOTLINE_CONFIG", "HOTLINE_LOG_LEVEL"}


# ----- reading the files -------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if name is None:
            return "$"
        value = env.get(name)
        if op in (":-", ":?") and not value:
            value = None
        if value is not None:
            return value
        if op in (":?", "?"):
            raise KeyError(f"{name} is required: {arg}")
        return arg if op in (":-", "-") else ""

    return _VARIABLE.sub(replace, text)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, env) for key, value in node.items()}
    return node


@cache
def compose_raw() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    result = _interpolated(compose_raw(), DOTENV if env is None else env)
    assert isinstance(result, dict)
    return result


def services() -> dict[str, dict[str, Any]]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def mounts(service: Mapping[str, Any]) -> list[Mount]:
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            source, target, *mode = entry.split(":")
            result.append(Mount(source, target, "ro" in "".join(mode).split(",")))
        else:
            result.append(Mount(entry.get("source", ""), entry["target"], bool(entry.get("read_only"))))
    return result


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def words(self) -> list[str]:
        """Shell-form words, or the JSON array of the exec form."""
        text = self.args.strip()
        if text.startswith("["):
            value = json.loads(text)
            assert isinstance(value, list)
            return [str(v) for v in value]
        return shlex.split(text)


@cache
def dockerfile(path: Path) -> tuple[Instruction, ...]:
    """Instructions with continuation lines joined and comments dropped, as Docker reads them."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{path.name}: a continuation line runs off the end"
    return tuple(instructions)


def final_stage(path: Path) -> list[Instruction]:
    instructions = list(dockerfile(path))
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def split_flags(words: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        flags[name] = value
    return flags, words


def healthcheck_command(instructions: list[Instruction]) -> list[str]:
    (check,) = [ins for ins in instructions if ins.keyword == "HEALTHCHECK"]
    match = re.fullmatch(r"(?:--\S+\s+)*CMD\s+(.*)", check.args, re.S)
    assert match is not None, "HEALTHCHECK must run a command"
    return Instruction("CMD", match.group(1)).words()


def last(instructions: list[Instruction], keyword: str) -> list[str]:
    return [ins for ins in instructions if ins.keyword == keyword][-1].words()


def arg_default(path: Path, name: str) -> str:
    values = {
        ins.args.partition("=")[2]
        for ins in dockerfile(path)
        if ins.keyword == "ARG" and ins.args.partition("=")[0] == name
    }
    assert len(values) == 1, f"{path.name}: ARG {name} must have one default, found {values}"
    return values.pop()


def exposed(path: Path) -> set[tuple[int, int, str]]:
    """EXPOSE entries as (first port, last port, protocol)."""
    result = set()
    for ins in dockerfile(path):
        if ins.keyword == "EXPOSE":
            result |= {_port_range(word) for word in ins.words()}
    return result


def _port_range(text: str) -> tuple[int, int, str]:
    ports, _, proto = text.partition("/")
    first, _, end = ports.partition("-")
    return int(first), int(end or first), proto or "tcp"


def published(service: Mapping[str, Any]) -> set[tuple[int, int, str]]:
    """Container-side ports of a service's `ports:` (short or long syntax)."""
    result = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            result.add(_port_range(f"{entry['target']}/{entry.get('protocol', 'tcp')}"))
        else:
            result.add(_port_range(str(entry).rsplit(":", 1)[-1]))
    return result


def entrypoint_modes() -> dict[str, str]:
    """The `case` branches of docker/entrypoint.sh: mode -> its body."""
    text = ENTRYPOINT.read_text(encoding="utf-8")
    body = text[text.index('case "${1:-}" in') : text.index("esac")]
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w+|\*)\)\n(.*?)^\s*;;", body, re.M | re.S)}


def python_snippets(text: str) -> list[str]:
    return re.findall(r"<<'PY'\n(.*?)^PY$", text, re.M | re.S)


def hotline_lines(text: str) -> list[list[str]]:
    return [shlex.split(line)[1:] for line in text.splitlines() if line.strip().startswith("hotline ")]


# ----- the services and the settings they run with -----------------------------------------------
def platform_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in services().items()
        if svc.get("build", {}).get("dockerfile", "").endswith("Dockerfile.platform")
    }


def settings_for(service: Mapping[str, Any]) -> Settings:
    """Load the settings exactly as the container would: its HOTLINE_CONFIG and its environment."""
    env = environment(service)
    target = env["HOTLINE_CONFIG"]
    (mount,) = [m for m in mounts(service) if m.target == target]
    assert mount.read_only, f"{target} should be mounted read-only"
    local = (COMPOSE.parent / mount.source).resolve()
    return load_settings(local, env)


@cache
def docker_settings() -> Settings:
    return settings_for(services()["web"])


def test_every_platform_service_loads_the_docker_settings() -> None:
    platform = platform_services()
    assert set(platform) >= {"migrate", "agi", "tracker", "web"}
    loaded = {name: settings_for(svc) for name, svc in platform.items()}
    # One configuration for the whole stack: no service sees different settings.
    assert len({s.model_dump_json() for s in loaded.values()}) == 1
    settings = docker_settings()
    assert settings.asterisk.runtime == "system", "the containers must never build the chroot runtime"
    assert make_url(settings.database_url).drivername == "postgresql+psycopg"
    assert str(settings.site.state_dir) == "/var/lib/hotline"


def test_image_default_config_is_the_docker_settings_file() -> None:
    final = final_stage(PLATFORM_DOCKERFILE)
    env_words = " ".join(ins.args for ins in final if ins.keyword == "ENV")
    assert "HOTLINE_CONFIG=/etc/hotline/hotline.toml" in env_words
    copies = [split_flags(ins.words())[1] for ins in final if ins.keyword == "COPY"]
    assert ["docker/hotline.docker.toml", "/etc/hotline/hotline.toml"] in copies
    for svc in platform_services().values():
        assert environment(svc)["HOTLINE_CONFIG"] == "/etc/hotline/hotline.toml"


def test_every_hotline_variable_names_a_settings_key() -> None:
    settings_file = DOCKER / "hotline.docker.toml"
    for name, svc in platform_services().items():
        for key, value in environment(svc).items():
            if not key.startswith("HOTLINE"):
                continue
            if not key.startswith("HOTLINE__"):
                assert key in PLAIN_VARIABLES, f"{name}: {key} is neither HOTLINE__SECTION__KEY nor known"
                continue
            # load_settings rejects unknown keys; loading with this one variable proves it exists...
            loaded = load_settings(settings_file, {key: value})
            # ...and reading it back proves it landed where its name says.
            node: Any = loaded
            for part in key.removeprefix("HOTLINE__").lower().split("__"):
                node = getattr(node, part)
            assert str(node) == value, f"{name}: {key}={value!r} read back as {node!r}"


def test_plain_variables_are_read_by_the_code() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "hotline").glob("*.py"))
    for name in PLAIN_VARIABLES:
        assert f'"{name}"' in sources, f"nothing in hotline/ reads {name}"


def test_a_misspelt_variable_is_rejected() -> None:
    """The check above relies on this: an unknown key must fail to load, not be ignored."""
    with pytest.raises(SettingsError, match="unknown key"):
        load_settings(DOCKER / "hotline.docker.toml", {"HOTLINE__DATABASE__URI": "sqlite://"})


def test_the_database_password_is_required_and_matches_postgres() -> None:
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        compose({})
    pg = services()["postgres"]["environment"]
    url = make_url(docker_settings().database_url)
    assert url.password == pg["POSTGRES_PASSWORD"] == DOTENV["POSTGRES_PASSWORD"]
    assert url.username == pg["POSTGRES_USER"]
    assert url.database == pg["POSTGRES_DB"]


def test_the_sip_address_comes_from_dotenv() -> None:
    env = {**DOTENV, "HOTLINE_SIP_ADDRESS": "198.51.100.7"}
    web = compose(env)["services"]["web"]
    assert settings_for(web).asterisk.bind_address == "198.51.100.7"
    assert docker_settings().asterisk.bind_address == "127.0.0.1"


# ----- networking and ports ----------------------------------------------------------------------
def _option(words: list[str], flag: str, default: str) -> str:
    """The value after ``flag`` in an argv (``-c key=value`` options are looked up as ``key=``)."""
    if flag.endswith("="):
        values = [w.partition("=")[2] for w in words if w.startswith(flag)]
    else:
        values = [words[i + 1] for i, w in enumerate(words[:-1]) if w == flag]
    return values[-1] if values else default


def test_services_that_talk_to_asterisk_share_its_network() -> None:
    svcs = services()
    assert svcs["asterisk"]["network_mode"] == "host"
    settings = docker_settings()
    for name, svc in platform_services().items():
        mode = svc.get("network_mode")
        assert mode in ("host", "service:asterisk"), f"{name} cannot reach AMI/FastAGI on loopback"
    # Asterisk dials agi://agi.host; with a shared network stack that is loopback.
    assert settings.agi.host == "127.0.0.1"
    for name, svc in svcs.items():
        if svc.get("network_mode") == "host":
            assert not svc.get("ports"), f"{name}: ports are ignored with network_mode: host"


def test_asterisk_ports_agree_with_the_settings() -> None:
    a = docker_settings().asterisk
    sip = {(a.sip_port, a.sip_port, "udp"), (a.sip_port, a.sip_port, "tcp")}
    wanted = sip | {(a.http_port, a.http_port, "tcp"), (a.rtp_start, a.rtp_end, "udp")}
    assert exposed(ASTERISK_DOCKERFILE) == wanted
    asterisk = services()["asterisk"]
    if asterisk.get("network_mode") != "host":  # the documented bridge alternative
        assert published(asterisk) >= wanted - {(a.sip_port, a.sip_port, "tcp")}


def test_platform_ports_agree_with_the_settings() -> None:
    settings = docker_settings()
    assert exposed(PLATFORM_DOCKERFILE) == {(settings.web.port, settings.web.port, "tcp")}


def test_ami_and_fastagi_are_never_published() -> None:
    settings = docker_settings()
    private = {settings.asterisk.ami_port, settings.agi.port}
    for path in (PLATFORM_DOCKERFILE, ASTERISK_DOCKERFILE):
        assert not {p for first, end, _ in exposed(path) for p in range(first, end + 1)} & private
    for name, svc in services().items():
        ports = {p for first, end, _ in published(svc) for p in range(first, end + 1)}
        assert not ports & private, f"{name} publishes AMI or FastAGI"


def test_database_and_redis_urls_agree_with_their_services() -> None:
    settings = docker_settings()
    svcs = services()
    db = make_url(settings.database_url)
    pg_cmd = svcs["postgres"]["command"]
    pg_check = svcs["postgres"]["healthcheck"]["test"]
    assert db.host == _option(pg_cmd, "listen_addresses=", "*") == _option(pg_check, "-h", "")
    assert db.port == int(_option(pg_cmd, "port=", "5432")) == int(_option(pg_check, "-p", "5432"))
    redis_url = make_url(settings.redis.url)
    redis_cmd = svcs["redis"]["command"]
    redis_check = svcs["redis"]["healthcheck"]["test"]
    assert redis_url.host == _option(redis_cmd, "--bind", "*") == _option(redis_check, "-h", "")
    port = redis_url.port or 6379
    assert port == int(_option(redis_cmd, "--port", "6379")) == int(_option(redis_check, "-p", "6379"))


# ----- commands ----------------------------------------------------------------------------------
def parses(argv: list[str], where: str) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `hotline {' '.join(argv)}` is not a hotline command")


def test_every_platform_command_is_a_cli_command() -> None:
    modes = entrypoint_modes()
    assert set(modes) == {"prepare", "health", "*"}
    commands: list[tuple[str, list[str]]] = []
    for name, svc in platform_services().items():
        commands.append((f"compose {name}.command", svc["command"]))
        test = (svc.get("healthcheck") or {}).get("test")
        if test:
            commands.append((f"compose {name}.healthcheck", test[1:]))
    final = final_stage(PLATFORM_DOCKERFILE)
    commands.append(("Dockerfile.platform CMD", last(final, "CMD")))
    commands.append(("Dockerfile.platform HEALTHCHECK", healthcheck_command(final)))
    assert last(final, "ENTRYPOINT") == ["hotline-entrypoint"]
    for where, argv in commands:
        if argv[0] == "hotline":
            parses(argv[1:], where)
        elif argv[0] == "hotline-entrypoint":
            assert argv[1] == "health" and argv[2] in COMPONENTS, where
        else:
            assert argv in (["prepare"],), f"{where}: {argv} is neither hotline nor an entrypoint mode"
    # The one-shot job: migrations and rendering through the CLI, never `hotline install`.
    prepare = hotline_lines(modes["prepare"])
    assert prepare == [["db", "migrate"], ["config", "render"]]
    for argv in prepare:
        parses(argv, "entrypoint.sh prepare")


def test_every_long_running_component_runs() -> None:
    ran = {
        tuple(svc["command"][1:]) for svc in platform_services().values() if svc["command"][0] == "hotline"
    }
    # Redis is compose's own service there, so the platform's managed Redis stays off.
    assert docker_settings().redis.managed is False
    assert ran == {("component", name) for name in COMPONENTS if name != "redis"}


def test_entrypoint_python_imports_exist() -> None:
    snippets = python_snippets(ENTRYPOINT.read_text(encoding="utf-8"))
    assert len(snippets) == 2
    for snippet in snippets:
        for node in ast.walk(ast.parse(snippet)):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
    assert "PromptLibrary(settings, layout).generate(" in snippets[0]


def test_entrypoint_is_executable() -> None:
    assert ENTRYPOINT.stat().st_mode & 0o111
    assert ENTRYPOINT.read_text(encoding="utf-8").startswith("#!/bin/sh\n")


def test_asterisk_starts_from_the_rendered_config() -> None:
    conf = str(InstanceLayout.for_settings(docker_settings()).asterisk_conf)
    final = final_stage(ASTERISK_DOCKERFILE)
    for where, argv in (
        ("compose asterisk.command", services()["asterisk"]["command"]),
        ("Dockerfile.asterisk CMD", last(final, "CMD")),
        ("Dockerfile.asterisk HEALTHCHECK", healthcheck_command(final)),
    ):
        assert argv[0] == "asterisk", where
        assert _option(argv, "-C", "") == conf, f"{where} must read {conf}"
    assert "-f" in services()["asterisk"]["command"], "Asterisk must stay in the foreground"


def test_asterisk_image_installs_the_runtime_packages() -> None:
    from telephony.asterisk_install import PACKAGES

    installs = " ".join(ins.args for ins in dockerfile(ASTERISK_DOCKERFILE) if "apt-get install" in ins.args)
    words = set(installs.split())
    assert {p for p in PACKAGES if p.startswith("asterisk")} <= words


# ----- volumes, users, images ----------------------------------------------------------------------
def test_state_volume_is_mounted_at_state_dir_everywhere() -> None:
    state_dir = str(docker_settings().site.state_dir)
    users = {}
    for name, svc in services().items():
        for mount in mounts(svc):
            if mount.source == STATE_VOLUME:
                users[name] = mount.target
            else:
                assert mount.target != state_dir, f"{name} mounts something else at {state_dir}"
    assert set(users) == {"asterisk", *platform_services()}
    assert set(users.values()) == {state_dir}
    assert STATE_VOLUME in compose()["volumes"]
    for path in (PLATFORM_DOCKERFILE, ASTERISK_DOCKERFILE):
        # The image's directory (owned by the shared user) seeds a new volume's ownership.
        assert f"-o hotline -g hotline -m 0750 {state_dir}" in path.read_text(encoding="utf-8")


def test_both_images_run_as_the_same_unprivileged_user() -> None:
    uid = arg_default(PLATFORM_DOCKERFILE, "HOTLINE_UID")
    assert uid == arg_default(ASTERISK_DOCKERFILE, "HOTLINE_UID")
    assert int(uid) >= 1000
    for path in (PLATFORM_DOCKERFILE, ASTERISK_DOCKERFILE):
        assert last(final_stage(path), "USER") == ["hotline"], f"{path.name} must not run as root"
    # /healthz sees Asterisk through AMI: the web server needs no share of Asterisk's processes.
    assert "pid" not in services()["web"]


def _from_images(path: Path) -> Iterator[str]:
    stages = set()
    for ins in dockerfile(path):
        if ins.keyword == "FROM":
            words = ins.words()
            if words[0] not in stages:
                yield words[0]
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])


def _pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
    return bool(digest) or (bool(tag) and tag != "latest")


def test_base_images_are_pinned_by_tag() -> None:
    images = [*_from_images(PLATFORM_DOCKERFILE), *_from_images(ASTERISK_DOCKERFILE)]
    images += [svc["image"] for svc in services().values() if "build" not in svc]
    for image in images:
        assert _pinned(image), f"{image} is not pinned to a tag (or digest) other than latest"
    # The Python stages on python:3.11-slim-bookworm; the JsSIP bundle is built on Node (assets stage).
    platform_images = list(_from_images(PLATFORM_DOCKERFILE))
    assert platform_images[0].startswith("node:20-bookworm")
    assert all(image.startswith("python:3.11-slim-bookworm") for image in platform_images[1:])
    assert next(_from_images(ASTERISK_DOCKERFILE)).startswith("debian:sid")


def test_python_version_matches_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = project["tool"]["mypy"]["python_version"]
    for image in list(_from_images(PLATFORM_DOCKERFILE))[1:]:  # [0]: the Node assets stage
        assert image.startswith(f"python:{version}-"), image


def test_uv_is_the_bootstrap_version_and_installs_from_the_lock() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    match = re.search(r'^UV_VERSION="([^"]+)"', bootstrap, re.M)
    assert match is not None
    assert arg_default(PLATFORM_DOCKERFILE, "UV_VERSION") == match.group(1)
    runs = [ins.args for ins in dockerfile(PLATFORM_DOCKERFILE) if ins.keyword == "RUN"]
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in runs
    assert "uv sync --frozen --no-dev" in runs


def _build_contexts() -> dict[Path, Path]:
    """Dockerfile -> build context, as compose builds them."""
    contexts = {}
    for svc in services().values():
        build = svc.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            contexts[(context / build["dockerfile"]).resolve()] = context
    return contexts


def test_every_dockerfile_is_built_by_compose() -> None:
    assert set(_build_contexts()) == {p.resolve() for p in DOCKER.glob("Dockerfile.*")}


def test_copy_sources_exist() -> None:
    for path, context in _build_contexts().items():
        for ins in dockerfile(path):
            if ins.keyword not in ("COPY", "ADD"):
                continue
            flags, words = split_flags(ins.words())
            if "from" in flags:
                continue
            for source in words[:-1]:
                assert (context / source).exists(), f"{path.name}: COPY {source} is not in {context}"


def test_the_image_holds_every_project_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {
        split_flags(ins.words())[1][0]
        for ins in dockerfile(PLATFORM_DOCKERFILE)
        if ins.keyword == "COPY" and not ins.args.startswith("--")
    }
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_dependencies_wait_for_what_they_need() -> None:
    svcs = services()
    for name, svc in svcs.items():
        for target, spec in (svc.get("depends_on") or {}).items():
            assert target in svcs, f"{name} depends on unknown service {target}"
            if spec["condition"] == "service_healthy":
                has_check = "healthcheck" in svcs[target] or target == "asterisk"
                assert has_check, f"{name} waits for {target} to be healthy, which has no health check"
                assert not (svcs[target].get("healthcheck") or {}).get("disable"), target
            if spec["condition"] == "service_completed_successfully":
                assert svcs[target].get("restart") == "no", f"{target} is a one-shot job"
    for name in ("asterisk", *platform_services()):
        if name != "migrate":
            assert svcs[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert svcs["tracker"]["depends_on"]["asterisk"]["condition"] == "service_healthy"
