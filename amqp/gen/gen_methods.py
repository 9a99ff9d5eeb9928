#!/usr/bin/env python3
"""Generate amqp/include/amq/methods.h and amqp/src/methods.c from the
RabbitMQ AMQP 0-9-1 spec XML (python3 >= 3.9, stdlib only).

Usage: gen_methods.py [--spec XML] [--out DIR]
DIR defaults to the amqp/ folder this script lives in; the files are written
to DIR/include/amq/methods.h and DIR/src/methods.c. Output is deterministic
(spec order, no timestamps, no absolute paths).

The generated code is data (one struct and one argument descriptor table
per method) plus small lookups; the generic encoder/decoder that walks the
descriptor tables is hand-written in amqp/src/codec.c.
"""
import argparse
import os
import sys
import xml.etree.ElementTree as ET

DEFAULT_SPEC = "/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml"

# RabbitMQ extensions that the stripped XML lacks (they are in RabbitMQ's
# full codegen spec and in rabbitmq-c): connection.blocked/unblocked and
# connection.update-secret(-ok).
EXTRA_METHODS = {
    "connection": [
        dict(name="blocked", index=60, sync=False, content=False, responses=[],
             fields=[("reason", "shortstr")]),
        dict(name="unblocked", index=61, sync=False, content=False, responses=[], fields=[]),
        dict(name="update-secret", index=70, sync=True, content=False,
             responses=["update-secret-ok"],
             fields=[("new-secret", "longstr"), ("reason", "shortstr")]),
        dict(name="update-secret-ok", index=71, sync=True, content=False, responses=[],
             fields=[]),
    ],
}
# basic.recover is synchronous (answered by recover-ok) in RabbitMQ and in
# the full 0-9-1 spec; the stripped XML omits the attribute.
EXTRA_RESPONSES = {("basic", "recover"): ["recover-ok"]}
# Reply code used by RabbitMQ for basic.return of unroutable mandatory
# messages; absent from the XML.
EXTRA_CONSTANTS = [("no-route", 312, "soft-error")]
# Frame constants live in amq/frame.h (frame-error is a reply code, kept).
FRAME_CONSTANTS = {"frame-method", "frame-header", "frame-body", "frame-heartbeat",
                   "frame-min-size", "frame-end"}
# The last basic property is called "reserved" in the XML; it is cluster-id.
PROP_RENAME = {"reserved": "cluster-id"}

C_TYPES = {
    "octet": "uint8_t", "short": "uint16_t", "long": "uint32_t",
    "longlong": "uint64_t", "bit": "bool", "shortstr": "amq_bytes",
    "longstr": "amq_bytes", "table": "amq_bytes", "timestamp": "uint64_t",
}


def cname(s):
    return s.replace("-", "_")


def upper(s):
    return cname(s).upper()


class Method:
    def __init__(self, cls, cls_index, name, index, sync, content, responses, fields):
        self.cls, self.name, self.index = cls, name, index
        self.sync, self.content, self.responses = sync, content, responses
        self.fields = fields  # list of (name, type)
        self.id = (cls_index << 16) | index
        self.macro = "AMQ_%s_%s" % (upper(cls), upper(name))
        self.member = "%s_%s" % (cname(cls), cname(name))
        self.struct = "amq_" + self.member
        self.dotted = "%s.%s" % (cls, name)


def field_type(f, domains):
    if f.get("type"):
        return f.get("type")
    return domains[f.get("domain")]


def load(spec):
    root = ET.parse(spec).getroot()
    domains = {d.get("name"): d.get("type") for d in root.findall("domain")}
    consts = [(c.get("name"), int(c.get("value")), c.get("class"))
              for c in root.findall("constant")]
    consts = [c for c in consts if c[0] not in FRAME_CONSTANTS]
    consts += EXTRA_CONSTANTS
    consts.sort(key=lambda c: c[1])
    classes, methods, props = [], [], []
    for c in root.findall("class"):
        cls, ci = c.get("name"), int(c.get("index"))
        classes.append((cls, ci))
        ms = []
        for m in c.findall("method"):
            mname = m.get("name")
            responses = [r.get("name") for r in m.findall("response")]
            responses += EXTRA_RESPONSES.get((cls, mname), [])
            ms.append(Method(cls, ci, mname, int(m.get("index")),
                             m.get("synchronous") == "1" or bool(responses),
                             m.get("content") == "1", responses,
                             [(f.get("name"), field_type(f, domains))
                              for f in m.findall("field")]))
        for e in EXTRA_METHODS.get(cls, []):
            ms.append(Method(cls, ci, e["name"], e["index"], e["sync"], e["content"],
                             e["responses"], e["fields"]))
        ms.sort(key=lambda m: m.index)
        methods += ms
        if cls == "basic":
            props = [(PROP_RENAME.get(f.get("name"), f.get("name")), field_type(f, domains))
                     for f in c.findall("field")]
    for m in methods:
        for _, t in m.fields:
            if t not in C_TYPES:
                sys.exit("unknown field type %r in %s" % (t, m.dotted))
    return classes, methods, consts, props


