#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine: system packages, then .venv with seplive in it.
# Idempotent; safe to run again.  Uses sudo for apt when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

# timgm6mb/csound soundfonts (6 + 4 MB General MIDI banks) and the avldrums acoustic kits: the
# training-data generator renders its songs through them (seplive.data, docs/data.md).
# sonic-pi-samples (23 MB installed) and lmms-common (19 MB, plus zynaddsubfx-data 8 MB): real
# recordings for the real-recording evaluation panel only, held out from training by source
# (seplive.data.panel, docs/real-panel.md).  hedgewars-data (156 MB), tuxpaint-data,
# frozen-bubble-data and pingus-data: recorded voices and effects for *training* only
# (seplive.data.clips); hydrogen-drumkits (218 MB): recorded multi-sampled drum kits for
# training (seplive.data.kits); klettres-data (50 MB): people reading letters and syllables in
# 19 languages, more recorded voices for training (seplive.data.clips); sources the panel does not use
APT_PACKAGES=(libsndfile1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins alsa-utils jackd2 espeak-ng flite sox tmux
              timgm6mb-soundfont csound-soundfont avldrums.lv2-soundfont sonic-pi-samples lmms-common
              hedgewars-data tuxpaint-data frozen-bubble-data pingus-data hydrogen-drumkits klettres-data)

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    # jackd2 asks about real-time priority; answer for it
    echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>/dev/null || true
# the CPU build of torch (a plain 'torch' would pull a multi-GB CUDA build); users with a GPU
# install their CUDA build of torch first and this line leaves it alone
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test,fx,data,dfn,plot]"
# tinysoundfont declares PyAudio (live playback only, needs PortAudio headers to build): no deps
.venv/bin/python -m pip install -q --no-deps "tinysoundfont>=0.3.7"
