//! The command line: clap parses into plain options, one call into the library, exit codes.

use clap::{Args, Parser, Subcommand};
use hvtriage::rules::{RuleSet, Severity};
use hvtriage::{analyze, report, stream, Options};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hvtriage",
    version,
    about = "Root-cause triage of Hyper-V failover cluster event logs",
    after_help = "Example:\n  hvtriage analyze fixtures/seed-001 -o report.html --json report.json\n  hvtriage fixtures/seed-001            (same as analyze; writes ./hvtriage-report.html)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze one case: files, folders of exported event logs (.evtx, Event XML)
    #[command(
        after_help = "Example:\n  hvtriage analyze case-12345/ -o case-12345.html --tz Asia/Tokyo --lang ja"
    )]
    Analyze(AnalyzeArgs),
    /// Analyze a queue of cases: every sub-folder and .zip of DIR, in parallel
    #[command(
        after_help = "Example:\n  hvtriage batch incoming/ -o reports/ --jobs 2 --fail-on critical\n\nWrites reports/<case>/report.html, report.json and report.csv for each case, and\nreports/index.html, summary.json and summary.csv with one row per case."
    )]
    Batch(BatchArgs),
    /// Merge batch outputs (the shards of one queue) into one index and summary
    #[command(
        after_help = "Example:\n  hvtriage batch incoming/ -o out/ --shard 0/2 &\n  hvtriage batch incoming/ -o out/ --shard 1/2; wait\n  hvtriage index out/\n\nReads the cases' stamps (OUT/.hvtriage/) that each batch leaves, and writes\nindex.html, summary.json and summary.csv with one row per case."
    )]
    Index(IndexArgs),
    /// Print the merged, normalized timeline of a case
    #[command(
        after_help = "Example:\n  hvtriage timeline case-12345/ --format csv > timeline.csv"
    )]
    Timeline(TimelineArgs),
    /// Rule ids, checks and tests
    #[command(
        subcommand,
        after_help = "Examples:\n  hvtriage rules list\n  hvtriage rules check my-rules/\n  hvtriage rules test my-rules/"
    )]
    Rules(RulesCommand),
    /// Explain a rule: its cause, fix, references and the events it needs
    #[command(after_help = "Example:\n  hvtriage explain shared-nic-only-dc-path")]
    Explain {
        /// The rule's id (`hvtriage rules list` shows them)
        rule: String,
        /// A folder of rule files to add to the built-in rules
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Write a real EVTX file from Event XML
    #[command(
        after_help = "Example:\n  hvtriage fixture fixtures/seed-001/HV01/System.xml -o System.evtx"
    )]
    Fixture {
        /// Event XML: a file of <Event> elements, as wevtutil qe /f:xml prints them
        input: PathBuf,
        /// The .evtx file to write
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Rule ids, severities and titles
    #[command(after_help = "Example:\n  hvtriage rules list")]
    List {
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Check rule files; errors name file, line and the fix
    #[command(after_help = "Example:\n  hvtriage rules check my-rules/")]
    Check { dir: Option<PathBuf> },
    /// Run every rule against the fixture cases it names; exit 1 when one fails
    #[command(
        after_help = "Example:\n  hvtriage rules test            (the built-in rules, from the repository root)\n  hvtriage rules test my-rules/"
    )]
    Test { dir: Option<PathBuf> },
}

#[derive(Args)]
struct CaseArgs {
    /// Files, folders (walked recursively) of .evtx or Event XML
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Add the rules of a folder (a rule with a built-in id replaces it)
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Show times in this zone too (IANA name, e.g. Asia/Tokyo); everything stays UTC inside
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-20T01:00:00Z)
    #[arg(long)]
    since: Option<String>,
    /// Only events at or before this time
    #[arg(long)]
    until: Option<String>,
    /// Compare hosts' events as their clocks logged them, without the estimated offsets
    #[arg(long)]
    no_clock_correction: bool,
}

