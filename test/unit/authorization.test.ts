import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DISCOVERY_ADMIN, OPEN, authorize } from "../../src/domain/authorization";
import { ChannelSecurity, type Caller } from "../../src/domain/caller";
import { GdsError } from "../../src/domain/errors";
import type { Role } from "../../src/domain/roles";
import { parseRoles } from "../../src/domain/roles";

function caller(channel: ChannelSecurity, user: string | null, roles: Role[] = []): Caller {
  return { channel, user, roles: new Set(roles), clientCertificateThumbprint: null, selfApplicationId: null, onboardingUri: null, onboardingApplicationId: null };
}

function kindOf(fn: () => void): string {
  try {
    fn();
    return "allowed";
  } catch (e) {
    return (e as GdsError).kind;
  }
}

describe("authorize (channel first, then identity and role)", () => {
  it("DiscoveryAdmin changes need a signed channel before anything else", () => {
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.None, "admin", ["DiscoveryAdmin"]), DISCOVERY_ADMIN)), "SecurityModeInsufficient");
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.None, null), DISCOVERY_ADMIN)), "SecurityModeInsufficient");
  });
  it("then an authenticated user holding DiscoveryAdmin", () => {
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.Sign, null), DISCOVERY_ADMIN)), "UserAccessDenied");
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.SignAndEncrypt, "bob", ["SecurityAdmin"]), DISCOVERY_ADMIN)), "UserAccessDenied");
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.Sign, "bob", ["DiscoveryAdmin"]), DISCOVERY_ADMIN)), "allowed");
  });
  it("open methods allow anyone", () => {
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.None, null), OPEN)), "allowed");
  });
  it("role names parse case-insensitively and unknown names are refused", () => {
    assert.deepEqual(parseRoles("discoveryadmin, SecurityAdmin,DiscoveryAdmin"), ["DiscoveryAdmin", "SecurityAdmin"]);
    assert.throws(() => parseRoles("Root"), /known roles/);
  });
});
