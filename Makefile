# The two commands a new user needs; both set up ./.venv first.
.PHONY: setup demo test

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/coassist demo

test: setup
	.venv/bin/python -m pytest tests --nbmake examples --durations=15
