"""Schemathesis over the whole OpenAPI: whatever a client sends, the answer is never a 5xx.

Cases are generated from the app's own schema (valid ones and deliberately invalid ones:
wrong types, out-of-range numbers, strings with U+0000 and the like) and sent to the
in-process app with a logged-in user's token, on SQLite and PostgreSQL. Every operation is
fuzzed twice: once with free path ids (huge, negative, missing) and once with the ids of a
real room, message and user, so that the query strings and bodies reach the code behind
the lookups. The run is bounded (a fixed number of cases per operation, no shrinking) and
reproducible (derandomized), so it stays a quick, stable part of the suite.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case

from tests.support.rooms import create_room, send
from tests.support.users import UserFactory

BASE_URL = "http://parley.test"
CASES_PER_OPERATION = 6  # per generation mode and per way of choosing path ids
# Operations that end the caller's session go last, so the others run logged in.
LAST = {("POST", "/auth/logout")}


# Cases with free path ids, by schema and operation: the schema is the same on every backend,
# so they are drawn once per run (drawing is most of this test's time) and sent on each
# backend; the cases with a backend's real ids are drawn for it.
FREE_CASES: dict[tuple[str, str, str, GenerationMode], list[Case]] = {}


def free_cases(schema_key: str, operation: Any, mode: GenerationMode) -> list[Case]:
    key = (schema_key, operation.method, operation.path, mode)
    if key not in FREE_CASES:
        strategy = operation.as_strategy(generation_mode=mode)
        FREE_CASES[key] = draw_cases(strategy, CASES_PER_OPERATION)
    return FREE_CASES[key]


def draw_cases(strategy: st.SearchStrategy[Case], count: int) -> list[Case]:
    """`count` cases from Hypothesis, without running anything yet (the app is async)."""
    drawn: list[Case] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Case) -> None:
        drawn.append(case)

    # Unsatisfiable: a negative case of an operation without parameters; nothing to break.
    with contextlib.suppress(Unsatisfiable):
        collect()
    return drawn


async def call(client: httpx.AsyncClient, case: Case, headers: dict[str, str]) -> httpx.Response:
    """Send a case through httpx, as the transport Schemathesis would use serializes it."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["content"] = json.dumps(kwargs["json"]).encode()
        kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/json"}
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        if isinstance(data, dict):
            body["data"] = data
        else:
            body["content"] = data if isinstance(data, bytes) else str(data).encode()
    return await client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        **body,
    )


async def test_no_request_gets_a_server_error(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice, bob = await users.create(), await users.create()
    room = await create_room(client, alice)
    message = await send(client, alice, room["id"], "fuzz me")
    real_ids = {"room_id": room["id"], "message_id": message["id"], "user_id": bob.id}

    document = app.openapi()
    schema_key = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    schema = schemathesis.openapi.from_dict(document)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: ((op.method.upper(), op.path) in LAST, op.path, op.method),
    )
    assert len(operations) > 20, "the whole API is fuzzed"
    cases: list[Case] = []
    for operation in operations:
        real = {
            name: value
            for name, value in real_ids.items()
            if name in {p.name for p in operation.path_parameters}
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases += free_cases(schema_key, operation, mode)
            if real:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=real)
                cases += draw_cases(strategy, CASES_PER_OPERATION)

    # Path ids and query strings are part of what is fuzzed, not only bodies.
    assert sum(bool(case.path_parameters) for case in cases) > 100
    assert sum(bool(case.query) for case in cases) > 50

    failures: list[str] = []
    statuses: set[int] = set()
    for case in cases:
        response = await call(client, case, alice.headers)
        statuses.add(response.status_code)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except AssertionError as exc:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {exc}")
    assert not failures, "\n\n".join(failures[:10])
    # The fuzzing reached past validation and authentication, not only 401s and 422s.
    assert {200, 201, 204, 401, 404, 422} <= statuses, statuses
