import { leaveAuthorizationToBinding } from "./method-permissions";
import { createHash } from "node:crypto";
import {
  BrowseDirection,
  DataType,
  DataValue,
  NodeClass,
  StatusCodes,
  Variant,
  VariantArrayType,
  type BaseNode,
  type CallMethodResultOptions,
  type ISessionContext,
  type UAMethod,
  type UAObject,
  type UAVariable,
  type VariantLike,
} from "node-opcua";
import { decodeTrustList, encodeTrustList, TrustListMasks, type DecodedTrustList, type TrustListContent } from "../encoding/trust-list-encoding";
import { GdsError } from "../domain/errors";
import { isExpectedFailure, statusCodeOf } from "./status-codes";
import { StatusFault } from "./status-fault";

/**
 * TrustList file objects (OPC 10000-12 §7.8.2 TrustListType, a FileType of OPC 10000-5 Annex C /
 * OPC 10000-20 §4.2): read-only for trust lists that clients may read but never change, such as the
 * trust lists of a GDS's certificate groups, and writable (with a TrustListWriter) for the trust
 * list of a push-managed server (§7.10).
 *
 * Every Open/OpenWithMasks takes a snapshot of the encoded content, so a change of the content while
 * a client reads never tears its read (OPC 10000-12 §7.8.2.4 OpenWithMasks: "it shall ensure the
 * Client receives a consistent snapshot"). File handles belong to the session that opened them and
 * are released when it closes.
 */

export { decodeTrustList, encodeTrustList, TrustListMasks, type TrustListContent } from "../encoding/trust-list-encoding";

/** A TrustListDataType as a client wrote it: the lists selected by `specifiedLists` replace the current ones. */
export type WrittenTrustList = DecodedTrustList;

/**
 * What makes a TrustList writable: its owner validates and keeps what clients write. Every method
 * throws a GdsError or StatusFault with the status the caller gets.
 */
export interface TrustListWriter {
  /** Largest TrustList file accepted, in bytes (MaxTrustListSize); a Write beyond it answers Bad_RequestTooLarge. */
  maxTrustListSize: number;
  /** Throws unless this session may change the trust list now (another session's transaction: Bad_TransactionPending). */
  checkCanWrite(context: ISessionContext): void;
  /** CloseAndUpdate: the decoded file replaces the lists it specifies; returns ApplyChangesRequired. */
  update(context: ISessionContext, written: WrittenTrustList): Promise<boolean>;
  /** AddCertificate (§7.8.2.6). */
  addCertificate(context: ISessionContext, certificate: Buffer, isTrustedCertificate: boolean): Promise<void>;
  /** RemoveCertificate (§7.8.2.7); `thumbprint` is the SHA-1 hex of the certificate. */
  removeCertificate(context: ISessionContext, thumbprint: string, isTrustedCertificate: boolean): Promise<void>;
  /** When the trust list in use last changed (LastUpdateTime). */
  lastUpdateTime(): Date;
}

/** What bindReadOnlyTrustList needs from its owner. */
export interface ReadOnlyTrustListOptions {
  /** The current content; only the lists selected by `masks` are used. Called at every Open. */
  content(masks: number): Promise<TrustListContent>;
  /** Throws (preferably a GdsError) when the caller may not use this trust list. Called first in every method. */
  authorize(context: ISessionContext): Promise<void>;
  /** File handles one session may hold open on this trust list at once; 8 when absent. */
  maxOpenHandlesPerSession?: number;
  /** Logs failures that are not the caller's fault (never argument content). */
  logError(message: string): void;
}

/** What bindWritableTrustList needs from its owner. */
export interface WritableTrustListOptions extends ReadOnlyTrustListOptions {
  writer: TrustListWriter;
}

/** Open mode bits (OPC 10000-20 §4.2.2). */
const MODE_READ = 0x01;
const MODE_WRITE = 0x02;
const MODE_ERASE_EXISTING = 0x04;
const MODE_RESERVED = 0xf0;

const MAX_UINT32 = 0xffffffff;
const TWO_POW_32 = 2 ** 32;

