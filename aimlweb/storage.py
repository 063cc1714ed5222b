"""The static files storage of a deployment: whitenoise's compressed, hashed copies, ES module imports included.

static/js/ holds native ES modules that import one another, statically (`import { store } from
"./util.js";`) or when a feature is first used (`import("./edit.js")`). Deployed, every file is served
under a hashed name (cached for good), so each import must name the hashed file too: else the browser
would load the unhashed copy, a second instance of the module with its own state. Django rewrites CSS
`url()`s to hashed names, but JavaScript imports only with `support_js_module_import_aggregation`,
whose patterns read every library's JavaScript as well (and refuse django-htmx's extensions, which
import a bare "../htmx"). So the rewrite here reads our own modules only (js/*.js), in the two forms
they are written in.

A module's hashed name depends on the hashed names it imports, so Django resolves them in passes, one
more for each level of a chain of imports in the worst order (dynamic ones count): Django's 5 would
allow chains 5 imports long, the conversation page has one that long (conversation ┄> versions >
earlier > turns > answers > util), so 10 here. A cycle never resolves: imports go one way.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage

# `import { a, b } from "./util.js";`
MODULE_IMPORT = (
    r"""(?P<matched>import(?P<names>\s*\{[^}]*\})\s*from\s*"(?P<url>\./[\w.-]+\.js)";)""",
    """import%(names)s from "%(url)s";""",
)
# `import("./edit.js")`: a module fetched when its feature is first used.
DYNAMIC_IMPORT = (
    r"""(?P<matched>import\(\s*"(?P<url>\./[\w.-]+\.js)"\s*\))""",
    """import("%(url)s")""",
)


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    max_post_process_passes = 10
    patterns = (*CompressedManifestStaticFilesStorage.patterns, ("js/*.js", (MODULE_IMPORT, DYNAMIC_IMPORT)))
