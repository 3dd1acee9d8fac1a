//! Property tests (proptest) for robustness: the parser against mutated and
//! arbitrary input, the engine against arbitrary event sequences. Failing
//! cases are kept by proptest in `proptest-regressions/` and replayed first.
//!
//! The case counts keep this within seconds in the test command; raise them
//! by hand with `PROPTEST_CASES=100000 cargo test --release --test fuzz`.

use haven_core::event::FailureCause;
use haven_core::parse::parse_scenario;
use haven_core::{Action, Engine, Input, MigrationId};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// `PROPTEST_CASES` when set, else the bounded default of the test command.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn examples() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

/// One edit of a text.
#[derive(Clone, Debug)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Replace one byte (at a char boundary) with an ASCII character.
    Replace(usize, u8),
    Insert(usize, String),
    Truncate(usize),
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("=".to_string()),
        Just("[[".to_string()),
        Just("]".to_string()),
        Just("\"".to_string()),
        Just("{".to_string()),
        Just("\n".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("\"10 s\"".to_string()),
        Just("members = []".to_string()),
        Just("protected = false".to_string()),
        Just("node = \"B\"".to_string()),
        Just("[[step]]\nat = 0\naction = \"node_down\"\nnode = \"A\"\n".to_string()),
        Just("é".to_string()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), 32u8..127).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn boundary(text: &str, i: usize) -> usize {
    let mut i = i % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let line = lines[i % n];
            lines.insert(i % n, line);
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
        Mutation::Replace(i, b) => {
            let at = boundary(text, *i);
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            return format!("{}{}{}", &text[..at], *b as char, &text[end..]);
        }
        Mutation::Insert(i, t) => {
            let at = boundary(text, *i);
            return format!("{}{t}{}", &text[..at], &text[at..]);
        }
        Mutation::Truncate(i) => return text[..boundary(text, *i)].to_string(),
        _ => {}
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(600)))]

    /// A mutated example never panics the parser; a refusal always names a
    /// line inside the file; and whatever is accepted simulates with H12
    /// intact.
    #[test]
    fn mutated_scenarios_are_refused_with_a_line_or_simulate_cleanly(
        pick in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
        seed in any::<u64>(),
    ) {
        let files = examples();
        let (name, text) = &files[pick % files.len()];
        let mut text = text.clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        match parse_scenario(name, &text) {
            Err(e) => {
                let line = e.line.expect("a parse error names its line");
                prop_assert!(line >= 1 && line <= text.lines().count() + 1, "{e}");
                prop_assert!(!e.message.is_empty());
                let prefix = format!("{name}:{line}: ");
                prop_assert!(e.to_string().starts_with(&prefix));
            }
            Ok(scenario) => {
                if let Err(e) = haven_sim::simulate(&scenario, seed) {
                    return Err(TestCaseError::fail(format!("{e}\n{text}")));
                }
            }
        }
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_text_never_panics_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_scenario("fuzz.toml", &text) {
            prop_assert!(e.line.is_some());
        }
    }
}

/// An input the engine may or may not accept.
#[derive(Clone, Debug)]
enum Op {
    Link(usize, usize, bool),
    NodeDown(usize),
    NodeUp(usize),
    Drain(usize, bool),
    Protect(usize, usize, bool),
    /// Complete or fail the k-th migration started so far (possibly done).
    Complete(usize),
    Fail(usize, u8),
    /// Confirm a cancel of the k-th migration (right only after an abort).
    Cancel(usize),
    /// A migration id the engine never handed out.
    Bogus(u64),
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..4usize, 0..5usize, any::<bool>()).prop_map(|(n, i, u)| Op::Link(n, i, u)),
        1 => (0..4usize).prop_map(Op::NodeDown),
        1 => (0..4usize).prop_map(Op::NodeUp),
        1 => (0..4usize, any::<bool>()).prop_map(|(n, d)| Op::Drain(n, d)),
        1 => (0..7usize, 0..3usize, any::<bool>()).prop_map(|(v, s, p)| Op::Protect(v, s, p)),
        3 => any::<usize>().prop_map(Op::Complete),
        2 => (any::<usize>(), 0..4u8).prop_map(|(k, c)| Op::Fail(k, c)),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => (1000u64..2000).prop_map(Op::Bogus),
        2 => (0u64..90_000).prop_map(Op::Wait),
    ]
}

const CLUSTER: &str = r#"
[settings]
max_concurrent_migrations = 2
hold_down_ms = 300
retry_backoff_s = 5
[[network]]
name = "Mgmt"
control = true
authority = true
[[network]]
name = "Private"
migration = true
[[network]]
name = "Corp"
[[network]]
name = "Backup"
"#;

