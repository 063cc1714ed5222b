"""Static files as a deployment serves them: imports rewritten to hashed names, the conversation page's bytes.

aimlweb/storage.py rewrites our ES modules' imports, static and dynamic, to the hashed names
collectstatic gives the files; benchmarks/page_bytes.py reads what a page loads before any interaction
and measures it as whitenoise serves it. tests/e2e/test_modules.py checks both in a real browser.
"""

import gzip
import re
from pathlib import Path

from aimlweb.storage import StaticFilesStorage
from benchmarks import page_bytes

ROOT = Path(__file__).resolve().parents[2]
HASHED = r"\.[0-9a-f]{12}\.js"
RELATIVE_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)"(\./[^"]+)\"""")

# What a conversation page loaded before the JavaScript was split into modules (a2e5c81^: app.js, live.js,
# versions.js, transfer.js and theme.js), our own files as whitenoise serves them: `python -m
# benchmarks.page_bytes a2e5c81^`. A conversation page loads no more than that (htmx, the same in both,
# not counted: 51,238 bytes, 16,576 gzipped). docs/benchmarks.md has the figures.
BUDGET_RAW = 64_613
BUDGET_GZIP = 18_591
# Checked where the brotli package is installed (whitenoise then makes .br copies; requirements.txt has none).
BUDGET_BROTLI = 15_803
# Features that came after the split, with what each may add (gzip): a feature's bytes are decided with the
# feature, never taken silently from the margin above. Issue 17: the model's thinking, the composer's estimate.
# Issue 18: attachments (drop and paste must listen from the start, so attach.js comes with the page), and
# the composer's files in its estimate (cost.js, +200).
LATER_FEATURES_GZIP = {"js/thinking.js": 850, "js/cost.js": 2_100, "js/attach.js": 2_600}


def collect(location: Path, files: dict[str, str]) -> dict[str, str]:
    """`files` (path: text) collected into `location` as collectstatic does: each path's hashed name."""
    for name, text in files.items():
        (location / name).parent.mkdir(parents=True, exist_ok=True)
        (location / name).write_text(text)
    storage = StaticFilesStorage(location=str(location), base_url="/static/")
    for name, _hashed, processed in storage.post_process({name: (storage, name) for name in files}):
        assert not isinstance(processed, Exception), (name, processed)
    return {name: storage.hashed_files[name] for name in files}


def test_a_module_imports_the_hashed_names_statically_and_on_first_use(tmp_path):
    hashed = collect(
        tmp_path,
        {
            "js/page.js": (
                'import { a, b } from "./util.js";\n'
                'document.addEventListener("click", function () {\n'
                '  import("./editor.js").then(function (editor) { editor.open(a, b); });\n'
                "});\n"
            ),
            "js/util.js": "export const a = 1;\nexport const b = 2;\n",
            "js/editor.js": 'import { a } from "./util.js";\nexport function open() { return a; }\n',
        },
    )
    page = (tmp_path / hashed["js/page.js"]).read_text()
    util, editor = Path(hashed["js/util.js"]).name, Path(hashed["js/editor.js"]).name
    assert re.fullmatch(r"util" + HASHED, util) and re.fullmatch(r"editor" + HASHED, editor)
    assert f'import {{ a, b }} from "./{util}";' in page
    assert f'import("./{editor}").then(' in page
    assert f'import {{ a }} from "./{util}";' in (tmp_path / hashed["js/editor.js"]).read_text()
    # Served compressed as it is (whitenoise's .gz of the hashed file).
    assert gzip.decompress((tmp_path / (hashed["js/page.js"] + ".gz")).read_bytes()).decode() == page


def test_a_chain_of_ten_imports_static_and_dynamic_resolves(tmp_path):
    # Each module's hashed name depends on the next one's: Django's 5 passes would not be enough.
    chain = {f"js/m{i}.js": f'import {{ x }} from "./m{i + 1}.js";\n' for i in range(0, 10, 2)}
    chain |= {f"js/m{i}.js": f'go(() => import("./m{i + 1}.js"));\n' for i in range(1, 10, 2)}
    hashed = collect(tmp_path, {**chain, "js/m10.js": "export const x = 1;\n"})
    for i in range(10):
        text = (tmp_path / hashed[f"js/m{i}.js"]).read_text()
        assert f'"./{Path(hashed[f"js/m{i + 1}.js"]).name}"' in text, (i, text)


