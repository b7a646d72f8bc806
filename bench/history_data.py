"""A realistic chat history, generated reproducibly and loaded with COPY (`bench.history`).

The shape: rooms of very different sizes (a message lands in room k with weight 1/(k+1), so
the biggest of 1,000 rooms holds ~13 % of everything and the smallest a few thousand in
10 M), members drawn from users with a skew (some people are in many rooms), one user
(`user1`, "the heavy user") in exactly 200 rooms (the 100 biggest and 100 others) with read
markers from caught-up to never-read, bodies drawn from a Zipf-distributed vocabulary (real
English words first, so there are stop words, common words and very rare ones), ~10 %
replies into threads, ~5 % of messages with reactions, ~3 % with a mention, a few edited and
deleted ones.

Change numbers follow what the server writes: a new message takes the room's next `rev` (its
`created_rev`); a reply's root takes the one after it; a reaction, an edit or a delete gives
the message the next one. Threads, reactions, edits and deletes happen to recent messages
(the last `WINDOW` of the room), so a message is final when it leaves that window and is
written out then: the generator streams, whatever the scale.
"""

from __future__ import annotations

import random
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

WINDOW = 64
START = datetime(2026, 1, 1, tzinfo=UTC)
EMOJI = ("👍", "❤️", "😂", "🎉", "👀", "🙏", "🔥", "✅")

# Ranked as they come: the head of the Zipf curve. Stop words first (search ignores them),
# then words people type in a work chat.
COMMON_WORDS = [
    "the",
    "to",
    "and",
    "a",
    "of",
    "i",
    "it",
    "is",
    "in",
    "that",
    "you",
    "for",
    "on",
    "this",
    "we",
    "be",
    "have",
    "with",
    "not",
    "but",
    "are",
    "was",
    "so",
    "just",
    "if",
    "at",
    "can",
    "do",
    "what",
    "my",
    "all",
    "there",
    "about",
    "will",
    "me",
    "they",
    "get",
    "like",
    "one",
    "or",
    "up",
    "out",
    "an",
    "think",
    "yes",
    "no",
    "ok",
    "know",
    "would",
    "now",
    "when",
    "then",
    "some",
    "here",
    "how",
    "go",
    "thanks",
    "good",
    "need",
    "see",
    "time",
    "meeting",
    "deploy",
    "build",
    "test",
    "review",
    "today",
    "tomorrow",
    "release",
    "issue",
    "fix",
    "please",
    "merge",
    "update",
    "check",
    "done",
    "looks",
    "great",
    "sure",
    "branch",
    "server",
    "change",
    "week",
    "team",
    "call",
    "customer",
    "bug",
    "working",
    "database",
    "doc",
    "plan",
    "idea",
    "data",
    "design",
    "feature",
    "morning",
    "lunch",
    "coffee",
    "later",
    "before",
    "after",
    "user",
    "code",
    "error",
    "config",
    "logs",
    "ticket",
    "sprint",
    "demo",
    "ship",
]
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
# The words the benchmark searches for: one of the most common non-stop words (a few % of
# all messages), and one from far down the tail (a few messages in a big room).
COMMON_SEARCH = "meeting"
RARE_RANK = 20_000


@dataclass(frozen=True)
class Shape:
    messages: int
    rooms: int = 1000
    users: int = 0  # 0: scaled with the messages
    heavy_rooms: int = 200
    seed: int = 17

    @property
    def user_count(self) -> int:
        return self.users or max(50, min(20_000, self.messages // 500))

    def describe(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "rooms": self.rooms,
            "users": self.user_count,
            "heavy_rooms": min(self.heavy_rooms, self.rooms),
            "seed": self.seed,
        }


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words = list(COMMON_WORDS)
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def rare_word(shape: Shape) -> str:
    return vocabulary(max(RARE_RANK + 1, 30_000), random.Random(shape.seed))[RARE_RANK]


@dataclass
class RoomPlan:
    room_id: int
    members: list[int]
    member_weights: list[float]
    messages: int
    public: bool
    markers: dict[int, int] = field(default_factory=dict)


@dataclass
class Rows:
    """One batch of rows for one table, in that table's COPY column order."""

    table: str
    rows: list[tuple[Any, ...]]


COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "username", "username_key", "display_name", "password_hash", "created_at"),
    "rooms": (
        "id",
        "name",
        "name_key",
        "topic",
        "visibility",
        "created_by",
        "created_at",
        "last_seq",
        "last_rev",
        "kind",
    ),
    "room_members": ("room_id", "user_id", "role", "joined_at", "last_read_seq"),
    "messages": (
        "id",
        "room_id",
        "seq",
        "rev",
        "created_rev",
        "author_id",
        "body",
        "client_id",
        "created_at",
        "edited_at",
        "deleted",
        "reply_to_id",
        "reply_count",
        "last_reply_at",
    ),
    "message_reactions": ("id", "message_id", "user_id", "emoji", "emoji_rev", "created_at"),
    "message_mentions": ("message_id", "user_id", "room_id", "seq", "position"),
}

