// A graphql-transport-ws client (the protocol of npm graphql-ws and GraphiQL) that reconnects by itself.
//
// One socket for the page. `subscribe()` registers an operation that survives reconnects: after every
// connection_ack the live operations are sent again, and `onReconnect` listeners re-read what they show,
// since changes made while the socket was down were never pushed. Close codes 4401/4403 (bad or expired
// token) sign out instead of retrying, and so does an operation's UNAUTHENTICATED error (the token expired on an
// open socket); anything else retries with a growing delay (0.5 s to 10 s), but one:
//
// A close 1008 whose reason starts with TOO_MANY_CONNECTIONS (gql/socket_slots.py: the merchant already holds
// SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT open sockets, "TOO_MANY_CONNECTIONS: at most N open WebSockets per merchant;
// close one first.") is status "crowded" with {limit: N} (null if the reason has no number): no fault a retry mends,
// only another tab or script closing its socket. So it retries after CROWDED_RETRY_MS (60 s), or at once on
// `retryNow()` (the header's Retry button), instead of every 10 s (each a handshake the server refuses). The pages
// keep working over HTTP meanwhile; only live updates are off, and the first connection_ack after refused sockets
// runs the `onReconnect` listeners, as after a reconnection (the page re-reads what changed meanwhile).
//
// The server may also end one operation while the socket stays open (`complete`, after an error or not): a
// subscription refused by a process behind its migrations (MIGRATIONS_PENDING), a bug, a limit (a database outage
// no longer ends one: the server waits it out, gql/live_outage.py). Such an
// operation is subscribed again after a growing delay (0.5 s to 10 s, as the socket), the page's `onReconnect`
// listeners then re-reading what it shows, and the status says so meanwhile ("paused"), not "Live": before, the page
// kept saying "Live" while that subscription was dead, until a reload. An end with NOT_FOUND (what it follows is
// gone: asking again is refused again) or one the page handles itself (`sink.complete`, `sink.error`) is final.

import { GRAPHQL_URL, session } from "./api.js";

const PROTOCOL = "graphql-transport-ws";
/** The server's refusal past the per-merchant socket cap: close code and the start of its reason. */
const CROWDED_CODE = 1008;
const CROWDED_REASON = "TOO_MANY_CONNECTIONS";
/** ms before trying again past the cap, unless the merchant presses Retry. */
export const CROWDED_RETRY_MS = 60_000;

export class LiveSocket {
  constructor({ onStatus = () => {}, onUnauthenticated = () => {} } = {}) {
    this.operations = new Map(); // id -> {payload, sink}
    this.reconnectListeners = new Set();
    this.onStatus = onStatus;
    this.onUnauthenticated = onUnauthenticated;
    this.nextId = 1;
    this.socket = null;
    this.acked = false;
    this.everConnected = false;
    this.missed = false; // a socket ended before its ack while the page listened: its first ack re-reads too
    this.retries = 0;
    this.timer = null;
    this.stopped = false;
  }

  /** Start an operation; returns a function that stops it. sink: {next(data), error(errors), complete()}. */
  subscribe(query, variables, sink) {
    const op = { id: String(this.nextId++), payload: { query, variables }, sink, errors: null, retries: 0, timer: null };
    this.operations.set(op.id, op);
    this.ensureOpen();
    if (this.acked) this.send({ id: op.id, type: "subscribe", payload: op.payload });
    return () => {
      clearTimeout(op.timer);
      const waiting = op.timer !== null;
      op.timer = null;
      if (this.operations.get(op.id) !== op) return;
      this.operations.delete(op.id);
      if (this.acked && !waiting) this.send({ id: op.id, type: "complete" });
      this.statusAfterResume();
    };
  }

