// Who is in the open room: those online, then the other members (once the member list is
// fetched), each with a button to message them directly; and the header button that shows
// the online count and opens or closes the list.

import { $, clear, h, setText } from "./dom.js";
import { avatar } from "./format.js";
import { invalidate, onRender } from "./render.js";
import { currentRoom, state } from "./state.js";

/** The thread panel takes the people list's place beside the timeline. */
function threadOpen() {
  return Boolean(state.thread && state.thread.roomId === state.openRoomId);
}

export function showMembers(realtime, { startDm }) {
  function person(user, me, dm) {
    return h(
      "li",
      { class: "person", dataset: { userId: user.id } },
      avatar(user, "small"),
      h("span", { class: "person-name" }, user.display_name || user.username),
      user.id === me.id
        ? h("span", { class: "muted small" }, "(you)")
        : dm
          ? null
          : h(
            "button",
            {
              type: "button",
              class: "icon-button small dm-button",
              title: `Message ${user.display_name || user.username} directly`,
              "aria-label": `Message ${user.display_name || user.username}`,
              onclick: () => startDm(user),
            },
            "✉",
          ),
    );
  }

  function renderPeople() {
    const room = currentRoom();
    const list = $("online-list");
    clear(list);
    clear($("offline-list"));
    if (!room || !room.member) return;
    const me = state.me;
    const people = [...room.online.values()];
    if (!room.online.has(me.id) && realtime.open && room.subscribed) people.push(me);
    people.sort((a, b) => (a.display_name || "").localeCompare(b.display_name || ""));
    for (const user of people) list.append(person(user, me, Boolean(room.dmWith)));
    const online = new Set(people.map((user) => user.id));
    const away = [...room.members.values()]
      .map((member) => member.user)
      .filter((user) => !online.has(user.id))
      .sort((a, b) => (a.display_name || "").localeCompare(b.display_name || ""));
    const offline = $("offline-list");
    clear(offline);
    for (const user of away) offline.append(person(user, me, Boolean(room.dmWith)));
    $("offline-title").hidden = away.length === 0;
    const toggle = $("toggle-people");
    setText(toggle, room.subscribed ? `● ${people.length} online` : "○ offline");
    toggle.classList.toggle("stale", !room.subscribed);
    $("people").hidden = !state.peopleOpen || threadOpen();
  }

  onRender("people", renderPeople);
  $("toggle-people").addEventListener("click", () => {
    state.peopleOpen = !state.peopleOpen;
    invalidate("header", "people", "timeline");
  });
}
