/**
 * Crash consistency of issuance: `opcua-gds start` (the built CLI, a child process) is killed with
 * SIGKILL at random moments while several clients issue certificates and an administrator revokes
 * some, restarted on the same data folder and database, again and again; at the end the database
 * is checked against what the clients received. Shared by test/e2e/crash-consistency.test.ts (a
 * sample) and bench/crash-bench.ts (the full count).
 */
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Sqlite from "better-sqlite3";
import { Client } from "pg";
import { CertificateClient } from "../../src/client/directory-client";
import { caFolder, startServer, stopServer, withDirectory, type RunningServer } from "./cli";
import { x509 } from "./certificates";
import { createTestDatabase, type Backend } from "./databases";
import { tempDir } from "./gds-fixture";
import { IssuanceLoad, type ReceivedCertificate } from "./issuance-load";

export interface CrashScenarioOptions {
  backend: Backend;
  /** Certificates the clients must receive in all. */
  total: number;
  /** Sessions issuing at once. */
  workers: number;
  /** SIGKILLs, spread over the run at random moments. */
  kills: number;
  /** Progress lines (stderr of a bench). */
  log?: (line: string) => void;
}

/** What a crash run found; `problems` is empty when every check held. */
export interface CrashReport {
  backend: Backend;
  received: number;
  kills: number;
  /** Sessions whose calls in flight a kill cut (what a crash costs the clients). */
  interruptedSessions: number;
  restartMs: number[];
  revocationsAnswered: number;
  revocationsUnknown: number;
  /** CRL numbers seen in the published CRL file over the run, in order (distinct consecutive values). */
  crlNumbers: number[];
  rows: { certificates: number; requests: number; audit: number };
  integrity: string;
  seconds: number;
  problems: string[];
}

/** A free TCP port on loopback: the server must come back on the same endpoint after every kill. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The CRLNumber of a PEM CRL. */
function crlNumberOf(pem: string): number {
  const crl = new x509.X509Crl(pem);
  const ext = crl.extensions.find((e) => e.type === "2.5.29.20");
  if (!ext) return -1;
  return Number(BigInt(`0x${Buffer.from(ext.value).subarray(2).toString("hex")}`));
}

/** Serials (lower-case hex) of a PEM CRL. */
function crlSerials(pem: string): Set<string> {
  return new Set(new x509.X509Crl(pem).entries.map((e) => e.serialNumber.toLowerCase()));
}

/** Reads rows of the database after the run, on either backend. */
export interface Inspector {
  all<T>(sql: string): Promise<T[]>;
  integrity(): Promise<string>;
  close(): Promise<void>;
}

