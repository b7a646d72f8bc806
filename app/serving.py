"""Running Parley under uvicorn with a drain on SIGTERM.

uvicorn's `Server.shutdown` closes every WebSocket with 1012 first and runs the app's
lifespan shutdown only afterwards, so the app cannot deliver the acks of sends it committed
in the meantime. `DrainingServer` asks the app to drain (stop taking sends, commit what it
holds, deliver what was committed, then close with 1012) before uvicorn's own shutdown runs.
`parley serve` uses it for one process and for each worker of `--workers N`; under plain
`uvicorn app.main:app` the lifespan's `AppState.stop` is the fallback.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from app.core.polling import poll_until

if TYPE_CHECKING:
    from app.state import AppState

logger = logging.getLogger(__name__)

MAX_WRAPPERS = 20  # middleware layers between uvicorn and the app; a guard against cycles


def find_state(app: Any) -> AppState | None:
    """The AppState of the FastAPI app inside uvicorn's middleware wrappers, once started."""
    # Imported here, in the worker that serves the app: the supervisor process must not load
    # the app's modules (their metrics would register it as one more worker).
    from app.state import AppState

    for _ in range(MAX_WRAPPERS):
        if app is None:
            return None
        state = getattr(getattr(app, "state", None), "parley", None)
        if isinstance(state, AppState):
            return state
        app = getattr(app, "app", None)
    return None


class DrainingServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = find_state(self.config.loaded_app)
        if state is not None and not self.force_exit:
            # New connections are refused from here on; uvicorn closes these again, harmlessly.
            for server in getattr(self, "servers", []):
                server.close()
            seconds = state.settings.shutdown_drain_seconds
            logger.info("Draining connections (at most %.1f s)", seconds)
            await state.drain(seconds)
            await self._closing_handshakes(state.settings.ws_close_timeout_seconds)
        await super().shutdown(sockets)

    async def _closing_handshakes(self, seconds: float) -> None:
        """Let clients echo the 1012 close before uvicorn drops the sockets: closing a socket
        with unread client data in it resets the connection, and a reset can destroy the
        close frame (and the last acks) before the client reads them."""
        ws_class = self.config.ws_protocol_class
        if ws_class is None:
            return
        await poll_until(
            lambda: (
                not any(
                    isinstance(connection, ws_class) and not connection.transport.is_closing()
                    for connection in self.server_state.connections
                )
            ),
            seconds,
            every=0.05,
        )


class DrainingProcess(Process):
    """A worker process whose server drains on SIGTERM."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class DrainingMultiprocess(Multiprocess):
    """uvicorn's supervisor, starting workers that drain. A worker the supervisor replaces
    later (one that died, or SIGHUP) is uvicorn's own: it still closes with 1012 through
    the lifespan, without the drain."""

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = DrainingProcess(self.config, self.sockets)
            process.start()
            self.processes.append(process)


def serve(config: uvicorn.Config) -> bool:
    """Run like `uvicorn.run`, with draining servers; False if the server did not start."""
    from uvicorn.supervisors import ChangeReload

    if config.should_reload:
        server = DrainingServer(config)
        ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
        return True
    if config.workers > 1:
        DrainingMultiprocess(config, sockets=[config.bind_socket()]).run()
        return True
    server = DrainingServer(config)
    server.run()
    return server.started
