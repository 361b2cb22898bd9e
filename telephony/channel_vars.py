"""Every channel variable the platform reads or writes, named once.

The dialplan generator, the FastAGI server, the flow engine and the AMI call tracker all refer to
these constants, so a rename can never leave one side reading a variable the other stopped writing.
Inherited variables carry Asterisk's ``__`` prefix where they are *set*; they are read without it.
"""

from typing import Final

# Set by the FastAGI server to "1" only when a flow finished and chose a route. The dialplan sends
# any call without it to the main queue: Asterisk reports AGISTATUS=SUCCESS even when our socket
# simply closed, so AGISTATUS alone cannot tell a finished flow from a crashed one.
FLOW_DONE: Final = "HOTLINE_FLOW_DONE"
# What the flow chose: one of ROUTES below. Never derived from caller input.
ROUTE: Final = "HOTLINE_ROUTE"
# Queue chosen by the flow; always a configured queue name (checked again in the dialplan).
QUEUE: Final = "HOTLINE_QUEUE"
# Steps the call walked, comma separated, for the call row (IVR path).
IVR_PATH: Final = "HOTLINE_IVR_PATH"
# Name of the flow to run, set by the dialplan before AGI().
FLOW: Final = "HOTLINE_FLOW"
# Trunk the call came in on (the PJSIP endpoint name), inherited by every leg of the call.
TRUNK: Final = "HOTLINE_TRUNK"
# Language of prompts for this call.
LANGUAGE: Final = "HOTLINE_LANGUAGE"
# Set by the dialplan when the call was turned away: which limit was full.
OVERFLOW: Final = "HOTLINE_OVERFLOW"
OVERFLOW_TRUNK: Final = "trunk"
OVERFLOW_CAPACITY: Final = "capacity"
# Set by the dialplan when a queue gave the caller up: "timeout" (max_wait passed) or "full"
# (max_callers). The caller then runs the queue's overflow flow, once per call.
QUEUE_OVERFLOW: Final = "HOTLINE_QUEUE_OVERFLOW"
QUEUE_OVERFLOW_TIMEOUT: Final = "timeout"
QUEUE_OVERFLOW_FULL: Final = "full"
# How this trunk's calls run their flow: fastagi, classic_agi or dialplan (settings trunks.ivr_mode).
IVR_MODE: Final = "HOTLINE_IVR_MODE"

# The call's recording, a path without extension (<recordings>/<Y>/<m>/<d>/<uniqueid>), set by
# the dialplan when it starts MixMonitor before the first Queue(); its being set means "already
# recording", so a caller queued again keeps the one recording.
RECORDING: Final = "HOTLINE_RECORDING"

ROUTE_QUEUE: Final = "queue"
ROUTE_HANGUP: Final = "hangup"
# Set by the dialplan (not the flow) when a call reached the main queue because its flow did not finish.
ROUTE_FALLBACK: Final = "fallback"
ROUTES: Final = frozenset({ROUTE_QUEUE, ROUTE_HANGUP})

# Variables the AMI manager adds to every channel event (manager.conf channelvars), so the
# call tracker learns the IVR path and queue without polling.
AMI_CHANNEL_VARS: Final = (TRUNK, IVR_PATH, QUEUE, ROUTE, FLOW_DONE, OVERFLOW, QUEUE_OVERFLOW, RECORDING)

# GROUP() categories counted for the channel limits: all inbound calls, and per trunk.
GROUP_INBOUND: Final = "hotline_inbound"
GROUP_TRUNK: Final = "hotline_trunk"

# Asterisk's uniqueid, "[<systemname>-]<epoch>.<sequence>" (our instances set systemname): it keys
# call rows and names recordings, so whoever accepts one from outside checks it against this.
UNIQUEID_PATTERN: Final = r"(?:[a-z][a-z0-9_-]{0,39}-)?[0-9]{1,20}\.[0-9]{1,10}"
