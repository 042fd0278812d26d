//! The fuzz kit shared by `tests/fuzz.rs` (corpus replay, a bounded campaign, hostile inputs)
//! and `examples/fuzz_campaign.rs` (a million inputs per reader): seeds, mutators, the readers
//! under fuzz, and the harness that runs one input under `catch_unwind` and keeps what it
//! finds in `tests/fuzz-corpus/<reader>/`. See docs/fuzzing.md.
#![allow(dead_code)]

pub mod alloc;
pub mod mutate;
pub mod seeds;
pub mod targets;

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use mutate::Limits;
use targets::{Reader, Scratch, Verdict};

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics inside [`guarded`] are recorded, not printed; every other panic prints as before.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Run one input; `Err` holds the panic's message and place.
pub fn guarded(reader: Reader, input: &[u8], scratch: &Scratch) -> Result<Verdict, String> {
    install_panic_hook();
    QUIET.with(|q| q.set(true));
    let out = catch_unwind(AssertUnwindSafe(|| targets::run(reader, input, scratch)));
    QUIET.with(|q| q.set(false));
    out.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Keep a finding in the corpus as `<kind>-<hash>`; true when it was not there yet.
pub fn save_finding(reader: Reader, kind: &str, input: &[u8]) -> (PathBuf, bool) {
    let hash = hex::encode(&Sha256::digest(input)[..8]);
    let dir = seeds::corpus_dir(reader.name());
    let path = dir.join(format!("{kind}-{hash}"));
    if path.exists() {
        return (path, false);
    }
    let _ = std::fs::create_dir_all(&dir);
    let new = std::fs::write(&path, input).is_ok();
    (path, new)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The `index`th input of a campaign: a function of the seed, the reader and the index only,
/// so any input can be made again (the campaign does, to save one that killed a worker).
pub fn input_for(
    reader: Reader,
    seeds: &[Vec<u8>],
    seed: u64,
    index: u64,
    limits: &Limits,
) -> Vec<u8> {
    let reader_salt = reader
        .name()
        .bytes()
        .fold(0u64, |h, b| splitmix(h ^ b as u64));
    let mut rng =
        fastrand::Rng::with_seed(splitmix(seed ^ reader_salt).wrapping_add(splitmix(index)));
    if seeds.is_empty() {
        let n = rng.usize(0..64);
        return (0..n).map(|_| rng.u8(..)).collect();
    }
    let base = &seeds[rng.usize(0..seeds.len())];
    let other = &seeds[rng.usize(0..seeds.len())];
    mutate::mutate(&mut rng, reader.format(), base, other, limits)
}

/// What a campaign on one reader did.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub inputs: u64,
    pub accepted: u64,
    pub refused: u64,
    pub panics: u64,
    pub new_findings: u64,
    pub slow: u64,
    pub slowest: Duration,
    pub elapsed: Duration,
    /// Where each finding was kept, with its panic's place and message.
    pub messages: Vec<String>,
    /// The distinct panics (place and first line of the message).
    pub signatures: Vec<String>,
}

/// A panic's place and the first line of its message, names in backquotes and numbers left
/// out (one finding per kind of panic), cut to 200 characters.
pub fn signature(message: &str) -> String {
    let mut lines = message.lines();
    let place = lines.next().unwrap_or_default();
    let first = lines.next().unwrap_or_default();
    let mut out = String::new();
    let mut quoted = false;
    for c in first.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                if quoted {
                    out.push_str("`_`");
                }
            }
            _ if quoted || c.is_ascii_digit() => {}
            _ => out.push(c),
        }
    }
    format!("{place} {out}").chars().take(200).collect()
}

/// The settings of a campaign.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Every input is a function of this seed, the reader and its index.
    pub seed: u64,
    pub limits: Limits,
    /// An input slower than this is kept as `slow-<hash>` (the first five of a run).
    pub slow: Duration,
}

/// Run inputs `start..start + count` of a campaign on one reader; `progress` is called with the
/// index reached every 256 inputs.
pub fn campaign(
    reader: Reader,
    seeds: &[Vec<u8>],
    config: &Config,
    start: u64,
    count: u64,
    mut progress: impl FnMut(u64),
) -> Stats {
    let scratch = Scratch::new();
    let mut stats = Stats::default();
    let began = Instant::now();
    for index in start..start + count {
        let input = input_for(reader, seeds, config.seed, index, &config.limits);
        let t = Instant::now();
        let outcome = guarded(reader, &input, &scratch);
        let took = t.elapsed();
        stats.inputs += 1;
        stats.slowest = stats.slowest.max(took);
        match outcome {
            Ok(Verdict::Accepted) => stats.accepted += 1,
            Ok(Verdict::Refused) => stats.refused += 1,
            Err(message) => {
                stats.panics += 1;
                // One input per distinct panic (place and message), not thousands of the same.
                let signature = signature(&message);
                if !stats.signatures.contains(&signature) {
                    stats.signatures.push(signature.clone());
                    let (path, new) = save_finding(reader, "crash", &input);
                    stats.new_findings += u64::from(new);
                    stats
                        .messages
                        .push(format!("{}: {signature}", path.display()));
                }
            }
        }
        if took > config.slow {
            stats.slow += 1;
        }
        // The first few slow inputs are kept.
        if took > config.slow && stats.slow <= 5 {
            let (path, new) = save_finding(reader, "slow", &input);
            if new {
                stats.new_findings += 1;
                stats
                    .messages
                    .push(format!("{}: took {took:?}", path.display()));
            }
        }
        if (index + 1) % 256 == 0 {
            progress(index + 1);
        }
    }
    stats.elapsed = began.elapsed();
    stats
}
