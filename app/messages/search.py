"""Full-text search over a room's messages, ranked, with one API on both backends.

PostgreSQL: `websearch_to_tsquery` against a GIN index on
(room_id, `to_tsvector('english', body)`), so only the room's matches are visited, ranked by
`ts_rank_cd`. SQLite: an FTS5 table (porter stemming) kept in step by triggers, ranked by
bm25. Both are created by the migrations.

Ranking reads every candidate's body again (PostgreSQL re-parses it), so what one search can
cost is bounded: the best matches among the room's newest `MAX_CANDIDATES` matches. A word
in a few percent of a busy room's messages matches tens of thousands of them; ranking all of
them took seconds, and the best of the newest thousand is what a reader looks for. Below
that many matches (any rare word, any small room) nothing changes.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.selectable import Subquery

from app.messages.models import Message
from app.messages.reads import hydrate
from app.messages.schemas import MessageRead
from app.rooms.service import get_membership
from app.users.models import User

SEARCH_CONFIG: ColumnClause[str] = literal_column("'english'::regconfig")
_TERM = re.compile(r'(-?)"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w+")
MAX_CANDIDATES = 1000


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
    # Materialized, so that the planner finds the matches through the GIN index rather than
    # walking the room's history newest first and parsing every body on the way.
    matches = (
        select(Message.id, Message.seq)
        .where(
            Message.room_id == room_id,
            Message.deleted.is_(False),
            document.op("@@")(tsquery),
        )
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    candidates = (
        select(matches.c.id)
        .order_by(matches.c.seq.desc())
        .limit(MAX_CANDIDATES)
        .subquery("candidates")
    )
    rank = func.ts_rank_cd(document, tsquery).desc()
    return await _best(session, candidates, rank, limit)


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
    candidates = (
        select(Message.id, matches.c.rank)
        .join(matches, matches.c.id == Message.id)
        .where(Message.room_id == room_id, Message.deleted.is_(False))
        .order_by(Message.seq.desc())
        .limit(MAX_CANDIDATES)
        .subquery("candidates")
    )
    return await _best(session, candidates, candidates.c.rank, limit)


async def _best(
    session: AsyncSession, candidates: Subquery, rank: ColumnElement[Any], limit: int
) -> list[tuple[Message, User]]:
    """The best-ranked `limit` of the candidates (newest first among equals), with authors."""
    result = await session.execute(
        select(Message, User)
        .join(candidates, candidates.c.id == Message.id)
        .join(User, User.id == Message.author_id)
        .order_by(rank, Message.seq.desc())
        .limit(limit)
    )
    return [(m, u) for m, u in result]
