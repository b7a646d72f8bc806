from __future__ import annotations

from app.core.errors import Conflict, NotFound


class BotNotFound(NotFound):
    # Also what someone else's bot answers, so that bot ids do not leak ownership.
    default_detail = "Bot not found."


class TooManyBots(Conflict):
    default_detail = "You have as many bots as allowed; delete one first."
