// The console's shell: sign-in (pasted token or the demo's one-click link), the live status, the router.

import { ApiError, exchangeLoginCode, graphql, session, UNREACHABLE, whenUnauthenticated } from "./api.js";
import { announce, fill, h } from "./dom.js";
import { explain, explainRefusal } from "./messages.js";
import { LiveSocket } from "./ws.js";
import { completeReturnOutcome, renderStores, takeReturnOutcome } from "./stores.js";
import { renderAddStore } from "./addstore.js";
import { renderTasks } from "./tasks.js";
import { renderCatalog } from "./catalog.js";
import { renderInventory } from "./inventory.js";
import { renderItem } from "./inventory-item.js";
import { renderPolicy } from "./policy.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const live = document.getElementById("live");
const signOutButton = document.getElementById("sign-out");
const liveRetry = document.getElementById("live-retry");

const LIVE_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Connection lost, reconnecting…",
  paused: "Live updates paused, retrying…", // the server ended a subscription; js/ws.js subscribes it again
  offline: "Offline",
  idle: "",
};

/** Status "crowded" (js/ws.js: the server refused the socket past the merchant's cap, `limit` of them, or null). */
function crowdedLabel({ limit } = {}) {
  const most = limit ? ` (at most ${limit})` : "";
  return `Live updates are off: too many Shopbridge tabs or connections are open for this account${most}. Close one, then Retry.`;
}

let socket = null;
let cleanup = () => {};
let leaving = () => {}; // the page shown stops hearing its answers (pageGraphql), before its cleanup
let returned = null; // back from TikTok's consent page before signing in: completed once the merchant signs in

function setLive(status, detail) {
  live.dataset.status = status;
  live.textContent = status === "crowded" ? crowdedLabel(detail) : LIVE_LABELS[status] ?? "";
  liveRetry.hidden = status !== "crowded"; // js/ws.js tries again by itself only after a minute
  // Connected again: "Shopbridge cannot be reached" is no longer true (it stayed under "Live").
  if (status === "live" && document.getElementById("notice")?.textContent === UNREACHABLE) announce("");
}

function startSocket() {
  socket?.close();
  socket = new LiveSocket({ onStatus: setLive, onUnauthenticated: () => signOut("Your session has ended. Sign in again.") });
}

// Said under a refusal of the hand-off as INVALID_STATE, which the server also answers when another merchant's
// token completes it, leaving it unspent for the merchant who started it (domain.authorization `consume`).
const HANDOFF_KEPT = "If another account started it, sign out and sign in as that account to finish it.";
const HANDOFF_WAITING = "Sign in as the merchant who started this authorization to finish it.";

function signOut(message) {
  announce(""); // the notice was about the account signed out (a refusal stayed above the next one's shops)
  cleanup();
  cleanup = () => {};
  closeDialogs();
  socket?.close();
  socket = null;
  setLive("idle");
  session.token = null;
  renderSignIn(message);
}

whenUnauthenticated((error) => signOut(`${error.message} Sign in again.`));
signOutButton.addEventListener("click", () =>
  signOut(returned?.kind === "handoff" ? `You are signed out. ${HANDOFF_WAITING}` : "You are signed out."),
);
liveRetry.addEventListener("click", () => socket?.retryNow());

function renderSignIn(message) {
  nav.hidden = true;
  signOutButton.hidden = true;
  const error = h("p", { id: "sign-in-error", class: "field-error", role: "alert" }, message && !message.startsWith("You are") ? message : "");
  const input = h("textarea", {
    id: "token",
    name: "token",
    rows: 4,
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "token-help sign-in-error",
  });
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in to Shopbridge"),
    message && message.startsWith("You are") ? h("p", {}, message) : null,
    h("label", { for: "token" }, "Merchant token"),
    input,
    h("p", { id: "token-help", class: "help" },
      "Paste the token printed by ", h("code", {}, "make run"), " or ", h("code", {}, "shopbridge token MERCHANT_ID"),
      " (the whole header line works too). It is kept in this browser tab only."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  // Enter signs in, as in a one-line field (a token holds no line break): in the text area it added a line, and a
  // keyboard user had to find the button. Shift+Enter still adds one.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = parseToken(input.value);
    if (!token) {
      error.textContent = "Paste your merchant token first.";
      input.focus();
      return;
    }
    try {
      await graphql("{ shops(first: 1) { totalCount } }", {}, token);
    } catch (exc) {
      error.textContent = exc.code === "UNAUTHENTICATED"
        ? `That token was not accepted (${exc.message}) Check that you copied all of it.`
        : exc.message;
      input.focus();
      return;
    }
    await finishSignIn(token);
  });
  fill(main, form);
  input.focus();
}

