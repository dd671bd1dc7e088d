#!/usr/bin/env bash
# Train on a machine with a GPU but no apt and no internet (the lent H100/H200 boxes).
#
# Here, once: scripts/gpu_train.sh bundle [RUN_DIR]
#   puts into .gpu/ (git-ignored) the generator's wheels for CPython 3.12 (tinysoundfont,
#   mido, espeakng-loader, soundfile, soxr, cffi, pycparser, pedalboard), three soundfonts
#   (TimGM6mb, sf_GMbank, the avldrums Black Pearl kit: 29 MB), flite with its libraries
#   (12 MB packed), from RUN_DIR a run to resume, and in .gpu/packages the recorded voices,
#   effects and drum kits training reads from Debian packages (56 MiB, scripts/
#   pack_recordings.py).  All of it is more than one call carries (64 MiB): carry
#   .gpu/packages in a first call (`true` will do; it stays there while the machine is held),
#   then .gpu/whl .gpu/sf .gpu/run .gpu/flite.tar.xz with `start`.
# There, from the repository root:
#   scripts/gpu_train.sh start CONFIG   installs the wheels into /tmp/site and starts
#                                       `seplive train --resume` in the background, out
#                                       /tmp/seplive-run (seeded from .gpu/run)
#   scripts/gpu_train.sh collect SECONDS  waits, then copies the checkpoint, the resume state
#                                       and the logs to $OUT (the run goes on)
#   scripts/gpu_train.sh stop           ends the run (it checkpoints every checkpoint_every steps)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=/tmp/seplive-run
SITE=/tmp/site

case "${1:-}" in
bundle)
    src=${2:-}
    mkdir -p .gpu/whl .gpu/sf .gpu/run
    py=${PYTHON:-.venv/bin/python}
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .gpu/whl \
        tinysoundfont==0.3.7 mido==1.3.3 espeakng-loader==0.2.4 soundfile==0.14.0 soxr==1.1.0 cffi pycparser \
        "pedalboard==$("$py" -c 'import pedalboard; print(pedalboard.__version__)')"
    cp /usr/share/sounds/sf2/TimGM6mb.sf2 /usr/share/sounds/sf2/sf_GMbank.sf2 \
        /usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2 .gpu/sf/
    # flite (data.flite_speech): Debian's binary and the libraries it links, less the C
    # library's own, xz-packed (26 MB -> 12 MB; glibc 2.34 or later needed there)
    fl=$(mktemp -d)
    mkdir -p "$fl/bin" "$fl/lib"
    cp "$(command -v flite)" "$fl/bin/"
    ldd "$(command -v flite)" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' \
        | grep -v -E '/(libc|libm|libdl|libpthread|librt)\.so' | xargs -I{} cp -L {} "$fl/lib/"
    tar -C "$fl" -cJf .gpu/flite.tar.xz .
    rm -rf "$fl"
    if [ -n "$src" ]; then cp "$src"/*.pt "$src"/*.json "$src"/train_log.jsonl .gpu/run/; fi
    rm -rf .gpu/packages
    "$py" scripts/pack_recordings.py .gpu/packages
    du -sh .gpu .gpu/packages
    ;;
start)
    cfg=${2:?config}
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .gpu/whl/*.whl
    mkdir -p "$RUN"
    [ -e "$RUN/native-small.resume.pt" ] || cp .gpu/run/* "$RUN"/ 2>/dev/null || true
    resume=()
    ls "$RUN"/*.resume.pt >/dev/null 2>&1 && resume=(--resume)
    export PYTHONPATH="$SITE:$PWD" SEPLIVE_SOUNDFONTS="$PWD/.gpu/sf" OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
    if [ -d .gpu/packages ]; then  # the recordings (data.recorded_*, data.real_kits), carried earlier
        export SEPLIVE_PACKAGES="$PWD/.gpu/packages"
        echo "recordings: $(find .gpu/packages -type f | wc -l) files under $SEPLIVE_PACKAGES"
    fi
    if [ -f .gpu/flite.tar.xz ]; then  # unpacked by Python: the machine may have no xz
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' \
            .gpu/flite.tar.xz /tmp/flite
        export PATH="/tmp/flite/bin:$PATH" LD_LIBRARY_PATH="/tmp/flite/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        flite -voice slt -t "flite works" -o /tmp/flite/check.wav && echo "flite: $(command -v flite)"
    fi
    cp -r seplive presets "$RUN"/  # the code the run uses stays put while later calls re-copy the tree
    # Detached through Popen: a new session, stdin from /dev/null, every inherited descriptor
    # closed.  (A bash `setsid nohup … &` launch, piped into `tail` by the calling command,
    # held that call open until its timeout on the H100 while the run itself went on.)
    PYTHONPATH="$SITE:$RUN" python3 - "$RUN" "$RUN/$cfg" "${resume[@]}" <<'PY'
import subprocess, sys
run, cfg, *rest = sys.argv[1:]
with open(f"{run}/train.log", "ab") as log:
    subprocess.Popen([sys.executable, "-m", "seplive", "train", "--config", cfg, "--out", run, *rest],
                     cwd=run, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                     start_new_session=True, close_fds=True)
PY
    sleep 60
    nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv
    tail -5 "$RUN/train.log"
    ;;
collect)
    sleep "${2:-0}"
    nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv || true
    uptime
    tail -5 "$RUN/train.log"
    cp "$RUN"/*.pt "$RUN"/*.json "$RUN"/train_log.jsonl "$RUN"/train.log "${OUT:?}"/
    ;;
stop)
    pkill -INT -f "seplive train" || true
    sleep 5
    pkill -f "seplive train" || true
    ;;
*)
    sed -n 2,18p "$0"
    exit 2
    ;;
esac
