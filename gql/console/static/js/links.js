// An item's shop SKUs: each link (shop, SKU, state, source, pushed quantity and time, units held back, push error)
// with Unlink, and "Link a SKU": a shop's SKUs that draw on no item (unlinkedSkus), each with the reason, 20 at a
// time.

import { allShops, itemBySku, latestOnly, SUPERSEDED } from "./api.js";
import { announce, fill, focusLabelled, h, keepingFocus, number, patchRows, time } from "./dom.js";
import { heldBack, lookAlikeSku, notOnSale, notReceiving, SHOP_DELETIONS } from "./inventory.js";
import { explain, LINK_REASONS, LINK_SOURCES, LINK_STATES, unsendableSku } from "./messages.js";
import { followLinkShops, shopDiffers, withShopAsSent } from "./shopnames.js";
import { answerLost, mayHaveBeen, readUntilAnswered, wasNot } from "./unsaved.js";

const UNLINKED = `query Unlinked($shopId: ID!, $after: String) { unlinkedSkus(shopId: $shopId, first: 20, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { state source productStatus sku { id tiktokSkuId sellerSku quantity } } } } }`;
const LINK_PAYLOAD = "skuLink { state source } userErrors { code field message }";
// The item after the link (its open orders reserved here): what Shopbridge sets the SKU's TikTok stock to.
const LINK = `mutation Link($input: SkuLinkInput!) { skuLink(input: $input) { skuLink { state source
  inventoryItem { available oversold } } userErrors { code field message } } }`;
// What a Link would set the SKU's TikTok stock to, read when Link is pressed: the item's available now and the shop's
// push policy and status (tryout60 F2: a Link rewrote a live listing's stock, 301 → 45, without a word).
const LINK_PREVIEW = `query LinkPreview($shopId: ID!, $itemId: ID!) { shop(id: $shopId) { status
  inventoryPolicy { pushEnabled sharePercent maxQuantity outOfStockThreshold } }
  inventoryItem(id: $itemId) { available oversold } }`;
const UNLINK = `mutation Unlink($input: SkuUnlinkInput!) { skuUnlink(input: $input) { ${LINK_PAYLOAD} } }`;
const CREATED_FIELDS = "id sku onHand reserved available"; // what the dialog says of the item it created
const CREATE = `mutation CreateItem($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { ${CREATED_FIELDS} } userErrors { code field message } } }`;
// Refusals of a create from a SKU on `skuId` (nothing was created): the dialog closes, the list is read again.
const CREATE_REFUSALS = {
  SKU_LINK_CHANGED: "This SKU was linked to an item in another tab or on another device since the list was read, so "
    + "no item was created. The list has been refreshed.",
  NOT_FOUND: "This SKU or its shop does not exist any more, so no item was created. The list has been refreshed.",
  PRODUCT_DELETED: "This SKU's product was deleted at TikTok, which sells it no more, so no item was created from it. "
    + "The list has been refreshed.",
  SKU_NOT_LINKABLE: "This SKU is a bundle: TikTok works out its stock from its parts, so no item was created from it.",
};
// How many items each seller SKU's search reads to find the item of that very SKU (`twins`): 20 SKUs a page, well
// within the API's 5,000 objects a request.
const TWIN_SEARCH = 50;
// The server's bound on units (domain/inventory/items.py MAX_UNITS), as inventory-item.js: stopped at the field.
const MAX_UNITS = 1_000_000_000;

const skuName = (sku) => sku.sellerSku || `TikTok SKU ${sku.tiktokSkuId}`;
// TikTok's cap on a SKU's stock (tiktok-api.md §9 Update Inventory: 0 to 99,999).
const TIKTOK_MAX = 99_999;

/** The stock a push sets a linked SKU to (units): 0 for an oversold item or one at or below the shop's out-of-stock
 * threshold, else min(floor(available × sharePercent / 100), maxQuantity, 99,999). The rule is the API's, as
 * schema.graphql `InventoryPolicy` states it. */
export function pushTarget(item, policy) {
  if (item.oversold || item.available <= policy.outOfStockThreshold) return 0;
  return Math.max(0, Math.min(Math.floor((item.available * policy.sharePercent) / 100), policy.maxQuantity ?? TIKTOK_MAX, TIKTOK_MAX));
}

/** Why no push reaches the SKU now, in words, or null: its shop's authorization ended, its push is off, or its
 * product is not on sale (schema.graphql ShopStatus, InventoryPolicy.pushEnabled, SkuLink.productStatus). */
