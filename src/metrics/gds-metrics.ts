import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { FleetService } from "../services/fleet-service";

/**
 * The GDS's Prometheus series, named in the style of cert-manager's
 * (`certmanager_certificate_expiration_timestamp_seconds`) so that its alert rules and dashboards
 * translate one to one. Certificate and CRL gauges are read from the database at every scrape, so
 * every instance on one PostgreSQL reports the same fleet, including changes made by the CLI.
 */
export class GdsMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"method" | "status">;
  private readonly pushes: Counter<"result">;

  constructor(fleet: FleetService) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "opcuagds_" });
    const certificateLabels = ["application_uri", "group", "type"] as const;
    const expiration = new Gauge({
      name: "opcuagds_certificate_expiration_timestamp_seconds",
      help: "notAfter of the current certificate of each application, group and type (Unix seconds)",
      labelNames: certificateLabels,
      registers,
      collect: () => readCertificates(),
    });
    const renewal = new Gauge({
      name: "opcuagds_certificate_renewal_timestamp_seconds",
      help: "When the current certificate of each application, group and type is due for renewal (Unix seconds)",
      labelNames: certificateLabels,
      registers,
      collect: () => readCertificates(),
    });
    // One database read serves both certificate gauges of a scrape.
    let pending: Promise<void> | null = null;
    const readCertificates = (): Promise<void> =>
      (pending ??= fleet
        .currentCertificates()
        .then((current) => {
          expiration.reset();
          renewal.reset();
          for (const c of current) {
            const labels = { application_uri: c.applicationUri, group: c.groupName, type: c.certificateTypeName };
            expiration.set(labels, Math.floor(c.notAfterMs / 1000));
            renewal.set(labels, Math.floor(c.renewalAtMs / 1000));
          }
        })
        .finally(() => (pending = null)));
    new Gauge({
      name: "opcuagds_crl_next_update_timestamp_seconds",
      help: "nextUpdate of the current CRL of each CA (group/type), Unix seconds",
      labelNames: ["ca"],
      registers,
      async collect() {
        this.reset();
        for (const c of await fleet.crlNextUpdates()) this.set({ ca: c.ca }, Math.floor(c.nextUpdateMs / 1000));
      },
    });
    new Gauge({
      name: "opcuagds_certificate_requests_pending",
      help: "Certificate requests waiting for approval",
      registers,
      async collect() {
        this.set((await fleet.status()).pendingRequests);
      },
    });
    this.requests = new Counter({
      name: "opcuagds_requests_total",
      help: "OPC UA method calls answered, by method and status code name",
      labelNames: ["method", "status"],
      registers,
    });
    this.pushes = new Counter({
      name: "opcuagds_push_total",
      help: "Push jobs finished, by result (ok, failed)",
      labelNames: ["result"],
      registers,
    });
  }

  /** Counts one answered method call. */
  observeCall(method: string, statusName: string): void {
    this.requests.inc({ method, status: statusName });
  }

  /** Counts one finished push. */
  observePush(result: "ok" | "failed"): void {
    this.pushes.inc({ result });
  }

  /** The exposition text (and its content type). */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
