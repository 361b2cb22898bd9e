#!/usr/bin/env bash
# The whole suite: lint and type checks, then unit and integration tests (real Asterisk, sipp,
# Redis, PostgreSQL). Fails loudly; nothing real is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy .
step "architecture boundaries"
.venv/bin/python scripts/check_boundaries.py
step "Asterisk runtime (built once: a system Asterisk >= 20, or the Debian sid chroot)"
.venv/bin/hotline install
step "pytest (unit + integration; artifacts in test-artifacts/)"
mkdir -p test-artifacts
.venv/bin/pytest -p no:cacheprovider -ra --junitxml=test-artifacts/junit.xml "$@"
