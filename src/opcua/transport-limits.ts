/** What a Hello asks for and an Acknowledge grants (OPC 10000-6 §7.1.2.3, §7.1.2.4). */
export interface TransportLimits {
  receiveBufferSize: number;
  sendBufferSize: number;
  maxMessageSize: number;
  maxChunkCount: number;
}

/** The chunk sizes node-opcua negotiates: 8 KiB to 512 KiB, 64 KiB when the client says 0. */
const MIN_BUFFER = 8192;
const MAX_BUFFER = 512 * 1024;
const DEFAULT_BUFFER = 64 * 1024;

/**
 * node-opcua sizes an outgoing message as its chunk count times the full chunk size, so a chunk
 * must stay well below the maximum message size: at least 8 full chunks fit in a message.
 */
function clampBuffer(asked: number, maxMessageSize: number): number {
  const ceiling = Math.max(MIN_BUFFER, Math.min(MAX_BUFFER, Math.floor(maxMessageSize / 8)));
  return Math.min(ceiling, Math.max(MIN_BUFFER, asked || DEFAULT_BUFFER));
}

/**
 * The limits the server grants a Hello: what the client asked for, never more than the configured
 * maximum message size and chunk count (0 in a Hello means "no limit": the maximum). node-opcua's
 * own rule would grant up to 128 MiB to any client that asks, and assemble that much per request.
 */
export function grantTransportLimits(maxMessageSize: number, maxChunkCount: number): (hello: TransportLimits) => TransportLimits {
  return (hello) => ({
    receiveBufferSize: clampBuffer(hello.receiveBufferSize, maxMessageSize),
    sendBufferSize: clampBuffer(hello.sendBufferSize, maxMessageSize),
    maxMessageSize: hello.maxMessageSize ? Math.min(hello.maxMessageSize, maxMessageSize) : maxMessageSize,
    maxChunkCount: hello.maxChunkCount ? Math.min(hello.maxChunkCount, maxChunkCount) : maxChunkCount,
  });
}
