// The message list of the open room. Rows are keyed (message seq, pending client_id, day) and
// rebuilt only when what they show changes, so live updates do not disturb scrolling,
// selection or an edit in progress.

import { h, reconcile } from "./dom.js";
import { avatar, bodyNodes, clock, dayKey, dayLabel, fullDate, plural } from "./format.js";
import { reactionChips, reactionPicker } from "./reactions.js";
import { state } from "./state.js";

const GROUP_WINDOW_MS = 5 * 60 * 1000;

export class Timeline {
  constructor(list, actions, { inThread = false } = {}) {
    this.list = list;
    // {edit, saveEdit, cancelEdit, askDelete, confirmDelete, cancelDelete, retry, discard,
    //  pickReaction, toggleReaction, openThread}
    this.actions = actions;
    this.inThread = inThread; // the thread panel: no quotes, no reply counts
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
    const messages = room.sorted();
    const byId = new Map(messages.map((message) => [message.id, message]));
    const mentioned = mentionNames(room, me);
    for (const message of messages) {
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
      const root = message.reply_to && !this.inThread ? byId.get(message.reply_to) : null;
      const grouped =
        !message.reply_to &&
        previous !== null &&
        previous.author.id === message.author.id &&
        !previous.deleted &&
        !message.deleted &&
        created - new Date(previous.created_at) < GROUP_WINDOW_MS;
      const mine = message.author.id === me.id;
      const isEditing = editing && editing.seq === message.seq && mine && !message.deleted;
      const isConfirming = confirming === message.seq && !message.deleted;
      const isPicking = state.picking === this._pickKey(message) && !message.deleted;
      const names = mentionSig(message, mentioned);
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
        isPicking,
        JSON.stringify(message.reactions || []),
        message.reply_count,
        message.reply_to,
        root ? `${root.author.display_name}\u0001${root.body}\u0001${root.deleted}` : "",
        names,
        isPicking ? JSON.stringify([...room.messages.values()].map((m) => m.reactions || [])) : "",
        room.members.size,
      ].join("\u0000");
      use(`m:${message.seq}`, sig, () =>
        this._messageRow(message, {
          grouped,
          mine,
          isEditing,
          isConfirming,
          isPicking,
          editing,
          root,
          room,
          me,
          mentioned,
        }),
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

  _messageRow(message, options) {
    const { grouped, mine, isEditing, isConfirming, isPicking, editing, root, room, me } = options;
    const created = new Date(message.created_at);
    const classes = ["msg"];
    if (grouped) classes.push("grouped");
    if (mine) classes.push("mine");
    if (message.deleted) classes.push("deleted");
    if (!mine && !message.deleted && (message.mentions || []).includes(me.id)) {
      classes.push("mentions-me");
    }
    const time = h("time", { datetime: message.created_at, title: fullDate(created) });
    time.textContent = clock(created);

    const main = h("div", { class: "msg-main" });
    if (message.reply_to && !this.inThread) main.append(this._quote(message, root));
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
      const body = h(
        "div",
        { class: "msg-body", "data-testid": "message-body" },
        bodyNodes(message.body, mentionedIn(message, options.mentioned)),
      );
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
    const chips = reactionChips(message, room, me, this.actions.toggleReaction);
    if (chips) main.append(chips); // Element.append(null) would add the text "null"
    if (isPicking) main.append(reactionPicker(message, room, this.actions.toggleReaction));
    if (!this.inThread && !message.reply_to && message.reply_count) {
      main.append(
        h(
          "button",
          {
            type: "button",
            class: "link thread-link",
            "data-testid": "replies",
            onclick: () => this.actions.openThread(message),
          },
          plural(message.reply_count, "reply", "replies"),
          message.last_reply_at ? h("span", { class: "muted small" }, ` · last ${clock(new Date(message.last_reply_at))}`) : null,
        ),
      );
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
    if (!message.deleted && !isEditing && !isConfirming) {
      row.append(
        h(
          "div",
          { class: "msg-actions" },
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              title: "Add a reaction",
              "aria-label": "React",
              onclick: () => this.actions.pickReaction(this._pickKey(message)),
            },
            "☺+",
          ),
          this.inThread
            ? null
            : h(
                "button",
                {
                  type: "button",
                  class: "icon-button",
                  title: "Reply in a thread",
                  onclick: () => this.actions.openThread(message),
                },
                "Reply",
              ),
          mine ? this._ownActions(message) : null,
        ),
      );
    }
    return row;
  }

  /** Which picker is open: the one of this message in this list (the main timeline or the
   * thread panel can both show a thread's first message). */
  _pickKey(message) {
    return `${this.inThread ? "thread" : "room"}:${message.seq}`;
  }

  _ownActions(message) {
    return [
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
    ];
  }

  /** The message a reply answers, quoted above it (click: its thread). */
  _quote(message, root) {
    const text = !root
      ? "a message further back"
      : root.deleted
        ? "a deleted message"
        : root.body.length > 120
          ? `${root.body.slice(0, 120)}…`
          : root.body;
    return h(
      "button",
      {
        type: "button",
        class: "quote",
        "data-testid": "quote",
        title: "Open the thread",
        onclick: () => this.actions.openThread(message),
      },
      h("span", { class: "quote-mark", "aria-hidden": "true" }, "↳ "),
      root ? h("span", { class: "quote-author" }, root.author.display_name || root.author.username) : null,
      root ? " " : null,
      h("span", { class: "quote-body" }, text),
    );
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

/** Lower-cased usernames of the room's members and us -> whether it is us. */
function mentionNames(room, me) {
  const names = new Map();
  for (const { user } of room.members?.values() || []) names.set(user.username.toLowerCase(), user.id);
  names.set(me.username.toLowerCase(), me.id);
  return names;
}

/** The names `message` mentions that we can name (username -> is it us). */
function mentionedIn(message, names) {
  const ids = new Set(message.mentions || []);
  const mentioned = new Map();
  for (const [name, id] of names) if (ids.has(id)) mentioned.set(name, id === state.me.id);
  return mentioned;
}

function mentionSig(message, names) {
  return [...mentionedIn(message, names).keys()].join(",");
}

function dayDivider(label) {
  return h("li", { class: "divider day" }, h("span", {}, label));
}
