// Inventory: the merchant's shared pool, one item per merchant SKU, 20 a page, searched by SKU and filtered to the
// oversold ones. The numbers follow `inventoryItemUpdated` (every item of the merchant) without a reload; each
// change is announced once in a polite live region. After the socket comes back the page is read again.

import { SUPERSEDED, itemBySku, latestOnly } from "./api.js";
import { announce, fill, h, number, patch, time } from "./dom.js";
import { explain, LINK_SOURCES, LINK_STATES, unsendableSku } from "./messages.js";
import { followLinkShops, shopDiffers, withShopAsSent } from "./shopnames.js";
import { answerLost, mayHaveBeen, readUntilAnswered, wasNot } from "./unsaved.js";

const PAGE = 20;
export const ITEM_FIELDS = `id sku onHand reserved safetyStock available oversold version updatedAt
  links { state source pushedQuantity pushedAt heldBackQuantity pushErrorCode productStatus shop { id name status inventoryPolicy { pushEnabled } } sku { id tiktokSkuId sellerSku } }`;
const ITEMS = `query Inventory($after: String, $query: String, $oversold: Boolean) {
  inventoryItems(first: ${PAGE}, after: $after, query: $query, oversold: $oversold) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${ITEM_FIELDS} } } } }`;
// Each shop deleted, in another tab or on another device: the items only its SKUs held went with it, and every
// other item lost its links to it; no `inventoryItemUpdated` says so.
export const SHOP_DELETIONS = "subscription InventoryShopsDeleted { shopsDeleted }";
const CREATED_FIELDS = "id sku onHand"; // what the page says of an item it created
const LOOK_ALIKES = "query LookAlikes($query: String) { inventoryItems(query: $query, first: 20) { edges { node { sku } } } }";
const CREATE = `mutation NewItem($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { ${CREATED_FIELDS} } userErrors { code field message } } }`;
// The server's bound on units (domain/inventory/items.py MAX_UNITS), as inventory-item.js: stopped at the field.
const MAX_UNITS = 1_000_000_000;
export const ITEM_UPDATES = `subscription Inventory($id: ID) { inventoryItemUpdated(inventoryItemId: $id) { ${ITEM_FIELDS} } }`;

/** The four counters, in units, with their labels: [field, label]. */
export const COUNTERS = [
  ["onHand", "On hand"],
  ["reserved", "Reserved"],
  ["safetyStock", "Safety stock"],
  ["available", "Available"],
];

/** The SKU of an item equal to `sku` (NFC, trimmed, as the server stores it) up to case and width (NFKC, lower
 * case) but not to it, if any among the search's first 20 (`inventoryItems(query:)` folds case and width already):
 * what New item and the item page's "Create an item" ask about before they create a look-alike (tryout61 F3,
 * tryout62 M5). `graphql`: ctx.graphql. */
export async function lookAlikeSku(graphql, sku) {
  const folded = (text) => text.normalize("NFKC").toLowerCase();
  const found = (await graphql(LOOK_ALIKES, { query: sku })).inventoryItems.edges.map((edge) => edge.node.sku);
  return found.find((other) => other !== sku && folded(other) === folded(sku)) ?? null;
}

/** "Reserved 3 → 5, available 7 → 5": what changed between two states of an item ("" when nothing did). */
export function describeChange(before, after) {
  const parts = COUNTERS.filter(([field]) => before[field] !== after[field])
    .map(([field, label]) => `${label.toLowerCase()} ${number(before[field])} → ${number(after[field])}`);
  if (!parts.length) return "";
  const text = parts.join(", ");
  return `${after.sku}: ${text}${after.oversold && !before.oversold ? ". It is now oversold" : ""}.`;
}

export function oversoldBadge(item) {
  return item.oversold ? h("span", { class: "badge status-oversold" }, "Oversold") : null;
}

/** Why a push set a shop SKU below the item's available (`heldBackQuantity`, the push's fence), or null. */
export function heldBack(link) {
  return link.heldBackQuantity > 0
    ? `${number(link.heldBackQuantity)} held back: sold at TikTok but not in the pool yet, stock lowered in Seller Center, or a cancellation made while a push was under way`
    : null;
}

/** Why a LINKED SKU is not pushed (`productStatus`: TikTok refuses the stock of a product it does not sell, and the
 * push waits until it is ACTIVATE again), or null. */
