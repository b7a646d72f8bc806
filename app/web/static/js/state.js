// The page's client-side state, shared by every view: who we are, the rooms we know, the
// messages not yet acknowledged, and what the open conversation is doing. No DOM here, and
// nothing draws itself from it: change it, then `invalidate` the parts of the page that show it.

export const state = {
  me: null, // the signed-in user
  openRoomId: null,
  rooms: new Map(), // room id -> Room
  outbox: new Map(), // client_id -> {clientId, roomId, body, state, error}: not yet acked
  editing: null, // {seq, draft}
  confirming: null, // seq of a message whose delete awaits confirmation
  picking: null, // "room:SEQ" or "thread:SEQ": the reaction picker open under that message
  thread: null, // the open thread: {roomId, rootId, root, replies, hasMore, loading}
  peopleOpen: window.matchMedia("(min-width: 1100px)").matches,
  stickToBottom: true, // the timeline follows new messages
};

export function currentRoom() {
  return state.openRoomId === null ? null : state.rooms.get(state.openRoomId) || null;
}

/** Messages of ours in `roomId` that the server has not acknowledged yet. */
export function pendingIn(roomId) {
  return [...state.outbox.values()].filter((entry) => entry.roomId === roomId);
}

/** Signed out: forget everything that belonged to the user. */
export function clearState() {
  state.rooms.clear();
  state.outbox.clear();
  state.me = null;
  state.openRoomId = null;
  state.editing = null;
  state.confirming = null;
  state.picking = null;
  state.thread = null;
}
