"""IVR flows: typed flow files, the engine that runs them over a call, the calendar and prompts.

Entry points: ``loader.load_flow`` / ``loader.load_all`` (checked flows, errors by file and line),
``engine.run_flow`` with a ``context.FlowContext`` (returns a ``FlowOutcome``), ``steps.flow_step``
(named Python steps), ``prompts.PromptLibrary`` (prompt paths and generation) and
``calendar.business_state``. The engine sees a call only through ``ports.CallChannel``.
"""
