"""Render every Asterisk file of one instance, and write only what changed.

``write_config`` returns the names of the files whose content changed so the caller can reload
Asterisk over AMI only when something did (a reload with nothing new still resets modules).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from asterisk_conf import (
    asterisk,
    cdr,
    core,
    dahdi,
    extensions,
    http,
    indications,
    logger,
    manager,
    modules,
    musiconhold,
    pjsip,
    queues,
    rtp,
)
from asterisk_conf.ini import ConfigFile, generated_header
from asterisk_conf.layout import InstanceLayout
from hotline.settings import Settings

DAHDI_SYSTEM_FILE = "dahdi-system.conf"
# Hold the AMI secret and the web seats' SIP passwords.
PRIVATE_FILES = frozenset({"manager.conf", "pjsip.conf"})


def render_all(
    settings: Settings, layout: InstanceLayout, ami_secret: str, web_seats: Sequence[pjsip.WebSeat] = ()
) -> dict[str, str]:
    """Every generated file of the instance: file name -> text. Raises ConfigError on bad settings."""
    files: list[ConfigFile] = [
        asterisk.render(settings, layout),
        modules.render(settings),
        pjsip.render(settings, web_seats),
        extensions.render(settings, layout),
        queues.render(settings),
        queues.render_rules(),
        manager.render(settings, ami_secret),
        http.render(settings),
        rtp.render(settings),
        logger.render(),
        cdr.render_cdr(),
        cdr.render_custom(),
        musiconhold.render(layout),
        indications.render(),
        dahdi.render_chan_dahdi(settings),
        core.render_cel(),
        core.render_features(),
        core.render_ccss(),
        core.render_acl(),
        core.render_udptl(),
        core.render_pjproject(),
    ]
    site = settings.site.name
    out: dict[str, str] = {}
    for conf in files:
        conf.header = [*generated_header(conf.name, site), *conf.header]
        out[conf.name] = conf.render()
    out[DAHDI_SYSTEM_FILE] = dahdi.render_system_text(settings, generated_header(DAHDI_SYSTEM_FILE, site))
    return dict(sorted(out.items()))


def _write_atomically(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        # Asterisk may read the directory at any moment (a reload triggered elsewhere): it must
        # see either the old file or the new one, never half of one.
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_config(
    settings: Settings, layout: InstanceLayout, web_seats: Sequence[pjsip.WebSeat] = ()
) -> list[str]:
    """Render and write into ``layout.etc``; return the names of files whose content changed.

    Everything is rendered before anything is written, so bad settings leave the old files alone.
    ``web_seats`` are the agents' browser seats from the database (``hotline.seat_config``).
    """
    rendered = render_all(settings, layout, layout.ami_secret(), web_seats)
    layout.create()
    # cdr_custom writes into this folder but does not create it.
    (layout.log / cdr.CDR_DIR).mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    for name, text in rendered.items():
        path = layout.etc / name
        mode = 0o600 if name in PRIVATE_FILES else 0o644
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current == text:
            if (path.stat().st_mode & 0o777) != mode:
                path.chmod(mode)
            continue
        _write_atomically(path, text, mode)
        changed.append(name)
    if changed:
        _fsync_dir(layout.etc)
    return changed
