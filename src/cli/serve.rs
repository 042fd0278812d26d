//! `s2d serve`: start the service (see [`crate::serve`]) and say where it listens. The token
//! is printed once, when it is made; Ctrl-C (or SIGTERM) stops the service after its running
//! jobs have finished their current steps, a second Ctrl-C aborts them.

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::args::ServeArgs;
use super::{ExitStatus, Ui};
use crate::cloud::ConfigEnv;
use crate::serve::{self, ServeOptions};

pub fn run(args: &ServeArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let mut env = ConfigEnv::from_process();
    if let Some(path) = &args.clouds_yaml {
        let path =
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
        if !path.is_file() {
            anyhow::bail!("--clouds-yaml {}: no such file", path.display());
        }
        env.vars
            .insert("OS_CLIENT_CONFIG_FILE".into(), path.display().to_string());
    }
    let options = ServeOptions {
        listen: args.listen,
        data_dir: std::path::absolute(&args.data_dir)
            .with_context(|| format!("resolving {}", args.data_dir.display()))?,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        insecure_http: args.insecure_http,
    };
    let quiet = ui.quiet;
    let runtime = super::runtime()?;
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let abort = CancellationToken::new();
        watch_signals(shutdown.clone(), abort.clone(), quiet);
        serve::run(options, env, shutdown, abort, |started| {
            println!("s2d serve: listening on {}", started.url);
            match &started.new_token {
                Some(token) => {
                    println!(
                        "API token (shown once; kept in {}/token, mode 0600): {token}",
                        started.data_dir.display()
                    );
                    println!("Web wizard: {}#token={token}", started.url);
                }
                None => println!(
                    "Web wizard: {} (the API token is in {}/token)",
                    started.url,
                    started.data_dir.display()
                ),
            }
            if started.interrupted_jobs > 0 {
                println!(
                    "{} job(s) were running when the service stopped: marked interrupted; apply \
                     again to continue them.",
                    started.interrupted_jobs
                );
            }
        })
        .await
    });
    match result {
        Ok(()) => Ok(ExitStatus::Success),
        Err(e) => {
            let report = match e.help() {
                Some(help) => miette::miette!(help = help, "{e}"),
                None => miette::miette!("{e}"),
            };
            eprintln!("{report:?}");
            Ok(ExitStatus::Failure)
        }
    }
}

/// Ctrl-C or SIGTERM once: stop (jobs start no new step); twice: abort running steps.
fn watch_signals(shutdown: CancellationToken, abort: CancellationToken, quiet: bool) {
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let signal = async {
            match term.as_mut() {
                Some(t) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = t.recv() => {}
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        signal.await;
        if !quiet {
            eprintln!(
                "Stopping: running jobs start no new steps and end after the current ones. \
                 Press Ctrl-C again to abort them."
            );
        }
        shutdown.cancel();
        let _ = tokio::signal::ctrl_c().await;
        abort.cancel();
    });
}
