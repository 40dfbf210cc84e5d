# The two commands a new user needs (demo, test); both set up ./.venv from the lock first.
# test-latest and lock are for maintainers: see requirements/README.md.
.PHONY: setup demo test test-latest lock adapter

# ruff, mypy and the tests, with the tools of the virtual environment $(1). The quickstart runs in
# tests/test_quickstart.py, which also checks what its answers say; nbmake runs the other examples.
define checks
	$(1)/bin/ruff check coassist tests benchmarks scripts
	$(1)/bin/mypy coassist
	$(1)/bin/python -m pytest tests --nbmake examples --ignore=examples/quickstart.ipynb --durations=15
endef

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/coassist demo

test: setup
	$(call checks,.venv)

# The same checks on the newest releases (./.venv-latest, no lock), plus building the wheel and
# installing it into a clean venv as a user would (tests/test_user_install.py).
test-latest: export COASSIST_USER_INSTALL_TEST = 1
test-latest:
	bash scripts/setup.sh latest
	$(call checks,.venv-latest)

# Re-resolve requirements/lock.txt and models.txt to the newest releases the ranges allow.
lock:
	python3 scripts/lock.py

# Rebuild coassist's own adapter (coassist/llm/notebook_adapter) from its curriculum, seed 0:
# about 67 min on a 2-core CPU (the curriculum 1.5 min, 456 training steps 65 min; docs/model-card.md
# has the figures). build/ keeps the curriculum, the checkpoints (a run that stops resumes with
# `--resume`) and the full-precision adapter.
ADAPTER_TRAINING = --base smollm2 --seed 0 --epochs 1 --batch-size 4 --grad-accumulation 2 --lr 4e-4 --warmup-steps 20 \
	--r 16 --alpha 32 --max-length 768 --eval-fraction 0.04 --eval-max-new-tokens 0 --checkpoint-every 100
adapter: setup
	.venv/bin/coassist curriculum --seed 0 --out build/curriculum.jsonl
	.venv/bin/coassist finetune --data build/curriculum.jsonl --out build/adapter --overwrite $(ADAPTER_TRAINING)
	.venv/bin/python scripts/ship_adapter.py build/adapter