fn engine_cluster() -> String {
    let mut s = CLUSTER.to_string();
    for n in ["A", "B", "C"] {
        s += &format!(
            "[[node]]\nname = \"{n}\"\nmemory_mb = 16384\nnics = [ {{ name = \"eth0\", network = \"Mgmt\" }}, \
             {{ name = \"eth1\", network = \"Corp\" }}, {{ name = \"eth2\", network = \"Private\" }}, \
             {{ name = \"eth3\", network = \"Backup\" }} ]\nswitches = [ {{ name = \"Corp\", uplink = \"eth1\" }}, \
             {{ name = \"Backup\", uplink = \"eth3\" }} ]\n"
        );
    }
    for i in 0..6 {
        let node = ["A", "B", "C"][i % 3];
        s += &format!(
            "[[vm]]\nname = \"VM{i}\"\nnode = \"{node}\"\nmemory_mb = 4096\nadapters = [ \
             {{ switch = \"Corp\", mac = \"00155D0000{i:02}\" }}, \
             {{ switch = \"Backup\", mac = \"00155D0001{i:02}\", protected = false }} ]\n"
        );
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(400)))]

    /// Arbitrary sequences of world changes and migration answers, right or
    /// wrong, never panic the engine; wrong ones are refused without effect;
    /// no node ever exceeds its limit; every migration it starts is answered
    /// at most once.
    #[test]
    fn arbitrary_event_sequences_keep_the_engine_sound(ops in proptest::collection::vec(op(), 1..120)) {
        let scenario = parse_scenario("engine.toml", &engine_cluster()).unwrap();
        let mut engine = Engine::new(&scenario.cluster, 3);
        let nodes = ["A", "B", "C", "Z"];
        let nics = ["eth0", "eth1", "eth2", "eth3", "eth9"];
        let vms = ["VM0", "VM1", "VM2", "VM3", "VM4", "VM5", "VM9"];
        let switches = ["Corp", "Backup", "Nope"];
        let mut started: Vec<MigrationId> = Vec::new();
        let mut open: BTreeSet<MigrationId> = BTreeSet::new();
        let mut aborting: BTreeSet<MigrationId> = BTreeSet::new();
        let mut now = 0;
        for op in ops {
            let input = match op {
                Op::Link(n, i, up) => Input::LinkChanged { node: nodes[n].into(), nic: nics[i].into(), up },
                Op::NodeDown(n) => Input::NodeDown { node: nodes[n].into() },
                Op::NodeUp(n) => Input::NodeUp { node: nodes[n].into() },
                Op::Drain(n, d) => Input::SetDraining { node: nodes[n].into(), draining: d },
                Op::Protect(v, s, p) => Input::SetProtected { vm: vms[v].into(), switch: switches[s].into(), protected: p },
                Op::Complete(k) if !started.is_empty() => Input::MigrationCompleted { id: started[k % started.len()] },
                Op::Fail(k, c) if !started.is_empty() => {
                    let cause = [FailureCause::Timeout, FailureCause::TlsRejected,
                                 FailureCause::AuthorityUnreachable, FailureCause::Hypervisor("x".into())][c as usize].clone();
                    Input::MigrationFailed { id: started[k % started.len()], cause }
                }
                Op::Cancel(k) if !started.is_empty() => Input::MigrationCancelled { id: started[k % started.len()] },
                Op::Complete(_) | Op::Fail(..) | Op::Cancel(_) => continue,
                Op::Bogus(id) => Input::MigrationCompleted { id: MigrationId(id) },
                Op::Wait(ms) => {
                    now += ms;
                    engine.handle_timeout(now);
                    for a in engine.take_actions() { track(&a, &mut started, &mut open, &mut aborting); }
                    continue;
                }
            };
            let (answer, cancel) = match &input {
                Input::MigrationCompleted { id } | Input::MigrationFailed { id, .. } => (Some(*id), false),
                Input::MigrationCancelled { id } => (Some(*id), true),
                _ => (None, false),
            };
            let result = engine.handle(now, input);
            if let Some(id) = answer {
                // Exactly the open migrations are accepted (a cancel only
                // once aborted), and each only once.
                let expected = open.contains(&id) && (!cancel || aborting.contains(&id));
                prop_assert_eq!(result.is_ok(), expected);
                if expected {
                    open.remove(&id);
                    aborting.remove(&id);
                }
            }
            if result.is_err() {
                prop_assert!(engine.take_actions().is_empty(), "a refused input acted");
            }
            for a in engine.take_actions() { track(&a, &mut started, &mut open, &mut aborting); }
            for n in ["A", "B", "C"] {
                let id = engine.topology().node_id(n).unwrap();
                prop_assert!(engine.in_flight(id) <= 2);
            }
        }
    }
}

fn track(
    action: &Action,
    started: &mut Vec<MigrationId>,
    open: &mut BTreeSet<MigrationId>,
    aborting: &mut BTreeSet<MigrationId>,
) {
    match action {
        Action::StartMigration { id, .. } => {
            assert!(open.insert(*id), "migration {id:?} started twice");
            started.push(*id);
        }
        Action::AbortMigration { id, .. } => {
            // Still open: the world must answer it.
            assert!(open.contains(id), "aborted {id:?} that was not open");
            assert!(aborting.insert(*id), "aborted {id:?} twice");
        }
        Action::Report(_) => {}
    }
}
