"""Webhooks: a room's changes POSTed to a URL, read from the room's change log by a cursor
kept per webhook, one delivery at a time per webhook, by whichever process holds its lease."""
