"""The JavaScript a page loads before any interaction, in bytes: raw, and as a deployment serves it.

    .venv/bin/python -m benchmarks.page_bytes                    # the working tree, a conversation page
    .venv/bin/python -m benchmarks.page_bytes a2e5c81^ main      # the working tree beside these git refs
    .venv/bin/python -m benchmarks.page_bytes --files main       # each file too
    .venv/bin/python -m benchmarks.page_bytes --page conversations/home.html --json out.json

What a page loads is read from its templates, as Django would draw them: the `<script src="{% static
... %}">` tags of the page, of the templates it extends (the most derived definition of each block,
`{{ block.super }}` included) and of those it includes (every `{% if %}` is taken as true: the page is
drawn for a signed-in user), then, for each `type="module"` script, the modules it imports statically
(`import ... from "./x.js";`), and theirs, each once. A dynamic `import("./x.js")` is fetched when a
feature is first used, not with the page: those are listed apart ("on first use"), not counted.
tests/e2e/test_modules.py checks in a real browser that a conversation page loads exactly these.

The files are then collected as `collectstatic` collects them for a deployment, with the working tree's
storage (aimlweb/storage.py: hashed names, imports rewritten to them, whitenoise's compressed copies), in
a temp dir, and measured as whitenoise serves them: `gzip` is the .gz copy's size (the file itself when
whitenoise found gzip not worth it), `brotli` the .br copy's, which whitenoise makes only when the
brotli package is installed (requirements.txt does not install it, so a deployment serves gzip).
`ours` counts static/ only; the rest is from packages (htmx, from django-htmx as installed here).

A git ref is read from `git archive REF` in a temp dir; the figures are bytes, not timings, so they are
the same on every run and machine. docs/benchmarks.md has them; tests/ops/test_static.py keeps the
conversation page within its budget.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONVERSATION = "conversations/conversation.html"
# Folders never searched for templates or static files.
SKIP_DIRS = {"staticfiles", "node_modules", "data", "__pycache__"}

# --- What a page loads ---------------------------------------------------------------------------

COMMENT = re.compile(r"{#.*?#}|{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.S)
TAG = re.compile(r"{%\s*(block|endblock|extends|include)\b(.*?)%}", re.S)
QUOTED = re.compile(r"""["']([^"']+)["']""")
SCRIPT = re.compile(r"<script\b([^>]*)>", re.I)
STATIC_SRC = re.compile(r"""src=["']?{%\s*static\s+["']([^"']+)["']\s*%}""")
MODULE_TYPE = re.compile(r"""type=["']?module\b""")
# `import { a } from "./x.js";`, `import "./x.js";`, `export { a } from "./x.js";` (not `import(`).
STATIC_IMPORT = re.compile(r"""\b(?:import|export)\s*(?:[\w$*{}\s,]+?\s*from\s*)?["'](\.\.?/[^"']+)["']""")
DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["'](\.\.?/[^"']+)["']\s*\)""")

Node = str | tuple[str, str] | tuple[str, str, list]  # text | ("include", name) | ("block", name, nodes)


@dataclass
class Template:
    parent: str | None
    nodes: list


def _parse(text: str) -> Template:
    text = COMMENT.sub("", text)
    root: list = []
    stack = [root]
    parent = None
    pos = 0
    for match in TAG.finditer(text):
        stack[-1].append(text[pos : match.start()])
        pos = match.end()
        kind, arg = match.group(1), match.group(2).strip()
        quoted = QUOTED.match(arg)
        if kind == "extends":
            parent = quoted.group(1) if quoted else None
        elif kind == "include":
            if quoted:  # an include of a variable's template cannot be followed
                stack[-1].append(("include", quoted.group(1)))
        elif kind == "block":
            block: tuple[str, str, list] = ("block", arg.split()[0], [])
            stack[-1].append(block)
            stack.append(block[2])
        elif len(stack) > 1:
            stack.pop()
    stack[-1].append(text[pos:])
    return Template(parent, root)


def _source_dirs(tree: Path, name: str) -> Iterator[Path]:
    """`tree/<name>` and `tree/<app>/.../<name>`: where Django's loaders and finders look (no dot folders)."""
    for dirpath, dirnames, _ in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        if os.path.basename(dirpath) == name:
            dirnames[:] = []
            yield Path(dirpath)


