//! `haven agent --config FILE`: the node daemon (see `haven_agent::agent`).

use crate::input_error;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The agent configuration (see `haven_agent::config`).
    #[arg(long, value_name = "FILE", default_value = crate::live::DEFAULT_CONFIG)]
    config: PathBuf,
}

#[cfg(not(feature = "etcd"))]
pub fn run(args: Args) -> ExitCode {
    let _ = args;
    input_error(crate::live::NO_ETCD)
}

#[cfg(feature = "etcd")]
pub fn run(args: Args) -> ExitCode {
    use haven_agent::agent::AgentError;
    use haven_agent::config::AgentConfig;

    let config = match AgentConfig::load(&args.config) {
        Ok(config) => config,
        Err(e) => return input_error(e),
    };
    // Before any thread exists, so that every thread starts inside.
    if let Some(ns) = &config.netns {
        if let Err(e) = haven_agent::netns::enter_named(ns) {
            return input_error(format!(
                "{}: `netns = {ns:?}`: {e}; create it with `ip netns add {ns}` or remove the key",
                args.config.display()
            ));
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("haven: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(haven_agent::agent::run(config, stop_signal()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(AgentError::Input(message)) => input_error(message),
        Err(e) => {
            eprintln!("haven: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM.
#[cfg(feature = "etcd")]
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
