"""musiconhold.conf: the one class queues use, played from the site's prompts directory."""

from __future__ import annotations

from asterisk_conf.ini import ConfigFile
from asterisk_conf.layout import InstanceLayout


def render(layout: InstanceLayout) -> ConfigFile:
    conf = ConfigFile("musiconhold.conf")
    conf.section("general")
    default = conf.section("default")
    default.set("mode", "files")
    default.set("directory", str(layout.moh), source="site.state_dir")
    default.set("sort", "random")
    return conf
