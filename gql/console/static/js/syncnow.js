// "Sync now" (`syncStart`) as both pages that offer it send it (Task Center, Store management): a Sync now refused
// SYNC_ALREADY_RUNNING by the shop's background polls alone (tasks whose `trigger` is SCHEDULED) waits for them to
// end and is sent again. A poll takes a moment, and the Task Center hides polls by default, so "A sync of this shop
// is already running. Follow it in the Task Center." pointed at nothing and started nothing.
//
// A Sync now whose answer was lost (js/unsaved.js answerLost: the server may have queued its tasks before the
// connection dropped) is told by a read of the shop's manual tasks: those created after the newest one read just before
// it was sent are the ones it started. Both pages said "Shopbridge cannot be reached", and a Sync now pressed again
// was refused SYNC_ALREADY_RUNNING by the tasks the first had started (console59's "Found but not fixed").

import { announce } from "./dom.js";
import { answerLost, readUntilAnswered } from "./unsaved.js";

/** What the page says while its Sync now waits for the shop's background polls (`POLLS_WAITED_FOR` rounds). */
export const POLLS_RUNNING = "A background check of this shop is running: Sync now starts as soon as it ends.";
// How many times a Sync now refused by the shop's background polls alone waits for them to end and is sent again:
// a shop polled that often that the next poll starts again first is waited for again, a few times.
const POLLS_WAITED_FOR = 5;
const ACTIVE = new Set(["QUEUED", "RUNNING"]);
const TASK = "query SyncNowTask($id: ID!) { syncTask(id: $id) { id status } }";
// The shop's newest MANUAL tasks (a Sync now of PRODUCTS and ORDERS makes two, created together), newest first.
const MANUAL = `query SyncNowManual($shopId: ID!) { syncTasks(shopId: $shopId, trigger: [MANUAL], first: 2) {
  edges { node { id kind trigger status createdAt } } } }`;

/** Whether a `syncStart` payload is a refusal by the shop's background polls alone. */
function onlyPolls(result) {
  return result.userErrors[0]?.code === "SYNC_ALREADY_RUNNING" && result.tasks.length > 0
    && result.tasks.every((task) => task.trigger === "SCHEDULED");
}

/**
 * The Sync now of one page (`ctx`, app.js): `{ send, taskUpdated, stop }`.
 *
 * `send(document, input, change)` sends the `syncStart` mutation `document` (its payload selects at least
 * `tasks { id trigger } userErrors { code }`) with `input` (SyncStartInput), named `change` (app.js pageGraphql);
 * refused by the shop's background polls alone, it says POLLS_RUNNING, waits for each of them to end and sends it
 * again, up to POLLS_WAITED_FOR times. Resolves to the last `syncStart` payload (the page says its outcome); rejects
 * as `ctx.graphql` does, but for a lost answer (js/unsaved.js answerLost): it resolves to null then (the page says the
 * sync may have been started), and the shop's manual tasks are read, now, on each reconnection of the page's socket
 * and each time another request of the page is answered, until one read answers (js/unsaved.js readUntilAnswered:
 * read again on reconnections alone, it waited for one that may never come while the socket stayed up):
 * `told({ input, started, running })` says what the read found (`started`: the tasks
 * (`{ id kind trigger status createdAt }`) created since the newest one read before the send, [] when it started
 * none; `running`: those of the shop's newest still QUEUED or RUNNING). The shop's manual tasks are read before the
 * send; that read failing, nothing is sent and `send` rejects with its error (Shopbridge unreachable: nothing started).
 *
 * `taskUpdated(task)`: each `syncTaskUpdated` message the page hears (`{ id, status }` at least): a task it waits for
 * has ended. Each wait also reads the task once, as it may have ended before the page's feed could tell, and again on
 * each reconnection of the page's socket: a poll that ended while the socket was down is told by the subscription's
 * first messages only when it is among them (each shop's latest task of each kind, at most 100: past 100 shops in
 * scope a wait outlasted its poll until the page was left; console59's "Found but not fixed").
 *
 * `stop()`: for the page's teardown (its reconnection listener and its lost answers' reads go).
 */
export function syncNow(ctx, { told = () => {} } = {}) {
  const ending = new Map(); // task id -> the resolvers of the waits for its end
  const doubts = new Set(); // the stops of the reads telling a lost answer, until one answers (readUntilAnswered)
  const stopReconnect = ctx.socket.onReconnect(() => {
    for (const id of [...ending.keys()]) readEnd(id, () => {}); // unreadable yet: the next reconnection reads it
  });

  /** Read the task `id` waited for: ended (or gone), its waits end; the read failing, `failed()`. */
  function readEnd(id, failed) {
    ctx.graphql(TASK, { id }).then((data) => {
      if (!data.syncTask || !ACTIVE.has(data.syncTask.status)) ended(id);
    }, failed);
  }

  const manualTasks = async (shopId) => (await ctx.graphql(MANUAL, { shopId })).syncTasks.edges.map(({ node }) => node);

  /** Read what a Sync now whose answer was lost started (`before`: the createdAt of the shop's newest manual task read
   * before it was sent, "" for none), and `told` it; unreachable, again on the next reconnection or answer.
   * ISO times of one server compare as strings (tasks.js newerFirst). */
  function lost(input, before) {
    const stopRead = readUntilAnswered(ctx, () => manualTasks(input.shopId), (tasks) => {
      doubts.delete(stopRead);
      const started = tasks.filter((task) => task.createdAt > before);
      told({ input, started, running: tasks.filter((task) => ACTIVE.has(task.status)) });
    });
    doubts.add(stopRead);
  }

  function ended(id) {
    const resolvers = ending.get(id) ?? [];
    ending.delete(id);
    for (const resolve of resolvers) resolve();
  }

  function endOf(id) {
    return new Promise((resolve) => {
      ending.set(id, [...(ending.get(id) ?? []), resolve]);
      readEnd(id, () => ended(id));
    });
  }

  async function send(document, input, change) {
    // (read first: a lost answer is told by the tasks created after it; unread, nothing is sent, and the page says
    // why as for a Sync now that failed: Shopbridge cannot be reached, nothing started)
    const before = (await manualTasks(input.shopId))[0]?.createdAt ?? "";
    try {
      let result = (await ctx.graphql(document, { input }, { change })).syncStart;
      for (let round = 0; round < POLLS_WAITED_FOR && onlyPolls(result); round += 1) {
        announce(POLLS_RUNNING);
        await Promise.all(result.tasks.map((task) => endOf(task.id)));
        result = (await ctx.graphql(document, { input }, { change })).syncStart;
      }
      return result;
    } catch (exc) {
      if (!answerLost(exc)) throw exc;
      lost(input, before);
      return null;
    }
  }

  return {
    send,
    stop: () => {
      stopReconnect();
      for (const stopRead of doubts) stopRead();
    },
    taskUpdated: (task) => {
      if (task && !ACTIVE.has(task.status)) ended(task.id);
    },
  };
}
