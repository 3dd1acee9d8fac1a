//! `haven authority`: the migration authority of
//! `migration_auth = "authority"` (SPEC H9), which hands out the one-time
//! tickets a source host needs before each migration. The protocol is in
//! [`haven_agent::authority`].

use crate::input_error;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Serve tickets on a TCP address until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on, ADDR:PORT (an address of the authority
    /// network; port 0 picks a free one). Repeat it for an authority
    /// reached over several networks: one set of tickets serves them all.
    #[arg(long, required = true)]
    listen: Vec<String>,
    /// Listen inside this network namespace (under /run/netns), so only
    /// hosts on that namespace's networks reach the authority.
    #[arg(long)]
    netns: Option<String>,
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    // Parsed here, not by clap, so a bad address is one sentence.
    let mut addrs = Vec::new();
    for listen in &args.listen {
        let Ok(addr) = listen.parse::<SocketAddr>() else {
            return input_error(format!(
                "--listen {listen:?} is not ADDR:PORT; give an IP address and a port, such as \
                 10.0.3.1:7400 or [fd00::1]:7400"
            ));
        };
        addrs.push(addr);
    }
    let mut listeners = Vec::new();
    for addr in addrs {
        match bind(addr, args.netns.as_deref()) {
            Ok(listener) => listeners.push(listener),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return input_error(e),
            Err(e) => {
                eprintln!("haven: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let served = runtime.and_then(|runtime| runtime.block_on(serve_until_signal(listeners)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("haven: the migration authority stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds `addr`, inside namespace `netns` if given: a socket keeps the
/// namespace it was made in, whichever thread uses it later.
fn bind(addr: SocketAddr, netns: Option<&str>) -> io::Result<std::net::TcpListener> {
    let make = move || -> io::Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {addr}: {e}; check that the address is this host's and the port is free"),
            )
        })?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    };
    match netns {
        None => make(),
        Some(name) => haven_agent::netns::run_in(name, make).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => io::Error::new(
                e.kind(),
                format!("{e}; check the name, or create it with `ip netns add {name}`"),
            ),
            kind => io::Error::new(
                kind,
                format!("cannot enter network namespace {name}: {e}; run as root (or with CAP_SYS_ADMIN)"),
            ),
        })?,
    }
}

async fn serve_until_signal(listeners: Vec<std::net::TcpListener>) -> io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let listeners = (listeners.into_iter())
        .map(tokio::net::TcpListener::from_std)
        .collect::<io::Result<Vec<_>>>()?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    for listener in &listeners {
        println!("haven authority: listening on {}", listener.local_addr()?);
    }
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let limits = haven_agent::authority::Limits::default();
    haven_agent::authority::serve_on(listeners, limits, stop).await
}
