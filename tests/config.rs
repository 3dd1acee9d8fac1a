//! The hosts' configuration confirms, contradicts or is absent from the shared-NIC finding,
//! and a hostile configuration file is a warning, never more.

mod common;

use hvtriage::rules::RuleSet;
use hvtriage::{analyze, Options};
use std::path::PathBuf;

fn run(paths: &[PathBuf]) -> hvtriage::analysis::Analysis {
    analyze(paths, &RuleSet::builtin().unwrap(), &Options::default()).unwrap()
}

fn shared_nic(a: &hvtriage::analysis::Analysis) -> &hvtriage::analysis::Finding {
    a.findings
        .iter()
        .find(|f| f.rule == "shared-nic-only-dc-path")
        .expect("the shared-NIC finding")
}

#[test]
fn confirmed_contradicted_and_absent_configuration() {
    let fixtures = common::root().join("fixtures");
    let confirmed = run(&[fixtures.join("seed-001-config")]);
    let f = shared_nic(&confirmed);
    assert_eq!(f.config.as_deref(), Some("confirmed"));
    assert_eq!(f.confidence.as_str(), "high");
    assert!(f.cause.contains("Confirmed by the host's configuration"));
    assert!(f
        .config_evidence
        .iter()
        .any(|e| e.fact.contains("uplink of the virtual switch Corp")
            && e.input.contains("HV01/Get-VMSwitch.json")));
    assert!(f
        .config_evidence
        .iter()
        .any(|e| e.fact.contains("every gateway and DNS server")));

    let contradicted = run(&[fixtures.join("seed-001-config-second-path")]);
    let f = shared_nic(&contradicted);
    assert_eq!(f.config.as_deref(), Some("contradicted"));
    assert_eq!(f.confidence.as_str(), "medium");
    assert!(
        f.cause.contains("Management gives the host a second path"),
        "{}",
        f.cause
    );
    assert!(!f.title.contains("only path"), "{}", f.title);

    // Coverage lists the configuration beside the logs, per host, without a time span.
    let row = confirmed
        .coverage
        .iter()
        .find(|c| c.channel == "configuration")
        .expect("a configuration row");
    assert_eq!(row.host, "HV01");
    assert!(row.records >= 3 && row.first.is_none(), "{row:?}");

    let absent = run(&[fixtures.join("seed-001")]);
    assert!(!absent.coverage.iter().any(|c| c.channel == "configuration"));
    let f = shared_nic(&absent);
    assert_eq!(f.config.as_deref(), Some("absent"));
    assert!(f.missing.iter().any(|m| m.contains("Collect-HvTriage.ps1")));
}

