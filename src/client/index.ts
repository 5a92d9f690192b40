/** The GDS client library: what other applications import as `opcua-gds/client`. */
export { CertificateClient, CERTIFICATE_GROUP_IDS, DirectoryClient, DIRECTORY_METHOD_IDS, type FinishedCertificate, type QueryOptions, type RemoteApplicationRecord } from "./directory-client";
export { ApplicationType, type ApplicationFields, type LocalizedName } from "../domain/application";
export { readTrustList, type TrustListFiles } from "./trust-list-reader";
export { GdsClient, type CertificateTarget, type GdsConnectOptions, type IssuedCertificate, type PollOptions, type RequestCertificateOptions } from "./gds-client";
export { ApprovalTimeoutError, GdsCallError, GdsClientError, GdsConnectionError, explainStatus, type ConnectionFailure } from "./errors";
export { decodeCertificate, decodeCrl, decodeTrustList, type CertificateInfo, type CrlInfo, type TrustList } from "./decoded";
export { createCertificateRequest, createSelfSignedCertificate, generateApplicationKey, type ApplicationNames, type PrivateKeyInput } from "./application-keys";
export { PKI_STORE_FILES, provision, readPkiStore, recoverPkiStore, type PkiManifest, type PkiMaterial, type PkiStoreContent, type ProvisionOptions, type ProvisionResult } from "./pki-store";
export { acquireStoreLock, type LockHolder, type StoreLock } from "./store-lock";
export { PkiAgent, type AgentOptions, type RoundOutcome, type StoreChange } from "./agent/pki-agent";
export { agentPaths, type AgentState } from "./agent/agent-folder";
export { backoffMs, nextCheckMs, renewalReason, type HeldCertificate } from "./agent/renewal-decision";
