#!/usr/bin/env bash
# Install seplive and run the main job.  With no sound card this plays a generated song
# through the live engine (karaoke, a cappella, drums) and writes the results to files.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/seplive demo --out "${1:-seplive-demo}"
