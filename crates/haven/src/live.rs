//! Reaching a live cluster from the command line: from a node (its agent
//! configuration says where etcd is) or from outside (`--cluster
//! ENDPOINTS`) [S0.11].

use std::path::PathBuf;

/// Where the node's agent configuration is unless `--config` says.
pub const DEFAULT_CONFIG: &str = "/etc/haven/agent.toml";

/// How a command finds a live cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// etcd client URLs of the cluster, comma-separated, when not run on a
    /// node (default: the etcd of this node's agent configuration).
    #[arg(long, value_name = "ENDPOINTS", value_delimiter = ',')]
    cluster: Option<Vec<String>>,
    /// The cluster's name in etcd (default: the agent configuration's, or
    /// the only cluster etcd holds).
    #[arg(long, value_name = "NAME")]
    cluster_name: Option<String>,
    /// The node's agent configuration, for its etcd endpoints and TLS files.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// CA, client certificate and key (PEM) for etcd over TLS, with
    /// `--cluster`.
    #[arg(long, requires_all = ["tls_cert", "tls_key"], value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    #[arg(long, requires_all = ["tls_ca", "tls_key"], value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires_all = ["tls_ca", "tls_cert"], value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

#[cfg(feature = "etcd")]
pub use with_etcd::*;

#[cfg(feature = "etcd")]
mod with_etcd {
    use super::{ClusterArgs, DEFAULT_CONFIG};
    use haven_agent::config::AgentConfig;
    use haven_agent::store::{clusters, Store, TlsFiles};
    use std::path::PathBuf;
    use std::time::Duration;

    /// How long a command waits for etcd.
    const TIMEOUT: Duration = Duration::from_secs(5);

    /// Why a command cannot reach its cluster.
    pub enum Unreachable {
        /// Bad flags or configuration: exit status 2.
        Input(String),
        /// etcd did not answer: exit status 1.
        Store(String),
    }

    /// A runtime for one command.
    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime starts")
    }

    /// Connects to the cluster `args` name.
    pub async fn connect(args: &ClusterArgs) -> Result<Store, Unreachable> {
        let (endpoints, name, tls) = match &args.cluster {
            Some(endpoints) => {
                let tls = match (&args.tls_ca, &args.tls_cert, &args.tls_key) {
                    (Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
                        ca: ca.clone(),
                        cert: cert.clone(),
                        key: key.clone(),
                    }),
                    _ => None,
                };
                (endpoints.clone(), args.cluster_name.clone(), tls)
            }
            None => {
                let path = (args.config.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
                if args.config.is_none() && !path.exists() {
                    return Err(Unreachable::Input(format!(
                        "{DEFAULT_CONFIG} does not exist, so this is not a haven node; give the cluster's etcd with --cluster http://HOST:2379, or the agent configuration with --config FILE"
                    )));
                }
                let config =
                    AgentConfig::load(&path).map_err(|e| Unreachable::Input(e.to_string()))?;
                let tls = config.etcd_tls_files();
                let name = args.cluster_name.clone().or(Some(config.cluster.clone()));
                (config.etcd, name, tls)
            }
        };
        let name = match name {
            Some(name) => name,
            None => {
                let found = clusters(&endpoints, tls.as_ref(), TIMEOUT)
                    .await
                    .map_err(|e| Unreachable::Store(e.to_string()))?;
                match found.as_slice() {
                    [one] => one.clone(),
                    [] => {
                        return Err(Unreachable::Input(format!(
                        "etcd at {} holds no haven cluster; store one with `haven cluster init`",
                        endpoints.join(",")
                    )))
                    }
                    many => {
                        return Err(Unreachable::Input(format!(
                            "etcd at {} holds the clusters {}; choose one with --cluster-name",
                            endpoints.join(","),
                            many.join(", ")
                        )))
                    }
                }
            }
        };
        Store::connect(&endpoints, tls.as_ref(), &name, TIMEOUT)
            .await
            .map_err(|e| Unreachable::Store(e.to_string()))
    }
}

/// The message of a live command in a build without etcd.
#[cfg(not(feature = "etcd"))]
pub const NO_ETCD: &str = "this haven was built without etcd support, so it cannot reach a live cluster; rebuild it with `cargo build --release --features etcd` (needs protoc: apt-get install protobuf-compiler libprotobuf-dev), or work on a file with --file";
