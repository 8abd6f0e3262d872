#!/usr/bin/env python3
"""The import graph of the crate's top-level modules, checked.

Reads every `.rs` file under src/ (or the folder given as argument), strips
comments, strings and character literals, and collects the top-level
modules each one names: `crate::x`, `$crate::x`, each member of a group
`crate::{a, b::c}`, and `super::…` paths that climb to the crate root.
Test code counts as much as the rest: a test that imports in a circle is a
circle too.

Prints the graph, then its layers (a module's layer is one more than the
highest layer it imports), then fails (exit 1) when:
- modules import one another in a circle: each circle is printed as the
  edges it takes, with the files that make each edge;
- a module imports one of a higher kind than its own (a foundation a
  capability or an edge, a capability an edge), per KINDS below.
A module KINDS does not list is reported, to be placed there, without
failing.

Usage: python3 .ci/modgraph.py [src]
"""

import collections
import os
import re
import sys

# The kinds of module, lowest first; a module may import its own kind or a
# lower one (docs/README.md, "Layers": foundations, capabilities, edges).
KINDS = {
    "foundation": {
        "alloc", "audit", "clock", "config", "db", "error", "http", "oidc", "ops",
        "privacy", "schedule", "secrets", "shutdown", "telemetry",
    },
    "capability": {"consent", "mail", "retention", "rights", "staff", "tenants"},
    "edge": {"api", "app", "cli", "openapi", "pages"},
}
RANK = {"foundation": 0, "capability": 1, "edge": 2}


def strip(src):
    """The source without comments, string or character literals."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            out.append(" ")
        elif (m := re.compile(r'b?r(#*)"').match(src, i)) and (
            i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")
        ):
            end = src.find('"' + m.group(1), m.end())
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and (m := re.compile(r"'(\\.[^']*|[^\\'])'").match(src, i)):
            i = m.end()
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def group_heads(body):
    """The first name of each member of a `{…}` group (nested groups skipped)."""
    heads, depth, start = [], 0, True
    for tok in re.findall(r"\{|\}|,|\w+|::|\S", body):
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif tok == "," and depth == 0:
            start = True
        elif depth == 0 and start and re.match(r"\w+$", tok):
            heads.append(tok)
            start = False
        elif depth == 0 and tok != "::":
            start = False
    return heads


def group_at(text, i):
    """The text of the balanced `{…}` group opening at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return text[i + 1 :]


def names(text, module_path):
    """Top-level modules a file whose module path is `module_path` names."""
    found = set()
    for m in re.finditer(r"\bcrate::(\w+|\{)", text):
        if m.group(1) == "{":
            found.update(group_heads(group_at(text, m.end() - 1)))
        else:
            found.add(m.group(1))
    # `super::super::x` from a/b/c.rs climbs to the root after len(path) supers.
    for m in re.finditer(r"(?<![\w:])((?:super::)+)(\w+|\{)", text):
        if m.group(1).count("super::") != len(module_path):
            continue
        if m.group(2) == "{":
            found.update(group_heads(group_at(text, m.end() - 1)))
        else:
            found.add(m.group(2))
    return found


def module_path(rel):
    """`consent/files.rs` -> ['consent', 'files']; `consent/mod.rs` -> ['consent']."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def graph(root):
    tops = set()
    for f in os.listdir(root):
        if f.endswith(".rs") and f not in ("lib.rs", "main.rs"):
            tops.add(f[:-3])
        elif os.path.isdir(os.path.join(root, f)):
            tops.add(f)
    edges = collections.defaultdict(lambda: collections.defaultdict(set))
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            mpath = module_path(rel)
            if mpath[0] in ("lib", "main"):
                continue
            top = mpath[0]
            with open(path, encoding="utf-8") as fh:
                text = strip(fh.read())
            for name in names(text, mpath):
                if name in tops and name != top:
                    edges[top][name].add(os.path.join(os.path.basename(root), rel))
    return tops, edges


def components(tops, edges):
    """Strongly connected components (Tarjan), iteratively."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(tops):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def shortest_cycle(comp, edges):
    """A shortest circle among the modules of one component."""
    members, best = set(comp), None
    for s in comp:
        prev, queue = {s: None}, collections.deque([s])
        while queue:
            v = queue.popleft()
            for w in sorted(edges[v]):
                if w not in members:
                    continue
                if w == s:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    path.reverse()
                    if best is None or len(path) < len(best):
                        best = path
                    queue.clear()
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
    return best


def kind_of(module):
    return next((k for k, mods in KINDS.items() if module in mods), None)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "src"
    tops, edges = graph(root)
    failed = False

    print("Import graph of the top-level modules (module -> what it imports):")
    for a in sorted(tops):
        if edges[a]:
            print(f"  {a} -> {', '.join(sorted(edges[a]))}")

    comps = components(tops, edges)
    cycles = [c for c in comps if len(c) > 1]
    comp_of = {m: i for i, c in enumerate(comps) for m in c}
    # Tarjan emits components callees first: a layer is one above the
    # highest layer of what the component imports.
    layer = {}
    for i, comp in enumerate(comps):
        below = [layer[comp_of[w]] for v in comp for w in edges[v] if comp_of[w] != i]
        layer[i] = 1 + max(below, default=-1)
    print("\nLayers (each imports only from the layers above it in this list):")
    by_layer = collections.defaultdict(list)
    for i, comp in enumerate(comps):
        by_layer[layer[i]].append("(" + " ".join(comp) + ")" if len(comp) > 1 else comp[0])
    for n in sorted(by_layer):
        print(f"  {n}: {', '.join(sorted(by_layer[n]))}")

    unknown = sorted(m for m in tops if kind_of(m) is None)
    if unknown:
        print(f"\nnote: not placed among the kinds in {sys.argv[0]}'s KINDS: {', '.join(unknown)}")

    wrong = [
        (a, b)
        for a in sorted(tops)
        for b in sorted(edges[a])
        if kind_of(a) and kind_of(b) and RANK[kind_of(b)] > RANK[kind_of(a)]
    ]
    for a, b in wrong:
        failed = True
        print(f"\nERROR: {a} ({kind_of(a)}) imports {b} ({kind_of(b)}), a higher kind:")
        for f in sorted(edges[a][b]):
            print(f"    {f}")

    for comp in cycles:
        failed = True
        cycle = shortest_cycle(comp, edges)
        print(f"\nERROR: a circle among {len(comp)} modules ({', '.join(comp)}); one of them:")
        for a, b in zip(cycle, cycle[1:] + cycle[:1]):
            print(f"  {a} -> {b}:")
            for f in sorted(edges[a][b]):
                print(f"    {f}")
    if not failed:
        print("\nno circle, every import goes down")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
