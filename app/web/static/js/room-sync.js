// Keeping the rooms in step with the server: the room list and its periodic refresh, one
// subscription per joined room (resumed with `since_rev`, every change we missed, once the
// room's change number is known; else `since_seq`), and each room's history: the latest
// page, older pages, and a catch-up over REST after a gap. No DOM here.

import { report, toast } from "./notices.js";
import { invalidate } from "./render.js";
import { Room } from "./rooms.js";
import { navigate } from "./router.js";
import { state } from "./state.js";

const PAGE_SIZE = 50;
const AROUND = 25; // messages fetched on each side of a search hit
const CATCH_UP_PAGE = 200;
const CHANGES_PAGE = 1000;
const ROOMS_REFRESH_MS = 30_000;

export function createRoomSync({ session, realtime, outbox }) {
  let refreshTimer = null;
  let listing = null; // the GET /rooms under way
  let connectedBefore = false;

  async function loadRooms() {
    const { rooms: listed } = await session.request("GET", "/rooms");
    const seen = new Set();
    for (const info of listed) {
      seen.add(info.id);
      const room = state.rooms.get(info.id);
      if (room) {
        const wasMember = room.member;
        room.update(info);
        if (wasMember && !room.member) forgetHistory(room);
      } else {
        state.rooms.set(info.id, new Room(info));
      }
      subscribeIfNeeded(state.rooms.get(info.id));
    }
    for (const id of [...state.rooms.keys()]) if (!seen.has(id)) dropRoom(id, null);
    invalidate("sidebar", "header", "timeline");
  }

  /** Look at the room list again (one request at a time, however often it is asked for). */
  function refreshRoomsSoon() {
    if (!listing) {
      listing = loadRooms()
        .catch(() => {})
        .finally(() => {
          listing = null;
        });
    }
  }

  /** Signed in: refresh the room list every so often. */
  function start() {
    clearInterval(refreshTimer);
    refreshTimer = setInterval(refreshRoomsSoon, ROOMS_REFRESH_MS);
  }

  /** Signed out. */
  function stop() {
    connectedBefore = false;
    clearInterval(refreshTimer);
  }

  function subscribeIfNeeded(room) {
    if (!room || !room.member || room.subscribed || room.subscribing || !realtime.open) return;
    const frame = { type: "subscribe", room_id: room.id, ref: `sub:${room.id}` };
    room.resumingByRev = room.lastRev !== null;
    room.knownBeforeResume = room.knownLastSeq;
    if (room.resumingByRev) {
      frame.since_rev = room.lastRev;
    } else {
      const since = room.resumeSeq;
      if (since !== null) frame.since_seq = since;
    }
    room.subscribing = realtime.send(frame);
  }

  /** The socket is (again) up: subscribe afresh to every joined room. */
  function connected() {
    for (const room of state.rooms.values()) {
      room.forgetLive();
      room.subscribing = false;
    }
    for (const room of state.rooms.values()) subscribeIfNeeded(room);
    // After a reconnect, pick up rooms created, deleted or joined elsewhere meanwhile.
    if (connectedBefore) refreshRoomsSoon();
    connectedBefore = true;
  }

  /** The socket closed: no room is live until it is back. */
  function disconnected() {
    for (const room of state.rooms.values()) {
      room.forgetLive();
      room.subscribing = false;
    }
  }

  /** A room we learnt of (created, or opened by its address): hold it and follow it. */
  function adopt(info) {
    const room = new Room(info);
    state.rooms.set(info.id, room);
    subscribeIfNeeded(room);
    return room;
  }

  async function fetchRoom(roomId) {
    return adopt(await session.request("GET", `/rooms/${roomId}`));
  }

  async function join(room) {
    await session.request("PUT", `/rooms/${room.id}/members/${state.me.id}`);
    room.update(await session.request("GET", `/rooms/${room.id}`));
    subscribeIfNeeded(room);
  }

  function forgetHistory(room) {
    room.messages.clear();
    room.loaded = false;
    room.hasMoreBefore = true;
    room.lastRev = null;
    room.forgetLive();
    room.subscribing = false;
  }

  /** We are no longer a member (we left, or were removed): a private room goes from view. */
  function leftRoom(room) {
    room.info = { ...room.info, role: null, unread_count: null };
    forgetHistory(room);
    if (room.info.visibility === "private") dropRoom(room.id, null);
  }

  function dropRoom(id, notice) {
    state.rooms.delete(id);
    outbox.forgetRoom(id);
    if (state.openRoomId === id) {
      if (notice) toast(notice, "info");
      navigate(null);
    }
    invalidate("sidebar");
  }

  async function loadLatest(room) {
    if (room.loaded) return;
    if (!room.loading) {
      room.loading = (async () => {
        const page = await session.request("GET", `/rooms/${room.id}/messages`, {
          query: { limit: PAGE_SIZE },
        });
        for (const message of page.messages) room.put(message, state.me.id);
        room.hasMoreBefore = page.has_more;
        room.loaded = true;
      })().finally(() => {
        room.loading = null;
      });
    }
    await room.loading;
  }

  /** Hold the history around `seq` (a search hit): the messages we hold already if they
   * reach it, else a window of them on both sides, with newer ones fetched as the reader
   * scrolls down. */
  async function loadAround(room, seq) {
    await loadLatest(room);
    if (room.messages.has(seq)) return;
    const [before, after] = await Promise.all([
      session.request("GET", `/rooms/${room.id}/messages`, {
        query: { before_seq: seq + 1, limit: AROUND },
      }),
      session.request("GET", `/rooms/${room.id}/messages`, {
        query: { after_seq: seq, limit: AROUND },
      }),
    ]);
    // Older than anything unread: held as they are, without touching the counts.
    room.messages.clear();
    for (const message of [...before.messages, ...after.messages]) {
      room.messages.set(message.seq, message);
    }
    room.hasMoreBefore = before.has_more;
    room.hasMoreAfter = after.has_more;
    if (!room.hasMoreAfter) catchUp(room); // whatever came while we were fetching
  }

  /** The page after the newest message held, in a window: the caller puts it in place. */
  async function loadNewer(room) {
    if (!room.hasMoreAfter || room.loadingNewer) return;
    room.loadingNewer = true;
    try {
      const page = await session.request("GET", `/rooms/${room.id}/messages`, {
        query: { after_seq: room.newestSeq, limit: PAGE_SIZE },
      });
      for (const message of page.messages) room.messages.set(message.seq, message);
      room.hasMoreAfter = page.has_more;
      if (!room.hasMoreAfter) catchUp(room);
    } finally {
      room.loadingNewer = false;
      invalidate("timeline");
    }
  }

  /** Back from a window to the newest messages, as when the room was first opened. */
  async function backToLatest(room) {
    room.messages.clear();
    room.loaded = false;
    room.hasMoreBefore = true;
    room.hasMoreAfter = false;
    await loadLatest(room);
  }

  /** Who is in the room (names for reactions, mentions to complete, people to message). */
  async function loadMembers(room, { force = false } = {}) {
    if (!room.member || (room.membersLoaded && !force)) return;
    const { members } = await session.request("GET", `/rooms/${room.id}/members`);
    room.members = new Map(members.map((m) => [m.user.id, m]));
    room.membersLoaded = true;
    invalidate("people", "timeline");
  }

  /** The direct conversation with `user` (created, or the one that exists): opened. */
  async function openDm(user) {
    const info = await session.request("POST", "/dms", { json: { user_id: user.id } });
    const known = state.rooms.get(info.id);
    if (known) {
      known.update(info);
      subscribeIfNeeded(known);
    } else adopt(info);
    invalidate("sidebar");
    navigate(info.id);
  }

  /** The page of history before the oldest message held (the caller puts it in place). */
  function fetchOlder(room) {
    return session.request("GET", `/rooms/${room.id}/messages`, {
      query: { before_seq: room.oldestSeq, limit: PAGE_SIZE },
    });
  }

  async function catchUp(room) {
    // After an incomplete replay (or a gap): page forward with after_seq from the end of what
    // we hold without holes, until level with the room.
    if (room.catchingUp || room.hasMoreAfter) return; // a window fetches newer as it scrolls
    room.catchingUp = true;
    try {
      if (room.loading) await room.loading;
      let after = room.contiguousSeq;
      for (;;) {
        const page = await session.request("GET", `/rooms/${room.id}/messages`, {
          query: { after_seq: after, limit: CATCH_UP_PAGE },
        });
        for (const message of page.messages) room.put(message, state.me.id);
        if (!page.has_more || page.messages.length === 0) break;
        after = page.messages[page.messages.length - 1].seq;
      }
    } catch (error) {
      report(error);
    } finally {
      room.catchingUp = false;
      invalidate("sidebar", "timeline");
    }
  }

  /** A resume by rev was cut short at `afterRev`: page the changes after it (live frames
   * keep arriving meanwhile; each message keeps its state with the higher rev). */
  async function catchUpChanges(room, afterRev) {
    const knownSeq = room.knownBeforeResume ?? 0; // what came after it is new to us
    try {
      let after = afterRev;
      for (;;) {
        const page = await session.request("GET", `/rooms/${room.id}/changes`, {
          query: { after_rev: after, limit: CHANGES_PAGE },
        });
        for (const message of page.messages) room.putChanged(message, state.me.id, knownSeq);
        after = page.last_rev;
        if (!page.has_more) break;
      }
    } catch (error) {
      report(error);
    } finally {
      invalidate("sidebar", "timeline");
    }
  }

  /**
   * More was missed than the server replays on subscribe: fetch the rest over REST, or, for
   * a room we hold no history of, drop the partial tail and take the count from a listing.
   */
  function recoverIncompleteReplay(room, lastRev) {
    if (room.resumingByRev) {
      catchUpChanges(room, lastRev);
      return;
    }
    if (room.loaded || room.loading) {
      catchUp(room);
      return;
    }
    room.messages.clear();
    session
      .request("GET", `/rooms/${room.id}`)
      .then((info) => {
        room.update(info);
        invalidate("sidebar");
      })
      .catch(() => {});
  }

  return {
    loadRooms,
    refreshRoomsSoon,
    start,
    stop,
    subscribeIfNeeded,
    connected,
    disconnected,
    adopt,
    fetchRoom,
    join,
    forgetHistory,
    leftRoom,
    dropRoom,
    loadLatest,
    fetchOlder,
    loadAround,
    loadNewer,
    backToLatest,
    loadMembers,
    openDm,
    catchUp,
    recoverIncompleteReplay,
  };
}
