// `@` in a message box: a list of the open room's members whose username or name starts with
// what follows it; ↑/↓ choose, Enter or Tab puts `@username ` in its place, Esc closes it.

import { h, reconcile } from "./dom.js";
import { avatar } from "./format.js";
import { currentRoom, state } from "./state.js";

const SHOWN = 6;
// `@` where a mention can start (as the server reads them), then what was typed of the name.
const TYPED_MENTION = /(?<![\p{L}\p{N}_.\-@])@([A-Za-z0-9_.-]*)$/u;

/** Members of the open room matching `prefix` (not us: naming yourself notifies nobody). */
export function candidates(prefix) {
  const room = currentRoom();
  if (!room) return [];
  const wanted = prefix.toLowerCase();
  const found = [];
  for (const { user } of room.members.values()) {
    if (user.id === state.me.id) continue;
    const name = (user.display_name || "").toLowerCase();
    if (user.username.toLowerCase().startsWith(wanted) || name.startsWith(wanted)) found.push(user);
  }
  found.sort((a, b) => a.username.localeCompare(b.username));
  return found.slice(0, SHOWN);
}

/** Autocomplete for `input` (a textarea). Its keydown handler asks `handleKey` first. */
export function wireMentions(input) {
  const list = h("ul", {
    class: "mention-list",
    role: "listbox",
    "aria-label": "People to mention",
    "data-testid": "mention-list",
    hidden: true,
  });
  input.insertAdjacentElement("beforebegin", list);
  let users = [];
  let chosen = 0;
  let start = -1; // index of the `@` being completed

  function update() {
    const before = input.value.slice(0, input.selectionStart);
    const match = TYPED_MENTION.exec(before);
    users = match ? candidates(match[1]) : [];
    start = match ? before.length - match[0].length : -1;
    chosen = Math.min(chosen, Math.max(users.length - 1, 0));
    draw();
  }

  function draw() {
    list.hidden = users.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    reconcile(
      list,
      users.map((user, index) =>
        h(
          "li",
          {
            role: "option",
            class: index === chosen ? "chosen" : "",
            "aria-selected": String(index === chosen),
            onmousedown: (event) => {
              event.preventDefault(); // keep the focus in the box
              choose(user);
            },
          },
          avatar(user, "small"),
          h("span", { class: "person-name" }, user.display_name || user.username),
          h("span", { class: "muted small" }, `@${user.username}`),
        ),
      ),
    );
  }

  function choose(user) {
    const caret = input.selectionStart;
    const text = `@${user.username} `;
    input.value = input.value.slice(0, start) + text + input.value.slice(caret);
    const at = start + text.length;
    input.setSelectionRange(at, at);
    users = [];
    draw();
    input.dispatchEvent(new Event("input"));
  }

  input.addEventListener("input", update);
  input.addEventListener("click", update);
  input.addEventListener("blur", () => {
    users = [];
    draw();
  });

  return {
    get open() {
      return users.length > 0;
    },
    /** True if the key was for the list (and must do nothing else). */
    handleKey(event) {
      if (!users.length || event.isComposing) return false;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        const step = event.key === "ArrowDown" ? 1 : -1;
        chosen = (chosen + step + users.length) % users.length;
        draw();
      } else if (event.key === "Enter" || event.key === "Tab") {
        choose(users[chosen]);
      } else if (event.key === "Escape") {
        users = [];
        draw();
      } else return false;
      event.preventDefault();
      event.stopImmediatePropagation();
      return true;
    },
  };
}