/** The token alone, from a bare token, "Bearer …", the {"Authorization": "Bearer …"} line `make run` prints, or an
 * "Authorization: Bearer …" header line as curl's `-H` or a browser's network panel shows it (tryout67 F2: refused as
 * "That token was not accepted"). */
function parseToken(text) {
  let value = text.trim();
  try {
    const parsed = JSON.parse(value);
    if (parsed && typeof parsed === "object") {
      const key = Object.keys(parsed).find((k) => k.toLowerCase() === "authorization");
      value = key ? String(parsed[key]) : value;
    }
  } catch {
    // not JSON: a bare token, "Bearer …" or "Authorization: Bearer …"
  }
  return value.replace(/^authorization\s*:\s*/i, "").replace(/^bearer\s+/i, "").trim();
}

function signIn(token) {
  session.token = token;
  nav.hidden = false;
  signOutButton.hidden = false;
  startSocket();
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/stores");
  route();
}

/** Sign in, completing first what TikTok's redirect brought back (so the list shows the shop), then telling it. A
 * hand-off refused INVALID_STATE is kept for the next sign-in in this tab: it may be another merchant's, which the
 * server leaves unspent for that merchant (newcomer57 F8: a first sign-in with the wrong account threw away a consent
 * the right one could still finish). Only the merchant who started it can spend it, so keeping it gives nobody else
 * anything. */
async function finishSignIn(token) {
  const outcome = returned;
  const before = session.token;
  returned = null;
  const result = outcome && (await completeReturnOutcome(outcome, token));
  if (session.token !== before) {
    returned = outcome; // the kept token was refused meanwhile (signed out): finish once signed in again
    return;
  }
  if (result?.code === "INVALID_STATE") returned = outcome;
  signIn(token);
  if (result) announce(result.code === "INVALID_STATE" ? `${result.message} ${HANDOFF_KEPT}` : result.message, { kind: result.kind });
}

/** Close (cancel) every dialog a page opened: its dialogs are children of <body>, not of the page, and a Delete or
 * Unlink dialog stayed open over the next page after browser Back, its button still acting on the shop or link. */
function closeDialogs() {
  for (const dialog of document.querySelectorAll("dialog")) {
    if (dialog.open) dialog.close();
    dialog.remove();
  }
}

/** "#/inventory?query=SB-1&after=…": the route ("/inventory"), then the page's own state (its params), which Back
 * restores; an empty address is Store management's. */