/** One open file handle: a snapshot of the encoding (or what was written so far) and a position in it. */
interface OpenFile {
  session: object;
  writing: boolean;
  data: Buffer;
  position: number;
}

type SessionWithStatus = { status?: string; once?: (event: string, listener: () => void) => unknown };

function sessionOf(context: ISessionContext): object {
  const session = context.session;
  if (!session) throw new StatusFault(StatusCodes.BadSessionIdInvalid, "file handles need a session");
  return session;
}

function isAlive(session: object): boolean {
  const status = (session as SessionWithStatus).status;
  return status !== "closed" && status !== "disposed";
}

// ---- argument decoders (node-opcua already checks types against InputArguments) ----

function scalarArg(args: Variant[], index: number, name: string, dataType: DataType): unknown {
  const v = args[index];
  if (!v || v.dataType !== dataType || v.arrayType !== VariantArrayType.Scalar) {
    throw new GdsError("InvalidArgument", `${name} must be a ${DataType[dataType]}`);
  }
  return v.value;
}

const fileHandleArg = (args: Variant[]) => scalarArg(args, 0, "FileHandle", DataType.UInt32) as number;

/** A UInt64 argument (node-opcua: [high, low]) as a number; values beyond 2^53 read as +Infinity. */
function uint64Arg(args: Variant[], index: number, name: string): number {
  const value = scalarArg(args, index, name, DataType.UInt64);
  if (Array.isArray(value) && value.length === 2) {
    const [high, low] = value as number[];
    const n = high * TWO_POW_32 + low;
    return Number.isSafeInteger(n) ? n : Number.POSITIVE_INFINITY;
  }
  if (typeof value === "bigint") return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : Number.POSITIVE_INFINITY;
  if (typeof value === "number" && value >= 0) return value;
  throw new GdsError("InvalidArgument", `${name} must be a UInt64`);
}

function uint64Value(n: number): [number, number] {
  return [Math.floor(n / TWO_POW_32), n % TWO_POW_32];
}

// ---- address space helpers ----

function childByName(node: BaseNode, name: string, nodeClass: NodeClass): BaseNode | undefined {
  const refs = [
    ...node.findReferencesExAsObject("HasComponent", BrowseDirection.Forward),
    ...node.findReferencesExAsObject("HasProperty", BrowseDirection.Forward),
  ];
  return refs.find((n) => n.nodeClass === nodeClass && n.browseName.name === name);
}

/**
 * Binds the FileType and TrustListType methods of `trustList` (found by BrowseName) as a read-only
 * trust list, and keeps its Size, OpenCount, Writable, UserWritable and LastUpdateTime properties
 * current. Throws at once when a mandatory method (Open, Close, Read, Write, GetPosition,
 * SetPosition, OpenWithMasks) is missing; the optional CloseAndUpdate, AddCertificate and
 * RemoveCertificate are bound when present. Bind each TrustList object once.
 *
 * Status codes:
 * - Open: Mode 0x01 only. Reserved bits 4..7 set: Bad_InvalidArgument (OPC 10000-20 §4.2.2, they
 *   "shall always be zero"); the Write bit set: Bad_NotWritable (the file is not writable); any other
 *   mode: Bad_NotSupported (OPC 10000-12 §7.8.2.2).
 * - OpenWithMasks: masks outside 0..15: Bad_InvalidArgument.
 * - Open/OpenWithMasks beyond maxOpenHandlesPerSession: Bad_TooManyOperations (no code is
 *   prescribed).
 * - Read/Close/GetPosition/SetPosition/Write/CloseAndUpdate with a handle that is unknown or belongs
 *   to another session: Bad_InvalidArgument (OPC 10000-20 §4.2.3-4.2.7); Read with Length <= 0:
 *   Bad_InvalidArgument (§4.2.4); at the end Read answers an empty ByteString.
 * - SetPosition beyond the end moves to the end (§4.2.7: "If the position is higher than the file size
 *   the position is set to the end of the file").
 * - Write with a valid (read) handle: Bad_InvalidState (§4.2.5 "File was not opened for write access").
 * - CloseAndUpdate with a valid handle, AddCertificate, RemoveCertificate: Bad_NotWritable
 *   (OPC 10000-12 §7.8.2.6/§7.8.2.7: "returns Bad_NotWritable if the TrustList Object is read only").
 * - A GdsError from options.authorize or options.content: its kind's code (statusCodeOf); anything
 *   else: logged, Bad_InternalError.
 */
