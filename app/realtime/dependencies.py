"""What the WebSocket entry layer reaches: a few narrow services, never the whole app state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.core.config import Settings
from app.core.database import Transaction
from app.delivery.broker import Broker
from app.dependencies import BrokerDep, CommitterDep, SettingsDep, StateDep, TransactionDep
from app.messages.group_commit import MessageCommitter
from app.realtime.subscriptions import Subscriptions


def get_subscriptions(connection: HTTPConnection) -> Subscriptions:
    subscriptions: Subscriptions = connection.app.state.subscriptions
    return subscriptions


SubscriptionsDep = Annotated[Subscriptions, Depends(get_subscriptions)]


@dataclass(frozen=True, slots=True)
class SocketServices:
    """Everything a connection's frames may reach; one per connection."""

    settings: Settings
    subscriptions: Subscriptions  # subscribe, unsubscribe, and the hub that delivers
    committer: MessageCommitter  # `send`
    broker: Broker  # `typing`, which is never stored
    transaction: Transaction  # `read` and `auth`
    draining: Callable[[], bool]  # the server is shutting down: take no new frames


def get_socket_services(
    settings: SettingsDep,
    subscriptions: SubscriptionsDep,
    committer: CommitterDep,
    broker: BrokerDep,
    transaction: TransactionDep,
    state: StateDep,
) -> SocketServices:
    return SocketServices(
        settings, subscriptions, committer, broker, transaction, lambda: state.draining
    )


SocketServicesDep = Annotated[SocketServices, Depends(get_socket_services)]
