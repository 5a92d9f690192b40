import type { Clock } from "../domain/clock";
import { afterFailure, isForgotten, isLocked, type FailureRecord, type LoginThrottlePolicy } from "../domain/login-throttle";
import type { AuditLog } from "./ports";

/** Most keys remembered at once: a flood of invented user names cannot grow memory without bound. */
export const MAX_TRACKED_KEYS = 10_000;

/** A user name as it may appear in an audit record: bounded, without control characters. */
function printable(userName: string): string {
  return userName.slice(0, 128).replace(/[\u0000-\u001f\u007f]/g, "?");
}

/**
 * Guards password logins: a user name, or a client certificate, that failed too often is locked
 * for a while and every login through it fails at once, without checking the password, whether the
 * user exists or not (the answer is the same BadUserAccessDenied either way). Failures and lockouts
 * are audited. Kept in memory per instance: instances sharing a database each count on their own.
 */
export class LoginGuard {
  private readonly records = new Map<string, FailureRecord>();

  constructor(
    private readonly policy: LoginThrottlePolicy,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Runs `checkPassword` unless a key is locked; returns whether the login succeeded. A success
   * clears the user name's failures; the client's keep counting (they catch one client trying many names).
   */
  async attempt(userName: string, clientThumbprint: string | null, checkPassword: () => Promise<boolean>): Promise<boolean> {
    const userKey = `user\u0000${userName}`;
    const clientKey = clientThumbprint ? `client\u0000${clientThumbprint}` : null;
    const before = this.clock.nowMs();
    if (isLocked(this.records.get(userKey), before) || (clientKey && isLocked(this.records.get(clientKey), before))) return false;
    if (await checkPassword()) {
      this.records.delete(userKey);
      return true;
    }
    const now = this.clock.nowMs();
    const user = this.fail(userKey, now, this.policy.freeAttemptsPerUser);
    const client = clientKey ? this.fail(clientKey, now, this.policy.freeAttemptsPerClient) : null;
    const name = printable(userName);
    const from = clientThumbprint ? ` client=${clientThumbprint}` : "";
    await this.audit.append({ actor: name || "(empty)", action: "LoginFailed", subject: `user ${name}`, outcome: "BadUserAccessDenied", details: `failures=${user.failures}${from}` });
    for (const [what, record] of [[`user ${name}`, user], [`client ${clientThumbprint}`, client]] as const) {
      if (record && record.lockedUntilMs > now) {
        await this.audit.append({
          actor: "login-guard",
          action: "LoginThrottled",
          subject: what,
          outcome: "Good",
          details: `failures=${record.failures} lockedFor=${record.lockedUntilMs - now}ms until=${new Date(record.lockedUntilMs).toISOString()}`,
        });
      }
    }
    return false;
  }

  /** Keys tracked now (for tests of the memory bound). */
  get trackedKeys(): number {
    return this.records.size;
  }

  private fail(key: string, nowMs: number, freeAttempts: number): FailureRecord {
    const record = afterFailure(this.records.get(key), nowMs, freeAttempts, this.policy);
    // Re-inserted at the end: the Map's order is the order of last failure, oldest first.
    this.records.delete(key);
    this.records.set(key, record);
    this.trim(nowMs);
    return record;
  }

  /**
   * Drops forgotten records (they are the oldest, at the front) and, above the bound, the oldest
   * unlocked ones; a lockout is dropped only when every record is locked, so inventing names cannot
   * push out the lockout of a name under attack.
   */
  private trim(nowMs: number): void {
    for (const [key, record] of this.records) {
      const forgotten = isForgotten(record, nowMs, this.policy);
      if (this.records.size <= MAX_TRACKED_KEYS && !forgotten) break;
      if (forgotten || !isLocked(record, nowMs)) this.records.delete(key);
    }
    for (const key of this.records.keys()) {
      if (this.records.size <= MAX_TRACKED_KEYS) break;
      this.records.delete(key);
    }
  }
}