#[test]
fn hostile_configuration_files_are_warnings_and_nothing_else() {
    let case = common::temp_dir("config-hostile");
    let seed = common::root().join("fixtures/seed-001");
    for host in ["HV01", "HV02"] {
        std::fs::create_dir_all(case.join(host)).unwrap();
        for entry in std::fs::read_dir(seed.join(host)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "evtx") {
                std::fs::copy(&path, case.join(host).join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    let hv01 = case.join("HV01");
    // Too big for a host's configuration.
    let mut huge = String::from("[{\"SwitchType\":2,\"AllowManagementOS\":true,\"Name\":\"");
    huge.push_str(&"x".repeat(17 << 20));
    huge.push_str("\"}]");
    std::fs::write(hv01.join("huge.json"), huge).unwrap();
    // Cut short, wrong shapes, and UTF-16 without a BOM of broken JSON.
    std::fs::write(hv01.join("cut.json"), "{\"SwitchType\": 2, \"Name\": \"Co").unwrap();
    std::fs::write(
        hv01.join("shapes.json"),
        "{\"SwitchType\": {\"a\": [1, 2]}, \"AllowManagementOS\": \"yes\", \"NetAdapterInterfaceDescription\": [[]]}",
    )
    .unwrap();
    let utf16: Vec<u8> = "[{\"DestinationPrefix\": 1, \"NextHop\": null}"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(hv01.join("routes.json"), utf16).unwrap();
    let a = run(std::slice::from_ref(&case));
    let f = shared_nic(&a);
    assert_eq!(f.confidence.as_str(), "high", "the events still hold");
    assert_ne!(f.config.as_deref(), Some("contradicted"));
    for name in ["huge.json", "cut.json", "routes.json"] {
        assert!(
            a.warnings.iter().any(|w| w.contains(name)),
            "{name}: no warning in {:?}",
            a.warnings
        );
    }
    std::fs::remove_dir_all(case).ok();
}

#[test]
fn the_collector_writes_the_files_the_fixture_holds() {
    let script =
        std::fs::read_to_string(common::root().join("scripts/Collect-HvTriage.ps1")).unwrap();
    let case = common::root().join("fixtures/seed-001-config/HV01");
    for entry in std::fs::read_dir(&case).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            assert!(
                script.contains(&format!("'{stem}'")),
                "the collector does not write {name}"
            );
        }
    }
    assert!(script.contains("ipconfig.txt"));
    assert!(script.contains("Get-ClusterLog"));
    assert!(!script.contains("-UseLocalTime "), "cluster.log in UTC");
}

/// GetLogs' `<Node>-NetInfoPerHost.xml` (Export-Clixml, UTF-16 LE as Windows PowerShell 5.1
/// writes it): the node's adapters and, from Get-NetIPConfiguration, their gateways and DNS
/// servers. Its `ipconfig /all` ran on the collecting machine, another host: not used, said.
#[test]
fn getlogs_net_info_per_host_is_read_from_clixml() {
    let clixml = r#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">
  <Obj RefId="0">
    <TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>
    <MS>
      <S N="ComputerName">HV01</S>
      <Obj N="NetIpconfig" RefId="1">
        <TN RefId="1"><T>System.Object[]</T></TN>
        <LST>
          <Obj RefId="2"><MS>
            <S N="InterfaceAlias">vEthernet (Corp)</S>
            <Obj N="IPv4Address" RefId="3"><LST><Obj RefId="4"><Props><S N="IPAddress">10.0.1.11</S></Props></Obj></LST></Obj>
            <Obj N="IPv4DefaultGateway" RefId="5"><LST><Obj RefId="6"><Props><S N="NextHop">10.0.1.1</S></Props></Obj></LST></Obj>
            <Obj N="DNSServer" RefId="7"><LST>
              <Obj RefId="8"><Props><I32 N="AddressFamily">2</I32><Obj N="ServerAddresses" RefId="9"><LST><S>10.0.1.10</S></LST></Obj></Props></Obj>
              <Obj RefId="10"><Props><I32 N="AddressFamily">23</I32><Obj N="ServerAddresses" RefId="11"><LST><S>fec0:0:0:ffff::1</S></LST></Obj></Props></Obj>
            </LST></Obj>
          </MS></Obj>
        </LST>
      </Obj>
      <Obj N="Ipconfig" RefId="12">
        <LST>
          <S>Windows IP Configuration</S>
          <S>   Host Name . . . . . . . . . . . . : ADMIN-PC</S>
          <S>Ethernet adapter Ethernet:</S>
          <S>   Default Gateway . . . . . . . . . : 192.168.0.1</S>
        </LST>
      </Obj>
      <Obj N="NIC" RefId="13">
        <LST>
          <Obj RefId="14"><Props><S N="Name">Ethernet 2</S><S N="InterfaceDescription">Intel(R) Ethernet Server Adapter I350-T2 #2</S><S N="MacAddress">00-1B-21-AA-00-02</S><S N="Status">Up</S></Props></Obj>
        </LST>
      </Obj>
    </MS>
  </Obj>
</Objs>"#;
    let bytes = common::utf16le_bom(clixml);
    assert!(hvtriage::config::sniff(&bytes[..4096.min(bytes.len())]));
    let (config, warnings) = hvtriage::config::read(&bytes, "HV01-NetInfoPerHost.xml", None);
    assert_eq!(config.name, "HV01");
    let corp = config
        .adapters
        .iter()
        .find(|a| a.name == "vEthernet (Corp)")
        .expect("the vEthernet adapter");
    assert_eq!(corp.gateways, ["10.0.1.1"]);
    assert_eq!(corp.dns, ["10.0.1.10"]);
    assert!(config
        .adapters
        .iter()
        .any(|a| a.description == "Intel(R) Ethernet Server Adapter I350-T2 #2"));
    assert!(!config
        .adapters
        .iter()
        .any(|a| a.gateways == ["192.168.0.1"]));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("ADMIN-PC") && w.contains("not used")),
        "{warnings:?}"
    );
    // GetLogs' events as CLIXML are not configuration.
    assert!(!hvtriage::config::sniff(
        br#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj RefId="0"><Props><S N="ProviderName">NETLOGON</S>"#
    ));
}

