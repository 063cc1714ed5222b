"""The search index (see search.py): create it, keep it in step, check it after migrate, rebuild it.

SQLite: an FTS5 table fed by triggers, so every way a turn or a title is written (services,
bulk imports, the admin, raw updates) keeps the index in step within the same transaction.
A trigger only reads its own table and the index's tables: when a migration rebuilds a table
(new__x, DROP x, RENAME), SQLite refuses the RENAME while any trigger names a missing table.
The rebuild drops that table's own triggers; `after_migrate` puts them back.
PostgreSQL: tsvector columns the database generates itself, with GIN indexes.
"""

# ruff: noqa: S608  (every statement here is constant DDL written in this file; no input reaches it)

import logging
from contextlib import contextmanager

from django.db import connection, transaction

from conversations.models import Conversation, Turn

logger = logging.getLogger(__name__)

ACTIVE_SQL = ", ".join(f"'{status}'" for status in Turn.ACTIVE)


FTS = "conversations_fts"
ROWS = "conversations_searchrow"
# Each user's entries have row ids in a range of their own (owner id * 2^40 + a count), so a
# search reads only its user's part of the index (FTS5 seeks to a row id range) and walks it
# newest first, however many other users the instance has.
OWNER_SHIFT = 40
# Objects of an earlier layout, dropped when found (the index is then rebuilt).
LEGACY = ("conversations_search",)


def owner_range(owner_id: int) -> tuple[int, int]:
    low = int(owner_id) << OWNER_SHIFT
    return low, low + (1 << OWNER_SHIFT) - 1


def _answer(row: str) -> str:
    # A running answer is indexed when it is done (its text changes many times a second).
    return f"CASE WHEN {row}.status IN ({ACTIVE_SQL}) THEN '' ELSE {row}.output_text END"


def _next_id(owner: str) -> str:
    """The next free row id in the owner's range (a seek on the primary key)."""
    return (
        f"(SELECT coalesce(max(id), ({owner}) << {OWNER_SHIFT}) + 1 FROM {ROWS} "
        f"WHERE id BETWEEN ({owner}) << {OWNER_SHIFT} AND ((({owner}) + 1) << {OWNER_SHIFT}) - 1)"
    )


# Title entries have no turn: `+r.turn_id IS NULL` (the unary plus) keeps SQLite from looking them up in the
# turn_id index, where every conversation's title entry shares the NULL key, instead of by conversation.


def _fts_turn(op: str, row: str) -> str:
    """Insert (op="") or delete (op="delete") one turn's entry; contentless FTS5 deletes need the old text."""
    command = (f"{FTS}, " if op else "", f"'{op}', " if op else "")
    return (
        f"INSERT INTO {FTS} ({command[0]}rowid, title, prompt, answer) "
        f"SELECT {command[1]}r.id, '', {row}.prompt, {_answer(row)} FROM {ROWS} r WHERE r.turn_id = {row}.id;"
    )


def _fts_title(op: str, row: str) -> str:
    command = (f"{FTS}, " if op else "", f"'{op}', " if op else "")
    return (
        f"INSERT INTO {FTS} ({command[0]}rowid, title, prompt, answer) "
        f"SELECT {command[1]}r.id, {row}.title, '', '' FROM {ROWS} r "
        f"WHERE r.conversation_id = {row}.id AND +r.turn_id IS NULL;"
    )


SQLITE_TABLES = [
    f"""CREATE TABLE IF NOT EXISTS {ROWS} (
        id INTEGER PRIMARY KEY,
        turn_id char(32) UNIQUE,
        conversation_id char(32) NOT NULL,
        owner_id integer NOT NULL,
        created_at datetime NOT NULL,
        status varchar(16),
        cost_usd decimal,
        model varchar(100) NOT NULL DEFAULT '',
        archived bool NOT NULL DEFAULT 0
    )""",
    f"CREATE INDEX IF NOT EXISTS {ROWS}_conversation ON {ROWS} (conversation_id)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5("
    "title, prompt, answer, content='', prefix='3', tokenize='unicode61 remove_diacritics 2')",
]

