/** Programmatic entry points of opcua-gds: start a GDS in-process, or use the client library. */
export { startGds, initDataFolder, openServices, type RunningGds } from "./app";
export { resolveConfig, type GdsConfig } from "./config/config";
export * from "./client/index";
