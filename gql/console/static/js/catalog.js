// A shop's products or orders, a page at a time (Relay connections: `first` and `after`; "Previous" walks back
// through the cursors already seen).

import { SUPERSEDED, latestOnly } from "./api.js";
import { announce, fill, h, number, time } from "./dom.js";
import { notFoundWhy } from "./messages.js";
import { followShopNames } from "./shopnames.js";

const PAGE = 20;
const PRODUCTS = `query Products($id: ID!, $after: String) { shop(id: $id) { id name productCount
  products(first: ${PAGE}, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { id tiktokProductId title status updatedAt skus { tiktokSkuId sellerSku quantity price { amount currency } } } } } } }`;
const ORDERS = `query Orders($id: ID!, $after: String, $status: OrderStatus) { shop(id: $id) { id name orderCount
  orders(first: ${PAGE}, after: $after, status: $status) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { id tiktokOrderId status createdAt updatedAt total { amount currency }
      lineItems { tiktokLineItemId tiktokSkuId sellerSku quantity displayStatus cancelReason cancelUser } } } } } }`;
// Each shop deleted, in another tab or on another device: this page's shop among them ends the page.
const SHOP_DELETIONS = "subscription CatalogShopsDeleted { shopsDeleted }";
const ORDER_STATUSES = ["UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION",
  "IN_TRANSIT", "DELIVERED", "COMPLETED", "CANCELLED"];

/** Money (the API's exact decimal string in major units, "12.50") in the browser's words for its currency, digit for
 * digit: the integer part goes through Intl as a BigInt (exact at any size, grouped as the locale groups), and the
 * minor digits are TikTok's, padded to the currency's own ("12.5" is US$12.50). Through Number(), a double, an
 * amount past 2^53 minor units showed other digits ("99999999999999.99" as US$99,999,999,999,999.98: try-out
 * regions53). An amount that is no plain decimal (the API never sends one) is shown as it came, with its currency. */
const money = (m) => {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(m.amount);
  if (!match) return `${m.amount} ${m.currency}`;
  const options = { style: "currency", currency: m.currency };
  const own = new Intl.NumberFormat(undefined, options).resolvedOptions().maximumFractionDigits;
  const minor = (match[2] ?? "").padEnd(own, "0");
  const digits = { minimumFractionDigits: minor.length, maximumFractionDigits: minor.length };
  return new Intl.NumberFormat(undefined, { ...options, ...digits })
    .formatToParts(BigInt(match[1]))
    .map((part) => (part.type === "fraction" ? minor : part.value))
    .join("");
};
const words = (s) => (s ? s.charAt(0) + s.slice(1).toLowerCase().replaceAll("_", " ") : "Unknown");
// A product's status at TikTok (Product.status, TikTok's own words: tiktok-api.md sec. 7) as Seller Center says it.
// Read as words, ACTIVATE, the status of a product on sale, showed "Activate": an action, as if it were not on sale.
const PRODUCT_STATUSES = {
  ACTIVATE: "Live",
  DRAFT: "Draft",
  PENDING: "In review",
  FAILED: "Failed review",
  SELLER_DEACTIVATED: "Deactivated by you",
  PLATFORM_DEACTIVATED: "Deactivated by TikTok",
  FREEZE: "Frozen by TikTok",
  DELETED: "Deleted",
};