SQLITE_TRIGGERS = {
    f"{FTS}_turn_insert": f"""
        AFTER INSERT ON conversations_turn BEGIN
            INSERT INTO {ROWS} (id, turn_id, conversation_id, owner_id, created_at, status, cost_usd, model, archived)
            SELECT {_next_id("c.owner_id")}, NEW.id, NEW.conversation_id, c.owner_id, NEW.created_at, NEW.status,
                NEW.cost_usd, c.model, c.archived
            FROM {ROWS} c WHERE c.conversation_id = NEW.conversation_id AND +c.turn_id IS NULL;
            {_fts_turn("", "NEW")}
        END""",
    f"{FTS}_turn_text": f"""
        AFTER UPDATE OF prompt, output_text, status ON conversations_turn
        WHEN OLD.prompt IS NOT NEW.prompt OR {_answer("OLD")} IS NOT {_answer("NEW")} BEGIN
            {_fts_turn("delete", "OLD")}
            {_fts_turn("", "NEW")}
        END""",
    f"{FTS}_turn_facets": f"""
        AFTER UPDATE OF status, cost_usd ON conversations_turn
        WHEN OLD.status IS NOT NEW.status OR OLD.cost_usd IS NOT NEW.cost_usd BEGIN
            UPDATE {ROWS} SET status = NEW.status, cost_usd = NEW.cost_usd WHERE turn_id = NEW.id;
        END""",
    f"{FTS}_turn_delete": f"""
        AFTER DELETE ON conversations_turn BEGIN
            {_fts_turn("delete", "OLD")}
            DELETE FROM {ROWS} WHERE turn_id = OLD.id;
        END""",
    f"{FTS}_conversation_insert": f"""
        AFTER INSERT ON conversations_conversation BEGIN
            INSERT INTO {ROWS} (id, turn_id, conversation_id, owner_id, created_at, model, archived)
            VALUES ({_next_id("NEW.owner_id")}, NULL, NEW.id, NEW.owner_id, NEW.created_at, NEW.model,
                NEW.archived_at IS NOT NULL);
            {_fts_title("", "NEW")}
        END""",
    f"{FTS}_conversation_title": f"""
        AFTER UPDATE OF title ON conversations_conversation WHEN OLD.title IS NOT NEW.title BEGIN
            {_fts_title("delete", "OLD")}
            {_fts_title("", "NEW")}
        END""",
    f"{FTS}_conversation_facets": f"""
        AFTER UPDATE OF model, archived_at ON conversations_conversation
        WHEN OLD.model IS NOT NEW.model OR (OLD.archived_at IS NULL) != (NEW.archived_at IS NULL) BEGIN
            UPDATE {ROWS} SET model = NEW.model, archived = NEW.archived_at IS NOT NULL
            WHERE conversation_id = NEW.id;
        END""",
    f"{FTS}_conversation_delete": f"""
        AFTER DELETE ON conversations_conversation BEGIN
            {_fts_title("delete", "OLD")}
            DELETE FROM {ROWS} WHERE conversation_id = OLD.id AND +turn_id IS NULL;
        END""",
}

POSTGRES_COLUMNS = {
    "conversations_turn": (
        "setweight(to_tsvector('simple'::regconfig, coalesce(prompt, '')), 'B') || "
        "setweight(to_tsvector('simple'::regconfig, CASE WHEN status IN ("
        + ACTIVE_SQL
        + ") THEN '' ELSE coalesce(output_text, '') END), 'C')"
    ),
    "conversations_conversation": "setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')",
}


def ensure_installed() -> bool:
    """Create whatever part of the index is missing (after migrate); True if something was, and rebuilt."""
    missing = _install()
    if missing and connection.vendor == "sqlite":  # PostgreSQL computes its columns as they are added
        logger.info("search index: created %s, rebuilding", ", ".join(sorted(missing)))
        rebuild()
    return bool(missing)


