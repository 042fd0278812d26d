//! `s2d serve`: the S2D service. An HTTP API (JSON; plans submitted as XML or TOML), and the
//! web wizard, over the same library as the command line: plans are read by [`crate::plan`],
//! run by [`crate::engine`], recorded by [`crate::state`], usage comes from
//! [`crate::usage::collect`]. Nothing here plans, applies or measures by itself.
//!
//! - [`app`]: the service's shared state: the stored plans (the registry), the jobs, the cloud
//!   connections of the wizard's pickers.
//! - [`api`]: the routes and their handlers. [`browse`]: what the wizard lists from a cloud.
//! - [`jobs`]: apply and destroy jobs, their event logs and live listeners.
//! - [`store`]: the data directory. [`auth`]: the bearer token. [`error`]: error answers.
//! - [`ui`]: the wizard's page, script and style, built into the binary.
//!
//! The HTTP contract is `docs/serve.md` and `/v1/openapi.json`.

pub mod api;
pub mod app;
pub mod auth;
pub mod browse;
pub mod error;
pub mod jobs;
pub mod store;
pub mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use app::App;

/// How the service is started.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// TLS certificate chain and key (PEM); plain HTTP without them.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Allow plain HTTP on an address other than loopback.
    pub insecure_http: bool,
}

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve plain HTTP on {0}, which is not a loopback address: the token and \
         the plans would cross the network in clear"
    )]
    PlainHttpOffLoopback(SocketAddr),
    #[error("the data directory: {0}")]
    Store(#[from] store::StoreError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the TLS certificate or key: {0}")]
    Tls(String),
    #[error("the data directory {} is in use by another s2d serve ({holder})", path.display())]
    InUse { path: PathBuf, holder: String },
    #[error("locking the data directory: {0}")]
    Lock(String),
}

impl ServeError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            ServeError::PlainHttpOffLoopback(_) => Some(
                "give --tls-cert and --tls-key, or pass --insecure-http if something in front \
                 of s2d (a reverse proxy) terminates TLS",
            ),
            ServeError::Listen { .. } => Some("is another `s2d serve` running? try --listen"),
            ServeError::InUse { .. } => Some(
                "one service per data directory: stop the other one, or give --data-dir another folder",
            ),
            _ => None,
        }
    }
}

/// What `run` reports once it listens.
#[derive(Debug, Clone)]
pub struct Started {
    pub url: String,
    pub data_dir: PathBuf,
    /// The token, when it was made by this start (it is shown once).
    pub new_token: Option<String>,
    pub interrupted_jobs: usize,
}

/// Start the service; `on_start` hears where it listens; it runs until `shutdown` fires, then
/// stops running jobs gracefully (no new steps; `abort` also stops running ones) and returns.
pub async fn run(
    options: ServeOptions,
    env: crate::cloud::ConfigEnv,
    shutdown: CancellationToken,
    abort: CancellationToken,
    on_start: impl FnOnce(&Started),
) -> Result<(), ServeError> {
    if options.tls.is_none() && !options.insecure_http && !options.listen.ip().is_loopback() {
        return Err(ServeError::PlainHttpOffLoopback(options.listen));
    }
    // One service per data directory: a second one would take the first one's running jobs
    // for interrupted ones.
    store::private_dir(&options.data_dir)?;
    let _lock = crate::state::Lock::acquire(&options.data_dir.join("service"), "serve").map_err(
        |e| match e {
            crate::state::StateError::Locked { holder, .. }
            | crate::state::StateError::LockedByLiveProcess { holder, .. } => ServeError::InUse {
                path: options.data_dir.clone(),
                holder: holder.map_or_else(
                    || "another process".to_string(),
                    |h| format!("pid {} since {}", h.pid, h.since),
                ),
            },
            other => ServeError::Lock(other.to_string()),
        },
    )?;
    let (app, token, new_token, interrupted) = App::open(&options.data_dir, env)?;
    let router = api::router(app.clone(), token.clone());
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };

    let handle = axum_server::Handle::new();
    let server =
        {
            let handle = handle.clone();
            let make = router.into_make_service();
            let listen = options.listen;
            match &options.tls {
                Some((cert, key)) => {
                    // One process-wide crypto provider (ring, as reqwest's rustls uses).
                    let _ = rustls::crypto::ring::default_provider().install_default();
                    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                        .await
                        .map_err(|e| ServeError::Tls(e.to_string()))?;
                    tokio::spawn(async move {
                        axum_server::bind_rustls(listen, config)
                            .handle(handle)
                            .serve(make)
                            .await
                    })
                }
                None => tokio::spawn(async move {
                    axum_server::bind(listen).handle(handle).serve(make).await
                }),
            }
        };
    let addr = match handle.listening().await {
        Some(addr) => addr,
        None => {
            let source = match server.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) => std::io::Error::other("the server stopped at once"),
                Err(e) => std::io::Error::other(e.to_string()),
            };
            return Err(ServeError::Listen {
                addr: options.listen,
                source,
            });
        }
    };
    on_start(&Started {
        url: format!("{scheme}://{addr}/"),
        data_dir: options.data_dir.clone(),
        new_token: new_token.then(|| token.expose().to_string()),
        interrupted_jobs: interrupted,
    });

    shutdown.cancelled().await;
    tracing::info!("stopping: running jobs start no new steps");
    app.cancel_jobs();
    let aborter = {
        let app = app.clone();
        tokio::spawn(async move {
            abort.cancelled().await;
            app.abort_jobs();
        })
    };
    app.wait_for_jobs().await;
    aborter.abort();
    handle.graceful_shutdown(Some(Duration::from_secs(5)));
    let _ = server.await;
    Ok(())
}

/// Shared by the handlers.
pub type Shared = Arc<App>;
