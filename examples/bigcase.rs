//! Writes a large synthetic case for the benchmark (`scripts/bench.sh`): several hosts, each
//! with a System log of ordinary noise (the record shapes of a Windows Server System log) of
//! the size asked for, and the seed-001 chain (link down, 1127, 1255, 5719, 1228, 21502) on the
//! first host, so the benchmark also checks the finding survives the noise.
//!
//! Usage: cargo run --release --example bigcase -- OUT_DIR TOTAL_MB [HOSTS]

use hvtriage::evtx_write::{write_evtx, StreamWriter};
use std::fmt::Write as _;
use std::path::Path;

const NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
/// Events per part handed to the writer: bounds the memory of the generator.
const EVENTS_PER_PART: u64 = 20_000;
/// Roughly what one noise record takes in the EVTX file, to size the logs.
const BYTES_PER_RECORD: u64 = 300;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bigcase OUT_DIR TOTAL_MB [HOSTS]");
        std::process::exit(2);
    }
    let out = Path::new(&args[1]);
    let total_mb: u64 = args[2].parse().expect("TOTAL_MB is a number");
    let hosts: u64 = args
        .get(3)
        .map_or(4, |h| h.parse().expect("HOSTS is a number"));
    let records_per_host = total_mb * 1_048_576 / BYTES_PER_RECORD / hosts;
    for h in 1..=hosts {
        let host = format!("HV{h:02}");
        let dir = out.join(&host);
        std::fs::create_dir_all(&dir).expect("output folder");
        write_system(&dir, &host, records_per_host, h == 1);
        if h == 1 {
            let ha = ha_log(&host);
            std::fs::write(
                dir.join("Microsoft-Windows-Hyper-V-High-Availability-Admin.evtx"),
                write_evtx(&ha).expect("valid XML"),
            )
            .expect("write");
        }
        eprintln!("{host}: {records_per_host} records");
    }
}