export async function inspector(backend: Backend, dataDir: string, url: string | undefined): Promise<Inspector> {
  if (backend === "sqlite") {
    const db = new Sqlite(path.join(dataDir, "gds.sqlite"));
    return {
      all: async <T>(sql: string) => db.prepare(sql).all() as T[],
      integrity: async () => {
        const check = (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join("; ");
        const keys = db.pragma("foreign_key_check") as unknown[];
        return `integrity_check: ${check}; foreign_key_check: ${keys.length} problems`;
      },
      close: async () => void db.close(),
    };
  }
  const client = new Client({ connectionString: url });
  await client.connect();
  return {
    all: async <T>(sql: string) => (await client.query(sql)).rows as T[],
    integrity: async () => {
      // amcheck verifies every B-tree index against its table (heapallindexed) and the heap pages themselves.
      await client.query("CREATE EXTENSION IF NOT EXISTS amcheck");
      const indexes = (await client.query("SELECT i.indexrelid::int AS oid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public'")).rows as Array<{ oid: number }>;
      for (const ix of indexes) await client.query("SELECT bt_index_check($1::int::oid::regclass, true)", [ix.oid]);
      const tables = (await client.query("SELECT c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")).rows as Array<{ oid: number }>;
      let heapProblems = 0;
      for (const t of tables) heapProblems += (await client.query("SELECT * FROM verify_heapam($1::int::oid::regclass)", [t.oid])).rowCount ?? 0;
      return `amcheck: ${indexes.length} indexes verified (heapallindexed), verify_heapam over ${tables.length} tables: ${heapProblems} problems`;
    },
    close: () => client.end(),
  };
}

/** Runs the scenario on a fresh folder and database (both removed at the end). */
export async function runCrashScenario(o: CrashScenarioOptions): Promise<CrashReport> {
  const log = o.log ?? (() => undefined);
  const started = performance.now();
  const root = await tempDir(`crash-${o.backend}`);
  const dataDir = path.join(root, "data");
  const database = await createTestDatabase(o.backend);
  const password = "admin-crash-password";
  const admin = { userName: "admin", password };
  const port = await freePort();
  const args = ["--data", dataDir, ...(database.url ? ["--db", database.url] : []), "--port", String(port), "--host", "127.0.0.1"];
  const env = { OPCUA_GDS_ADMIN_PASSWORD: password };
  const problems: string[] = [];
  const restartMs: number[] = [];
  const crlNumbers: number[] = [];
  const revoked = new Map<string, "answered" | "unknown">();
  let server: RunningServer | undefined;
  let load: IssuanceLoad | undefined;
  /** What each server instance wrote on stderr (its logged errors), kept across kills. */
  const serverLogs: string[] = [];
  const keepLog = (s: RunningServer | undefined) => s && serverLogs.push(s.stderr());
  let watching = true;
  let revoking = true;
  const crlFile = path.join(caFolder(dataDir), "ca.crl.pem");

  // Every CRL the GDS publishes goes to this file (renamed into place): its number must never go back.
  const watchCrl = (async () => {
    while (watching) {
      try {
        const n = crlNumberOf(await fs.readFile(crlFile, "utf8"));
        if (crlNumbers[crlNumbers.length - 1] !== n) crlNumbers.push(n);
      } catch {
        // Not written yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();

  // An administrator revokes a received certificate now and then; a call cut by a kill has an unknown outcome.
  const revoker = async (): Promise<void> => {
    const pki = await tempDir("crash-revoker");
    const pause = () => new Promise((resolve) => setTimeout(resolve, 150));
    try {
      while (revoking) {
        try {
          // One session for as long as the server lives; a kill ends it and the next one starts.
          await withDirectory(`opc.tcp://127.0.0.1:${port}`, dataDir, pki, admin, async (d) => {
            while (revoking) {
              await pause();
              const candidate = load?.received.find((r) => !revoked.has(r.serial) && r.receivedAtMs < Date.now() - 100);
              if (!candidate) continue;
              revoked.set(candidate.serial, "unknown");
              await new CertificateClient(d).revokeCertificate(candidate.applicationId, candidate.der);
              revoked.set(candidate.serial, "answered");
            }
          });
        } catch {
          // The server died under the call: its outcome stays unknown.
          await pause();
        }
      }
    } finally {
      await fs.rm(pki, { recursive: true, force: true });
    }
  };

  try {
    server = await startServer(args, { env });
    load = await IssuanceLoad.start({ endpointUrl: `opc.tcp://127.0.0.1:${port}`, dataDir, user: admin, workers: o.workers, prefix: `crash-${o.backend}`, limit: o.total });
    const revoking$ = revoker();
    for (let k = 1; k <= o.kills; k++) {
      // Kills spread over the run: after about k/(kills+1) of the certificates, plus a random delay.
      await load.waitFor(Math.floor((o.total * k) / (o.kills + 1)), 300_000).catch((e: Error) => {
        throw new Error(`${e.message}\nserver stderr (end): ${server?.stderr().slice(-3000)}`);
      });
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 400));
      server.child.kill("SIGKILL");
      await server.closed;
      keepLog(server);
      log(`[${o.backend}] kill ${k}/${o.kills} after ${load.received.length} certificates received`);
      const t0 = performance.now();
      server = await startServer(args, { env });
      restartMs.push(Math.round(performance.now() - t0));
    }
    await load.finished();
    revoking = false;
    await revoking$;
    await stopServer(server);
    keepLog(server);
    server = undefined;
  } finally {
    revoking = false;
    if (server && server.child.exitCode === null) {
      server.child.kill("SIGKILL");
      await server.closed.catch(() => undefined);
      keepLog(server);
    }
    await load?.stop();
    watching = false;
    await watchCrl;
  }

  const received: ReceivedCertificate[] = load.received;
  const db = await inspector(o.backend, dataDir, database.url);
  try {
    const certs = await db.all<{ serial: string; thumbprint: string; der: string; request_id: string | null }>("SELECT serial, thumbprint, der, request_id FROM issued_certificates");
    const requests = await db.all<{ id: string; state: string; serial: string | null }>("SELECT id, state, serial FROM certificate_requests");
    const audit = await db.all<{ action: string; details: string | null }>("SELECT action, details FROM audit_records");
    const caStates = await db.all<{ crl_number: string | number }>("SELECT crl_number FROM ca_states WHERE group_name = 'DefaultApplicationGroup'");
    const revokedRows = await db.all<{ serial: string }>("SELECT serial FROM issued_certificates WHERE revoked_at IS NOT NULL");
    const bySerial = new Map(certs.map((c) => [c.serial, c]));
    const requestById = new Map(requests.map((r) => [r.id, r]));
    const issuedAudit = new Map<string, number>();
    for (const a of audit) {
      if (a.action !== "CertificateIssued") continue;
      const serial = /serial=([0-9a-f]+)/.exec(a.details ?? "")?.[1] ?? "?";
      issuedAudit.set(serial, (issuedAudit.get(serial) ?? 0) + 1);
    }

    // No serial twice: among what the clients received, in the table, in the audit trail.
    if (new Set(received.map((r) => r.serial)).size !== received.length) problems.push("a serial was received twice");
    if (new Set(certs.map((c) => c.serial)).size !== certs.length) problems.push("a serial appears twice in issued_certificates");
    if (new Set(certs.map((c) => c.thumbprint)).size !== certs.length) problems.push("a thumbprint appears twice in issued_certificates");
    for (const [serial, n] of issuedAudit) if (n > 1) problems.push(`serial ${serial} has ${n} CertificateIssued records`);
    // Every certificate a client received has its row (same DER), its audit record, and its request Accepted.
    for (const r of received) {
      const row = bySerial.get(r.serial);
      if (!row) problems.push(`received certificate ${r.serial} has no database row`);
      else if (Buffer.from(row.der, "base64").compare(r.der) !== 0) problems.push(`received certificate ${r.serial} differs from its row`);
      if (!issuedAudit.has(r.serial)) problems.push(`received certificate ${r.serial} has no CertificateIssued audit record`);
      const request = requestById.get(r.requestId.replace(/^.*g=/, "").toLowerCase());
      if (request?.state !== "Accepted" || request.serial !== r.serial) problems.push(`request of received certificate ${r.serial} is ${request?.state ?? "missing"}`);
    }
    // Row, request and audit record were written in one transaction: none without the others.
    for (const c of certs) {
      if (!issuedAudit.has(c.serial)) problems.push(`row ${c.serial} has no CertificateIssued audit record`);
      const request = c.request_id ? requestById.get(c.request_id) : undefined;
      if (!request || request.serial !== c.serial || (request.state !== "Approved" && request.state !== "Accepted")) problems.push(`row ${c.serial} has no approved request naming it`);
      try {
        new X509Certificate(Buffer.from(c.der, "base64"));
      } catch {
        problems.push(`row ${c.serial} holds no certificate`);
      }
    }
    for (const serial of issuedAudit.keys()) if (!bySerial.has(serial)) problems.push(`audit record of ${serial} without its row`);
    for (const r of requests) if (r.serial && !bySerial.has(r.serial)) problems.push(`request ${r.id} names a missing certificate ${r.serial}`);
    // CRL numbers only increase; the database is at least at the last one published; answered revocations hold.
    for (let i = 1; i < crlNumbers.length; i++) if (crlNumbers[i] < crlNumbers[i - 1]) problems.push(`CRL number went back from ${crlNumbers[i - 1]} to ${crlNumbers[i]}`);
    const dbCrl = Number(caStates[0]?.crl_number ?? -1);
    if (dbCrl < Math.max(...crlNumbers, 0)) problems.push(`the database's CRL number ${dbCrl} is below the published ${Math.max(...crlNumbers)}`);
    const revokedInDb = new Set(revokedRows.map((r) => r.serial));
    const finalCrl = crlSerials(await fs.readFile(crlFile, "utf8"));
    for (const [serial, outcome] of revoked) {
      if (outcome !== "answered") continue;
      if (!revokedInDb.has(serial)) problems.push(`revocation of ${serial} was answered Good but is not in the database`);
      if (!finalCrl.has(serial)) problems.push(`revoked ${serial} is missing from the published CRL`);
    }
    // A kill cuts calls (connection errors); an answer of BadInternalError is a bug, whatever the moment.
    const internal = load.failures.filter((f) => /BadInternalError/.test(f)).length;
    if (internal > 0) {
      const logged = serverLogs.join("\n").split("\n").filter((l) => /failed|Error/.test(l)).slice(0, 20);
      problems.push(`${internal} calls answered BadInternalError; the server logged:\n${logged.join("\n")}`);
    }
    const integrity = await db.integrity();
    if (!/integrity_check: ok; foreign_key_check: 0 problems|: 0 problems$/.test(integrity)) problems.push(`integrity check: ${integrity}`);
    return {
      backend: o.backend,
      received: received.length,
      kills: o.kills,
      interruptedSessions: load.interrupted,
      restartMs,
      revocationsAnswered: [...revoked.values()].filter((v) => v === "answered").length,
      revocationsUnknown: [...revoked.values()].filter((v) => v === "unknown").length,
      crlNumbers,
      rows: { certificates: certs.length, requests: requests.length, audit: audit.length },
      integrity,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      problems,
    };
  } finally {
    await db.close();
    await database.drop();
    await fs.rm(root, { recursive: true, force: true });
  }
}