# Indexes into a message row (a list while it is in its room's window).
ID, ROOM, SEQ, REV, CREATED_REV, AUTHOR, BODY, CLIENT = range(8)
CREATED_AT, EDITED_AT, DELETED, REPLY_TO, REPLY_COUNT, LAST_REPLY_AT = range(8, 14)


class History:
    """Generates the whole data set as batches of rows (`batches`), then tells where the
    benchmark should look (`facts`)."""

    def __init__(self, shape: Shape, password_hash: str, *, batch: int = 50_000) -> None:
        self.shape = shape
        self.password_hash = password_hash
        self.batch = batch
        self.rng = random.Random(shape.seed)
        self.words = vocabulary(max(RARE_RANK + 1, 30_000), random.Random(shape.seed))
        self.word_weights = list(accumulate(1 / (r + 1) ** 1.05 for r in range(len(self.words))))
        self.usernames = {u: f"user{u}" for u in range(1, shape.user_count + 1)}
        self.heavy_user = 1
        self.plans: list[RoomPlan] = []
        self.next_rev: list[int] = []
        self.next_seq: list[int] = []

    # -- planning ------------------------------------------------------------------------

    def _room_sequence(self) -> array[int]:
        """Which room each message (in time order) goes to."""
        rooms = self.shape.rooms
        cum = list(accumulate(1 / (k + 1) for k in range(rooms)))
        sequence: array[int] = array("H" if rooms < 65_536 else "I")
        left = self.shape.messages
        while left:
            n = min(left, 100_000)
            sequence.extend(self.rng.choices(range(rooms), cum_weights=cum, k=n))
            left -= n
        return sequence

    def _plan(self, sequence: array[int]) -> None:
        shape, rng = self.shape, self.rng
        users = shape.user_count
        counts = [0] * shape.rooms
        for room in sequence:
            counts[room] += 1
        popularity = list(accumulate(1 / (u + 1) ** 0.6 for u in range(users)))
        heavy = min(shape.heavy_rooms, shape.rooms)
        biggest = heavy // 2
        heavy_set = set(range(biggest)) | set(
            rng.sample(range(biggest, shape.rooms), heavy - biggest)
        )
        for k in range(shape.rooms):
            size = max(3, min(users, int(users * 0.5 / (k + 1) ** 0.7)))
            chosen = {1 + u for u in rng.choices(range(users), cum_weights=popularity, k=size)}
            chosen.discard(self.heavy_user)
            if k in heavy_set:
                chosen.add(self.heavy_user)
            members = sorted(chosen)
            rng.shuffle(members)  # the first is the owner; activity is skewed by position
            weights = list(accumulate(1 / (i + 1) ** 0.8 for i in range(len(members))))
            plan = RoomPlan(k + 1, members, weights, counts[k], public=k % 20 == 0)
            for user in members:
                plan.markers[user] = self._marker(counts[k])
            self.plans.append(plan)
        self.next_rev = [0] * shape.rooms
        self.next_seq = [0] * shape.rooms

    def _marker(self, last_seq: int) -> int:
        """Most people are nearly caught up; some are far behind; a few never read."""
        roll = self.rng.random()
        if roll < 0.75:
            behind = int(self.rng.expovariate(1 / 20))
        elif roll < 0.95:
            behind = int(self.rng.expovariate(1 / 2000))
        else:
            return 0
        return max(0, last_seq - behind)

    # -- rows ----------------------------------------------------------------------------

    def batches(self) -> Iterator[Rows]:
        sequence = self._room_sequence()
        self._plan(sequence)
        yield Rows(
            "users",
            [
                (u, name, name, f"User {u}", self.password_hash, START - timedelta(days=30))
                for u, name in self.usernames.items()
            ],
        )
        yield from self._messages(sequence)
        yield Rows(
            "rooms",
            [
                (
                    plan.room_id,
                    f"room-{plan.room_id:04d}",
                    f"room-{plan.room_id:04d}",
                    "",
                    "public" if plan.public else "private",
                    plan.members[0],
                    START - timedelta(days=7),
                    self.next_seq[plan.room_id - 1],
                    self.next_rev[plan.room_id - 1],
                    "room",
                )
                for plan in self.plans
            ],
        )
        members: list[tuple[Any, ...]] = []
        for plan in self.plans:
            for index, user in enumerate(plan.members):
                role = "owner" if index == 0 else "member"
                members.append(
                    (plan.room_id, user, role, START - timedelta(days=7), plan.markers[user])
                )
        yield Rows("room_members", members)

    def _body(self, room: RoomPlan, author: int) -> tuple[str, int | None]:
        rng = self.rng
        words = rng.choices(self.words, cum_weights=self.word_weights, k=rng.randint(3, 24))
        mentioned = None
        if rng.random() < 0.03 and len(room.members) > 1:
            # The heavy user is named now and then wherever they are a member.
            if self.heavy_user in room.markers and rng.random() < 0.1:
                mentioned = self.heavy_user
            else:
                mentioned = rng.choice(room.members)
            if mentioned == author:
                mentioned = None
            else:
                words.insert(rng.randrange(len(words) + 1), "@" + self.usernames[mentioned])
        return " ".join(words), mentioned

    def _take_rev(self, k: int) -> int:
        self.next_rev[k] += 1
        return self.next_rev[k]

    def _messages(self, sequence: array[int]) -> Iterator[Rows]:
        rng = self.rng
        windows: list[deque[list[Any]]] = [deque() for _ in range(self.shape.rooms)]
        # Per message still in a window: emoji -> emoji_rev, and who reacted with what.
        emoji_revs: dict[int, dict[str, int]] = {}
        reacted: dict[int, set[tuple[int, str]]] = {}
        out: list[tuple[Any, ...]] = []
        reactions: list[tuple[Any, ...]] = []
        mentions: list[tuple[Any, ...]] = []
        reaction_id = 0
        doomed: set[int] = set()  # to be deleted when they leave the window
        edited: set[int] = set()

        def retire(row: list[Any], k: int) -> None:
            message_id = row[ID]
            if message_id in doomed:
                doomed.discard(message_id)
                row[DELETED], row[BODY] = True, ""
                row[REV] = self._take_rev(k)
            elif message_id in edited:
                edited.discard(message_id)
                row[EDITED_AT] = row[CREATED_AT] + timedelta(minutes=2)
                row[REV] = self._take_rev(k)
            emoji_revs.pop(message_id, None)
            reacted.pop(message_id, None)
            out.append(tuple(row))

        for index, k in enumerate(sequence):
            message_id = index + 1
            room = self.plans[k]
            window = windows[k]
            now = START + timedelta(seconds=index * 3)
            author = room.members[
                rng.choices(range(len(room.members)), cum_weights=room.member_weights)[0]
            ]
            self.next_seq[k] += 1
            rev = self._take_rev(k)
            doom = rng.random() < 0.005
            body, mentioned = self._body(room, author)
            if doom:
                mentioned = None
            row: list[Any] = [
                message_id,
                room.room_id,
                self.next_seq[k],
                rev,
                rev,
                author,
                body,
                f"c{message_id}",
                now,
                None,
                False,
                None,
                0,
                None,
            ]
            if mentioned is not None:
                mentions.append((message_id, mentioned, room.room_id, self.next_seq[k], 0))
            if window and rng.random() < 0.10:
                roots = [r for r in window if r[REPLY_TO] is None and r[ID] not in doomed]
                if roots:
                    root = roots[min(len(roots) - 1, int(rng.expovariate(1 / 4)))]
                    row[REPLY_TO] = root[ID]
                    root[REPLY_COUNT] += 1
                    root[LAST_REPLY_AT] = now
                    root[REV] = self._take_rev(k)
            if doom:
                doomed.add(message_id)
            elif rng.random() < 0.01:
                edited.add(message_id)
            window.append(row)
            if rng.random() < 0.05:
                target = window[-1 - min(len(window) - 1, int(rng.expovariate(1 / 3)))]
                if target[ID] not in doomed:
                    emojis = emoji_revs.setdefault(target[ID], {})
                    who = reacted.setdefault(target[ID], set())
                    for _ in range(1 + int(rng.expovariate(1))):
                        user = rng.choice(room.members)
                        emoji = rng.choice(EMOJI[:4]) if rng.random() < 0.8 else rng.choice(EMOJI)
                        if (user, emoji) in who:
                            continue
                        who.add((user, emoji))
                        change = self._take_rev(k)
                        target[REV] = change
                        first = emojis.setdefault(emoji, change)
                        reaction_id += 1
                        reactions.append((reaction_id, target[ID], user, emoji, first, now))
            if len(window) > WINDOW:
                retire(window.popleft(), k)
            if len(out) >= self.batch:
                yield Rows("messages", out)
                out = []
            if len(reactions) >= self.batch:
                yield Rows("message_reactions", reactions)
                reactions = []
            if len(mentions) >= self.batch:
                yield Rows("message_mentions", mentions)
                mentions = []
        for k, window in enumerate(windows):
            while window:
                retire(window.popleft(), k)
        yield Rows("messages", out)
        yield Rows("message_reactions", reactions)
        yield Rows("message_mentions", mentions)