/// The time of record `n` of a day that starts at 2026-11-20T00:00:00Z (one every ~20 ms).
fn time_of(n: u64, per_day: u64) -> String {
    let ns = n as u128 * 86_400_000_000_000 / per_day.max(1) as u128;
    let secs = (ns / 1_000_000_000) as u64;
    let frac = (ns % 1_000_000_000) / 100;
    format!(
        "2026-11-20T{:02}:{:02}:{:02}.{frac:07}Z",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

fn write_system(dir: &Path, host: &str, records: u64, seed_chain: bool) {
    let file = std::fs::File::create(dir.join("System.evtx")).expect("create");
    let mut writer = StreamWriter::new(std::io::BufWriter::new(file)).expect("header");
    let chain_at = records / 2;
    let mut part = String::new();
    for n in 0..records {
        if seed_chain && n == chain_at {
            part.push_str(&seed_chain_events(
                host,
                &time_of(n, records),
                10_000_000 + n,
            ));
        }
        noise(&mut part, host, n, &time_of(n, records));
        if (n + 1).is_multiple_of(EVENTS_PER_PART) {
            writer.push(&part).expect("valid XML");
            part.clear();
        }
    }
    writer.push(&part).expect("valid XML");
    writer.finish().expect("finish");
}

fn system(
    provider: &str,
    guid: Option<&str>,
    id: u32,
    level: u8,
    time: &str,
    record: u64,
    host: &str,
) -> String {
    let guid = guid.map_or(String::new(), |g| format!(" Guid=\"{g}\""));
    format!(
        "<Event xmlns=\"{NS}\"><System><Provider Name=\"{provider}\"{guid}/><EventID>{id}</EventID><Version>0</Version><Level>{level}</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime=\"{time}\"/><EventRecordID>{record}</EventRecordID><Correlation/><Execution ProcessID=\"4\" ThreadID=\"88\"/><Channel>System</Channel><Computer>{host}.contoso.local</Computer><Security UserID=\"S-1-5-18\"/></System>"
    )
}

fn noise(out: &mut String, host: &str, n: u64, time: &str) {
    let record = n + 1;
    let services = [
        "Windows Update",
        "Background Intelligent Transfer Service",
        "Software Protection",
        "Windows Modules Installer",
    ];
    let _ = match n % 10 {
        0..=4 => writeln!(
            out,
            "{}<EventData><Data Name=\"param1\">{}</Data><Data Name=\"param2\">{}</Data><Binary>570075006100750073006500720076002F0034000000</Binary></EventData></Event>",
            system("Service Control Manager", Some("{555908d1-a6d7-4695-8e1e-26931d2012f4}"), 7036, 4, time, record, host),
            services[(n / 10 % 4) as usize],
            if n.is_multiple_of(2) { "running" } else { "stopped" }
        ),
        5 | 6 => writeln!(
            out,
            "{}<EventData><Data Name=\"HiveNameLength\">38</Data><Data Name=\"HiveName\">\\SystemRoot\\System32\\Config\\SOFTWARE</Data><Data Name=\"KeysUpdated\">{}</Data><Data Name=\"DirtyPages\">{}</Data></EventData></Event>",
            system("Microsoft-Windows-Kernel-General", Some("{A68CA8B7-004F-D7B6-A698-07E2DE0F1F5D}"), 16, 4, time, record, host),
            n % 400,
            n % 90
        ),
        7 => writeln!(
            out,
            "{}<EventData><Data Name=\"QueryName\">wpad.contoso.local</Data><Data Name=\"AddressLength\">128</Data><Data Name=\"Address\">0200003500000000</Data></EventData></Event>",
            system("Microsoft-Windows-DNS-Client", Some("{1C95126E-7EEA-49A9-A3FE-A378B03DDB4D}"), 1014, 3, time, record, host)
        ),
        8 => writeln!(
            out,
            "{}<EventData><Data Name=\"TimeSource\">dc01.contoso.local,0x8 (ntp.m|0x8|0.0.0.0:123-&gt;10.0.0.10:123)</Data></EventData></Event>",
            system("Microsoft-Windows-Time-Service", Some("{06EDCFEB-0FD0-4E53-ACCA-A6F8BBF81BCB}"), 37, 4, time, record, host)
        ),
        _ => writeln!(
            out,
            "{}<EventData><Data Name=\"BootType\">0</Data><Data Name=\"LoadOptions\"> NOEXECUTE=OPTOUT</Data></EventData></Event>",
            system("Microsoft-Windows-Kernel-Boot", Some("{15CA44FF-4D7A-4BAA-BBA5-0998955E531E}"), 27, 4, time, record, host)
        ),
    };
}

/// Link down, 1127, 1255, 5719 and 1228 on the host, with record ids of their own.
fn seed_chain_events(host: &str, time: &str, first_record: u64) -> String {
    let fc = "Microsoft-Windows-FailoverClustering";
    let fc_guid = Some("{BAF908EA-3421-4CA9-9B84-6689B8C6F85F}");
    let at = |s: &str| format!("{}{s}Z", &time[..17]);
    [
        format!("{}<EventData><Data></Data><Data>Intel(R) Ethernet Server Adapter I350-T2 #2</Data></EventData></Event>\n", system("e1rexpress", None, 27, 3, &at("00.1000000"), first_record, host)),
        format!("{}<EventData><Data Name=\"NetInterfaceName\">{host} - vEthernet (Corp)</Data><Data Name=\"NodeName\">{host}</Data><Data Name=\"NetworkName\">Cluster Network 2</Data></EventData></Event>\n", system(fc, fc_guid, 1127, 2, &at("02.0000000"), first_record + 1, host)),
        format!("{}<EventData><Data Name=\"ResourceName\">Virtual Machine VM1</Data><Data Name=\"ResourceGroup\">VM1</Data></EventData></Event>\n", system(fc, fc_guid, 1255, 3, &at("40.0000000"), first_record + 2, host)),
        format!("{}<EventData><Data>CONTOSO</Data><Data>%%1311</Data><Binary>5E0000C0</Binary></EventData></Event>\n", system("NETLOGON", None, 5719, 2, &at("45.0000000"), first_record + 3, host)),
        format!("{}<EventData><Data Name=\"ResourceName\">Cluster Name</Data><Data Name=\"ErrorString\">Unable to obtain a logon token</Data><Data Name=\"ErrorCode\">-1073741717</Data></EventData></Event>\n", system(fc, fc_guid, 1228, 2, &at("50.0000000"), first_record + 4, host)),
    ]
    .concat()
}

/// The failed migration 50 s after the link loss of the middle of the day.
fn ha_log(host: &str) -> String {
    let msg = format!("Live migration of 'Virtual Machine VM1' failed.&#13;&#10;Virtual machine migration operation for 'VM1' failed at migration source '{host}'. (Virtual machine ID 8F233F6C-28E0-44B7-8A16-C57D0D72DB61)&#13;&#10;The Virtual Machine Management Service failed to establish a connection for a Virtual Machine migration with host 'HV02': No authority could be contacted for authentication. (0x80090311).");
    format!(
        "<Events><Event xmlns=\"{NS}\"><System><Provider Name=\"Microsoft-Windows-Hyper-V-High-Availability\"/><EventID>21502</EventID><Version>0</Version><Level>2</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime=\"2026-11-20T12:00:51.0000000Z\"/><EventRecordID>77</EventRecordID><Correlation/><Execution ProcessID=\"3044\" ThreadID=\"4688\"/><Channel>Microsoft-Windows-Hyper-V-High-Availability-Admin</Channel><Computer>{host}.contoso.local</Computer><Security UserID=\"S-1-5-18\"/></System><EventData><Data Name=\"Parameter1\">Virtual Machine VM1</Data><Data Name=\"Parameter2\">8F233F6C-28E0-44B7-8A16-C57D0D72DB61</Data><Data Name=\"Parameter3\">{msg}</Data></EventData></Event></Events>"
    )
}
