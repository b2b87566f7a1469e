import type { Alias, Document, DocumentOptions, LineCounter, Node, ParseOptions, SchemaOptions } from "yaml";
import { yamlLib } from "./lazy-yaml.js";
import type { BootMetaError } from "./errors.js";
import { limitExceeded, limits, tooDeep } from "./limits.js";

/**
 * YAML parsing with boot-meta's limits (src/limits.ts), for every YAML file it reads: SOPS
 * YAML files, `.boot-meta.yaml`, `.sops.yaml`, `project.yaml`, the bootstrap file.
 *
 * The yaml package itself bounds neither the time its parser spends on a deeply nested file
 * (seconds for 100,000 levels) nor the size of what aliases expand to when the document is
 * walked (its `maxAliasCount` guards only `toJS`). Here the parser's nesting is watched token
 * by token, and a parsed document is measured as it would be with every alias expanded,
 * without expanding anything, before anyone walks it.
 */

export type YamlOptions = ParseOptions & DocumentOptions & SchemaOptions;

/**
 * `parseAllDocuments`, refusing (INPUT_TOO_DEEP) as soon as the text nests past the depth
 * limit: the parser stops a few levels past it, so the cost of refusing does not grow with
 * the file. Syntax errors are left in each document's `errors`, as the yaml package does.
 */
export function parseYamlDocuments(text: string, file: string | undefined, options: YamlOptions = {}, forceDoc = false): Document.Parsed[] {
  const max = limits().maxDepth;
  const parser = new (yamlLib().Parser)(options.lineCounter?.addNewLine);
  function* tokens() {
    // What Parser#parse does before the first token.
    options.lineCounter?.addNewLine(0);
    for (const lexeme of new (yamlLib().Lexer)().lex(text)) {
      yield* parser.next(lexeme);
      // The parser's stack holds the document, each open collection and the token in hand.
      if (parser.stack.length > max + 2) throw tooDeep(file);
    }
    yield* parser.end();
  }
  return Array.from(new (yamlLib().Composer)(options).compose(tokens(), forceDoc, text.length)) as Document.Parsed[];
}

/**
 * Measures a parsed document as it would be with its aliases expanded — how deep it nests,
 * how many nodes it has — in one pass over the text's own nodes: each node is measured once,
 * an alias costs what its target does. A "billion laughs" is refused here (INPUT_TOO_MANY_NODES)
 * in time linear in the text, as is a document past the alias or depth limits. Returns each
 * alias's target (the latest node before it with that anchor, as YAML resolves them); an
 * alias with no anchor before it is left out, for the caller to report.
 */
export function checkYamlShape(doc: Document, file: string | undefined, invalid: (why: string) => BootMetaError): Map<Alias, Node> {
  const lim = limits();
  const anchors = new Map<string, Node>();
  const targets = new Map<Alias, Node>();
  const measured = new Map<Node, { size: number; height: number }>();
  const open = new Set<Node>();
  let aliases = 0;
  const tooMany = () => limitExceeded("maxNodes", file, `has more than ${lim.maxNodes} values once its aliases are expanded`);
  const measure = (n: unknown): { size: number; height: number } => {
    if (n === null || n === undefined) return { size: 0, height: 0 };
    if (yamlLib().isAlias(n)) {
      if (++aliases > lim.maxAliases) throw limitExceeded("maxAliases", file, `has more than ${lim.maxAliases} aliases`);
      const target = anchors.get(n.source);
      if (!target) return { size: 0, height: 0 };
      // An alias inside the node it names would expand forever.
      if (open.has(target)) throw invalid(`the alias *${n.source} refers to a map or list that contains it`);
      targets.set(n, target);
      return measured.get(target) ?? { size: 0, height: 0 };
    }
    const node = n as Node;
    if (node.anchor) anchors.set(node.anchor, node);
    let r: { size: number; height: number };
    if (yamlLib().isMap(node) || yamlLib().isSeq(node)) {
      open.add(node);
      // A node is a map entry or a list item (as the other stores count them).
      let size = 0;
      let height = 0;
      for (const it of node.items as unknown[]) {
        size += 1;
        for (const p of yamlLib().isPair(it) ? [it.key, it.value] : [it]) {
          const m = measure(p);
          size += m.size;
          height = Math.max(height, m.height);
        }
        if (size > lim.maxNodes) throw tooMany();
      }
      open.delete(node);
      r = { size, height: height + 1 };
      if (r.height > lim.maxDepth) throw tooDeep(file);
    } else r = { size: 0, height: 0 };
    measured.set(node, r);
    return r;
  };
  const root = measure(doc.contents);
  if (root.size > lim.maxNodes) throw tooMany();
  return targets;
}

/**
 * A single-document YAML file as plain JavaScript values (`yaml`'s `parse`), within the
 * limits; `invalid` makes the caller's error for a syntax error (with its line and column).
 */
export function parseYamlValue(text: string, file: string | undefined, invalid: (why: string) => BootMetaError, options: YamlOptions = {}): unknown {
  const lineCounter = new (yamlLib().LineCounter)();
  const docs = parseYamlDocuments(text, file, { ...options, lineCounter, prettyErrors: false }, true);
  if (docs.length > 1) throw invalid("it holds more than one YAML document (a line with ---)");
  const doc = docs[0];
  if (!doc) return null;
  const err = doc.errors[0];
  if (err) {
    const p = lineCounter.linePos(err.pos[0]);
    throw invalid(`${err.message.split("\n")[0]} at line ${p.line}, column ${p.col}`);
  }
  checkYamlShape(doc, file, invalid);
  try {
    // The expansion was bounded above; the yaml package's own alias budget would refuse less.
    return doc.toJS({ maxAliasCount: -1 });
  } catch (e) {
    throw invalid((e as Error).message.split("\n")[0] ?? "not YAML");
  }
}