export function bindReadOnlyTrustList(trustList: UAObject, options: ReadOnlyTrustListOptions): void {
  bindTrustListFile(trustList, options, null);
}

/**
 * Binds `trustList` as a writable TrustList (OPC 10000-12 §7.8.2, push management §7.10): reading
 * as bindReadOnlyTrustList, and in addition
 * - Open with Mode 0x06 (Write + EraseExisting) opens the one write handle: while it is open another
 *   write Open, AddCertificate and RemoveCertificate answer Bad_InvalidState; the writer may refuse
 *   (Bad_TransactionPending). Any other mode with the Write bit: Bad_NotSupported.
 * - Write at the handle's position; a file growing beyond writer.maxTrustListSize: Bad_RequestTooLarge.
 *   Read on a write handle: Bad_InvalidState.
 * - CloseAndUpdate closes the handle in every case, decodes the TrustListDataType (malformed:
 *   Bad_InvalidArgument) and hands it to writer.update, answering ApplyChangesRequired. With a read
 *   handle: Bad_InvalidState. Close discards what was written.
 * - AddCertificate / RemoveCertificate call the writer.
 * Writable and UserWritable read true; LastUpdateTime is the writer's.
 */
export function bindWritableTrustList(trustList: UAObject, options: WritableTrustListOptions): void {
  if (!Number.isInteger(options.writer.maxTrustListSize) || options.writer.maxTrustListSize < 1) throw new RangeError("maxTrustListSize must be a positive integer");
  bindTrustListFile(trustList, options, options.writer);
}

