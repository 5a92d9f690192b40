import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { GdsError } from "../domain/errors";

/**
 * The backup file: a magic line with the format version, a gzip stream of JSON lines (one record a
 * line), and a trailer line with the SHA-256 of everything before it. The checksum finds damage and
 * truncation; it is not a signature (anyone who can write the file can recompute it).
 *
 *   OPCUA-GDS-BACKUP 1\n  <gzip of NDJSON>  \nSHA256 <64 hex>\n
 */
export const BACKUP_MAGIC = "OPCUA-GDS-BACKUP";
export const BACKUP_FORMAT_VERSION = 1;

const TRAILER_PREFIX = "\nSHA256 ";
const TRAILER_LENGTH = TRAILER_PREFIX.length + 64 + 1;
const HEADER = `${BACKUP_MAGIC} ${BACKUP_FORMAT_VERSION}\n`;

/** Writes a backup file: created 0600 beside its final name, renamed into place only when complete. */
export class BackupWriter {
  private readonly hash = createHash("sha256");
  private readonly gzip = zlib.createGzip();
  private readonly done: Promise<void>;
  private bytes = 0;

  private constructor(
    private readonly temp: string,
    private readonly target: string,
  ) {
    const out = createWriteStream(temp, { flags: "wx", mode: 0o600 });
    this.hash.update(HEADER);
    this.bytes += HEADER.length;
    out.write(HEADER);
    const hashing = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        callback(null, chunk);
      },
    });
    this.done = pipeline(this.gzip, hashing, out);
    // A failed pipeline is reported by finish(); keep it from being an unhandled rejection meanwhile.
    this.done.catch(() => undefined);
  }

  /** Starts a backup that becomes `target` once finished. */
  static async create(target: string): Promise<BackupWriter> {
    const temp = `${target}.${process.pid}.partial`;
    await fs.rm(temp, { force: true });
    return new BackupWriter(temp, target);
  }

  /** Appends one record (a JSON line), waiting when the compressor is behind. */
  async write(record: unknown): Promise<void> {
    if (!this.gzip.write(`${JSON.stringify(record)}\n`)) await new Promise<void>((resolve) => this.gzip.once("drain", resolve));
  }

  /** Completes the file (trailer, fsync) and renames it into place; returns its size and checksum. */
  async finish(): Promise<{ bytes: number; sha256: string }> {
    this.gzip.end();
    await this.done;
    const sha256 = this.hash.digest("hex");
    const handle = await fs.open(this.temp, "a");
    try {
      await handle.write(`${TRAILER_PREFIX}${sha256}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.chmod(this.temp, 0o600);
    await fs.rename(this.temp, this.target);
    return { bytes: this.bytes + TRAILER_LENGTH, sha256 };
  }

  /** Drops an unfinished file. */
  async abort(): Promise<void> {
    this.gzip.destroy();
    await this.done.catch(() => undefined);
    await fs.rm(this.temp, { force: true });
  }
}

/** What the checks of a backup file found: where its records are, and its checksum. */
export interface VerifiedBackup {
  file: string;
  formatVersion: number;
  sha256: string;
  bytes: number;
  payloadStart: number;
  /** Offset just after the last payload byte. */
  payloadEnd: number;
}

function damaged(file: string, why: string): GdsError {
  return new GdsError("InvalidArgument", `${file} is damaged (${why}): nothing was restored; use another copy of the backup`);
}

/**
 * Checks that `file` is an opcua-gds backup of a format this version reads and that its checksum
 * matches, before anything is restored from it.
 */
export async function verifyBackupFile(file: string): Promise<VerifiedBackup> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch (e) {
    throw new GdsError("NotFound", `cannot read the backup ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let head: Buffer;
  let trailer: Buffer;
  let size: number;
  try {
    size = (await handle.stat()).size;
    head = Buffer.alloc(Math.min(64, size));
    await handle.read(head, 0, head.length, 0);
    trailer = Buffer.alloc(Math.min(TRAILER_LENGTH, size));
    await handle.read(trailer, 0, trailer.length, Math.max(0, size - TRAILER_LENGTH));
  } finally {
    await handle.close();
  }
  const firstLine = head.toString("latin1").split("\n")[0];
  const m = new RegExp(`^${BACKUP_MAGIC} (\\d+)$`).exec(firstLine);
  if (!m || !head.includes(0x0a)) throw new GdsError("InvalidArgument", `${file} is not an opcua-gds backup (it does not start with "${BACKUP_MAGIC}")`);
  const formatVersion = Number(m[1]);
  if (formatVersion !== BACKUP_FORMAT_VERSION) {
    throw new GdsError("InvalidArgument", `${file} has backup format ${formatVersion}; this opcua-gds reads format ${BACKUP_FORMAT_VERSION}: restore it with the version that made it`);
  }
  const payloadStart = firstLine.length + 1;
  const t = /^\nSHA256 ([0-9a-f]{64})\n$/.exec(trailer.toString("latin1"));
  if (size < payloadStart + TRAILER_LENGTH || !t) throw damaged(file, "it is truncated: the checksum line at its end is missing");
  const payloadEnd = size - TRAILER_LENGTH;
  const hash = createHash("sha256");
  if (payloadEnd > 0) await pipeline(createReadStream(file, { start: 0, end: payloadEnd - 1 }), hash);
  const sha256 = hash.digest("hex");
  if (sha256 !== t[1]) throw damaged(file, "its SHA-256 checksum does not match its content");
  return { file, formatVersion, sha256, bytes: size, payloadStart, payloadEnd };
}

/** The records of a verified backup, in file order. */
export async function* backupRecords(backup: VerifiedBackup): AsyncGenerator<unknown> {
  const gunzip = zlib.createGunzip();
  const source = createReadStream(backup.file, { start: backup.payloadStart, end: backup.payloadEnd - 1 });
  source.on("error", (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  const decoder = new StringDecoder("utf8");
  let pending = "";
  const parse = (line: string): unknown => {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      throw damaged(backup.file, "a record is not JSON");
    }
  };
  try {
    // Iterating the stream itself (not readline) so that a decompression error reaches the caller.
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      pending += decoder.write(chunk);
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line) yield parse(line);
      }
    }
    pending += decoder.end();
    if (pending) yield parse(pending);
  } catch (e) {
    if (e instanceof GdsError) throw e;
    throw damaged(backup.file, `its content does not decompress: ${(e as Error).message}`);
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
