//! `haven cert`: the cluster CA and the nodes' migration certificates
//! (SPEC H9), in the layout QEMU's `tls-creds-x509` reads.

use haven_agent::cert::{self, CertError, NodeNames};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create a cluster CA: DIR/ca-cert.pem and DIR/ca-key.pem (mode 0600).
    Ca {
        /// Directory to create the CA in (made if missing).
        #[arg(long)]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "haven cluster CA")]
        name: String,
    },
    /// Create a node's migration certificates signed by the CA: ca-cert.pem,
    /// server-cert.pem, server-key.pem, client-cert.pem, client-key.pem.
    Node {
        /// The CA directory (from `haven cert ca`).
        #[arg(long)]
        ca: PathBuf,
        /// The node's name (also a DNS name in the certificate).
        #[arg(long)]
        name: String,
        /// An address peers migrate to (its migration network address);
        /// repeat for several.
        #[arg(long = "ip")]
        ips: Vec<IpAddr>,
        /// A further DNS name of the node; repeat for several.
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// Directory to write the node's files to (made if missing); give it
        /// to the agent as its TLS directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write DIR/dh-params.pem (RFC 7919 ffdhe2048) into a node directory
    /// made without it: QEMU otherwise generates Diffie-Hellman parameters
    /// for every incoming migration, which can take seconds.
    DhParams {
        /// The node's TLS directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

pub fn run(command: Command) -> ExitCode {
    let (result, done) = match command {
        Command::Ca { dir, name } => {
            let done = format!("created the cluster CA in {}", dir.display());
            (cert::create_ca(&dir, &name), done)
        }
        Command::Node {
            ca,
            name,
            ips,
            dns,
            dir,
        } => {
            let done = format!(
                "created the certificates of node {name} in {}",
                dir.display()
            );
            let names = NodeNames {
                node: name,
                ips,
                dns,
            };
            (cert::create_node(&ca, &names, &dir), done)
        }
        Command::DhParams { dir } => {
            let done = format!("wrote {}", dir.join(cert::DH_PARAMS).display());
            (cert::create_dh_params(&dir), done)
        }
    };
    match result {
        Ok(()) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e @ CertError::Write { .. }) => {
            eprintln!("haven: {e}");
            ExitCode::FAILURE
        }
        Err(e) => crate::input_error(e),
    }
}