function bindTrustListFile(trustList: UAObject, options: ReadOnlyTrustListOptions, writer: TrustListWriter | null): void {
  const maxPerSession = options.maxOpenHandlesPerSession ?? 8;
  if (!Number.isInteger(maxPerSession) || maxPerSession < 1) throw new RangeError("maxOpenHandlesPerSession must be a positive integer");
  const where = `TrustList ${trustList.nodeId.toString()}`;

  const files = new Map<number, OpenFile>();
  const handlesOfSession = new Map<object, Set<number>>();
  const opening = new Map<object, number>();
  const watched = new WeakSet<object>();
  let lastHandle = 0;

  const releaseSession = (session: object) => {
    for (const handle of handlesOfSession.get(session) ?? []) files.delete(handle);
    handlesOfSession.delete(session);
  };

  /** Lazy liveness check, in case a session went away without its close event reaching us. */
  const sweep = () => {
    for (const session of handlesOfSession.keys()) if (!isAlive(session)) releaseSession(session);
  };

  /** Releases the session's handles as soon as it closes (ServerSession emits "session_closed"). */
  const watch = (session: object) => {
    if (watched.has(session)) return;
    const emitter = session as SessionWithStatus;
    if (typeof emitter.once === "function") {
      emitter.once.call(session, "session_closed", () => releaseSession(session));
      watched.add(session);
    }
  };

  const nextHandle = (): number => {
    for (;;) {
      lastHandle = lastHandle >= MAX_UINT32 ? 1 : lastHandle + 1;
      if (!files.has(lastHandle)) return lastHandle;
    }
  };

  // LastUpdateTime of a read-only list: the time this binding first saw the current full encoding.
  let lastDigest: string | null = null;
  let lastUpdateTime = new Date();
  const observeFull = (encoded: Buffer) => {
    const digest = createHash("sha256").update(encoded).digest("hex");
    if (digest !== lastDigest) {
      if (lastDigest !== null) lastUpdateTime = new Date();
      lastDigest = digest;
    }
  };

  const snapshot = async (masks: number): Promise<Buffer> => {
    const encoded = encodeTrustList(await options.content(masks), masks);
    if (masks === TrustListMasks.All) observeFull(encoded);
    return encoded;
  };

  const writeHandleOpen = (): boolean => {
    sweep();
    for (const file of files.values()) if (file.writing) return true;
    return false;
  };

  const register = (session: object, file: OpenFile): number => {
    const handle = nextHandle();
    files.set(handle, file);
    let set = handlesOfSession.get(session);
    if (!set) handlesOfSession.set(session, (set = new Set()));
    set.add(handle);
    watch(session);
    return handle;
  };

  const checkHandleQuota = (session: object) => {
    sweep();
    const held = (handlesOfSession.get(session)?.size ?? 0) + (opening.get(session) ?? 0);
    if (held >= maxPerSession) {
      throw new StatusFault(StatusCodes.BadTooManyOperations, `a session may hold at most ${maxPerSession} handles on this trust list`);
    }
  };

  const open = async (context: ISessionContext, masks: number): Promise<number> => {
    const session = sessionOf(context);
    checkHandleQuota(session);
    opening.set(session, (opening.get(session) ?? 0) + 1);
    let data: Buffer;
    try {
      data = await snapshot(masks);
    } finally {
      const n = (opening.get(session) ?? 1) - 1;
      if (n > 0) opening.set(session, n);
      else opening.delete(session);
    }
    if (!isAlive(session)) throw new StatusFault(StatusCodes.BadSessionIdInvalid, "the session closed while the trust list was opened");
    return register(session, { session, writing: false, data, position: 0 });
  };

  const openForWriting = (context: ISessionContext, w: TrustListWriter): number => {
    const session = sessionOf(context);
    checkHandleQuota(session);
    if (writeHandleOpen()) throw new StatusFault(StatusCodes.BadInvalidState, "the trust list is already open for writing");
    w.checkCanWrite(context);
    return register(session, { session, writing: true, data: Buffer.alloc(0), position: 0 });
  };

  const fileOf = (context: ISessionContext, handle: number): OpenFile => {
    const session = sessionOf(context);
    const file = files.get(handle);
    // A handle of another session is as unknown to this one as a handle never issued.
    if (!file || file.session !== session) throw new GdsError("InvalidArgument", "unknown file handle");
    return file;
  };

  const close = (handle: number, file: OpenFile) => {
    files.delete(handle);
    const set = handlesOfSession.get(file.session);
    set?.delete(handle);
    if (set && set.size === 0) handlesOfSession.delete(file.session);
  };

  type Body = (args: Variant[], context: ISessionContext) => Promise<VariantLike[]> | VariantLike[];

  const bind = (name: string, body: Body, mandatory: boolean) => {
    const method = childByName(trustList, name, NodeClass.Method) as UAMethod | undefined;
    if (!method) {
      if (mandatory) throw new Error(`${where} has no method ${name}`);
      return;
    }
    // node-opcua dispatches on the arity: an async handler declares exactly (inputArguments, context).
    method.bindMethod(async (inputArguments: Variant[], context: ISessionContext): Promise<CallMethodResultOptions> => {
      try {
        await options.authorize(context);
        // Variants are built here, so that a bad output value is caught too, not thrown in node-opcua.
        const outputArguments = (await body(inputArguments, context)).map((v) => (v instanceof Variant ? v : new Variant(v)));
        return { statusCode: StatusCodes.Good, outputArguments };
      } catch (e) {
        if (!isExpectedFailure(e)) options.logError(`${where} ${name} failed: ${(e as Error)?.stack ?? String(e)}`);
        return { statusCode: statusCodeOf(e) };
      }
    });
    leaveAuthorizationToBinding(method);
  };

  bind(
    "Open",
    async (args, context) => {
      const mode = scalarArg(args, 0, "Mode", DataType.Byte) as number;
      if ((mode & MODE_RESERVED) !== 0) throw new GdsError("InvalidArgument", "the reserved mode bits 4..7 must be zero");
      if ((mode & MODE_WRITE) !== 0) {
        if (!writer) throw new StatusFault(StatusCodes.BadNotWritable, "this trust list is read-only");
        if (mode !== (MODE_WRITE | MODE_ERASE_EXISTING)) throw new StatusFault(StatusCodes.BadNotSupported, "a TrustList opens for writing with mode Write + EraseExisting (0x06) only");
        return [{ dataType: DataType.UInt32, value: openForWriting(context, writer) }];
      }
      if (mode !== MODE_READ) throw new StatusFault(StatusCodes.BadNotSupported, "a TrustList opens with mode Read (0x01) or Write + EraseExisting (0x06)");
      return [{ dataType: DataType.UInt32, value: await open(context, TrustListMasks.All) }];
    },
    true,
  );

  bind(
    "OpenWithMasks",
    async (args, context) => {
      const masks = scalarArg(args, 0, "Masks", DataType.UInt32) as number;
      if ((masks & ~TrustListMasks.All) !== 0) throw new GdsError("InvalidArgument", "Masks has bits other than TrustListMasks.All (15)");
      return [{ dataType: DataType.UInt32, value: await open(context, masks) }];
    },
    true,
  );

  bind(
    "Read",
    (args, context) => {
      const file = fileOf(context, fileHandleArg(args));
      const length = scalarArg(args, 1, "Length", DataType.Int32) as number;
      if (file.writing) throw new StatusFault(StatusCodes.BadInvalidState, "the file was opened for writing, not reading");
      if (!(length > 0)) throw new GdsError("InvalidArgument", "Length must be positive");
      const end = Math.min(file.data.length, file.position + length);
      const chunk = Buffer.from(file.data.subarray(file.position, end));
      file.position = end;
      return [{ dataType: DataType.ByteString, value: chunk }];
    },
    true,
  );

  bind(
    "GetPosition",
    (args, context) => {
      const file = fileOf(context, fileHandleArg(args));
      return [{ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: uint64Value(file.position) }];
    },
    true,
  );

  bind(
    "SetPosition",
    (args, context) => {
      const file = fileOf(context, fileHandleArg(args));
      file.position = Math.min(uint64Arg(args, 1, "Position"), file.data.length);
      return [];
    },
    true,
  );

  bind(
    "Close",
    (args, context) => {
      const handle = fileHandleArg(args);
      close(handle, fileOf(context, handle));
      return [];
    },
    true,
  );

  bind(
    "Write",
    (args, context) => {
      const file = fileOf(context, fileHandleArg(args));
      if (!file.writing) throw new StatusFault(StatusCodes.BadInvalidState, "the file was not opened for writing");
      const v = args[1];
      if (!v || (v.dataType !== DataType.ByteString && v.dataType !== DataType.Null) || v.arrayType !== VariantArrayType.Scalar) throw new GdsError("InvalidArgument", "Data must be a ByteString");
      const data = (v.value as Buffer | null) ?? Buffer.alloc(0);
      const end = file.position + data.length;
      if (end > writer!.maxTrustListSize) {
        throw new StatusFault(StatusCodes.BadRequestTooLarge, `the TrustList may not be larger than MaxTrustListSize (${writer!.maxTrustListSize} bytes)`);
      }
      if (end > file.data.length) {
        const grown = Buffer.alloc(end);
        file.data.copy(grown);
        file.data = grown;
      }
      data.copy(file.data, file.position);
      file.position = end;
      return [];
    },
    true,
  );

  bind(
    "CloseAndUpdate",
    async (args, context) => {
      const handle = fileHandleArg(args);
      const file = fileOf(context, handle);
      if (!writer) throw new StatusFault(StatusCodes.BadNotWritable, "this trust list is read-only");
      if (!file.writing) throw new StatusFault(StatusCodes.BadInvalidState, "the file was not opened for writing");
      // Closed whatever happens next: a file that cannot be processed is discarded (§7.8.2.3).
      close(handle, file);
      const applyChangesRequired = await writer.update(context, decodeTrustList(file.data));
      return [{ dataType: DataType.Boolean, value: applyChangesRequired }];
    },
    false,
  );

  bind(
    "AddCertificate",
    async (args, context) => {
      if (!writer) throw new StatusFault(StatusCodes.BadNotWritable, "this trust list is read-only");
      const certificate = scalarArg(args, 0, "Certificate", DataType.ByteString) as Buffer | null;
      const isTrusted = scalarArg(args, 1, "IsTrustedCertificate", DataType.Boolean) as boolean;
      if (writeHandleOpen()) throw new StatusFault(StatusCodes.BadInvalidState, "the trust list is open for writing");
      await writer.addCertificate(context, certificate ?? Buffer.alloc(0), isTrusted);
      return [];
    },
    false,
  );

  bind(
    "RemoveCertificate",
    async (args, context) => {
      if (!writer) throw new StatusFault(StatusCodes.BadNotWritable, "this trust list is read-only");
      const thumbprint = (scalarArg(args, 0, "Thumbprint", DataType.String) as string | null) ?? "";
      const isTrusted = scalarArg(args, 1, "IsTrustedCertificate", DataType.Boolean) as boolean;
      if (writeHandleOpen()) throw new StatusFault(StatusCodes.BadInvalidState, "the trust list is open for writing");
      await writer.removeCertificate(context, thumbprint, isTrusted);
      return [];
    },
    false,
  );

  bindProperties(trustList, {
    writable: writer !== null,
    openCount: () => {
      sweep();
      return files.size;
    },
    full: () => snapshot(TrustListMasks.All),
    lastUpdateTime: () => (writer ? writer.lastUpdateTime() : lastUpdateTime),
    logError: (m) => options.logError(`${where}: ${m}`),
  });
}