/// What the collector writes beside the switch: the VMs' adapters (Protected Network on or
/// off), the cluster's networks and this node's interfaces on them, and
/// Get-NetIPConfiguration; the verdict's facts say what rides on the switch.
#[test]
fn vm_adapters_cluster_networks_and_ip_configuration_are_read() {
    let files: [(&str, &str); 4] = [
        (
            "Get-VMNetworkAdapter-VMs.json",
            r#"[{"VMName":"VM1","Name":"Network Adapter","SwitchName":"Corp","MacAddress":"00155D010101","ClusterMonitored":true},
            {"VMName":"VM3","Name":"Network Adapter","SwitchName":"Lab","MacAddress":"00155D010103","ClusterMonitored":false}]"#,
        ),
        (
            "Get-ClusterNetwork.json",
            r#"[{"Name":"Cluster Network 2","Role":3,"Metric":70384,"Address":"10.0.1.0","State":3},
            {"Name":"Cluster Network 1","Role":1,"Metric":39840,"Address":"192.168.10.0","State":3}]"#,
        ),
        (
            "Get-ClusterNetworkInterface.json",
            r#"{"Name":"HV01 - vEthernet (Corp)","Node":"HV01","Network":"Cluster Network 2","Adapter":"vEthernet (Corp)","State":3}"#,
        ),
        (
            "Get-NetIPConfiguration.json",
            r#"[{"InterfaceAlias":"Management","IPv4Address":["192.168.10.11"],"IPv4DefaultGateway":["192.168.10.1"],"DNSServer":["192.168.10.5"],"ComputerName":"HV01"}]"#,
        ),
    ];
    let mut config = hvtriage::config::HostConfig::default();
    for (name, text) in files {
        assert!(hvtriage::config::sniff(text.as_bytes()), "{name}");
        let (one, warnings) = hvtriage::config::read(text.as_bytes(), name, Some("HV01"));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        config.inputs.extend(one.inputs.clone());
        config.name = one.name.clone();
        config.vm_adapters.extend(one.vm_adapters);
        config.cluster_networks.extend(one.cluster_networks);
        config.cluster_interfaces.extend(one.cluster_interfaces);
        config.adapters.extend(one.adapters);
    }
    assert_eq!(config.vm_adapters.len(), 2);
    assert_eq!(config.vm_adapters[0].protected, Some(true));
    assert_eq!(config.cluster_networks[0].role, "ClusterAndClient");
    assert_eq!(config.cluster_interfaces[0].adapter, "vEthernet (Corp)");
    let management = config
        .adapters
        .iter()
        .find(|a| a.name == "Management")
        .expect("Get-NetIPConfiguration's adapter");
    assert_eq!(management.gateways, ["192.168.10.1"]);
    assert_eq!(management.dns, ["192.168.10.5"]);
}

/// With the seed-001-config host, the verdict lists the protected VMs on the switch and the
/// cluster network its vEthernet carries.
#[test]
fn the_verdict_names_what_rides_on_the_switch() {
    let fixtures = common::root().join("fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let from = fixtures.join("seed-001-config");
    let all = ["evtx", "json", "txt"]
        .iter()
        .flat_map(|ext| common::files(&from, ext));
    for file in all {
        let rel = file.strip_prefix(fixtures.join("seed-001-config")).unwrap();
        let to = case.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    std::fs::write(
        case.join("HV01/Get-VMNetworkAdapter-VMs.json"),
        r#"[{"VMName":"VM1","SwitchName":"Corp","ClusterMonitored":true},{"VMName":"VM2","SwitchName":"Corp","ClusterMonitored":true}]"#,
    )
    .unwrap();
    std::fs::write(
        case.join("HV01/Get-ClusterNetworkInterface.json"),
        r#"{"Name":"HV01 - vEthernet (Corp)","Node":"HV01","Network":"Cluster Network 2","Adapter":"vEthernet (Corp)"}"#,
    )
    .unwrap();
    let a = run(&[case]);
    let f = shared_nic(&a);
    assert_eq!(f.config.as_deref(), Some("confirmed"));
    let facts: Vec<&str> = f.config_evidence.iter().map(|e| e.fact.as_str()).collect();
    assert!(
        facts.contains(&"VMs with a protected network on the switch Corp: VM1, VM2"),
        "{facts:?}"
    );
    assert!(
        facts.iter().any(
            |f| f.starts_with("the cluster network Cluster Network 2 runs on vEthernet (Corp)")
        ),
        "{facts:?}"
    );
}

/// Get-NetIPInterface's metric is added to a route whose Get-NetRoute object lacked it, and
/// a second default route names its metric in the contradicting fact.
#[test]
fn interface_metrics_complete_route_metrics() {
    let interfaces =
        r#"[{"InterfaceAlias":"Management","ifIndex":7,"InterfaceMetric":25,"AutomaticMetric":1}]"#;
    let routes = r#"[{"DestinationPrefix":"0.0.0.0/0","NextHop":"192.168.10.1","RouteMetric":256,"InterfaceAlias":"Management"}]"#;
    let (a, wa) = hvtriage::config::read(
        interfaces.as_bytes(),
        "Get-NetIPInterface.json",
        Some("HV01"),
    );
    let (b, wb) = hvtriage::config::read(routes.as_bytes(), "Get-NetRoute.json", Some("HV01"));
    assert!(wa.is_empty() && wb.is_empty(), "{wa:?} {wb:?}");
    assert_eq!(a.interface_metrics, [("Management".to_string(), 25)]);
    let config = hvtriage::config::by_host(vec![a, b]);
    assert_eq!(config.len(), 1);
    assert_eq!(config[0].route_metric(&config[0].routes[0]), 256 + 25);
}
