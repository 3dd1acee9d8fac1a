//! `haven events [--follow]`: the live cluster's event log (the SPEC event
//! kinds, in order, with their times), from any node.
#![cfg_attr(not(feature = "etcd"), allow(dead_code))]

use crate::input_error;
use crate::live::ClusterArgs;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Keep printing events as they happen (until interrupted).
    #[arg(long)]
    follow: bool,
    /// Only events after this sequence number.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    since: u64,
    /// One JSON object per line (`{"seq":..,"t_ms":..,"kind":..}`).
    #[arg(long)]
    json: bool,
}

#[cfg(not(feature = "etcd"))]
pub fn run(args: Args) -> ExitCode {
    let _ = args;
    input_error(crate::live::NO_ETCD)
}

#[cfg(feature = "etcd")]
pub fn run(args: Args) -> ExitCode {
    use crate::live::{connect, runtime, Unreachable};
    use haven_agent::store::EVENTS_PER_READ_MAX;
    use std::io::Write;

    let printed = runtime().block_on(async {
        let fail = |e: haven_agent::store::StoreError| Unreachable::Store(e.to_string());
        let store = connect(&args.cluster).await?;
        let mut last = args.since;
        // A watch that ends (its connection given up for a fresh one) is
        // opened again; the read after it fills the gap.
        loop {
            // Watch first, then read: nothing falls between the two.
            let mut watch = match args.follow {
                true => Some(store.watch_prefix("events/", None).await.map_err(fail)?),
                false => None,
            };
            loop {
                let batch = store.events_since(last).await.map_err(fail)?;
                for (seq, event) in &batch {
                    println!("{}", line(*seq, event, args.json));
                    last = *seq;
                }
                if batch.len() < EVENTS_PER_READ_MAX {
                    break;
                }
            }
            let _ = std::io::stdout().flush();
            let Some(watch) = watch.as_mut() else {
                return Ok(());
            };
            while let Ok(Some(changes)) = watch.next().await {
                for change in changes {
                    let seq = change
                        .key
                        .rsplit('/')
                        .next()
                        .and_then(|s| s.parse::<u64>().ok());
                    let event = (change.value.as_deref())
                        .and_then(|v| serde_json::from_slice::<haven_core::event::Event>(v).ok());
                    if let (Some(seq), Some(event)) = (seq, event) {
                        if seq > last {
                            println!("{}", line(seq, &event, args.json));
                            last = seq;
                        }
                    }
                }
                let _ = std::io::stdout().flush();
            }
        }
    });
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(Unreachable::Input(message)) => input_error(message),
        Err(Unreachable::Store(message)) => {
            eprintln!("haven: {message}");
            ExitCode::FAILURE
        }
    }
}

/// One event: `SEQ  TIME  kind  vm  nodes  detail`, or JSON.
#[cfg(feature = "etcd")]
fn line(seq: u64, event: &haven_core::event::Event, json: bool) -> String {
    if json {
        let mut value = serde_json::to_value(event).expect("events encode");
        value["seq"] = seq.into();
        return value.to_string();
    }
    let cells = haven_sim::report::row(event);
    let text = format!(
        "{seq:>6}  {}  {:<24}  {:<8}  {:<12}  {}",
        haven_agent::clock::utc(event.t_ms),
        cells[1],
        cells[2],
        cells[3],
        cells[4]
    );
    text.trim_end().to_string()
}