def gen_header(classes, methods, consts, props, spec_name):
    o = []
    w = o.append
    w("/* amq/methods.h — AMQP 0-9-1 methods, reply codes and basic properties.")
    w(" * GENERATED by amqp/gen/gen_methods.py from %s; do not edit." % spec_name)
    w(" * Regenerate with: python3 amqp/gen/gen_methods.py (check: amqp/gen/check.sh).")
    w(" * Implemented by src/methods.c (generated data) and src/codec.c. */")
    w("#ifndef AMQ_METHODS_H")
    w("#define AMQ_METHODS_H")
    w('#include "amq/buf.h"')
    w("")
    w("/* A method id is (class id << 16) | method id. */")
    w("#define AMQ_METHOD_ID(cls, meth) (((uint32_t)(cls) << 16) | (uint32_t)(meth))")
    w("#define AMQ_CLASS_OF(id) ((uint16_t)((uint32_t)(id) >> 16))")
    w("#define AMQ_METHOD_OF(id) ((uint16_t)((uint32_t)(id) & 0xFFFFu))")
    w("")
    for cls, ci in classes:
        w("#define AMQ_CLASS_%s %d" % (upper(cls), ci))
    w("")
    for m in methods:
        w("#define %s 0x%08Xu /* %s */" % (m.macro, m.id, m.dotted))
    w("")
    w("/* Reply codes (spec constants; NO_ROUTE added as RabbitMQ uses it). */")
    for name, value, _ in consts:
        w("#define AMQ_%s %d" % (upper(name), value))
    w("/* True for hard-error codes (the connection must be closed), false for")
    w(" * soft errors, success and unknown codes. Pure, thread-safe. */")
    w("bool amq_reply_is_hard(uint16_t code);")
    w("")
    w("/* Method arguments. shortstr/longstr are borrowed slices (into the")
    w(" * decoded payload, or owned by the caller when encoding); table is the")
    w(" * encoded table BODY without its 4-byte length prefix. Consecutive bit")
    w(" * fields share one octet on the wire, least significant bit first. */")
    for m in methods:
        w("typedef struct { /* %s */" % m.dotted)
        if not m.fields:
            w("    char unused_;")
        for fname, t in m.fields:
            w("    %s %s;" % (C_TYPES[t], cname(fname)))
        w("} %s;" % m.struct)
    w("")
    w("/* A decoded method: id says which union member is valid. */")
    w("typedef struct {")
    w("    uint32_t id;")
    w("    union {")
    for m in methods:
        w("        %s %s;" % (m.struct, m.member))
    w("    } u;")
    w("} amq_method;")
    w("")
    w("/* Decode a whole method frame payload (class id, method id, arguments)")
    w(" * into *m. Zero copy: strings and tables point into payload, which must")
    w(" * outlive *m; nothing is allocated. Tables are validated with")
    w(" * amq_table_validate. Trailing bytes after the last argument are rejected")
    w(" * (RabbitMQ's decoder matches the exact argument layout).")
    w(" * Returns AMQ_OK; AMQ_EMETHOD for an unknown class/method (m->id is still")
    w(" * set); AMQ_ESHORT when the payload ends early; AMQ_EBAD for a malformed")
    w(" * table (including one nested deeper than AMQ_TABLE_MAX_DEPTH) or")
    w(" * trailing bytes. Thread-safe. */")
    w("int amq_method_decode(amq_bytes payload, amq_method *m);")
    w("/* Append class id, method id and arguments. fields points to the struct")
    w(" * matching id (NULL allowed for methods without arguments). An unknown id")
    w(" * sets w->err = AMQ_EMETHOD; a shortstr over 255 bytes sets AMQ_EBAD. */")
    w("void amq_method_encode(amq_wr *w, uint32_t id, const void *fields);")
    w("/* Append a whole method frame (header, method, frame-end). */")
    w("void amq_put_method_frame(amq_wr *w, uint16_t channel, uint32_t id, const void *fields);")
    w("")
    w('/* "class.method" (static string), or NULL if unknown. */')
    w("const char *amq_method_name(uint32_t id);")
    w("/* The method is followed by content (header + body frames). */")
    w("bool amq_method_has_content(uint32_t id);")
    w("bool amq_method_is_known(uint32_t id);")
    w("/* A synchronous request, i.e. a method that has a reply (*-ok or")
    w(" * get-empty); replies themselves are not requests. basic.recover counts")
    w(" * (RabbitMQ answers it with recover-ok). */")
    w("bool amq_method_is_sync_request(uint32_t id);")
    w("/* The (first) reply method of a synchronous request, 0 if none. */")
    w("uint32_t amq_method_reply(uint32_t id);")
    w("")
    w("/* Introspection (used by the codec and the tests). */")
    w("enum {")
    w("    AMQ_ARG_OCTET, AMQ_ARG_SHORT, AMQ_ARG_LONG, AMQ_ARG_LONGLONG, AMQ_ARG_BIT,")
    w("    AMQ_ARG_SHORTSTR, AMQ_ARG_LONGSTR, AMQ_ARG_TABLE, AMQ_ARG_TIMESTAMP,")
    w("};")
    w("typedef struct {")
    w("    const char *name; /* C member name */")
    w("    uint8_t type;     /* AMQ_ARG_* */")
    w("    uint16_t offset;  /* offsetof in the method struct */")
    w("} amq_method_arg;")
    w("#define AMQ_MI_CONTENT 1u /* followed by content */")
    w("#define AMQ_MI_SYNC 2u    /* synchronous=\"1\" in the spec */")
    w("#define AMQ_MI_REQUEST 4u /* synchronous request (has a reply) */")
    w("typedef struct {")
    w("    uint32_t id;")
    w("    const char *name; /* \"class.method\" */")
    w("    uint32_t flags;   /* AMQ_MI_* */")
    w("    uint32_t reply;   /* first reply method id, 0 if none */")
    w("    uint16_t size;    /* sizeof the method struct */")
    w("    uint16_t nargs;")
    w("    const amq_method_arg *args;")
    w("} amq_method_info;")
    w("/* Static descriptor of a method, NULL if unknown. */")
    w("const amq_method_info *amq_method_info_get(uint32_t id);")
    w("/* All methods in spec order; *n gets the count. */")
    w("const amq_method_info *amq_method_infos(size_t *n);")
    w("")
    w("/* Basic content properties (content header of class basic). */")
    bit = 15
    for pname, _ in props:
        w("#define AMQ_BASIC_PROP_%s (1u << %d)" % (upper(pname), bit))
        bit -= 1
    w("typedef struct {")
    w("    uint16_t flags; /* AMQ_BASIC_PROP_*: which fields are present */")
    for pname, t in props:
        w("    %s %s;" % (C_TYPES[t], cname(pname)))
    w("} amq_basic_props;")
    w("/* Property descriptors in wire order (flag bit 15 - index). */")
    w("const amq_method_arg *amq_basic_props_args(size_t *n);")
    w("/* Decode props = flags + values (as from amq_content_header_parse) into")
    w(" * *p (zero copy; absent fields are zero). headers is validated. Returns")
    w(" * AMQ_OK, AMQ_ESHORT (truncated) or AMQ_EBAD (continuation flag set,")
    w(" * malformed headers, trailing bytes). */")
    w("int amq_basic_props_decode(amq_bytes props, amq_basic_props *p);")
    w("/* Append flags + the values of the fields whose flag is set. */")
    w("void amq_basic_props_encode(amq_wr *w, const amq_basic_props *p);")
    w("#endif")
    return "\n".join(o) + "\n"


