//! PowerShell objects written with `ConvertTo-Json`: which cmdlet wrote an object is told by
//! its properties, never by the file's name. Windows PowerShell 5.1 writes enums as numbers
//! (`SwitchType: 2`) and a single object without an array around it; both are read.

use super::{
    ClusterInterface, ClusterNetwork, HostConfig, HostVnic, Route, Switch, TeamMember, VmAdapter,
};
use serde_json::Value;

/// Whether a text is JSON that holds objects of a cmdlet hvtriage reads.
pub fn looks_like(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with('{') || t.starts_with('['))
        && [
            "\"SwitchType\"",
            "\"SwitchName\"",
            "\"DestinationPrefix\"",
            "\"InterfaceDescription\"",
            "\"InterfaceAlias\"",
            "\"ClusterMonitored\"",
            "\"Role\"",
            "\"Adapter\"",
        ]
        .iter()
        .any(|k| t.contains(k))
}

/// Reads every object of the JSON text into the host's configuration; returns how many
/// objects were recognized, or why the text could not be read.
pub fn parse(text: &str, config: &mut HostConfig) -> Result<usize, String> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("not valid JSON ({e})"))?;
    let objects: Vec<&Value> = match &value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut used = 0;
    for object in objects {
        used += usize::from(read_object(object, config));
    }
    Ok(used)
}

pub(super) fn read_object(v: &Value, config: &mut HostConfig) -> bool {
    let has = |k: &str| v.get(k).is_some();
    if let Some(name) = string(v, "ComputerName").or_else(|| string(v, "PSComputerName")) {
        config.set_name(&name);
    }
    // An object of the right keys with values of the wrong shape is no object of that cmdlet.
    if has("SwitchType") && (has("NetAdapterInterfaceDescription") || has("AllowManagementOS")) {
        let s = switch(v);
        if s.name.is_empty() {
            return false;
        }
        config.switches.push(s);
    } else if string(v, "DestinationPrefix").is_some() && has("NextHop") {
        config.routes.push(Route {
            prefix: string(v, "DestinationPrefix").unwrap_or_default(),
            next_hop: string(v, "NextHop").unwrap_or_default(),
            interface: string(v, "InterfaceAlias").unwrap_or_default(),
            metric: number(v, "RouteMetric").unwrap_or(0)
                + number(v, "InterfaceMetric").unwrap_or(0),
            interface_metric: number(v, "InterfaceMetric"),
        });
    } else if string(v, "SwitchName").is_some() && (has("IsManagementOs") || has("VMName")) {
        let management = v.get("IsManagementOs").and_then(Value::as_bool) == Some(true)
            || string(v, "VMName").is_none_or(|n| n.is_empty());
        if management {
            config.host_vnics.push(HostVnic {
                name: string(v, "Name").unwrap_or_default(),
                switch: string(v, "SwitchName").unwrap_or_default(),
            });
        } else {
            config.vm_adapters.push(VmAdapter {
                vm: string(v, "VMName").unwrap_or_default(),
                switch: string(v, "SwitchName").unwrap_or_default(),
                protected: v.get("ClusterMonitored").and_then(Value::as_bool),
            });
        }
    } else if has("Role") && has("Metric") && string(v, "Name").is_some() {
        // Get-ClusterNetwork. Role: 0 None, 1 Cluster, 3 ClusterAndClient (a number in 5.1).
        config.cluster_networks.push(ClusterNetwork {
            name: string(v, "Name").unwrap_or_default(),
            role: match v.get("Role") {
                Some(Value::Number(n)) => match n.as_u64() {
                    Some(0) => "None".into(),
                    Some(1) => "Cluster".into(),
                    Some(3) => "ClusterAndClient".into(),
                    _ => n.to_string(),
                },
                _ => string(v, "Role").unwrap_or_default(),
            },
            metric: number(v, "Metric"),
        });
    } else if has("Network") && has("Adapter") && has("Node") {
        // Get-ClusterNetworkInterface.
        config.cluster_interfaces.push(ClusterInterface {
            node: string(v, "Node").unwrap_or_default(),
            network: string(v, "Network").unwrap_or_default(),
            adapter: string(v, "Adapter").unwrap_or_default(),
        });
    } else if string(v, "InterfaceAlias").is_some()
        && (has("IPv4DefaultGateway") || has("DNSServer"))
    {
        // Get-NetIPConfiguration (ConvertTo-Json -Depth 3 or more keeps its addresses).
        return super::net_ip_configuration(v, config);
    } else if string(v, "InterfaceAlias").is_some()
        && number(v, "InterfaceMetric").is_some()
        && !has("InterfaceDescription")
    {
        // Get-NetIPInterface: the interface's metric, added to its routes' own.
        config.interface_metrics.push((
            string(v, "InterfaceAlias").unwrap_or_default(),
            number(v, "InterfaceMetric").unwrap_or(0),
        ));
    } else if has("Team") && (has("OperationalStatus") || has("AdministrativeMode")) {
        config.team_members.push(TeamMember {
            name: string(v, "Name").unwrap_or_default(),
            team: string(v, "Team").unwrap_or_default(),
        });
    } else if has("InterfaceDescription") && (has("MacAddress") || has("ifIndex")) {
        config.net_adapter(
            string(v, "Name").unwrap_or_default(),
            string(v, "InterfaceDescription").unwrap_or_default(),
            string(v, "Status"),
        );
    } else {
        return false;
    }
    true
}

