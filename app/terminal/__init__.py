"""`parley chat`: the terminal client, built on `app.client`.

`app.client.ParleyClient` makes the REST calls and keeps the tokens fresh;
`app.client.Session` is the socket (reconnect, resume by `rev`, outbox, in-band token
renewal, `retry_after`). What is here is the terminal: `credentials` (the saved login, the
client's token store), `login` (the prompts), `chat` (the session's events on screen, what
the user sends), `view` (the room on screen), `commands` (parsing a typed line), `actions`
(what the commands do), `render` (server data as safe terminal text), `ui` (the prompt),
`app` (wiring it together).
"""