#[derive(Args)]
struct BatchArgs {
    /// The folder of cases: each sub-folder or .zip in it is one case
    dir: PathBuf,
    /// The folder to write the reports, the index and the summaries into
    #[arg(short = 'o', long = "output", required = true)]
    output: PathBuf,
    /// Cases analyzed at once (default: the number of cores)
    #[arg(long)]
    jobs: Option<usize>,
    /// Add the rules of a folder (a rule with a built-in id replaces it)
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Show times in this zone too (IANA name, e.g. Asia/Tokyo); everything stays UTC inside
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-20T01:00:00Z)
    #[arg(long)]
    since: Option<String>,
    /// Only events at or before this time
    #[arg(long)]
    until: Option<String>,
    /// Compare hosts' events as their clocks logged them, without the estimated offsets
    #[arg(long)]
    no_clock_correction: bool,
    /// Language of the findings' texts
    #[arg(long, default_value = "en", value_parser = ["en", "ja"])]
    lang: String,
    /// Exit 1 when any case has a finding of this severity or worse
    #[arg(long, value_parser = ["critical", "error", "warning", "info"])]
    fail_on: Option<String>,
    /// Analyze every case again (by default a case whose files, hvtriage and rules did not
    /// change since the last batch into the same output keeps its reports)
    #[arg(long)]
    force: bool,
    /// Run only the K-th of N shares of the queue (K from 0 to N-1, every N-th case of the
    /// sorted queue), e.g. a Kubernetes Indexed Job's completion index
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
}

/// `K/N` with 0 <= K < N.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not K/N; write e.g. 0/4 (the first of four shares)"))?;
    let (k, n): (usize, usize) = (
        k.trim()
            .parse()
            .map_err(|_| format!("{k:?} is not a number; write e.g. 0/4"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a number; write e.g. 0/4"))?,
    );
    if n == 0 || k >= n {
        return Err(format!(
            "{text}: K must be from 0 to N-1 (the shares of 0/{n} to {}/{n})",
            n.saturating_sub(1)
        ));
    }
    Ok((k, n))
}

#[derive(Args)]
struct IndexArgs {
    /// Batch output folders (of shards of one queue, or of several queues)
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where to write index.html, summary.json and summary.csv (default: the first folder)
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Language of the index's own words
    #[arg(long, default_value = "en", value_parser = ["en", "ja"])]
    lang: String,
}

#[derive(Args)]
struct AnalyzeArgs {
    #[command(flatten)]
    case: CaseArgs,
    /// Write the HTML report here (default ./hvtriage-report.html)
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Write JSON here (`-` for standard output)
    #[arg(long)]
    json: Option<String>,
    /// Write the timeline as CSV here
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Language of the findings' texts
    #[arg(long, default_value = "en", value_parser = ["en", "ja"])]
    lang: String,
    /// Exit 1 when a finding of this severity or worse is found
    #[arg(long, value_parser = ["critical", "error", "warning", "info"])]
    fail_on: Option<String>,
}

#[derive(Args)]
struct TimelineArgs {
    #[command(flatten)]
    case: CaseArgs,
    /// Every record, not only known events
    #[arg(long)]
    all: bool,
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "jsonl"])]
    format: String,
}

/// A failure that ends the command with exit status 2 and one sentence.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(err: E) -> Self {
        Fatal(err.to_string())
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(message) = mistyped_command(&args) {
        eprintln!("hvtriage: {}", report::visible(&message));
        return ExitCode::from(2);
    }
    let cli = Cli::parse_from(with_default_command(args));
    match run(cli) {
        Ok(code) => code,
        Err(Fatal(message)) => {
            // The sentence may name a file of the upload (a zip entry, a folder): made visible,
            // its control characters cannot drive the terminal.
            eprintln!("hvtriage: {}", report::visible(&message));
            ExitCode::from(2)
        }
    }
}

/// The sub-commands, as the first argument names them.
const COMMANDS: [&str; 8] = [
    "analyze", "timeline", "rules", "explain", "fixture", "help", "batch", "index",
];

