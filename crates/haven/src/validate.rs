//! `haven validate`: the topology rules V1-V6 (SPEC section 6).

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scenario or inventory file.
    file: PathBuf,
}

pub fn run(args: Args) -> ExitCode {
    crate::input_error(format!("{}: validate is not implemented yet", args.file.display()))
}
