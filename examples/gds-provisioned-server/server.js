"use strict";
/**
 * A node-opcua server that takes its identity from a GDS when it starts, through the client library
 * `opcua-gds/client`, and accepts only clients whose certificates the GDS issued: its PKI folder
 * trusts exactly the GDS's trust list. Every CRL_REFRESH_SECONDS it reads the trust list again, so a
 * client the GDS revoked is refused from the next refresh on.
 *
 * Settings (environment):
 *   GDS_URL              opc.tcp:// endpoint of the GDS (required)
 *   GDS_CA_FILE          the GDS's CA certificate, to verify the GDS on first contact
 *   GDS_USER, GDS_PASSWORD  a GDS user for the first start (registration, first certificate);
 *                        later starts renew as the application itself (ApplicationSelfAdmin)
 *   APPLICATION_URI      default urn:<host name>:opcua-gds-example:server
 *   PKI_DIR              default ./pki (the layout node-opcua reads: own/, trusted/, issuers/)
 *   HOST, PORT           where to listen, default the host name and 4840 (0: any free port)
 *   CRL_REFRESH_SECONDS  default 300
 *
 *   node examples/gds-provisioned-server/server.js
 */
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { GdsClient, provision, readPkiStore } = require("opcua-gds/client");
const { MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, nodesets } = require("node-opcua");

const settings = {
  gdsUrl: required("GDS_URL"),
  gdsCa: process.env.GDS_CA_FILE ? [fs.readFileSync(process.env.GDS_CA_FILE)] : [],
  user: process.env.GDS_USER ? { userName: process.env.GDS_USER, password: process.env.GDS_PASSWORD ?? "" } : undefined,
  applicationUri: process.env.APPLICATION_URI ?? `urn:${os.hostname()}:opcua-gds-example:server`,
  pki: path.resolve(process.env.PKI_DIR ?? "pki"),
  host: process.env.HOST ?? os.hostname(),
  port: Number(process.env.PORT ?? 4840),
  refreshMs: Number(process.env.CRL_REFRESH_SECONDS ?? 300) * 1000,
};

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`set ${name} (see the comment at the top of ${__filename})`);
    process.exit(2);
  }
  return value;
}

/** The record the GDS keeps of this server. */
function record() {
  return {
    applicationUri: settings.applicationUri,
    applicationType: 0, // Server
    applicationNames: [{ locale: "en", text: "opcua-gds example server" }],
    productUri: "urn:opcua-gds:example",
    discoveryUrls: [`opc.tcp://${settings.host}:${settings.port || 4840}`],
    serverCapabilities: ["NA"],
  };
}

/**
 * One session with the GDS: as the application itself when the folder holds a valid certificate,
 * otherwise with the GDS user. The GDS is verified against its CA (and, once known, its CRL).
 */
async function withGds(work) {
  const stored = await readPkiStore(settings.pki);
  const valid = stored.certificate && stored.privateKey && stored.certificate.notAfter.getTime() > Date.now();
  const client = await GdsClient.connect({
    endpointUrl: settings.gdsUrl,
    gdsTrust: { certificates: [...settings.gdsCa, ...stored.trustedCertificates.map((c) => c.der)], crls: stored.trustedCrls },
    application: valid ? { certificate: stored.certificate.der, privateKey: stored.privateKey } : undefined,
    user: valid ? undefined : settings.user,
  });
  try {
    return await work(client, valid ? stored : null);
  } finally {
    await client.close();
  }
}

/** Registers if needed, gets (or renews) the certificate, reads the trust list, writes the PKI folder. */
async function pullIdentity() {
  return withGds(async (gds, stored) => {
    const { record: registered, registered: isNew } = await gds.ensureRegistered(record());
    if (isNew) console.log(`registered ${settings.applicationUri} as ${registered.applicationId}`);
    let identity = stored && { certificate: stored.certificate.der, privateKey: stored.privateKey, issuerCertificates: stored.certificateIssuers };
    if (!identity || (await gds.getCertificateStatus(registered.applicationId))) {
      const issued = await gds.requestCertificate(registered, { privateKey: stored?.privateKey });
      identity = { certificate: issued.certificate.der, privateKey: issued.privateKey, issuerCertificates: issued.issuerCertificates.map((c) => c.der) };
      console.log(`certificate ${issued.certificate.serialNumber} from the GDS, valid until ${issued.certificate.notAfter.toISOString()}`);
    }
    const trustList = await gds.getTrustList(registered.applicationId);
    await provision(settings.pki, { ...identity, trustList });
    return registered.applicationId;
  });
}

/** Reads the trust list again and rewrites the folder when it changed; true when it did. */
async function refreshTrustList(applicationId) {
  return withGds(async (gds, stored) => {
    if (!stored) throw new Error("the server's certificate has expired: restart the server to get a new one");
    const trustList = await gds.getTrustList(applicationId);
    const result = await provision(settings.pki, { certificate: stored.certificate.der, privateKey: stored.privateKey, issuerCertificates: stored.certificateIssuers, trustList });
    return result.changed;
  });
}

async function main() {
  const applicationId = await pullIdentity();
  // Only what the folder trusts: the GDS's CA certificates and their CRLs; nothing unknown.
  const trust = new OPCUACertificateManager({ rootFolder: settings.pki, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: true });
  await trust.initialize();
  const server = new OPCUAServer({
    port: settings.port,
    host: process.env.HOST,
    hostname: settings.host,
    nodeset_filename: [nodesets.standard],
    serverInfo: { applicationUri: settings.applicationUri, productUri: "urn:opcua-gds:example", applicationName: { text: "opcua-gds example server" } },
    serverCertificateManager: trust, // own/certs/certificate.pem and own/private/private_key.pem by default
    securityModes: [MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss],
    allowAnonymous: true,
  });
  await server.start();
  console.log(`example server listening on ${server.getEndpointUrl()}`);

  const timer = setInterval(() => {
    refreshTrustList(applicationId)
      .then(async (changed) => {
        if (!changed) return;
        await trust.reloadCertificates();
        console.log("trust list changed: certificates and CRLs reloaded");
      })
      .catch((e) => console.error(`trust list refresh failed (next try in ${settings.refreshMs / 1000} s): ${e.message}`));
  }, settings.refreshMs);

  const stop = async () => {
    clearInterval(timer);
    await server.shutdown(0);
    await trust.dispose();
    console.log("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((e) => {
  console.error(`example server: ${e.message}`);
  process.exit(1);
});
