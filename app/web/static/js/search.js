// The search box over the open room: GET …/messages/search (best match first); a result
// jumps to the message in its place in the room, with the history around it loaded.

import { $, clear, h, setText } from "./dom.js";
import { avatar, clock, dayLabel } from "./format.js";
import { report } from "./notices.js";
import { onRender } from "./render.js";
import { currentRoom, state } from "./state.js";

const RESULTS = 20;
const EXCERPT = 160;

export function wireSearch({ session, jumpTo }) {
  const form = $("search-form");
  const input = $("search-input");
  const panel = $("search-results");
  let asked = 0; // answers to older questions are dropped
  let roomId = null; // the room the results are about

  function close() {
    panel.hidden = true;
    clear($("search-list"));
    roomId = null;
  }

  async function search(query) {
    const room = currentRoom();
    if (!room || !room.member) return;
    const question = ++asked;
    roomId = room.id;
    panel.hidden = false;
    setText($("search-summary"), "Searching…");
    clear($("search-list"));
    let messages;
    try {
      ({ messages } = await session.request("GET", `/rooms/${room.id}/messages/search`, {
        query: { q: query, limit: RESULTS },
      }));
    } catch (error) {
      if (question === asked) close();
      report(error);
      return;
    }
    if (question !== asked || roomId !== state.openRoomId) return;
    setText(
      $("search-summary"),
      messages.length
        ? `${messages.length === RESULTS ? `The best ${RESULTS}` : messages.length} ${messages.length === 1 ? "match" : "matches"} for “${query}”`
        : `Nothing matches “${query}”.`,
    );
    const list = $("search-list");
    for (const message of messages) list.append(result(message));
  }

  function result(message) {
    const created = new Date(message.created_at);
    const body = message.body.length > EXCERPT ? `${message.body.slice(0, EXCERPT)}…` : message.body;
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "search-hit",
          "data-testid": "search-hit",
          onclick: () => {
            close();
            jumpTo(message.room_id, message.seq);
          },
        },
        avatar(message.author, "small"),
        h(
          "span",
          { class: "search-hit-text" },
          h(
            "span",
            { class: "msg-meta" },
            h("span", { class: "author" }, message.author.display_name || message.author.username),
            h("time", { datetime: message.created_at }, `${dayLabel(created)} ${clock(created)}`),
          ),
          h("span", { class: "search-hit-body" }, body),
        ),
      ),
    );
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = input.value.trim();
    if (query) search(query);
    else close();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      input.value = "";
      close();
    }
  });
  $("close-search").addEventListener("click", close);

  // Shown with the room header: only for a room we are in; results go with their room.
  onRender("search", () => {
    const room = currentRoom();
    form.hidden = !(room && room.member);
    if (roomId !== null && roomId !== state.openRoomId) {
      input.value = "";
      close();
    }
  });
}
