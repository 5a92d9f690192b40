/**
 * Subject and SubjectAltName text in the plain form both the lean CSR reader and the certificate
 * encoder handle themselves; anything else goes through @peculiar/x509, whose conventions these follow.
 */

/** Object identifiers of subject attribute types, by the short names @peculiar/x509 uses in text. */
export const ATTRIBUTE_TYPES: Readonly<Record<string, string>> = {
  CN: "2.5.4.3",
  L: "2.5.4.7",
  ST: "2.5.4.8",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  C: "2.5.4.6",
  DC: "0.9.2342.19200300.100.1.25",
  E: "1.2.840.113549.1.9.1",
  G: "2.5.4.42",
  I: "2.5.4.43",
  SN: "2.5.4.4",
  T: "2.5.4.12",
};

/** The short name of an attribute type's OID, by ATTRIBUTE_TYPES. */
export const NAME_OF_ATTRIBUTE: ReadonlyMap<string, string> = new Map(Object.entries(ATTRIBUTE_TYPES).map(([name, oid]) => [oid, name]));

/**
 * A subject attribute value that RFC 4514 text holds without escaping or quoting and that reads back
 * unchanged: no special character, no control character, no surrogate, no space at either end.
 */
export const PLAIN_VALUE = /^(?![ #])[^,+"\\<>;=#\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]*[^,+"\\<>;=#\s\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]$/;

/** Printable ASCII without spaces: the URIs and DNS names handled without @peculiar/x509. */
export const IA5_NAME = /^[\u0021-\u007e]+$/;
