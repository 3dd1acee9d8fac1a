//! `haven validate`: the topology rules V1-V6 (SPEC section 6).

use crate::input_error;
use haven_core::parse::{load_lenient, Lenient};
use haven_core::validate::{dangling_findings, validate, Finding, Severity};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scenario or inventory file.
    #[arg(required_unless_present = "file_flag", conflicts_with = "file_flag")]
    file: Option<PathBuf>,
    /// The scenario or inventory file (the same as the positional FILE).
    #[arg(long = "file", value_name = "FILE")]
    file_flag: Option<PathBuf>,
    /// Print the findings as a JSON array.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> ExitCode {
    let Some(path) = args.file.or(args.file_flag) else {
        return input_error("name the file to validate: haven validate FILE");
    };
    let findings = match load_lenient(&path) {
        Ok(Lenient::Valid(scenario)) => validate(&scenario.cluster),
        Ok(Lenient::Dangling(dangling)) => dangling_findings(&dangling),
        Err(e) => return input_error(e),
    };
    if args.json {
        let json = serde_json::to_string_pretty(&findings).expect("findings serialise");
        println!("{json}");
    } else {
        print!("{}", report(&path.display().to_string(), &findings));
    }
    match findings.iter().any(|f| f.severity == Severity::Error) {
        true => ExitCode::FAILURE,
        false => ExitCode::SUCCESS,
    }
}

/// The readable report: findings grouped by node in the order they came,
/// then a count.
pub fn report(file: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    let mut groups: Vec<(Option<&str>, Vec<&Finding>)> = Vec::new();
    for f in findings {
        let node = f.node.as_deref();
        match groups.iter_mut().find(|(n, _)| *n == node) {
            Some((_, list)) => list.push(f),
            None => groups.push((node, vec![f])),
        }
    }
    for (node, list) in &groups {
        match node {
            Some(node) => out.push_str(&format!("node {node}\n")),
            None => out.push_str("cluster\n"),
        }
        for f in list {
            out.push_str(&line(f));
        }
        out.push('\n');
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    out.push_str(&format!(
        "{file}: {}, {}, {} info\n",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        count(Severity::Info)
    ));
    out
}

/// One finding: `  error    V1  eth0: what` and an indented `fix:` line.
pub fn line(f: &Finding) -> String {
    let mut about: Vec<String> = Vec::new();
    if let Some(line) = f.line {
        about.push(format!("line {line}"));
    }
    about.extend(f.switch.iter().map(|s| format!("switch {s}")));
    about.extend(f.nic.iter().map(|n| format!("nic {n}")));
    let about = match about.is_empty() {
        true => String::new(),
        false => format!("[{}] ", about.join(", ")),
    };
    format!(
        "  {:<7}  {}  {about}{}\n{:13}fix: {}\n",
        f.severity.as_str(),
        f.rule,
        f.what,
        "",
        f.fix
    )
}
