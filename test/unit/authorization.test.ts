import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DISCOVERY_ADMIN, GROUP_TRUST_LIST_READER, OPEN, authorize } from "../../src/domain/authorization";
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
  it("a group's TrustList is read by CertificateAuthorityAdmin or SecurityAdmin, or by an application of that group only (OPC 10000-12 §7.8.2.1)", () => {
    const self = { ...caller(ChannelSecurity.Sign, null), selfApplicationId: "app-1" };
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.Sign, "ca", ["CertificateAuthorityAdmin"]), GROUP_TRUST_LIST_READER)), "allowed");
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.Sign, "sec", ["SecurityAdmin"]), GROUP_TRUST_LIST_READER)), "allowed");
    assert.equal(kindOf(() => authorize(self, GROUP_TRUST_LIST_READER, "app-1")), "allowed");
    assert.equal(kindOf(() => authorize(self, GROUP_TRUST_LIST_READER, null)), "UserAccessDenied");
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.SignAndEncrypt, "viewer", []), GROUP_TRUST_LIST_READER)), "UserAccessDenied");
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.SignAndEncrypt, "disc", ["DiscoveryAdmin"]), GROUP_TRUST_LIST_READER)), "UserAccessDenied");
    assert.equal(kindOf(() => authorize(caller(ChannelSecurity.None, "ca", ["CertificateAuthorityAdmin"]), GROUP_TRUST_LIST_READER)), "SecurityModeInsufficient");
  });
  it("role names parse case-insensitively and unknown names are refused", () => {
    assert.deepEqual(parseRoles("discoveryadmin, SecurityAdmin,DiscoveryAdmin"), ["DiscoveryAdmin", "SecurityAdmin"]);
    assert.throws(() => parseRoles("Root"), /known roles/);
  });
});
