import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { BackupWriter, backupRecords, verifyBackupFile } from "../../src/backup/backup-file";
import { checkEntryPath, digestOf, isLeftOut, readDataFolder, writeEntry } from "../../src/backup/data-folder-files";
import { isGdsError } from "../../src/domain/errors";

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-backup-unit-"));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function writeBackup(name: string, records: unknown[]): Promise<string> {
  const file = path.join(dir, name);
  const writer = await BackupWriter.create(file);
  for (const r of records) await writer.write(r);
  await writer.finish();
  return file;
}

async function readAll(file: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const r of backupRecords(await verifyBackupFile(file))) out.push(r);
  return out;
}

function invalid(pattern: RegExp) {
  return (e: unknown) => isGdsError(e, "InvalidArgument") && pattern.test((e as Error).message);
}

describe("backup file format (magic line, gzip of JSON lines, SHA-256 trailer)", () => {
  it("writes mode 0600 and reads back every record, large ones included", async () => {
    const big = "k".repeat(3_000_000);
    const records = [{ kind: "manifest", n: 1 }, { kind: "rows", rows: [{ a: "ü\n\u0000" }] }, { kind: "entry", data: big }, { kind: "end" }];
    const file = await writeBackup("good.gdsbackup", records);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readAll(file), records);
    assert.match((await fs.readFile(file)).subarray(0, 19).toString(), /^OPCUA-GDS-BACKUP 1\n/);
    assert.deepEqual((await fs.readdir(dir)).filter((f) => f.includes("partial")), [], "no partial file is left");
  });

  it("refuses a damaged, truncated, foreign or newer file before reading any record", async () => {
    const file = await writeBackup("base.gdsbackup", [{ kind: "manifest" }, { kind: "end" }]);
    const bytes = await fs.readFile(file);
    const flipped = Buffer.from(bytes);
    flipped[25] ^= 1;
    const cases: Array<[string, Buffer, RegExp]> = [
      ["flipped", flipped, /damaged \(its SHA-256 checksum does not match/],
      ["truncated", bytes.subarray(0, bytes.length - 10), /damaged \(it is truncated/],
      ["empty", Buffer.alloc(0), /not an opcua-gds backup/],
      ["foreign", Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n"), /not an opcua-gds backup/],
      ["newer", Buffer.concat([Buffer.from("OPCUA-GDS-BACKUP 2\n"), bytes.subarray(19)]), /format 2; this opcua-gds reads format 1/],
    ];
    for (const [name, content, message] of cases) {
      const f = path.join(dir, `${name}.gdsbackup`);
      await fs.writeFile(f, content);
      await assert.rejects(verifyBackupFile(f), invalid(message), name);
    }
  });

  it("a file whose checksum matches but whose gzip is broken is reported damaged, not a crash", async () => {
    const f = path.join(dir, "badgzip.gdsbackup");
    const header = Buffer.from("OPCUA-GDS-BACKUP 1\n");
    const body = Buffer.from("this is not gzip");
    const { createHash } = await import("node:crypto");
    const sha = createHash("sha256").update(Buffer.concat([header, body])).digest("hex");
    await fs.writeFile(f, Buffer.concat([header, body, Buffer.from(`\nSHA256 ${sha}\n`)]));
    await assert.rejects(readAll(f), invalid(/damaged \(its content does not decompress/));
  });
});

describe("data-folder entries of a backup", () => {
  it("leaves out the database, rejected certificates, locks, temporary files and the CRL files rewritten at start", () => {
    for (const p of ["gds.sqlite", "gds.sqlite-wal", "server-pki/rejected/x.pem", "user-pki/rejected/y.pem", "server-pki/mutex", "ca/G/T/ca.crl.pem", "server-pki/trusted/crl/gds-ca-0011.crl", "secret.key.123.tmp"]) {
      assert.equal(isLeftOut(p), true, p);
    }
    for (const p of ["secret.key", "ca/G/T/ca.key.pem", "ca/G/T/ca.cert.pem", "server-pki/own/private/private_key.pem", "server-pki/trusted/certs/gds-ca-0011.der", "server-pki/trusted/crl/plant-root.crl"]) {
      assert.equal(isLeftOut(p), false, p);
    }
  });

  it("a crafted entry cannot write outside the target folder nor over the restored database", () => {
    for (const p of ["../evil", "/etc/passwd", "ca/../../evil", "a//b", "./x", "a\\b", "", "gds.sqlite", "x\u0000y", 42]) {
      assert.throws(() => checkEntryPath(p), invalid(/usable path|outside what a backup may restore/), String(p));
    }
    assert.equal(checkEntryPath("ca/DefaultApplicationGroup/RsaSha256ApplicationCertificateType/ca.key.pem"), "ca/DefaultApplicationGroup/RsaSha256ApplicationCertificateType/ca.key.pem");
  });

  it("entries are written back with their modes, and the copy reads the same", async () => {
    const source = path.join(dir, "source");
    await fs.mkdir(path.join(source, "ca", "G"), { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(source, "ca", "G", "ca.key.pem"), "KEY", { mode: 0o600 });
    await fs.writeFile(path.join(source, "ca", "G", "ca.cert.pem"), "CERT", { mode: 0o644 });
    await fs.writeFile(path.join(source, "gds.sqlite"), "DB");
    const entries = await readDataFolder(source);
    assert.deepEqual(entries.map((e) => e.path), ["ca", "ca/G", "ca/G/ca.cert.pem", "ca/G/ca.key.pem"]);
    const target = path.join(dir, "target");
    for (const e of entries) await writeEntry(target, e);
    assert.equal((await fs.stat(path.join(target, "ca", "G", "ca.key.pem"))).mode & 0o777, 0o600);
    assert.equal(digestOf(await readDataFolder(target)), digestOf(entries));
  });
});
