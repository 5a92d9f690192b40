import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplicationType, bestName, validateApplicationFields, type ApplicationFields } from "../../src/domain/application";
import { formatApplicationId, parseApplicationId } from "../../src/domain/application-id";
import { isGdsError } from "../../src/domain/errors";

const server: ApplicationFields = {
  applicationUri: "urn:plant1:plc1",
  applicationType: ApplicationType.Server,
  applicationNames: [{ locale: "en", text: "PLC 1" }],
  productUri: "urn:vendor:plc",
  discoveryUrls: ["opc.tcp://plc1:4840"],
  serverCapabilities: ["DA", "DA", "HD"],
};

function invalid(fields: Partial<ApplicationFields>): boolean {
  try {
    validateApplicationFields({ ...server, ...fields });
    return false;
  } catch (e) {
    return isGdsError(e, "InvalidArgument");
  }
}

describe("ApplicationRecord validation (OPC 10000-12 §6.5.3)", () => {
  it("accepts a complete server record and removes duplicate capabilities", () => {
    assert.deepEqual(validateApplicationFields(server).serverCapabilities, ["DA", "HD"]);
  });
  it("refuses a relative or empty ApplicationUri", () => {
    assert.ok(invalid({ applicationUri: "plc1" }));
    assert.ok(invalid({ applicationUri: "" }));
  });
  it("refuses a record without names, with an empty name, or without ProductUri", () => {
    assert.ok(invalid({ applicationNames: [] }));
    assert.ok(invalid({ applicationNames: [{ locale: "en", text: "" }] }));
    assert.ok(invalid({ productUri: "" }));
  });
  it("requires DiscoveryUrls for servers and none for clients", () => {
    assert.ok(invalid({ discoveryUrls: [] }));
    assert.ok(invalid({ applicationType: ApplicationType.Client }));
    assert.ok(!invalid({ applicationType: ApplicationType.Client, discoveryUrls: [] }));
    assert.ok(invalid({ applicationType: ApplicationType.DiscoveryServer, discoveryUrls: [] }));
  });
  it("refuses an unknown ApplicationType, control characters and over-long values", () => {
    assert.ok(invalid({ applicationType: 4 as ApplicationType }));
    assert.ok(invalid({ applicationType: -1 as ApplicationType }));
    assert.ok(invalid({ applicationUri: "urn:a\nb" }));
    assert.ok(invalid({ productUri: `urn:${"p".repeat(2000)}` }));
    assert.ok(invalid({ serverCapabilities: ["D A"] }));
    assert.ok(invalid({ discoveryUrls: ["http//missing-colon"] }));
  });
  it("bestName picks the preferred locale, then the language, then the first name", () => {
    const names = [
      { locale: "en", text: "Pump" },
      { locale: "de-DE", text: "Pumpe" },
    ];
    assert.equal(bestName(names, ["de-DE"]).text, "Pumpe");
    assert.equal(bestName(names, ["de-AT"]).text, "Pumpe");
    assert.equal(bestName(names, ["fr"]).text, "Pump");
  });
});

describe("ApplicationId string form", () => {
  it("formats as ns=1;g=<guid> and parses that, g=<guid> and a bare GUID", () => {
    const guid = "72962b91-fa75-4ae6-8d28-b404dc7daf63";
    assert.equal(formatApplicationId(guid.toUpperCase()), `ns=1;g=${guid}`);
    assert.equal(parseApplicationId(`ns=1;g=${guid.toUpperCase()}`), guid);
    assert.equal(parseApplicationId(`g=${guid}`), guid);
    assert.equal(parseApplicationId(guid), guid);
  });
  it("refuses other namespaces and other identifier types", () => {
    assert.throws(() => parseApplicationId("ns=2;g=72962b91-fa75-4ae6-8d28-b404dc7daf63"));
    assert.throws(() => parseApplicationId("ns=1;i=5"));
    assert.throws(() => parseApplicationId("not-an-id"));
  });
});
