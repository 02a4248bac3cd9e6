#!/usr/bin/env python3
"""Regenerate the vendored Kubernetes wire schema under proto/k8s.io/.

The upstream `generated.proto` files (kubernetes/api, kubernetes/apimachinery) are not
reachable from this workplace, so the schema is rebuilt mechanically from two crates that
are both generated from upstream and sit in the cargo registry cache:

* `k8s-pb` (kube-rs): prost code compiled from the upstream generated.proto files. It
  gives every message, field number, wire type, label and map type exactly, but prost
  renamed the identifiers (snake_case fields, UpperCamel acronyms).
* `k8s-openapi`: its serde impls carry the upstream JSON field names, which are the
  proto field names of generated.proto (go-to-protobuf names fields after the json tag)
  and the Go type names, which are the proto message names.

Usage (paths are the unpacked crates, e.g. under ~/.cargo/registry/src/*/):
    python3 proto/generate.py K8S_PB_DIR K8S_OPENAPI_DIR [K8S_OPENAPI_VERSION_MODULE]
K8S_OPENAPI_VERSION_MODULE defaults to v1_35 (the version k8s-pb 0.9.0 was built from).
It rewrites proto/k8s.io/ and prints every name it could not match so a reviewer can check.
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Rust module path inside k8s-pb (and k8s-openapi) -> upstream proto file path.
PACKAGES = [
    "apimachinery/pkg/api/resource",
    "apimachinery/pkg/apis/meta/v1",
    "apimachinery/pkg/runtime",
    "apimachinery/pkg/util/intstr",
    "api/admissionregistration/v1",
    "api/apps/v1",
    "api/authentication/v1",
    "api/authorization/v1",
    "api/autoscaling/v1",
    "api/autoscaling/v2",
    "api/batch/v1",
    "api/certificates/v1",
    "api/coordination/v1",
    "api/core/v1",
    "api/discovery/v1",
    "api/events/v1",
    "api/flowcontrol/v1",
    "api/networking/v1",
    "api/node/v1",
    "api/policy/v1",
    "api/rbac/v1",
    "api/resource/v1",
    "api/scheduling/v1",
    "api/storage/v1",
]

# Names that are not JSON fields (protobuf-only helper messages) and so are absent from
# k8s-openapi: (message, prost field) -> upstream proto field name.
FIELD_OVERRIDES = {
    ("FieldsV1", "raw"): "Raw",
    ("PodLogOptions", "insecure_skip_tls_verify_backend"): "insecureSkipTLSVerifyBackend",
}

LICENSE = """/*
Copyright The Kubernetes Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/
"""

SCALARS = {"string", "int32", "int64", "bool", "double", "float", "uint32", "uint64"}


def norm(name):
    return name.replace("_", "").lower()


def lower_camel(snake):
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def strip_comments(text):
    return "\n".join(l for l in text.splitlines() if not l.strip().startswith("//"))


def parse_k8s_pb(path):
    """Return [(struct_name, [(attr, field_name, rust_type)])] in source order."""
    text = strip_comments(open(path, encoding="utf-8").read())
    out = []
    for m in re.finditer(r"pub struct (\w+) \{(.*?)\n?\}", text, re.S):
        body = m.group(2)
        fields = []
        for f in re.finditer(
            r"#\[prost\(([^\]]*)\)\]\s*pub\s+(?:r#)?(\w+)\s*:\s*(.+?),\s*(?=#\[prost|\Z)",
            body,
            re.S,
        ):
            rust_type = re.sub(r",>", ">", re.sub(r"\s+", "", f.group(3)))
            fields.append((f.group(1), f.group(2), rust_type))
        out.append((m.group(1), fields))
    return out


def parse_openapi(dirpath):
    """Return {norm(type name): (type name, {norm(json): json})} for one module dir."""
    types = {}
    if not os.path.isdir(dirpath):
        return types
    for fn in sorted(os.listdir(dirpath)):
        if not fn.endswith(".rs") or fn == "mod.rs":
            continue
        text = open(os.path.join(dirpath, fn), encoding="utf-8").read()
        m = re.search(r"pub (?:struct|enum) (\w+)", text)
        if not m:
            continue
        keys = {}
        for k in re.findall(r'"([^"]+)" => Field::Key_\w+', text):
            keys[norm(k)] = k
        types[norm(m.group(1))] = (m.group(1), keys)
    return types


def resolve_type(module, rust_type):
    """Rust path relative to `module` -> (module, struct)."""
    segs = rust_type.split("::")
    cur = module.split("/")
    while segs and segs[0] == "super":
        segs.pop(0)
        cur = cur[:-1]
    if len(segs) == 1:
        return module, segs[0]
    return "/".join(cur + segs[:-1]), segs[-1]


def inner_type(rust_type):
    t = rust_type
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while t.startswith(wrapper):
            t = t[len(wrapper):-1]
    return t


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pb_dir, oa_dir = sys.argv[1], sys.argv[2]
    oa_version = sys.argv[3] if len(sys.argv) > 3 else "v1_35"
    unmatched = []
    inline = []

    parsed = {}
    names = {}  # (module, rust struct) -> upstream message name
    openapi = {}
    for pkg in PACKAGES:
        parsed[pkg] = parse_k8s_pb(os.path.join(pb_dir, "src", pkg, "mod.rs"))
        openapi[pkg] = parse_openapi(os.path.join(oa_dir, "src", oa_version, pkg))
        for struct, _ in parsed[pkg]:
            hit = openapi[pkg].get(norm(struct))
            names[(pkg, struct)] = hit[0] if hit else struct
    global_keys = {}
    for pkg in PACKAGES:
        for _, (_, keys) in openapi[pkg].items():
            for n, k in keys.items():
                global_keys.setdefault(n, set()).add(k)

    for pkg in PACKAGES:
        proto_pkg = "k8s.io." + pkg.replace("/", ".")
        imports = set()
        lines = []
        for struct, fields in parsed[pkg]:
            msg = names[(pkg, struct)]
            keys = openapi[pkg].get(norm(struct), (None, {}))[1]
            lines.append("message %s {" % msg)
            for attr, fname, rtype in fields:
                tag = re.search(r'tag = "(\d+)"', attr).group(1)
                if (msg, fname) in FIELD_OVERRIDES:
                    pname = FIELD_OVERRIDES[(msg, fname)]
                elif norm(fname) in keys:
                    pname = keys[norm(fname)]
                elif keys and attr.startswith("message,"):
                    # A Go struct embedded with `json:",inline"`: go-to-protobuf names the
                    # field after the type; its JSON fields are merged into the parent.
                    pname = lower_camel(fname)
                    inline.append("%s.%s.%s" % (proto_pkg, msg, pname))
                elif len(global_keys.get(norm(fname), ())) == 1:
                    pname = next(iter(global_keys[norm(fname)]))
                    if pname != lower_camel(fname):
                        unmatched.append("%s.%s.%s (from another type)" % (proto_pkg, msg, pname))
                else:
                    pname = lower_camel(fname)
                    if "_" in fname:
                        unmatched.append("%s.%s.%s (camelCased)" % (proto_pkg, msg, pname))

                def msg_ref(rust):
                    mod, st = resolve_type(pkg, inner_type(rust))
                    if mod != pkg:
                        imports.add("k8s.io/%s/generated.proto" % mod)
                    return ".k8s.io.%s.%s" % (mod.replace("/", "."), names.get((mod, st), st))

                if attr.startswith("btree_map") or attr.startswith("map"):
                    kt, vt = re.search(r'map = "(\w+), (\w+)"', attr).groups()
                    if vt == "message":
                        val = re.search(r"BTreeMap<[^,]+,(.+)>$", rtype).group(1)
                        vt = msg_ref(val)
                    lines.append("  map<%s, %s> %s = %s;" % (kt, vt, pname, tag))
                    continue
                kind = attr.split(",")[0].strip()
                label = "repeated" if "repeated" in attr else "optional"
                if kind == "message":
                    ty = msg_ref(rtype)
                elif kind.startswith("bytes"):
                    ty = "bytes"
                elif kind in SCALARS:
                    ty = kind
                else:
                    sys.exit("unsupported prost attribute %r in %s.%s" % (attr, msg, fname))
                lines.append("  %s %s %s = %s;" % (label, ty, pname, tag))
            lines.append("}")
            lines.append("")

        out = [LICENSE, "",
               "// Kubernetes wire schema for %s, rebuilt by proto/generate.py from the" % proto_pkg,
               "// upstream generated.proto (see proto/README.md). Do not edit by hand.", "",
               'syntax = "proto2";', "", "package %s;" % proto_pkg, ""]
        for imp in sorted(imports):
            out.append('import "%s";' % imp)
        if imports:
            out.append("")
        out.append('option go_package = "k8s.io/%s";' % pkg)
        out.append("")
        target = os.path.join(HERE, "k8s.io", pkg, "generated.proto")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.write("\n".join(out + lines).rstrip() + "\n")

    for u in unmatched:
        print("check:", u)
    for i in inline:
        print("inline:", i)


if __name__ == "__main__":
    main()
