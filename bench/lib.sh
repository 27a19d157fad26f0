# Shared by bench/run and bench/fleet (sourced).

# Install a missing tool from the distribution: need COMMAND PACKAGE.
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }

# Build the release `accounts` binary of the crate in the current directory
# and print its path, as cargo reports it: where it lands depends on the
# configured target (.cargo/config.toml names the host tuple, so it lands in
# target/<tuple>/release; a revision from before that, built as a baseline,
# puts it in target/release).
release_bin() {
    cargo build --release --quiet --message-format=json-render-diagnostics | executable accounts bin
}

# Build the benchmark NAME and print its path, to run it directly: under
# `cargo bench` its children inherit cargo's LD_LIBRARY_PATH (the target and
# toolchain dirs), which slows every dynamically linked one (/bin/true, a
# dynamic baseline) by about 0.25 ms here and a static one not at all.
bench_bin() {
    cargo bench --no-run --quiet --bench "$1" --message-format=json-render-diagnostics | executable "$1" bench
}

# The executable of target NAME of KIND from cargo's JSON messages on stdin.
executable() {
    python3 -c '
import json, sys
name, kind = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name and kind in m["target"]["kind"]:
        print(m["executable"])' "$1" "$2"
}
