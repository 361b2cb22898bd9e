"""Apply regenerated Asterisk files through AMI (never by editing /etc/asterisk by hand)."""

from __future__ import annotations

from asterisk_conf.layout import InstanceLayout
from hotline.settings import Settings
from telephony.ami import AmiClient
from telephony.ami_actions import ModuleReload

# Which module rereads which generated file. A file not listed needs a full reload.
MODULE_OF_FILE = {
    "pjsip.conf": "res_pjsip.so",
    "extensions.conf": "pbx_config.so",
    "queues.conf": "app_queue.so",
    "musiconhold.conf": "res_musiconhold.so",
    "rtp.conf": "res_rtp_asterisk.so",
    "http.conf": "http",
    "cdr.conf": "cdr",
    "logger.conf": "logger",
    "manager.conf": "manager",
}


def modules_to_reload(changed: list[str]) -> list[str | None]:
    modules: list[str | None] = []
    for name in changed:
        module = MODULE_OF_FILE.get(name)
        if module is None:
            return [None]  # None: reload everything
        if module not in modules:
            modules.append(module)
    return modules


async def reload_asterisk(settings: Settings, changed: list[str]) -> None:
    layout = InstanceLayout.for_settings(settings)
    client = AmiClient(
        host=settings.asterisk.bind_address,
        port=settings.asterisk.ami_port,
        username=settings.asterisk.ami_user,
        secret=layout.ami_secret(),
        on_event=lambda event: None,
    )
    await client.start(timeout=10)
    try:
        for module in modules_to_reload(changed):
            await client.send(ModuleReload(module=module))
    finally:
        await client.close()
