import "reflect-metadata";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { StatusCodes } from "node-opcua";
import { parseCertificateRequest } from "../../src/ca/csr";
import { cli, killChildren, setCliWorkDir, spawnCli, stopServer, waitForOutput } from "../helpers/cli";
import { createSigningRequest, disposePushClientStores, failsWith, freePortRange, withPushSession } from "../helpers/push-target";

const PASSWORD = "simulate-e2e-password";

interface DeviceJson {
  index: number;
  endpointUrl: string;
  applicationUri: string;
  dataFolder: string;
  behaviour: string;
}

describe("opcua-gds simulate (end to end)", () => {
  let root: string;
  let basePort: number;
  before(async () => {
    basePort = await freePortRange(4);
    root = await fs.mkdtemp(path.join(os.tmpdir(), "opcua-gds-e2e-simulate-"));
    setCliWorkDir(root);
  });
  after(async () => {
    killChildren();
    await disposePushClientStores();
    await fs.rm(root, { recursive: true, force: true });
  });

  it("starts the devices, prints them as JSON and then `ready`, serves push management, and stops on SIGTERM within 10 s with exit code 0", async () => {
    const p = spawnCli(["simulate", "--count", "2", "--base-port", String(basePort), "--data", "devices", "--no-key-generation", "1", "--json", "--password-stdin"], { input: `${PASSWORD}\n` });
    await waitForOutput(p, /^ready$/m, "`ready`");
    const json = p.stdout().slice(0, p.stdout().lastIndexOf("ready"));
    const devices = JSON.parse(json) as DeviceJson[];
    assert.deepEqual(
      devices.map((d) => [d.index, d.endpointUrl, d.applicationUri, d.behaviour]),
      [
        [0, `opc.tcp://127.0.0.1:${basePort}`, "urn:opcua-gds:simulated:device:0", "normal"],
        [1, `opc.tcp://127.0.0.1:${basePort + 1}`, "urn:opcua-gds:simulated:device:1", "no-key-generation"],
      ],
    );
    assert.equal(path.resolve(root, "devices", "device-0"), path.resolve(root, devices[0].dataFolder));
    const user = { userName: "admin", password: PASSWORD };
    await withPushSession(devices[0].endpointUrl, { user }, async (session) => {
      const csr = await parseCertificateRequest(await createSigningRequest(session, true));
      assert.deepEqual(csr.uris, ["urn:opcua-gds:simulated:device:0"]);
    });
    await withPushSession(devices[1].endpointUrl, { user }, async (session) => {
      await assert.rejects(createSigningRequest(session, true), failsWith(StatusCodes.BadNotSupported));
    });
    const stopped = await stopServer(p);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.ok(stopped.ms < 10_000, `stopping took ${stopped.ms} ms`);
    assert.match(stopped.stdout, /stopped\n$/);
  });

  it("without a password, with a bad index or without --data it exits 2 and says what to give", async () => {
    const noPassword = await cli(["simulate", "--count", "1", "--base-port", String(basePort + 3), "--data", "d"]);
    assert.equal(noPassword.code, 2);
    assert.match(noPassword.stderr, /--password-stdin|OPCUA_GDS_SIM_PASSWORD/);
    const badIndex = await cli(["simulate", "--count", "2", "--base-port", String(basePort + 3), "--data", "d", "--refuse-certificate", "2"], { env: { OPCUA_GDS_SIM_PASSWORD: PASSWORD } });
    assert.equal(badIndex.code, 2);
    assert.match(badIndex.stderr, /0 to 1/);
    const noData = await cli(["simulate", "--count", "1", "--base-port", String(basePort + 3)], { env: { OPCUA_GDS_SIM_PASSWORD: PASSWORD } });
    assert.equal(noData.code, 2);
    assert.match(noData.stderr, /--data/);
  });
});
