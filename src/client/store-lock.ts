import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { GdsError } from "../domain/errors";

/** What a lock file says about its holder. */
export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** A lock held by this process; `release` removes it (only if it is still ours). */
export interface StoreLock {
  file: string;
  /** True when the lock was taken over from a dead process. */
  tookOver: LockHolder | null;
  release(): Promise<void>;
}

/** True when a process with this id runs on this host (EPERM: it runs, as another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readHolder(file: string): Promise<LockHolder | null> {
  try {
    const holder = JSON.parse(await fs.readFile(file, "utf8")) as LockHolder;
    return Number.isInteger(holder.pid) && typeof holder.hostname === "string" ? holder : null;
  } catch {
    return null;
  }
}

/** True when `holder` is certainly gone: a process of this host that no longer runs. */
function isStale(holder: LockHolder | null): boolean {
  if (holder === null) return true; // unreadable: written by a process that died before finishing it
  return holder.hostname === os.hostname() && holder.pid !== process.pid && !isProcessAlive(holder.pid);
}

/**
 * Takes the lock file `file` for this process (created exclusively). A lock whose holder is a dead
 * process of this host is taken over; a live holder, or one on another host (a shared folder),
 * makes this throw GdsError "Conflict" that names it.
 */
export async function acquireStoreLock(file: string, what: string): Promise<StoreLock> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const me: LockHolder = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
  let tookOver: LockHolder | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fs.writeFile(file, `${JSON.stringify(me)}\n`, { flag: "wx", mode: 0o644 });
      return {
        file,
        tookOver,
        release: async () => {
          const holder = await readHolder(file);
          if (holder?.pid === me.pid && holder.hostname === me.hostname) await fs.rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = await readHolder(file);
    if (!isStale(holder)) {
      throw new GdsError(
        "Conflict",
        `${what} is locked by process ${holder!.pid} on ${holder!.hostname} (since ${holder!.startedAt}): only one agent may write a store; stop that one first, or delete ${file} if no agent runs`,
      );
    }
    // Two processes may find the same stale lock: only one can rename it away, the other sees
    // ENOENT and tries again from the start (and then finds the winner's live lock).
    const aside = `${file}.stale-${process.pid}`;
    try {
      await fs.rename(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    const moved = await readHolder(aside);
    if (!isStale(moved)) {
      // Between reading and renaming, a live process took the lock: give it back.
      await fs.rename(aside, file).catch(() => undefined);
      continue;
    }
    await fs.rm(aside, { force: true });
    tookOver = moved;
  }
  throw new GdsError("Conflict", `could not take the lock ${file}: other processes keep taking it`);
}
