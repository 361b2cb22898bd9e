"""Where one Asterisk instance keeps its files, derived from settings and nothing else.

Every path is absolute and identical inside and outside the Asterisk chroot: the runtime
bind-mounts the state directory at the same path inside the chroot, so a generated config, the
FastAGI server and the recording code can all name the same file the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from hotline.settings import Settings


@dataclass(frozen=True)
class InstanceLayout:
    state_dir: Path
    instance: str

    @classmethod
    def for_settings(cls, settings: Settings) -> InstanceLayout:
        return cls(settings.state_dir, settings.asterisk.instance)

    @property
    def base(self) -> Path:
        return self.state_dir / "asterisk" / self.instance

    @property
    def etc(self) -> Path:
        return self.base / "etc"

    @property
    def asterisk_conf(self) -> Path:
        return self.etc / "asterisk.conf"

    @property
    def spool(self) -> Path:
        return self.base / "spool"

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def log(self) -> Path:
        return self.base / "log"

    @property
    def db(self) -> Path:
        return self.base / "lib"

    @property
    def keys(self) -> Path:
        return self.base / "keys"

    @property
    def agi_bin(self) -> Path:
        return self.base / "agi-bin"

    # Shared by all instances of one site.
    @property
    def prompts(self) -> Path:
        return self.state_dir / "prompts"

    @property
    def moh(self) -> Path:
        return self.prompts / "moh"

    @property
    def voicemail(self) -> Path:
        return self.state_dir / "voicemail"

    @property
    def recordings(self) -> Path:
        return self.state_dir / "recordings"

    @property
    def secrets(self) -> Path:
        return self.state_dir / "secrets"

    def directories(self) -> list[Path]:
        return [
            self.etc,
            self.spool,
            self.run,
            self.log,
            self.db,
            self.keys,
            self.agi_bin,
            self.prompts,
            self.moh,
            self.voicemail,
            self.recordings,
            self.secrets,
        ]

    def create(self) -> None:
        for path in self.directories():
            path.mkdir(parents=True, exist_ok=True)
        self.secrets.chmod(0o700)

    def _secret(self, name: str) -> str:
        """A random secret generated once and kept in a 0600 file; never in settings or logs."""
        path = self.secrets / name
        if not path.exists():
            self.secrets.mkdir(parents=True, exist_ok=True)
            self.secrets.chmod(0o700)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24), encoding="ascii")
        return path.read_text(encoding="ascii").strip()

    def ami_secret(self) -> str:
        """The AMI password of this instance."""
        return self._secret(f"ami-{self.instance}.secret")

    def seat_password(self, endpoint: str) -> str:
        """A web seat's SIP password, derived from the site's seat secret and the endpoint name.

        Derived, not stored: the database never holds a SIP password, pjsip.conf (0600) and the
        seat's own logged-in agent are the only places it appears, and replacing the secret file
        changes every seat's password at once.
        """
        key = self._secret("seat-sip.secret").encode("ascii")
        digest = hmac.new(key, f"sip-seat:{endpoint}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii")[:32]
