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

/** Called when the server refuses the token (HTTP 401): the app signs out with that message. */
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

/** Run a query or mutation; resolves to `data`, rejects with ApiError(extensions.code, message). */
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
    throw new ApiError("NETWORK", "Shopbridge cannot be reached. Check your connection and try again.");
  }
  const body = await response.json().catch(() => ({}));
  const first = body.errors?.[0];
  if (response.status === 401) {
    const error = new ApiError("UNAUTHENTICATED", first?.message || "Sign in again.");
    if (token === session.token) onUnauthenticated(error); // not while a pasted token is being tried
    throw error;
  }
  if (first) throw new ApiError(first.extensions?.code || "INTERNAL_SERVER_ERROR", first.message);
  if (!response.ok) throw new ApiError("HTTP_" + response.status, "Shopbridge answered an error. Try again.");
  return body.data;
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
