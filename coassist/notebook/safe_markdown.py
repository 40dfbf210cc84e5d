"""Model text as HTML a browser can show without running anything in it.

JupyterLab trusts the outputs of a cell the user just ran, so Markdown sent as `text/markdown`
has its raw HTML rendered as is: an `<img onerror=...>` in an answer (from an endpoint, an
adapter, or text pulled in through `{df}` or `{last_error}`) would run with the user's token.
Every place that shows model text therefore renders it here: Markdown is parsed with raw HTML
off (markdown-it-py turns `<script>` into visible text), then the HTML is cleaned by `nh3`
(the bindings of the Rust sanitiser ammonia) as a second, independent line of defence.

Images are not allowed: an image URL the model wrote would be fetched by the browser, which can
carry data out of the notebook without a click. They show as their alt text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

# What Markdown produces, minus images; no attribute beyond a link's target and table alignment.
_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "td": {"style"}, "th": {"style"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_STYLE_PROPERTIES = {"text-align"}


@functools.cache
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML rendered as text, plus the tables and strikethrough models write.
    parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    parser.add_render_rule("image", _image_as_text)
    return parser


def _image_as_text(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """An image shows as `[image: alt]`: its URL is never fetched (see the module docstring)."""
    return escapeHtml(f"[image: {tokens[idx].content}]")


def markdown_to_safe_html(text: str) -> str:
    """Render untrusted Markdown to HTML that holds no script, handler, frame or image.

    >>> markdown_to_safe_html("**hi** <img src=x onerror=alert(1)>")
    '<p><strong>hi</strong> &lt;img src=x onerror=alert(1)&gt;</p>\\n'
    >>> markdown_to_safe_html("[x](javascript:alert(1))")
    '<p>[x](javascript:alert(1))</p>\\n'
    >>> markdown_to_safe_html("![a chart](https://example.com/p.png?data=secret)")
    '<p>[image: a chart]</p>\\n'
    """
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        filter_style_properties=_STYLE_PROPERTIES,
        link_rel="noopener noreferrer nofollow",
    )