function pushWaits(shop, productStatus) {
  if (shop.status === "EXPIRED" || shop.status === "REVOKED") return "once the shop is re-authorized";
  if (!shop.inventoryPolicy.pushEnabled) return "once push is turned on for this shop";
  if (productStatus && productStatus !== "ACTIVATE") return "once TikTok sells its product again";
  return null;
}
/** "SKU-1 on Maple": a link as its Unlink button and dialog name it. */
const linkLabel = (link) => `${skuName(link.sku)} on ${link.shop?.name ?? "a deleted shop"}`;

/** Returns {element, show(item), stop()}; `changed()` is called after a link or unlink, and after a shop was deleted
 * elsewhere (the page reads the item again; `changed({ quiet: true })` resolves to the item read, or null without
 * announcing a failure); `stop()` ends the section's subscription. */
export function renderLinks(ctx, itemId, changed) {
  const linked = h("tbody");
  const candidates = h("tbody");
  const shopSelect = h("select", { id: "link-shop", name: "shop" });
  const candidateSummary = h("p", { class: "muted", "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "More SKUs");
  // The paging of the list belongs to the shop it lists: `cursor` is the end of `shopId`'s rows shown. A first page
  // read (another shop picked, the list read again after a link) forgets it and hides "More SKUs" until its answer:
  // clicked meanwhile, More read the shop now picked from the previous shop's cursor (a wrong or empty next page)
  // and appended it to the previous shop's rows.
  let paging = { shopId: null, cursor: null };
  // The latest read wins (api.js latestOnly): a shop picked while another shop's SKUs were on their way showed those
  // when they came in last, under the shop now picked, with their Link buttons naming it.
  const readCandidates = latestOnly((variables) => ctx.graphql(UNLINKED, variables));

  // The links shown, by their shop SKU's id (each row's `data-key`), for the rows' one Unlink listener below.
  const shown = new Map();
  let itemSku = "this item"; // the item's SKU as shown, naming a link's change (until the item is read)
  let shownItem = null; // the item as last shown (read), shown again when one of its links' shops changes

  // A live update (inventoryItemUpdated: a push, a sale) changes the rows in place (dom.js patchRows): the Unlink
  // button a merchant is pressing stays the same element, so the click lands (a row rendered anew took the button
  // from under the pointer between press and release, and the click was lost), and so does the focus. A row that
  // comes or moves (a link made elsewhere) gets the focus back on the control of the same name (keepingFocus).
  function show(item) {
    itemSku = item.sku;
    shownItem = item;
    shown.clear();
    // each link's shop as `shopsUpdated` last sent it (js/shopnames.js): its name, and its status and push for the note
    const links = item.links.map((link) => withShopAsSent(link, linkShops.shops));
    for (const link of links) shown.set(link.sku.id, link);
    keepingFocus(linked, () => patchRows(linked, links.length
      ? links.map((link) => h("tr", { dataset: { key: link.sku.id } },
        h("th", { scope: "row" }, link.shop?.name ?? "Deleted shop"),
        h("td", { "data-label": "SKU" }, skuName(link.sku), link.sku.sellerSku ? h("div", { class: "muted small" }, `TikTok SKU ${link.sku.tiktokSkuId}`) : null),
        h("td", { "data-label": "State" }, `${LINK_STATES[link.state] ?? link.state}, ${LINK_SOURCES[link.source] ?? link.source}`),
        h("td", { "data-label": "Pushed" }, link.pushedQuantity === null ? h("span", { class: "muted" }, "Not yet")
          : [`${number(link.pushedQuantity)} on `, time(link.pushedAt),
            heldBack(link) ? h("div", { class: "small" }, heldBack(link)) : null],
          notOnSale(link) ? h("div", { class: "small not-on-sale" }, notOnSale(link)) : null,
          notReceiving(link) && !notOnSale(link) ? h("div", { class: "small not-pushed push-error" }, notReceiving(link)) : null),
        h("td", { "data-label": "Push error" }, link.pushErrorCode ? h("code", { class: "push-error" }, link.pushErrorCode) : "—"),
        h("td", { class: "actions" }, h("button", { type: "button", class: "danger", "aria-label": `Unlink ${linkLabel(link)}`,
          dataset: { action: "unlink" } }, "Unlink"))))
      : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No shop SKU draws on this item. Link one below."))]));
  }

  // One listener for every row's Unlink: a patched row keeps its button but not a listener of a new rendering, so
  // the button's link is found by its row's key, as the latest update shows it.
  linked.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action=unlink]");
    const link = button && shown.get(button.closest("tr").dataset.key);
    if (link) confirmUnlink(link, linkLabel(link), button);
  });

  /** Sends the change, named `change` (app.js pageGraphql), and says how it went; true when it was made. One whose
   * answer was lost (js/unsaved.js: perhaps made; it said "Shopbridge cannot be reached", tryout58 F-low-b's rule)
   * says it may have been (un)linked, reads the item again and says whether its SKU is linked to it now; `[subject,
   * done]` word that doubt and its "was not" (js/unsaved.js mayHaveBeen: "SB-1 on Maple", "linked to SB-1"). */
  async function run(query, input, key, change, success, [subject, done]) {
    try {
      const result = (await ctx.graphql(query, { input }, { change }))[key];
      if (result.userErrors.length) {
        announce(explain(result.userErrors[0]), { kind: "error" });
        // NOT_FOUND: the SKU went with its shop, deleted elsewhere, or this item did. The sentence says the list has
        // been refreshed: read the item, the shops and their SKUs again (the console went on offering them, each
        // Link refused the same way).
        if (result.userErrors[0].code === "NOT_FOUND") {
          changed();
          loadShops();
        }
        // PRODUCT_DELETED: TikTok deleted the SKU's product since the list was read; it is in no list any more (the
        // pool leaves it out): read the item and the SKUs to link again, as for NOT_FOUND. The console went on
        // offering it, "Unlinked" with its Link button, each click refused the same way (verify49).
        // SKU_LINK_CHANGED: another tab linked it since the list was read (tryout58 F3): the list read again drops it.
        if (["PRODUCT_DELETED", "SKU_LINK_CHANGED"].includes(result.userErrors[0].code)) {
          changed();
          loadCandidates();
        }
        return false;
      }
      announce(typeof success === "function" ? success(result) : success, { kind: "success" });
      changed();
      loadCandidates();
      return true;
    } catch (exc) {
      if (!answerLost(exc)) {
        announce(exc.message, { kind: "error" });
        return false;
      }
      announce(mayHaveBeen(subject, done), { kind: "error" });
      const fresh = await changed({ quiet: true });
      if (!fresh) return false; // not reachable yet: the page reads the item once the socket is back
      loadCandidates();
      const linkedNow = fresh.links.some((link) => link.sku.id === input.skuId);
      const made = key === "skuLink" ? linkedNow : !linkedNow;
      announce(made ? (typeof success === "function" ? success(null) : success) : wasNot(subject, done, "the links below are the item's as saved."), { kind: made ? "success" : "error" });
      return made;
    }
  }

  // Asked first, as every destructive action of the console (stores.js: Delete): a modal <dialog> named by its
  // title, Cancel or the red action; focus goes back to the button that opened it, or the section once it is gone.
  function confirmUnlink(link, label, opener) {
    const unlinkButton = h("button", { type: "submit", class: "danger" }, "Unlink SKU");
    const dialog = h(
      "dialog",
      { "aria-labelledby": "unlink-title", "aria-describedby": "unlink-what", class: "card" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "unlink-title" }, `Unlink “${label}”?`),
        h("div", { id: "unlink-what" },
          h("p", {}, "It stops drawing on this item: Shopbridge no longer sets its TikTok stock, and its new orders no "
            + "longer reserve units here. Its open orders stay reserved here until they ship or are cancelled: they "
            + "ship from this item's shelf."),
          h("p", {}, "It keeps its TikTok stock. To draw on this item again, link it below.")),
        h("div", { class: "buttons" }, h("button", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"),
          unlinkButton),
      ),
    );
    let unlinked = false;
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      unlinkButton.disabled = true; // one change per confirmation, however often it is clicked
      // compareInventoryItemId: only if it still draws on this item (another tab may have linked it elsewhere since
      // the list was read: unlinked, that other item would lose it; review59 F6)
      unlinked = await run(UNLINK, { skuId: link.sku.id, compareInventoryItemId: itemId }, "skuUnlink", `The unlink of ${label} from ${itemSku}`,
        `${label} is unlinked: it keeps its TikTok stock, and its open orders stay reserved here until they ship.`,
        [label, `unlinked from ${itemSku}`]);
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      // back to the button that opened it (a live update while the dialog was open changed its row in place), or to
      // the button of the same name if its row came anew (moved, or read again after a refused unlink)
      const back = !unlinked && (opener.isConnected ? (opener.focus(), true) : focusLabelled(linked, opener.getAttribute("aria-label")));
      if (!back) document.getElementById("links-title")?.focus(); // its row is going: the list is read again
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  async function loadShops() {
    try {
      const shops = await allShops(ctx.graphql);
      const picked = shopSelect.value; // read again (NOT_FOUND above): the shop picked stays picked while it exists
      fill(shopSelect, shops.map((s) => h("option", { value: s.id, title: s.name, selected: s.id === picked }, s.name)));
      loadCandidates();
    } catch (exc) {
      announce(exc.message, { kind: "error" });
    }
  }

  async function loadCandidates(after = null) {
    if (!shopSelect.value) {
      candidates.replaceChildren(); // the rows of a shop deleted since, whose Links would be refused
      more.hidden = true;
      candidateSummary.textContent = "Connect a shop first.";
      return;
    }
    const shopId = shopSelect.value;
    if (!after) {
      paging = { shopId: null, cursor: null };
      more.hidden = true;
    }
    try {
      const data = await readCandidates({ shopId, after });
      // another shop picked, or the list read again, since; a "More SKUs" answer for a shop no longer picked
      if (data === SUPERSEDED || shopId !== shopSelect.value) return;
      const page = data.unlinkedSkus;
      const read = ++candidateReads;
      const named = await twins(page.edges.map(({ node }) => node));
      if (read !== candidateReads || shopId !== shopSelect.value) return; // a later read's rows are the ones shown
      if (!after) candidates.replaceChildren();
      candidates.append(...page.edges.map(({ node }) => candidate(node, named)));
      candidateSummary.textContent = page.totalCount
        ? page.totalCount === 1 ? "1 SKU of this shop draws on no item." : `${number(page.totalCount)} SKUs of this shop draw on no item.`
        : "Every SKU of this shop is linked.";
      paging = { shopId, cursor: page.pageInfo.endCursor };
      more.hidden = !page.pageInfo.hasNextPage;
    } catch (exc) {
      announce(exc.message, { kind: "error" });
    }
  }

  let creating = null; // the open "Create an item" dialog: {shopId, deleted()}
  let candidateReads = 0; // the candidates' reads whose items of their seller SKUs (`twins`) were asked for

  /** By seller SKU (as matched: NFC, trimmed), the item that has it as its SKU, of the candidates `links` that have
   * one: one request, a search per seller SKU (aliases), each item's SKU compared exactly as a link matches. An item
   * of that SKU exists: "Create an item" would be refused SKU_ALREADY_EXISTS (tryout58 F-low-e), so the row names
   * that item instead. A read that fails offers Create as before (the server still refuses a twin). */
  async function twins(links) {
    const names = [...new Set(links.filter((link) => link.state !== "EXCLUDED" && link.sku.sellerSku)
      .map((link) => link.sku.sellerSku.normalize("NFC").trim()).filter(Boolean))];
    if (!names.length) return new Map();
    const variables = Object.fromEntries(names.map((name, i) => [`q${i}`, name]));
    const query = `query Twins(${names.map((_, i) => `$q${i}: String`).join(", ")}) { ${names.map((_, i) =>
      `t${i}: inventoryItems(query: $q${i}, first: ${TWIN_SEARCH}) { edges { node { id sku } } }`).join(" ")} }`;
    try {
      const data = await ctx.graphql(query, variables);
      return new Map(names.flatMap((name, i) => {
        const item = data[`t${i}`].edges.map(({ node }) => node).find((node) => node.sku === name);
        return item ? [[name, item]] : [];
      }));
    } catch {
      return new Map();
    }
  }

  function candidate(link, named = new Map()) {
    const shopName = shopSelect.selectedOptions[0]?.textContent ?? "";
    const label = `${skuName(link.sku)} on ${shopName}`;
    return h("tr", {},
      h("th", { scope: "row" }, skuName(link.sku), link.sku.sellerSku ? h("div", { class: "muted small" }, `TikTok SKU ${link.sku.tiktokSkuId}`) : null),
      h("td", { "data-label": "Why" }, h("strong", {}, LINK_STATES[link.state] ?? link.state), ": ", LINK_REASONS[link.state] ?? ""),
      h("td", { "data-label": "TikTok stock", class: "num" }, number(link.sku.quantity)),
      h("td", { class: "actions" }, link.state === "EXCLUDED" ? h("span", { class: "muted small" }, "Cannot be linked")
        : [h("button", { type: "button", "aria-label": `Link ${label}`,
          // compareInventoryItemId null: only if it still draws on no item (another tab may have linked it: tryout58 F3)
          onclick: (e) => linkAsking(e.currentTarget, link, label) }, "Link"),
        // A SKU with no twin among the items (no seller SKU, or one no item has): an item of its own, linked to it
        // (newcomer57 F11: only the API could create one, and the merchant had to go there). One an item has: that
        // item named, and a way to it, instead of a Create refused SKU_ALREADY_EXISTS (tryout58 F-low-e).
        twinOf(link, named)
          ? h("span", { class: "muted small twin" }, twinOf(link, named).id === itemId
            ? "This item has this seller SKU: link it here."
            : ["Item ", h("a", { href: `#/inventory/${encodeURIComponent(twinOf(link, named).id)}` }, twinOf(link, named).sku),
              " has this seller SKU: open it to link the SKU there."])
          : h("button", { type: "button", "aria-label": `Create an item from ${label}`,
            onclick: (e) => createFrom(link.sku, label, e.currentTarget) }, "Create an item")]));
  }

  const twinOf = (link, named) => (link.sku.sellerSku ? named.get(link.sku.sellerSku.normalize("NFC").trim()) : undefined);

  /** "Create an item from this SKU": a dialog asking the new item's SKU (the seller SKU where there is one) and, if
   * the merchant wants, its on-hand; then one `inventoryItemCreate` with `skuId`, which creates the item and links
   * the SKU to it in one step (seed59), and the new item's page. Nothing is created when it is refused: the SKU
   * linked meanwhile (SKU_LINK_CHANGED), its shop deleted (NOT_FOUND), its product deleted at TikTok.
   *
   * The on-hand left empty starts the item as an import does: from the SKU's TikTok stock plus the units of its open
   * orders, which that stock leaves out and which reserve on the item (README, "An item created from a shop SKU"),
   * so TikTok then shows what it shows now. Prefilled with TikTok's stock alone, it counted those orders twice
   * (tryout58 F2). A number typed is the merchant's count of the shelf, unshipped orders' units included. The dialog
   * closes when its shop is deleted elsewhere (`shopsDeleted`, tryout58 F4). */
  function createFrom(sku, label, opener) {
    const shopId = shopSelect.value;
    const shopName = shopSelect.selectedOptions[0]?.textContent ?? "";
    const skuError = h("p", { id: "create-sku-error", class: "field-error", role: "alert" });
    const onHandError = h("p", { id: "create-on-hand-error", class: "field-error", role: "alert" });
    const formError = h("p", { class: "field-error", role: "alert" });
    const skuInput = h("input", { id: "create-sku", name: "sku", value: sku.sellerSku ?? "", autocomplete: "off",
      "aria-describedby": "create-sku-help create-sku-error" });
    const onHand = h("input", { id: "create-on-hand", name: "onHand", type: "number", step: 1, min: 0, max: MAX_UNITS,
      inputmode: "numeric", "aria-describedby": "create-on-hand-help create-on-hand-error" });
    const createButton = h("button", { type: "submit", class: "primary" }, "Create and link");
    let createLost = () => {}; // stops the read telling a create whose answer was lost (readUntilAnswered)
    let askedLookAlike = null; // an item SKU the merchant was asked about (lookAlikeSku): created if sent again
    for (const [input, error] of [[skuInput, skuError], [onHand, onHandError]]) {
      input.addEventListener("input", () => {
        error.textContent = ""; // it was about the value sent
        formError.textContent = "";
        createLost(); // another item: the doubt was about the one sent
      });
    }
    const dialog = h(
      "dialog",
      { "aria-labelledby": "create-title", "aria-describedby": "create-what", class: "card" },
      h(
        "form",
        { method: "dialog", novalidate: true }, // the on-hand's rule is said under it (`create`), not in a bubble
        h("h2", { id: "create-title" }, `Create an item from “${label}”`),
        h("p", { id: "create-what" }, "A new inventory item, with this SKU linked to it: it then draws on the item, "
          + "and Shopbridge sets its TikTok stock from the item's available (by the shop's push policy)."),
        h("label", { for: "create-sku" }, "Item SKU"),
        skuInput,
        h("p", { id: "create-sku-help", class: "help" }, sku.sellerSku
          ? "This SKU's seller SKU on TikTok."
          : "This SKU has no seller SKU on TikTok: type the SKU you use for it."),
        skuError,
        h("label", { for: "create-on-hand" }, "On hand (units, optional)"),
        onHand,
        h("p", { id: "create-on-hand-help", class: "help" }, "Leave empty to start from TikTok's stock, "
          + `${number(sku.quantity)}, and its open orders: that stock leaves out the units of this SKU's unshipped `
          + "orders, which Shopbridge adds and reserves on this item, so TikTok then shows what it shows now. Or type "
          + "every unit you have, those of its unshipped orders included. Started from TikTok's stock, the item goes "
          + "with this shop if the shop is deleted while no other shop links it; a count you type keeps it."),
        onHandError,
        formError,
        h("div", { class: "buttons" }, h("button", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"),
          createButton),
      ),
    );
    let created = null; // the item once made: the dialog's close goes to its page
    let gone = false; // its shop was deleted elsewhere: nothing more is sent
    creating = {
      shopId,
      deleted() {
        gone = true;
        if (!dialog.open) return;
        dialog.close();
        announce(`The shop “${shopName}” was deleted in another tab or on another device: no item was created from `
          + `${label}.`, { kind: "error" });
      },
    };
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (createButton.disabled) return; // one item per submission: a double-click, or Enter pressed twice
      createButton.disabled = true;
      createButton.textContent = "Creating…";
      try {
        await create();
      } finally {
        createButton.disabled = false;
        createButton.textContent = "Create and link";
      }
    });

    async function create() {
      createLost(); // sent again: this answer tells it
      for (const line of [skuError, onHandError, formError]) line.textContent = "";
      if (gone) return;
      const input = { sku: skuInput.value, skuId: sku.id };
      const unsendable = unsendableSku(input.sku);
      if (unsendable) {
        skuError.textContent = unsendable;
        return skuInput.focus();
      }
      if (onHand.value !== "" || onHand.validity.badInput) {
        if (!onHand.checkValidity() || onHand.validity.badInput) {
          onHandError.textContent = `Enter a whole number of units from 0 to ${number(MAX_UNITS)}, or leave it empty.`;
          return onHand.focus();
        }
        input.onHand = onHand.valueAsNumber;
      }
      // An item SKU equal to an item's but for case or width ("sb-00000-black" beside "SB-00000-Black") is asked once
      // first, as New item asks (js/inventory.js; tryout62 M5: created and linked at once, the look-alike then listed
      // above the real item). Unread, nothing is sent, and the line says why.
      const itemSku = input.sku.normalize("NFC").trim(); // as the server stores it (domain/inventory/items.py)
      let twin;
      try {
        twin = askedLookAlike === itemSku ? null : await lookAlikeSku(ctx.graphql, itemSku);
      } catch (exc) {
        formError.textContent = `Nothing was created: ${exc.message}`;
        return;
      }
      if (twin) {
        askedLookAlike = itemSku;
        skuError.textContent = `${twin} exists: create ${itemSku} as a separate item? Press Create and link again to `
          + "create it.";
        return skuInput.focus();
      }
      let result;
      try {
        result = (await ctx.graphql(CREATE, { input }, { change: `The item “${input.sku.trim()}” for ${label}` })).inventoryItemCreate;
      } catch (exc) {
        if (answerLost(exc)) return answerLostFor(input.sku.normalize("NFC").trim());
        formError.textContent = exc.message;
        return;
      }
      if (result.userErrors.length) {
        const [refusal] = result.userErrors;
        if (refusal.field?.[0] === "skuId") { // nothing was created: the SKU is no longer one to create from
          dialog.close();
          announce(CREATE_REFUSALS[refusal.code] ?? explain(refusal), { kind: "error" });
          changed();
          loadShops();
          return;
        }
        const onField = { sku: [skuError, skuInput], onHand: [onHandError, onHand] }[refusal.field?.[0]];
        (onField?.[0] ?? formError).textContent = explain(refusal);
        onField?.[1].focus();
        return;
      }
      openCreated(result.inventoryItem);
    }

    /** The dialog closes on the new item's page, saying it is created and linked (as an answered create does). */
    function openCreated(item) {
      created = item;
      const message = `${item.sku} is created with ${number(item.onHand)} on hand, ${number(item.reserved)} reserved `
        + `by open orders (${number(item.available)} available), and ${label} is linked to it: it now draws on this item.`;
      dialog.close();
      // The new item's page; the notice once it is shown (the router takes down the notice of the page left).
      window.addEventListener("hashchange", () => announce(message, { kind: "success" }), { once: true });
      ctx.navigate(`#/inventory/${encodeURIComponent(item.id)}`);
    }

    /** A create whose answer was lost (js/unsaved.js answerLost): it may have made the item and linked the SKU. The
     * item SKU `itemSku` (as the server stores it) is read (js/api.js `itemBySku`: a merchant's SKU is unique) now and
     * until a read answers: its item with this shop SKU linked was made by it (one step, seed59), and the dialog closes
     * on its page as an answered create's; one without it is another item (refused SKU_ALREADY_EXISTS, or made
     * elsewhere), said under the SKU as that refusal is; none, it was not created and the dialog keeps what was typed,
     * to be sent again. It said "Shopbridge cannot be reached" of an item perhaps made (console60's "Found but not
     * fixed"). Closing the dialog, or editing it, ends the read. */
    function answerLostFor(itemSku) {
      const subject = `“${itemSku}”`;
      formError.textContent = mayHaveBeen(subject, "created");
      const fields = `${CREATED_FIELDS} links { sku { id } }`;
      createLost = readUntilAnswered(ctx, () => itemBySku(ctx.graphql, itemSku, fields), (item) => {
        createLost = () => {};
        if (item?.links.some((link) => link.sku.id === sku.id)) return openCreated(item);
        if (item) {
          formError.textContent = "";
          skuError.textContent = wasNot(subject, "created", "an inventory item with this SKU already exists. Find it "
            + "in Inventory instead.");
          return skuInput.focus();
        }
        formError.textContent = wasNot(subject, "created", "Shopbridge has no item with this SKU. Press Create and "
          + "link to send it again.");
      });
    }

    dialog.addEventListener("close", () => {
      createLost();
      dialog.remove();
      creating = null;
      if (!created && opener.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    skuInput.focus();
  }

  /** One link per click, none while one is under way (as inventory-item.js `once`): a double-click sent two. The
   * button stays disabled once linked: its row goes when the list is read again. */
  async function linkOnce(button, input, change, success, doubt) {
    if (button.disabled) return;
    button.disabled = true;
    if (!(await run(LINK, input, "skuLink", change, success, doubt))) button.disabled = false;
  }

  /** Link `link`'s SKU to this item, asking first when that changes its TikTok stock (tryout60 F2): Link rewrote a
   * live listing's stock (301 → 45) in one click, and Unlink does not give it back. The item's available and the
   * shop's push policy are read when Link is pressed; the same stock links at once. The success says the stock set,
   * from the item as the link left it (its open orders then reserve here). A read that fails links nothing. */
  async function linkAsking(button, link, label) {
    if (button.disabled) return;
    button.disabled = true;
    const shopId = shopSelect.value;
    let preview;
    try {
      preview = await ctx.graphql(LINK_PREVIEW, { shopId, itemId });
    } catch (exc) {
      announce(exc.message, { kind: "error" });
      button.disabled = false;
      return;
    }
    if (!preview.shop || !preview.inventoryItem) { // gone since the list was read: the list is read again
      announce(`${label} was not linked: its shop or this item does not exist any more. The list has been refreshed.`, { kind: "error" });
      changed();
      loadShops();
      return;
    }
    const before = link.sku.quantity;
    const target = pushTarget(preview.inventoryItem, preview.shop.inventoryPolicy);
    const waits = pushWaits(preview.shop, link.productStatus);
    const input = { skuId: link.sku.id, inventoryItemId: itemId, compareInventoryItemId: null };
    const change = `The link of ${label} to ${itemSku}`;
    const success = (result) => {
      const after = result?.skuLink?.inventoryItem ? pushTarget(result.skuLink.inventoryItem, preview.shop.inventoryPolicy) : target;
      const stock = after === before
        ? `Its TikTok stock stays ${number(before)}.`
        : `Shopbridge sets its TikTok stock from ${number(before)} to ${number(after)}${waits ? ` ${waits}` : ""}.`;
      return `${label} is linked: it now draws on this item, and its open orders reserve units here. ${stock}`;
    };
    if (target === before) {
      button.disabled = false;
      return linkOnce(button, input, change, success, [label, `linked to ${itemSku}`]);
    }
    confirmLink({ label, before, target, waits, available: preview.inventoryItem.available, opener: button,
      send: () => run(LINK, input, "skuLink", change, success, [label, `linked to ${itemSku}`]) });
  }

  // Asked first, as Unlink is: a modal <dialog> naming the SKU's TikTok stock now and what it becomes.
  function confirmLink({ label, before, target, waits, available, opener, send }) {
    const linkButton = h("button", { type: "submit", class: "primary" }, "Link and set TikTok stock");
    const dialog = h(
      "dialog",
      { "aria-labelledby": "link-confirm-title", "aria-describedby": "link-confirm-what", class: "card" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "link-confirm-title" }, `Link “${label}”?`),
        h("div", { id: "link-confirm-what" },
          h("p", {}, `TikTok's stock of this SKU becomes ${number(target)} instead of ${number(before)}${waits ? ` ${waits}` : ""}: `
            + `Shopbridge sets it from this item's available (${number(available)}) by the shop's push policy (less, if `
            + "the SKU's open orders reserve units here)."),
          h("p", {}, `Unlinking it later does not give the ${number(before)} back: it keeps the stock Shopbridge set.`)),
        h("div", { class: "buttons" }, h("button", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"),
          linkButton),
      ),
    );
    let linked = false;
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (linkButton.disabled) return; // one link per confirmation, however often it is clicked
      linkButton.disabled = true;
      linked = await send();
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (!linked) opener.disabled = false; // cancelled or refused: it may be linked later
      if (!linked && opener.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  shopSelect.addEventListener("change", () => {
    candidates.replaceChildren(); // the previous shop's rows, with their Link buttons, never show under this one
    candidateSummary.textContent = "";
    loadCandidates();
  });
  more.addEventListener("click", () => {
    if (paging.shopId === shopSelect.value && paging.cursor) loadCandidates(paging.cursor);
  });
  const element = h("section", { class: "links", "aria-labelledby": "links-title" },
    h("h2", { id: "links-title", tabindex: "-1" }, "Shop SKUs drawing on this item"),
    h("table", {}, h("thead", {}, h("tr", {}, ["Shop", "SKU", "State", "Pushed to TikTok", "Push error", "Action"].map((c) => h("th", { scope: "col" }, c)))), linked),
    h("h2", { id: "link-title" }, "Link a SKU"),
    h("div", { class: "inline" }, h("label", { for: "link-shop" }, "Shop"), shopSelect),
    candidateSummary,
    h("table", { "aria-labelledby": "link-title" },
      h("thead", {}, h("tr", {}, ["SKU", "Why it is not linked", "TikTok stock", "Action"].map((c) => h("th", { scope: "col" }, c)))), candidates),
    more);
  loadShops();
  // A shop deleted elsewhere leaves the picker, its SKUs the list, and its links the item at once: the picker kept
  // offering it ("Every SKU of this shop is linked."), each Link refused NOT_FOUND.
  const stop = ctx.socket.subscribe(SHOP_DELETIONS, {}, {
    next: (payload) => {
      if (!payload.data?.shopsDeleted) return;
      if (creating?.shopId === payload.data.shopsDeleted) creating.deleted(); // its "Create an item" dialog closes
      changed();
      loadShops();
    },
  });
  // A shop changed elsewhere: the "Link a SKU" picker follows its name, as it follows a deletion; the links' rows
  // its name, and whether TikTok receives the item's stock as its status and push are now (a revocation, an
  // authorization ending, a re-authorization or push turned off or on changes no item: the note stayed wrong until a
  // reload, tryout61 F4). Shown again in place from the message (`show`), with no read of the item.
  const linkShops = followLinkShops(ctx, (shop, before) => {
    const option = [...shopSelect.options].find((o) => o.value === shop.id);
    if (option && option.textContent !== shop.name) {
      option.textContent = shop.name;
      option.title = shop.name;
      if (option.selected) loadCandidates(); // its SKUs' Link buttons name the shop
    }
    if (before && !shopDiffers(before, shop)) return; // (its counts, say: nothing a row shows)
    if (shownItem?.links.some((link) => link.shop?.id === shop.id)) show(shownItem);
  });
  return {
    element,
    show,
    stop: () => {
      stop();
      linkShops.stop();
    },
  };
}
