// GraphQL over HTTP (POST /graphql) with the merchant's bearer token, and the token's keeping.

const TOKEN_KEY = "shopbridge.token";
export const GRAPHQL_URL = new URL("/graphql", location.href).href;

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

let onUnauthenticated = () => {};

/** What a request that could not reach the server says (ApiError code NETWORK); the shell takes it down once the
 * WebSocket is live again (app.js), a page its fields' lines once it reconnects. */
export const UNREACHABLE = "Shopbridge cannot be reached. Check your connection and try again.";

const answeredListeners = new Set();

/** `listener()` each time a request is answered over HTTP (data, a GraphQL error or a 4xx: Shopbridge reachable),
 * until the returned function removes it: a read that failed with a lost answer is tried again then, where the
 * WebSocket stayed up and no reconnection comes to tell that Shopbridge answers again (js/unsaved.js
 * `readUntilAnswered`). */
export function whenAnswered(listener) {
  answeredListeners.add(listener);
  return () => answeredListeners.delete(listener);
}

/** Called when the server refuses the token (HTTP 401): the app signs out with that message. */
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

/** Run a query or mutation; resolves to `data`, rejects with ApiError(extensions.code, message): NETWORK when no
 * HTTP answer came, HTTP_<status> for an HTTP error whose body holds no GraphQL error (a proxy's 502 page); a lost
 * answer's doubt is js/unsaved.js `answerLost`. */
export async function graphql(query, variables = {}, token = session.token) {
  let response;
  try {
    response = await fetch(GRAPHQL_URL, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("NETWORK", UNREACHABLE);
  }
  const body = await response.json().catch(() => ({}));
  const first = body.errors?.[0];
  if (first || response.status < 500) for (const listener of [...answeredListeners]) listener();
  if (response.status === 401) {
    const error = new ApiError("UNAUTHENTICATED", first?.message || "Sign in again.");
    if (token === session.token) onUnauthenticated(error); // not while a pasted token is being tried
    throw error;
  }
  if (first) throw new ApiError(first.extensions?.code || "INTERNAL_SERVER_ERROR", first.message);
  if (!response.ok) throw new ApiError("HTTP_" + response.status, "Shopbridge answered an error. Try again.");
  return body.data;
}

/** What a `latestOnly` reader resolves to when a later call of it began before its answer came. */
export const SUPERSEDED = Symbol("superseded");

/** `read` (a function returning a promise), answering only its latest call: an earlier call's answer, or error,
 * that comes in after a later call began resolves to `SUPERSEDED` instead. A list whose search, filter, page or
 * reconnection reads it again must show the last read's rows: answers can arrive out of order, and a search's rows
 * were replaced by those of the read before it (the previous search's, or the page's first load). */
export function latestOnly(read) {
  let calls = 0;
  return async (...args) => {
    const mine = ++calls;
    try {
      const answer = await read(...args);
      return mine === calls ? answer : SUPERSEDED;
    } catch (exc) {
      if (mine !== calls) return SUPERSEDED;
      throw exc;
    }
  };
}

/** Every shop of the merchant, read 100 a page (the API's largest `first`): a merchant may have more than one page
 * of shops, and the lists and pickers showed only the first 100 ("100 shops" for 150). `fields` is the selection
 * of each shop; resolves to the list of shops, newest first as `shops` orders them. */
export async function allShops(query = graphql, fields = "id name") {
  const document = `query AllShops($after: String) { shops(first: 100, after: $after) {
    edges { node { ${fields} } } pageInfo { hasNextPage endCursor } } }`;
  const shops = [];
  let after = null;
  for (;;) {
    const page = (await query(document, { after })).shops;
    shops.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage) return shops;
    after = page.pageInfo.endCursor;
  }
}

/** The merchant's inventory item whose SKU is `sku` as the server stores it (NFC, trimmed: domain/inventory/items.py
 * `sku_as_typed`), exactly (case and width count, as SKUs are unique), or null when none has it. Read with
 * `inventoryItems(query:)`, which finds part of a SKU caselessly ("SB-1" finds "sb-10" too): its pages, 100 each,
 * until the item or their end. `fields` is the item's selection (with `sku`). A SKU no item can have (blank, over the
 * 255 code points `query` takes) is not read: null. Rejects as `query` does. */
export async function itemBySku(query, sku, fields = "id sku") {
  const wanted = sku.normalize("NFC").trim();
  if (!wanted || [...wanted].length > 255) return null;
  const document = `query ItemBySku($sku: String!, $after: String) { inventoryItems(first: 100, after: $after, query: $sku) {
    edges { node { ${fields} } } pageInfo { hasNextPage endCursor } } }`;
  let after = null;
  for (;;) {
    const page = (await query(document, { sku: wanted, after })).inventoryItems;
    const item = page.edges.map(({ node }) => node).find((node) => node.sku === wanted);
    if (item) return item;
    if (!page.pageInfo.hasNextPage) return null;
    after = page.pageInfo.endCursor;
  }
}

/** Exchange the demo's one-click login code for a token; throws ApiError with the server's sentence. */
export async function exchangeLoginCode(code) {
  const response = await fetch("login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.token) {
    throw new ApiError(body.error?.code || "LOGIN_CODE_INVALID", body.error?.message || "This sign-in link is not valid.");
  }
  return body.token;
}
