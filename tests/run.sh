#!/bin/sh
# Installs everything the tests need on a fresh Debian machine, then runs them.
# README: "sh tests/run.sh". CI (.ci/run) calls exactly this.
set -e
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  # Debian's chromium drives the browser tests (Playwright's own browser download does not work offline).
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0 -r requirements.txt -r requirements-dev.txt
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
# The linter first (ruff.toml: pyflakes errors, import order, 120 columns): a failure stops the run.
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
