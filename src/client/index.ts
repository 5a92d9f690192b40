/** The GDS client library: what other applications import as `opcua-gds/client`. */
export { CertificateClient, CERTIFICATE_GROUP_IDS, DirectoryClient, GdsCallError, DIRECTORY_METHOD_IDS, type FinishedCertificate, type QueryOptions, type RemoteApplicationRecord } from "./directory-client";
export { ApplicationType, type ApplicationFields, type LocalizedName } from "../domain/application";
export { readTrustList, type TrustListFiles } from "./trust-list-reader";
