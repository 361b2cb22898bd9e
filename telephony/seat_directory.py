"""Who sits where: the seats the seat service runs a machine for, whatever their source.

Web seats come from the database (agents with an extension; ``agents_ui.accounts.seats`` reads
them), fixed seats from the settings. The service is handed a loader, so telephony never reads
the accounts tables itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hotline.settings import Settings
from telephony.agent_state import Seat


@dataclass(frozen=True)
class SeatEntry:
    """One seat: ``agent`` is the username (web seats) or the extension (fixed seats)."""

    agent: str
    display_name: str
    extension: str
    queues: Mapping[str, int] = field(default_factory=dict)  # queue -> penalty
    web: bool = True

    @property
    def endpoint(self) -> str:
        return f"seat{self.extension}"

    @property
    def interface(self) -> str:
        return f"PJSIP/{self.endpoint}"

    def seat(self) -> Seat:
        # The member name is what call rows record as the agent (Call.agent).
        return Seat(agent=self.agent, interface=self.interface, member_name=self.agent)


SeatLoader = Callable[[], list[SeatEntry]]


def fixed_seats(settings: Settings) -> list[SeatEntry]:
    """Desk phones from the settings: static queue members, always "logged in"."""
    return [
        SeatEntry(
            agent=seat.extension,
            display_name=seat.extension,
            extension=seat.extension,
            queues={q: seat.penalty for q in seat.queues},
            web=False,
        )
        for seat in settings.seats
    ]