export function notOnSale(link) {
  return link.state === "LINKED" && link.productStatus && link.productStatus !== "ACTIVATE"
    ? `not pushed: product not on sale at TikTok (status ${link.productStatus})`
    : null;
}

// What a stopped push means for the merchant: TikTok goes on selling the last stock it was sent, or, for a link never
// pushed (`pushedQuantity` null: a shop connected with push off), the shop's own stock (tryout64 F1).
const STALE = "TikTok keeps showing the last quantity it was sent, and may sell units the pool no longer has.";
const OWN = "TikTok keeps this shop's own stock (it was never sent the pool's), and may sell units the pool no longer has.";
const stale = (link) => (link.pushedQuantity === null || link.pushedQuantity === undefined ? OWN : STALE);
// Why, by the shop's status (schema.graphql ShopStatus: EXPIRED and REVOKED get no sync and no push until the shop is
// re-authorized; README "Push-disabled, revoked and expired shops are skipped (their rows stay dirty)").
const ENDED = {
  EXPIRED: "the shop's authorization has expired (re-authorize it in Store management)",
  REVOKED: "TikTok no longer honours the shop's authorization (re-authorize it in Store management)",
};

/** Why TikTok does not receive this item's stock for a LINKED SKU, in words, or null (tryout60 F1: such a link read
 * "Linked · pushed 465" like a healthy one while the pool moved on). The first reason that holds: the shop's
 * authorization ended (`shop.status` EXPIRED or REVOKED), its push is off (`shop.inventoryPolicy.pushEnabled`), the
 * product is not on sale (`notOnSale`: TikTok sells none then), the last push failed (`pushErrorCode`, TikTok's). */
export function notReceiving(link) {
  if (link.state !== "LINKED") return null;
  const shop = link.shop;
  if (shop && ENDED[shop.status]) return `TikTok is not receiving this item's stock: ${ENDED[shop.status]}. ${stale(link)}`;
  if (shop?.inventoryPolicy && !shop.inventoryPolicy.pushEnabled) {
    return `TikTok is not receiving this item's stock: push is turned off for this shop (its push policy, in Store `
      + `management). ${stale(link)}`;
  }
  if (notOnSale(link)) return notOnSale(link);
  if (link.pushErrorCode) {
    return `TikTok did not take this item's stock: it refused the last push (code ${link.pushErrorCode}). ${stale(link)}`;
  }
  return null;
}

/** One link of an item as a line: shop, SKU, state, source, what was pushed to TikTok and what it held back, the
 * push error. */
export function linkLine(link) {
  // a SKU with no seller SKU is named as the item's page names it: "TikTok SKU 1730…", not "1730… (TikTok SKU 1730…)"
  const sku = link.sku.sellerSku
    ? `${link.sku.sellerSku} (TikTok SKU ${link.sku.tiktokSkuId})`
    : `TikTok SKU ${link.sku.tiktokSkuId}`;
  return h("div", { class: "small link-line" },
    h("strong", {}, link.shop?.name ?? "Deleted shop"), ` · ${sku} · `,
    `${LINK_STATES[link.state] ?? link.state}, ${LINK_SOURCES[link.source] ?? link.source}`,
    link.pushedQuantity === null || link.pushedQuantity === undefined
      ? " · not pushed yet"
      : [` · pushed ${number(link.pushedQuantity)} on `, time(link.pushedAt)],
    heldBack(link) ? ` · ${heldBack(link)}` : null,
    notOnSale(link) ? h("span", { class: "not-on-sale" }, ` · ${notOnSale(link)}`) : null,
    link.pushErrorCode ? h("span", { class: "push-error" }, ` · push failed: ${link.pushErrorCode}`) : null,
    notReceiving(link) && !notOnSale(link) ? h("div", { class: "not-pushed push-error" }, notReceiving(link)) : null);
}

// Control characters (U+0000-U+001F, U+007F): no SKU holds one, and the API refuses a NUL in `query` with its
// developer message ("Text may not contain a NUL character (U+0000) … $query."), which the page showed as is, over
// the previous search's rows; a deep link carrying one (`#/inventory?query=SB%00x`) showed an empty table with neither
// rows nor "No item matches". They are removed from the search, and the page says so in plain words.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;
const CONTROL_REMOVED = "The search held invisible control characters, which no SKU contains: they were removed.";

