import path from "node:path";

/** Default certificate group and type of OPC 10000-12. */
export const DEFAULT_GROUP = "DefaultApplicationGroup";
export const DEFAULT_CERTIFICATE_TYPE = "RsaSha256ApplicationCertificateType";

/** Where each thing lives inside a data folder. */
export function dataPaths(dataDir: string) {
  return {
    root: dataDir,
    sqlite: path.join(dataDir, "gds.sqlite"),
    caFolder: (group = DEFAULT_GROUP, type = DEFAULT_CERTIFICATE_TYPE) => path.join(dataDir, "ca", group, type),
    serverPki: path.join(dataDir, "server-pki"),
    serverCertificate: path.join(dataDir, "server-pki", "own", "certs", "gds-server.pem"),
    serverPrivateKey: path.join(dataDir, "server-pki", "own", "private", "private_key.pem"),
    userPki: path.join(dataDir, "user-pki"),
    /** PKI folder of the push client (node-opcua wants one); device trust is decided from the database. */
    pushPki: path.join(dataDir, "push-pki"),
    /** Key that seals secrets kept in the database (mode 0600). */
    secretKey: path.join(dataDir, "secret.key"),
  };
}

export type DataPaths = ReturnType<typeof dataPaths>;
