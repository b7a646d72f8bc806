// What the socket tells us, applied to the state: the connection going up and down, and
// every frame the server pushes (messages, acks, edits, reactions, mentions, typing,
// presence, room changes).

import { toast } from "./notices.js";
import { invalidate } from "./render.js";
import { roomLabel } from "./room-title.js";
import { state } from "./state.js";

const TYPING_REDRAW_MS = 6100; // just after a typing notice expires (rooms.js keeps it 6 s)

export function followRealtime({ realtime, sync, outbox, conversation, thread }) {
  let typingTimer = null;

  function receive(message) {
    const room = state.rooms.get(message.room_id);
    if (!room) return;
    const before = room.newestSeq;
    const fresh = room.put(message, state.me.id);
    thread.take(message);
    learnMember(room, message.author.id);
    const mine = message.author.id === state.me.id;
    if (message.client_id && mine) outbox.delivered(message.client_id);
    if (fresh && room.loaded && before && message.seq > before + 1) sync.catchUp(room);

    if (room.id === state.openRoomId) {
      invalidate("timeline", "typing");
      if (fresh) conversation.noteArrival();
    }
    invalidate("sidebar");
  }

  /** Someone we did not know in the room (just joined): fetch the member list again, once
   * per person (a replay of a former member's messages must not ask once per message). */
  function learnMember(room, userId) {
    if (!room.membersLoaded || room.members.has(userId) || room.askedAbout.has(userId)) return;
    room.askedAbout.add(userId);
    sync.loadMembers(room, { force: true }).catch(() => {});
  }

  const handlers = {
    message(frame) {
      receive(frame.message);
      state.rooms.get(frame.message.room_id)?.sawRev(frame.message.rev);
    },
    ack(frame) {
      outbox.delivered(frame.client_id);
      receive(frame.message);
      const room = state.rooms.get(frame.message.room_id);
      if (room && room.hasMoreAfter && !frame.message.reply_to && room.id === state.openRoomId) {
        // We wrote in the room while reading older history: show it where it went.
        conversation.showNewest();
      }
    },
    subscribed(frame) {
      const room = state.rooms.get(frame.room_id);
      if (!room) return;
      room.subscribed = true;
      room.subscribing = false;
      room.knownLastSeq = Math.max(room.knownLastSeq, frame.last_seq);
      // From here on every change reaches us live, in rev order (an incomplete replay stops
      // at last_rev, and the rest is paged from there).
      room.sawRev(frame.last_rev);
      room.online = new Map((frame.online || []).map((user) => [user.id, user]));
      if (!frame.complete) sync.recoverIncompleteReplay(room, frame.last_rev);
      outbox.flush(room);
      invalidate("people", "sidebar", "timeline");
    },
    unsubscribed(frame) {
      const room = state.rooms.get(frame.room_id);
      if (!room) return;
      room.forgetLive();
      room.subscribing = false;
      if (frame.reason === "left" || frame.reason === "removed") {
        if (frame.reason === "removed" && state.openRoomId === room.id) {
          toast(`You were removed from ${roomLabel(room)}.`, "info");
        }
        sync.leftRoom(room);
      }
      invalidate("sidebar", "header", "timeline", "people");
    },
    "message.updated"(frame) {
      const room = state.rooms.get(frame.message.room_id);
      if (!room) return;
      room.sawRev(frame.message.rev);
      thread.take(frame.message);
      if (room.putChanged(frame.message, state.me.id) || room.messages.has(frame.message.seq)) {
        invalidate("timeline", "sidebar");
      }
    },
    // The answer to a react/unreact frame (the page reacts over REST; this keeps any such
    // answer, which carries the message in its new state, all the same).
    reacted(frame) {
      const room = state.rooms.get(frame.message.room_id);
      if (!room) return;
      room.put(frame.message, state.me.id);
      thread.take(frame.message);
      invalidate("timeline");
    },
    // Someone named us, in any room of ours (subscribed or not): a badge and a notice.
    mention(frame) {
      const room = state.rooms.get(frame.room_id);
      if (!room) {
        sync.refreshRoomsSoon();
        return;
      }
      const counted = room.noteMention(frame.message, state.me.id);
      invalidate("sidebar");
      // In the room being read, the highlighted line says it already.
      if (!counted || (room.id === state.openRoomId && document.hasFocus())) return;
      const author = frame.message.author;
      toast(`${author.display_name || author.username} mentioned you in ${roomLabel(room)}`, "info");
    },
    "message.deleted"(frame) {
      const room = state.rooms.get(frame.room_id);
      if (!room) return;
      room.sawRev(frame.rev);
      room.markDeleted(frame.seq, frame.rev);
      if (state.confirming === frame.seq) state.confirming = null;
      const editing = state.editing;
      if (editing && editing.seq === frame.seq && state.openRoomId === room.id) {
        state.editing = null;
      }
      invalidate("timeline", "sidebar");
    },
    typing(frame) {
      const room = state.rooms.get(frame.room_id);
      if (!room || frame.user.id === state.me.id) return;
      room.setTyping(frame.user);
      if (room.id === state.openRoomId) {
        invalidate("typing");
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => invalidate("typing"), TYPING_REDRAW_MS);
      }
    },
    read(frame) {
      // Another tab of ours read up to here: follow it.
      const room = state.rooms.get(frame.room_id);
      const me = state.me;
      if (room && frame.user_id === me.id && room.markRead(frame.seq, me.id)) invalidate("sidebar");
    },
    presence(frame) {
      const room = state.rooms.get(frame.room_id);
      if (!room) return;
      if (frame.status === "online") room.online.set(frame.user.id, frame.user);
      else room.online.delete(frame.user.id);
      learnMember(room, frame.user.id);
      if (room.id === state.openRoomId) invalidate("people");
    },
    "room.updated"(frame) {
      const room = state.rooms.get(frame.room.id);
      if (room) room.update(frame.room);
      invalidate("sidebar", "header");
    },
    "room.deleted"(frame) {
      const room = state.rooms.get(frame.room_id);
      sync.dropRoom(frame.room_id, room ? `${roomLabel(room)} was deleted.` : null);
    },
    // Sent to every connection of ours, subscribed or not: the room list follows at once.
    "room.joined"(frame) {
      const known = state.rooms.get(frame.room.id);
      let room;
      if (known) {
        known.update(frame.room);
        sync.subscribeIfNeeded(known);
        room = known;
      } else {
        room = sync.adopt(frame.room);
      }
      if (frame.by && frame.by.id !== state.me.id) {
        toast(
          room.dmWith
            ? `${frame.by.display_name} started a conversation with you.`
            : `${frame.by.display_name} added you to ${roomLabel(room)}.`,
          "info",
        );
      }
      invalidate("sidebar");
    },
    "room.left"(frame) {
      const room = state.rooms.get(frame.room_id);
      if (!room) return;
      const byOther = frame.by && frame.by.id !== state.me.id;
      if (frame.reason === "deleted") {
        sync.dropRoom(room.id, byOther ? `${roomLabel(room)} was deleted.` : null);
        return;
      }
      if (room.member) {
        // Not subscribed here, so no `unsubscribed` came: leave it the same way.
        if (frame.reason === "removed" && byOther) {
          toast(`You were removed from ${roomLabel(room)}.`, "info");
        }
        room.forgetLive();
        sync.leftRoom(room);
      }
      invalidate("sidebar", "header", "timeline", "people");
    },
    error(frame) {
      const ref = typeof frame.ref === "string" ? frame.ref : "";
      if (ref.startsWith("sub:")) {
        const room = state.rooms.get(Number(ref.slice(4)));
        if (room) room.subscribing = false;
        if (frame.code === "unavailable" && room) {
          setTimeout(() => sync.subscribeIfNeeded(room), 2000);
        } else sync.refreshRoomsSoon();
        return;
      }
      outbox.refused(ref, frame);
    },
  };

  realtime.addEventListener("state", () => invalidate("connection", "people"));

  realtime.addEventListener("open", (event) => {
    state.me = { ...state.me, ...event.detail.user };
    sync.connected();
    invalidate("sidebar", "people", "connection");
  });

  realtime.addEventListener("closed", () => {
    sync.disconnected();
    outbox.requeue();
    invalidate("people", "typing", "timeline");
  });

  realtime.addEventListener("frame", (event) => {
    const handle = handlers[event.detail.type];
    if (handle) handle(event.detail);
  });
}