/** `text` without control characters, and whether it had any. */
function withoutControls(text) {
  const clean = text.replace(CONTROL_CHARACTERS, "");
  return [clean, clean !== text];
}

export function renderInventory(ctx) {
  const items = new Map(); // id -> item on this page, as read
  const rows = new Map(); // id -> <tr>
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const changes = h("p", { class: "visually-hidden", "aria-live": "polite", id: "inventory-changes" });
  const body = h("tbody");
  const table = h("table", { class: "inventory" },
    h("thead", {}, h("tr", {}, ["SKU", ...COUNTERS.map(([, label]) => label), "Shops"].map((c) => h("th", { scope: "col" }, c)))),
    body);
  const previous = h("button", { type: "button", disabled: true }, "Previous page");
  const next = h("button", { type: "button", disabled: true }, "Next page");
  // maxlength: the API's bound on `query` (gql/inventory/queries.py MAX_QUERY_LENGTH); a longer one was refused with
  // its raw message, and the previous search's rows stayed under the new text.
  const search = h("input", { id: "inventory-query", name: "query", type: "search", autocomplete: "off", maxlength: 255 });
  const oversold = h("input", { id: "inventory-oversold", name: "oversold", type: "checkbox" });
  // The `after` of each page up to the one shown: changed by a page turn only once its page is shown (catalog.js).
  // The address holds them with the search and the filter (`#/inventory?query=…&oversold=1&after=…&after=…`, one
  // `after` per page before the one shown): Back from an item shows the same page of the same list. Before, it
  // showed the first page of every item, the box empty.
  const params = ctx.params ?? new URLSearchParams();
  const cursors = [null, ...params.getAll("after")];
  let stopped = false; // the page left: a read landing later must not rewrite the next page's address
  let endCursor = null;
  let hasNextPage = false;
  // The search and filter the shown pages were read with: a page turn reads the next page of the same list, whatever
  // has been typed in the box since without searching (that text with the other list's cursor showed "21 to 20 of 1").
  const [linkedQuery, linkHadControls] = withoutControls(params.get("query") ?? "");
  let applied = { query: linkedQuery.trim() || null, oversold: params.get("oversold") === "1" || null };
  let shownList = null; // the search and filter of the rows shown ({query, oversold}), once a read showed them
  search.value = applied.query ?? "";
  oversold.checked = Boolean(applied.oversold);

  /** The list shown, in the address (replaced, not pushed: Back leaves Inventory, as before). Only while the address
   * is still the list's: browser Forward (or a link) changes it a task before the router hears `hashchange` and stops
   * this page, and a read landing in between wrote the list's address over the item's, so the list was shown again. */
  function remember() {
    if (stopped || location.hash.replace(/^#/, "").split("?")[0] !== "/inventory") return;
    const shown = new URLSearchParams();
    if (applied.query) shown.set("query", applied.query);
    if (applied.oversold) shown.set("oversold", "1");
    for (const after of cursors.slice(1)) shown.append("after", after);
    const text = shown.toString();
    history.replaceState(history.state, "", `#/inventory${text ? `?${text}` : ""}`);
  }

  const readItems = latestOnly((variables) => ctx.graphql(ITEMS, variables));
  const toldDuringReads = new Set(); // per read of the list on its way, the items messages told meanwhile (load)

  /** Buttons for the page shown: after its read, or a turn that failed (the page shown stays, and can turn again). */
  function settlePager() {
    next.disabled = !hasNextPage;
    previous.disabled = cursors.length === 1;
  }

  /** Read `pages`' last page (the current one by default); they become the pages shown once it is shown. An item
   * `inventoryItemUpdated` told while the read was on its way (`told`) is shown as told where that is newer (its
   * `version`) than the answer, which the server may have given before the change: the older answer showed the
   * older counters for good, the message, for a row not shown yet, dropped (flake65; the Task Center's list had the
   * same race). */
  async function load(pages = [...cursors]) {
    const variables = { after: pages[pages.length - 1], ...applied };
    table.setAttribute("aria-busy", "true"); // the rows shown are not those asked for yet: until they come
    const told = new Map(); // item id -> its newest message while this read is on its way
    toldDuringReads.add(told);
    try {
      const data = await readItems(variables);
      if (data === SUPERSEDED) return; // a later search, page or reconnection read the list again (and says when done)
      table.removeAttribute("aria-busy");
      cursors.splice(0, cursors.length, ...pages);
      shownList = { query: variables.query, oversold: variables.oversold };
      const page = data.inventoryItems;
      items.clear();
      rows.clear();
      const first = (cursors.length - 1) * PAGE + 1;
      summary.textContent = page.totalCount
        ? `${number(first)} to ${number(first + page.edges.length - 1)} of ${number(page.totalCount)}`
        : variables.query || variables.oversold
          ? "No item matches."
          : "No inventory item yet. Items appear when a shop's products are imported; New item above creates one.";
      fill(body, page.edges.map(({ node }) => {
        const item = told.get(node.id)?.version > node.version ? told.get(node.id) : node;
        items.set(item.id, item);
        const tr = row(item);
        rows.set(item.id, tr);
        return tr;
      }));
      endCursor = page.pageInfo.endCursor;
      hasNextPage = page.pageInfo.hasNextPage;
      settlePager();
      remember();
    } catch (exc) {
      table.removeAttribute("aria-busy");
      // a cursor of the address the API does not take (edited, or from another deployment): the list's first page
      if (exc.code === "BAD_USER_INPUT" && pages.length > 1) return load([null]);
      // the rows shown are another search's (or filter's), and would read as this one's results
      const otherList = shownList !== null && (shownList.query !== variables.query || shownList.oversold !== variables.oversold);
      if (exc.code === "BAD_USER_INPUT" || otherList) {
        items.clear();
        rows.clear();
        fill(body, []);
        shownList = null;
        // refused by the API, or never answered (Shopbridge unreachable: newcomer57 F6, the previous list stayed
        // under the new search, "1 to 20 of 126" under "SB-0003")
        summary.textContent = exc.code === "BAD_USER_INPUT"
          ? "No item shown: Shopbridge could not run this search. Change it and search again."
          : "No item shown: this search could not be sent to Shopbridge. Search again once it can be reached.";
        hasNextPage = false;
        if (exc.code !== "BAD_USER_INPUT") announce(exc.message, { kind: "error" });
        return settlePager();
      }
      announce(exc.message, { kind: "error" });
      settlePager();
    } finally {
      toldDuringReads.delete(told);
    }
  }

  /** Turn to `pages`' last page; both buttons wait for it (a second click of a double-click does nothing). */
  function turn(pages) {
    next.disabled = previous.disabled = true;
    load(pages);
  }

  function row(item, changed = new Set()) {
    const cell = (field, label) => h("td", { "data-label": label, class: `num${changed.has(field) ? " changed" : ""}${field === "available" && item.oversold ? " oversold" : ""}` },
      number(item[field]));
    return h("tr", { class: item.oversold ? "oversold" : null },
      h("th", { scope: "row" }, h("a", { href: `#/inventory/${encodeURIComponent(item.id)}` }, item.sku), " ", oversoldBadge(item)),
      COUNTERS.map(([field, label]) => cell(field, label)),
      h("td", { "data-label": "Shops" }, item.links.length
        ? item.links.map((link) => linkLine(withShopAsSent(link, linkShops.shops)))
        : h("span", { class: "muted small" }, "No shop SKU linked")));
  }

  function update(item) {
    const known = items.get(item.id);
    if (!known || item.version < known.version) return; // not on this page, or older than what is shown
    items.set(item.id, item);
    const changed = new Set(COUNTERS.map(([f]) => f).filter((f) => known[f] !== item[f]));
    // in place: a live update (a push, a sale) must not replace the link a merchant is clicking or has focused (a
    // click whose press and release straddled a replaced row was lost)
    const tr = rows.get(item.id);
    patch(tr, row(item, changed));
    // a counter marked by the update before and changed again: its mark plays again (its class stayed as it was)
    for (const cell of tr.querySelectorAll(".changed")) {
      cell.classList.remove("changed");
      void cell.offsetWidth; // the style without the mark is applied, so adding it back starts its animation anew
      cell.classList.add("changed");
    }
    const said = describeChange(known, item);
    if (said) changes.textContent = said;
  }

  function restart() {
    // another list: the previous search's pages are not turned any more, even if its first page fails
    cursors.length = 1;
    hasNextPage = false;
    const [query, hadControls] = withoutControls(search.value);
    search.value = query;
    if (hadControls) announce(CONTROL_REMOVED);
    applied = { query: query.trim() || null, oversold: oversold.checked || null };
    turn([null]);
  }

  next.addEventListener("click", () => turn([...cursors, endCursor]));
  previous.addEventListener("click", () => turn(cursors.slice(0, -1)));
  oversold.addEventListener("change", restart);

  // "New item": an item for a SKU typed here (`inventoryItemCreate`), then its page, where its shop SKUs are linked.
  // The items of a merchant none of whose shop SKUs has a seller SKU: imports create none, and "Link a SKU" (and its
  // "Create an item") is on an item's page, so the console offered no way to a first item (newcomer57 F11).
  const newSku = h("input", { id: "new-item-sku", name: "sku", autocomplete: "off", "aria-describedby": "new-item-sku-error" });
  const newSkuError = h("p", { id: "new-item-sku-error", class: "field-error", role: "alert" });
  const newOnHand = h("input", { id: "new-item-on-hand", name: "onHand", type: "number", step: 1, min: 0, max: MAX_UNITS,
    required: true, inputmode: "numeric", value: "0", "aria-describedby": "new-item-on-hand-error" });
  const newOnHandError = h("p", { id: "new-item-on-hand-error", class: "field-error", role: "alert" });
  const createButton = h("button", { type: "submit", class: "primary" }, "Create item");
  let createLost = () => {}; // stops the read telling a create whose answer was lost (readUntilAnswered)
  for (const [input, error] of [[newSku, newSkuError], [newOnHand, newOnHandError]]) {
    input.addEventListener("input", () => {
      error.textContent = ""; // it was about the value sent
      if (input === newSku) {
        createLost(); // another SKU: the doubt was about the one sent
        askedLookAlike = null; // another SKU: asked again if it looks like an item's
      }
    });
  }

  /** The new item's page, saying it is created (as an answered create does). */
  function openCreated(item) {
    const message = `${item.sku} is created with ${number(item.onHand)} on hand. Link its shop SKUs below.`;
    // its page; the notice once it is shown (the router takes down the notice of the page left)
    window.addEventListener("hashchange", () => announce(message, { kind: "success" }), { once: true });
    ctx.navigate(`#/inventory/${encodeURIComponent(item.id)}`);
  }

  /** A create whose answer was lost (js/unsaved.js answerLost): it may have made the item. The SKU is read (js/api.js
   * `itemBySku`: a merchant's SKU is unique) now and until a read answers: an item of it that the read before the
   * send did not find (`before` null) was made by it, and its page opens as an answered create's; none, it was not
   * created and the form keeps what was typed, to be sent again. It said "Shopbridge cannot be reached" of an item
   * perhaps made (console60's "Found but not fixed"). */
  function answerLostFor(sku, before) {
    const subject = `“${sku}”`;
    newSkuError.textContent = mayHaveBeen(subject, "created");
    createLost = readUntilAnswered(ctx, () => itemBySku(ctx.graphql, sku, CREATED_FIELDS), (item) => {
      createLost = () => {};
      if (item && !before) return openCreated(item);
      newSkuError.textContent = wasNot(subject, "created", item
        ? "an inventory item with this SKU already exists. Find it in Inventory instead."
        : "Shopbridge has no item with this SKU. Press Create item to send it again.");
    });
  }

  let askedLookAlike = null; // a SKU the merchant was asked about (lookAlike): created if sent again

  const lookAlike = (sku) => lookAlikeSku(ctx.graphql, sku);

  async function createItem(event) {
    event.preventDefault();
    if (createButton.disabled) return; // one item per submission: a double-click, or Enter pressed twice
    createLost(); // sent again: this answer tells it
    newSkuError.textContent = newOnHandError.textContent = "";
    const input = { sku: newSku.value, onHand: newOnHand.valueAsNumber };
    const unsendable = unsendableSku(input.sku);
    if (unsendable) {
      newSkuError.textContent = unsendable;
      return newSku.focus();
    }
    createButton.disabled = true;
    createButton.textContent = "Creating…";
    const sku = input.sku.normalize("NFC").trim(); // as the server stores it (domain/inventory/items.py sku_as_typed)
    try {
      // The SKU read first: a lost answer is told by an item of it that this read did not find. Unread, nothing is
      // sent, and the line says why (Shopbridge cannot be reached: nothing was created).
      const before = await itemBySku(ctx.graphql, sku);
      // A SKU equal to an item's but for case or width (tryout61 F3: "Sb-00000-black" beside "SB-00000-Black") is
      // allowed, SKUs being exact as TikTok's seller SKUs are, but asked once first: the look-alike would be listed
      // above the real item. The search folds case and width already (inventoryItems(query:)).
      const twin = before ? null : await lookAlike(sku);
      if (twin && askedLookAlike !== sku) {
        askedLookAlike = sku;
        newSkuError.textContent = `${twin} exists: create ${sku} as a separate item? Press Create item again to create it.`;
        return newSku.focus();
      }
      let result;
      try {
        result = (await ctx.graphql(CREATE, { input }, { change: `The new item “${sku}”` })).inventoryItemCreate;
      } catch (exc) {
        if (!answerLost(exc)) throw exc;
        return answerLostFor(sku, before);
      }
      if (result.userErrors.length) {
        const [refusal] = result.userErrors;
        const onHandField = refusal.field?.[0] === "onHand";
        (onHandField ? newOnHandError : newSkuError).textContent = explain(refusal);
        (onHandField ? newOnHand : newSku).focus();
        return;
      }
      openCreated(result.inventoryItem);
    } catch (exc) {
      newSkuError.textContent = exc.message;
    } finally {
      createButton.disabled = false;
      createButton.textContent = "Create item";
    }
  }
  fill(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Inventory")),
    h("p", { class: "help" }, "One stock per merchant SKU, shared by every shop whose SKU is linked to it. ",
      "Available = on hand − reserved − safety stock; at 0 or below, every shop is pushed 0. ",
      "Oversold: more units reserved than on hand."), // schema.graphql InventoryItem.oversold, whatever the safety stock
    // "New item" above the list, whose first read, landing, would push a form below it down between the press and the
    // release of a click on Create item: the release fell elsewhere and the click was lost (stop65 section 0, tryout66)
    h("form", { class: "card new-item", "aria-labelledby": "new-item-title", onsubmit: createItem },
      h("h2", { id: "new-item-title" }, "New item"),
      h("p", { class: "help" }, "An item for a SKU of yours that no import created (a shop SKU with no seller SKU, say). ",
        "Its page then links shop SKUs to it."),
      h("label", { for: "new-item-sku" }, "Item SKU"), newSku, newSkuError,
      h("label", { for: "new-item-on-hand" }, "On hand (units)"), newOnHand, newOnHandError,
      createButton),
    h("form", { class: "inline filters", role: "search", onsubmit: (event) => { event.preventDefault(); restart(); } },
      h("label", { for: "inventory-query" }, "Search by SKU"), search,
      h("button", { type: "submit" }, "Search"),
      h("label", { class: "choice", for: "inventory-oversold" }, oversold, "Oversold only")),
    summary,
    changes,
    table,
    h("nav", { class: "pager", "aria-label": "Pages" }, previous, next),
  );
  // a shop changed elsewhere: the link lines naming it take its new name, in place (as js/links.js does on an item's
  // page; they kept the old one until a reload, try-out verify51), and say whether TikTok receives the item's stock
  // as its status and push are now: a revocation or a re-authorization changes no item (tryout61 F4). No read: the
  // message carries what the lines show (js/shopnames.js withShopAsSent, in `row`).
  const linkShops = followLinkShops(ctx, (shop, before) => {
    if (before && !shopDiffers(before, shop)) return; // (its counts, say: nothing a line shows)
    for (const item of [...items.values()]) {
      if (item.links.some((link) => link.shop?.id === shop.id && (before || shopDiffers(link.shop, shop)))) {
        patch(rows.get(item.id), row(item));
      }
    }
  });
  load();
  if (linkHadControls) announce(CONTROL_REMOVED);
  const stop = ctx.socket.subscribe(ITEM_UPDATES, {}, {
    next: (payload) => {
      const item = payload.data?.inventoryItemUpdated;
      if (!item) return;
      for (const told of toldDuringReads) if (!(told.get(item.id)?.version > item.version)) told.set(item.id, item);
      update(item);
    },
  });
  // the pages shown read again: an item gone with the shop leaves, the others without its links
  const stopDeletions = ctx.socket.subscribe(SHOP_DELETIONS, {}, {
    next: (payload) => payload.data?.shopsDeleted && load(),
  });
  const stopReconnect = ctx.socket.onReconnect(() => load());
  return () => {
    stopped = true;
    stop();
    stopDeletions();
    linkShops.stop();
    stopReconnect();
    createLost();
  };
}
