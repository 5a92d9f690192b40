/**
 * The maintenance-window and auto-renew commands of the built CLI (`push window`, `push auto-renew`,
 * shown by `push show`), on both backends: what is stored, what is refused and how it says so.
 */
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openServices } from "../../src/app";
import { resolveConfig } from "../../src/config/config";
import { formatApplicationId } from "../../src/domain/application-id";
import { cli, cliJson, cliOk, killChildren, setCliWorkDir } from "../helpers/cli";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../helpers/databases";
import { tempDir } from "../helpers/gds-fixture";
import { serverRecord } from "../helpers/records";

interface SettingsJson {
  applicationId: string;
  maintenanceWindow: string | null;
  maintenanceTimeZone: string;
  autoRenew: boolean;
}

for (const backend of BACKENDS) {
  describe(`push window and auto-renew commands (${backend})`, { timeout: 300_000 }, () => {
    let root: string;
    let database: TestDatabase;
    let id: string;
    let target: string[];

    before(async () => {
      root = await tempDir("cli-window");
      setCliWorkDir(root);
      database = await createTestDatabase(backend);
      const dataDir = path.join(root, "data");
      target = ["--data", dataDir, ...(database.url ? ["--db", database.url] : [])];
      await cliOk(["init", ...target], { env: { OPCUA_GDS_ADMIN_PASSWORD: "window-admin-password" } });
      const services = await openServices(resolveConfig({ data: dataDir, db: database.url }, {}));
      try {
        id = formatApplicationId(await services.directory.registerApplication("test", serverRecord("window")));
      } finally {
        await services.close();
      }
    });

    after(async () => {
      killChildren();
      await database?.drop();
      await fs.rm(root, { recursive: true, force: true });
    });

    it("push window stores a window in a time zone, push show lists it, --clear removes it; every change is audited", async () => {
      const set = await cliJson<SettingsJson>(["push", "window", id, "mon-fri 22:00-04:00;  Sat,Sun 00:00-24:00", "--timezone", "Europe/Berlin", "--json", ...target]);
      assert.equal(set.maintenanceWindow, "mon-fri 22:00-04:00; Sat,Sun 00:00-24:00");
      assert.equal(set.maintenanceTimeZone, "Europe/Berlin");
      const shown = await cliOk(["push", "show", id, ...target]);
      assert.match(shown.stdout, /^maintenance window: mon-fri 22:00-04:00; Sat,Sun 00:00-24:00 \(Europe\/Berlin\)$/m);
      assert.match(shown.stdout, /^automatic renewal: on$/m);
      const cleared = await cliJson<SettingsJson>(["push", "window", id, "--clear", "--json", ...target]);
      assert.equal(cleared.maintenanceWindow, null);
      assert.equal(cleared.maintenanceTimeZone, "UTC");
      const audit = await cliJson<Array<{ action: string; details?: string | null }>>(["audit", "--json", "--since", "1h", ...target]);
      assert.deepEqual(audit.filter((r) => r.action === "PushWindowChanged").map((r) => r.details), ["mon-fri 22:00-04:00; Sat,Sun 00:00-24:00 (Europe/Berlin)", "cleared: any time"]);
    });

    it("bad windows, zones and arguments exit 2 with what to write, and change nothing", async () => {
      const cases: Array<[string[], RegExp]> = [
        [["push", "window", id, "weekdays 22:00-04:00"], /"weekdays" .* is not a weekday \(Mon, Tue/],
        [["push", "window", id, "Mon 22:00"], /is not "DAYS HH:MM-HH:MM", e.g. "Mon-Fri 22:00-04:00; Sat,Sun 00:00-24:00"/],
        [["push", "window", id, "Mon 10:00-11:00", "--timezone", "Mars/Olympus"], /not a time zone: use an IANA name/],
        [["push", "window", id], /give a window such as .* or --clear/],
        [["push", "window", id, "Mon 10:00-11:00", "--clear"], /give a window such as .* or --clear/],
        [["push", "auto-renew", id, "maybe"], /"maybe" is not on or off/],
      ];
      for (const [args, message] of cases) {
        const r = await cli([...args, ...target]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      const shown = await cliJson<SettingsJson>(["push", "show", id, "--json", ...target]);
      assert.equal(shown.maintenanceWindow, null);
      const unknown = await cli(["push", "window", "ns=1;g=00000000-0000-4000-8000-00000000abcd", "Mon 10:00-11:00", ...target]);
      assert.equal(unknown.code, 3, unknown.stderr);
    });

    it("push auto-renew off keeps the scheduler away from a device; on brings it back", async () => {
      assert.equal((await cliJson<SettingsJson>(["push", "auto-renew", id, "off", "--json", ...target])).autoRenew, false);
      assert.match((await cliOk(["push", "show", id, ...target])).stdout, /^automatic renewal: off$/m);
      assert.equal((await cliJson<SettingsJson>(["push", "auto-renew", id, "on", "--json", ...target])).autoRenew, true);
    });
  });
}
