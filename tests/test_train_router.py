"""The p_pass router: learns from text, reports calibration, falls back to per-skill rates."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch

from coassist.errors import InvalidTrainingConfig, InvalidTrainingData, OutputDirInUse
from coassist.train import (
    Router,
    RouterExample,
    RouterTrainingConfig,
    SkillPrior,
    fill_p_pass,
    fit_skill_prior,
    read_router_labels,
    train_router,
)
from coassist.train.minilm import encoder_dir, load_encoder
from coassist.train.router import check_router_dir
from coassist.train.router_training import _loss, _stratified_split, _too_few

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data" / "router_example.jsonl"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT (hidden 32) with the MiniLM tokenizer: trains in a second or two."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir("minilm"))
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(directory)
    return directory


def learnable_labels(n: int, seed: int = 0) -> pd.DataFrame:
    """Routine query/plot subtasks pass, negotiation/strategy subtasks fail: a signal in the words."""
    rng = random.Random(seed)
    passing = ["write sql query for {} revenue", "plot weekly {} chart", "load {} csv and count rows"]
    failing = ["negotiate {} contract with legal", "decide {} pricing strategy with leadership"]
    nouns = ["sales", "churn", "signup", "ticket", "invoice", "region"]
    rows = []
    for i in range(n):
        label = i % 2
        template = rng.choice(passing if label else failing)
        rows.append(
            {"text": template.format(rng.choice(nouns)), "label": label, "skill": "sql" if label else "ml"}
        )
    return pd.DataFrame(rows)


def test_classifier_learns_and_reports_held_out_metrics(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    config = RouterTrainingConfig(
        learnable_labels(80),
        tmp_path / "router",
        base=str(tiny_encoder_dir),
        epochs=6,
        learning_rate=2e-3,
        batch_size=8,
        device="cpu",
        progress=False,
    )
    result = train_router(config)
    assert not result.used_fallback
    assert (result.train_examples, result.eval_examples) == (60, 20)  # a quarter of each label held out
    metrics = result.metrics
    assert metrics.n == 20 and metrics.base_rate == 0.5
    assert metrics.accuracy > 0.8
    assert metrics.brier < 0.25
    assert sum(b.count for b in metrics.bins) == 20
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    assert "measured on 20 held out" in result.message

    loaded = Router.load(tmp_path / "router", device="cpu")
    texts = ["write sql query for churn revenue", "negotiate invoice contract with legal"]
    assert loaded.predict_p_pass(texts) == pytest.approx(result.router.predict_p_pass(texts), abs=1e-6)
    p_routine, p_negotiation = loaded.predict_p_pass(texts)
    assert p_routine > 0.5 > p_negotiation
    saved = json.loads((tmp_path / "router" / "router.json").read_text())
    assert saved["kind"] == "classifier" and saved["used_fallback"] is False


def test_too_few_examples_fall_back_to_the_skill_prior(tmp_path: Path) -> None:
    labels = pd.DataFrame(
        {
            "text": list("abcdef"),
            "label": [1, 1, 0, 1, 0, 0],
            "skill": ["sql", "sql", "sql", "ml", "ml", None],
        }
    )
    result = train_router(RouterTrainingConfig(labels, tmp_path / "router", progress=False))
    assert result.used_fallback and result.metrics is None
    assert "6 labelled examples (3 passed, 3 not)" in result.message
    assert "min_examples" in result.message
    # Laplace: sql 2 of 3 -> 3/5, ml 1 of 2 -> 2/4, unseen or missing skill: 3 of 6 -> 4/8
    assert result.router.predict_p_pass(["x", "y", "z", "w"], ["sql", "ml", "writing", None]) == [
        0.6,
        0.5,
        0.5,
        0.5,
    ]
    loaded = Router.load(tmp_path / "router")
    assert not loaded.uses_classifier
    assert loaded.prior == result.router.prior


def test_one_sided_labels_fall_back_even_when_plentiful() -> None:
    labels = pd.DataFrame({"text": [f"t{i}" for i in range(50)], "label": [1] * 48 + [0] * 2})
    result = train_router(RouterTrainingConfig(labels, min_per_class=5, progress=False))
    assert result.used_fallback
    assert result.router.predict_p_pass(["any"]) == [pytest.approx(49 / 52)]


def test_skill_prior_by_hand() -> None:
    prior = fit_skill_prior(
        [
            RouterExample("a", 1, "sql"),
            RouterExample("b", 0, "sql"),
            RouterExample("c", 0, "sql"),
            RouterExample("d", 1, "viz"),
            RouterExample("e", 1, None),
        ]
    )
    assert prior.counts == {"sql": (1, 3), "viz": (1, 1)}
    assert prior.per_skill == {"sql": 2 / 5, "viz": 2 / 3}
    assert prior.global_p_pass == 4 / 7
    assert prior.p_pass("stats") == 4 / 7


def test_fill_p_pass_uses_text_and_keeps_given_values() -> None:
    class Echo(Router):
        """Records the texts it is asked about; p_pass = 0.1 per word."""

        def predict_p_pass(self, texts, skills=None, batch_size=64):
            self.seen = list(texts)
            return [0.1 * len(t.split()) for t in texts]

    router = Echo(SkillPrior(0.5))
    tasks = pd.DataFrame(
        {
            "id": ["t1", "t2", "t3"],
            "skill": ["sql", "ml", "viz"],
            "title": ["Clean data", "", "Plot"],
            "description": ["Drop duplicates", None, ""],
            "p_pass": [None, None, 0.9],
        }
    )
    filled = fill_p_pass(tasks, router)
    assert router.seen == ["Clean data\n\nDrop duplicates", "t2 (ml)", "Plot"]
    assert filled["p_pass"].tolist() == pytest.approx([0.4, 0.2, 0.9])
    assert tasks["p_pass"].isna().sum() == 2  # the input table is left alone


def test_router_is_an_allocator_p_pass_router() -> None:
    class Subtask:  # duck-typed like coassist.plan.Subtask
        def __init__(self, id: str, skill: str, title: str = "") -> None:
            self.id, self.skill, self.title = id, skill, title

    router = Router(SkillPrior(0.5, {"sql": 0.8}))
    assert router([Subtask("a", "sql", "Query"), Subtask("b", "ml")]) == [0.8, 0.5]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "x", "label": 2}', r"line 2 has label 2; it must be 1 .* or 0"),
        ('{"text": "x", "label": "yes"}', r"line 2 has label 'yes'"),
        ('{"text": "", "label": 1}', r'line 2 has no "text"'),
        ('{"label": 1}', r'line 2 has no "text"'),
    ],
)
def test_malformed_labels_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"text": "ok", "label": 1}\n' + line + "\n")
    with pytest.raises(InvalidTrainingData, match=message):
        read_router_labels(path)


def test_dataframe_labels_are_validated() -> None:
    assert [
        e.label for e in read_router_labels(pd.DataFrame({"text": ["a", "b"], "label": [True, 0.0]}))
    ] == [1, 0]
    with pytest.raises(InvalidTrainingData, match="lacks column"):
        read_router_labels(pd.DataFrame({"text": ["a"]}))
    with pytest.raises(InvalidTrainingData, match=r"row 7 of the labels table has label 0.5"):
        read_router_labels(pd.DataFrame({"text": ["a"], "label": [0.5]}, index=[7]))


# --- the pieces: encoding, the loss, the split, the checks --------------------------------------


def test_encode_pads_to_the_longest_and_cuts_at_max_length(tiny_encoder_dir: Path) -> None:
    _, tokenizer = load_encoder(str(tiny_encoder_dir), torch.device("cpu"), num_labels=1)
    router = Router(SkillPrior(0.5), tokenizer=tokenizer, max_length=8)
    encoded = router.encode(["write sql query for weekly revenue per region and product", "plot"])
    assert encoded["input_ids"].shape == (2, 8)
    assert encoded["attention_mask"].tolist()[1] == [1, 1, 1, 0, 0, 0, 0, 0]  # [CLS] plot [SEP], padding


def test_the_router_loss_is_binary_cross_entropy_of_the_one_logit(tiny_encoder_dir: Path) -> None:
    torch.manual_seed(0)
    model, tokenizer = load_encoder(str(tiny_encoder_dir), torch.device("cpu"), num_labels=1)
    model.eval()  # no dropout: the same logits twice
    router = Router(SkillPrior(0.5), model, tokenizer)
    batch = [RouterExample("write sql query", 1), RouterExample("negotiate contract", 0)]
    with torch.no_grad():
        loss = _loss(router, batch, torch.device("cpu")).item()
        logits = model(**router.encode([e.text for e in batch])).logits[:, 0]
    p = torch.sigmoid(logits)
    assert loss == pytest.approx(-(torch.log(p[0]) + torch.log(1 - p[1])).item() / 2, rel=1e-5)


def test_stratified_split_holds_out_a_share_of_each_label() -> None:
    passing = [RouterExample(f"pass {i}", 1) for i in range(12)]
    examples = passing + [RouterExample(f"fail {i}", 0) for i in range(4)]
    train, held_out = _stratified_split(examples, 0.25, seed=3)
    assert sorted(e.label for e in held_out) == [0, 1, 1, 1]  # round(4 * 0.25) and round(12 * 0.25)
    assert sorted(e.text for e in train + held_out) == sorted(e.text for e in examples)
    assert _stratified_split(examples, 0.25, seed=3) == (train, held_out)  # seeded, not global RNG


def test_too_few_says_why_or_returns_none() -> None:
    config = RouterTrainingConfig("labels.jsonl", min_examples=4, min_per_class=2)
    enough = [RouterExample("t", label) for label in (1, 1, 0, 0)]
    assert _too_few(enough, config) is None
    one_sided = [RouterExample("t", label) for label in (1, 1, 1, 0)]
    assert _too_few(one_sided, config) == (
        "4 labelled examples (3 passed, 1 not), and a classifier needs at least 4 with 2 of each label "
        "(RouterTrainingConfig.min_examples / min_per_class)"
    )


def test_encoder_dir_names_a_base_that_is_no_encoder(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    assert encoder_dir(str(tiny_encoder_dir)) == str(tiny_encoder_dir)
    with pytest.raises(InvalidTrainingConfig, match="neither 'minilm' nor") as raised:
        encoder_dir(str(tmp_path))
    assert raised.value.field == "base"
    assert (Path(encoder_dir("minilm")) / "config.json").is_file()  # the wheel's MiniLM


def test_check_router_dir_accepts_only_a_place_for_a_router(tmp_path: Path) -> None:
    check_router_dir(tmp_path / "new")  # absent
    check_router_dir(tmp_path)  # empty
    (tmp_path / "router.json").write_text("{}")
    check_router_dir(tmp_path)  # an earlier router, to be replaced
    (tmp_path / "router.json").unlink()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirInUse, match=r"not a router \(notes.txt\)"):
        check_router_dir(tmp_path)
    with pytest.raises(OutputDirInUse, match="is a file, not a directory"):
        check_router_dir(tmp_path / "notes.txt")


def test_router_config_normalises_paths_once() -> None:
    config = RouterTrainingConfig("labels.jsonl", "routers/team")
    assert (config.labels, config.output_dir) == (Path("labels.jsonl"), Path("routers/team"))
