// Store management: the shop list (Expire date, status, counts, attention), rename in place, re-authorize,
// sync now and delete with a confirmation. "Add store" lives in addstore.js.

import { allShops, ApiError, graphql } from "./api.js";
import { announce, fill, focusLabelled, h, keepingFocus, number, patch, patchRows, time } from "./dom.js";
import { explain, explainRefusal, REGION_NAMES, RETURN_WITHOUT_AUTHORIZATION, STATUS_LABELS } from "./messages.js";
import { syncNow as syncStarter } from "./syncnow.js";
import { answerLost, mayHaveBeen, readUntilAnswered, unsavedMark, wasNot } from "./unsaved.js";

const SHOP_FIELDS = `id name region status tiktokShopName tiktokShopCode sellerName expiresAt lastSyncedAt
  productCount orderCount attention { code message at } joinedSkuCount inventoryPolicy { pushEnabled }`;
const RENAME = `mutation Rename($input: ShopRenameInput!) { shopRename(input: $input) {
  shop { ${SHOP_FIELDS} } userErrors { code message field } } }`;
const REAUTHORIZE = `mutation Reauthorize($input: ShopReauthorizationStartInput!) {
  shopReauthorizationStart(input: $input) { authorizationUrl retryAt userErrors { code message } } }`;
const DELETE = `mutation Delete($input: ShopDeleteInput!) { shopDelete(input: $input) {
  deletedShopId userErrors { code message } } }`;
const SYNC = `mutation Sync($input: SyncStartInput!) { syncStart(input: $input) {
  tasks { id kind trigger } retryAt userErrors { code message } } }`;
const SHOP = `query Shop($id: ID!) { shop(id: $id) { ${SHOP_FIELDS} } }`;
const TASK_CHANGES = "subscription StoreTasks { syncTaskUpdated { id status shop { id } } }";
// Every shop first, as the server read it after this subscription joined its feed (the complete current list), then
// each shop whose name, status, attention, Expire date or counts changed (a revocation, a re-authorization, an
// announced end, a token renewal, a sale a webhook brought): one subscription for the whole list.
const SHOP_CHANGES = `subscription StoreShops { shopsUpdated { ${SHOP_FIELDS} } }`;
// Each shop deleted, in another tab or on another device: `shopsUpdated` sends nothing for it, and the list kept its
// row (counts, actions) until an action on it was refused NOT_FOUND.
const SHOP_DELETIONS = "subscription StoreShopsDeleted { shopsDeleted }";
const URGENT = new Set(["REAUTHORIZATION_REQUIRED", "EXPIRING_SOON"]);
const COMPLETE = `mutation Complete($input: ShopAuthorizationCompleteInput!) {
  shopAuthorizationComplete(input: $input) { shop { id name inventoryPolicy { pushEnabled } } reauthorized alreadyConnected previousName
    requestedName userErrors { code message field } } }`;

/** What TikTok's redirect brought back through Shopbridge's callback, removed from the address bar: a hand-off
 * (`?code=…&state=…` or `?error=…&state=…`) for the merchant signed in here to complete, or `?error=CODE` alone. */
export function takeReturnOutcome() {
  const params = new URLSearchParams(location.search);
  const [state, code, error] = ["state", "code", "error"].map((name) => params.get(name));
  if (!state && !error) return null;
  history.replaceState(null, "", location.pathname + "#/stores"); // the code never stays in the address bar
  if (state && (code || error)) return { kind: "handoff", state, code, error };
  // no state: nothing Shopbridge started (INVALID_STATE from the callback), unless another code says otherwise
  return { kind: "error", message: error && error !== "INVALID_STATE" ? explain(error) : RETURN_WITHOUT_AUTHORIZATION };
}

/** Complete a hand-off under the merchant's own token (RFC 6749 sec. 10.12): the server spends the state only for
 * the merchant who started the authorization, so a consent link sent to someone else connects nothing to anyone.
 * A refusal carries its userError's `code` (INVALID_STATE: another merchant's state is refused so and left unspent,
 * domain.authorization `consume`, so app.js keeps the hand-off for the next sign-in).
 * Add store on a TikTok Shop this merchant had connected already re-authorizes it, renamed as typed
 * (`alreadyConnected`, `previousName`): said so, under the name it had. It said "“New name” is re-authorized.",
 * and the merchant, who had asked to add a shop, found none added and one of theirs renamed. */
