// The message list of the open room. Rows are keyed (message seq, pending client_id, day) and
// rebuilt only when what they show changes, so live updates do not disturb scrolling,
// selection or an edit in progress.

import { h, reconcile } from "./dom.js";
import { avatar, bodyNodes, clock, dayKey, dayLabel, fullDate } from "./format.js";

const GROUP_WINDOW_MS = 5 * 60 * 1000;

export class Timeline {
  constructor(list, actions) {
    this.list = list;
    this.actions = actions; // {edit, saveEdit, cancelEdit, askDelete, confirmDelete, cancelDelete, retry, discard}
    this.cache = new Map(); // key -> {sig, node}
  }

  reset() {
    this.cache.clear();
    reconcile(this.list, []);
  }

  /** Seq of the message a row node shows (for the read-marker observer). */
  static seqOf(node) {
    return Number(node.dataset.seq || 0);
  }

  render({ room, me, pending, editing, confirming }) {
    const nodes = [];
    const used = new Set();
    const use = (key, sig, build) => {
      used.add(key);
      let entry = this.cache.get(key);
      if (!entry || entry.sig !== sig) {
        entry = { sig, node: build() };
        this.cache.set(key, entry);
      }
      nodes.push(entry.node);
    };

    let previous = null;
    let lastDay = null;
    for (const message of room.sorted()) {
      const created = new Date(message.created_at);
      const day = dayKey(created);
      if (day !== lastDay) {
        const label = dayLabel(created);
        use(`day:${day}`, label, () => dayDivider(label));
        lastDay = day;
        previous = null;
      }
      if (room.newSince !== null && message.seq === room.newSince) {
        use("new", "new", () =>
          h("li", { class: "divider new", "data-testid": "new-divider" }, h("span", {}, "New")),
        );
        previous = null;
      }
      const grouped =
        previous !== null &&
        previous.author.id === message.author.id &&
        !previous.deleted &&
        !message.deleted &&
        created - new Date(previous.created_at) < GROUP_WINDOW_MS;
      const mine = message.author.id === me.id;
      const isEditing = editing && editing.seq === message.seq && mine && !message.deleted;
      const isConfirming = confirming === message.seq && !message.deleted;
      const sig = [
        message.id,
        message.body,
        message.edited_at,
        message.deleted,
        message.author.display_name,
        grouped,
        mine,
        isEditing,
        isConfirming,
      ].join("\u0000");
      use(`m:${message.seq}`, sig, () =>
        this._messageRow(message, { grouped, mine, isEditing, isConfirming, editing }),
      );
      previous = message;
    }

    for (const entry of pending) {
      const sig = `${entry.state}\u0000${entry.error || ""}`;
      use(`p:${entry.clientId}`, sig, () => this._pendingRow(entry, me));
    }

    for (const key of this.cache.keys()) if (!used.has(key)) this.cache.delete(key);
    reconcile(this.list, nodes);
  }

