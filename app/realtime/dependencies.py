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
from app.state import AppState


def get_subscriptions(connection: HTTPConnection) -> Subscriptions:
    subscriptions: Subscriptions = connection.app.state.subscriptions
    return subscriptions


SubscriptionsDep = Annotated[Subscriptions, Depends(get_subscriptions)]


@dataclass(frozen=True, slots=True)
class SocketServices:
    """Everything a connection's frames may reach; one for all the connections of an app
    (made per connection, it was about 0.3 KiB of each idle connection's memory)."""

    settings: Settings
    subscriptions: Subscriptions  # subscribe, unsubscribe, and the hub that delivers
    committer: MessageCommitter  # `send`
    broker: Broker  # `typing`, which is never stored
    transaction: Transaction  # `read` and `auth`
    draining: Callable[[], bool]  # the server is shutting down: take no new frames


_shared: tuple[AppState, SocketServices] | None = None


def get_socket_services(
    settings: SettingsDep,
    subscriptions: SubscriptionsDep,
    committer: CommitterDep,
    broker: BrokerDep,
    transaction: TransactionDep,
    state: StateDep,
) -> SocketServices:
    global _shared
    if _shared is not None:
        shared_state, services = _shared
        # Reused while every part is the very same object (a test's dependency override
        # or a second app gets its own).
        if (
            shared_state is state
            and services.settings is settings
            and services.subscriptions is subscriptions
            and services.committer is committer
            and services.broker is broker
            and services.transaction is transaction
        ):
            return services
    services = SocketServices(
        settings, subscriptions, committer, broker, transaction, lambda: state.draining
    )
    _shared = (state, services)
    return services


SocketServicesDep = Annotated[SocketServices, Depends(get_socket_services)]
