//! The signal catalogue turns raw events into signals with typed fields (SPEC §3).

use chrono::TimeZone;
use hvtriage::input::RawEvent;
use hvtriage::signal::{Catalogue, Signal};

fn event(provider: &str, id: u32, data: &[(&str, &str)]) -> RawEvent {
    RawEvent {
        input: 0,
        record_id: 7,
        time: chrono::Utc
            .with_ymd_and_hms(2026, 11, 20, 2, 15, 4)
            .unwrap(),
        provider: provider.into(),
        event_id: id,
        channel: "Microsoft-Windows-Hyper-V-High-Availability-Admin".into(),
        computer: "hv01.contoso.local".into(),
        data: data
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
    }
}

fn one(e: RawEvent) -> Signal {
    let mut signals = Catalogue::builtin().signals_of(&e);
    assert_eq!(signals.len(), 1, "{e:?}");
    signals.remove(0)
}

fn field<'s>(s: &'s Signal, name: &str) -> Option<&'s str> {
    s.fields.get(name).map(String::as_str)
}

const EN: &str = "Live migration of 'Virtual Machine VM01' failed.\r\n\r\nVirtual machine migration operation for 'VM01' failed at migration source 'HV01'. (Virtual machine ID 8F233F6C-28E0-44B7-8A16-C57D0D72DB61)\r\n\r\nThe Virtual Machine Management Service failed to establish a connection for a Virtual Machine migration with host 'HV02.contoso.local': No authority could be contacted for authentication. (0x80090311).";

/// Seed 001 quotes this form word for word (host names filled in).
const JA: &str = "'仮想マシン VM01' のライブ マイグレーションが失敗しました。 'VM01' の仮想マシン移行操作が移行元 'HV01' で失敗しました。(仮想マシン ID 8F233F6C-28E0-44B7-8A16-C57D0D72DB61) 仮想マシン管理サービスは、ホスト 'HV02' との仮想マシンの移行のための接続を確立できませんでした: 認証するときにどの機関にもアクセスできませんでした。 (0x80090311)。 仮想マシン管理サービスは、ソース ホストで仮想マシンの移行のための接続を認証できませんでした: 認証するときにどの機関にもアクセスできませんでした。 (0x80090311)。";

const DE: &str = "Fehler bei der Livemigration von \"Virtueller Computer VM01\". Fehler beim Migrationsvorgang für \"VM01\" an der Migrationsquelle \"HV01\". Es konnte keine Autorität für die Authentifizierung kontaktiert werden. (0x80090311)";

fn ha_21502(message: &str) -> RawEvent {
    event(
        "Microsoft-Windows-Hyper-V-High-Availability",
        21502,
        &[
            ("Parameter1", "Virtual Machine VM01"),
            ("Parameter2", "8F233F6C"),
            ("Parameter3", message),
        ],
    )
}

#[test]
fn english_21502_yields_vm_side_host_peer_and_code() {
    let s = one(ha_21502(EN));
    assert_eq!(s.name, "migration_failed");
    assert_eq!(field(&s, "vm"), Some("VM01"));
    assert_eq!(field(&s, "side"), Some("source"));
    assert_eq!(field(&s, "host"), Some("HV01"));
    assert_eq!(field(&s, "peer"), Some("HV02"));
    assert_eq!(field(&s, "source"), Some("HV01"));
    assert_eq!(field(&s, "hresult"), Some("0x80090311"));
    assert_eq!(
        field(&s, "vm_id"),
        Some("8F233F6C-28E0-44B7-8A16-C57D0D72DB61")
    );
    assert_eq!(s.host, "HV01");
}

#[test]
fn japanese_21502_yields_the_same_fields() {
    let s = one(ha_21502(JA));
    assert_eq!(field(&s, "vm"), Some("VM01"));
    assert_eq!(field(&s, "side"), Some("source"));
    assert_eq!(field(&s, "host"), Some("HV01"));
    assert_eq!(field(&s, "peer"), Some("HV02"));
    assert_eq!(field(&s, "source"), Some("HV01"));
    assert_eq!(field(&s, "hresult"), Some("0x80090311"));
}