export async function completeReturnOutcome(outcome, token) {
  if (outcome.kind !== "handoff") return outcome;
  const input = { state: outcome.state, code: outcome.code, error: outcome.error };
  try {
    const result = (await graphql(COMPLETE, { input }, token)).shopAuthorizationComplete;
    if (result.userErrors.length) {
      const [refusal] = result.userErrors;
      return { kind: "error", message: explain(refusal), code: refusal.code };
    }
    const name = `“${result.shop.name}”`;
    const pushOn = result.shop.inventoryPolicy.pushEnabled;
    if (result.alreadyConnected) {
      // Add store's push choice applies to a new shop only: an existing one keeps its push policy (decide62)
      const renamed = result.previousName ? `, and renamed ${name} as you typed` : "";
      return {
        kind: "info",
        message: `This TikTok Shop was already connected, as “${result.previousName ?? result.shop.name}”: no shop was `
          + `added; it is re-authorized${renamed}. Its products, orders and inventory are kept, and so is its push `
          + `policy: stock push is ${pushOn ? "on" : "off"}.`,
      };
    }
    if (result.reauthorized) return { kind: "success", message: `${name} is re-authorized.` };
    // The name typed was taken by another of the merchant's shops after Add store began (`requestedName`): the shop
    // was connected with a number rather than refused after TikTok's consent (domain.services.shops _free_name).
    const numbered = result.requestedName
      ? ` (“${result.requestedName}” is the name of another of your shops now, so it got a number: rename it at will)`
      : "";
    // What Add store's checkbox chose (the shop's push policy as connected: decide62), in the dialog's words
    const push = pushOn
      ? "Stock push is on: its SKUs whose seller SKU matches one of your inventory items join that item, and TikTok's stock of them becomes the pool's available."
      : "Stock push is off: TikTok keeps this shop's own stock. Review the links in Inventory, then turn push on in its Push policy.";
    return {
      kind: "success",
      message: `${name} is connected${numbered}. ${push} Its products and its orders of the past 30 days are being imported: follow them in the Task Center.`,
    };
  } catch (exc) {
    return { kind: "error", message: exc instanceof ApiError ? explain(exc) : explain("INTERNAL") };
  }
}

/** What the shop's import joined to the merchant's items (`joinedSkuCount`: SKUs linked to an item their own TikTok
 * stock did not seed) and what that does to TikTok's stock, by its push policy: "12 SKUs of this shop joined
 * inventory items you already had. Stock push is off: …". Null when none joined (the shop's SKUs seeded their own items, or none matched). */
function joinedNote(shop) {
  const count = shop.joinedSkuCount;
  if (!count) return null;
  const skus = count === 1 ? "1 SKU" : `${number(count)} SKUs`;
  const them = count === 1 ? "it" : "them";
  // a revoked or expired shop is pushed nothing (schema ShopStatus): its row said its stock "is replaced" (tryout66)
  const effect = !shop.inventoryPolicy.pushEnabled
    ? "Stock push is off: nothing is pushed to TikTok, which keeps this shop's own stock. Review the links in Inventory, then turn push on in Push policy."
    : shop.status === "REVOKED" || shop.status === "EXPIRED"
      ? `Nothing is pushed to TikTok until the shop is re-authorized; then TikTok's stock of ${them} is replaced by the `
        + "pool's available."
      : `TikTok's stock of ${them} is replaced by the pool's available.`;
  return h("p", { class: "pool-note" }, `${skus} of this shop joined inventory items you already had. ${effect}`);
}

/** "40 products of Maple", "1 order of Maple": a count link's accessible name. */
const counted = (count, noun, shopName) => `${number(count)} ${noun}${count === 1 ? "" : "s"} of ${shopName}`;

