// A graphql-transport-ws client (the protocol of npm graphql-ws and GraphiQL) that reconnects by itself.
//
// One socket for the page. `subscribe()` registers an operation that survives reconnects: after every
// connection_ack the live operations are sent again, and `onReconnect` listeners re-read what they show,
// since changes made while the socket was down were never pushed. Close codes 4401/4403 (bad or expired
// token) sign out instead of retrying, and so does an operation's UNAUTHENTICATED error (the token expired on an
// open socket); anything else retries with a growing delay (0.5 s to 10 s).

import { GRAPHQL_URL, session } from "./api.js";

const PROTOCOL = "graphql-transport-ws";

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
    this.retries = 0;
    this.timer = null;
    this.stopped = false;
  }

  /** Start an operation; returns a function that stops it. sink: {next(data), error(errors), complete()}. */
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.operations.set(id, { payload: { query, variables }, sink });
    this.ensureOpen();
    if (this.acked) this.send({ id, type: "subscribe", payload: { query, variables } });
    return () => {
      if (!this.operations.delete(id)) return;
      if (this.acked) this.send({ id, type: "complete" });
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
    socket.onclose = (event) => this.closed(socket, event.code);
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(message) {
    switch (message.type) {
      case "connection_ack": {
        this.acked = true;
        this.retries = 0;
        const reconnected = this.everConnected;
        this.everConnected = true;
        for (const [id, op] of this.operations) this.send({ id, type: "subscribe", payload: op.payload });
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
        this.operations.get(message.id)?.sink.next?.(message.payload);
        break;
      case "error": {
        const op = this.operations.get(message.id);
        this.operations.delete(message.id);
        op?.sink.error?.(message.payload);
        break;
      }
      case "complete": {
        const op = this.operations.get(message.id);
        this.operations.delete(message.id);
        op?.sink.complete?.();
        break;
      }
    }
  }

  closed(socket, code) {
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
    const delay = Math.min(10_000, 500 * 2 ** this.retries++);
    this.onStatus("reconnecting");
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ensureOpen();
    }, delay);
  }
}
