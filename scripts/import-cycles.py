#!/usr/bin/env python3
"""Checks the crate's layering: no import cycles between the files of a module, no upward imports.

For every module directory under src/ (`src/dialogue/`, `src/nlu/import/`, ...) it builds the
file-level import graph: an edge A -> B when a file of A names an item of B through `crate::`,
`super::`, `self::` or (in a module file) a child module's name. `A` is the child file (or
sub-directory) of the module, or `mod` for the module file itself (`mod.rs` / `x.rs` beside `x/`).
An item the module file only re-exports (`pub use child::X`) counts as an edge to `child`, so a
module file that declares and re-exports adds no cycle; an item defined in the module file is an
edge to `mod`. Test code (`#[cfg(test)]` modules and files) is left out: it is no architecture.

It also checks the layers (`api | web | channels | cli -> studio -> conversation -> dialogue -> nlu / catalog
-> store`, with `domain` a leaf any layer may use) and that the top-level modules form no cycle.

Usage: scripts/import-cycles.py [src/DIR ...]  (only those module directories' cycles; the layers
are always checked over the whole crate). Prints every problem; exits 1 if there is one. Python 3
standard library only.
"""
import os
import re
import sys
from collections import defaultdict

# Top-level module -> top-level modules it must not import.
ABOVE_STORE = {"api", "web", "channels", "cli", "studio", "conversation"}
FORBIDDEN = {
    "domain": None,  # None: nothing of the crate at all
    "store": ABOVE_STORE | {"dialogue", "nlu", "catalog", "eval"},
    "catalog": ABOVE_STORE | {"dialogue", "eval"},
    "nlu": ABOVE_STORE | {"dialogue", "eval"},
    "eval": ABOVE_STORE | {"dialogue"},
    "dialogue": ABOVE_STORE,
    "conversation": {"api", "web", "channels", "cli", "studio"},
    "studio": {"api", "web", "channels", "cli"},
}

TOKEN = re.compile(
    r"""
      (?P<comment>//[^\n]*|/\*.*?\*/)
    | (?P<raw>b?r(?P<hashes>\#*)".*?"(?P=hashes))
    | (?P<string>b?"(?:\\.|[^"\\])*")
    | (?P<char>b?'(?:\\.|\\u\{[0-9a-fA-F]+\}|[^'\\])')
    """,
    re.S | re.X,
)


def strip(source):
    """The source with comments, strings and char literals blanked (line breaks kept)."""

    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))

    return TOKEN.sub(blank, source)


def test_spans(code):
    """Character spans of `#[cfg(test)]`-gated items (inline modules, functions, impls)."""
    spans = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        i = m.end()
        depth, start = 0, None
        while i < len(code):
            c = code[i]
            if c == ";" and depth == 0 and start is None:
                spans.append((m.start(), i + 1))
                break
            if c == "{":
                depth += 1
                start = i if start is None else start
            elif c == "}":
                depth -= 1
                if depth == 0:
                    spans.append((m.start(), i + 1))
                    break
            i += 1
    return spans


