// The dialogs: a new room, our display name, and the open room's settings (its topic,
// adding someone to a private room, leaving it or, for its owner, deleting it).

import { $, clear, h, inert } from "./dom.js";
import { invalidate } from "./render.js";
import { showTitle } from "./room-title.js";
import { navigate } from "./router.js";
import { ApiError } from "./session.js";
import { renderMe } from "./sidebar.js";
import { currentRoom, state } from "./state.js";

export function wireDialogs({ session, sync }) {
  for (const dialog of document.querySelectorAll("dialog")) {
    for (const button of dialog.querySelectorAll("[data-close]")) {
      button.addEventListener("click", () => dialog.close());
    }
  }
  wireNewRoom({ session, sync });
  wireProfile({ session });
  wireRoomSettings({ session, sync });
}

function formError(form, text) {
  const node = form.querySelector(".form-error");
  node.textContent = inert(text);
  node.hidden = !text;
}

function formNote(form, text) {
  const node = form.querySelector(".form-note");
  if (!node) return;
  node.textContent = inert(text);
  node.hidden = !text;
}

function failed(form, error) {
  formError(form, error instanceof ApiError ? error.message : "Cannot reach the server.");
}

function openDialog(dialog) {
  const form = dialog.querySelector("form");
  formError(form, "");
  formNote(form, "");
  dialog.showModal();
}

function wireNewRoom({ session, sync }) {
  $("new-room").addEventListener("click", () => {
    $("room-form").reset();
    openDialog($("room-dialog"));
  });
  $("room-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const name = form.elements.name.value.trim();
    if (!/^[\w.-]{1,64}$/u.test(name)) {
      formError(form, "Room names are 1–64 letters, digits, “_”, “.” or “-”, without spaces.");
      return;
    }
    try {
      const info = await session.request("POST", "/rooms", {
        json: {
          name,
          topic: form.elements.topic.value.trim(),
          visibility: form.elements.private.checked ? "private" : "public",
        },
      });
      sync.adopt(info);
      $("room-dialog").close();
      navigate(info.id);
    } catch (error) {
      failed(form, error);
    }
  });
}

function wireProfile({ session }) {
  $("edit-profile").addEventListener("click", () => {
    const form = $("profile-form");
    form.elements.display_name.value = state.me.display_name || "";
    openDialog($("profile-dialog"));
  });
  $("profile-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      state.me = await session.request("PATCH", "/users/me", {
        json: { display_name: form.elements.display_name.value.trim() },
      });
      session.user = state.me;
      renderMe();
      $("profile-dialog").close();
      invalidate("people", "timeline");
    } catch (error) {
      failed(form, error);
    }
  });
}

function wireRoomSettings({ session, sync }) {
  const dialog = $("room-settings-dialog");
  const form = $("room-settings-form");
  const leave = $("leave-room");
  const canManage = (room) => room.info.role === "owner" || room.info.role === "admin";

  $("room-menu").addEventListener("click", () => {
    const room = currentRoom();
    if (!room) return;
    form.reset();
    showTitle($("room-settings-title"), room);
    form.elements.topic.value = room.info.topic || "";
    $("room-edit-fields").hidden = !canManage(room);
    $("room-add-member").hidden = !(canManage(room) && room.info.visibility === "private");
    $("room-settings-save").hidden = !canManage(room);
    leave.textContent = room.dmWith
      ? "Leave conversation"
      : room.info.role === "owner"
        ? "Delete room"
        : "Leave room";
    delete leave.dataset.armed;
    openDialog(dialog);
  });

  form.elements.member.addEventListener("input", async () => {
    const prefix = form.elements.member.value.trim();
    const list = $("user-suggestions");
    if (!prefix) return;
    try {
      const { users } = await session.request("GET", "/users", { query: { prefix, limit: 8 } });
      clear(list);
      for (const user of users) {
        list.append(h("option", { value: user.username }, user.display_name));
      }
    } catch {
      // suggestions are a convenience
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const room = currentRoom();
    if (!room) return;
    formError(form, "");
    formNote(form, "");
    try {
      const topic = form.elements.topic.value.trim();
      if (canManage(room) && topic !== (room.info.topic || "")) {
        room.update(await session.request("PATCH", `/rooms/${room.id}`, { json: { topic } }));
      }
      const username = form.elements.member.value.trim();
      if (username && !$("room-add-member").hidden) {
        const { users } = await session.request("GET", "/users", {
          query: { prefix: username, limit: 50 },
        });
        const user = users.find((u) => u.username.toLowerCase() === username.toLowerCase());
        if (!user) {
          formError(form, `There is nobody called “${username}”.`);
          return;
        }
        await session.request("PUT", `/rooms/${room.id}/members/${user.id}`);
        form.elements.member.value = "";
        formNote(form, `${user.display_name} was added.`);
        invalidate("header");
        return;
      }
      dialog.close();
    } catch (error) {
      failed(form, error);
    }
    invalidate("header", "sidebar");
  });

  leave.addEventListener("click", async () => {
    const room = currentRoom();
    if (!room) return;
    if (!leave.dataset.armed) {
      leave.dataset.armed = "1";
      leave.textContent =
        room.info.role === "owner" && !room.dmWith ? "Really delete it?" : "Really leave?";
      return;
    }
    try {
      if (room.info.role === "owner" && !room.dmWith) {
        await session.request("DELETE", `/rooms/${room.id}`);
        sync.dropRoom(room.id, null);
      } else {
        await session.request("DELETE", `/rooms/${room.id}/members/${state.me.id}`);
        sync.leftRoom(room);
      }
      dialog.close();
      navigate(null);
    } catch (error) {
      failed(form, error);
    }
    invalidate("sidebar", "header", "timeline");
  });
}
