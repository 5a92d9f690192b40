import { DiskCertificateKeyPairProvider, type ISessionContext, type OPCUACertificateManager, type OPCUAServer } from "node-opcua";

/**
 * How node-opcua 2.182 lets a running server change its certificate: the server's own
 * certificate-and-key provider (CreateSession signatures, GetEndpoints) and each endpoint's
 * (OpenSecureChannel, EndpointDescription.ServerCertificate) are replaced by providers that read the
 * new files. A secure channel binds the chain and key it started with, so open channels keep
 * working with the old certificate until they are dropped; new ones present the new certificate.
 */
export function presentCertificateFiles(server: OPCUAServer, certificateFile: string, privateKeyFile: string): void {
  server.setProvider(new DiskCertificateKeyPairProvider(certificateFile, privateKeyFile));
  server.invalidateCachedCertificates();
  for (const endpoint of server.endpoints) {
    endpoint.setCertificateProvider(new DiskCertificateKeyPairProvider(certificateFile, privateKeyFile));
  }
}

interface ChannelLike {
  clientCertificate?: Buffer | null;
  abruptlyInterrupt(): void;
  once?(event: string, listener: () => void): unknown;
}

function channelsOf(server: OPCUAServer): ChannelLike[] {
  return server.endpoints.flatMap((endpoint) => endpoint.getChannels() as unknown as ChannelLike[]);
}

function interrupt(channel: ChannelLike): void {
  try {
    channel.abruptlyInterrupt();
  } catch {
    // A channel whose transport is already gone is closed anyway.
  }
}

/** Drops every secure channel, so that clients reconnect and meet the server's new certificate. */
export function dropAllChannels(server: OPCUAServer): number {
  const channels = channelsOf(server);
  channels.forEach(interrupt);
  return channels.length;
}

/**
 * Re-evaluates the client certificate of every open channel against the trust store as it is now,
 * and drops the channels it no longer accepts (OPC 10000-12 §7.8.2.3: "Sessions or SecureChannels
 * with an untrusted or revoked Certificate shall be closed").
 */
export async function dropUntrustedChannels(server: OPCUAServer, manager: OPCUACertificateManager): Promise<number> {
  let dropped = 0;
  for (const channel of channelsOf(server)) {
    const certificate = channel.clientCertificate;
    if (!certificate || certificate.length === 0) continue;
    const status = await manager.checkCertificate(certificate).catch(() => null);
    if (!status || !status.isGood()) {
      interrupt(channel);
      dropped++;
    }
  }
  return dropped;
}

/** Time allowed for the answer to reach the socket when no "transaction_done" is seen. */
const RESPONSE_GRACE_MS = 1_000;
/** Time between the response leaving and the channels going, so that the kernel has sent it. */
const FLUSH_MS = 50;

/**
 * Runs `action` once the response to the current call has been written to the caller's channel
 * (node-opcua's ServerSecureChannelLayer emits "transaction_done" after each response), or after a
 * grace time: a method that ends by dropping channels still delivers its Good to the caller.
 */
export function afterResponse(context: ISessionContext, action: () => void): void {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    clearTimeout(grace);
    setTimeout(action, FLUSH_MS);
  };
  const grace = setTimeout(run, RESPONSE_GRACE_MS);
  const channel = (context.session as unknown as { channel?: ChannelLike } | undefined)?.channel;
  if (typeof channel?.once === "function") channel.once("transaction_done", run);
}