  _messageRow(message, { grouped, mine, isEditing, isConfirming, editing }) {
    const created = new Date(message.created_at);
    const classes = ["msg"];
    if (grouped) classes.push("grouped");
    if (mine) classes.push("mine");
    if (message.deleted) classes.push("deleted");
    const time = h("time", { datetime: message.created_at, title: fullDate(created) });
    time.textContent = clock(created);

    const main = h("div", { class: "msg-main" });
    if (!grouped) {
      const name = message.author.display_name || message.author.username;
      main.append(
        h(
          "div",
          { class: "msg-meta" },
          h("span", { class: "author", "data-testid": "author" }, name),
          name !== message.author.username
            ? h("span", { class: "username" }, `@${message.author.username}`)
            : null,
          time,
        ),
      );
    }

    if (message.deleted) {
      main.append(
        h(
          "div",
          { class: "msg-body tombstone", "data-testid": "message-body" },
          "This message was deleted.",
        ),
      );
    } else if (isEditing) {
      main.append(this._editor(message, editing));
    } else {
      const body = h("div", { class: "msg-body", "data-testid": "message-body" }, bodyNodes(message.body));
      if (message.edited_at) {
        body.append(
          " ",
          h(
            "span",
            {
              class: "edited",
              "data-testid": "edited",
              title: `Edited ${fullDate(new Date(message.edited_at))}`,
            },
            "(edited)",
          ),
        );
      }
      main.append(body);
    }

    if (isConfirming) {
      main.append(
        h(
          "div",
          { class: "confirm", role: "group", "aria-label": "Delete this message?" },
          h("span", {}, "Delete this message?"),
          h(
            "button",
            { type: "button", class: "danger small", onclick: () => this.actions.confirmDelete(message) },
            "Delete",
          ),
          h(
            "button",
            { type: "button", class: "small", onclick: () => this.actions.cancelDelete() },
            "Cancel",
          ),
        ),
      );
    }

    const gutter = h("div", { class: "gutter" });
    if (grouped) {
      const hoverTime = h("time", { datetime: message.created_at, title: fullDate(created) });
      hoverTime.textContent = clock(created);
      gutter.append(hoverTime);
    } else {
      gutter.append(avatar(message.author));
    }

    const row = h(
      "li",
      {
        class: classes.join(" "),
        dataset: { seq: message.seq, id: message.id },
        "data-testid": "message",
      },
      gutter,
      main,
    );
    if (mine && !message.deleted && !isEditing && !isConfirming) {
      row.append(
        h(
          "div",
          { class: "msg-actions" },
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              title: "Edit this message",
              onclick: () => this.actions.edit(message),
            },
            "Edit",
          ),
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              title: "Delete this message",
              onclick: () => this.actions.askDelete(message),
            },
            "Delete",
          ),
        ),
      );
    }
    return row;
  }

  _editor(message, editing) {
    const input = h("textarea", { class: "edit-input", "aria-label": "Edit message", rows: 2 });
    input.value = editing.draft;
    input.addEventListener("input", () => {
      editing.draft = input.value;
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.actions.saveEdit(message, input.value);
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.actions.cancelEdit();
      }
    });
    queueMicrotask(() => {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    });
    return h(
      "div",
      { class: "editor" },
      input,
      h(
        "div",
        { class: "editor-actions" },
        h("span", { class: "muted small" }, "Enter to save · Esc to cancel"),
        h(
          "button",
          { type: "button", class: "small", onclick: () => this.actions.cancelEdit() },
          "Cancel",
        ),
        h(
          "button",
          {
            type: "button",
            class: "primary small",
            onclick: () => this.actions.saveEdit(message, input.value),
          },
          "Save",
        ),
      ),
    );
  }

  _pendingRow(entry, me) {
    const status = {
      queued: "Waiting for the connection…",
      sending: "Sending…",
      failed: `Not sent: ${entry.error || "error"}`,
    }[entry.state];
    const main = h(
      "div",
      { class: "msg-main" },
      h(
        "div",
        { class: "msg-meta" },
        h("span", { class: "author" }, me.display_name || me.username),
      ),
      h("div", { class: "msg-body", "data-testid": "message-body" }, bodyNodes(entry.body)),
      h(
        "div",
        { class: `pending-status ${entry.state}` },
        status,
        entry.state === "failed"
          ? [
              " ",
              h(
                "button",
                { type: "button", class: "link", onclick: () => this.actions.retry(entry) },
                "Retry",
              ),
              " ",
              h(
                "button",
                { type: "button", class: "link", onclick: () => this.actions.discard(entry) },
                "Discard",
              ),
            ]
          : null,
      ),
    );
    return h(
      "li",
      {
        class: `msg mine pending ${entry.state}`,
        dataset: { clientId: entry.clientId },
        "data-testid": "pending-message",
      },
      h("div", { class: "gutter" }, avatar(me)),
      main,
    );
  }
}

function dayDivider(label) {
  return h("li", { class: "divider day" }, h("span", {}, label));
}
