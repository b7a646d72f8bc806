"""The permission matrix: every call, by owner, admin, member and outsider, public and private.

A private room answers 404 to outsiders for everything (its existence must not leak); a
public one lets outsiders see it and join it, and answers 403 to what only members may do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.support.rooms import add_member, create_room, send
from tests.support.users import TestUser, UserFactory


@dataclass
class Cast:
    owner: TestUser
    admin: TestUser
    member: TestUser
    other_member: TestUser
    outsider: TestUser
    newcomer: TestUser
    rooms: dict[str, dict]
    message_ids: dict[str, int]


@pytest.fixture
async def cast(client: httpx.AsyncClient, users: UserFactory) -> Cast:
    owner, admin, member, other, outsider, newcomer = [await users.create() for _ in range(6)]
    rooms, message_ids = {}, {}
    for visibility in ("public", "private"):
        room = await create_room(client, owner, visibility=visibility)
        for person in (admin, member, other):
            await add_member(client, owner, room["id"], person)
        await add_member(client, owner, room["id"], admin, role="admin")
        rooms[visibility] = room
        message_ids[visibility] = (await send(client, other, room["id"], "by other"))["id"]
    return Cast(owner, admin, member, other, outsider, newcomer, rooms, message_ids)


Operation = Callable[[httpx.AsyncClient, Cast, TestUser, dict, int], Awaitable[httpx.Response]]

OPERATIONS: dict[str, Operation] = {
    "get room": lambda c, cast, who, room, mid: c.get(f"/rooms/{room['id']}", headers=who.headers),
    "list members": lambda c, cast, who, room, mid: c.get(
        f"/rooms/{room['id']}/members", headers=who.headers
    ),
    "read history": lambda c, cast, who, room, mid: c.get(
        f"/rooms/{room['id']}/messages", headers=who.headers
    ),
    "search": lambda c, cast, who, room, mid: c.get(
        f"/rooms/{room['id']}/messages/search", params={"q": "other"}, headers=who.headers
    ),
    "send": lambda c, cast, who, room, mid: c.post(
        f"/rooms/{room['id']}/messages", json={"body": "hi"}, headers=who.headers
    ),
    "mark read": lambda c, cast, who, room, mid: c.put(
        f"/rooms/{room['id']}/read", json={"seq": 1}, headers=who.headers
    ),
    "update room": lambda c, cast, who, room, mid: c.patch(
        f"/rooms/{room['id']}", json={"topic": "changed"}, headers=who.headers
    ),
    "delete room": lambda c, cast, who, room, mid: c.delete(
        f"/rooms/{room['id']}", headers=who.headers
    ),
    "add someone": lambda c, cast, who, room, mid: c.put(
        f"/rooms/{room['id']}/members/{cast.newcomer.id}", headers=who.headers
    ),
    "add an admin": lambda c, cast, who, room, mid: c.put(
        f"/rooms/{room['id']}/members/{cast.newcomer.id}",
        json={"role": "admin"},
        headers=who.headers,
    ),
    "promote a member": lambda c, cast, who, room, mid: c.put(
        f"/rooms/{room['id']}/members/{cast.other_member.id}",
        json={"role": "admin"},
        headers=who.headers,
    ),
    "remove a member": lambda c, cast, who, room, mid: c.delete(
        f"/rooms/{room['id']}/members/{cast.other_member.id}", headers=who.headers
    ),
    "remove the admin": lambda c, cast, who, room, mid: c.delete(
        f"/rooms/{room['id']}/members/{cast.admin.id}", headers=who.headers
    ),
    "edit another's message": lambda c, cast, who, room, mid: c.patch(
        f"/rooms/{room['id']}/messages/{mid}", json={"body": "hacked"}, headers=who.headers
    ),
    "delete another's message": lambda c, cast, who, room, mid: c.delete(
        f"/rooms/{room['id']}/messages/{mid}", headers=who.headers
    ),
}

# Expected status per operation: owner, admin, member, outsider (public), outsider (private).
# The admin is the one removed by "remove the admin", so its own cell there is a leave (204).
MATRIX: dict[str, tuple[int, int, int, int, int]] = {
    "get room": (200, 200, 200, 200, 404),
    "list members": (200, 200, 200, 403, 404),
    "read history": (200, 200, 200, 403, 404),
    "search": (200, 200, 200, 403, 404),
    "send": (201, 201, 201, 403, 404),
    "mark read": (200, 200, 200, 403, 404),
    "update room": (200, 200, 403, 403, 404),
    "delete room": (204, 403, 403, 403, 404),
    "add someone": (201, 201, 403, 403, 404),
    "add an admin": (201, 403, 403, 403, 404),
    "promote a member": (200, 403, 403, 403, 404),
    "remove a member": (204, 204, 403, 403, 404),
    "remove the admin": (204, 204, 403, 403, 404),
    "edit another's message": (403, 403, 403, 403, 404),
    "delete another's message": (204, 204, 403, 403, 404),
}

ACTORS = ("owner", "admin", "member", "outsider", "outsider")
CASES = [
    pytest.param(op, column, id=f"{op}-{ACTORS[column]}-{'private' if column == 4 else 'public'}")
    for op in OPERATIONS
    for column in range(5)
]


@pytest.mark.parametrize(("operation", "column"), CASES)
async def test_permission_matrix(
    client: httpx.AsyncClient, cast: Cast, operation: str, column: int
) -> None:
    visibility = "private" if column == 4 else "public"
    actor: TestUser = getattr(cast, ACTORS[column])
    room = cast.rooms[visibility]
    response = await OPERATIONS[operation](client, cast, actor, room, cast.message_ids[visibility])
    assert response.status_code == MATRIX[operation][column], response.text


async def test_a_private_rooms_refusals_match_a_missing_rooms(
    client: httpx.AsyncClient, cast: Cast
) -> None:
    """Every 404 for a hidden room is byte-for-byte the answer for a room that never was."""
    room = cast.rooms["private"]
    for operation in OPERATIONS.values():
        hidden = await operation(client, cast, cast.outsider, room, cast.message_ids["private"])
        missing = await operation(client, cast, cast.outsider, {"id": 10**9}, 1)
        assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())


async def test_outsider_joins_a_public_room_but_not_a_private_one(
    client: httpx.AsyncClient, cast: Cast
) -> None:
    me = cast.outsider
    public, private = cast.rooms["public"], cast.rooms["private"]
    joined = await client.put(f"/rooms/{public['id']}/members/{me.id}", headers=me.headers)
    assert joined.status_code == 201
    assert joined.json()["role"] == "member"
    assert joined.json()["user"]["id"] == me.id
    again = await client.put(f"/rooms/{public['id']}/members/{me.id}", headers=me.headers)
    assert again.status_code == 200
    refused = await client.put(f"/rooms/{private['id']}/members/{me.id}", headers=me.headers)
    assert refused.status_code == 404
    as_admin = await client.put(
        f"/rooms/{public['id']}/members/{cast.newcomer.id}",
        json={"role": "admin"},
        headers=cast.newcomer.headers,
    )
    assert as_admin.status_code == 403


async def test_nobody_changes_their_own_role(client: httpx.AsyncClient, cast: Cast) -> None:
    room = cast.rooms["public"]
    for person, role in ((cast.member, "admin"), (cast.admin, "owner"), (cast.owner, "member")):
        response = await client.put(
            f"/rooms/{room['id']}/members/{person.id}", json={"role": role}, headers=person.headers
        )
        assert response.status_code == 403, (person, role)


async def test_owner_hands_over_ownership(client: httpx.AsyncClient, cast: Cast) -> None:
    room = cast.rooms["private"]
    response = await client.put(
        f"/rooms/{room['id']}/members/{cast.member.id}",
        json={"role": "owner"},
        headers=cast.owner.headers,
    )
    assert response.status_code == 200
    assert response.json()["role"] == "owner"
    roles = {
        m["user"]["id"]: m["role"]
        for m in (
            await client.get(f"/rooms/{room['id']}/members", headers=cast.owner.headers)
        ).json()["members"]
    }
    assert roles[cast.member.id] == "owner"
    assert roles[cast.owner.id] == "admin"
    assert list(roles.values()).count("owner") == 1
    # The former owner can now leave; the new one cannot.
    leave = await client.delete(
        f"/rooms/{room['id']}/members/{cast.owner.id}", headers=cast.owner.headers
    )
    assert leave.status_code == 204


async def test_ownership_goes_only_to_members(client: httpx.AsyncClient, cast: Cast) -> None:
    room = cast.rooms["public"]
    response = await client.put(
        f"/rooms/{room['id']}/members/{cast.newcomer.id}",
        json={"role": "owner"},
        headers=cast.owner.headers,
    )
    assert response.status_code == 403


async def test_owner_cannot_leave(client: httpx.AsyncClient, cast: Cast) -> None:
    room = cast.rooms["public"]
    response = await client.delete(
        f"/rooms/{room['id']}/members/{cast.owner.id}", headers=cast.owner.headers
    )
    assert response.status_code == 409
    assert "ownership" in response.json()["detail"]


async def test_members_leave_and_lose_access(client: httpx.AsyncClient, cast: Cast) -> None:
    for visibility, after in (("public", 403), ("private", 404)):
        room = cast.rooms[visibility]
        leave = await client.delete(
            f"/rooms/{room['id']}/members/{cast.member.id}", headers=cast.member.headers
        )
        assert leave.status_code == 204
        history = await client.get(f"/rooms/{room['id']}/messages", headers=cast.member.headers)
        assert history.status_code == after
        again = await client.delete(
            f"/rooms/{room['id']}/members/{cast.member.id}", headers=cast.member.headers
        )
        assert again.status_code == 404


async def test_nobody_removes_the_owner(client: httpx.AsyncClient, cast: Cast) -> None:
    room = cast.rooms["public"]
    response = await client.delete(
        f"/rooms/{room['id']}/members/{cast.owner.id}", headers=cast.admin.headers
    )
    assert response.status_code == 403


async def test_removing_someone_who_is_not_a_member_is_404(
    client: httpx.AsyncClient, cast: Cast
) -> None:
    room = cast.rooms["public"]
    response = await client.delete(
        f"/rooms/{room['id']}/members/{cast.newcomer.id}", headers=cast.owner.headers
    )
    assert response.status_code == 404


async def test_adding_an_unknown_user_is_404(client: httpx.AsyncClient, cast: Cast) -> None:
    room = cast.rooms["public"]
    response = await client.put(f"/rooms/{room['id']}/members/999999", headers=cast.owner.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "User not found."}
