import { invalidArgument } from "./errors";

const ATTRIBUTE = /^(CN|O|OU|DC|L|S|ST|C|SN|GN|E|emailAddress|serialNumber)$/i;

/**
 * Normalises a SubjectName argument to RFC 4514 form. OPC UA tools write it "CN=a/O=b" or
 * "CN=a, O=b"; both are accepted. Values may not hold control characters: a newline in a subject
 * could forge lines in logs and listings.
 */
export function normalizeSubjectName(text: string): string {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw invalidArgument("SubjectName is empty");
  if (trimmed.length > 1024) throw invalidArgument("SubjectName is longer than 1024 characters");
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw invalidArgument("SubjectName contains control characters");
  const parts = (trimmed.includes("/") && !trimmed.includes(",") ? trimmed.replace(/^\//, "").split("/") : trimmed.split(/,(?=\s*[A-Za-z]+=)/)).map((p) => p.trim());
  const rdns = parts.map((part) => {
    const eq = part.indexOf("=");
    const key = eq > 0 ? part.slice(0, eq).trim() : "";
    const value = eq > 0 ? part.slice(eq + 1).trim() : "";
    if (!ATTRIBUTE.test(key) || value.length === 0) throw invalidArgument(`SubjectName part "${part.slice(0, 60)}" is not NAME=value`);
    return `${key.toUpperCase() === "S" ? "ST" : key.toUpperCase()}=${value.replace(/([,+"\\<>;])/g, "\\$1")}`;
  });
  if (!rdns.some((r) => r.startsWith("CN="))) throw invalidArgument("SubjectName needs a CN");
  return rdns.join(", ");
}
