"""asterisk.conf: where this instance keeps its files, and core options."""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile
from asterisk_conf.layout import InstanceLayout
from hotline.settings import Settings


def render(settings: Settings, layout: InstanceLayout) -> ConfigFile:
    conf = ConfigFile("asterisk.conf")
    dirs = conf.section(
        "directories",
        "astmoddir, astdatadir, astvarlibdir and astsbindir are left out on purpose: the runtime's",
        "compiled-in defaults are right for its own distribution and architecture.",
    )
    for key, path in (
        ("astetcdir", layout.etc),
        ("astspooldir", layout.spool),
        ("astrundir", layout.run),
        ("astlogdir", layout.log),
        ("astdbdir", layout.db),
        # res_crypto appends "/keys" itself, so the key files end up in layout.keys.
        ("astkeydir", layout.keys.parent),
        ("astagidir", layout.agi_bin),
    ):
        dirs.set(key, str(path), source="site.state_dir", arrow=True)

    options = conf.section("options")
    # Uniqueids start with the system name, so calls stay distinguishable once several media
    # nodes report to one call tracker.
    options.set("systemname", settings.asterisk.instance, source="asterisk.instance")
    options.set("verbose", 0)
    options.set("debug", 0)
    options.set("timestamp", True)
    # Keeps AGI and AMI from calling SHELL(), SYSTEM() and friends through a function read.
    options.set("live_dangerously", False)
    options.set("sendfullybooted", True)
    options.set("documentation_language", "en_US")
    options.comment("No runuser/rungroup: Asterisk must keep the rights to read its generated config.")
    return conf
