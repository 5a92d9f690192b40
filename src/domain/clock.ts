/** Time is injected so that lifecycle decisions can be tested without waiting. */
export interface Clock {
  nowMs(): number;
}

/** The wall clock. */
export const systemClock: Clock = { nowMs: () => Date.now() };
