"""Bad input to `coassist finetune` and `coassist train-router`, and what they do to --out.

A refused command exits 1 with one line on stderr that names the option, file or line, prints
no traceback, and leaves every file as it was (the whole temp dir is compared before and after).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from coassist.cli import main
from coassist.errors import CoassistError, InvalidTrainingConfig
from coassist.train import LoraTrainingConfig, RouterTrainingConfig, finetune_lora
from coassist.train.checkpoints import list_checkpoints

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
SFT = EXAMPLES / "sft_example.jsonl"
GOOD_LINE = SFT.read_text().splitlines()[0]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under `root`, with its size and modification time."""
    return {
        str(path.relative_to(root)): (path.stat().st_size if path.is_file() else -1, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


def refused(argv: list[str], root: Path, capsys: Any) -> str:
    """Run the command; assert it was refused (exit 1, one stderr line, nothing written); return stderr."""
    before = tree(root)
    assert main(argv) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert "Traceback" not in printed.err
    assert tree(root) == before
    return printed.err


# --- finetune -----------------------------------------------------------------------------


def _lines(*lines: str) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        path = root / "data.jsonl"
        path.write_text("".join(line + "\n" for line in lines))
        return path

    return write


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def write(root: Path) -> Path:
        path = root / "data.jsonl"
        path.write_bytes(data)
        return path

    return write


def _sft(root: Path) -> Path:
    path = root / "data.jsonl"
    shutil.copy(SFT, path)
    return path


FINETUNE_OPTIONS = [
    pytest.param(["--lr", "nan"], ["--lr must be a positive, finite number, got nan"], id="lr-nan"),
    pytest.param(["--lr", "inf"], ["--lr must be a positive, finite number, got inf"], id="lr-inf"),
    pytest.param(["--lr=-1e-3"], ["--lr must be a positive", "got -0.001"], id="lr-negative"),
    pytest.param(["--lr", "0"], ["--lr must be a positive"], id="lr-zero"),
    pytest.param(["--epochs", "0"], ["--epochs must be positive, got 0"], id="epochs-zero"),
    pytest.param(["--r", "0"], ["--r must be positive, got 0"], id="rank-zero"),
    pytest.param(["--alpha", "-16"], ["--alpha must be positive, got -16"], id="alpha-negative"),
    pytest.param(
        ["--eval-fraction", "1.5"], ["--eval-fraction must be in (0, 1), got 1.5"], id="eval-fraction-above-1"
    ),
    pytest.param(
        ["--eval-fraction", "0"], ["--eval-fraction must be in (0, 1), got 0.0"], id="eval-fraction-zero"
    ),
    pytest.param(
        ["--eval-fraction", "nan"], ["--eval-fraction must be in (0, 1), got nan"], id="eval-fraction-nan"
    ),
    pytest.param(["--batch-size", "0"], ["--batch-size must be positive, got 0"], id="batch-size-zero"),
    pytest.param(
        ["--grad-accumulation", "0"], ["--grad-accumulation must be positive"], id="grad-accumulation-zero"
    ),
    pytest.param(
        ["--max-steps", "0"], ["--max-steps must be at least 1", "or None to use epochs"], id="max-steps-zero"
    ),
    pytest.param(["--max-length", "0"], ["--max-length must be positive"], id="max-length-zero"),
    pytest.param(["--dropout", "1"], ["--dropout must be in [0, 1), got 1.0"], id="dropout-one"),
    pytest.param(["--dropout", "-0.1"], ["--dropout must be in [0, 1)"], id="dropout-negative"),
    pytest.param(
        ["--checkpoint-every", "-1"],
        ["--checkpoint-every must be zero or more, got -1"],
        id="checkpoint-every-negative",
    ),
    pytest.param(["--seed", "-1"], ["--seed must be zero or more, got -1"], id="seed-negative"),
    pytest.param(
        ["--target-modules", " , "], ["--target-modules is empty", "q_proj"], id="target-modules-empty"
    ),
    pytest.param(["--device", "gpu"], ["--device", "'gpu'"], id="device-unknown"),
    pytest.param(
        ["--resume", "--overwrite"], ["--overwrite and resume exclude each other"], id="resume-and-overwrite"
    ),
]


@pytest.mark.parametrize(("options", "words"), FINETUNE_OPTIONS)
def test_finetune_refuses_an_option_out_of_range(
    tmp_path: Path, capsys: Any, options: list[str], words: list[str]
) -> None:
    data = _sft(tmp_path)
    err = refused(
        ["finetune", "--data", str(data), "--out", str(tmp_path / "out"), *options], tmp_path, capsys
    )
    assert err.startswith("coassist finetune: ") and err.count("\n") == 1
    for word in words:
        assert word in err


FINETUNE_DATA = [
    pytest.param(
        lambda root: root / "missing.jsonl", ["no training file at", "missing.jsonl"], id="data-missing"
    ),
    pytest.param(_lines(), ["data.jsonl is empty", "one JSON object per line"], id="data-empty"),
    pytest.param(lambda root: root, ["is a directory, not a training file"], id="data-directory"),
    pytest.param(
        _lines(GOOD_LINE, "{not json", GOOD_LINE), ["data.jsonl line 2 is not valid JSON"], id="data-not-json"
    ),
    pytest.param(
        _lines('{"messages": "oops"}', GOOD_LINE),
        ['data.jsonl line 1 has no "messages" list'],
        id="data-no-messages",
    ),
    pytest.param(_lines(GOOD_LINE, "", GOOD_LINE), ["data.jsonl line 2 is empty"], id="data-blank-line"),
    pytest.param(
        _lines(GOOD_LINE, "[1, 2]"), ["data.jsonl line 2 is a JSON list, not an object"], id="data-not-object"
    ),
    pytest.param(
        _lines(GOOD_LINE, '{"messages": [{"role": "bot", "content": "x"}]}'),
        ["data.jsonl line 2: message 0 has role 'bot'", "system, user, assistant"],
        id="data-unknown-role",
    ),
    pytest.param(
        _lines(GOOD_LINE, '{"messages": [{"role": "user", "content": "x"}]}'),
        ["data.jsonl line 2 has no assistant message"],
        id="data-no-answer",
    ),
    pytest.param(
        _bytes(GOOD_LINE.encode() + b'\n{"messages": "caf\xe9"}\n'),
        ["data.jsonl line 2 is not UTF-8 text", "0xe9"],
        id="data-not-utf8",
    ),
    pytest.param(
        _lines(GOOD_LINE), ["data.jsonl has 1 conversation(s)", "at least 2"], id="data-one-conversation"
    ),
]


@pytest.mark.parametrize(("make", "words"), FINETUNE_DATA)
def test_finetune_names_the_file_and_line_of_bad_data(
    tmp_path: Path, capsys: Any, make: Callable[[Path], Path], words: list[str]
) -> None:
    data = make(tmp_path)
    err = refused(
        ["finetune", "--data", str(data), "--out", str(tmp_path / "out"), "--no-progress"], tmp_path, capsys
    )
    assert err.count("\n") == 1
    for word in words:
        assert word in err


def test_finetune_names_a_missing_eval_file(tmp_path: Path, capsys: Any) -> None:
    data = _sft(tmp_path)
    argv = [
        "finetune",
        "--data",
        str(data),
        "--eval-data",
        str(tmp_path / "held.jsonl"),
        "--out",
        str(tmp_path / "o"),
    ]
    err = refused(argv, tmp_path, capsys)
    assert "no training file at" in err and "held.jsonl" in err


def _adapter_dir(root: Path) -> Path:
    """An --out holding what a finished run leaves (enough to be recognised as one)."""
    out = root / "out"
    out.mkdir()
    (out / "adapter_config.json").write_text('{"r": 8}')
    (out / "adapter_model.safetensors").write_bytes(b"old weights")
    return out


def _checkpoints_only(root: Path) -> Path:
    out = root / "out"
    (out / "checkpoints" / "step-000002").mkdir(parents=True)
    (out / "checkpoints" / "step-000002" / "trainer_state.pt").write_bytes(b"state")
    return out


def _foreign(root: Path) -> Path:
    out = root / "out"
    out.mkdir()
    (out / "analysis.py").write_text("print('mine')\n")
    return out


def _a_file(root: Path) -> Path:
    out = root / "out"
    out.write_text("not a directory")
    return out


OUT_DIRS = [
    pytest.param(_a_file, [], ["--out", "is a file, not a directory"], id="out-is-a-file"),
    pytest.param(
        _adapter_dir,
        [],
        ["--out", "already holds a trained adapter", "--resume", "--overwrite", "new --out"],
        id="out-has-adapter",
    ),
    pytest.param(
        _checkpoints_only,
        [],
        ["already holds checkpoints (newest: step-000002)", "--resume"],
        id="out-has-checkpoints",
    ),
    pytest.param(
        _foreign,
        [],
        ["files coassist did not write (analysis.py)", "empty or new --out"],
        id="out-foreign-files",
    ),
    pytest.param(
        _foreign, ["--overwrite"], ["files coassist did not write"], id="out-foreign-files-overwrite"
    ),
    pytest.param(
        _adapter_dir,
        ["--resume"],
        ["no checkpoint to resume from", "--overwrite"],
        id="resume-without-checkpoint",
    ),
]


@pytest.mark.parametrize(("make", "options", "words"), OUT_DIRS)
def test_finetune_refuses_an_out_it_must_not_reuse(
    tmp_path: Path, capsys: Any, make: Callable[[Path], Path], options: list[str], words: list[str]
) -> None:
    data = _sft(tmp_path)
    out = make(tmp_path)
    err = refused(
        ["finetune", "--data", str(data), "--out", str(out), "--no-progress", *options], tmp_path, capsys
    )
    assert err.count("\n") == 1
    for word in words:
        assert word in err


def test_finetune_names_an_unknown_base(tmp_path: Path, capsys: Any) -> None:
    data = _sft(tmp_path)
    err = refused(
        [
            "finetune",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "o"),
            "--base",
            "nowhere/at-all",
            "--no-progress",
        ],
        tmp_path,
        capsys,
    )
    assert "nowhere/at-all" in err


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        pytest.param(
            "learning_rate",
            "1e-3",
            ["learning_rate must be a positive, finite number, got '1e-3'"],
            id="api-lr-str",
        ),
        pytest.param("epochs", 2.5, ["epochs must be a whole number, got 2.5"], id="api-epochs-float"),
        pytest.param("r", True, ["r must be a whole number, got True"], id="api-rank-bool"),
        pytest.param(
            "target_modules", ("q_proj", ""), ["target_modules must be layer names"], id="api-target-blank"
        ),
        pytest.param(
            "warmup_steps", 10, ["warmup_steps (10) must be below max_steps (5)"], id="api-warmup-too-long"
        ),
        pytest.param(
            "max_grad_norm",
            float("nan"),
            ["max_grad_norm must be zero or more", "nan"],
            id="api-grad-norm-nan",
        ),
        pytest.param("base", "", ["base must be a model spec"], id="api-base-empty"),
    ],
)
def test_lora_config_names_the_field(tmp_path: Path, field: str, value: Any, words: list[str]) -> None:
    with pytest.raises(InvalidTrainingConfig) as raised:
        LoraTrainingConfig("train.jsonl", tmp_path / "out", max_steps=5, **{field: value})
    assert raised.value.field == field and isinstance(raised.value, (CoassistError, ValueError))
    for word in words:
        assert word in str(raised.value)
    assert list(tmp_path.iterdir()) == []


