//! The fuzz campaign of issue 20: at least a million mutated inputs per reader of outside
//! input (TOML and XML plans, clouds.yaml, the state file, saved plans, the service's job
//! options), each under `catch_unwind`. Prints per reader the inputs, inputs per second,
//! panics, new findings kept in `tests/fuzz-corpus/<reader>/`, the slowest input, peak RSS
//! and peak heap; exits 1 on any panic. The seeds, mutators and readers are those of
//! `tests/fuzz.rs` (`tests/fuzz/`). See docs/fuzzing.md.
//!
//! ```sh
//! cargo run --release --example fuzz_campaign -- [--inputs N] [--seed S] [--reader NAME]...
//!     [--max-depth D]
//! ```
//!
//! Each reader runs in a worker process of its own (so its peak RSS is its own), its inputs on
//! a thread with a 2 MiB stack, a tokio worker's. Input `i` of a campaign is a function of the
//! seed, the reader and `i` only: when a worker dies (a stack overflow cannot be caught), the
//! campaign runs the inputs since its last progress report one by one to find the one that
//! killed it, keeps it as `fatal-<hash>`, and goes on after it.

#[path = "../tests/fuzz/mod.rs"]
mod fuzz;

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use fuzz::alloc::{self, Counting};
use fuzz::mutate::Limits;
use fuzz::targets::{ALL, Reader};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone)]
struct Args {
    inputs: u64,
    seed: u64,
    readers: Vec<Reader>,
    max_depth: usize,
    worker: bool,
    dump: bool,
    replay: Vec<String>,
    start: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        inputs: 1_000_000,
        seed: 20,
        readers: Vec::new(),
        max_depth: 100_000,
        worker: false,
        dump: false,
        replay: Vec::new(),
        start: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--inputs" => args.inputs = value()?.parse().map_err(|e| format!("--inputs: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--max-depth" => {
                args.max_depth = value()?.parse().map_err(|e| format!("--max-depth: {e}"))?
            }
            "--reader" => {
                let name = value()?;
                let reader = Reader::from_name(&name).ok_or_else(|| {
                    let names: Vec<&str> = ALL.iter().map(|r| r.name()).collect();
                    format!("--reader {name}: one of {}", names.join(", "))
                })?;
                args.readers.push(reader);
            }
            "--worker" => args.worker = true,
            "--dump" => args.dump = true,
            "--replay" => args.replay.push(value()?),
            "--start" => args.start = value()?.parse().map_err(|e| format!("--start: {e}"))?,
            "-h" | "--help" => {
                let names: Vec<&str> = ALL.iter().map(|r| r.name()).collect();
                return Err(format!(
                    "usage: fuzz_campaign [--inputs N] [--seed S] [--reader NAME]... [--max-depth D]\n\
                     \x20      fuzz_campaign --dump --reader NAME --start I [--seed S] (input I)\n\
                     \x20      fuzz_campaign --reader NAME --replay FILE... (time and heap of each)\n\
                     readers: {}",
                    names.join(", ")
                ));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.readers.is_empty() {
        args.readers = ALL.to_vec();
    }
    Ok(args)
}

fn limits(args: &Args) -> Limits {
    Limits {
        max_depth: args.max_depth,
        max_len: 64 * 1024,
    }
}

