"""Real SIP/RTP test peers built on sipp 3.6 (Debian ``sip-tester``).

* :mod:`telephony.sipp.pcap` writes the RTP a test caller sends (µ-law speech, RFC 4733 DTMF,
  silence) as a pcap, and speaks text into an 8 kHz WAV with espeak-ng.
* :mod:`telephony.sipp.scenarios` generates the caller (UAC) and agent (UAS) sipp scenarios.
* :mod:`telephony.sipp.runner` runs them with bounded options and parses per-call outcomes.

Used by the integration tests, the benchmark and the operator's "place a test call" command.
"""

from telephony.sipp.pcap import PcapSummary, speak_to_wav, ulaw_encode, write_call_pcap
from telephony.sipp.runner import (
    CallerId,
    CallRecord,
    SippAgent,
    SippCaller,
    SippError,
    SippResult,
    numbered_callers,
    parse_from_header,
    place_test_call,
)

__all__ = [
    "CallRecord",
    "CallerId",
    "PcapSummary",
    "SippAgent",
    "SippCaller",
    "SippError",
    "SippResult",
    "numbered_callers",
    "parse_from_header",
    "place_test_call",
    "speak_to_wav",
    "ulaw_encode",
    "write_call_pcap",
]
