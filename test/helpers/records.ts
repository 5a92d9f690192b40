import { ApplicationType, type ApplicationFields } from "../../src/domain/application";

/** A valid server record; override what a test is about. */
export function serverRecord(n: number | string, overrides: Partial<ApplicationFields> = {}): ApplicationFields {
  return {
    applicationUri: `urn:plant1:line${n}:plc`,
    applicationType: ApplicationType.Server,
    applicationNames: [{ locale: "en", text: `PLC ${n}` }],
    productUri: "urn:vendor:plc",
    discoveryUrls: [`opc.tcp://plc${n}.plant1:4840`],
    serverCapabilities: ["DA"],
    ...overrides,
  };
}

/** A valid client record. */
export function clientRecord(n: number | string, overrides: Partial<ApplicationFields> = {}): ApplicationFields {
  return {
    applicationUri: `urn:plant1:scada${n}`,
    applicationType: ApplicationType.Client,
    applicationNames: [{ locale: "en", text: `SCADA ${n}` }],
    productUri: "urn:vendor:scada",
    discoveryUrls: [],
    serverCapabilities: [],
    ...overrides,
  };
}