class Page:
    """A page's templates in `tree`, resolved as Django resolves blocks, reduced to its script tags."""

    def __init__(self, tree: Path, template: str) -> None:
        self.template_dirs = list(_source_dirs(tree, "templates"))
        self.cache: dict[str, Template] = {}
        self.text = self._render(template)

    def _load(self, name: str) -> Template:
        if name not in self.cache:
            for folder in self.template_dirs:
                if (folder / name).is_file():
                    self.cache[name] = _parse((folder / name).read_text())
                    break
            else:
                raise FileNotFoundError(f"template {name} not found under {self.template_dirs}")
        return self.cache[name]

    def _render(self, name: str) -> str:
        chain = [self._load(name)]
        while chain[-1].parent:
            chain.append(self._load(chain[-1].parent))
        definitions: dict[str, list[list]] = {}

        def collect(nodes: list) -> None:
            for node in nodes:
                if isinstance(node, tuple) and node[0] == "block":
                    definitions.setdefault(node[1], []).append(node[2])
                    collect(node[2])

        for template in chain:  # the most derived first
            collect(template.nodes)

        def render(nodes: list, block: str = "", level: int = 0) -> str:
            out = []
            for node in nodes:
                if isinstance(node, str):
                    if block and "block.super" in node:
                        parts = re.split(r"{{\s*block\.super\s*}}", node)
                        sup = render(definitions[block][level + 1], block, level + 1)
                        node = sup.join(parts)
                    out.append(node)
                elif node[0] == "include":
                    out.append(self._render(node[1]))
                else:
                    out.append(render(definitions[node[1]][0], node[1], 0))
            return "".join(out)

        return render(chain[-1].nodes)

    def scripts(self) -> list[tuple[str, bool]]:
        """(static path, is a module) of each script tag, in page order."""
        found = []
        for match in SCRIPT.finditer(self.text):
            src = STATIC_SRC.search(match.group(1))
            if src:
                found.append((src.group(1), bool(MODULE_TYPE.search(match.group(1)))))
        return found


class StaticFiles:
    """Static files by path, found as Django's finders find them: static/, an app's static/, a package's."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.dirs = list(_source_dirs(tree, "static"))

    def find(self, path: str) -> tuple[Path, bool]:
        """The file and whether it is ours (from the tree) rather than a package's."""
        for folder in self.dirs:
            if (folder / path).is_file():
                return folder / path, True
        spec = importlib.util.find_spec(path.split("/")[0])
        for location in (spec.submodule_search_locations or []) if spec else []:
            if (Path(location) / "static" / path).is_file():
                return Path(location) / "static" / path, False
        raise FileNotFoundError(f"static file {path} not found in {self.dirs} or an installed package")

    def ours(self) -> Iterator[str]:
        """Every JavaScript file of the tree's static folders, as a static path."""
        for folder in self.dirs:
            for file in sorted(folder.rglob("*.js")):
                yield file.relative_to(folder).as_posix()


def _imports(static: StaticFiles, path: str, pattern: re.Pattern[str]) -> list[str]:
    text = static.find(path)[0].read_text()
    return [os.path.normpath(os.path.join(os.path.dirname(path), url)) for url in pattern.findall(text)]


def loaded(tree: Path, template: str = CONVERSATION) -> tuple[list[str], list[str]]:
    """The static paths `template` loads before any interaction, and those its modules fetch on first use."""
    static = StaticFiles(tree)
    at_start: list[str] = []
    modules: list[str] = []
    for path, is_module in Page(tree, template).scripts():
        if path in at_start:
            continue
        at_start.append(path)
        if is_module:  # a classic script's imports are not followed (there are none)
            modules.append(path)
    pending = list(modules)
    while pending:  # the static imports of each module, each file once: they load with the page
        for target in _imports(static, pending.pop(0), STATIC_IMPORT):
            if target not in at_start:
                at_start.append(target)
                modules.append(target)
                pending.append(target)
    later: list[str] = []
    pending = list(modules)
    while pending:  # what they import dynamically, and what that imports in either way
        path = pending.pop(0)
        targets = _imports(static, path, DYNAMIC_IMPORT)
        if path in later:
            targets = _imports(static, path, STATIC_IMPORT) + targets
        for target in targets:
            if target not in at_start and target not in later:
                later.append(target)
                pending.append(target)
    return at_start, later


