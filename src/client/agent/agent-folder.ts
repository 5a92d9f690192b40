import type { KeyObject } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { certificateDer } from "../../domain/pem";
import { decodeCertificate } from "../decoded";
import { createSelfSignedCertificate, generateApplicationKey, privateKeyObject, privateKeyPem, type PrivateKeyInput } from "../application-keys";

/**
 * The agent's own folder beside the store it manages (`<store>.agent/`): its lock, its state, the
 * key of a request that waits for approval, a certificate collected but not yet provisioned, the
 * self-signed identity it enrols with, and the client PKI of its connections. Never inside the
 * store, which is replaced as a whole on every rewrite.
 */
export function agentPaths(store: string) {
  const root = `${path.resolve(store)}.agent`;
  return {
    root,
    lock: path.join(root, "agent.lock"),
    state: path.join(root, "state.json"),
    pendingKey: path.join(root, "pending", "private_key.pem"),
    collectedCertificate: path.join(root, "pending", "certificate.der"),
    collectedIssuers: path.join(root, "pending", "issuers.json"),
    enrolmentCertificate: path.join(root, "enrolment", "certificate.der"),
    enrolmentKey: path.join(root, "enrolment", "private_key.pem"),
    connection: path.join(root, "connection"),
  };
}

export type AgentPaths = ReturnType<typeof agentPaths>;

/** What the agent remembers between runs (state.json). */
export interface AgentState {
  applicationId: string | null;
  /** A certificate request made but not collected yet (it waits for approval). */
  pendingRequestId: string | null;
  lastSuccessAt: string | null;
  lastFailure: { at: string; message: string } | null;
  consecutiveFailures: number;
  nextCheckAt: string | null;
}

const EMPTY_STATE: AgentState = { applicationId: null, pendingRequestId: null, lastSuccessAt: null, lastFailure: null, consecutiveFailures: 0, nextCheckAt: null };

async function writeAtomically(file: string, content: string | Buffer, mode: number): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, content, { mode });
  await fs.chmod(temp, mode);
  await fs.rename(temp, file);
}

export async function loadState(paths: AgentPaths): Promise<AgentState> {
  try {
    return { ...EMPTY_STATE, ...(JSON.parse(await fs.readFile(paths.state, "utf8")) as Partial<AgentState>) };
  } catch {
    return { ...EMPTY_STATE };
  }
}

export async function saveState(paths: AgentPaths, state: AgentState): Promise<void> {
  await writeAtomically(paths.state, `${JSON.stringify(state, null, 2)}\n`, 0o644);
}

/** Keeps the key of a request that waits for approval (mode 0600), so a restarted agent can collect it. */
export async function savePendingKey(paths: AgentPaths, key: PrivateKeyInput): Promise<void> {
  await writeAtomically(paths.pendingKey, privateKeyPem(key), 0o600);
}

export async function loadPendingKey(paths: AgentPaths): Promise<KeyObject | null> {
  const pem = await fs.readFile(paths.pendingKey).catch(() => null);
  return pem ? privateKeyObject(pem) : null;
}

/**
 * A certificate collected with FinishRequest before it reached the store: FinishRequest delivers a
 * request only once, so it is kept (with its key) until `provision` has written it.
 */
export async function saveCollected(paths: AgentPaths, certificate: Buffer, issuers: Buffer[], key: PrivateKeyInput): Promise<void> {
  await savePendingKey(paths, key);
  await writeAtomically(paths.collectedIssuers, JSON.stringify(issuers.map((d) => d.toString("base64"))), 0o644);
  await writeAtomically(paths.collectedCertificate, certificate, 0o644);
}

export async function loadCollected(paths: AgentPaths): Promise<{ certificate: Buffer; issuers: Buffer[]; privateKey: KeyObject } | null> {
  const certificate = await fs.readFile(paths.collectedCertificate).catch(() => null);
  const privateKey = await loadPendingKey(paths);
  if (!certificate || !privateKey) return null;
  const issuers = ((JSON.parse(await fs.readFile(paths.collectedIssuers, "utf8").catch(() => "[]")) as string[]) ?? []).map((b) => Buffer.from(b, "base64"));
  return { certificate, issuers, privateKey };
}

/** Forgets the pending request and the collected certificate (once provisioned, or abandoned). */
export async function clearPending(paths: AgentPaths): Promise<void> {
  await fs.rm(path.dirname(paths.pendingKey), { recursive: true, force: true });
}

/**
 * The self-signed identity the agent presents before the GDS issued it a certificate: made once
 * and kept, because the GDS hands a certificate requested in an onboarding window only to the
 * client certificate that asked for it.
 */
export async function enrolmentIdentity(paths: AgentPaths, applicationUri: string, name: string): Promise<{ certificate: Buffer; privateKey: KeyObject }> {
  const certificate = await fs.readFile(paths.enrolmentCertificate).catch(() => null);
  const keyPem = await fs.readFile(paths.enrolmentKey).catch(() => null);
  if (certificate && keyPem) {
    const der = certificateDer(certificate);
    const info = decodeCertificate(der);
    if (info.applicationUri === applicationUri && info.notAfter.getTime() > Date.now() + 86_400_000) return { certificate: der, privateKey: privateKeyObject(keyPem) };
  }
  const privateKey = await generateApplicationKey();
  const der = await createSelfSignedCertificate(privateKey, { applicationUri, subject: `CN=${name}`, hostNames: [os.hostname()] });
  await writeAtomically(paths.enrolmentKey, privateKeyPem(privateKey), 0o600);
  await writeAtomically(paths.enrolmentCertificate, der, 0o644);
  return { certificate: der, privateKey };
}
