"""The AsyncAPI document and docs/protocol.md: generated from app/protocol, committed, served,
and valid for the AsyncAPI project's own parser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from app.protocol import asyncapi, client, server

pytestmark = pytest.mark.one_backend

REGENERATE = "run `python -m app.protocol.asyncapi --write` and commit the result"


def test_committed_asyncapi_document_is_up_to_date() -> None:
    assert asyncapi.ASYNCAPI_PATH.read_text("utf-8") == asyncapi.document_json(), REGENERATE


def test_committed_protocol_markdown_is_up_to_date() -> None:
    assert asyncapi.PROTOCOL_MD_PATH.read_text("utf-8") == asyncapi.protocol_markdown(), REGENERATE


def test_check_mode_agrees() -> None:
    assert asyncapi.main(["--check"]) == 0


async def test_served_document_equals_the_committed_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.text == asyncapi.ASYNCAPI_PATH.read_text("utf-8")


def test_every_frame_has_a_message_and_an_operation_on_both_channels() -> None:
    doc = asyncapi.document()
    messages = doc["components"]["messages"]
    expected = {f"client.{kind}" for kind in client.FRAMES} | {
        f"server.{kind}" for kind in server.SERVER_FRAMES
    }
    assert set(messages) == expected
    for channel in ("ws", "roomWs"):
        assert set(doc["channels"][channel]["messages"]) == expected
        sent = [
            op["messages"][0]["$ref"].rsplit("/", 1)[-1]
            for op in doc["operations"].values()
            if op["channel"]["$ref"] == f"#/channels/{channel}"
        ]
        assert sorted(sent) == sorted(expected)
    for op in doc["operations"].values():
        direction = op["messages"][0]["$ref"].rsplit("/", 1)[-1].split(".", 1)[0]
        assert op["action"] == ("receive" if direction == "client" else "send")


def test_protocol_markdown_names_every_frame_and_code() -> None:
    text = asyncapi.protocol_markdown()
    for kind in [*client.FRAMES, *server.SERVER_FRAMES]:
        assert f"### `{kind}`" in text
    for code in server.ERROR_CODES:
        assert f"| `{code}` |" in text
    for close in (1008, 1009, 1012, 1013, 4401, 4429):
        assert f"| {close} |" in text
    assert "## Delivery promises" in text


# The AsyncAPI project's parser, installed once into a cache folder shared across runs.
PARSER_DIR = Path(
    os.environ.get(
        "PARLEY_ASYNCAPI_PARSER_DIR", Path.home() / ".cache/parley-tests/asyncapi-parser"
    )
)
VALIDATE_JS = """
const fs = require('fs');
const { Parser } = require('@asyncapi/parser');
(async () => {
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) {
    console.log(`${d.severity} ${d.code} ${JSON.stringify(d.path)} ${d.message}`);
  }
  if (errors.length || !document) process.exit(1);
  console.log(`ok ${document.version()} ${document.allMessages().length} messages`);
})().catch((e) => { console.error(e); process.exit(2); });
"""


def _parser() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the AsyncAPI project's parser")
    if not (PARSER_DIR / "node_modules/@asyncapi/parser/package.json").exists():
        PARSER_DIR.mkdir(parents=True, exist_ok=True)
        # First run only (about a minute); later runs reuse the cache folder.
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(PARSER_DIR),
                "--no-audit",
                "--no-fund",
                "@asyncapi/parser@3",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    script = PARSER_DIR / "validate.cjs"
    if not script.exists() or script.read_text() != VALIDATE_JS:
        script.write_text(VALIDATE_JS)
    return script


def _validate(script: Path, document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(script), str(document)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PARSER_DIR,
    )


@pytest.mark.timeout(660)
def test_document_passes_the_asyncapi_parser(tmp_path: Path) -> None:
    script = _parser()
    result = _validate(script, asyncapi.ASYNCAPI_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("ok 3.0.0")
    # The check can fail: an operation on a channel that does not exist is refused.
    broken = json.loads(asyncapi.document_json())
    next(iter(broken["operations"].values()))["channel"] = {"$ref": "#/channels/nowhere"}
    (tmp_path / "broken.json").write_text(json.dumps(broken), "utf-8")
    refused = _validate(script, tmp_path / "broken.json")
    assert refused.returncode != 0, refused.stdout


def test_every_error_code_the_server_can_send_is_documented() -> None:
    # Any DomainError that reaches the WebSocket handler becomes an error frame with its code.
    import app.main  # noqa: F401  (imports every domain package, so every subclass exists)
    from app.core.errors import DomainError

    def codes(cls: type[DomainError]) -> set[str]:
        found = {cls.code} if "code" in vars(cls) else set()
        for sub in cls.__subclasses__():
            found |= codes(sub)
        return found

    assert codes(DomainError) - set(server.ERROR_CODES) == set()
    assert {"invalid_json", "invalid_frame", "unknown_type", "too_long"} <= set(server.ERROR_CODES)
