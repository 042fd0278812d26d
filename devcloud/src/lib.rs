//! devcloud: a local, stateful pair of OpenStack clouds (`provider` and `hospital`), each with
//! Keystone, Nova, Glance and Neutron on one loopback port, speaking the real APIs. Start one
//! in-process with [`DevCloud::start`]; drop it (or call [`DevCloud::stop`]) to stop it.
//! This file owns only start/stop and the URLs; the services live in their modules.

pub mod admin;
pub mod auth;
pub mod cinder;
pub mod clock;
pub mod cloud;
pub mod clouds_yaml;
pub mod error;
pub mod faults;
pub mod glance;
pub mod imagedata;
pub mod keystone;
pub mod neutron;
pub mod nova;
pub mod seed;
pub mod swift;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::cloud::{Cloud, SharedCloud};
use crate::faults::{FaultSettings, Faults};

/// Why devcloud could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The data directory could not be created or used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The clouds.yaml could not be written.
    #[error("cannot write clouds.yaml {path}: {source}")]
    CloudsYaml {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Seeding failed.
    #[error("seeding {cloud}: {message}")]
    Seed {
        /// Which cloud.
        cloud: String,
        /// What went wrong.
        message: String,
    },
}

/// How to start devcloud.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address to listen on (loopback by default).
    pub listen: IpAddr,
    /// The provider cloud's port (0 = a free port).
    pub provider_port: u16,
    /// The hospital cloud's port (0 = a free port).
    pub hospital_port: u16,
    /// Where to write a clouds.yaml (entries `provider`, `hospital`, `provider-admin`,
    /// `hospital-admin`), if anywhere.
    pub clouds_yaml: Option<PathBuf>,
    /// Size of the seeded server's disk (and base image) in bytes.
    pub image_size: u64,
    /// Initial fault settings of both clouds.
    pub faults: FaultSettings,
    /// Seed for everything random (ids of seeded things, generated content, fault draws).
    pub seed: u64,
    /// Where image files live; a temporary directory (removed on stop) when None.
    pub data_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            provider_port: 0,
            hospital_port: 0,
            clouds_yaml: None,
            image_size: 64 * 1024 * 1024,
            faults: FaultSettings::default(),
            seed: 0,
            data_dir: None,
        }
    }
}

/// One running cloud of a [`DevCloud`].
pub struct RunningCloud {
    cloud: SharedCloud,
    addr: SocketAddr,
}

impl RunningCloud {
    /// `provider` or `hospital`.
    pub fn name(&self) -> &str {
        &self.cloud.name
    }
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.cloud.base_url
    }
    /// `http://127.0.0.1:PORT/identity` (unversioned, as in clouds.yaml).
    pub fn auth_url(&self) -> String {
        self.cloud.auth_url()
    }
    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The cloud itself (state, faults, clock) for tests that poke at it directly.
    pub fn cloud(&self) -> &SharedCloud {
        &self.cloud
    }
}

/// Both clouds, running. Dropping it stops them (graceful shutdown in the background);
/// [`DevCloud::stop`] waits for that.
pub struct DevCloud {
    /// The source cloud.
    pub provider: RunningCloud,
    /// The target cloud.
    pub hospital: RunningCloud,
    clouds_yaml: Option<PathBuf>,
    shutdown: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    _tempdir: Option<tempfile::TempDir>,
}

