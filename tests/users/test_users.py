from __future__ import annotations

import httpx

from tests.support.users import UserFactory


async def test_update_display_name(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.create("amy")
    response = await client.patch(
        "/users/me", json={"display_name": "Amy P."}, headers=user.headers
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Amy P."
    me = await client.get("/users/me", headers=user.headers)
    assert me.json()["display_name"] == "Amy P."
    bad = await client.patch("/users/me", json={"display_name": ""}, headers=user.headers)
    assert bad.status_code == 422


async def test_find_users_by_prefix(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.create("finder")
    for name in ("Mia_1", "mia_2", "miles", "other"):
        await users.create(name)
    response = await client.get("/users", params={"prefix": "MIA_"}, headers=me.headers)
    assert response.status_code == 200
    assert [u["username"] for u in response.json()["users"]] == ["Mia_1", "mia_2"]
    # `_` is a literal here, not a LIKE wildcard.
    response = await client.get("/users", params={"prefix": "mi_"}, headers=me.headers)
    assert response.json()["users"] == []


async def test_read_user(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.create("reader")
    other = await users.create("readee")
    response = await client.get(f"/users/{other.id}", headers=me.headers)
    assert response.json() == other.profile
    missing = await client.get("/users/999999", headers=me.headers)
    assert missing.status_code == 404
    assert (await client.get(f"/users/{other.id}")).status_code == 401
