import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AttributeIds, ClientMonitoredItem, TimestampsToReturn, constructEventFilter, type Variant } from "node-opcua";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";
import { serverRecord } from "../helpers/records";
import { withStatus } from "../helpers/status";
import { StatusCodes } from "node-opcua";

// Events do not touch the database: one backend is enough here.
describe("standard OPC UA audit events (OPC 10000-12 §6.6)", () => {
  let gds: TestGds;
  before(async () => {
    gds = await startTestGds("sqlite");
  });
  after(async () => {
    await gds?.stop();
    await disposeClientStores();
  });

  it("RegisterApplication raises ApplicationRegistrationChangedAuditEventType with the user and the outcome, refusals included", async () => {
    await withDirectory(gds, { user: { userName: "admin", password: ADMIN_PASSWORD } }, async (d, session) => {
      const subscription = await session.createSubscription2({ requestedPublishingInterval: 50, publishingEnabled: true, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100 });
      const events: Variant[][] = [];
      const item = ClientMonitoredItem.create(
        subscription,
        { nodeId: "i=2253", attributeId: AttributeIds.EventNotifier },
        { samplingInterval: 0, discardOldest: true, queueSize: 100, filter: constructEventFilter(["EventType", "Message", "Status", "ClientUserId"]) },
        TimestampsToReturn.Neither,
      );
      item.on("changed", (fields: Variant[]) => events.push(fields));
      await new Promise((r) => setTimeout(r, 300));
      await d.registerApplication(serverRecord("audit-event"));
      await assert.rejects(d.registerApplication(serverRecord("audit-event")), withStatus(StatusCodes.BadEntryExists));
      const registrationChanged = d.nodeId(26).toString();
      for (let i = 0; i < 40 && events.filter((e) => String(e[0].value) === registrationChanged).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      const mine = events.filter((e) => String(e[0].value) === registrationChanged);
      assert.equal(mine.length, 2);
      assert.deepEqual(
        mine.map((e) => [e[2].value, e[3].value]),
        [
          [true, "admin"],
          [false, "admin"],
        ],
      );
      await subscription.terminate();
    });
  });
});
