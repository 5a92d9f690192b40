import { createPublicKey, randomBytes } from "node:crypto";
import type { Pkcs11Settings } from "../config/config";
import { GdsError } from "../domain/errors";
import type { CaKeyStorage, CaSigningKey } from "./ca-signing-key";

/** The PKCS#11 binding the GDS is tested with; an optional dependency, needed only for a CA key in a token. */
export const PKCS11_PACKAGE = "pkcs11js@2.1.7";

type Handle = Buffer;
interface Attribute {
  type: number;
  value?: number | boolean | string | Buffer;
}

/**
 * The part of the pkcs11js API the GDS calls. Declared here rather than imported, so that the
 * product builds and runs without the optional package when no token is configured.
 */
interface Pkcs11Api {
  load(path: string): void;
  close(): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attribute[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attribute[]): { type: number; value: Buffer }[];
  C_GenerateKeyPair(session: Handle, mechanism: { mechanism: number }, publicTemplate: Attribute[], privateTemplate: Attribute[]): { publicKey: Handle; privateKey: Handle };
  C_SignInit(session: Handle, mechanism: { mechanism: number }, key: Handle): void;
  C_SignAsync(session: Handle, data: Buffer, out: Buffer): Promise<Buffer>;
}

interface Pkcs11Binding {
  PKCS11: new () => Pkcs11Api;
  [constant: string]: unknown;
}

let binding: Pkcs11Binding | undefined;

/** pkcs11js, loaded on first use: a GDS without a token never needs the native addon. */
function loadBinding(): Pkcs11Binding {
  if (!binding) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      binding = require("pkcs11js") as Pkcs11Binding;
    } catch {
      throw new GdsError("Configuration", `install pkcs11js to use a PKCS#11 CA key (npm install ${PKCS11_PACKAGE}; it builds a native addon and needs a C++ compiler), or unset OPCUA_GDS_CA_PKCS11_MODULE`);
    }
  }
  return binding;
}

/** A PKCS#11 constant by its standard name (CKA_LABEL, CKM_SHA256_RSA_PKCS, ...). */
function ck(name: string): number {
  const value = loadBinding()[name];
  if (typeof value !== "number") throw new Error(`pkcs11js has no constant ${name}`);
  return value;
}

/** The CKR_ name of a PKCS#11 failure (pkcs11js puts it first in the message), or null. */
export function pkcs11ReturnValue(error: unknown): string | null {
  const message = error instanceof Error ? error.message : "";
  return /^(CKR_[A-Z_]+)/.exec(message)?.[1] ?? null;
}

/**
 * A PKCS#11 library is initialised once per process (a second C_Initialize fails), while several
 * GDS instances of one process (tests, `init` within `start`) each open the token: the library is
 * shared and finalised when its last user closes, so that a later open reads the token anew.
 */
const libraries = new Map<string, { api: Pkcs11Api; users: number }>();

function acquireLibrary(modulePath: string): Pkcs11Api {
  const open = libraries.get(modulePath);
  if (open) {
    open.users++;
    return open.api;
  }
  const api = new (loadBinding().PKCS11)();
  try {
    api.load(modulePath);
  } catch {
    throw new GdsError("Configuration", `cannot load the PKCS#11 library ${modulePath}: check OPCUA_GDS_CA_PKCS11_MODULE names the token's library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)`);
  }
  try {
    // Signatures run on libuv's worker threads: the library must lock for itself.
    api.C_Initialize({ flags: ck("CKF_OS_LOCKING_OK") });
  } catch (e) {
    api.close();
    throw new GdsError("Configuration", `the PKCS#11 library ${modulePath} failed to start (${pkcs11ReturnValue(e) ?? "no PKCS#11 code"}): check its configuration (SoftHSM2: SOFTHSM2_CONF)`);
  }
  libraries.set(modulePath, { api, users: 1 });
  return api;
}

function releaseLibrary(modulePath: string): void {
  const open = libraries.get(modulePath);
  if (!open || --open.users > 0) return;
  libraries.delete(modulePath);
  try {
    open.api.C_Finalize();
  } finally {
    open.api.close();
  }
}

/** How a key in the token is protected, read with C_GetAttributeValue. */
export interface Pkcs11KeyProtection {
  sensitive: boolean;
  extractable: boolean;
  canSign: boolean;
}

/** Sessions kept open for signing: enough for the worker threads to sign in parallel. */
const MAX_SIGNING_SESSIONS = 4;