# --- As served -----------------------------------------------------------------------------------


@dataclass
class File:
    path: str
    served_as: str
    ours: bool
    raw: int
    gzip: int
    brotli: int | None


@dataclass
class Figures:
    label: str
    page: str
    files: list[File]
    on_first_use: list[File] = field(default_factory=list)

    def total(self, column: str, ours_only: bool = False) -> int | None:
        values = [getattr(f, column) for f in self.files if f.ours or not ours_only]
        return None if None in values else sum(values)


def collected(static: StaticFiles, paths: list[str], into: Path) -> dict[str, str]:
    """Collects `paths` (and every JS file of the tree) into `into` as collectstatic does: their hashed names."""
    from aimlweb.storage import StaticFilesStorage

    names = sorted(set(static.ours()) | set(paths))
    for name in names:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(static.find(name)[0], target)
    storage = StaticFilesStorage(location=str(into), base_url="/static/")
    for name, _hashed, processed in storage.post_process({name: (storage, name) for name in names}):
        if isinstance(processed, Exception):
            raise RuntimeError(f"collecting {name}: {processed}") from processed
    return {name: storage.hashed_files[name] for name in names}


def _served(into: Path, hashed: str) -> tuple[int, int, int | None]:
    raw = (into / hashed).stat().st_size
    gz = into / (hashed + ".gz")
    br = into / (hashed + ".br")
    brotli_made = importlib.util.find_spec("brotli") is not None
    return (
        raw,
        gz.stat().st_size if gz.exists() else raw,
        (br.stat().st_size if br.exists() else raw) if brotli_made else None,
    )


def measure(tree: Path, template: str = CONVERSATION, label: str = "working tree") -> Figures:
    """What `template` loads before any interaction in `tree`, each file as a deployment serves it."""
    static = StaticFiles(tree)
    at_start, later = loaded(tree, template)
    with tempfile.TemporaryDirectory(prefix="page-bytes-") as tmp:
        hashed = collected(static, at_start + later, Path(tmp))

        def files(paths: list[str]) -> list[File]:
            return [File(p, hashed[p], static.find(p)[1], *_served(Path(tmp), hashed[p])) for p in paths]

        return Figures(label, template, files(at_start), files(later))


@contextmanager
def tree_at(ref: str) -> Iterator[Path]:
    """The files of git `ref` in a temp dir (`git archive`)."""
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="page-bytes-tree-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


# --- Report ----------------------------------------------------------------------------------------


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def table(results: list[Figures], files: bool = False) -> str:
    lines = [
        f"JavaScript a page loads before any interaction: {results[0].page}",
        "",
        "| tree | files | raw | gzip | brotli | ours raw | ours gzip | ours brotli | on first use (gzip) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        later = ", ".join(f"{Path(f.path).name} {_n(f.gzip)}" for f in r.on_first_use) or "-"
        lines.append(
            f"| {r.label} | {len(r.files)} | {_n(r.total('raw'))} | {_n(r.total('gzip'))} | {_n(r.total('brotli'))} "
            f"| {_n(r.total('raw', True))} | {_n(r.total('gzip', True))} | {_n(r.total('brotli', True))} | {later} |"
        )
    if files:
        for r in results:
            lines += ["", f"{r.label}:", "", "| file | raw | gzip | brotli |", "|---|---:|---:|---:|"]
            for f in r.files + r.on_first_use:
                name = f.path if f in r.files else f"{f.path} (on first use)"
                lines.append(f"| {name} | {_n(f.raw)} | {_n(f.gzip)} | {_n(f.brotli)} |")
    if results[0].total("brotli") is None:
        lines += ["", "brotli: none made (the brotli package is not installed, so whitenoise serves gzip)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("refs", nargs="*", help="git refs to measure beside the working tree (e.g. a2e5c81^ main)")
    parser.add_argument("--page", default=CONVERSATION, help=f"the page's template (default {CONVERSATION})")
    parser.add_argument("--files", action="store_true", help="list each file")
    parser.add_argument("--no-tree", action="store_true", help="only the refs, not the working tree")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimlweb.settings")
    import django

    django.setup()
    results = []
    for ref in args.refs:
        with tree_at(ref) as tree:
            results.append(measure(tree, args.page, ref))
    if not args.no_tree:
        results.append(measure(ROOT, args.page))
    print(table(results, args.files))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
