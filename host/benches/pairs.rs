//! Interleaved whole-process timings (part of `bench/run`, which builds this
//! with `cargo bench --no-run` and runs the binary directly: under `cargo
//! bench` the children would inherit cargo's LD_LIBRARY_PATH, which slows
//! each dynamically linked one, `/bin/true` or a dynamic baseline, by about
//! 0.25 ms here and a static one not at all; so this refuses to run there).
//!
//! hyperfine runs one command's 300 runs, then the next command's; this
//! machine's speed drifts between them by more than the differences being
//! measured. Here every round runs each command once, in an order that
//! rotates from round to round, so drift hits them alike. It prints each
//! command's median, its ratio to the first command taken per round (the
//! median of those: the paired median), and the per-round difference
//! between each two of the others. Spawning is `std::process::Command`,
//! as in `hyperfine -N`.
//!
//! SPEC: `--rounds N`, then one `--run NAME CMD` per command, each optionally
//! preceded by `--prepare CMD` (run untimed before each of its runs). A CMD
//! is split on spaces: the bench passes paths without spaces.

use std::process::{Command, Stdio};
use std::time::Instant;

struct Bench {
    name: String,
    prepare: Option<Vec<String>>,
    run: Vec<String>,
    times: Vec<f64>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.is_empty() {
        println!("pairs: nothing to time (bench/run passes the commands)");
        return;
    }
    assert!(
        std::env::var_os("CARGO").is_none() || std::env::var_os("LD_LIBRARY_PATH").is_none(),
        "run this binary directly, not through cargo: cargo's LD_LIBRARY_PATH slows dynamically linked children"
    );
    let (rounds, mut benches) = parse(args.into_iter());
    let count = benches.len();
    for round in 0..rounds {
        for i in 0..count {
            let bench = &mut benches[(round + i) % count];
            if let Some(prepare) = &bench.prepare {
                run(prepare);
            }
            let start = Instant::now();
            run(&bench.run);
            bench.times.push(start.elapsed().as_secs_f64());
        }
    }
    let reference = &benches[0];
    println!(
        "  {rounds} rounds, each command once a round in rotating order; ratios are per round, to {:?}",
        reference.name
    );
    for bench in &benches {
        println!(
            "  {:48} median {:7.3} ms   paired ratio {:5.2}",
            bench.name,
            median(&bench.times) * 1e3,
            paired(bench, reference, |t, r| t / r)
        );
    }
    // Between the other commands (a change and its baseline), the paired
    // difference: what the change costs or gains, drift cancelled.
    for (i, a) in benches.iter().enumerate().skip(1) {
        for b in benches.iter().skip(i + 1) {
            println!("  {:?} - {:?}: paired difference {:+.3} ms", a.name, b.name, paired(a, b, |x, y| x - y) * 1e3);
        }
    }
}

/// The median over rounds of `f(a's time, b's time)`.
fn paired(a: &Bench, b: &Bench, f: impl Fn(f64, f64) -> f64) -> f64 {
    median(&a.times.iter().zip(&b.times).map(|(x, y)| f(*x, *y)).collect::<Vec<_>>())
}

fn parse(mut args: impl Iterator<Item = String>) -> (usize, Vec<Bench>) {
    let usage = "usage: pairs --rounds N [--prepare CMD] --run NAME CMD [[--prepare CMD] --run NAME CMD]...";
    let mut rounds = None;
    let mut prepare = None;
    let mut benches = Vec::new();
    let words = |cmd: String| -> Vec<String> { cmd.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect() };
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value; {usage}"));
        match flag.as_str() {
            "--rounds" => rounds = Some(value().parse::<usize>().unwrap_or_else(|e| panic!("--rounds: {e}; {usage}"))),
            "--prepare" => prepare = Some(words(value())),
            "--run" => {
                let name = value();
                let run = words(value());
                benches.push(Bench { name, prepare: prepare.take(), run, times: Vec::new() });
            }
            other => panic!("unknown argument {other:?}; {usage}"),
        }
    }
    let rounds = rounds.unwrap_or_else(|| panic!("--rounds is missing; {usage}"));
    assert!(rounds > 0 && !benches.is_empty(), "{usage}");
    (rounds, benches)
}

fn run(argv: &[String]) {
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", argv[0]));
    assert!(status.success(), "{} failed: {status}", argv.join(" "));
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
