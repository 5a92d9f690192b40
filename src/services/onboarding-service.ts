import type { Clock } from "../domain/clock";
import { invalidArgument } from "../domain/errors";
import type { OnboardingStore, OnboardingWindow } from "./ports";

/** The longest window one command may open: enrolment is a supervised event, not a standing door. */
export const MAX_ONBOARDING_MS = 7 * 86_400_000;

/** How long a read of the window state is reused: the channel check needs an answer at once. */
const CACHE_MS = 2_000;

/**
 * The onboarding window: while it is open, devices the GDS does not know may connect with their
 * own self-signed certificate, register the ApplicationUri their certificate carries and ask for a
 * certificate, which always waits for manual approval. The database holds the window, so the CLI
 * and every instance see the same one.
 */
export class OnboardingService {
  private cached: { window: OnboardingWindow | null; readAtMs: number } = { window: null, readAtMs: -Infinity };

  constructor(
    private readonly store: OnboardingStore,
    private readonly clock: Clock,
  ) {}

  /** Opens a window for `durationMs` (replacing an open one). */
  async open(actor: string, durationMs: number): Promise<OnboardingWindow> {
    if (!(durationMs > 0) || durationMs > MAX_ONBOARDING_MS) throw invalidArgument("an onboarding window lasts more than 0 and at most 7 days");
    const now = this.clock.nowMs();
    await this.store.open(actor, now, now + durationMs, { actor, action: "OnboardingOpened", subject: "onboarding", outcome: "Good", details: `until=${new Date(now + durationMs).toISOString()}` });
    return this.refresh();
  }

  /** Closes the open window; false when none was open. */
  async close(actor: string): Promise<boolean> {
    const closed = await this.store.close(actor, this.clock.nowMs(), { actor, action: "OnboardingClosed", subject: "onboarding", outcome: "Good" });
    await this.refresh();
    return closed;
  }

  /** The latest window, read from the database. */
  async refresh(): Promise<OnboardingWindow> {
    const window = await this.store.latest();
    this.cached = { window, readAtMs: this.clock.nowMs() };
    return window ?? { openedAtMs: 0, closesAtMs: 0, openedBy: "", closedBy: null };
  }

  /** Whether a window is open now (reads the database at most every two seconds). */
  async isOpen(): Promise<boolean> {
    if (this.clock.nowMs() - this.cached.readAtMs > CACHE_MS) await this.refresh();
    return this.isOpenCached();
  }

  /** The last known state, without waiting: for the secure-channel check. */
  isOpenCached(): boolean {
    const w = this.cached.window;
    const now = this.clock.nowMs();
    return w !== null && w.openedAtMs <= now && now < w.closesAtMs;
  }
}