export function renderStores(ctx) {
  const body = h("tbody");
  const count = h("p", { class: "muted", "aria-live": "polite" });
  let editing = false;
  let stale = false;
  let reading = null; // the list's read under way (a promise), or null
  let readAgain = false; // asked for while a read was under way: one more read follows it
  const shown = new Map(); // shop id -> the shop as its row shows it (the row's data-key), for the rows' listener
  const syncing = new Set(); // ids of the shops whose Sync now is on its way
  // The reads telling a change whose answer was lost (js/unsaved.js readUntilAnswered: now, on each reconnection and
  // each time another request of the page is answered, until one answers), each ended by its `stop`:
  let renameLost = null; // the open rename's: {input, stop}, or null
  let deleteLost = null; // the open Delete dialog's deletion's: its stop, or null
  const reauthorizeLost = new Map(); // shop id -> a re-authorization's stop
  const dropRename = () => {
    renameLost?.stop();
    renameLost = null;
  };
  const syncNames = new Map(); // shop id -> its name when its Sync now was sent (a lost answer's read names it so)
  // Sync now, as the Task Center's (js/syncnow.js); one whose answer was lost is told by a read of its tasks
  const starter = syncStarter(ctx, { told: syncTold });

  /** Read the list and render it. A read asked for while one is under way does not start beside it: it follows once
   * that one rendered (one more read for every ask made meanwhile), so each read renders and the last one started
   * after the ask. Superseding the read under way instead rendered nothing while asks kept coming: a merchant of 105
   * shops, whose first shopsUpdated messages arrived slowly on a busy machine and each asked for a read, saw an
   * empty list for over 15 s. Resolves once a read started after the call rendered (or found a rename open). */
  function load() {
    if (reading) {
      readAgain = true;
      return reading;
    }
    reading = (async () => {
      try {
        do {
          readAgain = false;
          await readOnce();
        } while (readAgain);
      } finally {
        reading = null;
      }
    })();
    return reading;
  }

  async function readOnce() {
    if (editing) {
      stale = true;
      return;
    }
    try {
      const shops = await allShops(ctx.graphql, SHOP_FIELDS);
      if (editing) {
        stale = true; // a rename opened meanwhile: render once it ends
        return;
      }
      count.textContent = shops.length === 1 ? "1 shop" : `${shops.length} shops`;
      shown.clear();
      for (const shop of shops) shown.set(shop.id, shop);
      // in place (dom.js patchRows): the button a merchant is pressing or has focused stays (a click whose press and
      // release straddled a read was lost with its row); a row that comes or moves gets the focus back by name
      keepingFocus(body, () => patchRows(body, shops.length ? shops.map(row)
        : [h("tr", {}, h("td", { colspan: 9 }, "No shop yet. Use Add store to connect your first TikTok Shop."))]));
    } catch (exc) {
      announce(exc.message, { kind: "error" });
    }
  }

  /** Say why a rename or a delete was refused for a shop deleted meanwhile (NOT_FOUND: in another tab, on another
   * device) and read the list again, as the sentence promises ("The list has been refreshed"). The list follows a
   * deletion live, but not while a rename is open (`editing`), and a delete's dialog stays over it: the form or the
   * dialog stayed open under that sentence, with the shop in it, and saving again was refused the same way. */
  function refused(error) {
    announce(explain(error), { kind: "error" });
    if (error.code === "NOT_FOUND") load();
  }

  /** The row of the shop `id`, or undefined. */
  const rowOf = (id) => [...body.querySelectorAll("tr[data-key]")].find((tr) => tr.dataset.key === id);

  /** Show a shop's new state in its row, in place; the keyboard focus stays on the same control of the row. A
   * rename open anywhere is not clobbered: the list is read again once it ends (`stale`), as load() does. */
  function replaceRow(shop) {
    if (editing) {
      stale = true;
      return;
    }
    const old = rowOf(shop.id);
    // not listed yet (connected in another tab): read the list (the asks of a read under way make one read more,
    // not one each: a merchant of 105 shops started 104 reads otherwise)
    if (!old) return load();
    shown.set(shop.id, shop);
    patch(old, row(shop)); // in place: the control pressed or focused stays, whatever its new name
    // A read under way may have been answered before this change, and would put the row back as it was, for good (no
    // message comes after: flake65, a rename heard while the list was read again after a deletion): read once more
    // after it (load: one read more, however many changes come meanwhile).
    if (reading) load();
  }

  // One listener for the rows' buttons: a patched row keeps its buttons but not the listeners of a new rendering, so
  // a button's shop is found by its row's key, as the latest read or message shows it.
  const actions = {
    rename: (shop, button) => editName(shop, button.closest("td")),
    reauthorize: (shop) => reauthorize(shop),
    sync: (shop, button) => syncNow(shop, button),
    delete: (shop, button) => confirmDelete(shop, button),
  };
  body.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    const shop = button && shown.get(button.closest("tr").dataset.key);
    if (shop) actions[button.dataset.action](shop, button);
  });


  function row(shop) {
    const urgent = shop.attention.some((a) => URGENT.has(a.code));
    const nameCell = h("td", { class: "name" }, h("span", { class: "shop-name" }, shop.name), " ",
      h("button", { type: "button", class: "icon", "aria-label": `Rename ${shop.name}`, title: "Rename", dataset: { action: "rename" } }, "✎"));
    const attention = shop.attention.length
      ? h("ul", { class: "attention-list" }, shop.attention.map((a) => h("li", { class: URGENT.has(a.code) ? "urgent" : "" }, a.message)))
      : null;
    const joined = joinedNote(shop);
    return h(
      "tr",
      { class: urgent ? "attention" : "", dataset: { key: shop.id, shopId: shop.id } },
      nameCell,
      h("td", { "data-label": "TikTok Shop", class: attention ? "with-attention" : null }, shop.tiktokShopName, attention, joined),
      h("td", { "data-label": "Region" }, h("abbr", { title: REGION_NAMES[shop.region] || shop.region }, shop.region)),
      h("td", { "data-label": "Status" }, h("span", { class: `badge status-${shop.status.toLowerCase()}` }, STATUS_LABELS[shop.status] || shop.status)),
      h("td", { "data-label": "Expire date" }, time(shop.expiresAt, { day: true })),
      h("td", { "data-label": "Last sync" }, time(shop.lastSyncedAt)),
      // named by what they count and whose (a screen reader's list of links said "40, link", "71, link")
      h("td", { "data-label": "Products", class: "num" }, h("a", { href: `#/shops/${encodeURIComponent(shop.id)}/products`,
        "aria-label": counted(shop.productCount, "product", shop.name) }, number(shop.productCount))),
      h("td", { "data-label": "Orders", class: "num" }, h("a", { href: `#/shops/${encodeURIComponent(shop.id)}/orders`,
        "aria-label": counted(shop.orderCount, "order", shop.name) }, number(shop.orderCount))),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", "aria-label": `Re-authorize ${shop.name}`, title: "Re-authorize", dataset: { action: "reauthorize" } }, "⟳ Re-authorize"),
        h("button", { type: "button", "aria-label": `Sync ${shop.name} now`, disabled: syncing.has(shop.id), dataset: { action: "sync" } }, "Sync now"),
        // the shop's push policy (js/policy.js): how much of the pool it shows on TikTok
        h("a", { class: "button", href: `#/shops/${encodeURIComponent(shop.id)}/policy`, "aria-label": `Push policy of ${shop.name}` }, "Push policy"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${shop.name}`, title: "Delete", dataset: { action: "delete" } }, "Delete"),
      ),
    );
  }

  /** Rename in place: the name cell holds the form until it ends, then its name and pencil again (the list waits
   * meanwhile: `editing`). */
  function editName(shop, cell) {
    editing = true;
    const shownName = [...cell.childNodes];
    const id = `rename-${shop.id}`;
    // No maxlength: it counts UTF-16 code units and cuts what is typed or pasted, inside an emoji if need be (a family
    // emoji is 11), and the cut name was saved; the API's rule (domain.shops.parse_shop_name) refuses one too long.
    const input = h("input", { id, name: "name", value: shop.name, required: true, "aria-describedby": `${id}-error` });
    const error = h("span", { id: `${id}-error`, class: "field-error", role: "alert" });
    // On after a failed rename, until it is saved or cancelled (js/unsaved.js): the name typed is not the shop's.
    const mark = unsavedMark(`${id}-unsaved`, "Not saved: press Save to rename the shop.");
    // A refusal, or a lost answer's sentence, goes once the name is edited.
    input.addEventListener("input", () => {
      error.textContent = "";
      input.removeAttribute("aria-invalid");
      if (renameLost?.input === input) dropRename();
    });
    // Disabled and saying so while the rename is on its way, as Sync now: with the database slow (12 s and more) the
    // form showed nothing, Save stayed enabled and each press sent the rename again.
    const save = h("button", { type: "submit", class: "primary" }, "Save");
    const done = () => {
      editing = false;
      if (renameLost?.input === input) dropRename();
      cell.replaceChildren(...shownName);
      cell.querySelector("button[data-action=rename]").focus();
      if (stale) {
        stale = false;
        load();
      }
    };
    const form = h(
      "form",
      { class: "rename", onkeydown: (e) => e.key === "Escape" && done() },
      h("label", { for: id, class: "visually-hidden" }, `New name for ${shop.name}`),
      input,
      save,
      h("button", { type: "button", onclick: done }, "Cancel"),
      error,
      mark.element,
    );

    /** The rename is saved: the row shows the shop so named, the focus on its pencil. */
    function renamed(shop) {
      announce(`The shop is now named “${shop.name}”.`, { kind: "success" });
      editing = false;
      dropRename();
      shown.set(shop.id, shop);
      const tr = cell.closest("tr");
      patch(tr, row(shop)); // every label of the row names the shop
      tr.querySelector("td.name button").focus();
      if (stale) {
        stale = false;
        load();
      }
    }

    /** A rename whose answer was lost (js/unsaved.js): read the shop until one read answers (`renameLost`,
     * readUntilAnswered), and say whether it is so named: then the rename ends as saved; else the form stays,
     * marked, saying its name ("“US one” was not renamed “US first”: …"). */
    function answerLostFor(sent) {
      const [subject, done] = [`“${shop.name}”`, `renamed “${sent}”`];
      error.textContent = mayHaveBeen(subject, done);
      const told = (saved) => {
        if (renameLost !== pending) return; // edited, cancelled or told meanwhile
        renameLost = null;
        if (!saved) {
          editing = false;
          stale = false;
          return refused({ code: "NOT_FOUND" });
        }
        if (saved.name === sent) return renamed(saved);
        error.textContent = wasNot(subject, done, `the shop is still named “${saved.name}”. Save again to rename it.`);
      };
      const pending = { input, stop: () => {} };
      renameLost = pending;
      pending.stop = readUntilAnswered(ctx, async () => (await ctx.graphql(SHOP, { id: shop.id })).shop, told);
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (save.disabled) return;
      save.disabled = true;
      save.textContent = "Saving…";
      dropRename();
      const change = `The rename of “${shop.name}” to “${input.value.trim()}”`;
      try {
        const result = (await ctx.graphql(RENAME, { input: { shopId: shop.id, name: input.value } }, { change })).shopRename;
        if (result.userErrors[0]?.code === "NOT_FOUND") {
          editing = false;
          stale = false;
          return refused(result.userErrors[0]);
        }
        if (result.userErrors.length) {
          mark.set(true);
          error.textContent = explain(result.userErrors[0]);
          input.setAttribute("aria-invalid", "true");
          input.focus();
          return;
        }
        renamed(result.shop);
      } catch (exc) {
        mark.set(true);
        // (the name as the server stores it: trimmed, in NFC, domain.shops.parse_shop_name)
        if (answerLost(exc)) answerLostFor(input.value.trim().normalize("NFC"));
        else error.textContent = exc.message;
      } finally {
        save.disabled = false;
        save.textContent = "Save";
      }
    });
    fill(cell, form);
    input.focus();
    input.select();
  }

  async function reauthorize(shop) {
    const change = `The re-authorization of “${shop.name}”`;
    try {
      reauthorizeLost.get(shop.id)?.(); // (pressed again: this answer tells it)
      reauthorizeLost.delete(shop.id);
      const result = (await ctx.graphql(REAUTHORIZE, { input: { shopId: shop.id } }, { change })).shopReauthorizationStart;
      if (result.userErrors.length) return announce(explainRefusal(result), { kind: "error" });
      location.assign(result.authorizationUrl);
    } catch (exc) {
      if (!answerLost(exc)) return announce(exc.message, { kind: "error" });
      announce(mayHaveBeen(change, "started"), { kind: "error" });
      reauthorizationLost(shop);
    }
  }

  /** A re-authorization whose answer was lost (js/unsaved.js): its answer was TikTok's consent page, and nothing
   * changes on the shop before the merchant consents there, so the read of the shop (until one answers:
   * readUntilAnswered) shows it in its row and says it is not re-authorized: pressing again opens the page. It said
   * "Shopbridge cannot be reached" of a start perhaps made; a shop deleted meanwhile is said NOT_FOUND. */
  function reauthorizationLost(shop) {
    const told = (fresh) => {
      if (reauthorizeLost.get(shop.id) !== stop) return; // pressed again meanwhile
      reauthorizeLost.delete(shop.id);
      if (!fresh) return refused({ code: "NOT_FOUND" });
      replaceRow(fresh);
      announce(`“${fresh.name}” is not re-authorized: Shopbridge did not answer with TikTok's consent page, and nothing `
        + `changes on the shop before you consent there (its status: ${STATUS_LABELS[fresh.status] || fresh.status}). `
        + "Press Re-authorize again to open the page.", { kind: "error" });
    };
    const stop = readUntilAnswered(ctx, async () => (await ctx.graphql(SHOP, { id: shop.id })).shop, told);
    reauthorizeLost.set(shop.id, stop);
  }

  /** What the read of a Sync now whose answer was lost found (js/syncnow.js `told`), said as an answered one is. */
  function syncTold({ input, started, running }) {
    const name = syncNames.get(input.shopId) ?? shown.get(input.shopId)?.name ?? "this shop";
    if (started.length) return announce(`Sync of “${name}” started: follow it in the Task Center.`, { kind: "success" });
    const why = running.length
      ? "a sync of it started before is still running: follow it in the Task Center."
      : "the shop has no sync started since you pressed Sync now. Press Sync now again.";
    announce(wasNot(`A sync of “${name}”`, "started", why), { kind: "error" });
  }

  async function syncNow(shop, button) {
    if (syncing.has(shop.id)) return;
    syncing.add(shop.id); // its button stays disabled through the row's updates meanwhile (row)
    button.disabled = true;
    try {
      const input = { shopId: shop.id, kinds: ["PRODUCTS", "ORDERS"] };
      // Refused by the shop's background polls alone, it waits for them and is sent again (js/syncnow.js): it said
      // the refusal, "already running, follow it in the Task Center", of a poll the Task Center hides by default.
      syncNames.set(shop.id, shop.name);
      const result = await starter.send(SYNC, input, `Sync now of “${shop.name}”`);
      // its answer lost: it may have started; the read of its tasks says whether (syncTold)
      if (!result) announce(mayHaveBeen(`A sync of “${shop.name}”`, "started"), { kind: "error" });
      else if (result.userErrors.length) announce(explainRefusal(result), { kind: "error" });
      else announce(`Sync of “${shop.name}” started: follow it in the Task Center.`, { kind: "success" });
    } catch (exc) {
      announce(exc.message, { kind: "error" });
    } finally {
      syncing.delete(shop.id);
      button.disabled = false;
      const current = rowOf(shop.id)?.querySelector("button[data-action=sync]"); // its row read anew meanwhile
      if (current) current.disabled = false;
    }
  }

  function confirmDelete(shop, opener) {
    const input = h("input", { id: "confirm-name", autocomplete: "off", "aria-describedby": "confirm-help" });
    const error = h("p", { class: "field-error", role: "alert" });
    const deleteButton = h("button", { type: "submit", class: "danger", disabled: true }, "Delete shop");
    // Compared in NFC: "Café" typed with a precomposed é matches a name stored as e + U+0301 (they show alike).
    const typedName = () => input.value.normalize("NFC") === shop.name.normalize("NFC");
    input.addEventListener("input", () => (deleteButton.disabled = !typedName()));
    const dialog = h(
      "dialog",
      { "aria-labelledby": "delete-title", "aria-describedby": "delete-what", class: "card" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "delete-title" }, `Delete “${shop.name}”?`),
        h("div", { id: "delete-what" },
          h("p", {}, `This permanently removes from Shopbridge the TikTok Shop “${shop.tiktokShopName}” (${REGION_NAMES[shop.region] || shop.region}) `,
            `with its ${number(shop.productCount)} products, its ${number(shop.orderCount)} orders, its inventory records and its sync tasks.`),
          h("p", {}, "Nothing changes at TikTok: the shop, its products and its orders stay there. To use it here again, add it again.")),
        h("label", { for: "confirm-name" }, "Type the shop name to confirm"),
        h("p", { id: "confirm-help", class: "help" }, "Exactly: ", h("strong", {}, shop.name)),
        input,
        error,
        h("div", { class: "buttons" }, h("button", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"), deleteButton),
      ),
    );
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!typedName()) return;
      deleteButton.disabled = true;
      deleteLost?.(); // (sent again: this answer tells it)
      deleteLost = null;
      const change = `The deletion of “${shop.name}”`;
      try {
        const result = (await ctx.graphql(DELETE, { input: { shopId: shop.id } }, { change })).shopDelete;
        if (result.userErrors[0]?.code === "NOT_FOUND") {
          dialog.close();
          return refused(result.userErrors[0]);
        }
        if (result.userErrors.length) {
          error.textContent = explain(result.userErrors[0]);
          deleteButton.disabled = false;
          return;
        }
        await deleted();
      } catch (exc) {
        if (answerLost(exc)) answerLostFor();
        else error.textContent = exc.message;
        deleteButton.disabled = false;
      }
    });

    async function deleted() {
      dialog.close();
      announce(`“${shop.name}” is deleted from Shopbridge. Nothing changed at TikTok.`, { kind: "success" });
      await load();
      document.getElementById("add-store")?.focus();
    }

    /** A deletion whose answer was lost (js/unsaved.js): read the shop until one read answers (`deleteLost`,
     * readUntilAnswered): gone, the dialog ends as a deletion made; still there, it says so ("“Maple” was not
     * deleted: …") and stays. */
    function answerLostFor() {
      const [subject, done] = [`“${shop.name}”`, "deleted"];
      error.textContent = mayHaveBeen(subject, done);
      const told = (still) => {
        if (deleteLost !== stop || !dialog.open) return; // cancelled, or sent again, meanwhile
        deleteLost = null;
        if (!still) return deleted();
        error.textContent = wasNot(subject, done, "the shop is still connected. Delete it again, or Cancel.");
      };
      const stop = readUntilAnswered(ctx, async () => (await ctx.graphql(SHOP, { id: shop.id })).shop, told);
      deleteLost = stop;
    }
    dialog.addEventListener("close", () => {
      deleteLost?.();
      deleteLost = null;
      dialog.remove();
      if (opener.isConnected) opener.focus();
      else focusLabelled(body, opener.getAttribute("aria-label")); // the list was refreshed meanwhile
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  }

  fill(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Store management"), h("a", { id: "add-store", class: "button primary", href: "#/stores/add" }, "Add store")),
    count,
    h(
      "table",
      { class: "shops" },
      h("caption", { class: "visually-hidden" }, "Connected TikTok Shops"),
      h("thead", {}, h("tr", {}, ["Name", "TikTok Shop", "Region", "Status", "Expire date", "Last sync", "Products", "Orders", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      body,
    ),
  );
  let timer = null;
  const refreshSoon = () => {
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  };
  // The list is read at once (load), and reconciled with the subscription's first messages: the first one proves the
  // server's subscriber joined (graphql-transport-ws acknowledges no subscription, and `shops` may be answered before
  // the subscriber is registered), so the list is read again then. That read is after any change or deletion the
  // first load() saw too early and the subscription was too late for (a rename in another tab, a revocation, a shop
  // deleted: the first messages, the complete list, leave it out, and `shopsDeleted` does not send it). The other
  // first messages replace their rows in place, as every later change does. A reconnection subscribes again: its
  // first messages reconcile the list the same way.
  let joined = false;
  const stopShops = ctx.socket.subscribe(SHOP_CHANGES, {}, {
    next: (payload) => {
      const shop = payload.data?.shopsUpdated;
      if (!shop) return;
      if (joined) return replaceRow(shop);
      joined = true;
      load();
    },
  });
  const stopDeletions = ctx.socket.subscribe(SHOP_DELETIONS, {}, {
    next: (payload) => {
      if (payload.data?.shopsDeleted) refreshSoon(); // read again: the count and the rows, without it
    },
  });
  load();
  const statuses = new Map(); // a task's status change (a new task, a finished import) changes counts and last sync
  const stop = ctx.socket.subscribe(TASK_CHANGES, {}, {
    next: (payload) => {
      const task = payload.data?.syncTaskUpdated;
      starter.taskUpdated(task); // a poll a Sync now waits for may have ended
      if (!task || statuses.get(task.id) === task.status) return;
      statuses.set(task.id, task.status);
      refreshSoon();
    },
  });
  const stopReconnect = ctx.socket.onReconnect(() => {
    // (a change whose answer was lost reads what it changed itself: readUntilAnswered)
    joined = false; // the subscription starts again: its first message reconciles the list again
    load();
  });
  return () => {
    clearTimeout(timer);
    stop();
    stopShops();
    stopDeletions();
    stopReconnect();
    starter.stop();
    dropRename();
    deleteLost?.();
    for (const stopRead of reauthorizeLost.values()) stopRead();
  };
}