# --- train-router ---------------------------------------------------------------------------


def _labels(root: Path, *lines: str) -> Path:
    path = root / "labels.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


OK_LABELS = ['{"text": "a", "label": 1}', '{"text": "b", "label": 0}']

ROUTER_CASES = [
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), _a_file(root), []),
        ["--out", "is a file, not a directory"],
        id="router-out-file",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), _foreign(root), []),
        ["--out", "not a router (analysis.py)"],
        id="router-out-foreign",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), root / "r", ["--lr", "nan"]),
        ["--lr must be a positive, finite number, got nan"],
        id="router-lr-nan",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), root / "r", ["--lr", "-1"]),
        ["--lr must be a positive"],
        id="router-lr-negative",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), root / "r", ["--epochs", "0"]),
        ["--epochs must be positive, got 0"],
        id="router-epochs-zero",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), root / "r", ["--batch-size", "0"]),
        ["--batch-size must be positive"],
        id="router-batch-zero",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), root / "r", ["--eval-fraction", "1.5"]),
        ["--eval-fraction must be in (0, 1)"],
        id="router-eval-fraction",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), root / "r", ["--min-examples", "0"]),
        ["--min-examples must be positive"],
        id="router-min-examples-zero",
    ),
    pytest.param(
        lambda root: (_labels(root, *OK_LABELS), root / "r", ["--base", str(root / "nope")]),
        ["--base", "neither 'minilm' nor"],
        id="router-base-missing",
    ),
    pytest.param(
        lambda root: (root / "missing.jsonl", root / "r", []),
        ["no training file at", "missing.jsonl"],
        id="router-labels-missing",
    ),
    pytest.param(
        lambda root: (_labels(root), root / "r", []), ["labels.jsonl is empty"], id="router-labels-empty"
    ),
    pytest.param(
        lambda root: (_labels(root, OK_LABELS[0], '{"text": "x", "label": 2}'), root / "r", []),
        ["labels.jsonl line 2 has label 2"],
        id="router-label-two",
    ),
    pytest.param(
        lambda root: (_labels(root, OK_LABELS[0], '{"text": "x", "label": NaN}'), root / "r", []),
        ["line 2 has label nan"],
        id="router-label-nan",
    ),
    pytest.param(
        lambda root: (_labels(root, '{"label": 1}'), root / "r", []),
        ['labels.jsonl line 1 has no "text"'],
        id="router-text-missing",
    ),
]