def test_only_our_modules_in_their_written_form_are_rewritten(tmp_path):
    library = 'import("./other.js");\nimport { x } from "../htmx";\n'
    hashed = collect(
        tmp_path,
        {
            "js/page.js": 'const name = "./util.js";\nimport(name);\nimport("https://example.com/x.js");\n',
            "js/util.js": "export const a = 1;\n",
            "vendor/lib.js": library,
            "vendor/other.js": "",
        },
    )
    # A computed name, another site's module, a library's imports: left as they are.
    assert (tmp_path / hashed["js/page.js"]).read_text().startswith('const name = "./util.js";\nimport(name);')
    assert (tmp_path / hashed["vendor/lib.js"]).read_text() == library


def test_every_import_of_static_js_names_a_collected_hashed_module(tmp_path):
    static = page_bytes.StaticFiles(ROOT)
    hashed = page_bytes.collected(static, [], tmp_path)
    served = set(hashed.values())
    imports = 0
    for name in (name for name in hashed if name.startswith("js/")):
        text = (tmp_path / hashed[name]).read_text()
        for url in RELATIVE_IMPORT.findall(text):
            imports += 1
            target = str(Path(name).parent / url.removeprefix("./"))
            assert re.search(HASHED + "$", url) and target in served, (name, url)
    assert imports >= 20  # static and dynamic imports were found, and checked


def test_page_bytes_reads_a_page_as_django_draws_it(tmp_path):
    files = {
        "templates/base.html": (
            "{% load static %}{# <script src=\"{% static 'js/comment.js' %}\"></script> #}"
            "<script src=\"{% static 'js/classic.js' %}\" defer></script>"
            '{% block scripts %}<script type="module" src="{% static \'js/replaced.js\' %}"></script>{% endblock %}'
            "{% block head %}{% endblock %}{% include 'icons.html' %}"
        ),
        "templates/icons.html": '<script type="module" src="{% static \'js/icons.js\' %}"></script>',
        "app/templates/app/layout.html": (
            '{% extends "base.html" %}{% load static %}'
            '{% block scripts %}<script type="module" src="{% static \'js/layout.js\' %}"></script>'
            "{% block page_scripts %}{% endblock %}{% endblock %}"
        ),
        "app/templates/app/page.html": (
            '{% extends "app/layout.html" %}{% load static %}'
            '{% block page_scripts %}<script type="module" src="{% static \'js/page.js\' %}"></script>{% endblock %}'
            '{% block head %}{{ block.super }}<script type="module" src="{% static \'js/layout.js\' %}"></script>'
            "{% endblock %}"
        ),
        "static/js/classic.js": 'import("./not-a-module.js");',
        "static/js/icons.js": "",
        "static/js/layout.js": 'import { a } from "./util.js";\n',
        "static/js/page.js": 'import "./util.js";\nimport { b } from "./util.js";\ngo(() => import("./later.js"));\n',
        "static/js/util.js": "export const a = 1, b = 2;\n",
        "static/js/later.js": 'import { c } from "./later-util.js";\n',
        "static/js/later-util.js": "export const c = 3;\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    at_start, on_first_use = page_bytes.loaded(tmp_path, "app/page.html")
    assert at_start == ["js/classic.js", "js/layout.js", "js/page.js", "js/icons.js", "js/util.js"]
    assert on_first_use == ["js/later.js", "js/later-util.js"]


def test_the_conversation_page_ships_no_more_javascript_than_before_the_split():
    figures = page_bytes.measure(ROOT)
    loaded = [file.path for file in figures.files]
    assert {"js/turns.js", "js/live.js", "django_htmx/htmx-2.min.js", *LATER_FEATURES_GZIP} <= set(loaded), loaded
    later = {file.path: file for file in figures.files if file.path in LATER_FEATURES_GZIP}
    for path, allowed in LATER_FEATURES_GZIP.items():
        assert later[path].gzip <= allowed, f"{path}: {later[path].gzip:,} bytes gzipped, over its {allowed:,}"
    house = [file for file in figures.files if file.ours and file.path not in later]
    raw, gzipped = sum(file.raw for file in house), sum(file.gzip for file in house)
    assert gzipped <= BUDGET_GZIP and raw <= BUDGET_RAW, (
        f"a conversation page loads {gzipped:,} bytes of our JavaScript gzipped ({raw:,} raw) before any "
        f"interaction, over the budget of {BUDGET_GZIP:,} ({BUDGET_RAW:,}): fetch a feature when it is first "
        'used (`import("./x.js")`, docs/architecture.md), or trim. `python -m benchmarks.page_bytes --files`'
    )
    brotli = [file.brotli for file in house]
    assert None in brotli or sum(b for b in brotli if b is not None) <= BUDGET_BROTLI, brotli