#[test]
fn a_failure_at_the_destination_has_the_peer_as_source() {
    let s = one(ha_21502(
        &EN.replace("migration source 'HV01'", "migration destination 'HV02'")
            .replace("with host 'HV02.contoso.local'", "with host 'HV01'"),
    ));
    assert_eq!(field(&s, "side"), Some("destination"));
    assert_eq!(field(&s, "host"), Some("HV02"));
    assert_eq!(field(&s, "source"), Some("HV01"));
}

#[test]
fn vm_names_with_apostrophes_and_quotes_are_read_whole() {
    for name in ["O'Brien-SQL", "Bob's \"test\" VM"] {
        for message in [EN, JA] {
            let s = one(ha_21502(&message.replace("VM01", name)));
            assert_eq!(field(&s, "vm"), Some(name), "{message}");
        }
    }
}

#[test]
fn every_code_of_the_message_is_kept_beside_the_main_one() {
    let wrapped = EN.replace(
        "No authority",
        "The connection failed (0x8007274C). No authority",
    );
    let s = one(ha_21502(&wrapped));
    assert_eq!(field(&s, "hresult"), Some("0x8007274C"));
    assert_eq!(field(&s, "codes"), Some("0x8007274C 0x80090311"));
}

#[test]
fn the_vm_id_is_the_guid_of_the_message_in_any_language() {
    let message =
        format!("{DE} (ID des virtuellen Computers 8f233f6c-28e0-44b7-8a16-c57d0d72db61)");
    let s = one(ha_21502(&message));
    assert_eq!(
        field(&s, "vm_id").map(str::to_ascii_uppercase).as_deref(),
        Some("8F233F6C-28E0-44B7-8A16-C57D0D72DB61")
    );
    assert_eq!(field(&s, "resource"), Some("Virtual Machine VM01"));
}

#[test]
fn any_other_language_still_yields_the_code() {
    let s = one(ha_21502(DE));
    assert_eq!(field(&s, "hresult"), Some("0x80090311"));
    assert_eq!(field(&s, "vm"), None);
    assert_eq!(field(&s, "side"), None);
}

#[test]
fn netlogon_5719_reads_domain_and_the_binary_ntstatus() {
    let s = one(event(
        "NETLOGON",
        5719,
        &[
            ("Data[0]", "CONTOSO"),
            ("Data[1]", "%%1311"),
            ("Binary", "5E0000C0"),
        ],
    ));
    assert_eq!(s.name, "dc_unreachable");
    assert_eq!(field(&s, "domain"), Some("CONTOSO"));
    assert_eq!(field(&s, "status"), Some("0xC000005E"));
}

#[test]
fn provider_and_id_are_matched_together() {
    // Kernel-Boot logs id 27 too; it is not a link event.
    let boot = event("Microsoft-Windows-Kernel-Boot", 27, &[("BootType", "0")]);
    assert!(Catalogue::builtin().signals_of(&boot).is_empty());
    let intel = event(
        "e1iexpress",
        27,
        &[
            ("Data[0]", ""),
            ("Data[1]", "Intel(R) 82574L Gigabit Network Connection"),
        ],
    );
    assert_eq!(
        field(&one(intel), "adapter"),
        Some("Intel(R) 82574L Gigabit Network Connection")
    );
}

#[test]
fn a_1651_says_an_adapter_changed_never_which_way() {
    // Its two templates hold the state word; the record holds only the adapter.
    let s = one(event(
        "Microsoft-Windows-FailoverClustering",
        1651,
        &[("Data[0]", "Ethernet 2")],
    ));
    assert_eq!(s.name, "cluster_adapter_changed");
    assert_eq!(field(&s, "adapter"), Some("Ethernet 2"));
}

#[test]
fn a_1228_code_in_decimal_is_normalized() {
    let s = one(event(
        "Microsoft-Windows-FailoverClustering",
        1228,
        &[
            ("ResourceName", "Cluster Name"),
            ("ErrorString", "Unable to obtain a logon token"),
            ("ErrorCode", "-1073741717"),
        ],
    ));
    assert_eq!(field(&s, "code"), Some("0xC000006B"));
    assert_eq!(s.text, "Cluster network name Cluster Name could not get a logon token: Unable to obtain a logon token (0xC000006B)");
}

