//! The `s2d-devcloud` binary: parse flags, start both clouds, write the ready file, wait for
//! SIGINT/SIGTERM. Knows nothing about the services.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use devcloud::faults::FaultSettings;
use devcloud::{DevCloud, Options};

/// A local, stateful pair of OpenStack clouds (`provider` and `hospital`) on loopback.
#[derive(Debug, Parser)]
#[command(name = "s2d-devcloud", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    listen: IpAddr,
    /// Port of the provider cloud (0 = a free port).
    #[arg(long, default_value_t = 0)]
    provider_port: u16,
    /// Port of the hospital cloud (0 = a free port).
    #[arg(long, default_value_t = 0)]
    hospital_port: u16,
    /// Write a clouds.yaml with entries provider, hospital, provider-admin, hospital-admin.
    #[arg(long)]
    clouds_yaml: Option<PathBuf>,
    /// Write a JSON file with both clouds' URLs and ports once listening.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Size of the seeded server's disk and base image (e.g. 64MiB, 20GiB, 1000000).
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    image_size: u64,
    /// Added latency per request in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Probability (0..1) of a 500/503 answer.
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    /// Probability (0..1) that a request is served but answered 503 (a create happens).
    #[arg(long, default_value_t = 0.0)]
    fail_after_rate: f64,
    /// Probability (0..1) of a 429 with Retry-After.
    #[arg(long, default_value_t = 0.0)]
    rate_limit_rate: f64,
    /// The Retry-After of those 429s, in seconds.
    #[arg(long, default_value_t = 1)]
    retry_after_s: u64,
    /// Lifetime of new tokens in seconds (default 3600); an expired token gets 401.
    #[arg(long)]
    token_ttl_s: Option<u64>,
    /// The largest page of a list (nova max_limit, glance api_limit_max, neutron
    /// pagination_max_limit).
    #[arg(long)]
    max_limit: Option<usize>,
    /// Seed for ids, generated data and fault draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where image files live (default: a temporary directory removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size '{s}': expected e.g. 64MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "invalid size unit '{other}' in '{s}': use B, KiB, MiB, GiB, KB, MB, GB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

fn write_ready(path: &PathBuf, json: &serde_json::Value) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(json.to_string().as_bytes())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    for (flag, p) in [
        ("--fail-rate", cli.fail_rate),
        ("--fail-after-rate", cli.fail_after_rate),
        ("--rate-limit-rate", cli.rate_limit_rate),
    ] {
        if !(0.0..=1.0).contains(&p) {
            eprintln!("s2d-devcloud: {flag} must be between 0 and 1, got {p}");
            return ExitCode::from(2);
        }
    }
    let options = Options {
        listen: cli.listen,
        provider_port: cli.provider_port,
        hospital_port: cli.hospital_port,
        clouds_yaml: cli.clouds_yaml,
        image_size: cli.image_size,
        faults: FaultSettings {
            latency_ms: cli.latency_ms,
            fail_rate: cli.fail_rate,
            fail_after_rate: cli.fail_after_rate,
            rate_limit_rate: cli.rate_limit_rate,
            retry_after_s: cli.retry_after_s,
            token_ttl_s: cli.token_ttl_s,
            max_limit: cli.max_limit,
            ..FaultSettings::default()
        },
        seed: cli.seed,
        data_dir: cli.data_dir,
    };
    let dc = match DevCloud::start(options).await {
        Ok(dc) => dc,
        Err(e) => {
            eprintln!("s2d-devcloud: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ready = dc.ready_json();
    if let Some(path) = &cli.ready_file
        && let Err(e) = write_ready(path, &ready)
    {
        eprintln!(
            "s2d-devcloud: cannot write ready file {}: {e}",
            path.display()
        );
        dc.stop().await;
        return ExitCode::FAILURE;
    }
    println!("{ready}");
    tracing::info!(
        provider = dc.provider.base_url(),
        hospital = dc.hospital.base_url(),
        "devcloud ready"
    );
    wait_for_signal().await;
    tracing::info!("stopping");
    dc.stop().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
