// The thread panel: a thread's first message (its root) and its replies, fetched with
// GET …/replies and kept live from the room's frames, with a composer that sends with
// `reply_to`. Threads are one level deep: replying to a reply joins its root's thread.

import { $, setText } from "./dom.js";
import { wireMentions } from "./mentions.js";
import { tooLong } from "./message-actions.js";
import { report } from "./notices.js";
import { invalidate } from "./render.js";
import { pendingIn, state } from "./state.js";
import { Timeline } from "./timeline.js";

const REPLIES_PAGE = 200;

/** The message with `id` among those the room holds, or null. */
export function heldById(room, id) {
  for (const message of room.messages.values()) if (message.id === id) return message;
  return null;
}

export function createThread({ session, outbox, actions }) {
  const panel = $("thread");
  const input = $("thread-input");
  const rootView = new Timeline($("thread-root"), actions, { inThread: true });
  const repliesView = new Timeline($("thread-replies"), actions, { inThread: true });
  const mentions = wireMentions(input);

  /** Open the thread of `message` (its own, or its root's if it is a reply). */
  async function open(message) {
    const rootId = message.reply_to ?? message.id;
    const room = state.rooms.get(message.room_id);
    if (!room) return;
    const root = message.reply_to ? heldById(room, rootId) : message;
    const thread = { roomId: room.id, rootId, root, replies: new Map(), hasMore: false, loading: true };
    state.thread = thread;
    invalidate("timeline");
    queueMicrotask(() => input.focus());
    await loadReplies(thread, 0);
  }

  async function loadReplies(thread, afterSeq) {
    thread.loading = true;
    try {
      const page = await session.request(
        "GET",
        `/rooms/${thread.roomId}/messages/${thread.rootId}/replies`,
        { query: { after_seq: afterSeq, limit: REPLIES_PAGE } },
      );
      for (const reply of page.messages) keep(thread, reply);
      thread.hasMore = page.has_more;
    } catch (error) {
      report(error);
    } finally {
      thread.loading = false;
      invalidate("timeline");
    }
  }

  function keep(thread, message) {
    if (newer(message, thread.replies.get(message.seq))) thread.replies.set(message.seq, message);
  }

  /** A message from the socket or a REST answer: part of the open thread? */
  function take(message) {
    const thread = state.thread;
    if (!thread || message.room_id !== thread.roomId) return;
    if (message.id === thread.rootId) {
      if (newer(message, thread.root)) thread.root = message;
      invalidate("timeline");
    } else if (message.reply_to === thread.rootId) {
      keep(thread, message);
      invalidate("timeline");
    }
  }

  function close() {
    state.thread = null;
    invalidate("timeline", "people");
  }

  function render() {
    const thread = state.thread;
    const room = thread && state.rooms.get(thread.roomId);
    const shown = Boolean(room && room.id === state.openRoomId && room.member);
    panel.hidden = !shown;
    if (!shown) {
      if (thread && (!room || !room.member)) state.thread = null;
      return;
    }
    // The room's copy may be newer than ours (an edit or a reaction seen live).
    // (Kept here without asking for another render: this is the render.)
    for (const message of room.messages.values()) {
      if (message.reply_to === thread.rootId) keep(thread, message);
      else if (message.id === thread.rootId && newer(message, thread.root)) thread.root = message;
    }
    const context = { me: state.me, editing: state.editing, confirming: state.confirming };
    const root = thread.root;
    rootView.render({
      ...context,
      room: listOf(room, root ? [root] : []),
      pending: [],
    });
    setText(
      $("thread-root-note"),
      root ? "" : "This thread starts with a message further back in the room.",
    );
    const replies = [...thread.replies.values()].sort((a, b) => a.seq - b.seq);
    repliesView.render({
      ...context,
      room: listOf(room, replies),
      pending: pendingIn(room.id).filter((entry) => entry.replyTo === thread.rootId),
    });
    const count = Math.max(root ? root.reply_count || 0 : 0, replies.length);
    setText(
      $("thread-count"),
      thread.loading ? "Loading replies…" : count === 1 ? "1 reply" : `${count} replies`,
    );
    $("thread-more").hidden = !thread.hasMore;
  }

  $("close-thread").addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !mentions.open) close();
  });
  $("thread-more").addEventListener("click", () => {
    const thread = state.thread;
    if (!thread || thread.loading) return;
    const newest = Math.max(0, ...thread.replies.keys());
    loadReplies(thread, newest);
  });
  input.addEventListener("keydown", (event) => {
    if (mentions.handleKey(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("thread-composer").requestSubmit();
    }
  });
  $("thread-composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const thread = state.thread;
    const room = thread && state.rooms.get(thread.roomId);
    const body = input.value.trim();
    if (!room || !body || tooLong(body)) return;
    outbox.send(room, body, { replyTo: thread.rootId });
    input.value = "";
    input.focus();
  });

  return { open, take, close, render };
}

/** True if `message` is a state at least as recent as `known` (or nothing is known). */
function newer(message, known) {
  return !known || (known.rev ?? 0) <= (message.rev ?? 0);
}

/** What Timeline.render needs of a room, over a given list of its messages. */
function listOf(room, messages) {
  return {
    id: room.id,
    members: room.members,
    messages: room.messages,
    newSince: null,
    sorted: () => messages,
  };
}
