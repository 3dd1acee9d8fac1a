//! `haven cluster`: a live cluster's inventory in etcd.

use crate::input_error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Validate an inventory file and store it in etcd, with each VM's
    /// owner (its `node`) where none is recorded yet.
    Init(InitArgs),
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The inventory (a scenario file; its steps are ignored).
    #[arg(long)]
    file: PathBuf,
    /// etcd client URLs, comma-separated (`http://10.0.0.1:2379,...`).
    #[arg(long, value_delimiter = ',', required = true)]
    etcd: Vec<String>,
    /// The cluster's name: its keys live under `/haven/NAME/`. Default: the
    /// inventory's `name`.
    #[arg(long)]
    cluster_name: Option<String>,
    /// Store the inventory even when validation finds errors (they are
    /// printed): to reproduce a known-bad wiring on purpose, as the lab's
    /// seed-001 runs do.
    #[arg(long)]
    force: bool,
    /// CA, client certificate and key (PEM) for etcd over TLS.
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    tls_ca: Option<PathBuf>,
    #[arg(long, requires_all = ["tls_ca", "tls_key"])]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires_all = ["tls_ca", "tls_cert"])]
    tls_key: Option<PathBuf>,
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Init(args) => init(args),
    }
}

#[cfg(not(feature = "etcd"))]
fn init(args: InitArgs) -> ExitCode {
    let _ = args;
    input_error(
        "this haven was built without etcd support; rebuild it with \
         `cargo build --release --features etcd` (needs protoc: apt-get install \
         protobuf-compiler libprotobuf-dev)",
    )
}

#[cfg(feature = "etcd")]
fn init(args: InitArgs) -> ExitCode {
    use haven_agent::store::{Store, TlsFiles};
    use haven_core::parse::{load_text, parse_scenario};
    use haven_core::validate::{validate, Severity};
    use std::time::Duration;

    // Read once: the text is stored as it is, the parse validates it.
    let file = args.file.display().to_string();
    let parsed = load_text(&args.file).and_then(|text| Ok((parse_scenario(&file, &text)?, text)));
    let (scenario, text) = match parsed {
        Ok(both) => both,
        Err(e) => return input_error(e),
    };
    let findings = validate(&scenario.cluster);
    let errors: Vec<_> = (findings.iter())
        .filter(|f| f.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        eprint!("{}", crate::validate::report(&file, &findings));
        if !args.force {
            eprintln!("haven: {file} has validation errors; fix them (see above) before storing it, or store it anyway with --force");
            return ExitCode::FAILURE;
        }
        eprintln!("haven: storing {file} despite its validation errors (--force)");
    }
    let cluster = args.cluster_name.unwrap_or_else(|| scenario.name.clone());
    let tls = match (args.tls_ca, args.tls_cert, args.tls_key) {
        (Some(ca), Some(cert), Some(key)) => Some(TlsFiles { ca, cert, key }),
        _ => None,
    };
    let owners: Vec<(String, String)> = (scenario.cluster.vms.iter())
        .map(|vm| (vm.name.clone(), vm.node.clone()))
        .collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("haven: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stored = runtime.block_on(async {
        let store =
            Store::connect(&args.etcd, tls.as_ref(), &cluster, Duration::from_secs(10)).await?;
        store.put_inventory(&text).await?;
        store.init_owners(&owners).await
    });
    match stored {
        Ok(created) => {
            println!(
                "cluster {cluster}: inventory stored ({} nodes, {} VMs); {created} owner(s) recorded, {} kept",
                scenario.cluster.nodes.len(),
                owners.len(),
                owners.len() - created
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("haven: {e}");
            ExitCode::FAILURE
        }
    }
}
