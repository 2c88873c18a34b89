// Task Center: sync tasks newest first, live progress from `syncTaskUpdated`, failures with reasons, cancel,
// and "Sync now". When the socket comes back after a drop, the list is read again (changes were missed). It shows
// the imports (after an authorization, Sync now) by default, the background polls on request (`Show`).

import { allShops } from "./api.js";
import { announce, fill, h, keepingFocus, number, patch, patchRows, time } from "./dom.js";
import { explain, explainRefusal, KIND_LABELS, STATUS_LABELS } from "./messages.js";
import { followShopNames } from "./shopnames.js";
import { syncNow as syncStarter } from "./syncnow.js";
import { answerLost, mayHaveBeen, readUntilAnswered, wasNot } from "./unsaved.js";

const TASK_FIELDS = `id kind trigger status processed total progress created updated unchanged failed attempts
  failures { tiktokId reason } errorCode errorMessage retryAt cancelRequested createdAt startedAt finishedAt shop { id name }`;
const TASKS = `query Tasks($after: String, $trigger: [SyncTrigger!]) { syncTasks(first: 20, after: $after, trigger: $trigger) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { ${TASK_FIELDS} } } } }`;
const UPDATES = `subscription TaskCenter { syncTaskUpdated { ${TASK_FIELDS} } }`;
const CANCEL = `mutation Cancel($input: SyncTaskCancelInput!) { syncTaskCancel(input: $input) {
  task { ${TASK_FIELDS} } userErrors { code message } } }`;
const SYNC = `mutation Sync($input: SyncStartInput!) { syncStart(input: $input) {
  tasks { ${TASK_FIELDS} } retryAt userErrors { code message } } }`;
const TASK = `query Task($id: ID!) { syncTask(id: $id) { ${TASK_FIELDS} } }`;
// Each shop deleted, in another tab or on another device: its tasks went with it, and no `syncTaskUpdated` says so.
const SHOP_DELETIONS = "subscription TaskCenterShopsDeleted { shopsDeleted }";
const ACTIVE = new Set(["QUEUED", "RUNNING"]);
const NO_TASK = "No task yet. Connect a shop or use Sync now.";
// What the list shows (`Show`, the address's `?show=`), as syncTasks' `trigger` set. Polls come every few minutes
// (each shop's last 3 empty ones of each kind are kept, domain.polling KEEP_EMPTY_POLLS, and every one that found a
// change), and the imports a merchant started sank pages down under them (newcomer57 F12: 18 of the first 27 tasks
// with 4 shops): the imports are shown by default, as the seed's Task Center is about imports.
// How a task's row says what started it (SyncTrigger): a re-run of an import a lost authorization failed says so,
// rather than "after authorization" as if it were the first import (review69 R3); not "after re-authorization",
// since a token refresh that lifts a revocation queues it too, with no re-authorization (review71 D1).
const TRIGGER_LABELS = {
  AUTHORIZATION: "after authorization",
  REAUTHORIZATION: "re-run of a failed import",
  MANUAL: "manual",
  SCHEDULED: "scheduled",
};
const SHOWS = {
  imports: { label: "Imports (after authorization, re-authorization, Sync now)", triggers: ["AUTHORIZATION", "MANUAL", "REAUTHORIZATION"], empty: NO_TASK },
  polls: { label: "Background polls", triggers: ["SCHEDULED"], empty: "No poll yet. Shopbridge polls each shop every few minutes." },
  all: { label: "All tasks", triggers: null, empty: NO_TASK },
};

/** The database id a task's global id carries (`base64url("SyncTask:<32 hex digits>")`, gql/ids.py). */
function internalId(id) {
  const decoded = atob(id.replace(/-/g, "+").replace(/_/g, "/"));
  return decoded.slice(decoded.indexOf(":") + 1);
}

/** Negative when task `a` comes before `b` in `syncTasks` (adapters/db/queries.py: `created_at` descending, then
 * the id descending; two tasks of one Sync now share their `createdAt`, so the id decides between them). ISO times
 * of one server compare as strings ("…:07+00:00" before "…:07.5+00:00", whole seconds having no fraction). */
