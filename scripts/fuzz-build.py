#!/usr/bin/env python3
"""Makes the libFuzzer binary of one fuzz target on top of the plain debug build.

Usage: scripts/fuzz-build.py SCRATCH TARGET OUTDIR
  SCRATCH  SwiftPM's scratch path (.build), after a plain `swift build` of fuzz-TARGET
  TARGET   http | form | json
  OUTDIR   where the instrumented objects and the binary go (OUTDIR/fuzz-TARGET)

Instead of building every module again with -sanitize=fuzzer (NIO, Yams, the whole host:
over 17 minutes on two busy cores), this compiles again only the harness (with -DFUZZING,
so libFuzzer's main replaces the replay driver's) and the modules it exercises
(INSTRUMENTED below), each with the exact flags the plain build used for it (read from
SCRATCH/debug.yaml, SwiftPM's build manifest) plus -sanitize=fuzzer, whole-module. It then
links them with the plain build's objects of everything else, from the product's own link
file list: the same program as the replay driver, with coverage feedback where the inputs
are parsed. Objects already newer than their inputs are kept (the instrumented Host is
shared by the http and json targets).
"""
import json
import os
import re
import subprocess
import sys
import time

# The modules compiled with coverage for each target: the harness first, then the code
# whose branches the fuzzer should learn (Swift modules, or C modules such as NIO's llhttp).
INSTRUMENTED = {
    "http": ["FuzzHTTP", "Host", "NIOHTTP1", "CNIOLLHTTP"],
    "form": ["FuzzForm", "TwilioCore", "SMSText"],
    "json": ["FuzzJSON", "Host", "TelegramCore", "TwilioCore", "WebChatCore", "ChannelSupport"],
}


def fail(message):
    print(f"fuzz-build: {message}", file=sys.stderr)
    sys.exit(1)


def read_manifest(path):
    """SwiftPM's llbuild manifest: command name -> {tool, inputs, outputs, args}."""
    commands, current = {}, None
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        fail(f"cannot read {path} ({e.strerror}): run `swift build` first")
    for line in lines:
        m = re.match(r'^  "(.+)":$', line)
        if m:
            current = commands.setdefault(m.group(1), {})
            continue
        m = re.match(r"^    (tool|inputs|outputs|args): (.*)$", line)
        if m and current is not None:
            key, value = m.groups()
            current[key] = value if key == "tool" else json.loads(value)
    return commands


def newest(paths):
    times = [os.stat(p).st_mtime for p in paths if os.path.exists(p)]
    return max(times, default=0)


def up_to_date(output, inputs):
    return os.path.exists(output) and os.stat(output).st_mtime >= max(newest(inputs), newest([__file__]))


def run(args, what):
    started = time.monotonic()
    result = subprocess.run(args)
    if result.returncode != 0:
        fail(f"{what} failed (exit {result.returncode}): {' '.join(args[:3])} ...")
    print(f"fuzz-build: {what}: {time.monotonic() - started:.1f} s", flush=True)


# Flags of the plain build that write files of its own (dependencies, module, index,
# diagnostics) or drive its incremental mode; dropped, with the value after them if any.
DROP_WITH_VALUE = {"-emit-module-path", "-output-file-map", "-index-store-path", "-emit-objc-header-path",
                   "-module-cache-path", "-MT", "-MF", "-o"}
DROP = {"-emit-dependencies", "-emit-module", "-incremental", "-enable-batch-mode", "-serialize-diagnostics",
        "-parseable-output", "-emit-objc-header", "-c", "-MD"}


def filtered(args):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in DROP_WITH_VALUE:
            skip = True
        elif a in DROP or re.fullmatch(r"-j\d+", a):
            pass
        else:
            out.append(a)
    return out


def instrument(commands, module, outdir, harness):
    """Compiles `module` again with coverage; returns (its build folder, new objects)."""
    objdir = os.path.join(outdir, "obj")
    cache = os.path.join(outdir, "ModuleCache")
    os.makedirs(objdir, exist_ok=True)
    swift = [c for n, c in commands.items() if re.fullmatch(rf"C\.{re.escape(module)}-[^.]+-debug\.module", n)]
    if swift:
        cmd = swift[0]
        build_dir = os.path.dirname(cmd["outputs"][0])
        obj = os.path.join(objdir, module + (".harness.o" if harness else ".o"))
        if not up_to_date(obj, cmd["inputs"]):
            args = filtered(cmd["args"]) + ["-wmo", "-sanitize=fuzzer", "-module-cache-path", cache, "-c", "-o", obj]
            if harness:
                args.append("-DFUZZING")
            run(args, f"compiling {module} with coverage")
        return build_dir, [obj]
    clang = [c for c in commands.values() if c.get("tool") == "clang" and c["outputs"]
             and os.path.basename(os.path.dirname(c["outputs"][0])) == module + ".build"]
    if not clang:
        fail(f"module {module} is not in the build manifest: build its fuzz target first (swift build --product ...)")
    objects = []
    for cmd in clang:
        obj = os.path.join(objdir, module + "-" + os.path.basename(cmd["outputs"][0]))
        if not up_to_date(obj, cmd["inputs"]):
            run(filtered(cmd["args"]) + ["-fsanitize=fuzzer-no-link", "-c", "-o", obj],
                f"compiling {module}/{os.path.basename(cmd['inputs'][0])} with coverage")
        objects.append(obj)
    return os.path.dirname(clang[0]["outputs"][0]), objects


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in INSTRUMENTED:
        fail("usage: fuzz-build.py SCRATCH http|form|json OUTDIR")
    scratch, target, outdir = sys.argv[1:]
    outdir = os.path.abspath(outdir)
    commands = read_manifest(os.path.join(scratch, "debug.yaml"))
    links = [c for n, c in commands.items() if re.fullmatch(rf"C\.fuzz-{target}-[^.]+-debug\.exe", n)]
    if not links:
        fail(f"fuzz-{target} is not in {scratch}/debug.yaml: run `swift build` first")
    link = links[0]
    replaced, added = set(), []
    for i, module in enumerate(INSTRUMENTED[target]):
        build_dir, objects = instrument(commands, module, outdir, harness=(i == 0))
        replaced.add(os.path.realpath(build_dir))
        added += objects
    file_list = next(a[1:] for a in link["args"] if a.startswith("@"))
    plain = [line.strip().strip("'\"") for line in open(file_list, encoding="utf-8") if line.strip()]
    kept = [p for p in plain if os.path.realpath(os.path.dirname(p)) not in replaced]
    if len(kept) == len(plain):
        fail(f"none of the instrumented modules is in {file_list}")
    new_list = os.path.join(outdir, f"fuzz-{target}.LinkFileList")
    with open(new_list, "w", encoding="utf-8") as f:
        f.write("".join(f"'{p}'\n" for p in kept + added))
    binary = os.path.join(outdir, f"fuzz-{target}")
    if up_to_date(binary, kept + added):
        print(f"fuzz-build: {binary} is up to date")
        return
    args, i = [], 0
    while i < len(link["args"]):
        a = link["args"][i]
        if a == "-Xlinker" and link["args"][i + 1] == "--defsym":   # the replay driver's main
            i += 4
            continue
        if a == "-o":
            i += 2
            continue
        args.append("@" + new_list if a.startswith("@") else a)
        i += 1
    bin_dir = os.path.dirname(link["outputs"][0])
    args += ["-sanitize=fuzzer", "-Xlinker", f"-rpath={bin_dir}", "-o", binary]
    run(args, f"linking fuzz-{target} ({len(kept)} plain objects, {len(added)} instrumented)")


if __name__ == "__main__":
    main()