def inline_modules(code):
    """(start, end, name) of every inline `mod name { ... }` block."""
    blocks = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", code):
        depth = 0
        for i in range(m.end() - 1, len(code)):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    blocks.append((m.end(), i, m.group(1)))
                    break
    return blocks


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [[a, b], [a, c, d], [a, c, e]] (aliases dropped, `*` kept)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)  # aliases name the same item
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix, text):
        parts, depth, cur = [], 0, ""  # split at top-level commas
        for ch in text:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for part in filter(None, parts):
            brace = part.find("{")
            if brace >= 0:
                head = [s for s in part[:brace].split("::") if s]
                walk(prefix + head, part[brace + 1 : part.rfind("}")])
            else:
                out.append(prefix + [s for s in part.split("::") if s])

    walk([], tree)
    return out


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path tuple -> file path
        self.test_files = set()
        for root, _, names in os.walk(src):
            for name in names:
                if name.endswith(".rs"):
                    path = os.path.join(root, name)
                    self.files[self.module_path(path)] = path
        self.children = defaultdict(set)
        for mod in self.files:
            for i in range(len(mod)):
                self.children[mod[:i]].add(mod[i])
        self.code = {}
        for mod, path in self.files.items():
            with open(path, encoding="utf-8") as f:
                code = strip(f.read())
            for start, end in test_spans(code):
                declared = re.match(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code[start:end])
                if declared:
                    self.test_files.add(mod + (declared.group(1),))
                code = code[:start] + re.sub(r"[^\n]", " ", code[start:end]) + code[end:]
            self.code[mod] = code
        # a test-only file makes its own sub-files test-only too
        self.test_files = {m for m in self.files if any(m[: len(t)] == t for t in self.test_files)}

    def module_path(self, path):
        rel = os.path.relpath(path, self.src)[:-3].split(os.sep)
        if rel[-1] == "mod":
            rel = rel[:-1]
        if rel in (["lib"], ["main"]):
            return ()
        return tuple(rel)

    def references(self, mod):
        """Absolute paths (tuples) the file of `mod` names."""
        code = self.code[mod]
        blocks = inline_modules(code)

        def scope_at(pos):
            inner = [b for b in blocks if b[0] <= pos < b[1]]
            inner.sort(key=lambda b: b[0])
            return mod + tuple(b[2] for b in inner)

        def resolve(segs, pos):
            scope = scope_at(pos)
            if not segs:
                return None
            head = segs[0]
            if head == "crate":
                return tuple(segs[1:])
            if head in ("super", "self"):
                cur = list(scope)
                i = 0
                while i < len(segs) and segs[i] in ("super", "self"):
                    if segs[i] == "super":
                        if not cur:
                            return None
                        cur.pop()
                    i += 1
                return tuple(cur) + tuple(segs[i:])
            if head in self.children.get(scope, ()):  # a child module, named relatively
                return scope + tuple(segs)
            return None

        refs = []
        spans = []
        for m in re.finditer(r"\buse\s+([^;]*);", code):
            spans.append((m.start(), m.end()))
            for segs in expand_use(m.group(1)):
                r = resolve(segs, m.start())
                if r is not None:
                    refs.append((r, m.start(), m.group(0).startswith("pub") or code[max(0, m.start() - 12) : m.start()].strip().startswith("pub")))
        for m in re.finditer(r"\b(\w+)((?:\s*::\s*\w+)+)", code):
            if any(s <= m.start() < e for s, e in spans):
                continue
            segs = [m.group(1)] + [s.strip() for s in m.group(2).split("::") if s.strip()]
            r = resolve(segs, m.start())
            if r is not None:
                refs.append((r, m.start(), False))
        return refs

    def reexports(self, mod):
        """Names the module file re-exports: name -> the child it comes from."""
        names = {}
        code = self.code.get(mod, "")
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]*);", code):
            for segs in expand_use(m.group(1)):
                if segs and segs[0] in self.children.get(mod, ()):
                    names[segs[-1]] = segs[0]
                elif segs[:1] == ["self"] and len(segs) > 1 and segs[1] in self.children.get(mod, ()):
                    names[segs[-1]] = segs[1]
        return names


def find_cycles(graph):
    """Elementary cycles through strongly connected components (each reported once)."""
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    cycles = []
    for scc in sccs:
        members = set(scc)
        # one shortest cycle per member, deduplicated, to show how the component hangs together
        seen = set()
        for start in scc:
            prev, queue = {start: None}, [start]
            found = None
            while queue and not found:
                nxt = []
                for v in queue:
                    for w in sorted(graph.get(v, ())):
                        if w not in members:
                            continue
                        if w == start:
                            found = v
                            break
                        if w not in prev:
                            prev[w] = v
                            nxt.append(w)
                    if found:
                        break
                queue = nxt
            path, v = [], found
            while v is not None:
                path.append(v)
                v = prev[v]
            path.reverse()
            key = frozenset(path)
            if key not in seen:
                seen.add(key)
                cycles.append(path + [start])
    return cycles


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    crate = Crate(os.path.join(root, "src"))
    problems = []
    dir_graphs = defaultdict(lambda: defaultdict(set))
    top_graph = defaultdict(set)
    module_dirs = {m[:i] for m in crate.files for i in range(1, len(m))}

    for mod in sorted(crate.files):
        if mod in crate.test_files or not mod:
            continue
        for target, _, _ in crate.references(mod):
            if not target or target[0] not in crate.children[()]:
                continue
            top = mod[0]
            if target[0] != top:
                top_graph[top].add(target[0])
                banned = FORBIDDEN.get(top, set())
                if banned is None or target[0] in banned:
                    problems.append(
                        f"upward import: {crate.files[mod]} uses crate::{'::'.join(target)}"
                    )
            # the edge in every module directory containing both ends
            for d in module_dirs:
                n = len(d)
                if mod[:n] != d or target[:n] != d or len(target) == n:
                    continue
                src_node = mod[n] if len(mod) > n else "mod"
                dst_node = target[n]
                if dst_node not in crate.children[d]:
                    # an item of the module file: a re-export counts as its child
                    dst_node = crate.reexports(d).get(dst_node, "mod")
                if src_node != dst_node:
                    dir_graphs[d][src_node].add(dst_node)

    only = {tuple(os.path.relpath(os.path.abspath(a), crate.src).split(os.sep)) for a in sys.argv[1:]}
    for d in sorted(module_dirs):
        if only and d not in only:
            continue
        for cycle in find_cycles(dir_graphs[d]):
            problems.append(f"import cycle in src/{'/'.join(d)}/: {' -> '.join(cycle)}")
    for cycle in find_cycles(top_graph):
        problems.append(f"import cycle between top-level modules: {' -> '.join(cycle)}")

    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    checked = len(only) if only else len(module_dirs)
    print(f"no import cycles in {checked} module directories; no upward imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
