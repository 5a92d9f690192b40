/**
 * Looks for secrets in what a GDS run left readable: logs, command output, audit records, database
 * rows. A secret counts as leaked in any form an encoder could have put it in (as is, base64,
 * base64url, hex), and a private key also as a fragment of its DER or of its PEM body, so a key
 * wrapped at another line length or embedded in a longer blob is still found.
 */
import { createPrivateKey } from "node:crypto";

/** One thing that must not appear, in every form it is looked for. */
export interface Needle {
  /** What the secret is, for the report ("admin password", "CA key"). */
  name: string;
  /** The forms, each with how it was encoded. */
  forms: Array<{ encoding: string; text: string }>;
}

/** Something readable after the run, and where it came from. */
export interface Haystack {
  where: string;
  text: string;
}

/** A secret found somewhere. */
export interface Leak {
  secret: string;
  encoding: string;
  where: string;
}

/** A password or passphrase, in the encodings a log line or a JSON field could carry it. */
export function secretNeedle(name: string, value: string): Needle {
  const bytes = Buffer.from(value, "utf8");
  return {
    name,
    forms: [
      { encoding: "plain", text: value },
      { encoding: "base64", text: bytes.toString("base64").replace(/=+$/, "") },
      { encoding: "base64url", text: bytes.toString("base64url") },
      { encoding: "hex", text: bytes.toString("hex") },
    ],
  };
}

/**
 * Fragments of a binary secret (a key's DER, a key file): taken from the middle, since every RSA
 * key's DER starts with the same bytes. 48 bytes cannot match by chance.
 */
export function binaryNeedle(name: string, der: Buffer): Needle {
  const middle = der.subarray(Math.floor(der.length / 2) - 24, Math.floor(der.length / 2) + 24);
  // A base64 fragment must be cut at a 3-byte boundary of the whole to look the same in any encoding of it.
  const start = Math.floor(der.length / 2 / 3) * 3;
  return {
    name,
    forms: [
      { encoding: "base64 (PEM body)", text: der.subarray(start, start + 48).toString("base64") },
      { encoding: "hex", text: middle.toString("hex") },
      { encoding: "raw bytes", text: middle.toString("latin1") },
    ],
  };
}

/** A private key in PEM (encrypted when `passphrase` is given): its PKCS#8 DER and the PEM file as written. */
export function privateKeyNeedles(name: string, pem: string, passphrase?: string): Needle[] {
  const der = createPrivateKey({ key: pem, passphrase }).export({ type: "pkcs8", format: "der" });
  const needles = [binaryNeedle(`${name} (PKCS#8 DER)`, der)];
  const body = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/^[A-Za-z-]+:.*$/gm, "").replace(/\s+/g, ""), "base64");
  if (!body.equals(der)) needles.push(binaryNeedle(`${name} (as stored)`, body));
  return needles;
}

/** A PEM private-key block of any kind, whoever's key it is. */
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Every needle form and every PEM private-key header in every haystack. */
export function scanForSecrets(needles: Needle[], haystacks: Haystack[]): Leak[] {
  const leaks: Leak[] = [];
  for (const h of haystacks) {
    if (PEM_PRIVATE_KEY.test(h.text)) leaks.push({ secret: "a PEM private key block", encoding: "PEM", where: h.where });
    // Base64 wrapped at any line length, also inside a JSON string ("\n"), still holds the fragment once the breaks are gone.
    const unwrapped = h.text.replace(/\\[nr]|\s+/g, "");
    for (const n of needles) {
      const found = n.forms.find((f) => f.text.length > 0 && (h.text.includes(f.text) || unwrapped.includes(f.text)));
      if (found) leaks.push({ secret: n.name, encoding: found.encoding, where: h.where });
    }
  }
  return leaks;
}

/** "admin password (base64) in audit record 12" lines, for an assertion message. */
export function describeLeaks(leaks: Leak[]): string {
  return leaks.map((l) => `${l.secret} (${l.encoding}) in ${l.where}`).join("\n");
}
