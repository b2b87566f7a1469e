import { describe, expect, it } from "vitest";
import { Branch, Comment, type Value } from "../../src/sops/tree.js";
import { getPath, parseDottedPath, parseTreePath, setPath, unsetPath } from "../../src/sops/tree-path.js";
import { shellSplit } from "../../src/sops/files.js";

const b = (o: [string, Value][]) => new Branch(o.map(([k, value]) => ({ key: k, value })));

describe("sops index paths", () => {
  it("parses keys and indices as sops does", () => {
    expect(parseTreePath(`["a"]["b c"][0]`)).toEqual(["a", "b c", 0]);
    expect(parseTreePath(`['x']["q\\"uote"]`)).toEqual(["x", 'q"uote']);
    expect(parseDottedPath("servers.0.host")).toEqual(["servers", 0, "host"]);
  });

  it.each([`a.b`, `["a"`, `[a]`, ``])("refuses %j with INVALID_TREE_PATH", (p) => {
    expect(() => parseTreePath(p)).toThrowError(expect.objectContaining({ code: "INVALID_TREE_PATH" }));
  });

  it("gets, sets (appending missing keys) and unsets, skipping comments in lists", () => {
    const root = b([["a", b([["x", 1n]])], ["l", [new Comment("c"), "first", "second"]]]);
    expect(getPath(root, ["l", 1])).toBe("second");
    setPath(root, ["a", "y"], "new");
    expect((root.get("a") as Branch).keys()).toEqual(["x", "y"]);
    setPath(root, ["deep", "er", "est"], true);
    expect(getPath(root, ["deep", "er", "est"])).toBe(true);
    setPath(root, ["l", 9], "appended");
    expect(getPath(root, ["l", 2])).toBe("appended");
    expect(unsetPath(root, ["a", "x"])).toBe(true);
    expect(unsetPath(root, ["a", "x"])).toBe(false);
    expect(() => getPath(root, ["a", "x"])).toThrowError(expect.objectContaining({ code: "TREE_PATH_NOT_FOUND" }));
    expect(() => setPath(root, ["l", "k"], 1n)).toThrowError(expect.objectContaining({ code: "TREE_PATH_TYPE" }));
  });
});

describe("editor command splitting", () => {
  it("splits like a shell", () => {
    expect(shellSplit(`code --wait`)).toEqual(["code", "--wait"]);
    expect(shellSplit(`"/opt/My Editor/bin/ed" -x 'a b' c\\ d`)).toEqual(["/opt/My Editor/bin/ed", "-x", "a b", "c d"]);
    expect(() => shellSplit(`vi "unterminated`)).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});
