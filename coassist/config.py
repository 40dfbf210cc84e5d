"""User settings as traitlets, the way Jupyter tools are configured.

Set them in a notebook (``%config Assist.model = "path/to/adapter"``) or for every session in
``ipython_config.py`` (``c.Assist.max_new_tokens = 512``).
"""

from __future__ import annotations

from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode
from traitlets.config import Configurable

from coassist.llm.chat import GenerationSettings
from coassist.llm.spec import DEFAULT_SPEC
from coassist.prompt import SYSTEM_PROMPT, ContextOptions


class Assist(Configurable):
    """Defaults for `%%assist`; each can be overridden per cell by the magic's options."""

    model = Unicode(
        DEFAULT_SPEC,
        help="Model spec: coassist (SmolLM2 with coassist's adapter), smollm2 (the bare base), a model or "
        "adapter directory, a hub id, or openai:URL#model.",
    ).tag(config=True)
    device = Unicode("auto", help="'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'.").tag(config=True)
    dtype = Unicode(
        "auto",
        help="'auto' (bf16 on CUDA, fp32 on CPU), 'float32', 'bfloat16', 'float16', "
        "or 'int8' (CPU only: int8 layers, faster decoding; see docs/inference.md).",
    ).tag(config=True)
    max_new_tokens = Int(256, min=1, help="Longest answer, in tokens.").tag(config=True)
    temperature = Float(0.0, min=0.0, help="0 for greedy (reproducible) answers; above 0 to sample.").tag(config=True)
    default_format = CaselessStrEnum(
        ["markdown", "code", "text"], default_value="markdown", help="How answers are rendered when -f is not given."
    ).tag(config=True)
    history = Bool(True, help="Continue the conversation across cells (within the model's context).").tag(config=True)
    dataframe_sample_rows = Int(
        ContextOptions.sample_rows, min=0, help="Sample rows shown for an interpolated DataFrame (0: schema only)."
    ).tag(config=True)
    dataframe_statistics = Bool(
        ContextOptions.statistics,
        help="Describe an interpolated DataFrame's columns with their range and mean (numbers, dates) or "
        "distinct count, and count its duplicate rows; False sends only the schema.",
    ).tag(config=True)
    context_budget_tokens = Int(
        ContextOptions.budget_tokens,
        min=64,
        help="Token budget for one interpolated value (DataFrame summary, cell source, ...).",
    ).tag(config=True)
    # Small models copy what they see: a long earlier answer (a table, a loop) reappears in the
    # next one, and the history crowds out the question's own data. 512 tokens holds the last
    # exchange or two of a default-length (256-token) answer, so a follow-up still has its
    # antecedent while the new question and its context stay most of the prompt.
    history_budget_tokens = Int(
        512, min=0, help="Most tokens of earlier exchanges sent with a question (oldest dropped first; 0: none)."
    ).tag(config=True)
    # 1.05 measured best with the system prompt below (docs/evaluation.md): 1.1 and above make
    # SmolLM2 avoid the words a question uses (column names), and answers run to the limit.
    repetition_penalty = Float(
        1.05, help="Above 1 discourages repeating tokens already seen (transformers' and vLLM's meaning); 1: off."
    ).tag(config=True)
    system_prompt = Unicode(SYSTEM_PROMPT, help="The system message that opens every conversation.").tag(config=True)

    def generation_settings(self, max_new_tokens: int | None = None, temperature: float | None = None) -> GenerationSettings:
        """The settings an answer is generated with: these, with a cell's options on top.

        One source for the magics, the chat widget and the evaluation harness's "product defaults".
        """
        return GenerationSettings(
            max_new_tokens=max_new_tokens if max_new_tokens is not None else self.max_new_tokens,
            temperature=temperature if temperature is not None else self.temperature,
            repetition_penalty=self.repetition_penalty,
        )

    def context_options(self, sample_rows: int | None = None) -> ContextOptions:
        """How much of an interpolated value a prompt carries: these, with a cell's `--sample-rows`
        on top. One source for the magics, the chat widget, `coassist eval` and the curriculum."""
        return ContextOptions(
            budget_tokens=self.context_budget_tokens,
            sample_rows=self.dataframe_sample_rows if sample_rows is None else sample_rows,
            statistics=self.dataframe_statistics,
        )
