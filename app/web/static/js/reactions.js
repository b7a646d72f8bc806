// Reactions on a message: the chips under it (click one to add or remove yours, hover for who
// reacted), the small picker of common emoji plus what others used in the room, and the
// calls that change them. The server answers with the message in its new state.

import { h } from "./dom.js";
import { report } from "./notices.js";
import { invalidate } from "./render.js";
import { state } from "./state.js";

export const COMMON_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];
const MORE_FROM_ROOM = 8; // emoji others used in the room, shown after the common ones

/** Emoji used in the room's messages we hold, most used first, less the common ones. */
export function roomEmoji(room) {
  const counts = new Map();
  for (const message of room.messages.values()) {
    for (const reaction of message.reactions || []) {
      counts.set(reaction.emoji, (counts.get(reaction.emoji) || 0) + reaction.count);
    }
  }
  return [...counts.entries()]
    .filter(([emoji]) => !COMMON_EMOJI.includes(emoji))
    .sort((a, b) => b[1] - a[1])
    .slice(0, MORE_FROM_ROOM)
    .map(([emoji]) => emoji);
}

/** "Ann, Bo and 3 others reacted with 👍" (names from the room's members). */
export function reactedBy(reaction, room, me) {
  // You first, as chat apps say it; then the others in the order they reacted.
  const ids = reaction.user_ids.includes(me.id)
    ? [me.id, ...reaction.user_ids.filter((id) => id !== me.id)]
    : reaction.user_ids;
  const names = ids.map((id) => {
    if (id === me.id) return "You";
    const member = room.members.get(id);
    return member ? member.user.display_name || member.user.username : "Someone";
  });
  const others = reaction.count - names.length;
  if (others > 0) names.push(`${others} ${others === 1 ? "other" : "others"}`);
  const list =
    names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0];
  return `${list} reacted with ${reaction.emoji}`;
}

/** The chips under a message (null when it has no reactions). */
export function reactionChips(message, room, me, toggle) {
  const reactions = message.reactions || [];
  if (!reactions.length || message.deleted) return null;
  return h(
    "div",
    { class: "reactions", "data-testid": "reactions" },
    reactions.map((reaction) => {
      const mine = reaction.user_ids.includes(me.id);
      return h(
        "button",
        {
          type: "button",
          class: `reaction${mine ? " mine" : ""}`,
          "data-testid": "reaction",
          "aria-pressed": String(mine),
          title: reactedBy(reaction, room, me),
          onclick: () => toggle(message, reaction.emoji, !mine),
        },
        h("span", { class: "reaction-emoji" }, reaction.emoji),
        h("span", { class: "reaction-count" }, String(reaction.count)),
      );
    }),
  );
}

/** The picker shown under a message while `state.picking` names it (and its list). */
export function reactionPicker(message, room, toggle) {
  const mine = new Set(
    (message.reactions || [])
      .filter((reaction) => reaction.user_ids.includes(state.me.id))
      .map((reaction) => reaction.emoji),
  );
  const choice = (emoji) =>
    h(
      "button",
      {
        type: "button",
        class: `pick${mine.has(emoji) ? " mine" : ""}`,
        "aria-label": `React with ${emoji}`,
        onclick: () => {
          state.picking = null;
          toggle(message, emoji, !mine.has(emoji));
        },
      },
      emoji,
    );
  const used = roomEmoji(room);
  const picker = h(
    "div",
    { class: "picker", role: "group", "aria-label": "Add a reaction", "data-testid": "picker" },
    COMMON_EMOJI.map(choice),
    used.length ? h("span", { class: "picker-sep", "aria-hidden": "true" }) : null,
    used.map(choice),
  );
  return picker;
}

export function createReactions({ session }) {
  /** Add (`on`) or remove our `emoji` on `message`. */
  async function toggle(message, emoji, on) {
    const path = `/rooms/${message.room_id}/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`;
    try {
      const updated = await session.request(on ? "PUT" : "DELETE", path);
      state.rooms.get(message.room_id)?.put(updated, state.me.id);
    } catch (error) {
      report(error);
    }
    invalidate("timeline");
  }

  /** Open (or close) the picker named `key` (which list, which message). */
  function openPicker(key) {
    state.picking = state.picking === key ? null : key;
    invalidate("timeline");
  }

  function closePicker() {
    if (state.picking === null) return;
    state.picking = null;
    invalidate("timeline");
  }

  // The picker closes on Escape and on a click anywhere else (its own buttons close it too).
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closePicker();
  });
  document.addEventListener("pointerdown", (event) => {
    if (!event.target.closest?.(".picker, .msg-actions")) closePicker();
  });

  return { toggle, openPicker };
}
