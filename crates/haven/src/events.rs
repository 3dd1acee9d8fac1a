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
        // Watch first, then read: nothing falls between the two.
        let mut watch = match args.follow {
            true => Some(store.watch_prefix("events/", None).await.map_err(fail)?),
            false => None,
        };
        let mut last = args.since;
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
        while let Some(changes) = watch.next().await.map_err(fail)? {
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
        Ok(())
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
        utc(event.t_ms),
        cells[1],
        cells[2],
        cells[3],
        cells[4]
    );
    text.trim_end().to_string()
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(super::utc(1_795_318_818_005), "2026-11-22T03:40:18.005Z");
    }
}
