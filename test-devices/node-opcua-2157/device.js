"use strict";
// A push target built on an independent ServerConfiguration implementation (node-opcua 2.157 and
// node-opcua-server-configuration 2.157), for tests only. It listens on 127.0.0.1, offers
// SignAndEncrypt endpoints, accepts one user with the SecurityAdmin role and trusts unknown client
// certificates (as a device in commissioning does), so the GDS can reach it on first contact.
//
// Usage: node device.js --port P --pki DIR --application-uri URI --user NAME
// The password comes from the environment (DEVICE_PASSWORD). Prints one JSON line with the endpoint,
// then `ready`; stops on SIGTERM/SIGINT.
const {
  OPCUAServer,
  OPCUACertificateManager,
  MessageSecurityMode,
  SecurityPolicy,
  makeRoles,
  nodesets,
} = require("node-opcua");
const { installPushCertificateManagementOnServer } = require("node-opcua-server-configuration");

function argument(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  if (at >= 0 && at + 1 < process.argv.length) return process.argv[at + 1];
  if (fallback !== undefined) return fallback;
  console.error(`missing --${name}`);
  process.exit(2);
}

async function main() {
  const port = Number(argument("port"));
  const pki = argument("pki");
  const applicationUri = argument("application-uri");
  const userName = argument("user", "admin");
  const password = process.env.DEVICE_PASSWORD;
  if (!password) {
    console.error("set DEVICE_PASSWORD");
    process.exit(2);
  }

  const serverCertificateManager = new OPCUACertificateManager({
    rootFolder: pki,
    automaticallyAcceptUnknownCertificate: true,
  });
  await serverCertificateManager.initialize();

  const server = new OPCUAServer({
    port,
    hostname: "127.0.0.1",
    nodeset_filename: [nodesets.standard],
    serverInfo: { applicationUri, productUri: "urn:opcua-gds:test-device:node-opcua-2157", applicationName: { text: "node-opcua 2.157 device" } },
    serverCertificateManager,
    securityModes: [MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.Basic256Sha256],
    allowAnonymous: false,
    userManager: {
      isValidUser: (name, pw) => name === userName && pw === password,
      getUserRoles: (name) => (name === userName ? makeRoles("AuthenticatedUser;SecurityAdmin") : makeRoles("Anonymous")),
    },
  });
  await server.initialize();
  await installPushCertificateManagementOnServer(server);
  await server.start();

  process.stdout.write(`${JSON.stringify({ endpointUrl: server.getEndpointUrl(), applicationUri })}\n`);
  process.stdout.write("ready\n");

  const stop = async () => {
    await server.shutdown(0);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err && err.message ? err.message : err);
  process.exit(1);
});
