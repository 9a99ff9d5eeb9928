#!/usr/bin/env python3
"""check_layers.py — fails when a broker layer includes a header of a layer it
must not see, or broker/CMakeLists.txt links it to one. The map:

    core <- model <- store    <- admin <- main.c
                  <- protocol <-

A file in layer L may include headers of L and of the layers L links
(SEES below), and of the libraries below broker/ that L links (amq/ for all,
exch/ from model up, wlog/ only in store). A layer's private headers (named
*_impl.h or *_internal.h) may be included only by files of that layer, and
the types in OPAQUE stay opaque: their public header declares them without a
body, so no layer above sees their locks or maps. Usage: check_layers.py REPO_ROOT"""
import os
import re
import sys

SEES = {
    "core": {"core"},
    "model": {"core", "model"},
    "store": {"core", "model", "store"},
    "protocol": {"core", "model", "protocol"},
    "admin": {"core", "model", "store", "protocol", "admin"},
    "main": {"core", "model", "store", "protocol", "admin"},
}
LIBS = {  # include prefix -> layers that link that library
    "amq/": {"core", "model", "store", "protocol", "admin", "main"},
    "exch/": {"model", "store", "protocol", "admin", "main"},
    "wlog/": {"store"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
PRIVATE = re.compile(r"_(impl|internal)\.h$")
# public header -> struct names whose body must live in a private header of its layer
OPAQUE = {"vhost.h": ["vhost"]}


LINK = re.compile(r"target_link_libraries\(\s*warren_(\w+)\s+PUBLIC([^)]*)\)", re.S)


def check_links(broker):
    """broker/CMakeLists.txt must link each layer only to layers it may see,
    and say what each layer links (so the map here and the build agree)."""
    with open(os.path.join(broker, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    seen, bad = set(), 0
    for layer, libs in LINK.findall(text):
        if layer not in SEES:
            continue
        seen.add(layer)
        for lib in re.findall(r"warren_(\w+)", libs):
            if lib in SEES and lib not in SEES[layer]:
                print(f"broker/CMakeLists.txt: layer {layer} links warren_{lib}, which it must not see")
                bad += 1
    for layer in SEES:
        if layer != "main" and layer not in seen:
            print(f"broker/CMakeLists.txt: no target_link_libraries(warren_{layer} PUBLIC ...)")
            bad += 1
    return bad


def main():
    broker = os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "broker")
    owner = {}  # header file name -> layer
    files = []  # (layer, path)
    for layer in SEES:
        d = broker if layer == "main" else os.path.join(broker, layer)
        if not os.path.isdir(d):
            print(f"check_layers: missing layer folder {d}")
            return 1
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if not os.path.isfile(path) or not name.endswith((".c", ".h")):
                continue
            if layer == "main" and name != "main.c":
                print(f"check_layers: {name} sits in broker/ outside every layer")
                return 1
            if name.endswith(".h"):
                if name in owner:
                    print(f"check_layers: header {name} is in both {owner[name]} and {layer}")
                    return 1
                owner[name] = layer
            files.append((layer, path))
    bad = check_links(broker)
    for layer, path in files:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                lib = next((p for p in LIBS if inc.startswith(p)), None)
                if lib:
                    ok, where = layer in LIBS[lib], lib.rstrip("/") + " library"
                elif inc in owner and PRIVATE.search(inc):
                    ok, where = owner[inc] == layer, owner[inc] + ", private to it"
                elif inc in owner:
                    ok, where = owner[inc] in SEES[layer], owner[inc]
                else:
                    ok, where = False, "no layer"
                if not ok:
                    rel = os.path.relpath(path, os.path.dirname(broker))
                    print(f"{rel}:{lineno}: layer {layer} includes {inc} ({where}), which it must not see")
                    bad += 1
    for header, names in OPAQUE.items():
        path = os.path.join(broker, owner.get(header, "?"), header)
        text = open(path, encoding="utf-8").read() if os.path.isfile(path) else ""
        for name in names:
            if re.search(r"\bstruct\s+%s\s*\{" % name, text):
                print(f"{os.path.relpath(path, os.path.dirname(broker))}: struct {name} has its body in the public "
                      f"header; it belongs in a private header (*_impl.h) of the {owner[header]} layer")
                bad += 1
    if bad:
        print(f"check_layers: {bad} include(s), link(s) or opaque type(s) against the layer map")
        return 1
    print(f"check_layers: {len(files)} files, every include within the layer map")
    return 0


if __name__ == "__main__":
    sys.exit(main())