def _install() -> set[str]:
    """Create the missing tables, triggers or columns; the names of what was missing."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')")
            rows = cursor.fetchall()
            objects = [(kind, name) for kind, name, _sql in rows]
            present = {name for _kind, name in objects}
            # A trigger written by an earlier version of this file is replaced (its entries stay valid).
            stale = [
                name
                for kind, name, sql in rows
                if kind == "trigger"
                and name in SQLITE_TRIGGERS
                and not " ".join(sql.split()).endswith(" ".join(SQLITE_TRIGGERS[name].split()))
            ]
            if "conversations_turn" not in present:  # before the app's tables exist
                return set()
            legacy = [
                (kind, name)
                for kind, name in objects
                if name in LEGACY or (kind == "trigger" and name.startswith("conversations_search_"))
            ]
            missing = {ROWS, FTS, *SQLITE_TRIGGERS} - present
            if not missing and not legacy and not stale:
                return set()
            with transaction.atomic():
                for name in stale:
                    cursor.execute(f"DROP TRIGGER {name}")
                for kind, name in legacy:  # an earlier layout: its entries are rebuilt
                    cursor.execute(f"DROP {kind.upper()} IF EXISTS {name}")
                for statement in SQLITE_TABLES:
                    cursor.execute(statement)
                for name, body in SQLITE_TRIGGERS.items():
                    cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
            missing |= {name for _kind, name in legacy}
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'search_vector' "
                "AND table_name IN ('conversations_turn', 'conversations_conversation') "
                "AND table_schema = current_schema()"
            )
            present = {name for (name,) in cursor.fetchall()}
            missing = set(POSTGRES_COLUMNS) - present
            if not missing:
                return set()
            with transaction.atomic():
                for table in missing:
                    cursor.execute(
                        f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
                        f"GENERATED ALWAYS AS ({POSTGRES_COLUMNS[table]}) STORED"
                    )
                    cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_search ON {table} USING gin (search_vector)")
        else:
            return set()
    return missing


def rebuild(*, missing_only: bool = False) -> int:
    """Index every turn and title again, from scratch; returns the number of entries.

    `missing_only`: add only what has no entry yet (rows bulk-loaded while the triggers were off).
    """
    if connection.vendor == "postgresql":
        # The database computes the vectors itself; a REINDEX compacts the GIN indexes.
        with connection.cursor() as cursor:
            cursor.execute("REINDEX INDEX conversations_turn_search")
            cursor.execute("REINDEX INDEX conversations_conversation_search")
        return Turn.objects.count() + Conversation.objects.count()
    if connection.vendor != "sqlite":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        if missing_only:
            new_title = f"NOT EXISTS (SELECT 1 FROM {ROWS} r WHERE r.conversation_id = c.id AND +r.turn_id IS NULL)"
            new_turn = f"NOT EXISTS (SELECT 1 FROM {ROWS} r WHERE r.turn_id = t.id)"
        else:
            cursor.execute(f"INSERT INTO {FTS} ({FTS}) VALUES ('delete-all')")
            cursor.execute(f"DELETE FROM {ROWS}")
            new_title = new_turn = "1"
        # Row ids in each owner's range, in creation order (a search walks them newest first),
        # after the ones the owner has already.
        cursor.execute("DROP TABLE IF EXISTS temp.search_new")
        cursor.execute("DROP TABLE IF EXISTS temp.search_todo")
        # The turns to index, read from the primary key's index alone: a turn's other columns sit
        # after its long texts, so a pass over every row would read the whole table.
        cursor.execute(f"CREATE TEMP TABLE search_todo AS SELECT t.id FROM conversations_turn t WHERE {new_turn}")
        cursor.execute(
            f"""
            CREATE TEMP TABLE search_new AS
            SELECT (n.owner_id << {OWNER_SHIFT}) + coalesce(used.last, 0)
                    + ROW_NUMBER() OVER (PARTITION BY n.owner_id ORDER BY n.created_at, n.tie) AS id,
                n.turn_id, n.conversation_id, n.owner_id, n.created_at, n.status, n.cost_usd, n.model, n.archived
            FROM (
                SELECT NULL AS turn_id, c.id AS conversation_id, c.owner_id, c.created_at, NULL AS status,
                    NULL AS cost_usd, c.model, c.archived_at IS NOT NULL AS archived, '' AS tie
                FROM conversations_conversation c WHERE {new_title}
                UNION ALL
                SELECT t.id, t.conversation_id, c.owner_id, t.created_at, t.status, t.cost_usd, c.model,
                    c.archived_at IS NOT NULL, t.id
                FROM temp.search_todo todo JOIN conversations_turn t ON t.id = todo.id
                JOIN conversations_conversation c ON c.id = t.conversation_id
            ) n LEFT JOIN (
                SELECT owner_id, max(id) - (owner_id << {OWNER_SHIFT}) AS last FROM {ROWS} GROUP BY owner_id
            ) used ON used.owner_id = n.owner_id
            """
        )
        columns = "id, turn_id, conversation_id, owner_id, created_at, status, cost_usd, model, archived"
        cursor.execute(f"INSERT INTO {ROWS} ({columns}) SELECT {columns} FROM temp.search_new ORDER BY id")
        cursor.execute(
            f"""
            INSERT INTO {FTS} (rowid, title, prompt, answer)
            SELECT n.id, CASE WHEN n.turn_id IS NULL THEN c.title ELSE '' END,
                coalesce(t.prompt, ''), coalesce({_answer("t")}, '')
            FROM temp.search_new n
            JOIN conversations_conversation c ON c.id = n.conversation_id
            LEFT JOIN conversations_turn t ON t.id = n.turn_id
            ORDER BY n.id
            """
        )
        cursor.execute("SELECT count(*) FROM temp.search_new")
        (count,) = cursor.fetchone()
        cursor.execute("DROP TABLE temp.search_new")
        cursor.execute("DROP TABLE temp.search_todo")
        if count > 10_000:  # merge the index's segments: searches read fewer pages
            cursor.execute(f"INSERT INTO {FTS} ({FTS}) VALUES ('optimize')")
    return count


def uninstall() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS}")
            cursor.execute(f"DROP TABLE IF EXISTS {ROWS}")
        elif connection.vendor == "postgresql":
            for table in POSTGRES_COLUMNS:
                cursor.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")


def after_migrate(sender, **kwargs) -> None:
    """post_migrate: put back triggers a table rebuild dropped (only once migration 0006 is applied)."""
    from django.db.migrations.recorder import MigrationRecorder

    if ("conversations", "0006_search_index") in MigrationRecorder(connection).applied_migrations():
        ensure_installed()


@contextmanager
def suspended():
    """Bulk loading (seed data): no per-row indexing meanwhile, the new rows indexed in one pass at the end.

    Only for adding rows: a row changed meanwhile keeps its old entry (search_rebuild fixes that).
    """
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield
    finally:
        _install()
        rebuild(missing_only=True)