fn switch(v: &Value) -> Switch {
    // Get-VMSwitch: NetAdapterInterfaceDescription (one uplink), NetAdapterInterfaceDescriptions
    // (a SET team's members).
    let mut uplinks: Vec<String> = strings(v, "NetAdapterInterfaceDescriptions");
    // On a SET switch the singular property is the literal "Teamed-Interface", not a NIC.
    if let Some(one) =
        string(v, "NetAdapterInterfaceDescription").filter(|d| d != "Teamed-Interface")
    {
        if !uplinks.contains(&one) {
            uplinks.insert(0, one);
        }
    }
    Switch {
        name: string(v, "Name").unwrap_or_default(),
        external: switch_type(v.get("SwitchType")).map(|t| t == "External"),
        shared_with_host: v.get("AllowManagementOS").and_then(Value::as_bool),
        uplinks,
        embedded_teaming: v.get("EmbeddedTeamingEnabled").and_then(Value::as_bool),
    }
}

/// VMSwitchType: Private = 0, Internal = 1, External = 2, as a number or its name.
fn switch_type(v: Option<&Value>) -> Option<&'static str> {
    match v? {
        Value::Number(n) => match n.as_u64()? {
            0 => Some("Private"),
            1 => Some("Internal"),
            2 => Some("External"),
            _ => None,
        },
        Value::String(s) => ["Private", "Internal", "External"]
            .into_iter()
            .find(|t| t.eq_ignore_ascii_case(s)),
        _ => None,
    }
}

/// A property as text; `null`, objects and arrays are not text. Values are cut to a bound: a
/// hostile file's megabyte string is no adapter name.
pub(super) fn string(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.chars().take(MAX_VALUE_CHARS).collect()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .take(64)
            .map(|s| s.chars().take(MAX_VALUE_CHARS).collect())
            .collect(),
        Some(Value::String(s)) => vec![s.chars().take(MAX_VALUE_CHARS).collect()],
        _ => Vec::new(),
    }
}

fn number(v: &Value, key: &str) -> Option<u64> {
    v.get(key)?.as_u64()
}

/// The longest property value kept.
const MAX_VALUE_CHARS: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_from_windows_powershell_5_1_has_numeric_enums_and_no_array() {
        let json = r#"{"Name":"Corp","SwitchType":2,"AllowManagementOS":true,
            "NetAdapterInterfaceDescription":"Intel(R) Ethernet Server Adapter I350-T2 #2",
            "EmbeddedTeamingEnabled":false}"#;
        assert!(looks_like(json));
        let mut c = HostConfig::default();
        assert_eq!(parse(json, &mut c), Ok(1));
        let s = &c.switches[0];
        assert_eq!(s.name, "Corp");
        assert_eq!(s.external, Some(true));
        assert_eq!(s.shared_with_host, Some(true));
        assert_eq!(s.uplinks, ["Intel(R) Ethernet Server Adapter I350-T2 #2"]);
    }

    #[test]
    fn routes_and_host_vnics_are_told_apart_by_their_properties() {
        let json = r#"[{"DestinationPrefix":"0.0.0.0/0","NextHop":"10.0.0.1","InterfaceAlias":"vEthernet (Corp)","RouteMetric":0,"InterfaceMetric":15},
            {"Name":"Corp","SwitchName":"Corp","IsManagementOs":true},
            {"unrelated":1}]"#;
        let mut c = HostConfig::default();
        assert_eq!(parse(json, &mut c), Ok(2));
        assert_eq!(c.routes[0].interface, "vEthernet (Corp)");
        assert_eq!(c.routes[0].metric, 15);
        assert_eq!(c.host_vnics[0].switch, "Corp");
    }

    #[test]
    fn wrong_shapes_are_refused_or_ignored_never_a_panic() {
        let mut c = HostConfig::default();
        assert!(parse("{\"SwitchType\":", &mut c).is_err());
        assert_eq!(parse("[1, \"x\", null, []]", &mut c), Ok(0));
        assert_eq!(
            parse("{\"SwitchType\":[1],\"AllowManagementOS\":\"yes\"}", &mut c),
            Ok(0)
        );
        let named = "{\"Name\":\"S\",\"SwitchType\":[1],\"AllowManagementOS\":\"yes\"}";
        assert_eq!(parse(named, &mut c), Ok(1));
        assert_eq!(c.switches[0].external, None);
        assert_eq!(c.switches[0].shared_with_host, None);
    }
}
