// What the buttons on a message do: edit or delete one of ours (with the confirmation step),
// retry or discard one that failed to send. These are the Timeline's actions.

import { $ } from "./dom.js";
import { report, toast } from "./notices.js";
import { invalidate } from "./render.js";
import { state } from "./state.js";

export const MAX_BODY = 4000;

/** True (and the person is told) if `text` is longer than a message may be. */
export function tooLong(text) {
  if (text.length <= MAX_BODY) return false;
  toast(`A message holds at most ${MAX_BODY} characters.`);
  return true;
}

export function createMessageActions({ session, outbox }) {
  function startEdit(message) {
    state.confirming = null;
    state.editing = { seq: message.seq, draft: message.body };
    invalidate("timeline");
  }

  async function saveEdit(message, body) {
    const text = body.trim();
    if (!text || text === message.body) {
      state.editing = null;
      invalidate("timeline");
      return;
    }
    if (tooLong(text)) return;
    try {
      const updated = await session.request(
        "PATCH",
        `/rooms/${message.room_id}/messages/${message.id}`,
        { json: { body: text } },
      );
      state.rooms.get(message.room_id)?.put(updated, state.me.id);
      state.editing = null;
      invalidate("timeline");
      $("composer-input").focus();
    } catch (error) {
      report(error);
    }
  }

  function cancelEdit() {
    state.editing = null;
    invalidate("timeline");
    $("composer-input").focus();
  }

  function askDelete(message) {
    state.confirming = message.seq;
    invalidate("timeline");
  }

  async function confirmDelete(message) {
    state.confirming = null;
    try {
      await session.request("DELETE", `/rooms/${message.room_id}/messages/${message.id}`);
      state.rooms.get(message.room_id)?.markDeleted(message.seq);
    } catch (error) {
      report(error);
    }
    invalidate("timeline", "sidebar");
  }

  function cancelDelete() {
    state.confirming = null;
    invalidate("timeline");
  }

  return {
    edit: startEdit,
    saveEdit,
    cancelEdit,
    askDelete,
    confirmDelete,
    cancelDelete,
    retry: (entry) => outbox.retry(entry),
    discard: (entry) => outbox.discard(entry),
  };
}
