import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compileLikePattern } from "../../src/domain/like-pattern";

describe("Like patterns of QueryApplications (OPC 10000-4 Like operator)", () => {
  const cases: Array<[string, string, boolean]> = [
    ["urn:plant1:%", "urn:plant1:line4:plc", true],
    ["urn:plant1:%", "urn:plant2:line4", false],
    ["PLC _", "PLC 7", true],
    ["PLC _", "PLC 17", false],
    ["line[13]", "line1", true],
    ["line[13]", "line2", false],
    ["line[1-3]", "line2", true],
    ["line[^1-3]", "line2", false],
    ["line[^1-3]", "line9", true],
    ["100\\%", "100%", true],
    ["100\\%", "1000", false],
    ["a\\_b", "a_b", true],
    ["a\\_b", "axb", false],
    ["a.b", "axb", false],
    ["(x)+", "(x)+", true],
    ["[unclosed", "[unclosed", true],
    ["", "", true],
    ["%", "anything\nat all", true],
    ["a-b", "a-b", true],
    ["'; DROP TABLE applications; --", "'; DROP TABLE applications; --", true],
    ["x[z-a]", "xz", false],
    ["x[a-z/]", "x/", true],
  ];
  for (const [pattern, value, expected] of cases) {
    it(`"${pattern}" ${expected ? "matches" : "does not match"} "${value.replace("\n", "\\n")}"`, () => {
      assert.equal(compileLikePattern(pattern).test(value), expected);
    });
  }

  it("any string compiles (found by fuzzing: a `-` outside a set was an invalid escape in a u-mode RegExp), and a string without special characters matches itself", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (pattern) => {
        const compiled = compileLikePattern(pattern);
        if (!/[%_[\\]/.test(pattern)) assert.ok(compiled.test(pattern), pattern);
      }),
      { numRuns: 2000 },
    );
  });

  it("the SQL LIKE pattern it derives accepts every value the pattern matches", () => {
    assert.equal(compileLikePattern("line[13]%").sqlLike, "line_%");
    assert.equal(compileLikePattern("100\\%").sqlLike, "100\\%");
    assert.equal(compileLikePattern("a\\b").sqlLike, "ab");
  });
});