  /** Called after the socket came back (not on the first connection): re-read what was missed. */
  onReconnect(listener) {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const op of this.operations.values()) clearTimeout(op.timer);
    this.operations.clear();
    this.socket?.close(1000, "signed out");
  }

  ensureOpen() {
    if (this.stopped || this.socket || this.timer) return;
    const url = GRAPHQL_URL.replace(/^http/, "ws");
    const socket = new WebSocket(url, PROTOCOL);
    this.socket = socket;
    this.acked = false;
    this.onStatus(this.everConnected ? "reconnecting" : "connecting");
    socket.onopen = () => this.send({ type: "connection_init", payload: { Authorization: `Bearer ${session.token}` } });
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => this.closed(socket, event.code, event.reason ?? "");
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(message) {
    switch (message.type) {
      case "connection_ack": {
        this.acked = true;
        this.retries = 0;
        // A first connection after refused ones (past the cap, a network fault) re-reads as a reconnection does:
        // the page was read over HTTP before, and what changed since was never pushed.
        const reconnected = this.everConnected || this.missed;
        this.everConnected = true;
        this.missed = false;
        for (const [id, op] of this.operations) {
          clearTimeout(op.timer); // one the server ended is subscribed again with the others
          op.timer = null;
          this.send({ id, type: "subscribe", payload: op.payload });
        }
        this.onStatus("live");
        if (reconnected) for (const listener of this.reconnectListeners) listener();
        break;
      }
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        // The token expired while the socket stayed open: the server ends each subscription with an UNAUTHENTICATED
        // error (and refuses new ones) without closing the socket, so no close code tells it. Signing out is the
        // only way the page gets live again; before, it said "Live" while nothing came any more.
        if (message.payload?.errors?.some((e) => e.extensions?.code === "UNAUTHENTICATED")) {
          this.onStatus("offline");
          this.onUnauthenticated();
          break;
        }
        {
          const op = this.operations.get(message.id);
          if (!op) break;
          op.errors = message.payload?.errors ?? null; // what an end that follows is about
          if (!op.errors) op.retries = 0;
          op.sink.next?.(message.payload);
        }
        break;
      case "error":
      case "complete": {
        // An operation sent once the token has expired is refused whole: an `error` with UNAUTHENTICATED.
        if (message.type === "error" && message.payload?.some?.((e) => e.extensions?.code === "UNAUTHENTICATED")) {
          this.onStatus("offline");
          this.onUnauthenticated();
          break;
        }
        const op = this.operations.get(message.id);
        if (op && op.timer === null) this.ended(op, message.type === "error" ? message.payload : null);
        break;
      }
    }
  }

  /** The server ended `op` (with `errors` for an `error` message): final, or subscribed again later (see top). */
  ended(op, errors) {
    const final = (errors ?? op.errors ?? []).some?.((e) => e.extensions?.code === "NOT_FOUND");
    if (final || op.sink.complete || op.sink.error) {
      this.operations.delete(op.id);
      if (errors) op.sink.error?.(errors);
      else op.sink.complete?.();
      return;
    }
    const delay = Math.min(10_000, 500 * 2 ** op.retries++);
    this.onStatus("paused");
    op.timer = setTimeout(() => {
      op.timer = null;
      if (this.operations.get(op.id) !== op) return; // stopped meanwhile
      // A new id: the ended one may still be the server's until it has cleaned up after its `complete`.
      this.operations.delete(op.id);
      op.id = String(this.nextId++);
      op.errors = null;
      this.operations.set(op.id, op);
      if (!this.acked) return; // the next connection_ack subscribes it, and its listeners re-read
      this.send({ id: op.id, type: "subscribe", payload: op.payload });
      this.statusAfterResume();
      for (const listener of this.reconnectListeners) listener(); // what changed meanwhile was never pushed
    }, delay);
  }

  /** "live" again once no operation waits to be subscribed again (on a connected socket). */
  statusAfterResume() {
    if (this.acked && ![...this.operations.values()].some((op) => op.timer !== null)) this.onStatus("live");
  }

  /** Try again now (the Retry button) rather than after the pending delay; a no-op while a socket is open. */
  retryNow() {
    if (this.stopped || this.socket) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.ensureOpen();
  }

  closed(socket, code, reason) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.acked = false;
    if (this.stopped) return;
    if (code === 4401 || code === 4403) {
      this.onStatus("offline");
      this.onUnauthenticated();
      return;
    }
    if (this.operations.size === 0 && this.reconnectListeners.size === 0) {
      this.onStatus("idle");
      return;
    }
    this.missed = true;
    if (code === CROWDED_CODE && reason.startsWith(CROWDED_REASON)) {
      const limit = /at most (\d+)/.exec(reason);
      this.onStatus("crowded", { limit: limit ? Number(limit[1]) : null });
      this.timer = setTimeout(() => {
        this.timer = null;
        this.ensureOpen();
      }, CROWDED_RETRY_MS);
      return;
    }
    const delay = Math.min(10_000, 500 * 2 ** this.retries++);
    this.onStatus("reconnecting");
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ensureOpen();
    }, delay);
  }
}