function newerFirst(a, b) {
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt ? -1 : 1;
  const [x, y] = [internalId(a.id), internalId(b.id)];
  return x === y ? 0 : x > y ? -1 : 1;
}

export function renderTasks(ctx) {
  const tasks = new Map(); // id -> task, as its row shows it
  const rows = new Map(); // id -> <li>
  const cancelling = new Set(); // ids of the tasks whose cancel is on its way
  const cancelsLost = new Map(); // task id -> stops the read telling a cancel whose answer was lost (js/unsaved.js)
  const list = h("ol", { class: "tasks", "aria-label": "Sync tasks, newest first" });
  const more = h("button", { type: "button", hidden: true, onclick: () => load(cursor) }, "Show older tasks");
  const shopSelect = h("select", { id: "sync-shop", name: "shop" });
  let cursor = null;
  let show = Object.hasOwn(SHOWS, ctx.params.get("show") ?? "") ? ctx.params.get("show") : "imports";
  let shownSince = 0; // counts the changes of `show`: a read asked before the last one is not shown
  const toldDuringReads = new Set(); // per read of the first page on its way, the tasks messages told meanwhile (load)
  const ended = (task) => Boolean(task) && !ACTIVE.has(task.status);
  const showSelect = h("select", { id: "task-filter", name: "show" },
    Object.entries(SHOWS).map(([value, { label }]) => h("option", { value, selected: value === show }, label)));
  /** Whether `task` belongs in the list as `show` has it (a message of `syncTaskUpdated`, which sends every task). */
  const shows = (task) => SHOWS[show].triggers === null || SHOWS[show].triggers.includes(task.trigger);

  /** Read the first page of tasks and show it, or (`after`: "Show older tasks") the page after that cursor below the
   * rows shown. The first page (the list read again: on a reconnection, a refusal saying NOT_FOUND) changes the list
   * in place (dom.js patchRows, rows keyed by task id): a row shown before keeps its element, its Cancel a merchant
   * is pressing or has focused and its failures opened; rows of older pages go, as the cursor starts again. It was
   * emptied and rendered anew: a click whose press and release straddled the read was lost with its button.
   *
   * The server may have answered the first page before changes the page heard meanwhile (`syncTaskUpdated` runs
   * beside the read, and its messages can come first): what a message told while the read was on its way (`told`)
   * wins where the answer is older, as a message older than a read loses (progress never goes back): a task the answer
   * has active that a message told ended stays ended, and one a message told that the answer does not have yet (started
   * after it, newer than its first row) stays listed. The answer showed them Running, or took their row away, for good:
   * no message came after their end (flake65: the first page loaded as a shop's imports ended, its polls every second
   * keeping the server busy, the Task Center showed them running for 120 s). */
  async function load(after = null) {
    const asked = shownSince;
    const told = after ? null : new Map(); // task id -> the latest message of it while this read is on its way
    if (told) toldDuringReads.add(told);
    try {
      const data = (await ctx.graphql(TASKS, { after, trigger: SHOWS[show].triggers })).syncTasks;
      if (asked !== shownSince) return; // read for what was shown before `Show` changed: the new read shows its own
      if (after) {
        for (const { node } of data.edges) upsert(node, { quiet: true });
      } else {
        const answered = data.edges.map(({ node }) => node);
        const fresh = answered.map((task) => (ended(told.get(task.id)) && !ended(task) ? told.get(task.id) : task));
        for (const task of told.values()) {
          const later = !answered.length || newerFirst(task, answered[0]) < 0;
          if (later && task.shop && !fresh.some((each) => each.id === task.id)) fresh.push(task);
        }
        fresh.sort(newerFirst);
        tasks.clear();
        for (const task of fresh) {
          offerShop(task);
          tasks.set(task.id, task);
        }
        const rendered = fresh.length ? fresh.map(render) : [h("li", { class: "empty" }, SHOWS[show].empty)];
        keepingFocus(list, () => patchRows(list, rendered));
        rows.clear();
        for (const li of list.children) if (li.dataset.key !== undefined) rows.set(li.dataset.key, li);
      }
      cursor = data.pageInfo.endCursor;
      more.hidden = !data.pageInfo.hasNextPage;
    } catch (exc) {
      announce(exc.message, { kind: "error" });
    } finally {
      toldDuringReads.delete(told);
    }
  }

  /** Fill the Sync now picker with every shop; the shop picked stays picked while it exists. */
  async function loadShops() {
    try {
      const shops = await allShops(ctx.graphql);
      const picked = shopSelect.value;
      fill(shopSelect, shops.map((s) => h("option", { value: s.id, title: s.name, selected: s.id === picked }, s.name)));
    } catch {
      // the Task Center still works without its Sync now picker
    }
  }

  /** The task's shop in the Sync now picker: a shop connected meanwhile. */
  function offerShop(task) {
    if (task.shop && ![...shopSelect.options].some((o) => o.value === task.shop.id)) {
      shopSelect.append(h("option", { value: task.shop.id, title: task.shop.name }, task.shop.name));
    }
  }

  /** Show `task` in its row: changed in place if shown, else added where `syncTasks` would list it (newerFirst), so
   * a list read again finds the rows in its order and moves none (a row moved loses the click pressed on it). */
  function upsert(task, { quiet = false } = {}) {
    const previous = tasks.get(task.id);
    offerShop(task);
    tasks.set(task.id, task);
    const li = render(task);
    const old = rows.get(task.id);
    if (old) {
      // in place (dom.js patch): the Cancel button a merchant is pressing or has focused stays, so a click whose press
      // and release straddle a progress message lands (a row rendered anew took it from under the pointer)
      patch(old, li);
    } else {
      rows.set(task.id, li);
      list.querySelector(".empty")?.remove();
      const next = [...list.children].find((row) => row.dataset.key !== undefined && newerFirst(task, tasks.get(row.dataset.key)) < 0);
      list.insertBefore(li, next ?? null);
    }
    if (!quiet && previous && previous.status !== task.status) {
      const what = `${KIND_LABELS[task.kind]} import of “${task.shop?.name ?? "a deleted shop"}”`;
      announce(`${what}: ${STATUS_LABELS[task.status].toLowerCase()}.`, { kind: task.status === "FAILED" ? "error" : "info" });
    }
  }

  /** "17:05:42", the browser's local time of the retry (SyncTask.retryAt): within minutes, so to the second. */
  function retryTime(iso) {
    const at = new Date(iso);
    return h("time", { datetime: iso, title: at.toISOString() }, at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
  }

  function render(task) {
    const percent = task.progress === null ? null : Math.round(task.progress * 100);
    const title = `${KIND_LABELS[task.kind]} · ${task.shop?.name ?? "Deleted shop"}`;
    const bar = h("progress", { max: 100, "aria-label": `${title} progress` });
    // A <progress> without a value is indeterminate (a moving bar, read out as busy): only for a task at work whose
    // total TikTok has not told yet; one that ended before that rests (SUCCEEDED full, FAILED or CANCELLED at 0).
    if (task.status === "SUCCEEDED") bar.value = 100;
    else if (percent !== null) bar.value = percent;
    else if (!ACTIVE.has(task.status)) bar.value = 0;
    const amount = task.total === null ? `${number(task.processed)} processed` : `${number(task.processed)} of ${number(task.total)}`;
    return h(
      "li",
      { class: `task task-${task.status.toLowerCase()}`, dataset: { key: task.id, taskId: task.id, status: task.status } },
      h("div", { class: "task-head" },
        h("h2", { title }, title),
        h("span", { class: `badge status-${task.status.toLowerCase()}` }, STATUS_LABELS[task.status]),
        task.cancelRequested && ACTIVE.has(task.status) ? h("span", { class: "muted" }, "Cancelling…") : null),
      h("div", { class: "progress-line" }, bar, h("span", { class: "percent" }, percent === null ? "—" : `${task.status === "SUCCEEDED" ? 100 : percent} %`), h("span", { class: "muted" }, amount)),
      h("p", { class: "counts" },
        `${number(task.created)} created · ${number(task.updated)} updated · ${number(task.unchanged)} unchanged · ${number(task.failed)} failed`),
      h("p", { class: "muted" }, "Started ", time(task.startedAt || task.createdAt), task.finishedAt ? [" · finished ", time(task.finishedAt)] : null,
        ` · ${TRIGGER_LABELS[task.trigger] || "manual"}`),
      task.status === "FAILED"
        ? h("p", { class: "field-error" }, explain({ code: task.errorCode, message: task.errorMessage }), task.errorMessage && explain(task.errorCode) !== task.errorMessage ? h("span", { class: "detail" }, ` (${task.errorMessage})`) : null)
        : task.status === "CANCELLED" && task.errorCode ? h("p", { class: "muted" }, explain(task.errorCode))
        // QUEUED after a run (SyncTask.await_retry, or a stop handing the run back): waiting for its retry
        // with the failed run's reason when one failed (errorCode/errorMessage: e.g. TIKTOK_UNAVAILABLE during an outage)
        : task.status === "QUEUED" && task.attempts > 0
          ? h("p", { class: "muted" }, task.errorCode
            ? [`Run ${number(task.attempts)} failed (${task.errorCode}: ${task.errorMessage || "no detail"}): it runs again by itself`, task.retryAt ? [" at ", retryTime(task.retryAt)] : null, " and resumes where it stopped."]
            : `Run ${number(task.attempts)} did not finish (TikTok or the database unavailable, or a restart): it runs again by itself and resumes where it stopped.`)
          : null,
      task.failures.length
        // opened by the merchant, it stays open through the task's next messages
        ? h("details", { open: rows.get(task.id)?.querySelector("details")?.open }, h("summary", {}, `${task.failures.length} record(s) could not be imported`),
          h("ul", {}, task.failures.map((f) => h("li", {}, h("code", {}, f.tiktokId), `: ${f.reason}`))))
        : null,
      ACTIVE.has(task.status) && !task.cancelRequested
        ? h("button", { type: "button", "aria-label": `Cancel ${title}`, disabled: cancelling.has(task.id), dataset: { action: "cancel" } }, "Cancel")
        : null,
    );
  }

  /** Cancel a queued or running task (syncTaskCancel); the button is disabled while the request is on its way. A
   * refusal is said, then the list shows the server's truth about the task: NOT_FOUND (its shop deleted in another
   * tab or on another device, an update this page missed) reads the list again, as its sentence says ("The list has
   * been refreshed"); any other refusal (SYNC_TASK_FINISHED: it ended meanwhile) reads the task again and shows it,
   * ended without a Cancel button or, still cancellable, with one that works (`reread`). The button stayed disabled
   * for good on any refusal, and NOT_FOUND's list was never read again. */
  async function cancel(task, button) {
    if (cancelling.has(task.id)) return;
    cancelling.add(task.id); // its button stays disabled through the task's messages meanwhile (render)
    button.disabled = true;
    let refusal;
    const subject = `The ${KIND_LABELS[task.kind]} import of “${task.shop?.name ?? "a deleted shop"}”`;
    try {
      const change = `The cancellation of the ${KIND_LABELS[task.kind]} import of “${task.shop?.name ?? "a deleted shop"}”`;
      const result = (await ctx.graphql(CANCEL, { input: { taskId: task.id } }, { change })).syncTaskCancel;
      refusal = result.userErrors[0];
      if (!refusal) {
        cancelling.delete(task.id);
        upsert(result.task, { quiet: true });
        return announce("Cancelling: the import stops at its next page.");
      }
    } catch (exc) {
      if (answerLost(exc)) return cancelLost(task.id, subject);
      announce(exc.message, { kind: "error" });
      return giveCancelBack(task.id);
    }
    announce(explain(refusal), { kind: "error" });
    if (refusal.code !== "NOT_FOUND") return reread(task.id);
    cancelling.delete(task.id);
    load();
  }

  /** A cancel whose answer was lost (js/unsaved.js): it may have been made, so the task is read (`readUntilAnswered`:
   * now, and again on each reconnection and each time another request of the page is answered, until one read
   * answers; its Cancel stays disabled meanwhile) and shown, and the page says what the read found: cancelled
   * (`cancelRequested`, or CANCELLED), or not, with why (still running: Cancel works again; ended first). It said
   * "Shopbridge cannot be reached" of a cancel perhaps made (console59's "Found but not fixed"). Read again on
   * reconnections alone, a Cancel whose first read failed while the socket stayed up stayed disabled until a
   * reconnection that might never come (console60's "Found but not fixed"). Gone (its shop deleted meanwhile), the
   * list is read again, as a refusal NOT_FOUND says. */
  function cancelLost(id, subject) {
    announce(mayHaveBeen(subject, "cancelled"), { kind: "error" });
    const told = (fresh) => {
      cancelsLost.delete(id);
      cancelling.delete(id);
      if (!fresh) {
        announce(explain({ code: "NOT_FOUND" }), { kind: "error" });
        return load();
      }
      const known = tasks.get(id);
      // Progress never goes back: a message that told its end while this read was on its way stays.
      const shown = known && !ACTIVE.has(known.status) && ACTIVE.has(fresh.status) ? known : fresh;
      upsert(shown, { quiet: true });
      if (shown.status === "CANCELLED") return announce(`${subject} is cancelled.`, { kind: "success" });
      if (shown.cancelRequested && ACTIVE.has(shown.status)) return announce("Cancelling: the import stops at its next page.");
      const status = STATUS_LABELS[shown.status].toLowerCase();
      announce(wasNot(subject, "cancelled", ACTIVE.has(shown.status)
        ? `it is still ${status}. Press Cancel again to cancel it.` : `it had ended first (${status}).`), { kind: "error" });
    };
    cancelsLost.set(id, readUntilAnswered(ctx, async () => (await ctx.graphql(TASK, { id })).syncTask, told));
  }

  /** The task's Cancel works again: the button of its row as shown now (the list may have been read meanwhile). */
  function giveCancelBack(id) {
    cancelling.delete(id);
    const button = rows.get(id)?.querySelector("button[data-action=cancel]");
    if (button) button.disabled = false;
  }

  // One listener for every task's Cancel: a patched row keeps its button but not a listener of a new rendering, so
  // the button's task is found by its row's `data-task-id`, as the latest message shows it.
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action=cancel]");
    const task = button && tasks.get(button.closest("li").dataset.taskId);
    if (task) cancel(task, button);
  });

  /** Read one task again (`syncTask`) and show it in its row, quietly (the refusal's sentence stays); gone (null:
   * its shop deleted meanwhile), read the list again. A read that fails gives its Cancel back, as it was. */
  async function reread(id) {
    let fresh;
    try {
      fresh = (await ctx.graphql(TASK, { id })).syncTask;
    } catch {
      return giveCancelBack(id);
    }
    cancelling.delete(id);
    if (!fresh) return load();
    const known = tasks.get(id);
    // Progress never goes back: a message that told its end while this read was on its way stays.
    if (known && !ACTIVE.has(known.status) && ACTIVE.has(fresh.status)) return;
    upsert(fresh, { quiet: true });
  }

  // One Sync now at a time: a double-click sent two syncStart, and the second, refused SYNC_ALREADY_RUNNING by the
  // tasks the first had just queued, replaced "Sync started." with an error.
  const syncButton = h("button", { type: "submit", class: "primary" }, "Sync now");
  const syncNames = new Map(); // shop id -> its name when its Sync now was sent (a lost answer's read names it so)
  // one whose answer was lost is told by a read of the shop's manual tasks (js/syncnow.js `told`)
  const starter = syncStarter(ctx, { told: syncTold });

  /** What the read of a Sync now whose answer was lost found: started, the list is read again (its new tasks shown,
   * as an answered Sync now shows them) and it says so, as an answered one does; else why not. */
  function syncTold({ input, started, running }) {
    const name = syncNames.get(input.shopId) ?? "this shop";
    if (started.length) {
      load();
      return announce(started.every(shows) ? "Sync started." : "Sync started: Show imports to follow it.", { kind: "success" });
    }
    const why = running.length
      ? "a sync of it started before is still running: follow it below."
      : "the shop has no sync started since you pressed Sync now. Press Sync now again.";
    announce(wasNot(`A sync of “${name}”`, "started", why), { kind: "error" });
  }

  async function syncNow(event) {
    event.preventDefault();
    if (syncButton.disabled) return;
    if (!shopSelect.value) return announce("Connect a shop first: there is nothing to sync.", { kind: "error" });
    syncButton.disabled = true;
    try {
      const input = { shopId: shopSelect.value, kinds: ["PRODUCTS", "ORDERS"] };
      const name = shopSelect.selectedOptions[0]?.textContent ?? "";
      const change = `Sync now of “${name}”`;
      syncNames.set(input.shopId, name);
      // Refused by the shop's background polls alone, it waits for them and is sent again (js/syncnow.js).
      const result = await starter.send(SYNC, input, change);
      // its answer lost: it may have started; the read of the shop's tasks says whether (syncTold)
      if (!result) return announce(mayHaveBeen(`A sync of “${name}”`, "started"), { kind: "error" });
      if (result.userErrors[0]?.code === "NOT_FOUND") {
        // The shop was deleted elsewhere since the picker was filled (its tasks went with it): read both again, as
        // the sentence says. The picker kept offering it, and each Sync now was refused the same way.
        announce(explain(result.userErrors[0]), { kind: "error" });
        load();
        return loadShops();
      }
      // TOO_MANY_SYNC_STARTS comes with the time it is accepted again (`retryAt`): said as Store management says it
      if (result.userErrors.length) return announce(explainRefusal(result), { kind: "error" });
      for (const task of result.tasks) if (!tasks.has(task.id) && shows(task)) upsert(task, { quiet: true });
      announce(result.tasks.every(shows) ? "Sync started." : "Sync started: Show imports to follow it.", { kind: "success" });
    } catch (exc) {
      announce(exc.message, { kind: "error" });
    } finally {
      syncButton.disabled = false;
    }
  }

  fill(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Task Center"),
      h("form", { class: "inline", onsubmit: syncNow },
        h("label", { for: "sync-shop" }, "Shop to sync"), shopSelect, syncButton)),
    h("p", { class: "inline" }, h("label", { for: "task-filter" }, "Show"), showSelect),
    list,
    more,
  );
  showSelect.addEventListener("change", () => {
    show = showSelect.value;
    shownSince += 1;
    // the choice in the address (Back, a reload keep it); replaceState fires no `hashchange`: the page stays
    history.replaceState(null, "", show === "imports" ? "#/tasks" : `#/tasks?show=${show}`);
    load();
  });
  load();
  loadShops();
  const stop = ctx.socket.subscribe(UPDATES, {}, {
    next: (payload) => {
      const task = payload.data?.syncTaskUpdated;
      starter.taskUpdated(task); // a poll a Sync now waits for may have ended
      if (!task || !shows(task)) return;
      const known = tasks.get(task.id);
      // Progress never goes back: a late message must not undo a newer state read over HTTP.
      if (known && !ACTIVE.has(known.status) && ACTIVE.has(task.status)) return;
      // The first messages are every task's current state: older tasks off this page stay off it.
      const newest = tasks.get(list.firstElementChild?.dataset.key);
      if (!known && !ACTIVE.has(task.status) && newest && task.createdAt < newest.createdAt) return;
      upsert(task);
      for (const told of toldDuringReads) told.set(task.id, task);
    },
  });
  // A shop deleted elsewhere leaves the list and the picker at once: its tasks and its entry stayed until a Sync
  // now of it was refused NOT_FOUND (the list and the picker are read again, as that refusal does).
  const stopDeletions = ctx.socket.subscribe(SHOP_DELETIONS, {}, {
    next: (payload) => {
      if (!payload.data?.shopsDeleted) return;
      load();
      loadShops();
    },
  });
  // A shop renamed elsewhere: its entry in the picker and its tasks' titles take the new name, in place.
  const stopNames = followShopNames(ctx, (shop) => {
    for (const option of shopSelect.options) {
      if (option.value === shop.id && option.textContent !== shop.name) {
        option.textContent = shop.name;
        option.title = shop.name;
      }
    }
    for (const task of [...tasks.values()]) {
      if (task.shop?.id === shop.id && task.shop.name !== shop.name) upsert({ ...task, shop: { ...task.shop, name: shop.name } }, { quiet: true });
    }
  });
  const stopReconnect = ctx.socket.onReconnect(() => load()); // (a cancel whose answer was lost reads its task itself)
  return () => {
    for (const stopRead of cancelsLost.values()) stopRead();
    stop();
    stopNames();
    stopDeletions();
    stopReconnect();
    starter.stop();
  };
}