/**
 * A logged-in PKCS#11 token holding CA keys: finds and generates RSA keys that never leave it
 * (CKA_SENSITIVE, not CKA_EXTRACTABLE) and signs with them (C_Sign, CKM_SHA256_RSA_PKCS).
 */
export class Pkcs11Token {
  private readonly idle: Handle[] = [];
  private readonly waiting: ((session: Handle) => void)[] = [];
  private sessionCount = 1;
  private closed = false;

  private constructor(
    private readonly api: Pkcs11Api,
    private readonly modulePath: string,
    private readonly slot: Handle,
    /** The session that finds and generates keys; signing uses the pool. */
    private readonly session: Handle,
    readonly label: string,
  ) {}

  /** Opens the token labelled `settings.token` and logs in with the user PIN. */
  static open(settings: Pkcs11Settings): Pkcs11Token {
    const api = acquireLibrary(settings.module);
    try {
      const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trim() === settings.token);
      if (!slot) {
        throw new GdsError("Configuration", `no PKCS#11 token labelled "${settings.token}" in ${settings.module}: check OPCUA_GDS_CA_PKCS11_TOKEN, or initialise the token (SoftHSM2: softhsm2-util --init-token --free --label "${settings.token}")`);
      }
      const session = api.C_OpenSession(slot, ck("CKF_SERIAL_SESSION") | ck("CKF_RW_SESSION"));
      try {
        api.C_Login(session, ck("CKU_USER"), settings.pin);
      } catch (e) {
        const code = pkcs11ReturnValue(e);
        // Login state is per process and token: another GDS of this process has logged in already.
        if (code !== "CKR_USER_ALREADY_LOGGED_IN") {
          api.C_CloseSession(session);
          if (code === "CKR_PIN_INCORRECT" || code === "CKR_PIN_LEN_RANGE") throw new GdsError("Configuration", `the PKCS#11 token "${settings.token}" refused the PIN: set OPCUA_GDS_CA_PKCS11_PIN (or OPCUA_GDS_CA_PKCS11_PIN_FILE) to the token's user PIN`);
          if (code === "CKR_PIN_LOCKED") throw new GdsError("Configuration", `the user PIN of the PKCS#11 token "${settings.token}" is locked: have the token's security officer unlock it`);
          throw new GdsError("Configuration", `cannot log in to the PKCS#11 token "${settings.token}" (${code ?? "no PKCS#11 code"})`);
        }
      }
      return new Pkcs11Token(api, settings.module, slot, session, settings.token);
    } catch (e) {
      releaseLibrary(settings.module);
      throw e;
    }
  }

  /** The private key labelled `label` (and with CKA_ID `id` when given), or null. Two keys of one label are an error. */
  findKey(label: string, id?: Buffer): Pkcs11Key | null {
    const template: Attribute[] = [
      { type: ck("CKA_CLASS"), value: ck("CKO_PRIVATE_KEY") },
      { type: ck("CKA_LABEL"), value: label },
    ];
    if (id) template.push({ type: ck("CKA_ID"), value: id });
    this.api.C_FindObjectsInit(this.session, template);
    let found: Handle[];
    try {
      found = this.api.C_FindObjects(this.session, 2);
    } finally {
      this.api.C_FindObjectsFinal(this.session);
    }
    if (found.length > 1) throw new GdsError("Configuration", `the PKCS#11 token "${this.label}" holds several private keys labelled "${label}": give each CA key a label of its own`);
    return found.length ? this.keyOf(found[0], label) : null;
  }

  /** Generates an RSA key pair inside the token: the private key is sensitive, not extractable, and may only sign. */
  generateKey(label: string, bits: number): Pkcs11Key {
    const id = randomBytes(20);
    const common: Attribute[] = [
      { type: ck("CKA_TOKEN"), value: true },
      { type: ck("CKA_KEY_TYPE"), value: ck("CKK_RSA") },
      { type: ck("CKA_LABEL"), value: label },
      { type: ck("CKA_ID"), value: id },
    ];
    const publicTemplate: Attribute[] = [
      ...common,
      { type: ck("CKA_CLASS"), value: ck("CKO_PUBLIC_KEY") },
      { type: ck("CKA_PRIVATE"), value: false },
      { type: ck("CKA_VERIFY"), value: true },
      { type: ck("CKA_ENCRYPT"), value: false },
      { type: ck("CKA_MODULUS_BITS"), value: bits },
      { type: ck("CKA_PUBLIC_EXPONENT"), value: Buffer.from([1, 0, 1]) },
    ];
    const privateTemplate: Attribute[] = [
      ...common,
      { type: ck("CKA_CLASS"), value: ck("CKO_PRIVATE_KEY") },
      { type: ck("CKA_PRIVATE"), value: true },
      { type: ck("CKA_SENSITIVE"), value: true },
      { type: ck("CKA_EXTRACTABLE"), value: false },
      { type: ck("CKA_SIGN"), value: true },
      { type: ck("CKA_DECRYPT"), value: false },
      { type: ck("CKA_UNWRAP"), value: false },
    ];
    let keys: { privateKey: Handle };
    try {
      keys = this.api.C_GenerateKeyPair(this.session, { mechanism: ck("CKM_RSA_PKCS_KEY_PAIR_GEN") }, publicTemplate, privateTemplate);
    } catch (e) {
      throw new GdsError("Configuration", `the PKCS#11 token "${this.label}" could not generate an RSA-${bits} key (${pkcs11ReturnValue(e) ?? "no PKCS#11 code"}): check the token has room and supports RSA-${bits}`);
    }
    return this.keyOf(keys.privateKey, label);
  }

  /** CKA_SENSITIVE, CKA_EXTRACTABLE and CKA_SIGN of a key. */
  protection(key: Pkcs11Key): Pkcs11KeyProtection {
    const [sensitive, extractable, canSign] = this.api
      .C_GetAttributeValue(this.session, key.handle, [{ type: ck("CKA_SENSITIVE") }, { type: ck("CKA_EXTRACTABLE") }, { type: ck("CKA_SIGN") }])
      .map((a) => a.value[0] === 1);
    return { sensitive, extractable, canSign };
  }

  /** Closes the sessions; the library is finalised when no other user of this process has it open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const session of [this.session, ...this.idle.splice(0)]) {
      try {
        this.api.C_CloseSession(session);
      } catch {
        // A session the library already dropped needs no closing.
      }
    }
    releaseLibrary(this.modulePath);
  }

  /** Signs with CKM_SHA256_RSA_PKCS on a session of the pool (one operation per session at a time). */
  async sign(key: Pkcs11Key, data: Uint8Array): Promise<Uint8Array> {
    const session = await this.takeSession();
    try {
      this.api.C_SignInit(session, { mechanism: ck("CKM_SHA256_RSA_PKCS") }, key.handle);
      return new Uint8Array(await this.api.C_SignAsync(session, Buffer.from(data), Buffer.alloc(1024)));
    } finally {
      this.returnSession(session);
    }
  }

  private keyOf(handle: Handle, label: string): Pkcs11Key {
    const [modulus, exponent, id] = this.api.C_GetAttributeValue(this.session, handle, [{ type: ck("CKA_MODULUS") }, { type: ck("CKA_PUBLIC_EXPONENT") }, { type: ck("CKA_ID") }]).map((a) => a.value);
    const spki = createPublicKey({ key: { kty: "RSA", n: modulus.toString("base64url"), e: exponent.toString("base64url") }, format: "jwk" }).export({ type: "spki", format: "der" });
    return new Pkcs11Key(this, handle, label, id, spki);
  }

  private takeSession(): Promise<Handle> {
    if (this.closed) return Promise.reject(new GdsError("Configuration", `the PKCS#11 token "${this.label}" is closed`));
    const session = this.idle.pop();
    if (session) return Promise.resolve(session);
    if (this.sessionCount < MAX_SIGNING_SESSIONS + 1) {
      this.sessionCount++;
      return Promise.resolve(this.api.C_OpenSession(this.slot, ck("CKF_SERIAL_SESSION")));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private returnSession(session: Handle): void {
    const next = this.waiting.shift();
    if (next) next(session);
    else if (!this.closed) this.idle.push(session);
    // A session returned after close() was closed with the others when the library was finalised.
  }
}

/** A private key inside a token, used as a CA key. */
export class Pkcs11Key implements CaSigningKey {
  readonly storage: CaKeyStorage;

  constructor(
    private readonly token: Pkcs11Token,
    readonly handle: Handle,
    readonly label: string,
    /** CKA_ID, recorded beside the CA so that a relabelled or duplicated key is not taken for it. */
    readonly id: Buffer,
    readonly publicKeySpki: Buffer,
  ) {
    this.storage = { kind: "pkcs11", token: token.label, label };
  }

  sign(data: Uint8Array): Promise<Uint8Array> {
    return this.token.sign(this, data);
  }
}
