"""The WebSocket protocol, defined once: value types (`types`), payloads (`payloads`),
client frames and their parser (`client`), server frames (`server`), and the AsyncAPI
document and docs/protocol.md generated from them (`asyncapi`).

Imports nothing else from `app`: the server and the clients alike build on it."""
