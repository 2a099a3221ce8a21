"""protoc-c code generation as a plain genrule (no proto toolchain needed)."""

def protoc_c(name, srcs, proto_path, deps_proto_paths = []):
    """Generate <src>.pb-c.{c,h} for each .proto in srcs.

    srcs are labels of .proto files below proto_path; the generated files keep
    their path relative to proto_path, inside this package's output folder.
    """
    rel = []
    for s in srcs:
        f = s.split(":")[-1]
        rel.append(f)
    outs = []
    for f in rel:
        base = f[:-len(".proto")]
        outs += [base + ".pb-c.c", base + ".pb-c.h"]
    includes = " ".join(["-I" + p for p in [proto_path] + deps_proto_paths])
    native.genrule(
        name = name,
        srcs = srcs,
        outs = outs,
        cmd = "protoc-c %s --c_out=$(RULEDIR) %s" % (
            includes,
            " ".join([proto_path + "/" + f for f in rel]),
        ),
    )
