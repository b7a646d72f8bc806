// Who is online in the open room: the list beside the timeline, and the header button that
// shows the count and opens or closes the list.

import { $, clear, h, setText } from "./dom.js";
import { avatar } from "./format.js";
import { invalidate, onRender } from "./render.js";
import { currentRoom, state } from "./state.js";

export function showMembers(realtime) {
  function renderPeople() {
    const room = currentRoom();
    const list = $("online-list");
    clear(list);
    if (!room || !room.member) return;
    const me = state.me;
    const people = [...room.online.values()];
    if (!room.online.has(me.id) && realtime.open && room.subscribed) people.push(me);
    people.sort((a, b) => (a.display_name || "").localeCompare(b.display_name || ""));
    for (const user of people) {
      list.append(
        h(
          "li",
          { class: "person", dataset: { userId: user.id } },
          avatar(user, "small"),
          h("span", { class: "person-name" }, user.display_name || user.username),
          user.id === me.id ? h("span", { class: "muted small" }, "(you)") : null,
        ),
      );
    }
    const toggle = $("toggle-people");
    setText(toggle, room.subscribed ? `● ${people.length} online` : "○ offline");
    toggle.classList.toggle("stale", !room.subscribed);
    $("people").hidden = !state.peopleOpen;
  }

  onRender("people", renderPeople);
  $("toggle-people").addEventListener("click", () => {
    state.peopleOpen = !state.peopleOpen;
    invalidate("header", "people", "timeline");
  });
}
