/** The GDS client library: what other applications import as `opcua-gds/client`. */
export { DirectoryClient, GdsCallError, DIRECTORY_METHOD_IDS, type QueryOptions, type RemoteApplicationRecord } from "./directory-client";
export { ApplicationType, type ApplicationFields, type LocalizedName } from "../domain/application";
