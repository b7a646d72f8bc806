"""Dependency aliases shared by every router: declared once, used everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.core.config import Settings
from app.core.database import Transaction
from app.delivery.broker import Broker
from app.messages.group_commit import MessageCommitter
from app.state import AppState


def get_state(connection: HTTPConnection) -> AppState:
    state: AppState = connection.app.state.parley
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_broker(state: StateDep) -> Broker:
    return state.broker


BrokerDep = Annotated[Broker, Depends(get_broker)]


def get_committer(state: StateDep) -> MessageCommitter:
    return state.committer


CommitterDep = Annotated[MessageCommitter, Depends(get_committer)]


def get_transaction(state: StateDep) -> Transaction:
    return state.transaction


TransactionDep = Annotated[Transaction, Depends(get_transaction)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent (scope="function"),
    so a client that got 2xx can rely on the change; events go out after the commit."""
    async with state.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