@pytest.mark.parametrize(("make", "words"), ROUTER_CASES)
def test_train_router_refuses_bad_input(
    tmp_path: Path, capsys: Any, make: Callable[[Path], Any], words: list[str]
) -> None:
    labels, out, options = make(tmp_path)
    err = refused(
        ["train-router", "--labels", str(labels), "--out", str(out), "--no-progress", *options],
        tmp_path,
        capsys,
    )
    assert err.startswith("coassist train-router: ") and err.count("\n") == 1
    for word in words:
        assert word in err


def test_router_config_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrainingConfig) as raised:
        RouterTrainingConfig("labels.jsonl", tmp_path / "r", weight_decay=-0.1)
    assert raised.value.field == "weight_decay" and "weight_decay must be zero or more" in str(raised.value)


def test_retraining_a_router_replaces_it_whole(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "router"
    out.mkdir()
    (out / "router.json").write_text("{}")
    (out / "model.safetensors").write_bytes(b"an earlier classifier")
    labels = _labels(tmp_path, *OK_LABELS)
    assert main(["train-router", "--labels", str(labels), "--out", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["router.json"]  # the prior only: no stale weights
    assert json.loads((out / "router.json").read_text())["kind"] == "prior"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.jsonl", "router"]  # no staging left


# --- what finetune writes to --out ------------------------------------------------------------


def _config(base: Path, out: Path, **overrides: Any) -> LoraTrainingConfig:
    settings: dict[str, Any] = dict(
        train_file=SFT,
        output_dir=out,
        base=str(base),
        max_steps=2,
        batch_size=4,
        learning_rate=1e-2,
        max_length=192,
        checkpoint_every=1,
        keep_checkpoints=5,
        device="cpu",
        progress=False,
    )
    return LoraTrainingConfig(**{**settings, **overrides})


def test_an_interrupted_save_leaves_the_earlier_adapter_whole(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    finetune_lora(_config(tiny_model_dir, out))
    adapter_before = {
        name: (out / name).read_bytes() for name in ("adapter_model.safetensors", "adapter_config.json")
    }

    def crash(*args: Any) -> None:  # the process dies while writing the new adapter
        raise KeyboardInterrupt

    monkeypatch.setattr("coassist.train.lora._write_summary", crash)
    with pytest.raises(KeyboardInterrupt):
        finetune_lora(_config(tiny_model_dir, out, overwrite=True, seed=1))
    assert {name: (out / name).read_bytes() for name in adapter_before} == adapter_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no half-written staging dir left


def test_overwrite_replaces_the_adapter_and_starts_its_checkpoints_afresh(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    finetune_lora(_config(tiny_model_dir, out, max_steps=3))
    old = (out / "adapter_model.safetensors").read_bytes()
    result = finetune_lora(_config(tiny_model_dir, out, overwrite=True, seed=1))
    assert result.resumed_from is None and [r.step for r in result.history] == [1, 2]
    assert (out / "adapter_model.safetensors").read_bytes() != old
    assert [p.name for p in list_checkpoints(out)] == ["step-000001", "step-000002"]  # none of the old run's
    assert json.loads((out / "coassist_training.json").read_text())["config"]["seed"] == 1


def test_resume_ignores_stray_names_in_the_checkpoints_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    finetune_lora(_config(tiny_model_dir, out, max_steps=1))
    (out / "checkpoints" / "step-foo").mkdir()
    (out / "checkpoints" / "step-12.bak").mkdir()
    (out / "checkpoints" / "notes.txt").write_text("x")
    assert [p.name for p in list_checkpoints(out)] == ["step-000001"]
    result = finetune_lora(_config(tiny_model_dir, out, max_steps=2, resume=True))
    assert result.resumed_from == 1 and [r.step for r in result.history] == [2]
    assert (out / "checkpoints" / "step-foo").is_dir()  # left alone, not deleted or guessed at


@pytest.mark.parametrize("out", [".", ".."], ids=["out-cwd", "out-parent-of-cwd"])
def test_finetune_refuses_to_replace_the_current_directory(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch, out: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    err = refused(["finetune", "--data", str(_sft(tmp_path)), "--out", out], tmp_path, capsys)
    assert f"--out {out} is the current directory or holds it" in err
