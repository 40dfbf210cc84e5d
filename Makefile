# The two commands a new user needs; both set up ./.venv first.
.PHONY: setup demo test

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/coassist demo

test: setup
	.venv/bin/ruff check coassist tests benchmarks
	.venv/bin/mypy coassist
	.venv/bin/python -m pytest tests --nbmake examples --durations=15
