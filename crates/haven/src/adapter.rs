//! `haven adapter list|set`: per-adapter protection [S0.11].

use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print each adapter: VMName, SwitchName, MacAddress, ClusterMonitored.
    List,
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::List => crate::input_error("not implemented yet"),
    }
}