ARG_ENUM = {
    "octet": "AMQ_ARG_OCTET", "short": "AMQ_ARG_SHORT", "long": "AMQ_ARG_LONG",
    "longlong": "AMQ_ARG_LONGLONG", "bit": "AMQ_ARG_BIT", "shortstr": "AMQ_ARG_SHORTSTR",
    "longstr": "AMQ_ARG_LONGSTR", "table": "AMQ_ARG_TABLE", "timestamp": "AMQ_ARG_TIMESTAMP",
}


def gen_source(classes, methods, consts, props, spec_name):
    o = []
    w = o.append
    by_name = {(m.cls, m.name): m for m in methods}
    w("/* methods.c — GENERATED by amqp/gen/gen_methods.py from %s; do not edit. */" % spec_name)
    w('#include "amq/methods.h"')
    w("")
    w("#include <stddef.h>")
    w("")
    for m in methods:
        if not m.fields:
            continue
        w("static const amq_method_arg args_%s[] = {" % m.member)
        for fname, t in m.fields:
            w('    {"%s", %s, offsetof(%s, %s)},' % (cname(fname), ARG_ENUM[t], m.struct,
                                                    cname(fname)))
        w("};")
    w("")
    w("static const amq_method_info methods_info[] = {")
    for m in methods:
        flags = []
        if m.content:
            flags.append("AMQ_MI_CONTENT")
        if m.sync:
            flags.append("AMQ_MI_SYNC")
        if m.responses:
            flags.append("AMQ_MI_REQUEST")
        reply = by_name[(m.cls, m.responses[0])].macro if m.responses else "0"
        args = "args_" + m.member if m.fields else "NULL"
        w('    {%s, "%s", %s, %s, sizeof(%s), %d, %s},' % (
            m.macro, m.dotted, " | ".join(flags) or "0", reply, m.struct, len(m.fields), args))
    w("};")
    w("")
    w("const amq_method_info *amq_method_info_get(uint32_t id) {")
    w("    switch (id) {")
    for i, m in enumerate(methods):
        w("    case %s: return &methods_info[%d];" % (m.macro, i))
    w("    default: return NULL;")
    w("    }")
    w("}")
    w("")
    w("const amq_method_info *amq_method_infos(size_t *n) {")
    w("    *n = sizeof methods_info / sizeof methods_info[0];")
    w("    return methods_info;")
    w("}")
    w("")
    w("const char *amq_method_name(uint32_t id) {")
    w("    const amq_method_info *mi = amq_method_info_get(id);")
    w("    return mi ? mi->name : NULL;")
    w("}")
    w("")
    w("bool amq_method_is_known(uint32_t id) { return amq_method_info_get(id) != NULL; }")
    w("")
    w("static bool methods_flag(uint32_t id, uint32_t flag) {")
    w("    const amq_method_info *mi = amq_method_info_get(id);")
    w("    return mi && (mi->flags & flag);")
    w("}")
    w("")
    w("bool amq_method_has_content(uint32_t id) { return methods_flag(id, AMQ_MI_CONTENT); }")
    w("bool amq_method_is_sync_request(uint32_t id) { return methods_flag(id, AMQ_MI_REQUEST); }")
    w("")
    w("uint32_t amq_method_reply(uint32_t id) {")
    w("    const amq_method_info *mi = amq_method_info_get(id);")
    w("    return mi ? mi->reply : 0;")
    w("}")
    w("")
    w("bool amq_reply_is_hard(uint16_t code) {")
    w("    switch (code) {")
    for name, _, klass in consts:
        if klass == "hard-error":
            w("    case AMQ_%s:" % upper(name))
    w("        return true;")
    w("    default: return false;")
    w("    }")
    w("}")
    w("")
    w("static const amq_method_arg props_args[] = {")
    for pname, t in props:
        w('    {"%s", %s, offsetof(amq_basic_props, %s)},' % (cname(pname), ARG_ENUM[t],
                                                           cname(pname)))
    w("};")
    w("")
    w("const amq_method_arg *amq_basic_props_args(size_t *n) {")
    w("    *n = sizeof props_args / sizeof props_args[0];")
    w("    return props_args;")
    w("}")
    return "\n".join(o) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=DEFAULT_SPEC)
    ap.add_argument("--out", default=os.path.dirname(here))
    a = ap.parse_args()
    classes, methods, consts, props = load(a.spec)
    spec_name = os.path.basename(a.spec)
    outputs = {
        os.path.join(a.out, "include", "amq", "methods.h"):
            gen_header(classes, methods, consts, props, spec_name),
        os.path.join(a.out, "src", "methods.c"):
            gen_source(classes, methods, consts, props, spec_name),
    }
    for path, text in outputs.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


if __name__ == "__main__":
    main()
