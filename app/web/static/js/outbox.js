// Our messages on their way: each gets a client_id and goes out once its room's subscription
// is up. Unacknowledged sends go out again after a reconnect with the same client_id: the
// server answers a repeat with the original message instead of storing it twice. No DOM here.

import { invalidate } from "./render.js";
import { state } from "./state.js";

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain-http pages on another host have no randomUUID (it needs a secure context).
  return [...crypto.getRandomValues(new Uint8Array(16))]
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}

export function createOutbox({ realtime }) {
  /** Queue `body` for `room` (with `replyTo`: a reply in that message's thread). */
  function send(room, body, { replyTo = null } = {}) {
    const entry = {
      clientId: newClientId(),
      roomId: room.id,
      body,
      replyTo,
      state: "queued",
      error: null,
    };
    state.outbox.set(entry.clientId, entry);
    if (replyTo === null) state.stickToBottom = true;
    flush(room);
    invalidate("timeline");
  }

  /** Send what waits for `room`, in order, while the socket takes it. */
  function flush(room) {
    if (!room || !room.subscribed) return;
    for (const entry of state.outbox.values()) {
      if (entry.roomId !== room.id || entry.state !== "queued") continue;
      const frame = {
        type: "send",
        room_id: room.id,
        body: entry.body,
        client_id: entry.clientId,
        ref: entry.clientId,
      };
      if (entry.replyTo !== null) frame.reply_to = entry.replyTo;
      const sent = realtime.send(frame);
      if (!sent) break;
      entry.state = "sending";
    }
    invalidate("timeline");
  }

  function retry(entry) {
    entry.state = "queued";
    entry.error = null;
    flush(state.rooms.get(entry.roomId));
    invalidate("timeline");
  }

  function discard(entry) {
    state.outbox.delete(entry.clientId);
    invalidate("timeline");
  }

  /** The server has the message (an ack, or the message itself come back). */
  function delivered(clientId) {
    state.outbox.delete(clientId);
  }

  /** The socket closed: whatever was on its way goes again after the resume. */
  function requeue() {
    for (const entry of state.outbox.values()) {
      if (entry.state === "sending") entry.state = "queued";
    }
  }

  /** An `error` frame answering one of our sends: wait out a rate limit, or show it failed. */
  function refused(ref, frame) {
    const entry = state.outbox.get(ref);
    if (!entry) return;
    if (frame.code === "rate_limited") {
      entry.state = "queued";
      setTimeout(() => flush(state.rooms.get(entry.roomId)), (frame.retry_after || 1) * 1000);
    } else {
      entry.state = "failed";
      entry.error = frame.detail;
    }
    invalidate("timeline");
  }

  function forgetRoom(roomId) {
    for (const entry of [...state.outbox.values()]) {
      if (entry.roomId === roomId) state.outbox.delete(entry.clientId);
    }
  }

  return { send, flush, retry, discard, delivered, requeue, refused, forgetRoom };
}
