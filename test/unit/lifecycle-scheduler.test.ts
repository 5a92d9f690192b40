import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LifecycleTask } from "../../src/lifecycle/lifecycle-task";
import { LifecycleScheduler } from "../../src/lifecycle/scheduler";
import type { Leadership } from "../../src/services/lifecycle-ports";

/** A leadership the test hands out and takes away. */
function switchable(initial: boolean): Leadership & { leader: boolean; released: number } {
  return {
    leader: initial,
    released: 0,
    async acquire() {
      return this.leader;
    },
    async release() {
      this.released++;
    },
  };
}

function recordingTask(name: string, everyMs: number, work: (signal: AbortSignal) => Promise<void> = async () => undefined): LifecycleTask & { runs: number[] } {
  const runs: number[] = [];
  return { name, everyMs, runs, run: async (now, signal) => { runs.push(now); await work(signal); } };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("lifecycle scheduler (injected clock, no timers)", () => {
  it("runs each task when its time has come, with the clock's time, only while this instance acts", async () => {
    let now = 1_000_000;
    const leadership = switchable(false);
    const changes: boolean[] = [];
    const scheduler = new LifecycleScheduler({ clock: { nowMs: () => now }, intervalMs: 1000, leadership, logError: assert.fail, onLeadershipChange: (a) => void changes.push(a) });
    const fast = recordingTask("fast", 1000);
    const slow = recordingTask("slow", 5000);
    scheduler.register(fast);
    scheduler.register(slow);
    assert.deepEqual(scheduler.taskNames, ["fast", "slow"]);

    await scheduler.tick();
    assert.deepEqual([fast.runs, slow.runs], [[], []], "not the acting instance: nothing runs");
    leadership.leader = true;
    for (let i = 0; i < 6; i++) {
      await scheduler.tick();
      await settle();
      now += 1000;
    }
    assert.deepEqual(fast.runs, [1_000_000, 1_001_000, 1_002_000, 1_003_000, 1_004_000, 1_005_000]);
    assert.deepEqual(slow.runs, [1_000_000, 1_005_000]);
    assert.deepEqual(changes, [true]);
    await scheduler.stop();
    assert.equal(leadership.released, 1);
    assert.deepEqual(changes, [true, false]);
  });

  it("never overlaps two runs of one task; losing leadership aborts the running task; a failing task is logged and runs again", async () => {
    let now = 0;
    const leadership = switchable(true);
    const errors: string[] = [];
    const scheduler = new LifecycleScheduler({ clock: { nowMs: () => now }, intervalMs: 1000, leadership, logError: (m) => errors.push(m) });
    let aborted = 0;
    const long = recordingTask("long", 1, (signal) => new Promise<void>((resolve) => signal.addEventListener("abort", () => { aborted++; resolve(); })));
    let failures = 0;
    const failing = recordingTask("failing", 1, async () => {
      failures++;
      throw new Error("device on fire");
    });
    scheduler.register(long);
    scheduler.register(failing);
    for (let i = 0; i < 3; i++) {
      await scheduler.tick();
      await settle();
      now += 10;
    }
    assert.equal(long.runs.length, 1, "still running: not started again");
    assert.equal(failures, 3);
    assert.equal(errors.length, 3);
    assert.match(errors[0], /lifecycle task "failing" failed: device on fire/);
    leadership.leader = false;
    await scheduler.tick();
    await settle();
    assert.equal(aborted, 1, "the running task was told to stop");
    leadership.leader = true;
    await scheduler.tick();
    await settle();
    assert.equal(long.runs.length, 2, "acting again: runs with a fresh signal");
    await scheduler.stop();
    assert.equal(aborted, 2, "stop aborts it too and waits for it");
  });
});