/// `hvtriage anlyze case` is a mistyped command, not a path, unless such a path exists: one
/// sentence naming the command it resembles.
fn mistyped_command(args: &[std::ffi::OsString]) -> Option<String> {
    let first = args.get(1)?.to_string_lossy().into_owned();
    if first.starts_with('-') || COMMANDS.contains(&first.as_str()) || Path::new(&first).exists() {
        return None;
    }
    let near = COMMANDS
        .iter()
        .map(|c| {
            (
                hvtriage::rules::load::edit_distance(&first.to_lowercase(), c),
                *c,
            )
        })
        .min()?;
    (near.0 <= 2 && !first.contains(['/', '\\', '.'])).then(|| {
        format!(
            "unknown command '{first}' — did you mean {}? (and no file or folder is named '{first}')",
            near.1
        )
    })
}

/// `hvtriage PATH...` means `hvtriage analyze PATH...`.
fn with_default_command(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const TOP_LEVEL: [&str; 4] = ["-h", "--help", "-V", "--version"];
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        return args;
    };
    let is_command = |a: &std::ffi::OsString| COMMANDS.contains(&a.to_string_lossy().as_ref());
    let implicit = if first.starts_with('-') {
        // `hvtriage --lang ja CASE`: options of analyze before its paths.
        !TOP_LEVEL.contains(&first.as_str()) && !args[1..].iter().any(is_command)
    } else {
        !COMMANDS.contains(&first.as_str())
    };
    if implicit {
        args.insert(1, "analyze".into());
    }
    args
}

