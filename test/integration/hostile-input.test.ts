/**
 * Property-based hostile input (fast-check) against a running GDS: a sample of the cases that
 * bench/fuzz-bench.ts runs by the ten thousand, for every method of the Directory, the approval
 * desk and the TrustList files, as a CA administrator on a SignAndEncrypt channel (the caller that
 * gets furthest into the code). Every answer must be a Bad status other than BadInternalError or a
 * Good with outputs of the declared types; trust-list reads return exactly the bytes at the position;
 * the connection survives and the server answers afterwards. FUZZ_SEED=<n> repeats a run.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { DataType, Variant, VariantArrayType, type VariantLike } from "node-opcua";
import { BACKENDS } from "../helpers/databases";
import { MAX_NESTING, callCase, callPlans, fileScenarios, gdsTargets, makePools, runFileScenario, Tally, type FuzzPools } from "../helpers/fuzz";
import { ADMIN_PASSWORD, startTestGds, type TestGds } from "../helpers/gds-fixture";
import { disposeClientStores, withDirectory } from "../helpers/opcua-client";

const admin = { user: { userName: "admin", password: ADMIN_PASSWORD } };
/** Cases per Directory and approval-desk method, per TrustList method, and trust-list read scenarios. */
const RUNS = { method: 6, fileMethod: 3, scenarios: 10 };
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

for (const backend of BACKENDS) {
  describe(`hostile input, property-based (${backend})`, () => {
    let gds: TestGds;
    let pools: FuzzPools;
    before(async () => {
      gds = await startTestGds(backend);
      pools = await withDirectory(gds, admin, (d) => makePools(d, backend));
    });
    after(async () => {
      await gds?.stop();
      await disposeClientStores();
    });

    it("every method answers every case with a Bad status (never BadInternalError) or a well-formed Good; trust-list reads are exact; the server stays up", async () => {
      const tally = new Tally();
      // The first problem is the case as generated; fast-check reports the case it shrank it to.
      const firstProblem = (e: unknown) => {
        throw new Error(`${(e as Error).message}\nfirst problem met: ${tally.problems[0]}`);
      };
      await withDirectory(gds, admin, async (_d, session) => {
        const targets = await gdsTargets(session);
        const groups: Array<[typeof targets.directory, number]> = [
          [targets.directory, RUNS.method],
          [targets.desk, RUNS.method],
          [targets.trustListMethods, RUNS.fileMethod],
        ];
        assert.ok(targets.directory.length >= 16 && targets.desk.length >= 3 && targets.trustListMethods.length >= 7, "the methods were found");
        for (const [methods, numRuns] of groups) {
          for (const method of methods) {
            await fc.assert(
              fc.asyncProperty(callPlans(method, pools), async (plan) => {
                const outcome = await callCase(session, pools, method, plan);
                tally.add(method.name, outcome);
                if (outcome.problem) throw new Error(outcome.problem);
              }),
              { numRuns, seed, includeErrorInReport: true },
            ).catch(firstProblem);
          }
        }
        await fc.assert(
          fc.asyncProperty(fileScenarios(), async (scenario) => {
            const before = tally.problems.length;
            await runFileScenario(session, targets.trustLists, scenario, tally);
            if (tally.problems.length > before) throw new Error(tally.problems[tally.problems.length - 1]);
          }),
          { numRuns: RUNS.scenarios, seed, includeErrorInReport: true },
        ).catch(firstProblem);
      });
      process.stderr.write(`[${backend}] ${tally.total()} cases\n${tally.lines().join("\n")}\n`);
      assert.deepEqual(tally.problems, []);
      // Still serving, on a new session.
      assert.ok(await withDirectory(gds, admin, (d) => d.findApplications("urn:plant1:linefuzz-1:plc").then(() => true)));
    });

    it(`a request nested deeper than node-opcua's decoder allows (128 levels; the fuzzer stays within ${MAX_NESTING}) is dropped unanswered by node-opcua, and the same session goes on being served`, async () => {
      await withDirectory(gds, admin, async (d) => {
        let deep: VariantLike = { dataType: DataType.Boolean, value: true };
        for (let i = 0; i < 200; i++) deep = { dataType: DataType.Variant, arrayType: VariantArrayType.Array, value: [new Variant(deep)] };
        const unanswered = d.call("FindApplications", [deep]).then(
          (r) => r.statusCode.name,
          () => "no answer",
        );
        const first = await Promise.race([unanswered, new Promise<string>((resolve) => setTimeout(() => resolve("no answer within 3 s"), 3000))]);
        assert.equal(first, "no answer within 3 s", "node-opcua answered the undecodable request: this test can go, and MAX_NESTING can rise");
        assert.equal((await d.call("FindApplications", [{ dataType: DataType.String, value: "urn:none" }])).statusCode.name, "Good");
        // Within the limit, the same shape is decoded and answered.
        let within: VariantLike = { dataType: DataType.Boolean, value: true };
        for (let i = 0; i < MAX_NESTING; i++) within = { dataType: DataType.Variant, arrayType: VariantArrayType.Array, value: [new Variant(within)] };
        assert.equal((await d.call("FindApplications", [within])).statusCode.name, "BadTypeMismatch");
      });
    });
  });
}
