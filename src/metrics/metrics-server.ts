import http from "node:http";
import type { AddressInfo } from "node:net";
import type { GdsMetrics } from "./gds-metrics";

/** A listening `/metrics` endpoint. */
export interface MetricsServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Serves `GET /metrics` over plain HTTP. It listens on loopback unless told otherwise: the series
 * name every application of the plant, which is not for everyone on the network.
 */
export async function startMetricsServer(metrics: GdsMetrics, port: number, host = "127.0.0.1"): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the series are at /metrics\n");
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
      (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics unavailable: ${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/metrics`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