fn run(cli: Cli) -> Result<ExitCode, Fatal> {
    match cli.command {
        Command::Analyze(args) => run_analyze(args),
        Command::Batch(args) => run_batch(args),
        Command::Index(args) => run_index(args),
        Command::Timeline(args) => run_timeline(args),
        Command::Rules(RulesCommand::List { rules }) => {
            let set = rule_set(rules.as_deref())?;
            let mut text = String::new();
            for r in &set.rules {
                // The title as a reader sees it without a case: placeholders as their default
                // or their name in angle brackets.
                let title = r.text.get("en").map_or_else(String::new, |t| {
                    hvtriage::rules::text::fill(&t.title, |name| Some(format!("<{name}>")))
                });
                let title = title.as_str();
                text.push_str(&format!(
                    "{:<40} {:<9} {}\n",
                    report::visible(&r.id),
                    r.severity.as_str(),
                    report::visible(title)
                ));
            }
            print(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Check { dir }) => {
            // Without a folder: `rules/` of the source tree when here (edits are checked
            // before a rebuild), else the rules built into the binary.
            let dir = dir.or_else(|| Some(PathBuf::from("rules")).filter(|d| d.is_dir()));
            let set = rule_set(dir.as_deref())?;
            print(&format!(
                "{} rules and {} signals: no mistakes found\n",
                set.rules.len(),
                set.catalogue.signals.len()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Test { dir }) => run_rules_test(dir.as_deref()),
        Command::Explain { rule, rules } => {
            let set = rule_set(rules.as_deref())?;
            let r = set.get(&rule).ok_or_else(|| {
                Fatal(format!(
                    "no rule `{rule}`; `hvtriage rules list` shows the rule ids"
                ))
            })?;
            print(&report::explain(r, &set))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fixture { input, output } => {
            refuse_special(&input)?;
            if hvtriage::outputs::same_file(&output, &input) {
                return Err(Fatal(format!(
                    "{}: -o names the input itself, which would be overwritten; write the EVTX file to another path",
                    shown(&output)
                )));
            }
            let xml = std::fs::read_to_string(&input)
                .map_err(|e| Fatal(format!("{}: cannot be read ({e})", input.display())))?;
            let bytes = hvtriage::evtx_write::write_evtx(&xml)
                .map_err(|e| Fatal(format!("{}: {e}", input.display())))?;
            // A file header and no chunk: the input held no event.
            if bytes.len() <= 4096 {
                return Err(Fatal(format!(
                    "{}: the input holds no <Event> element, so there is nothing to write; pass Event XML as wevtutil qe /f:xml prints it",
                    input.display()
                )));
            }
            std::fs::write(&output, bytes)
                .map_err(|e| Fatal(format!("{}: cannot be written ({e})", output.display())))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Refuses an input that exists but is not a regular file or folder: reading a FIFO waits
/// for a writer forever, and a device or socket is no log.
fn refuse_special(path: &Path) -> Result<(), Fatal> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => Err(Fatal(format!(
            "{}: not a regular file (a FIFO, socket or device), so it is not read; name an Event XML file",
            shown(path)
        ))),
        _ => Ok(()),
    }
}

fn run_rules_test(dir: Option<&Path>) -> Result<ExitCode, Fatal> {
    let set = rule_set(dir)?;
    if dir.is_none() {
        // The built-in rules' fixtures live in the source tree, beside `rules/`.
        if let Some(missing) = set
            .rules
            .iter()
            .flat_map(|r| &r.fixtures)
            .find(|f| !f.case.exists())
        {
            return Err(Fatal(format!(
                "{}: fixture case not found; run `hvtriage rules test` in the hvtriage source folder (the built-in rules' fixtures are in its fixtures/), or pass a folder of your own rules",
                missing.case.display()
            )));
        }
    }
    // With a folder, its rules are tested; without, the built-in ones.
    let outcomes = hvtriage::rules::proof::run(&set, |rule| {
        dir.is_none_or(|dir| Path::new(&rule.file).starts_with(dir))
    });
    let mut text = String::new();
    for o in &outcomes {
        let verdict = if o.failure.is_some() { "FAIL" } else { "pass" };
        text.push_str(&format!(
            "{verdict}  {:<40} {}",
            report::visible(&o.rule),
            report::visible(&o.case.display().to_string())
        ));
        match &o.failure {
            Some(why) => text.push_str(&format!("\n      {}\n", report::visible(why))),
            None => text.push_str(&format!("  ({})\n", report::visible(&o.found))),
        }
    }
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    text.push_str(&format!(
        "{} passed, {failed} failed\n",
        outcomes.len() - failed
    ));
    print(&text)?;
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn rule_set(dir: Option<&Path>) -> Result<RuleSet, Fatal> {
    let set = match dir {
        Some(dir) => RuleSet::with_dir(dir)?,
        None => RuleSet::builtin()?,
    };
    Ok(set)
}

fn options(case: &CaseArgs, lang: &str, all: bool) -> Result<Options, Fatal> {
    let time_zone: chrono_tz::Tz = case.tz.parse().map_err(|_| {
        Fatal(format!(
            "--tz {:?} is not a time zone; write an IANA name such as UTC or Asia/Tokyo",
            case.tz
        ))
    })?;
    let time = |flag: &str, value: &Option<String>, end_of_day: bool| -> Result<_, Fatal> {
        value
            .as_deref()
            .map(|v| {
                hvtriage::input::xml::parse_time(v)
                    .or_else(|| date_only(v, end_of_day))
                    .ok_or_else(|| {
                        Fatal(format!(
                            "--{flag} {v:?} is not a time; write a date (2026-11-20) or RFC 3339 such as 2026-11-20T01:00:00Z"
                        ))
                    })
            })
            .transpose()
    };
    let since = time("since", &case.since, false)?;
    let until = time("until", &case.until, true)?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(Fatal(format!(
                "--since {} is after --until {}: nothing could be shown; swap them",
                report::utc(s),
                report::utc(u)
            )));
        }
    }
    Ok(Options {
        case: None,
        time_zone,
        lang: lang.to_string(),
        since,
        until,
        all,
        correct_clocks: !case.no_clock_correction,
        ..Options::default()
    })
}

/// `2026-11-20` alone: the start of that day in UTC for --since, its last moment for --until.
fn date_only(text: &str, end_of_day: bool) -> Option<chrono::DateTime<chrono::Utc>> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let time = if end_of_day {
        day.and_hms_milli_opt(23, 59, 59, 999)?
    } else {
        day.and_hms_opt(0, 0, 0)?
    };
    Some(time.and_utc())
}

/// Where the HTML report goes when `-o` is not given.
const DEFAULT_REPORT: &str = "hvtriage-report.html";

fn run_analyze(args: AnalyzeArgs) -> Result<ExitCode, Fatal> {
    let rules = rule_set(args.case.rules.as_deref())?;
    let options = options(&args.case, &args.lang, false)?;
    let html_path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_REPORT));
    check_outputs(&args, &html_path)?;
    let analysis =
        analyze(&args.case.paths, &rules, &options).map_err(|e| Fatal(e.in_lang(&options.lang)))?;
    write_file(&html_path, &report::html::render(&analysis))?;
    if let Some(path) = &args.csv {
        write_file(path, &report::csv::render(&analysis))?;
    }
    let json_to_stdout = args.json.as_deref() == Some("-");
    match args.json.as_deref() {
        Some("-") => print(&report::json::render(&analysis))?,
        Some(path) => write_file(Path::new(path), &report::json::render(&analysis))?,
        None => {}
    };
    if json_to_stdout {
        // Standard output holds the JSON alone; the summary (findings, warnings) and the
        // report's path go to standard error.
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!(
            "{}",
            report::terminal::render(&analysis, report::terminal::Style { color })
        );
        eprintln!("{}", written(&options.lang, "HTML", &shown(&html_path)));
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print(&report::terminal::render(
            &analysis,
            report::terminal::Style { color },
        ))?;
        for (flag, path) in [
            ("JSON", args.json.as_deref()),
            ("CSV", args.csv.as_deref().and_then(Path::to_str)),
        ] {
            if let Some(path) = path {
                print(&format!(
                    "{}\n",
                    written(&options.lang, flag, &report::visible(path))
                ))?;
            }
        }
        print(&format!(
            "{}\n",
            written(&options.lang, "HTML", &shown(&html_path))
        ))?;
    }
    let fail_on = args.fail_on.as_deref().and_then(Severity::parse);
    let failed = fail_on.is_some_and(|limit| analysis.worst().is_some_and(|worst| worst <= limit));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Refuses, before anything is read, outputs that would replace an input, an event log or
/// each other.
fn check_outputs(args: &AnalyzeArgs, html_path: &Path) -> Result<(), Fatal> {
    use hvtriage::outputs::Output;
    let json = args.json.as_deref().filter(|j| *j != "-").map(Path::new);
    let outputs: Vec<Output> = [
        Some(("the HTML report (-o)", html_path)),
        json.map(|p| ("the JSON (--json)", p)),
        args.csv.as_deref().map(|p| ("the CSV (--csv)", p)),
    ]
    .into_iter()
    .flatten()
    .map(|(what, path)| Output { what, path })
    .collect();
    hvtriage::outputs::check(&outputs, &args.case.paths)?;
    Ok(())
}

fn run_batch(args: BatchArgs) -> Result<ExitCode, Fatal> {
    let rules = rule_set(args.rules.as_deref())?;
    let case = CaseArgs {
        paths: vec![args.dir.clone()],
        rules: None,
        tz: args.tz,
        since: args.since,
        until: args.until,
        no_clock_correction: args.no_clock_correction,
    };
    let options = options(&case, &args.lang, false)?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let batch = hvtriage::batch::BatchOptions {
        jobs,
        progress: true,
        force: args.force,
        shard: args.shard,
        rules_fingerprint: rules.fingerprint,
    };
    let rows = hvtriage::batch::run(&args.dir, &args.output, &rules, &options, &batch)?;
    let ja = options.lang == "ja";
    let severity = hvtriage::report::i18n::words(&options.lang);
    let width = rows
        .iter()
        .map(|r| report::visible(&r.case).chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for r in &rows {
        let line = match (&r.error, &r.top_finding) {
            (Some(error), _) => format!(
                "{}{}",
                if ja {
                    "解析できませんでした: "
                } else {
                    "not analyzed: "
                },
                error
            ),
            (None, Some(top)) => {
                format!("{:<8}  {}", severity.severity_name(top.severity), top.title)
            }
            (None, None) => (if ja {
                "診断結果なし"
            } else {
                "no finding"
            })
            .to_string(),
        };
        print(&format!(
            "  {:<width$}  {}\n",
            report::visible(&r.case),
            report::visible(&line)
        ))?;
    }
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let with_findings = rows.iter().filter(|r| r.findings > 0).count();
    let reused = rows.iter().filter(|r| r.reused).count();
    let index = shown(&args.output.join("index.html"));
    print(&if ja {
        format!(
            "ケース {} 件: 診断結果あり {with_findings} 件、解析できなかったもの {failed} 件 (前回の結果を再利用 {reused} 件)。一覧: {index}\n",
            rows.len()
        )
    } else {
        format!(
            "{} cases: {with_findings} with findings, {failed} not analyzed ({reused} unchanged since the last run, reused). Index: {index}\n",
            rows.len()
        )
    })?;
    let fail_on = args.fail_on.as_deref().and_then(Severity::parse);
    let failed = fail_on.is_some_and(|limit| hvtriage::batch::any_at_or_above(&rows, limit));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_index(args: IndexArgs) -> Result<ExitCode, Fatal> {
    let out = args.output.clone().unwrap_or_else(|| args.dirs[0].clone());
    let rows = hvtriage::batch::merge(&args.dirs, &out, &args.lang)?;
    let failed = rows.iter().filter(|r| r.error.is_some()).count();
    let with_findings = rows.iter().filter(|r| r.findings > 0).count();
    print(&format!(
        "{} cases: {with_findings} with findings, {failed} not analyzed. Index: {}\n",
        rows.len(),
        shown(&out.join("index.html"))
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// "HTML report written to PATH" (or JSON, CSV), in the report's language.
fn written(lang: &str, what: &str, path: &str) -> String {
    match (lang, what) {
        ("ja", "HTML") => format!("HTML レポートを書き出しました: {path}"),
        ("ja", _) => format!("{what} を書き出しました: {path}"),
        (_, "HTML") => format!("HTML report written to {path}"),
        _ => format!("{what} written to {path}"),
    }
}

fn run_timeline(args: TimelineArgs) -> Result<ExitCode, Fatal> {
    let options = options(&args.case, "en", args.all)?;
    if args.all {
        // Every record, whatever the rules say; rules given are still checked.
        if args.case.rules.is_some() {
            rule_set(args.case.rules.as_deref())?;
        }
        return stream_timeline(&args, &options);
    }
    let rules = rule_set(args.case.rules.as_deref())?;
    let analysis = analyze(&args.case.paths, &rules, &options)?;
    let text = match args.format.as_str() {
        "csv" => report::csv::render(&analysis),
        "jsonl" => report::json::timeline_lines(&analysis),
        _ => report::terminal::timeline(&analysis),
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// How many of `timeline --all`'s warnings go to standard error one by one.
const WARNINGS_SHOWN: usize = 10;

/// `timeline --all`: every record, streamed to standard output as it is merged.
fn stream_timeline(args: &TimelineArgs, options: &Options) -> Result<ExitCode, Fatal> {
    let format = match args.format.as_str() {
        "csv" => stream::Format::Csv,
        "jsonl" => stream::Format::Jsonl,
        _ => stream::Format::Text,
    };
    let mut out = std::io::stdout();
    match stream::timeline_all(
        &args.case.paths,
        options,
        format,
        stream::MEMORY_BUDGET,
        &mut out,
    ) {
        Ok(streamed) => {
            // What could not be read is said on standard error, the lines being the output.
            for warning in streamed.warnings.iter().take(WARNINGS_SHOWN) {
                eprintln!("hvtriage: warning: {}", report::visible(warning));
            }
            if streamed.warnings.len() > WARNINGS_SHOWN {
                eprintln!(
                    "hvtriage: {} more warnings; `hvtriage analyze` reports them all",
                    streamed.warnings.len() - WARNINGS_SHOWN
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(stream::StreamError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            std::process::exit(0)
        }
        Err(stream::StreamError::Io(e)) => Err(Fatal(format!(
            "cannot write the timeline ({e}); check standard output and the temporary folder ($TMPDIR) have room"
        ))),
        Err(stream::StreamError::Case(e)) => Err(e.into()),
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), Fatal> {
    hvtriage::outputs::write_atomic(path, text.as_bytes()).map_err(|e| {
        Fatal(format!(
            "{}: cannot be written ({e}); check the folder exists and is writable",
            path.display()
        ))
    })
}

/// A path as the terminal shows it: its control characters as visible escapes.
fn shown(path: &Path) -> String {
    report::visible(&path.display().to_string()).into_owned()
}

/// Prints to standard output; a closed pipe (`| head`) ends quietly.
fn print(text: &str) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Fatal(format!("cannot write to standard output ({e})"))),
        Ok(()) => Ok(()),
    }
}
