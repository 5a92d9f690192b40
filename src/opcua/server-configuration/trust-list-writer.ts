import * as x509 from "@peculiar/x509";
import { StatusCodes, type ISessionContext, type StatusCode, type UAMethod, type UAObject } from "node-opcua";
import type { AuditEvents } from "../audit-events";
import { statusCodeOf } from "../status-codes";
import { StatusFault } from "../status-fault";
import { TrustListMasks, type TrustListContent, type TrustListWriter, type WrittenTrustList } from "../trust-list-file";
import { chainsTo, parseCertificate } from "./certificate-checks";
import type { ConfigurationState } from "./configuration-state";
import { digestOf } from "./pki-store";
import { checkTrustListContent, distinct } from "./trust-list-checks";

/** TrustListUpdatedAuditEventType (ns0). */
export const TRUST_LIST_UPDATED_AUDIT_EVENT = 12561;

/** `base` with the lists `written` specifies replaced by its lists. */
function merge(base: TrustListContent, written: WrittenTrustList): TrustListContent {
  const pick = (bit: number, fromWritten: Buffer[], fromBase: Buffer[]) => distinct((written.specifiedLists & bit) !== 0 ? fromWritten : fromBase);
  return {
    trustedCertificates: pick(TrustListMasks.TrustedCertificates, written.trustedCertificates, base.trustedCertificates),
    trustedCrls: pick(TrustListMasks.TrustedCrls, written.trustedCrls, base.trustedCrls),
    issuerCertificates: pick(TrustListMasks.IssuerCertificates, written.issuerCertificates, base.issuerCertificates),
    issuerCrls: pick(TrustListMasks.IssuerCrls, written.issuerCrls, base.issuerCrls),
  };
}

/** A SHA-1 thumbprint as 40 lower-case hex digits; colons and spaces between digits are allowed. */
function normalizeThumbprint(text: string): string {
  const hex = text.replace(/[\s:]/g, "").toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(hex)) throw new StatusFault(StatusCodes.BadInvalidArgument, "Thumbprint must be the 40 hex digits of a SHA-1 thumbprint");
  return hex;
}

/** The CRLs of `crls` issued by `caDer` (by issuer name; the CRL's signature was checked when it was written). */
function crlsIssuedBy(caDer: Buffer, crls: Buffer[]): Set<string> {
  const subject = new x509.X509Certificate(new Uint8Array(caDer)).subjectName.toString();
  const issued = new Set<string>();
  for (const crl of crls) {
    try {
      if (new x509.X509Crl(new Uint8Array(crl)).issuerName.toString() === subject) issued.add(digestOf(crl));
    } catch {
      // A CRL that no longer parses names no issuer.
    }
  }
  return issued;
}

/**
 * The TrustListWriter of the DefaultApplicationGroup TrustList of a push-managed server: a written
 * file and AddCertificate/RemoveCertificate are checked, and then staged in the caller's transaction
 * (CloseAndUpdate) or applied at once (AddCertificate, RemoveCertificate, which OPC 10000-12 §7.8.2.6
 * keeps out of transactions). Each raises TrustListUpdatedAuditEventType with its outcome.
 */
export function trustListWriter(state: ConfigurationState, trustList: UAObject, events: AuditEvents): TrustListWriter {
  const methodNode = (name: string) => trustList.getMethodByName(name) as UAMethod | null;
  const audited = async <T>(context: ISessionContext, name: string, work: () => Promise<T>): Promise<T> => {
    let status: StatusCode = StatusCodes.Good;
    try {
      return await work();
    } catch (e) {
      status = statusCodeOf(e);
      throw e;
    } finally {
      const method = methodNode(name);
      const actor = state.options.actorOf(context);
      if (method) events.raiseStandard(TRUST_LIST_UPDATED_AUDIT_EVENT, { methodName: name, methodNode: method, actor, clientUserId: actor, status });
    }
  };

  return {
    maxTrustListSize: state.options.maxTrustListSize,
    checkCanWrite: (context) => state.checkNoOtherTransaction(context),
    update: (context, written) =>
      audited(context, "CloseAndUpdate", async () => {
        state.checkNoOtherTransaction(context);
        const next = merge(await state.trustListFor(context), written);
        await checkTrustListContent(next);
        state.transactionOf(context, true).trustList = next;
        return true;
      }),
    addCertificate: (context, certificate, isTrustedCertificate) =>
      audited(context, "AddCertificate", async () => {
        state.checkNoTransaction();
        if (!isTrustedCertificate) {
          throw new StatusFault(StatusCodes.BadCertificateInvalid, "issuer certificates need their CRLs: write them with Open/Write/CloseAndUpdate (IsTrustedCertificate must be true)");
        }
        parseCertificate(certificate, "the Certificate");
        const current = await state.store.read();
        if (!chainsTo(certificate, [...current.trustedCertificates, ...current.issuerCertificates])) {
          throw new StatusFault(StatusCodes.BadCertificateChainIncomplete, "the Certificate's issuer is not in the trust list");
        }
        await state.installTrustList({ ...current, trustedCertificates: distinct([...current.trustedCertificates, Buffer.from(certificate)]) });
        await state.notify({ kind: "trustList", actor: state.options.actorOf(context), detail: "AddCertificate" });
      }),
    removeCertificate: (context, thumbprint, isTrustedCertificate) =>
      audited(context, "RemoveCertificate", async () => {
        const wanted = normalizeThumbprint(thumbprint);
        state.checkNoTransaction();
        const current = await state.store.read();
        const list = isTrustedCertificate ? current.trustedCertificates : current.issuerCertificates;
        const target = list.find((der) => digestOf(der) === wanted);
        if (!target) throw new StatusFault(StatusCodes.BadInvalidArgument, `no certificate with thumbprint ${wanted} in the ${isTrustedCertificate ? "trusted" : "issuer"} list`);
        const retained = state.options.retainedTrust ? await state.options.retainedTrust() : {};
        if ([...(retained.trustedCertificates ?? []), ...(retained.issuerCertificates ?? [])].some((der) => digestOf(der) === wanted)) {
          throw new StatusFault(StatusCodes.BadRequestNotAllowed, "this certificate is always trusted by this server and cannot be removed");
        }
        // An issuer's CRLs go with it: a CRL nobody can check only confuses the next reader.
        const crlList = isTrustedCertificate ? "trustedCrls" : "issuerCrls";
        const orphaned = crlsIssuedBy(target, current[crlList]);
        const listName = isTrustedCertificate ? "trustedCertificates" : "issuerCertificates";
        await state.installTrustList({
          ...current,
          [listName]: list.filter((der) => der !== target),
          [crlList]: current[crlList].filter((crl) => !orphaned.has(digestOf(crl))),
        });
        await state.notify({ kind: "trustList", actor: state.options.actorOf(context), detail: "RemoveCertificate" });
        state.dropUntrustedAfter(context);
      }),
    lastUpdateTime: () => state.lastTrustListUpdate(),
  };
}
