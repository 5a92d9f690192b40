import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { GdsError } from "../domain/errors";

/** A folder or file of the data folder, as a backup carries it (paths relative, with "/"). */
export interface FolderEntry {
  path: string;
  kind: "dir" | "file";
  /** Permission bits (0600 for keys: kept as they are). */
  mode: number;
  data?: Buffer;
}

/**
 * What a backup leaves out of the data folder, and a restore refuses to write: the SQLite files
 * (the database travels as rows, read in one transaction), the certificates node-opcua rejected
 * (untrusted by definition), lock and temporary files, and the CRL files the GDS rewrites from the
 * database at every start (they change with every revocation and would make the copy unstable).
 */
export function isLeftOut(relative: string): boolean {
  const parts = relative.split("/");
  const name = parts[parts.length - 1];
  if (parts.length === 1 && /^gds\.sqlite(-wal|-shm|-journal)?$/.test(name)) return true;
  if (parts.length >= 2 && parts[1] === "rejected" && (parts[0] === "server-pki" || parts[0] === "user-pki")) return true;
  if (name === "mutex" || name.endsWith(".tmp") || name.endsWith(".partial")) return true;
  if (parts[0] === "ca" && name === "ca.crl.pem") return true;
  if (relative.startsWith("server-pki/trusted/crl/gds-ca-") && name.endsWith(".crl")) return true;
  return false;
}

/** Reads the data folder (regular files and folders only, sorted), without what `isLeftOut` names and without `skip`. */
export async function readDataFolder(root: string, skip: string[] = []): Promise<FolderEntry[]> {
  const skipped = new Set(skip.map((s) => path.resolve(s)));
  const entries: FolderEntry[] = [];
  const visit = async (dir: string, relative: string) => {
    const children = await fs.readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      // A folder removed while we read (node-opcua tidying up) is simply not there.
      if (e.code === "ENOENT") return [];
      throw e;
    });
    for (const child of children.sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = relative ? `${relative}/${child.name}` : child.name;
      const full = path.join(dir, child.name);
      if (isLeftOut(rel) || skipped.has(full)) continue;
      if (child.isDirectory()) {
        const stat = await fs.stat(full);
        entries.push({ path: rel, kind: "dir", mode: stat.mode & 0o777 });
        await visit(full, rel);
      } else if (child.isFile()) {
        try {
          const [stat, data] = await Promise.all([fs.stat(full), fs.readFile(full)]);
          entries.push({ path: rel, kind: "file", mode: stat.mode & 0o777, data });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        }
      }
    }
  };
  await visit(root, "");
  return entries;
}

/** A digest of a list of entries, to tell whether the folder changed between two reads. */
export function digestOf(entries: FolderEntry[]): string {
  const hash = createHash("sha256");
  for (const e of entries) {
    hash.update(`${e.kind}\u0000${e.path}\u0000${e.mode}\u0000`);
    if (e.data) hash.update(e.data);
    hash.update("\u0001");
  }
  return hash.digest("hex");
}

/**
 * Checks a path from a backup: relative, no `..`, nothing a backup never carries. A crafted file
 * must not write outside the target folder, nor over the restored database.
 */
export function checkEntryPath(relative: unknown): string {
  if (typeof relative !== "string" || relative.length === 0 || relative.length > 1024) throw new GdsError("InvalidArgument", "the backup names a file without a usable path");
  const parts = relative.split("/");
  if (relative.startsWith("/") || relative.includes("\\") || relative.includes("\u0000") || parts.some((p) => p === "" || p === "." || p === "..") || isLeftOut(relative)) {
    throw new GdsError("InvalidArgument", `the backup names a file "${relative.slice(0, 100)}" outside what a backup may restore`);
  }
  return relative;
}

/** Writes one entry below `root` with its mode (folders are created as needed, 0700). */
export async function writeEntry(root: string, entry: FolderEntry): Promise<void> {
  const target = path.join(root, checkEntryPath(entry.path));
  const mode = entry.mode & 0o777;
  if (entry.kind === "dir") {
    await fs.mkdir(target, { recursive: true, mode: 0o700 });
    await fs.chmod(target, mode);
    return;
  }
  await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  // Created with its final mode (0600 for keys), never readable by others for a moment.
  await fs.writeFile(target, entry.data ?? Buffer.alloc(0), { mode, flag: "wx" });
  await fs.chmod(target, mode);
}

/** True when `dir` does not exist or holds nothing. */
export async function isEmptyFolder(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw e;
  }
}

/** A fresh folder beside `target` (same file system, so that it can be renamed into place). */
export async function siblingTempFolder(target: string, purpose: string): Promise<string> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const dir = `${target}.${purpose}-${process.pid}-${randomBytes(4).toString("hex")}`;
  await fs.mkdir(dir, { mode: 0o700 });
  return dir;
}

/**
 * Puts `prepared` in the place of `target` with two renames; the folder it replaces is deleted
 * afterwards. At every moment one complete folder is at `target` or beside it under a known name.
 */
export async function swapIn(prepared: string, target: string): Promise<void> {
  let previous: string | null = null;
  try {
    const aside = `${target}.replaced-${process.pid}-${randomBytes(4).toString("hex")}`;
    await fs.rename(target, aside);
    previous = aside;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  try {
    await fs.rename(prepared, target);
  } catch (e) {
    if (previous) await fs.rename(previous, target).catch(() => undefined);
    throw e;
  }
  if (previous) await fs.rm(previous, { recursive: true, force: true });
}