#[test]
fn vmms_user_data_parameters_are_read_by_name() {
    let s = one(event(
        "Microsoft-Windows-Hyper-V-VMMS",
        20415,
        &[
            ("Parameter0", "VM3"),
            ("Parameter1", "C3D4"),
            ("Parameter2", "1"),
        ],
    ));
    assert_eq!(s.name, "migration_succeeded");
    assert_eq!(field(&s, "vm"), Some("VM3"));
    assert_eq!(field(&s, "blackout_s"), Some("1"));
    assert_eq!(s.host, "HV01");
}

#[test]
fn every_signal_has_a_japanese_line_using_its_fields() {
    let s = one(ha_21502(EN));
    assert_eq!(s.text_in("en"), s.text);
    let ja = s.text_in("ja");
    assert!(ja.contains("VM01") && ja.contains("0x80090311"), "{ja}");
    assert_ne!(ja, s.text);
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/signals.toml"))
        .unwrap();
    assert_eq!(
        toml.matches("\ntext = ").count(),
        toml.matches("\ntext_ja = ").count(),
        "a signal without text_ja"
    );
    let broken = toml.replacen(
        "text_ja = \"NIC のリンクが切断されました: {adapter}\"",
        "text_ja = \"NIC: {adaptor}\"",
        1,
    );
    let err = Catalogue::parse("signals.toml", &broken)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("text_ja has {placeholders} that text lacks"),
        "{err}"
    );
}

/// cluster.log lines in the words Microsoft's articles quote (docs/sources/formats-23.md).
#[test]
fn cluster_log_lines_in_their_published_wording() {
    let line = |component: &str, text: &str| {
        event(
            "cluster.log",
            0,
            &[("Component", component), ("Text", text)],
        )
    };
    let route = one(line(
        "IM",
        "Marking Route from 10.0.1.11:~3343~ to 10.0.1.12:~3343~ as down",
    ));
    assert_eq!(route.name, "cluster_interface_unreachable");
    assert_eq!(field(&route, "interface"), Some("10.0.1.11"));
    assert_eq!(field(&route, "remote"), Some("10.0.1.12"));
    let netft = one(line(
        "NETFTAPI",
        "Signaled NetftRemoteUnreachable event, local address fe80::1:3343 remote address fe80::2:3343",
    ));
    assert_eq!(field(&netft, "interface"), Some("fe80::1"));

    let search = one(line(
        "RES",
        "Network Name <Cluster Name>: Search for existing computer account failed. status 8007054B",
    ));
    assert_eq!(search.name, "cno_logon_token_failed");
    assert_eq!(field(&search, "code"), Some("0x8007054B"));
    assert_eq!(field(&search, "resource"), Some("Cluster Name"));
    // The object deleted (80072030) is another condition: no signal.
    let gone = line(
        "RES",
        "Network Name <FSCAP01>: Search for existing computer account failed. status 80072030",
    );
    assert!(Catalogue::builtin().signals_of(&gone).is_empty());

    let moving = one(line(
        "RCM",
        "move of group AOCProd01AG from CO2ICMV3SQL09(1) to CO2ICMV3SQL10(2) of type MoveType::Manual is about to succeed, failoverCount=3, lastFailoverTime=2020/08/05-02:08:54.524 targeted=true ",
    ));
    assert_eq!(moving.name, "role_moving");
    assert_eq!(field(&moving, "vm"), Some("AOCProd01AG"));
    assert_eq!(field(&moving, "source"), Some("CO2ICMV3SQL09"));
    assert_eq!(field(&moving, "destination"), Some("CO2ICMV3SQL10"));
    assert_eq!(field(&moving, "move_type"), Some("Manual"));
}

/// FailoverClustering 1641 in either template: the role first, the node it moves to last.
#[test]
fn role_moving_reads_both_templates_of_1641() {
    let fc = "Microsoft-Windows-FailoverClustering";
    let to = one(event(fc, 1641, &[("param1", "VM2"), ("param2", "HV02")]));
    let from_to = one(event(
        fc,
        1641,
        &[("param1", "VM2"), ("param2", "HV01"), ("param3", "HV02")],
    ));
    for s in [&to, &from_to] {
        assert_eq!(s.name, "role_moving");
        assert_eq!(field(s, "vm"), Some("VM2"));
        assert_eq!(field(s, "destination"), Some("HV02"));
    }
}
