"""The usage admin: conversations, turns and the ledger; read-only where it shows money, fast at a million rows.

The turn and charge lists show the count and sums of the filtered rows above them,
export them as a streamed CSV, and filter with `admin_filters` (indexed, with the
dashboard's parameters). See docs/benchmarks.md for the figures at scale.
"""

# The admins live with their capability; importing them here registers them (Django reads this module).
from .chat import admin as chat_admin  # noqa: F401
from .usage import admin as usage_admin  # noqa: F401
