import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { FleetService } from "../services/fleet-service";

/** Shares one run of `load` among the callers that ask while it runs (the gauges of one scrape). */
function sharedWhileRunning<T>(load: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | null = null;
  return () => (running ??= load().finally(() => (running = null)));
}

/**
 * The GDS's Prometheus series, named in the style of cert-manager's
 * (`certmanager_certificate_expiration_timestamp_seconds`) so that its alert rules and dashboards
 * translate one to one. Certificate and CRL gauges are read from the database at every scrape, so
 * every instance on one PostgreSQL reports the same fleet, including changes made by the CLI.
 */
export class GdsMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"method" | "status">;

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
    // One database read serves both certificate gauges of a scrape, one status the other series.
    const readCertificates = sharedWhileRunning(async () => {
      const current = await fleet.currentCertificates();
      expiration.reset();
      renewal.reset();
      for (const c of current) {
        const labels = { application_uri: c.applicationUri, group: c.groupName, type: c.certificateTypeName };
        expiration.set(labels, Math.floor(c.notAfterMs / 1000));
        renewal.set(labels, Math.floor(c.renewalAtMs / 1000));
      }
    });
    const readStatus = sharedWhileRunning(() => fleet.status());
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
        this.set((await readStatus()).pendingRequests);
      },
    });
    this.requests = new Counter({
      name: "opcuagds_requests_total",
      help: "OPC UA method calls answered, by method and status code name",
      labelNames: ["method", "status"],
      registers,
    });
    // Counted from the job table, so pushes run by the CLI or another instance count too.
    new Counter({
      name: "opcuagds_push_total",
      help: "Push jobs finished, by result (ok, failed)",
      labelNames: ["result"],
      registers,
      async collect() {
        const pushes = (await readStatus()).pushes;
        this.reset();
        this.inc({ result: "ok" }, pushes.succeeded);
        this.inc({ result: "failed" }, pushes.failed);
      },
    });
    new Gauge({
      name: "opcuagds_trustlist_servers",
      help: "Push-managed servers that trust-list distribution serves, by certificate group",
      labelNames: ["group"],
      registers,
      async collect() {
        this.reset();
        for (const g of (await readStatus()).trustLists) this.set({ group: g.group }, g.servers);
      },
    });
    new Gauge({
      name: "opcuagds_trustlist_current_servers",
      help: "Push-managed servers known to hold their group's current trust list (CA certificates and CRLs)",
      labelNames: ["group"],
      registers,
      async collect() {
        this.reset();
        for (const g of (await readStatus()).trustLists) this.set({ group: g.group }, g.current);
      },
    });
    new Gauge({
      name: "opcuagds_drift_servers",
      help: "Push-managed servers by the result of their last drift check (in_sync, drifted, unreachable, unchecked)",
      labelNames: ["group", "state"],
      registers,
      async collect() {
        this.reset();
        for (const g of (await readStatus()).trustLists) {
          for (const [state, n] of Object.entries({ in_sync: g.drift.inSync, drifted: g.drift.drifted, unreachable: g.drift.unreachable, unchecked: g.drift.unchecked })) this.set({ group: g.group, state }, n);
        }
      },
    });
    new Gauge({
      name: "opcuagds_push_failing_devices",
      help: "Devices whose latest push failed",
      registers,
      async collect() {
        this.set((await readStatus()).pushes.failingDevices);
      },
    });
  }

  /** Counts one answered method call. */
  observeCall(method: string, statusName: string): void {
    this.requests.inc({ method, status: statusName });
  }

  /** The exposition text (and its content type). */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
