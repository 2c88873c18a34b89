// "Sync now" (`syncStart`) as both pages that offer it send it (Task Center, Store management): a Sync now refused
// SYNC_ALREADY_RUNNING by the shop's background polls alone (tasks whose `trigger` is SCHEDULED) waits for them to
// end and is sent again. A poll takes a moment, and the Task Center hides polls by default, so "A sync of this shop
// is already running. Follow it in the Task Center." pointed at nothing and started nothing.

import { announce } from "./dom.js";

/** What the page says while its Sync now waits for the shop's background polls (`POLLS_WAITED_FOR` rounds). */
export const POLLS_RUNNING = "A background check of this shop is running: Sync now starts as soon as it ends.";
// How many times a Sync now refused by the shop's background polls alone waits for them to end and is sent again:
// a shop polled that often that the next poll starts again first is waited for again, a few times.
const POLLS_WAITED_FOR = 5;
const ACTIVE = new Set(["QUEUED", "RUNNING"]);
const TASK = "query SyncNowTask($id: ID!) { syncTask(id: $id) { id status } }";

/** Whether a `syncStart` payload is a refusal by the shop's background polls alone. */
function onlyPolls(result) {
  return result.userErrors[0]?.code === "SYNC_ALREADY_RUNNING" && result.tasks.length > 0
    && result.tasks.every((task) => task.trigger === "SCHEDULED");
}

/**
 * The Sync now of one page (`ctx`, app.js): `{ send, taskUpdated }`.
 *
 * `send(document, input, change)` sends the `syncStart` mutation `document` (its payload selects at least
 * `tasks { id trigger } userErrors { code }`) with `input` (SyncStartInput), named `change` (app.js pageGraphql);
 * refused by the shop's background polls alone, it says POLLS_RUNNING, waits for each of them to end and sends it
 * again, up to POLLS_WAITED_FOR times. Resolves to the last `syncStart` payload (the page says its outcome); rejects
 * as `ctx.graphql` does.
 *
 * `taskUpdated(task)`: each `syncTaskUpdated` message the page hears (`{ id, status }` at least): a task it waits for
 * has ended. Each wait also reads the task once, as it may have ended before the page's feed could tell.
 */
export function syncNow(ctx) {
  const ending = new Map(); // task id -> the resolvers of the waits for its end

  function ended(id) {
    const resolvers = ending.get(id) ?? [];
    ending.delete(id);
    for (const resolve of resolvers) resolve();
  }

  function endOf(id) {
    return new Promise((resolve) => {
      ending.set(id, [...(ending.get(id) ?? []), resolve]);
      ctx.graphql(TASK, { id }).then((data) => {
        if (!data.syncTask || !ACTIVE.has(data.syncTask.status)) ended(id);
      }, () => ended(id));
    });
  }

  async function send(document, input, change) {
    let result = (await ctx.graphql(document, { input }, { change })).syncStart;
    for (let round = 0; round < POLLS_WAITED_FOR && onlyPolls(result); round += 1) {
      announce(POLLS_RUNNING);
      await Promise.all(result.tasks.map((task) => endOf(task.id)));
      result = (await ctx.graphql(document, { input }, { change })).syncStart;
    }
    return result;
  }

  return {
    send,
    taskUpdated: (task) => {
      if (task && !ACTIVE.has(task.status)) ended(task.id);
    },
  };
}
