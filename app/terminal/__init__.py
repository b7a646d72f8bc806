"""`parley chat`: the terminal client.

One module per job: `api` (REST calls), `auth` (tokens and their renewal), `credentials`
(the saved session), `login` (the prompts), `connection` (the reconnecting WebSocket),
`chat` (the live conversation: frames in, sends out), `view` (the room on screen),
`outbox` (sends not yet acknowledged), `commands` (parsing a typed line), `actions` (what
the commands do), `render` (server data as safe terminal text), `ui` (the prompt), `app`
(wiring it together).
"""