interface PropertySources {
  writable: boolean;
  openCount(): number;
  full(): Promise<Buffer>;
  lastUpdateTime(): Date;
  logError(message: string): void;
}

function bindProperties(trustList: UAObject, sources: PropertySources): void {
  const property = (name: string) => childByName(trustList, name, NodeClass.Variable) as UAVariable | undefined;

  for (const name of ["Writable", "UserWritable"]) {
    property(name)?.setValueFromSource({ dataType: DataType.Boolean, value: sources.writable });
  }

  property("OpenCount")?.bindVariable(
    { get: () => new Variant({ dataType: DataType.UInt16, value: Math.min(sources.openCount(), 0xffff) }) },
    true,
  );

  // Size and LastUpdateTime are computed from the current content when read (one content() call
  // for reads that arrive together). A failure answers a Bad status for the value, never throws.
  let inFlight: Promise<Buffer> | null = null;
  const current = (): Promise<Buffer> => {
    if (!inFlight) {
      inFlight = sources.full().finally(() => {
        inFlight = null;
      });
    }
    return inFlight;
  };
  const refreshed = (name: string, toVariant: (encoded: Buffer) => VariantLike) => (callback: (err: Error | null, dataValue?: DataValue) => void) => {
    current()
      .then((encoded) => {
        const now = new Date();
        return new DataValue({ value: toVariant(encoded), statusCode: StatusCodes.Good, sourceTimestamp: now, serverTimestamp: now });
      })
      .catch((e: unknown) => {
        if (!isExpectedFailure(e)) sources.logError(`reading ${name} failed: ${(e as Error)?.stack ?? String(e)}`);
        const now = new Date();
        return new DataValue({ statusCode: statusCodeOf(e), sourceTimestamp: now, serverTimestamp: now });
      })
      .then(
        (dataValue) => callback(null, dataValue),
        // Unreachable in practice (building a Bad DataValue does not throw); never leave a rejection unhandled.
        (e: unknown) => sources.logError(`reading ${name} failed: ${String(e)}`),
      );
  };

  property("Size")?.bindVariable(
    { refreshFunc: refreshed("Size", (encoded) => ({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: uint64Value(encoded.length) })) },
    true,
  );
  property("LastUpdateTime")?.bindVariable(
    { refreshFunc: refreshed("LastUpdateTime", () => ({ dataType: DataType.DateTime, value: sources.lastUpdateTime() })) },
    true,
  );
}
