/**
 * Connection churn for the soak run: short sessions that connect, take a
 * nickname, join a room of their own, chat, list the room and leave, half
 * of them with CLOSE and half by dropping the socket, so the server keeps
 * creating and freeing clients, nicknames and rooms beside the steady load.
 *
 * @module
 */

import type { ChatConnection } from "../client/chat_connection.ts";
import { connectTcp } from "../client/tcp_connect.ts";
import { type Frame, Tag } from "../protocol/mod.ts";

/** The room churn sessions meet in, away from the load generator's room. */
export const CHURN_ROOM = "soak-churn";

/** Longest a churn session may take before it counts as failed. */
const SESSION_TIMEOUT_MS = 10_000;

/** What the churn did. */
export interface ChurnCounts {
  /** Sessions started. */
  started: number;
  /** Sessions that got every answer they waited for and left. */
  completed: number;
  /** Sessions that failed (refused, broken or too slow), by reason. */
  failures: Record<string, number>;
  /** Sessions not started because `maxConcurrent` were still running. */
  skipped: number;
  /** Sessions running now. */
  running: number;
}

/** A running churn loop. */
export interface Churn {
  /** The counts so far (updated live). */
  counts: ChurnCounts;
  /** Stop starting sessions; settles once the running ones have ended. */
  stop(): Promise<void>;
}

/**
 * Start sessions against `port` at `perSecond` until stopped.
 *
 * @param port The server's port on 127.0.0.1.
 * @param perSecond Sessions started a second.
 * @param maxConcurrent Most sessions at once; past it a start is skipped.
 * @returns The running loop.
 */
export function startChurn(
  port: number,
  perSecond: number,
  maxConcurrent: number,
): Churn {
  const counts: ChurnCounts = {
    started: 0,
    completed: 0,
    failures: {},
    skipped: 0,
    running: 0,
  };
  const sessions = new Set<Promise<void>>();
  let stopped = false;
  const interval = 1000 / perSecond;
  const began = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    if (stopped) return;
    const due = Math.floor((performance.now() - began) / interval) + 1;
    while (counts.started + counts.skipped < due) {
      if (counts.running >= maxConcurrent) {
        counts.skipped++;
        continue;
      }
      const index = counts.started++;
      counts.running++;
      const session = runSession(port, index)
        .then(() => {
          counts.completed++;
        }, (error: Error) => {
          const reason = error.message;
          counts.failures[reason] = (counts.failures[reason] ?? 0) + 1;
        })
        .finally(() => {
          counts.running--;
          sessions.delete(session);
        });
      sessions.add(session);
    }
    timer = setTimeout(tick, interval);
  };
  tick();
  return {
    counts,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all([...sessions]);
    },
  };
}

/** One session; rejects with a short reason when anything goes wrong. */
async function runSession(port: number, index: number): Promise<void> {
  let connection: ChatConnection;
  try {
    connection = await connectTcp({ hostname: "127.0.0.1", port });
  } catch (error) {
    throw new Error(`connect: ${(error as Error).name}`);
  }
  const frames = connection.frames();
  const timer = setTimeout(() => connection.close(), SESSION_TIMEOUT_MS);
  try {
    const next = async (
      wanted: (frame: Frame) => boolean,
      what: string,
    ): Promise<Frame> => {
      for (;;) {
        let result: IteratorResult<Frame>;
        try {
          result = await frames.next();
        } catch {
          throw new Error(`connection broke waiting for ${what}`);
        }
        if (result.done) throw new Error(`no ${what} (closed or timed out)`);
        const frame = result.value;
        if (frame.tag === Tag.ERROR && frame.senderId !== Tag.CHAT) {
          throw new Error(`ERROR ${new TextDecoder().decode(frame.body)}`);
        }
        if (wanted(frame)) return frame;
      }
    };
    const issued = await next((f) => f.tag === Tag.ISSUE_ID, "ISSUE_ID");
    const text = `churn ${index}`;
    await connection.send(Tag.NICK, `churn-${index}`);
    await connection.send(Tag.JOIN, CHURN_ROOM);
    await connection.send(Tag.CHAT, text);
    await connection.send(Tag.WHO);
    await next(
      (f) =>
        f.tag === Tag.CHAT && f.senderId === issued.senderId &&
        new TextDecoder().decode(f.body) === text,
      "own CHAT",
    );
    await next((f) => f.tag === Tag.WHO && f.body.length === 0, "WHO end");
    if (index % 2 === 0) {
      await connection.send(Tag.CLOSE);
      await next((f) => f.tag === Tag.CLOSE, "CLOSE reply");
    }
  } finally {
    clearTimeout(timer);
    connection.close();
  }
}
