"""Named flow steps for the fault tests, loaded by the platform through ivr.step_modules."""

from __future__ import annotations

import asyncio

from ivr_flows.steps import StepContext, flow_step


@flow_step("test_raise", exits=["ok"])
async def test_raise(step: StepContext) -> str:
    raise RuntimeError("a site step failed (fault test)")


@flow_step("test_hang", exits=["ok"])
async def test_hang(step: StepContext) -> str:
    await asyncio.sleep(3600)
    return "ok"
