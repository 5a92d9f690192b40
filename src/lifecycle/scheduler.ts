import type { Clock } from "../domain/clock";
import type { Leadership } from "../services/lifecycle-ports";
import type { LifecycleTask } from "./lifecycle-task";

/** What the scheduler needs; see LifecycleScheduler. */
export interface SchedulerOptions {
  clock: Clock;
  /** Time between two ticks (each tick checks leadership and starts the tasks that are due). */
  intervalMs: number;
  leadership: Leadership;
  logError: (message: string) => void;
  /** Told when this instance starts or stops acting (audited by the composition root). */
  onLeadershipChange?: (acting: boolean) => void | Promise<void>;
}

interface Entry {
  task: LifecycleTask;
  nextRunMs: number;
  running: Promise<void> | null;
}

/**
 * The lifecycle scheduler of `opcua-gds start`: every tick it makes sure this instance is the
 * acting one (Leadership), then starts each registered task whose time has come. Tasks run side by
 * side, never two runs of one task at once, so a long push batch does not hold up renewal planning.
 * Losing leadership or stopping aborts the running tasks through their signal.
 */
export class LifecycleScheduler {
  private readonly entries: Entry[] = [];
  private timer: NodeJS.Timeout | null = null;
  private acting = false;
  private abort = new AbortController();
  private stopped = false;
  private ticking: Promise<void> | null = null;

  constructor(private readonly options: SchedulerOptions) {}

  /** Adds a periodic task; its first run comes at the first tick this instance acts. */
  register(task: LifecycleTask): void {
    if (!(task.everyMs > 0)) throw new Error(`lifecycle task "${task.name}" needs everyMs above 0`);
    this.entries.push({ task, nextRunMs: 0, running: null });
  }

  /** The names of the registered tasks, in order. */
  get taskNames(): string[] {
    return this.entries.map((e) => e.task.name);
  }

  /** True while this instance holds leadership. */
  get isActing(): boolean {
    return this.acting;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    const loop = () => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        if (!this.stopped) this.timer = setTimeout(loop, this.options.intervalMs);
      });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops ticking, aborts running tasks, waits for them to return, and gives leadership up. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
    await this.ticking;
    await Promise.all(this.entries.map((e) => e.running));
    await this.options.leadership.release();
    if (this.acting) await this.changeLeadership(false);
  }

  /** One tick: leadership, then the due tasks (started, not awaited). Exposed for tests. */
  async tick(): Promise<void> {
    const acting = await this.options.leadership.acquire();
    if (this.stopped) return;
    if (acting !== this.acting) await this.changeLeadership(acting);
    if (!acting) return;
    const now = this.options.clock.nowMs();
    for (const entry of this.entries) {
      if (entry.running || now < entry.nextRunMs) continue;
      entry.nextRunMs = now + entry.task.everyMs;
      const signal = this.abort.signal;
      entry.running = entry.task
        .run(now, signal)
        .catch((e: Error) => this.options.logError(`lifecycle task "${entry.task.name}" failed: ${e?.message ?? String(e)}`))
        .finally(() => {
          entry.running = null;
        });
    }
  }

  private async changeLeadership(acting: boolean): Promise<void> {
    this.acting = acting;
    // Whatever ran under the lost leadership stops; its jobs are released for whoever acts now.
    if (!acting) {
      this.abort.abort();
      if (!this.stopped) this.abort = new AbortController();
    }
    try {
      await this.options.onLeadershipChange?.(acting);
    } catch (e) {
      this.options.logError(`recording the scheduler's leadership failed: ${(e as Error).message}`);
    }
  }
}
