#!/usr/bin/python3
"""check-layers: fail when a file of hull includes a header from a layer above its own.

The layers, bottom to top (ARCHITECTURE.md):

    lib/  <-  arch/ boot/ devices/ virtio/  <-  vmm/ container/  <-  cli/  (<- tests/)

A file may include headers of its own layer and of the layers below it, never above. tests/
may include anything, and nothing outside it may include tests/. A C, header or assembler file
in a directory that is in no layer is an error too, so a new directory gets a place here.

    tests/check-layers.py [ROOT]     (ROOT: the tree to check, default this repository)

Prints one line per offence, `FILE:LINE: includes HEADER (layer X above Y)`, and exits 1 when
there is any, 0 when there is none, 2 when ROOT is no directory. `make layers` runs it.
"""

import os
import re
import sys

# Bottom first; the directories of one tuple are one layer.
LAYERS = [("lib",), ("arch", "boot", "devices", "virtio"), ("vmm", "container"), ("cli",),
          ("tests",)]
RANK = {d: i for i, layer in enumerate(LAYERS) for d in layer}
SOURCES = (".c", ".h", ".S")
SKIP_DIRS = {"build", "tests"}  # build outputs; tests may include anything
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def resolve(root, src, header, quoted):
    """The header src's #include names, as a path relative to root, or None when it is not
    one of the tree's own (a system header). Quoted includes look next to the including file
    first, then in root (hull builds with -I.); angle includes only in root."""
    where = [os.path.dirname(src)] if quoted else []
    for base in where + [""]:
        rel = os.path.normpath(os.path.join(base, header))
        if not rel.startswith("..") and os.path.isfile(os.path.join(root, rel)):
            return rel
    # A tree header that does not exist (yet) still names its layer.
    top = os.path.normpath(header).split(os.sep)[0]
    return os.path.normpath(header) if quoted and top in RANK else None


def check_file(root, rel):
    """The offences of one source file, as lines to print."""
    top = rel.split(os.sep)[0]
    out = []
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = resolve(root, rel, m.group(2), m.group(1) == '"')
            if target is None:
                continue
            ttop = target.split(os.sep)[0]
            if ttop not in RANK:
                out.append(f"{rel}:{n}: includes {m.group(2)} ({ttop} is in no layer)")
            elif RANK[ttop] > RANK[top]:
                out.append(f"{rel}:{n}: includes {target} (layer {ttop}/ above {top}/)")
    return out


def sources(root):
    """Every C, header and assembler file under root outside build/ and tests/, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(SOURCES):
                yield os.path.normpath(os.path.join(rel_dir, name))


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    if len(argv) > 2 or not os.path.isdir(root):
        print("usage: tests/check-layers.py [ROOT]", file=sys.stderr)
        return 2
    bad = []
    for rel in sources(root):
        top = rel.split(os.sep)[0]
        if top not in RANK:
            bad.append(f"{rel}:1: is in no layer (give {top}/ a layer in tests/check-layers.py)"
                       if os.sep in rel else f"{rel}:1: is in no layer (a file at the top)")
            continue
        bad += check_file(root, rel)
    for line in bad:
        print(line)
    if bad:
        print(f"check-layers: {len(bad)} offence(s) against the layers "
              "(lib/ <- arch/ boot/ devices/ virtio/ <- vmm/ container/ <- cli/)",
              file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
