// What a console form says when its save failed: a "Not saved" mark that stays until the form is saved or reset
// (tryout58 F-low-d: once the server was back, the page cleared "cannot be reached" and showed the edits as typed,
// with nothing saying they were never saved), and what a save whose answer was lost says (tryout58 F-low-b: the
// server saved it, the connection dropped before its answer, and the form said "Shopbridge cannot be reached" beside
// the old value).

import { whenAnswered } from "./api.js";
import { h } from "./dom.js";

/** Whether a save's error is a lost answer: the request may have reached the server, which may have saved it before
 * its answer was lost. The page cannot tell, so it says so and reads what is saved once Shopbridge answers again.
 * Two errors are such a doubt (js/api.js codes):
 * - NETWORK: no HTTP answer came (the connection dropped, perhaps after the server committed);
 * - HTTP_5xx: an HTTP 500 to 599 whose body is no GraphQL answer (a proxy's or load balancer's 502 Bad Gateway, 503,
 *   504 Gateway Timeout, a crash page): the proxy answered for a server that may have committed and then been cut
 *   off or timed out, so it says nothing of the change (console60's "Found but not fixed": it was read as "not made").
 * A server's own answer is no doubt: a GraphQL error body (with any status), a refusal (`userErrors`), or a 4xx
 * (HTTP_4xx: the request refused as sent, 401 UNAUTHENTICATED included): nothing was saved. */
export const answerLost = (error) => error?.code === "NETWORK" || /^HTTP_5\d\d$/.test(error?.code ?? "");

/** What a page says of a change whose answer was lost: "`subject` may have been `done`", with the verb of that change
 * (`done`: "saved" for a form's save, "deleted", "renamed “Main store”", "linked to SB-1", "started", "cancelled"), so
 * that the read which tells it says the same verb: "… was not deleted" (`wasNot`), or the page's own words for the
 * change made. One verb for every change read badly ("The deletion of “Maple” may have been saved", console59's
 * "Found but not fixed"). `subject` names it as the page shows it ("The push policy of “Maple”", "“Maple”"). */
export const mayHaveBeen = (subject, done) =>
  `${subject} may have been ${done}: Shopbridge did not answer. `
  + `${done === "saved" ? "The page shows what is saved" : "The page says whether it was"} as soon as Shopbridge answers again.`;

/** What the read that tells a lost answer says when the change was not made: "`subject` was not `done`: `why`" (the
 * same `subject` and `done` as `mayHaveBeen`; `why`: what the read found, and what to do). */
export const wasNot = (subject, done, why) => `${subject} was not ${done}: ${why}`;

/**
 * Read what a change whose answer was lost made, until a read answers: `read()` (a promise) now, again on each
 * reconnection of the page's socket (`ctx.socket.onReconnect`) and each time another request is answered
 * (js/api.js `whenAnswered`: Shopbridge answers over HTTP again while the socket stayed up, where no reconnection
 * comes), one read at a time; the first that resolves goes to `told(answer)`, once. Returns `stop()`: no read and no
 * `told` after it (the form edited, sent again or closed, the page left).
 */
export function readUntilAnswered(ctx, read, told) {
  let done = false;
  let reading = false;
  const stopReconnect = ctx.socket.onReconnect(() => attempt());
  const stopAnswered = whenAnswered(() => attempt());
  const stop = () => {
    done = true;
    stopReconnect();
    stopAnswered();
  };
  async function attempt() {
    if (done || reading) return;
    reading = true;
    let answer;
    try {
      answer = await read();
    } catch {
      return; // not reachable yet: read again on the next reconnection or answer
    } finally {
      reading = false;
    }
    if (done) return;
    stop();
    told(answer);
  }
  attempt();
  return stop;
}

/**
 * A form's "Not saved" mark: a line (`element`, class `unsaved`, hidden while off) saying `text` ("Not saved: press
 * Save push policy to save it."). `set(on)` shows or hides it; `on` tells whether it is shown. A page shows it after a
 * failed save (refused, or not answered) and hides it once a save of that form succeeds or the form is reset to what
 * is saved; a read of the saved state does not hide it while the form differs from it.
 */
export function unsavedMark(id, text) {
  const element = h("p", { id, class: "unsaved", hidden: true }, text);
  return {
    element,
    set(on) {
      element.hidden = !on;
    },
    get on() {
      return !element.hidden;
    },
  };
}