export function renderCatalog(ctx, shopId, kind) {
  const isProducts = kind === "products";
  const heading = h("h1", {}, isProducts ? "Products" : "Orders");
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const body = h("tbody");
  const previous = h("button", { type: "button", disabled: true }, "Previous page");
  const next = h("button", { type: "button", disabled: true }, "Next page");
  const statusFilter = h("select", { id: "order-status", name: "status" }, h("option", { value: "" }, "All statuses"),
    ORDER_STATUSES.map((s) => h("option", { value: s }, words(s))));
  // The `after` of each page up to the one shown (the last is its own). A page turn changes it only once its page is
  // shown: a double-click on "Next page" pushed the same cursor twice, and a turn that failed (offline) pushed one
  // for a page never shown, so the rows of page 2 read "41 to 60" and "Previous page" showed them again.
  // The address keeps them with the orders' status filter (`#/shops/ID/orders?status=CANCELLED&after=…`, one `after`
  // per page before the one shown), as Inventory does: a reload or Back showed the first page of every order.
  const params = ctx.params ?? new URLSearchParams();
  const cursors = [null, ...params.getAll("after")];
  const route = `/shops/${encodeURIComponent(shopId)}/${kind}`;
  let stopped = false; // the page left: a read landing later must not rewrite the next page's address
  if (!isProducts && ORDER_STATUSES.includes(params.get("status"))) statusFilter.value = params.get("status");
  let endCursor = null;
  let hasNextPage = false;
  let shownName = null; // the shop's name in the heading, once a read has shown it

  /** The heading: "Orders of “Maple”". */
  function title(name) {
    shownName = name;
    fill(heading, `${isProducts ? "Products" : "Orders"} of “${name}”`);
  }

  /** The page shown, in the address (replaced, not pushed), while the address is still this page's. */
  function remember() {
    if (stopped || location.hash.replace(/^#/, "").split("?")[0] !== route) return;
    const shown = new URLSearchParams();
    if (!isProducts && statusFilter.value) shown.set("status", statusFilter.value);
    for (const after of cursors.slice(1)) shown.append("after", after);
    const text = shown.toString();
    history.replaceState(history.state, "", `#${route}${text ? `?${text}` : ""}`);
  }

  /** The shop deleted elsewhere: said, and its products or orders no longer shown (they are gone from Shopbridge). */
  function deleted() {
    stopped = true;
    fill(ctx.main, h("h1", {}, "This shop was deleted"),
      h("p", {}, "It was deleted from Shopbridge in another tab or on another device, with its products and orders. ",
        h("a", { href: "#/stores" }, "Back to Store management")));
  }

  const readPage = latestOnly((variables) => ctx.graphql(isProducts ? PRODUCTS : ORDERS, variables));

  /** Buttons for the page shown: after its read, or a turn that failed (the page shown stays, and can turn again). */
  function settlePager() {
    next.disabled = !hasNextPage;
    previous.disabled = cursors.length === 1;
  }

  /** Read `pages`' last page (the current one by default); they become the pages shown once it is shown. */
  async function load(pages = [...cursors]) {
    const after = pages[pages.length - 1];
    const variables = isProducts ? { id: shopId, after } : { id: shopId, after, status: statusFilter.value || null };
    try {
      const data = await readPage(variables);
      if (data === SUPERSEDED || stopped) return; // a later filter or page read it again; the shop deleted meanwhile
      cursors.splice(0, cursors.length, ...pages);
      const shop = data.shop;
      if (!shop) {
        fill(ctx.main, h("h1", {}, "Shop not found"), h("p", {}, notFoundWhy("shop", shownName !== null),
          h("a", { href: "#/stores" }, "Back to Store management")));
        return;
      }
      const page = isProducts ? shop.products : shop.orders;
      title(shop.name);
      const first = (cursors.length - 1) * PAGE + 1;
      summary.textContent = page.totalCount
        ? `${number(first)} to ${number(first + page.edges.length - 1)} of ${number(page.totalCount)}`
        : isProducts ? "No product imported yet." : "No order matches.";
      fill(body, page.edges.map(({ node }) => (isProducts ? productRow(node) : orderRow(node))));
      endCursor = page.pageInfo.endCursor;
      hasNextPage = page.pageInfo.hasNextPage;
      settlePager();
      remember();
    } catch (exc) {
      if (stopped) return;
      // a cursor of the address the API does not take (edited, or from another deployment): the first page
      if (exc.code === "BAD_USER_INPUT" && pages.length > 1) return load([null]);
      announce(exc.message, { kind: "error" });
      settlePager();
    }
  }

  /** Turn to `pages`' last page; both buttons wait for it (a second click of a double-click does nothing). */
  function turn(pages) {
    next.disabled = previous.disabled = true;
    load(pages);
  }

  function productRow(p) {
    // A SKU's stock at TikTok is its `quantity`, as last known (the API's rule: the newer of the product's last read
    // and the pool's last push that landed). The page once took the push over the read itself, even a later read.
    const stock = p.skus.reduce((sum, s) => sum + s.quantity, 0);
    return h("tr", {},
      h("td", {}, p.title, h("div", { class: "muted small" }, p.tiktokProductId)),
      h("td", { "data-label": "Status" }, PRODUCT_STATUSES[p.status] ?? words(p.status)),
      h("td", { "data-label": "SKUs" }, p.skus.map((s) => h("div", { class: "small" }, `${s.sellerSku || s.tiktokSkuId} · ${money(s.price)} · ${number(s.quantity)} in stock`))),
      h("td", { "data-label": "Stock", class: "num" }, number(stock)),
      h("td", { "data-label": "Updated" }, time(p.updatedAt)));
  }

  /** One line of an order (LineItem: one unit of a SKU, with its own status). A line cancelled on its own (TikTok's
   * item-level cancellation) is struck through and labelled "Cancelled", with TikTok's reason and who cancelled it:
   * it is not one to ship. A line whose status differs from its order's otherwise says its own (a line shipped from a
   * PARTIALLY_SHIPPING order). Before, the page showed an item count alone: a cancelled line looked like the others. */
  function orderLine(o, line) {
    const sku = `${line.sellerSku || line.tiktokSkuId}${line.quantity > 1 ? ` × ${number(line.quantity)}` : ""}`;
    if (line.displayStatus === "CANCELLED" && o.status !== "CANCELLED") {
      const why = [line.cancelReason, line.cancelUser && `by ${line.cancelUser.toLowerCase()}`].filter(Boolean).join(", ");
      return h("div", { class: "small line-cancelled" }, h("del", {}, sku), ` · Cancelled${why ? ` (${why})` : ""}`);
    }
    const own = line.displayStatus && line.displayStatus !== o.status ? ` · ${words(line.displayStatus)}` : "";
    return h("div", { class: "small" }, sku, own);
  }

  function orderRow(o) {
    // Items: the units still to ship or shipped, a line cancelled on its own left out (all of them for an order
    // itself cancelled)
    const live = o.status === "CANCELLED" ? o.lineItems : o.lineItems.filter((i) => i.displayStatus !== "CANCELLED");
    const items = live.reduce((sum, i) => sum + i.quantity, 0);
    return h("tr", {},
      h("td", {}, h("code", {}, o.tiktokOrderId)),
      h("td", { "data-label": "Status" }, words(o.status)),
      h("td", { "data-label": "Created" }, time(o.createdAt)),
      h("td", { "data-label": "Lines" }, o.lineItems.map((line) => orderLine(o, line))),
      h("td", { "data-label": "Items", class: "num" }, number(items)),
      h("td", { "data-label": "Total", class: "num" }, money(o.total)));
  }

  next.addEventListener("click", () => turn([...cursors, endCursor]));
  previous.addEventListener("click", () => turn(cursors.slice(0, -1)));
  statusFilter.addEventListener("change", () => {
    // another list: the pages of the previous filter are not turned any more, even if its first page fails
    cursors.length = 1;
    hasNextPage = false;
    turn([null]);
  });
  const columns = isProducts ? ["Product", "Status", "SKUs", "Stock", "Updated"] : ["TikTok order", "Status", "Created", "Lines", "Items", "Total"];
  fill(
    ctx.main,
    h("div", { class: "page-head" }, heading, h("a", { href: "#/stores" }, "Back to Store management")),
    isProducts ? null : h("div", { class: "inline" }, h("label", { for: "order-status" }, "Status"), statusFilter),
    summary,
    h("table", { class: "catalog" }, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), body),
    h("nav", { class: "pager", "aria-label": "Pages" }, previous, next),
  );
  load();
  const stopDeletions = ctx.socket.subscribe(SHOP_DELETIONS, {}, {
    next: (payload) => {
      if (payload.data?.shopsDeleted === shopId && !stopped) deleted();
    },
  });
  // The shop renamed elsewhere: the heading takes the new name at once (as the item page's links do, js/links.js); it
  // kept the old one until a reload (try-out verify51).
  const stopNames = followShopNames(ctx, (shop) => {
    if (shop.id === shopId && !stopped && shownName !== null && shop.name !== shownName) title(shop.name);
  });
  const stopReconnect = ctx.socket.onReconnect(() => stopped || load()); // a deletion missed meanwhile: "not found"
  return () => {
    stopped = true;
    stopDeletions();
    stopNames();
    stopReconnect();
  };
}
