"""Full-text search over a room's messages, ranked, with one API on both backends.

PostgreSQL: `websearch_to_tsquery` against a GIN expression index on
`to_tsvector('english', body)`, ranked by `ts_rank_cd`. SQLite: an FTS5 table (porter
stemming) kept in step by triggers, ranked by bm25. Both are created by the migration.
"""

from __future__ import annotations

import re

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from app.messages.models import Message
from app.messages.reads import hydrate
from app.messages.schemas import MessageRead
from app.rooms.service import get_membership
from app.users.models import User

SEARCH_CONFIG: ColumnClause[str] = literal_column("'english'::regconfig")
_TERM = re.compile(r'(-?)"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+")


def fts5_query(query: str) -> str | None:
    """Translate web-search syntax (words, "phrases", OR, -exclusions) into FTS5 syntax,
    quoting every word so that user input can never be read as FTS5 operators."""
    positive: list[str] = []
    negative: list[str] = []
    pending_or = False
    for match in _TERM.finditer(query):
        negated_phrase, phrase, word = match.groups()
        if word is not None and word.upper() == "OR":
            pending_or = bool(positive)
            continue
        negated = bool(negated_phrase) or (word is not None and word.startswith("-"))
        tokens = _WORD.findall(phrase if phrase is not None else word)
        if not tokens:
            continue
        term = '"' + " ".join(tokens) + '"'
        if negated:
            negative.append(term)
        elif pending_or:
            positive[-1] = f"({positive[-1]} OR {term})"
            pending_or = False
        else:
            positive.append(term)
    if not positive:
        return None
    expression = " AND ".join(positive)
    for term in negative:
        expression = f"({expression}) NOT {term}"
    return expression


async def search_messages(
    session: AsyncSession, actor: User, room_id: int, query: str, *, limit: int
) -> list[MessageRead]:
    await get_membership(session, room_id, actor.id)
    if session.get_bind().dialect.name == "postgresql":
        rows = await _search_postgresql(session, room_id, query, limit)
    else:
        rows = await _search_sqlite(session, room_id, query, limit)
    return await hydrate(session, [(message, author) for message, author in rows])


async def _search_postgresql(
    session: AsyncSession, room_id: int, query: str, limit: int
) -> list[tuple[Message, User]]:
    document = func.to_tsvector(SEARCH_CONFIG, Message.body)
    tsquery = func.websearch_to_tsquery(SEARCH_CONFIG, query)
    result = await session.execute(
        select(Message, User)
        .join(User, User.id == Message.author_id)
        .where(
            Message.room_id == room_id,
            Message.deleted.is_(False),
            document.op("@@")(tsquery),
        )
        .order_by(func.ts_rank_cd(document, tsquery).desc(), Message.seq.desc())
        .limit(limit)
    )
    return [(m, u) for m, u in result]


async def _search_sqlite(
    session: AsyncSession, room_id: int, query: str, limit: int
) -> list[tuple[Message, User]]:
    expression = fts5_query(query)
    if expression is None:
        return []
    matches = (
        select(
            literal_column("messages_fts.rowid").label("id"),
            literal_column("bm25(messages_fts)").label("rank"),
        )
        .select_from(text("messages_fts"))
        .where(text("messages_fts MATCH :expression").bindparams(expression=expression))
        .subquery()
    )
    result = await session.execute(
        select(Message, User)
        .join(matches, matches.c.id == Message.id)
        .join(User, User.id == Message.author_id)
        .where(Message.room_id == room_id, Message.deleted.is_(False))
        .order_by(matches.c.rank, Message.seq.desc())
        .limit(limit)
    )
    return [(m, u) for m, u in result]