impl DevCloud {
    /// Bind both ports, seed both clouds, write the clouds.yaml if asked, and serve.
    pub async fn start(options: Options) -> Result<DevCloud, Error> {
        let (data_dir, tempdir) = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::DataDir {
                    path: dir.clone(),
                    source,
                })?;
                (dir.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("devcloud-")
                    .tempdir()
                    .map_err(|source| Error::DataDir {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut shutdown = Vec::new();
        let mut tasks = Vec::new();
        let mut clouds = Vec::new();
        for (name, port, seed_offset) in [
            ("provider", options.provider_port, 0u64),
            ("hospital", options.hospital_port, 1u64),
        ] {
            let addr = SocketAddr::new(options.listen, port);
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            let dir = data_dir.join(name);
            std::fs::create_dir_all(&dir).map_err(|source| Error::DataDir {
                path: dir.clone(),
                source,
            })?;
            let glance = glance::Glance::new(&dir).map_err(|source| Error::DataDir {
                path: dir.clone(),
                source,
            })?;
            let host = match addr.ip() {
                IpAddr::V6(ip) => format!("[{ip}]"),
                IpAddr::V4(ip) => ip.to_string(),
            };
            let cloud = Arc::new(Cloud {
                name: name.to_string(),
                region: "RegionOne".to_string(),
                base_url: format!("http://{host}:{}", addr.port()),
                keystone: keystone::Keystone::new(),
                nova: nova::Nova::new(),
                glance,
                neutron: neutron::Neutron::new(),
                cinder: cinder::Cinder::new(),
                swift: swift::Swift::default(),
                faults: Faults::new(
                    options.faults.clone(),
                    options.seed.wrapping_mul(2).wrapping_add(seed_offset),
                ),
                clock: clock::Clock::new(),
                log: faults::RequestLog::default(),
            });
            seed::seed(&cloud, &options).map_err(|message| Error::Seed {
                cloud: name.to_string(),
                message,
            })?;
            let (tx, rx) = oneshot::channel::<()>();
            let app = cloud::with_service_roots(Cloud::router(cloud.clone()));
            tasks.push(tokio::spawn(async move {
                let served = axum::serve(
                    listener,
                    axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
                )
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
                if let Err(e) = served {
                    tracing::error!("devcloud server stopped: {e}");
                }
            }));
            shutdown.push(tx);
            clouds.push(RunningCloud { cloud, addr });
        }
        let hospital = clouds.pop().ok_or_else(|| Error::Seed {
            cloud: "hospital".into(),
            message: "missing".into(),
        })?;
        let provider = clouds.pop().ok_or_else(|| Error::Seed {
            cloud: "provider".into(),
            message: "missing".into(),
        })?;
        let mut dc = DevCloud {
            provider,
            hospital,
            clouds_yaml: None,
            shutdown,
            tasks,
            _tempdir: tempdir,
        };
        if let Some(path) = &options.clouds_yaml {
            clouds_yaml::write(path, &dc).map_err(|source| Error::CloudsYaml {
                path: path.clone(),
                source,
            })?;
            dc.clouds_yaml = Some(path.clone());
        }
        Ok(dc)
    }

    /// The clouds.yaml written at start, if one was asked for.
    pub fn clouds_yaml(&self) -> Option<&Path> {
        self.clouds_yaml.as_deref()
    }

    /// The cloud called `name` (`provider` or `hospital`).
    pub fn cloud(&self, name: &str) -> Option<&RunningCloud> {
        [&self.provider, &self.hospital]
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// The ready-file JSON: `{"provider": {"url", "auth_url", "port"}, "hospital": {...},
    /// "clouds_yaml": path|null}`.
    pub fn ready_json(&self) -> serde_json::Value {
        let one = |c: &RunningCloud| serde_json::json!({"url": c.base_url(), "auth_url": c.auth_url(), "port": c.port()});
        serde_json::json!({
            "provider": one(&self.provider),
            "hospital": one(&self.hospital),
            "clouds_yaml": self.clouds_yaml.as_ref().map(|p| p.display().to_string()),
        })
    }

    /// Stop both clouds and wait until their servers have shut down.
    pub async fn stop(mut self) {
        for tx in self.shutdown.drain(..) {
            let _ = tx.send(());
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for DevCloud {
    fn drop(&mut self) {
        for tx in self.shutdown.drain(..) {
            let _ = tx.send(());
        }
    }
}
