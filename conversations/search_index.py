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

from .models import Conversation, Turn

logger = logging.getLogger(__name__)

ACTIVE_SQL = ", ".join(f"'{status}'" for status in Turn.ACTIVE)


def _answer(row: str) -> str:
    # A running answer is indexed when it is done (its text changes many times a second).
    return f"CASE WHEN {row}.status IN ({ACTIVE_SQL}) THEN '' ELSE {row}.output_text END"


def _fts_turn(op: str, row: str) -> str:
    """Insert (op="") or delete (op="delete") one turn's entry; contentless FTS5 deletes need the old text."""
    command = ("conversations_search, " if op else "", f"'{op}', " if op else "")
    return (
        f"INSERT INTO conversations_search ({command[0]}rowid, owner, title, prompt, answer) "
        f"SELECT {command[1]}r.id, 'u' || r.owner_id, '', {row}.prompt, {_answer(row)} "
        f"FROM conversations_searchrow r WHERE r.turn_id = {row}.id;"
    )


def _fts_title(op: str, row: str) -> str:
    command = ("conversations_search, " if op else "", f"'{op}', " if op else "")
    return (
        f"INSERT INTO conversations_search ({command[0]}rowid, owner, title, prompt, answer) "
        f"SELECT {command[1]}r.id, 'u' || r.owner_id, {row}.title, '', '' "
        f"FROM conversations_searchrow r WHERE r.conversation_id = {row}.id AND r.turn_id IS NULL;"
    )


