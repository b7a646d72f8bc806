// Starting a direct message: from the sidebar's "+" (find someone by username) or from a
// person in the open room's member list. Either side asking gets the same conversation.

import { $, clear, h, inert } from "./dom.js";
import { avatar } from "./format.js";
import { report } from "./notices.js";
import { ApiError } from "./session.js";
import { state } from "./state.js";

const SUGGESTIONS = 8;

export function wireDms({ session, sync }) {
  const dialog = $("dm-dialog");
  const form = $("dm-form");
  const results = $("dm-results");
  let asked = 0;

  function formError(text) {
    const node = form.querySelector(".form-error");
    node.textContent = inert(text);
    node.hidden = !text;
  }

  async function start(user) {
    try {
      await sync.openDm(user);
      if (dialog.open) dialog.close();
    } catch (error) {
      if (dialog.open) formError(error instanceof ApiError ? error.message : "Cannot reach the server.");
      else report(error);
    }
  }

  async function lookUp() {
    const prefix = form.elements.who.value.trim();
    const question = ++asked;
    formError("");
    if (!prefix) {
      clear(results);
      return;
    }
    try {
      const { users } = await session.request("GET", "/users", {
        query: { prefix, limit: SUGGESTIONS + 1 },
      });
      if (question !== asked) return;
      clear(results);
      const others = users.filter((user) => user.id !== state.me.id).slice(0, SUGGESTIONS);
      if (!others.length) formError(`Nobody's username starts with “${prefix}”.`);
      for (const user of others) {
        results.append(
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "pick-person", onclick: () => start(user) },
              avatar(user, "small"),
              h("span", { class: "person-name" }, user.display_name || user.username),
              h("span", { class: "muted small" }, `@${user.username}`),
            ),
          ),
        );
      }
    } catch (error) {
      if (question === asked) formError(error instanceof ApiError ? error.message : "Cannot reach the server.");
    }
  }

  $("new-dm").addEventListener("click", () => {
    form.reset();
    clear(results);
    formError("");
    dialog.showModal();
  });
  form.elements.who.addEventListener("input", lookUp);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    results.querySelector("button")?.click(); // Enter takes the first match
  });

  return { start };
}
