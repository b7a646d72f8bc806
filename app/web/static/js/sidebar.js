// The room list: rooms we are in (with unread and mention badges), direct messages (named
// by the other person), and public rooms to join; the signed-in person at the bottom, and
// the unread total in the window title.

import { $, clear, h, setText } from "./dom.js";
import { avatar, plural } from "./format.js";
import { onRender } from "./render.js";
import { roomLabel, roomTitle } from "./room-title.js";
import { navigate } from "./router.js";
import { currentRoom, state } from "./state.js";

export function showRoomList() {
  onRender("sidebar", renderSidebar);
  onRender("title", renderTitle);
}

/** The signed-in person's avatar and names, at the foot of the sidebar. */
export function renderMe() {
  const me = state.me;
  const holder = $("me-avatar");
  const fresh = avatar(me);
  fresh.id = "me-avatar";
  holder.replaceWith(fresh);
  setText($("me-name"), me.display_name || me.username);
  setText($("me-username"), `@${me.username}`);
}

function renderSidebar() {
  const mine = [];
  const others = [];
  const dms = [];
  for (const room of state.rooms.values()) {
    if (room.dmWith) {
      if (room.member) dms.push(room);
    } else (room.member ? mine : others).push(room);
  }
  const byName = (a, b) => roomLabel(a).localeCompare(roomLabel(b));
  mine.sort(byName);
  others.sort(byName);
  dms.sort(byName);
  fillRoomList($("my-rooms"), mine);
  fillRoomList($("dm-rooms"), dms);
  fillRoomList($("public-rooms"), others);
  $("my-rooms-empty").hidden = mine.length > 0;
  $("dm-rooms-empty").hidden = dms.length > 0;
  $("public-rooms-empty").hidden = others.length > 0;
}

function fillRoomList(list, items) {
  clear(list);
  for (const room of items) {
    const open = room.id === state.openRoomId;
    const unread = room.member && !open ? room.unread : 0;
    const mentions = room.member && !open ? room.mentions : 0;
    const button = h(
      "button",
      {
        type: "button",
        class: `room-item${open ? " active" : ""}${unread ? " has-unread" : ""}`,
        "aria-current": open ? "page" : null,
        onclick: () => navigate(room.id),
      },
      h("span", { class: "room-item-name" }, roomTitle(room)),
      mentions ? mentionBadge(mentions) : null,
      unread ? unreadBadge(unread) : null,
      room.member ? null : h("span", { class: "join-hint" }, "Join"),
    );
    list.append(h("li", { dataset: { roomId: room.id }, "data-testid": "room-item" }, button));
  }
}

function unreadBadge(unread) {
  return h(
    "span",
    {
      class: "badge",
      "data-testid": "unread",
      "aria-label": plural(unread, "unread message", "unread messages"),
    },
    unread > 99 ? "99+" : String(unread),
  );
}

/** Messages naming us, apart from the unread count: these ask for an answer. */
function mentionBadge(count) {
  return h(
    "span",
    {
      class: "badge mention",
      "data-testid": "mentions",
      "aria-label": plural(count, "mention of you", "mentions of you"),
      title: plural(count, "mention of you", "mentions of you"),
    },
    count > 99 ? "@99+" : `@${count}`,
  );
}

function renderTitle() {
  let total = 0;
  for (const room of state.rooms.values()) {
    if (room.member && room.id !== state.openRoomId) total += room.unread;
  }
  const room = currentRoom();
  const base = room ? `${roomLabel(room)} · Parley` : "Parley";
  const title = total ? `(${total}) ${base}` : base;
  if (document.title !== title) document.title = title;
}
