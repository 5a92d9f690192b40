import { generateKeyPair, webcrypto, type KeyObject, type X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
import * as x509 from "@peculiar/x509";
import { StatusCodes } from "node-opcua";
import { normalizeSubjectName } from "../../domain/subject-name";
import { StatusFault } from "../status-fault";
import { hostNamesOf } from "./certificate-checks";

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const crypto = webcrypto as unknown as Crypto;
const RSA_SHA256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/** What goes into a CreateSigningRequest answer. */
export interface SigningRequestSubject {
  /** SubjectName argument, "" for the current certificate's subject. */
  subjectName: string;
  applicationUri: string;
  /** The current certificate: its subject (when SubjectName is empty) and host names are reused. */
  current: X509Certificate;
  /** Host names and IP addresses to name instead of the current certificate's. */
  hostNames?: string[];
}

/**
 * The subject of a new request: the SubjectName argument ("CN=a/O=b" or "CN=a, O=b", OPC 10000-12
 * §7.9.4), or the current certificate's subject when it is empty. A SubjectName that does not parse:
 * Bad_InvalidArgument (§7.10.10).
 */
export function subjectOf(subjectName: string, current: X509Certificate): string {
  if (subjectName.trim().length === 0) return new x509.X509Certificate(new Uint8Array(current.raw)).subject;
  try {
    return normalizeSubjectName(subjectName);
  } catch (e) {
    throw new StatusFault(StatusCodes.BadInvalidArgument, (e as Error).message);
  }
}

/**
 * A PKCS#10 request (DER) signed with SHA-256 by `privateKey`, for `publicKey`, naming the
 * server's ApplicationUri and its host names (those of its current certificate unless given) as
 * SubjectAltNames, as the CA needs them to issue an application instance certificate.
 */
export async function createCertificateRequest(subject: SigningRequestSubject, keys: { privateKey: KeyObject; publicKey: KeyObject }): Promise<Buffer> {
  const { dnsNames, ipAddresses } = subject.hostNames
    ? { dnsNames: subject.hostNames.filter((h) => isIP(h) === 0), ipAddresses: subject.hostNames.filter((h) => isIP(h) !== 0) }
    : hostNamesOf(subject.current);
  const names: x509.JsonGeneralName[] = [
    { type: "url", value: subject.applicationUri },
    ...dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...ipAddresses.filter((ip) => isIP(ip) !== 0).map((value) => ({ type: "ip" as const, value })),
  ];
  const cryptoKeys: CryptoKeyPair = {
    privateKey: await subtle.importKey("pkcs8", new Uint8Array(keys.privateKey.export({ type: "pkcs8", format: "der" })), RSA_SHA256, false, ["sign"]),
    publicKey: await subtle.importKey("spki", new Uint8Array(keys.publicKey.export({ type: "spki", format: "der" })), RSA_SHA256, true, ["verify"]),
  };
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: subjectOf(subject.subjectName, subject.current),
      keys: cryptoKeys,
      signingAlgorithm: RSA_SHA256,
      extensions: [
        new x509.SubjectAlternativeNameExtension(names),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment, true),
      ],
    },
    crypto,
  );
  return Buffer.from(request.rawData);
}

const generateRsa = promisify(generateKeyPair);

/** A new RSA key pair of `modulusLength` bits (in the thread pool, so the server keeps answering). */
export async function generateRsaKeyPair(modulusLength: number): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return generateRsa("rsa", { modulusLength, publicExponent: 0x10001 });
}
