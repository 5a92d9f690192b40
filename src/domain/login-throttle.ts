/**
 * Slowing down password guessing: after a number of free failures, each further failed login
 * locks the key (a user name, or a client application certificate) for twice as long as the last
 * time, up to a ceiling. Pure: the caller passes the time in and keeps the records.
 */

/** How failed logins are slowed down; defaults and variables in config.ts. */
export interface LoginThrottlePolicy {
  /** Failures of one user name before it is locked. */
  freeAttemptsPerUser: number;
  /** Failures from one client certificate, across user names, before it is locked (password spraying). */
  freeAttemptsPerClient: number;
  /** The first lockout; every further failure doubles it. */
  firstLockoutMs: number;
  /** The longest lockout. Failures are forgotten after twice this without a new one. */
  maxLockoutMs: number;
}

/** The failed logins of one key. */
export interface FailureRecord {
  failures: number;
  lastFailureMs: number;
  /** 0 when not locked. */
  lockedUntilMs: number;
}

/** True while `record` locks its key. */
export function isLocked(record: FailureRecord | undefined, nowMs: number): boolean {
  return record !== undefined && record.lockedUntilMs > nowMs;
}

/** True when a record has nothing left to remember (may be dropped). */
export function isForgotten(record: FailureRecord, nowMs: number, policy: LoginThrottlePolicy): boolean {
  return nowMs - record.lastFailureMs > 2 * policy.maxLockoutMs && record.lockedUntilMs <= nowMs;
}

/** The lockout after the `failures`-th failure: none within the free attempts, then doubling up to the ceiling. */
export function lockoutMs(failures: number, freeAttempts: number, policy: LoginThrottlePolicy): number {
  const over = failures - freeAttempts;
  if (over <= 0) return 0;
  // 2^30 times the first lockout is beyond any ceiling: stop doubling before the number overflows.
  return Math.min(policy.maxLockoutMs, policy.firstLockoutMs * 2 ** Math.min(over - 1, 30));
}

/** The record of a key after one more failed login at `nowMs`. */
export function afterFailure(record: FailureRecord | undefined, nowMs: number, freeAttempts: number, policy: LoginThrottlePolicy): FailureRecord {
  const failures = record && !isForgotten(record, nowMs, policy) ? record.failures + 1 : 1;
  const lock = lockoutMs(failures, freeAttempts, policy);
  return { failures, lastFailureMs: nowMs, lockedUntilMs: lock > 0 ? nowMs + lock : 0 };
}
