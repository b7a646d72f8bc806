from __future__ import annotations

import logging

import pytest

from app.core.logging import RedactTokens, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /ws?token=eyJ.abc.def HTTP/1.1", "GET /ws?token=[redacted] HTTP/1.1"),
        ("/rooms/1/ws?since_seq=4&token=abc&x=1", "/rooms/1/ws?since_seq=4&token=[redacted]&x=1"),
        ("Authorization: Bearer eyJ.abc.def", "Authorization: Bearer [redacted]"),
        ("/rooms?tokens=fine", "/rooms?tokens=fine"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_filter_rewrites_uvicorn_style_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws?token=secret.jwt.value", "1.1", 101),
        None,
    )
    assert RedactTokens().filter(record)
    assert "secret" not in record.getMessage()
    assert "token=[redacted]" in record.getMessage()
