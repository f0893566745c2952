#!/usr/bin/env bash
# One entry point for a fresh clone: creates/reuses .venv, installs InitLab, then
#   ./run.sh start   -> starts InitLab on its embedded defaults with the digits demo
#   ./run.sh test    -> runs the test suite
set -euo pipefail
cd "$(dirname "$0")"

venv=.venv
stamp=$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x "$venv/bin/python" ]; then
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ]; then
  echo "Installing InitLab and its dependencies into $venv (first run takes a few minutes)..."
  "$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[dev]'
  rm -f "$venv"/.installed-* && touch "$stamp"
fi

case "${1:-}" in
  start) shift; exec "$venv/bin/initlab" up --demo "$@" ;;
  test) shift; exec "$venv/bin/python" -m pytest "$@" ;;
  *) echo "usage: ./run.sh start|test [args...]" >&2; exit 2 ;;
esac