/// The worker: inputs `start..start + inputs` of one reader; progress and results on stdout.
fn worker(args: &Args) -> ExitCode {
    let reader = args.readers[0];
    let args = args.clone();
    let run = std::thread::Builder::new()
        .name(format!("fuzz-{}", reader.name()))
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let seeds = reader.seeds();
            let config = fuzz::Config {
                seed: args.seed,
                limits: limits(&args),
                slow: Duration::from_secs(1),
            };
            let stats = fuzz::campaign(reader, &seeds, &config, args.start, args.inputs, |i| {
                println!("progress {i}")
            });
            for message in &stats.messages {
                println!("finding {message}");
            }
            println!(
                "stats {} {} {} {} {} {} {} {} {} {}",
                stats.inputs,
                stats.accepted,
                stats.refused,
                stats.panics,
                stats.new_findings,
                stats.slow,
                stats.slowest.as_micros(),
                stats.elapsed.as_micros(),
                alloc::process_peak(),
                alloc::peak_rss().unwrap_or(0),
            );
        })
        .expect("starting the fuzz thread");
    match run.join() {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

#[derive(Debug, Default)]
struct Totals {
    inputs: u64,
    accepted: u64,
    refused: u64,
    panics: u64,
    new_findings: u64,
    slow: u64,
    slowest_us: u64,
    elapsed_us: u64,
    peak_heap: u64,
    peak_rss: u64,
    findings: Vec<String>,
}

/// One worker run: `Ok` with its figures, or `Err` with the last index it reported.
fn run_worker(args: &Args, reader: Reader, start: u64, count: u64) -> Result<Totals, u64> {
    let mut child = Command::new(std::env::current_exe().expect("this example"))
        .args(["--worker", "--reader", reader.name()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--start", &start.to_string()])
        .args(["--inputs", &count.to_string()])
        .args(["--max-depth", &args.max_depth.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting a worker");
    let mut last = start;
    let mut totals = None;
    let mut findings = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let Ok(line) = line else { break };
        if let Some(i) = line.strip_prefix("progress ") {
            last = i.parse().unwrap_or(last);
        } else if let Some(f) = line.strip_prefix("finding ") {
            findings.push(f.to_string());
        } else if let Some(s) = line.strip_prefix("stats ") {
            let n: Vec<u64> = s.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
            if n.len() == 10 {
                totals = Some(Totals {
                    inputs: n[0],
                    accepted: n[1],
                    refused: n[2],
                    panics: n[3],
                    new_findings: n[4],
                    slow: n[5],
                    slowest_us: n[6],
                    elapsed_us: n[7],
                    peak_heap: n[8],
                    peak_rss: n[9],
                    findings: Vec::new(),
                });
            }
        }
    }
    let status = child.wait().expect("waiting for a worker");
    match totals {
        Some(mut t) if status.success() => {
            t.findings = findings;
            Ok(t)
        }
        _ => Err(last),
    }
}

fn campaign(args: &Args, reader: Reader) -> Totals {
    let mut totals = Totals::default();
    let mut next = 0;
    let end = args.inputs;
    while next < end {
        match run_worker(args, reader, next, end - next) {
            Ok(t) => {
                totals.inputs += t.inputs;
                totals.accepted += t.accepted;
                totals.refused += t.refused;
                totals.panics += t.panics;
                totals.new_findings += t.new_findings;
                totals.slow += t.slow;
                totals.slowest_us = totals.slowest_us.max(t.slowest_us);
                totals.elapsed_us += t.elapsed_us;
                totals.peak_heap = totals.peak_heap.max(t.peak_heap);
                totals.peak_rss = totals.peak_rss.max(t.peak_rss);
                totals.findings.extend(t.findings);
                next = end;
            }
            Err(last) => {
                // The worker died between `last` and its next report: find the input.
                let window = (last..(last + 256).min(end)).collect::<Vec<_>>();
                let fatal = window
                    .iter()
                    .copied()
                    .find(|&i| run_worker(args, reader, i, 1).is_err());
                let seeds = reader.seeds();
                match fatal {
                    Some(i) => {
                        let input = fuzz::input_for(reader, &seeds, args.seed, i, &limits(args));
                        let (path, new) = fuzz::save_finding(reader, "fatal", &input);
                        totals.panics += 1;
                        totals.new_findings += u64::from(new);
                        totals.inputs += i + 1 - next;
                        totals.findings.push(format!(
                            "{}: input {i} killed the worker (stack overflow or abort)",
                            path.display()
                        ));
                        next = i + 1;
                    }
                    None => {
                        totals.findings.push(format!(
                            "a worker died between inputs {last} and {} and none of them kills \
                             one alone",
                            last + 256
                        ));
                        totals.panics += 1;
                        totals.inputs += last + 256 - next;
                        next = last + 256;
                    }
                }
            }
        }
    }
    totals
}

/// Run files through one reader; print each one's verdict, time and peak heap.
fn replay(args: &Args) -> ExitCode {
    let reader = args.readers[0];
    let scratch = fuzz::targets::Scratch::new();
    let mut code = ExitCode::SUCCESS;
    for path in &args.replay {
        let Ok(input) = std::fs::read(path) else {
            eprintln!("{path}: cannot read");
            return ExitCode::from(2);
        };
        let started = std::time::Instant::now();
        let (outcome, peak) = alloc::measure(|| fuzz::guarded(reader, &input, &scratch));
        let took = started.elapsed();
        if outcome.is_err() {
            code = ExitCode::FAILURE;
        }
        let outcome = match outcome {
            Ok(v) => format!("{v:?}"),
            Err(m) => format!("panic: {}", fuzz::signature(&m)),
        };
        println!(
            "{path}: {} bytes, {outcome} in {took:.1?}, peak heap {:.1} MiB",
            input.len(),
            peak as f64 / MIB
        );
    }
    code
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.worker {
        return worker(&args);
    }
    if !args.replay.is_empty() {
        return replay(&args);
    }
    if args.dump {
        // One input, made again from its seed and index: `--dump --reader R --start I`.
        let reader = args.readers[0];
        let input = fuzz::input_for(
            reader,
            &reader.seeds(),
            args.seed,
            args.start,
            &limits(&args),
        );
        use std::io::Write;
        return match std::io::stdout().write_all(&input) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    println!(
        "fuzz campaign: {} inputs per reader, seed {}, nesting up to {} deep",
        args.inputs, args.seed, args.max_depth
    );
    println!(
        "{:<12} {:>10} {:>10} {:>8} {:>6} {:>5} {:>10} {:>9} {:>9} {:>9}",
        "reader",
        "inputs",
        "inputs/s",
        "accepted",
        "panics",
        "new",
        "slow(>1s)",
        "slowest",
        "peak RSS",
        "peak heap"
    );
    let mut panics = 0;
    let mut findings = Vec::new();
    for &reader in &args.readers {
        let t = campaign(&args, reader);
        let secs = t.elapsed_us as f64 / 1e6;
        println!(
            "{:<12} {:>10} {:>10.0} {:>8} {:>6} {:>5} {:>10} {:>7.1}ms {:>7.1}MiB {:>7.1}MiB",
            reader.name(),
            t.inputs,
            t.inputs as f64 / secs.max(1e-9),
            t.accepted,
            t.panics,
            t.new_findings,
            t.slow,
            t.slowest_us as f64 / 1000.0,
            t.peak_rss as f64 / MIB,
            t.peak_heap as f64 / MIB,
        );
        panics += t.panics;
        findings.extend(t.findings);
    }
    for f in &findings {
        println!("finding: {f}");
    }
    if panics > 0 {
        println!(
            "{panics} panics: the inputs are kept in tests/fuzz-corpus/ (replayed by tests/fuzz.rs)"
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