SQLITE_TABLES = [
    """CREATE TABLE IF NOT EXISTS conversations_searchrow (
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
    "CREATE INDEX IF NOT EXISTS conversations_searchrow_conversation ON conversations_searchrow (conversation_id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS conversations_search USING fts5("
    "owner, title, prompt, answer, content='', prefix='3', tokenize='unicode61 remove_diacritics 2')",
]

SQLITE_TRIGGERS = {
    "conversations_search_turn_insert": f"""
        AFTER INSERT ON conversations_turn BEGIN
            INSERT INTO conversations_searchrow
                (turn_id, conversation_id, owner_id, created_at, status, cost_usd, model, archived)
            SELECT NEW.id, NEW.conversation_id, c.owner_id, NEW.created_at, NEW.status, NEW.cost_usd, c.model,
                c.archived
            FROM conversations_searchrow c WHERE c.conversation_id = NEW.conversation_id AND c.turn_id IS NULL;
            {_fts_turn("", "NEW")}
        END""",
    "conversations_search_turn_text": f"""
        AFTER UPDATE OF prompt, output_text, status ON conversations_turn
        WHEN OLD.prompt IS NOT NEW.prompt OR {_answer("OLD")} IS NOT {_answer("NEW")} BEGIN
            {_fts_turn("delete", "OLD")}
            {_fts_turn("", "NEW")}
        END""",
    "conversations_search_turn_facets": """
        AFTER UPDATE OF status, cost_usd ON conversations_turn
        WHEN OLD.status IS NOT NEW.status OR OLD.cost_usd IS NOT NEW.cost_usd BEGIN
            UPDATE conversations_searchrow SET status = NEW.status, cost_usd = NEW.cost_usd WHERE turn_id = NEW.id;
        END""",
    "conversations_search_turn_delete": f"""
        AFTER DELETE ON conversations_turn BEGIN
            {_fts_turn("delete", "OLD")}
            DELETE FROM conversations_searchrow WHERE turn_id = OLD.id;
        END""",
    "conversations_search_conversation_insert": f"""
        AFTER INSERT ON conversations_conversation BEGIN
            INSERT INTO conversations_searchrow (turn_id, conversation_id, owner_id, created_at, model, archived)
            VALUES (NULL, NEW.id, NEW.owner_id, NEW.created_at, NEW.model, NEW.archived_at IS NOT NULL);
            {_fts_title("", "NEW")}
        END""",
    "conversations_search_conversation_title": f"""
        AFTER UPDATE OF title ON conversations_conversation WHEN OLD.title IS NOT NEW.title BEGIN
            {_fts_title("delete", "OLD")}
            {_fts_title("", "NEW")}
        END""",
    "conversations_search_conversation_facets": """
        AFTER UPDATE OF model, archived_at ON conversations_conversation
        WHEN OLD.model IS NOT NEW.model OR (OLD.archived_at IS NULL) != (NEW.archived_at IS NULL) BEGIN
            UPDATE conversations_searchrow SET model = NEW.model, archived = NEW.archived_at IS NOT NULL
            WHERE conversation_id = NEW.id;
        END""",
    "conversations_search_conversation_delete": f"""
        AFTER DELETE ON conversations_conversation BEGIN
            {_fts_title("delete", "OLD")}
            DELETE FROM conversations_searchrow WHERE conversation_id = OLD.id AND turn_id IS NULL;
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
            cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
            present = {name for (name,) in cursor.fetchall()}
            if "conversations_turn" not in present:  # before the app's tables exist
                return set()
            missing = {"conversations_searchrow", "conversations_search", *SQLITE_TRIGGERS} - present
            if not missing:
                return set()
            with transaction.atomic():
                for statement in SQLITE_TABLES:
                    cursor.execute(statement)
                for name, body in SQLITE_TRIGGERS.items():
                    cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
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
            cursor.execute("SELECT coalesce(max(id), 0) FROM conversations_searchrow")
            (last,) = cursor.fetchone()
            new_title = (
                "NOT EXISTS (SELECT 1 FROM conversations_searchrow r WHERE r.conversation_id = c.id "
                "AND r.turn_id IS NULL)"
            )
            new_turn = "NOT EXISTS (SELECT 1 FROM conversations_searchrow r WHERE r.turn_id = t.id)"
        else:
            cursor.execute("INSERT INTO conversations_search (conversations_search) VALUES ('delete-all')")
            cursor.execute("DELETE FROM conversations_searchrow")
            last, new_title, new_turn = 0, "1", "1"
        # In creation order, so newer entries have higher row ids (a search ranks the newest matches).
        cursor.execute(
            f"""
            INSERT INTO conversations_searchrow
                (turn_id, conversation_id, owner_id, created_at, status, cost_usd, model, archived)
            SELECT turn_id, conversation_id, owner_id, created_at, status, cost_usd, model, archived FROM (
                SELECT NULL AS turn_id, c.id AS conversation_id, c.owner_id, c.created_at, NULL AS status,
                    NULL AS cost_usd, c.model, c.archived_at IS NOT NULL AS archived, '' AS tie
                FROM conversations_conversation c WHERE {new_title}
                UNION ALL
                SELECT t.id, t.conversation_id, c.owner_id, t.created_at, t.status, t.cost_usd, c.model,
                    c.archived_at IS NOT NULL, t.id
                FROM conversations_turn t JOIN conversations_conversation c ON c.id = t.conversation_id
                WHERE {new_turn}
            ) ORDER BY created_at, tie
            """
        )
        cursor.execute(
            f"""
            INSERT INTO conversations_search (rowid, owner, title, prompt, answer)
            SELECT r.id, 'u' || r.owner_id, CASE WHEN r.turn_id IS NULL THEN c.title ELSE '' END,
                coalesce(t.prompt, ''), coalesce({_answer("t")}, '')
            FROM conversations_searchrow r
            JOIN conversations_conversation c ON c.id = r.conversation_id
            LEFT JOIN conversations_turn t ON t.id = r.turn_id
            WHERE r.id > %s
            ORDER BY r.id
            """,
            [last],
        )
        cursor.execute("SELECT count(*) FROM conversations_searchrow WHERE id > %s", [last])
        (count,) = cursor.fetchone()
        if count > 10_000:  # merge the index's segments: searches read fewer pages
            cursor.execute("INSERT INTO conversations_search (conversations_search) VALUES ('optimize')")
    return count


def uninstall() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute("DROP TABLE IF EXISTS conversations_search")
            cursor.execute("DROP TABLE IF EXISTS conversations_searchrow")
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