function address() {
  const [path, query = ""] = (location.hash.replace(/^#/, "") || "/stores").split("?");
  return { path, query };
}

const MUTATION = /^\s*mutation\b/;

/** A change sent from a page the merchant has left, refused (its payload's first `userErrors`: not made) or failed
 * on its way (the request's error: the network, a server error, so perhaps made): said on the page shown, in the
 * page's words for it (`explain`), naming the change as its page did when it was sent (`change`, a noun phrase the
 * page hands with the request: `The rename of “Maple” to “Main store”`, `The adjustment of SB-1 by -6 units
 * (Damaged)`): the merchant may have sent several changes from several pages, and "a change you made on the page
 * you left" did not say which one failed. A page showing several subjects (the Store list, an item's links) names
 * the one the change was about, not the page. Its page would have said so, but it is gone; a success needs no word
 * there (the change is made, and the page left showed it asked). Before, a count or a rename refused after the
 * merchant moved on was never told. */
function tellRefusedAfterLeaving(change, data, error = null) {
  const what = change || "A change you made on the page you left";
  if (error) {
    announce(`${what} may not have been made: ${error.message} Check it on its page.`, { kind: "error" });
    return;
  }
  const payload = Object.values(data ?? {}).find((each) => each?.userErrors?.length);
  if (!payload) return;
  announce(`${what} was not made: ${explainRefusal(payload)}`, { kind: "error" });
}

/** A promise that never settles: what a page left is answered (its code after the answer never runs). A new one each
 * time: nothing holds it, so the page's waiting code goes with it (one shared promise would keep every left page's). */
const never = () => new Promise(() => {});

/** GraphQL for the page shown at route `path`, and `leave()` for when it goes: the page's answers, and its errors,
 * reach it only while it is shown. Once it is left (another page, sign-out), or once the address names another route
 * (browser Back, Forward and links change it a task before the router hears `hashchange`), an answer never settles.
 * A page no longer shown put "Shop not found" or "Item not found" in place of the next page, announced its errors
 * there, wrote its address over the next one's (inventory.js) and took the merchant to TikTok's consent page from
 * the page they had gone to (Authorize, Re-authorize). The request itself goes on: a change sent is made.
 * `graphql(document, variables, { change })`: a mutation names itself in `change` (tellRefusedAfterLeaving) with its
 * subject as the page shows it when it is sent. */
function pageGraphql(path) {
  let shown = true;
  const current = () => shown && address().path === path;
  return {
    graphql: (document, variables = {}, { change = null } = {}) => graphql(document, variables).then(
      (data) => {
        if (current()) return data;
        if (MUTATION.test(document)) tellRefusedAfterLeaving(change, data);
        return never();
      },
      (error) => {
        if (current()) throw error;
        if (MUTATION.test(document)) tellRefusedAfterLeaving(change, null, error);
        return never();
      },
    ),
    leave: () => {
      shown = false;
    },
  };
}

/**
 * A path segment of the address, decoded: the id of the page to show. A malformed escape (`%E0%A4%A`, a pasted link
 * cut short) stays as written, an id of nothing, so the page says "… not found" as for any unknown id; decoding threw
 * a URIError out of `route`, the page shown already stopped and nothing shown in its place.
 */
function segment(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function route() {
  if (!session.token) return;
  cleanup();
  closeDialogs();
  const { path, query } = address();
  const page = pageGraphql(path);
  const ctx = { main, socket, graphql: page.graphql, navigate: (to) => (location.hash = to), params: new URLSearchParams(query) };
  const parts = path.split("/").filter(Boolean);
  let current = "stores";
  let stop;
  if (parts[0] === "tasks") {
    current = "tasks";
    stop = renderTasks(ctx);
  } else if (parts[0] === "inventory") {
    current = "inventory";
    stop = parts[1] ? renderItem(ctx, segment(parts[1])) : renderInventory(ctx);
  } else if (parts[0] === "shops" && parts[1] && (parts[2] === "products" || parts[2] === "orders")) {
    stop = renderCatalog(ctx, segment(parts[1]), parts[2]);
  } else if (parts[0] === "shops" && parts[1] && parts[2] === "policy") {
    stop = renderPolicy(ctx, segment(parts[1]));
  } else if (parts[0] === "stores" && parts[1] === "add") {
    stop = renderAddStore(ctx);
  } else {
    stop = renderStores(ctx);
  }
  leaving = page.leave;
  cleanup = () => {
    page.leave();
    stop?.();
  };
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.route === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// "Skip to content" (index.html, the keyboard's first stop): the focus to the page shown. Followed as a link, its
// address (`#main`) was routed, as Store management's: every other page was left for it.
document.querySelector("a.skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

// Where the browser says at once that the address moves (the Navigation API's `navigate`: a link, Back, Forward;
// not a page's own replaceState, nor a link to the address shown, which fires no `hashchange`), the page shown stops
// hearing its answers then, a task before the router hears `hashchange`. pageGraphql's test of the route alone let
// an answer for the same route through: the Inventory list searched, Inventory in the navigation clicked, its read
// landing in between wrote the search back over `#/inventory`, and the searched list was shown again.
window.navigation?.addEventListener("navigate", (event) => {
  const { destination, navigationType } = event;
  if (destination.sameDocument && navigationType !== "replace" && destination.url !== location.href) leaving();
});

window.addEventListener("hashchange", () => {
  announce("");
  route();
  main.focus();
});

async function start() {
  const login = /^#login=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (login) {
    history.replaceState(null, "", location.pathname + "#/stores"); // the code never stays in history
    try {
      signIn(await exchangeLoginCode(login[1]));
    } catch (exc) {
      renderSignIn(exc instanceof ApiError ? exc.message : explain("INTERNAL"));
    }
    return;
  }
  returned = takeReturnOutcome(); // back from TikTok's consent page: ?code=…&state=…, ?error=…&state=…
  if (session.token) {
    await finishSignIn(session.token);
  } else if (returned?.kind === "handoff") {
    renderSignIn(HANDOFF_WAITING);
  } else {
    renderSignIn(returned ? `${returned.message} Sign in to see your shops.` : "");
    returned = null;
  }
}

start();
