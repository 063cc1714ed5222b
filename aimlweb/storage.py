"""The static files storage of a deployment: whitenoise's compressed, hashed copies, ES module imports included.

static/js/ holds native ES modules that import one another (`import { store } from "./util.js";`).
Deployed, every file is served under a hashed name (cached for good), so each import must name the
hashed file too: else the browser would load the unhashed copy, a second instance of the module with
its own state. Django rewrites CSS `url()`s to hashed names, but JavaScript imports only with
`support_js_module_import_aggregation`, whose patterns read every library's JavaScript as well (and
refuse django-htmx's extensions, which import a bare "../htmx"). So the rewrite here reads our own
modules only (js/*.js), in the one form they are written in.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage

# `import { a, b } from "./util.js";`
MODULE_IMPORT = (
    r"""(?P<matched>import(?P<names>\s*\{[^}]*\})\s*from\s*"(?P<url>\./[\w.-]+\.js)";)""",
    """import%(names)s from "%(url)s";""",
)


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = (*CompressedManifestStaticFilesStorage.patterns, ("js/*.js", (MODULE_IMPORT,)))
