#!/bin/sh
# Entry point of the platform image (docker/Dockerfile.platform).
#
#   prepare              the one-shot job (compose service `migrate`), run before Asterisk and the
#                        components start: database migrations, Asterisk's generated files, and
#                        the generated prompts and music on hold. Safe to run again at any time.
#   health agi|tracker|seats  container health check: the component's heartbeat file is fresh (the
#                        same files /healthz reads; the web container asks /healthz itself)
#   anything else        run as given: hotline component web, hotline config render --reload, ...
#
# `hotline install` is not used: besides the prompts it finds or builds an Asterisk runtime, and
# the Asterisk binary lives in the other container. The prompts are therefore made below with the
# same library call `hotline install` makes.
set -eu

case "${1:-}" in
prepare)
    hotline db migrate
    hotline config render
    python - <<'PY'
from asterisk_conf.layout import InstanceLayout
from hotline.settings import load_settings
from ivr_flows.prompts import PromptLibrary

settings = load_settings()
layout = InstanceLayout.for_settings(settings)
layout.create()
PromptLibrary(settings, layout).generate(progress=lambda line: print(f"[prompts] {line}", flush=True))
PY
    ;;
health)
    python - "${2:?usage: hotline-entrypoint health agi|tracker|seats}" <<'PY'
import sys

from hotline.settings import load_settings
from hotline.status import read_status

sys.exit(0 if read_status(load_settings().state_dir, sys.argv[1]) is not None else 1)
PY
    ;;
*)
    exec "$@"
    ;;
esac
