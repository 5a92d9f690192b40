import type { StatusCode } from "node-opcua";

/**
 * A method result named by its OPC UA status code, for the codes of OPC 10000-12 and -20 that are
 * not a GdsError kind (file handles, certificates, transactions). Bindings return its code as is.
 */
export class StatusFault extends Error {
  constructor(
    readonly statusCode: StatusCode,
    message: string,
  ) {
    super(message);
    this.name = "StatusFault";
  }
}
