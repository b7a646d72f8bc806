"""The web page handles exactly the server frames of the AsyncAPI document (no build step:
the page's sources are read as text). A frame the server adds must be handled by the page,
or listed below with the reason the page ignores it."""

from __future__ import annotations

import json
import re

from app.protocol import asyncapi
from app.web.router import STATIC_DIR

FRAMES_JS = STATIC_DIR / "js" / "frames.js"
REALTIME_JS = STATIC_DIR / "js" / "realtime.js"

# Server frames the page deliberately does nothing with (with why). Empty today: every
# server frame has a handler.
IGNORED_BY_PAGE: dict[str, str] = {}

# A handler-table entry: `    message(frame) {` or `    "message.updated"(frame) {`.
HANDLER = re.compile(r'^ {4}(?:"([a-z.]+)"|([a-z_]+))\(frame\) \{$', re.MULTILINE)
# realtime.js consumes the connection-level frames itself (`frame.type === "hello"`, ...).
CONNECTION_LEVEL = re.compile(r'frame\.type [!=]== "([a-z.]+)"')


def _document_server_frames() -> set[str]:
    doc = json.loads(asyncapi.ASYNCAPI_PATH.read_text("utf-8"))
    return {
        message["name"]
        for key, message in doc["components"]["messages"].items()
        if key.startswith("server.")
    }


def _handler_table() -> set[str]:
    source = FRAMES_JS.read_text("utf-8")
    start = source.index("const handlers = {")
    end = source.index("\n  };", start)
    return {quoted or bare for quoted, bare in HANDLER.findall(source[start:end])}


def _connection_level() -> set[str]:
    return set(CONNECTION_LEVEL.findall(REALTIME_JS.read_text("utf-8")))


def test_the_parsers_find_the_page_handlers() -> None:
    # Guards the regular expressions: a parser that found nothing would pass the checks below.
    assert {"message", "message.updated", "room.joined", "error"} <= _handler_table()
    assert {"hello", "pong", "authenticated"} <= _connection_level()


def test_every_frame_the_page_handles_is_a_server_frame_of_the_document() -> None:
    assert _handler_table() - _document_server_frames() == set()
    assert _connection_level() - _document_server_frames() == set()


def test_every_server_frame_of_the_document_is_handled_by_the_page() -> None:
    handled = _handler_table() | _connection_level() | set(IGNORED_BY_PAGE)
    assert _document_server_frames() - handled == set()
    # An ignored frame that got a handler must leave the list.
    assert set(IGNORED_BY_PAGE) & (_handler_table() | _connection_level()) == set()
