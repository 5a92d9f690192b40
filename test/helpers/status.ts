import type { StatusCode } from "node-opcua";
import { GdsCallError } from "../../src/client/directory-client";

/** For assert.rejects: the call failed with exactly `expected`. */
export function withStatus(expected: StatusCode): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof GdsCallError)) throw e;
    if (e.statusCode.value !== expected.value) throw new Error(`expected ${expected.toString()}, got ${e.statusCode.toString()}`);
    return true;
  };
}
