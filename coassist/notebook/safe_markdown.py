"""Model text as HTML a browser can show without running anything in it.

JupyterLab trusts the outputs of a cell the user just ran, so Markdown sent as `text/markdown`
has its raw HTML rendered as is: an `<img onerror=...>` in an answer (from an endpoint, an
adapter, or text pulled in through `{df}` or `{last_error}`) would run with the user's token.
Every place that shows model text therefore renders it here: Markdown is parsed with raw HTML
off (markdown-it-py turns `<script>` into visible text), then the HTML is cleaned by `nh3`
(the bindings of the Rust sanitiser ammonia) as a second, independent line of defence.

Images are not allowed: an image URL the model wrote would be fetched by the browser, which can
carry data out of the notebook without a click. They show as their alt text.

Fenced code in a language Pygments knows is highlighted here too, as spans whose inline `style`
is one of `_TOKEN_STYLES` (colours from JupyterLab's editor theme variables, so they follow light
and dark themes, with a fallback for other front ends); the model's text is only ever the
escaped content of those spans. Code blocks keep their lines (no wrapping inside identifiers)
and scroll sideways instead. The cleaner allows `style` on `span` and `code` with only colour,
weight, slant, layout, spacing and wrapping properties, none of which can load anything.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Comment, Keyword, Name, Number, Operator, String, _TokenType
from pygments.util import ClassNotFound

# What Markdown produces, minus images, plus the highlighter's spans; no attribute beyond a
# link's target, table alignment and the highlighter's styles.
_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"}, "ol": {"start"}, "td": {"style"}, "th": {"style"}, "code": {"style"}, "span": {"style"},
}  # fmt: skip
_URL_SCHEMES = {"http", "https", "mailto"}
_STYLE_PROPERTIES = {
    "text-align", "color", "font-weight", "font-style", "display", "white-space", "word-break",
    "overflow-x", "background-color", "padding",
}  # fmt: skip

_KEYWORD = "color: var(--jp-mirror-editor-keyword-color, #008000); font-weight: bold"
_DEFINED = "color: var(--jp-mirror-editor-def-color, #0000ff)"
_TOKEN_STYLES: tuple[tuple[_TokenType, str], ...] = (
    (Comment, "color: var(--jp-mirror-editor-comment-color, #408080); font-style: italic"),
    (String, "color: var(--jp-mirror-editor-string-color, #ba2121)"),
    (Number, "color: var(--jp-mirror-editor-number-color, #008800)"),
    (Keyword, _KEYWORD),
    (Operator.Word, _KEYWORD),
    (Operator, "color: var(--jp-mirror-editor-operator-color, #7800c2)"),
    (Name.Builtin, "color: var(--jp-mirror-editor-builtin-color, #008000)"),
    (Name.Function, _DEFINED),
    (Name.Class, _DEFINED),
    (Name.Decorator, "color: var(--jp-mirror-editor-meta-color, #aa22ff)"),
)
"""The style of each kind of token, first match wins (`Operator.Word` is `and`, `in`, `not`);
other tokens are plain text. The names follow JupyterLab's editor variables."""

CODE_BLOCK_STYLE = (
    "display: block; white-space: pre; word-break: normal; overflow-x: auto; "
    "background-color: var(--jp-layout-color2, #f5f5f5); padding: 4px 6px"
)
"""A code block's `code`: lines as written, scrolled sideways when long (a notebook output
wraps its `pre` anywhere, inside identifiers too), on the theme's code background."""


@functools.cache
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML rendered as text, plus the tables and strikethrough models write.
    parser = MarkdownIt("commonmark", {"html": False, "highlight": _code_block}).enable(["table", "strikethrough"])
    parser.add_render_rule("image", _image_as_text)
    return parser


def _code_block(code: str, language: str, _attributes: str) -> str:
    """A fenced block as `<pre>`: highlighted when its language is one Pygments knows."""
    lexer = _lexer(language)
    body = escapeHtml(code) if lexer is None else "".join(_token_html(kind, text) for kind, text in lexer.get_tokens(code))
    return f'<pre><code style="{CODE_BLOCK_STYLE}">{body}</code></pre>'


@functools.cache
def _lexer(language: str) -> Lexer | None:
    if not language:
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def _token_html(kind: _TokenType, text: str) -> str:
    escaped = escapeHtml(text)
    for token, style in _TOKEN_STYLES:
        if kind in token:
            return f'<span style="{style}">{escaped}</span>'
    return escaped


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
