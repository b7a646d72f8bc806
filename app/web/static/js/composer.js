// The message box: Enter sends (Shift+Enter for a new line), ↑ in an empty box edits our
// last message, `@` offers the room's members to mention, the box grows with its text, and
// the room hears that we are typing.

import { $ } from "./dom.js";
import { wireMentions } from "./mentions.js";
import { tooLong } from "./message-actions.js";
import { currentRoom, state } from "./state.js";

const TYPING_SEND_MS = 3000;
const SERVER_TYPING_GAP_MS = 1100;
const MAX_HEIGHT_PX = 200;

export function wireComposer({ realtime, outbox, startEdit }) {
  const form = $("composer");
  const input = $("composer-input");
  let lastTypingSent = 0;
  let typingAfterSend = false;
  let typingSendTimer = null;
  const mentions = wireMentions(input);

  /**
   * Tell the room we are typing: once every few seconds while the composer has text. Right
   * after a send the others have cleared our indicator, so say it again as soon as the server
   * takes another one (it keeps at most one per second per connection and drops the rest).
   */
  function noteTyping() {
    const due = lastTypingSent + (typingAfterSend ? SERVER_TYPING_GAP_MS : TYPING_SEND_MS);
    clearTimeout(typingSendTimer);
    if (Date.now() >= due) sendTyping();
    else if (typingAfterSend) typingSendTimer = setTimeout(sendTyping, due - Date.now());
  }

  function sendTyping() {
    const room = currentRoom();
    if (!room || !room.subscribed || !input.value.trim()) return;
    if (realtime.send({ type: "typing", room_id: room.id })) {
      lastTypingSent = Date.now();
      typingAfterSend = false;
    }
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, MAX_HEIGHT_PX)}px`;
  }

  /** Our newest message in the open room that can still be edited. */
  function lastOwnMessage() {
    const room = currentRoom();
    return room
      ?.sorted()
      .reverse()
      .find((message) => message.author.id === state.me.id && !message.deleted);
  }

  input.addEventListener("input", () => {
    autosize();
    noteTyping();
  });
  input.addEventListener("keydown", (event) => {
    if (mentions.handleKey(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "ArrowUp" && !input.value) {
      const last = lastOwnMessage();
      if (last) {
        event.preventDefault();
        startEdit(last);
      }
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = currentRoom();
    const body = input.value.trim();
    if (!room || !body) return;
    if (tooLong(body)) return;
    outbox.send(room, body);
    typingAfterSend = true;
    input.value = "";
    autosize();
    input.focus();
  });
}
