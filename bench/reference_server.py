"""The baseline: FastAPI's documented WebSocket broadcaster. Not part of Parley.

This is the `ConnectionManager` example from FastAPI's WebSocket documentation ("Handling
disconnections and multiple clients"): one global list of sockets, and a broadcast that
awaits `send_text` on each socket in turn. No auth, no rooms, no storage, no queues. Parley,
which stores every message before it acknowledges and broadcasts it, is measured against it.

Run it as the docs do, with uvicorn's default WebSocket implementation:

    uvicorn bench.reference_server:app --port 8001 --log-level warning

Deviations from the documented example, each so that the load generator can measure it the
same way it measures Parley, and each no more expensive than what it replaces:

- The client's text is a JSON send frame (`{"type": "send", "body", "client_id", ...}`),
  and the broadcast is one JSON text built once per message,
  `{"type": "message", "message": {"seq", "client_id", "body"}}`, where `seq` is an in-memory
  counter of this process. The docs build one f-string per message; this builds one JSON
  string per message. The counter lets the load generator check order, loss and repeats;
  the client id lets it measure latency and lets a sender recognise its own broadcast as its
  acknowledgement (the docs have no acknowledgement).
- The docs also send the sender a personal "You wrote: …" frame; that is dropped (it would
  be one more frame per message, making the baseline slower, i.e. easier to beat).
- The docs broadcast "Client #… left the chat" on disconnect; that is dropped, because it
  only happens when the benchmark tears connections down, outside the measured window.
- The path is `/ws` instead of `/ws/{client_id}`.
- `GET /healthz` answers `{"status": "ok", "seq": <counter>}`, so the load generator knows
  where the numbering stands before it starts sending.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect


class ConnectionManager:
    def __init__(self) -> None:
        self.active_connections: list[WebSocket] = []
        self.seq = 0

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.remove(websocket)

    async def broadcast(self, message: str) -> None:
        for connection in self.active_connections:
            await connection.send_text(message)


manager = ConnectionManager()
app = FastAPI(title="Naive broadcaster (benchmark baseline)")


@app.get("/healthz")
async def healthz() -> dict[str, object]:
    return {"status": "ok", "seq": manager.seq}


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    await manager.connect(websocket)
    try:
        while True:
            data = await websocket.receive_text()
            frame = json.loads(data)
            manager.seq += 1
            message = {"seq": manager.seq, "client_id": frame["client_id"], "body": frame["body"]}
            await manager.broadcast(json.dumps({"type": "message", "message": message}))
    except WebSocketDisconnect:
        manager.disconnect(websocket)
