#!/usr/bin/env bash
# Set up everything StrumSpace needs on a fresh Debian/Ubuntu machine: system packages (as root, only when
# missing) and a virtual environment in .venv with the project installed in editable mode.
# Safe to run again: it only does what is missing. Sourced by scripts/demo and scripts/test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages the engine and its tests use. libsndfile comes inside the soundfile wheel; later issues
# add JACK and PortAudio here; scripts/test adds the plugin packages its tests host.
APT_PACKAGES=(${STRUM_APT_PACKAGES:-})

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${missing[*]}" >&2
    # jackd2 asks whether to enable real-time scheduling limits: answer no, without a prompt
    echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections 2>/dev/null || true
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages (run as root to install): ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
# reinstall only when the project's dependencies change
stamp=.venv/.strum-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)-${STRUM_EXTRAS:-dev}
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing strumspace[${STRUM_EXTRAS:-dev}] into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[${STRUM_EXTRAS:-dev}]"
  echo "$want" > "$stamp"
fi
