"""User settings as traitlets, the way Jupyter tools are configured.

Set them in a notebook (``%config Assist.model = "path/to/adapter"``) or for every session in
``ipython_config.py`` (``c.Assist.max_new_tokens = 512``).
"""

from __future__ import annotations

from traitlets import Bool, CaselessStrEnum, Float, Int, Unicode
from traitlets.config import Configurable


class Assist(Configurable):
    """Defaults for `%%assist`; each can be overridden per cell by the magic's options."""

    model = Unicode("smollm2", help="Model spec: smollm2, a model or adapter directory, a hub id, or openai:URL#model.").tag(
        config=True
    )
    device = Unicode("auto", help="'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'.").tag(config=True)
    dtype = Unicode("auto", help="'auto' (bf16 on CUDA, fp32 on CPU), 'float32', 'bfloat16' or 'float16'.").tag(
        config=True
    )
    max_new_tokens = Int(256, min=1, help="Longest answer, in tokens.").tag(config=True)
    temperature = Float(0.0, min=0.0, help="0 for greedy (reproducible) answers; above 0 to sample.").tag(config=True)
    default_format = CaselessStrEnum(
        ["markdown", "code", "text"], default_value="markdown", help="How answers are rendered when -f is not given."
    ).tag(config=True)
    history = Bool(True, help="Continue the conversation across cells (within the model's context).").tag(config=True)
    dataframe_sample_rows = Int(0, min=0, help="Sample rows shown for an interpolated DataFrame (0: schema only).").tag(
        config=True
    )
    context_budget_tokens = Int(
        1024, min=64, help="Token budget for one interpolated value (DataFrame summary, cell source, ...)."
    ).tag(config=True)
