//! The hosts' own configuration: which physical NIC is a virtual switch's uplink, whether the
//! switch is shared with the host, and which adapters give the host a gateway and DNS. Read
//! from `ipconfig /all` and from cmdlets' `ConvertTo-Json` output, recognized by content in
//! any encoding Windows writes them; used to confirm or contradict a finding that rests on
//! timing alone (`config_check` in a rule).

pub mod clixml;
pub mod ipconfig;
pub mod psjson;

use crate::analysis::{ConfigFact, Finding};
use crate::rules::{Confidence, RuleSet};
use crate::signal::Signal;
use crate::timeline::host_key;

/// The longest configuration file read: a bigger one is no cmdlet output of one host.
pub const MAX_CONFIG_BYTES: usize = 16 << 20;

/// What one host's collected configuration says.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// The host's name as the files give it (`Host Name`, `ComputerName`), else its folder's.
    pub name: String,
    /// The files it was read from.
    pub inputs: Vec<String>,
    pub adapters: Vec<Adapter>,
    pub switches: Vec<Switch>,
    pub host_vnics: Vec<HostVnic>,
    pub team_members: Vec<TeamMember>,
    pub routes: Vec<Route>,
    /// The VMs' network adapters (`Get-VMNetworkAdapter -VMName *`).
    pub vm_adapters: Vec<VmAdapter>,
    /// The cluster's networks (`Get-ClusterNetwork`) and this node's interfaces on them
    /// (`Get-ClusterNetworkInterface`).
    pub cluster_networks: Vec<ClusterNetwork>,
    pub cluster_interfaces: Vec<ClusterInterface>,
    /// Interface metrics by adapter alias (`Get-NetIPInterface -AddressFamily IPv4`).
    pub interface_metrics: Vec<(String, u64)>,
}

/// A VM's network adapter: its switch, and whether Protected Network watches it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmAdapter {
    pub vm: String,
    pub switch: String,
    /// `ClusterMonitored`: the adapter's network is protected.
    pub protected: Option<bool>,
}

/// A cluster network: its role (None, Cluster, ClusterAndClient) and metric.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterNetwork {
    pub name: String,
    pub role: String,
    pub metric: Option<u64>,
}

/// A node's interface on a cluster network, and the adapter under it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterInterface {
    pub node: String,
    pub network: String,
    pub adapter: String,
}

/// A network adapter of the host, physical or virtual.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adapter {
    /// Its alias: `Ethernet 2`, `vEthernet (Corp)`.
    pub name: String,
    pub description: String,
    pub mac: String,
    pub ipv4: Vec<String>,
    pub gateways: Vec<String>,
    pub dns: Vec<String>,
    /// `Some(false)`: media disconnected or down when collected.
    pub up: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switch {
    pub name: String,
    pub external: Option<bool>,
    /// `AllowManagementOS`: the host has a vEthernet adapter on it.
    pub shared_with_host: Option<bool>,
    /// Interface descriptions of its physical NICs (several with Switch Embedded Teaming).
    pub uplinks: Vec<String>,
    pub embedded_teaming: Option<bool>,
}

/// A host (management OS) virtual adapter and its switch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostVnic {
    pub name: String,
    pub switch: String,
}

/// A member NIC of an LBFO team.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamMember {
    pub name: String,
    pub team: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    pub prefix: String,
    pub next_hop: String,
    pub interface: String,
    /// RouteMetric plus InterfaceMetric when Get-NetRoute carried it.
    pub metric: u64,
    pub interface_metric: Option<u64>,
}

impl HostConfig {
    fn set_name(&mut self, name: &str) {
        if self.name.is_empty() && !name.trim().is_empty() {
            self.name = name.trim().chars().take(256).collect();
        }
    }

    /// A `Get-NetAdapter` object: merged into the adapter of that name or description.
    fn net_adapter(&mut self, name: String, description: String, status: Option<String>) {
        let up = status.map(|s| s.eq_ignore_ascii_case("up"));
        let known = self
            .adapters
            .iter_mut()
            .find(|a| a.name == name || (!description.is_empty() && a.description == description));
        match known {
            Some(a) => {
                a.up = up.or(a.up);
                if a.description.is_empty() {
                    a.description = description;
                }
            }
            None => self.adapters.push(Adapter {
                name,
                description,
                up,
                ..Adapter::default()
            }),
        }
    }

    /// How many objects were read: adapters, switches, host adapters, team members, routes.
    pub fn objects(&self) -> usize {
        self.adapters.len()
            + self.switches.len()
            + self.host_vnics.len()
            + self.team_members.len()
            + self.routes.len()
            + self.vm_adapters.len()
            + self.cluster_networks.len()
            + self.cluster_interfaces.len()
            + self.interface_metrics.len()
    }

    /// A route's metric as Windows compares routes: its own plus its interface's, the latter
    /// from Get-NetIPInterface when Get-NetRoute did not carry it.
    pub fn route_metric(&self, route: &Route) -> u64 {
        if route.interface_metric.is_some() {
            return route.metric;
        }
        route.metric
            + self
                .interface_metrics
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(&route.interface))
                .map_or(0, |(_, m)| *m)
    }

    /// The host key of the configuration.
    pub fn key(&self) -> String {
        host_key(&self.name)
    }

    fn merge(&mut self, other: HostConfig) {
        self.set_name(&other.name);
        self.inputs.extend(other.inputs);
        for a in other.adapters {
            let known = self.adapters.iter_mut().find(|b| b.name == a.name);
            match known {
                Some(b) => {
                    if b.description.is_empty() {
                        b.description = a.description;
                    }
                    b.up = b.up.or(a.up);
                    for (to, from) in [
                        (&mut b.ipv4, a.ipv4),
                        (&mut b.gateways, a.gateways),
                        (&mut b.dns, a.dns),
                    ] {
                        if to.is_empty() {
                            *to = from;
                        }
                    }
                }
                None => self.adapters.push(a),
            }
        }
        self.switches.extend(other.switches);
        self.host_vnics.extend(other.host_vnics);
        self.team_members.extend(other.team_members);
        self.routes.extend(other.routes);
        self.vm_adapters.extend(other.vm_adapters);
        self.cluster_networks.extend(other.cluster_networks);
        self.cluster_interfaces.extend(other.cluster_interfaces);
        self.interface_metrics.extend(other.interface_metrics);
    }
}

/// A configuration file's text, whatever Windows wrote it in: UTF-16 LE or BE (Windows
/// PowerShell 5.1's `>`), UTF-8 with or without a BOM, or the console's code page (932 on
/// Japanese Windows, for `ipconfig` redirected from cmd).
pub fn decode(bytes: &[u8]) -> String {
    if let Some(text) = utf16(bytes) {
        return text;
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(body) {
        Ok(text) => text.to_string(),
        Err(_) => encoding_rs::SHIFT_JIS
            .decode_without_bom_handling(body)
            .0
            .into_owned(),
    }
}

/// The text of UTF-16, LE or BE, with or without a BOM; `None` when the bytes are not UTF-16.
pub fn utf16(bytes: &[u8]) -> Option<String> {
    let encoding = utf16_encoding(bytes)?;
    Some(encoding.decode_with_bom_removal(bytes).0.into_owned())
}

/// Which UTF-16 the first bytes of a text are in, if any: a BOM says it, and without one,
/// ASCII text in UTF-16 has a zero in every other byte (the odd ones for LE).
pub fn utf16_encoding(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    if head.starts_with(&[0xFF, 0xFE]) {
        return Some(encoding_rs::UTF_16LE);
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Some(encoding_rs::UTF_16BE);
    }
    let sample = &head[..head.len().min(512)];
    let zeros_at = |first: usize| {
        sample
            .iter()
            .skip(first)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let half = sample.len() / 2;
    if sample.len() < 4 {
        None
    } else if zeros_at(1) * 2 >= half {
        Some(encoding_rs::UTF_16LE)
    } else if zeros_at(0) * 2 >= half {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

/// Whether the start of a file is a configuration hvtriage reads.
pub fn sniff(head: &[u8]) -> bool {
    let text = decode(head);
    ipconfig::looks_like(&text)
        || psjson::looks_like(&text)
        || (clixml::looks_like(&text) && !clixml::holds_events(&text))
}

/// Reads one configuration file. `folder_host` is the host of the folder it is in, for a file
/// that names none. Returns the configuration and the warnings for the file's report.
pub fn read(bytes: &[u8], display: &str, folder_host: Option<&str>) -> (HostConfig, Vec<String>) {
    let mut config = HostConfig {
        inputs: vec![display.to_string()],
        ..HostConfig::default()
    };
    let mut warnings = Vec::new();
    if bytes.len() > MAX_CONFIG_BYTES {
        warnings.push(format!(
            "{display}: {} bytes, more than a host's configuration ({} MiB at most): not read",
            bytes.len(),
            MAX_CONFIG_BYTES >> 20
        ));
        return (config, warnings);
    }
    let text = decode(bytes);
    // CLIXML first: GetLogs' holds ipconfig's lines too.
    if clixml::looks_like(&text) {
        match clixml::values(&text) {
            Ok(values) => {
                let used: usize = values
                    .iter()
                    .map(|v| from_clixml(v, &mut config, display, &mut warnings))
                    .sum();
                if used == 0 {
                    warnings.push(format!(
                        "{display}: CLIXML without any object hvtriage reads (GetLogs' NetInfoPerHost, or Get-VMSwitch, Get-VMNetworkAdapter, Get-NetAdapter, Get-NetLbfoTeamMember, Get-NetRoute): not used"
                    ));
                }
            }
            Err(why) => warnings.push(format!("{display}: {why}; collect it again")),
        }
    } else if ipconfig::looks_like(&text) {
        ipconfig::parse(&text, &mut config);
    } else {
        match psjson::parse(&text, &mut config) {
            Ok(0) => warnings.push(format!(
                "{display}: JSON without any object of the cmdlets hvtriage reads (Get-VMSwitch, Get-VMNetworkAdapter, Get-NetAdapter, Get-NetLbfoTeamMember, Get-NetRoute): not used"
            )),
            Ok(_) => {}
            Err(why) => warnings.push(format!(
                "{display}: {why}; collect it again with ConvertTo-Json"
            )),
        }
    }
    if config.name.is_empty() {
        if let Some(host) = folder_host {
            config.set_name(host);
        }
    }
    (config, warnings)
}

/// One object of a CLIXML file: GetLogs' `NetInfoPerHost` object, else any cmdlet's object
/// (the same properties as its JSON). Returns how many objects were used.
fn from_clixml(
    v: &serde_json::Value,
    config: &mut HostConfig,
    display: &str,
    warnings: &mut Vec<String>,
) -> usize {
    let is_net_info = ["NetIpconfig", "Ipconfig", "NIC"]
        .iter()
        .any(|k| v.get(k).is_some());
    if !is_net_info {
        return usize::from(psjson::read_object(v, config));
    }
    let computer = psjson::string(v, "ComputerName").unwrap_or_default();
    config.set_name(&computer);
    let mut used = 0;
    for nic in items(v.get("NIC")) {
        used += usize::from(psjson::read_object(nic, config));
    }
    for ip in items(v.get("NetIpconfig")) {
        used += usize::from(net_ip_configuration(ip, config));
    }
    // GetLogs runs `ipconfig /all` where it runs, not on the node it names (its other
    // commands go there with -CimSession): only the node's own output is used.
    let lines: Vec<&str> = items(v.get("Ipconfig"))
        .filter_map(serde_json::Value::as_str)
        .collect();
    if !lines.is_empty() {
        let mut own = HostConfig::default();
        ipconfig::parse(&lines.join("\r\n"), &mut own);
        if own.name.is_empty() || computer.is_empty() || host_key(&own.name) == host_key(&computer)
        {
            used += own.adapters.len();
            own.name.clear();
            config.merge(own);
        } else {
            warnings.push(format!(
                "{display}: its ipconfig /all is of {} (GetLogs runs ipconfig on the machine it runs on), not of {computer}: not used",
                own.name
            ));
        }
    }
    used
}

/// A `Get-NetIPConfiguration` object: the adapter's addresses, gateways and DNS servers.
pub(super) fn net_ip_configuration(v: &serde_json::Value, config: &mut HostConfig) -> bool {
    let Some(name) = psjson::string(v, "InterfaceAlias") else {
        return false;
    };
    let texts = |key: &str, field: &str| -> Vec<String> {
        items(v.get(key))
            .flat_map(|item| match item.get(field) {
                Some(serde_json::Value::Array(a)) => a.iter().collect::<Vec<_>>(),
                Some(one) => vec![one],
                None => vec![item],
            })
            .filter_map(serde_json::Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let ipv4 = |list: Vec<String>| -> Vec<String> {
        list.into_iter()
            .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok() && a != "0.0.0.0")
            .collect()
    };
    let found = Adapter {
        name: name.chars().take(256).collect(),
        ipv4: ipv4(texts("IPv4Address", "IPAddress")),
        gateways: ipv4(texts("IPv4DefaultGateway", "NextHop")),
        dns: ipv4(texts("DNSServer", "ServerAddresses")),
        ..Adapter::default()
    };
    config.merge(HostConfig {
        adapters: vec![found],
        ..HostConfig::default()
    });
    true
}

/// A property that may be one object or a list of them, as items.
fn items(v: Option<&serde_json::Value>) -> impl Iterator<Item = &serde_json::Value> {
    let list: Vec<&serde_json::Value> = match v {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(serde_json::Value::Null) | None => Vec::new(),
        Some(one) => vec![one],
    };
    list.into_iter()
}

/// The configurations of a case, one per host.
pub fn by_host(configs: Vec<HostConfig>) -> Vec<HostConfig> {
    let mut out: Vec<HostConfig> = Vec::new();
    for c in configs.into_iter().filter(|c| !c.name.is_empty()) {
        match out.iter_mut().find(|o| o.key() == c.key()) {
            Some(o) => o.merge(c),
            None => out.push(c),
        }
    }
    out.sort_by_key(HostConfig::key);
    out
}

/// What a host's configuration says of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every fact the cause needs is in the configuration.
    Confirmed(Vec<ConfigFact>),
    /// A fact contradicts the cause; the sentence says which.
    Contradicted(Vec<ConfigFact>, String),
    /// The configuration lacks what would decide: the sentence says what to collect.
    Unknown(Vec<ConfigFact>, String),
    /// No configuration of the host was collected.
    Absent,
}

/// "The NIC `adapter` that lost its link on `host` is the uplink of a virtual switch shared
/// with the host, and every gateway and DNS server of the host is behind that switch."
pub fn shared_uplink_only_path(configs: &[HostConfig], host: &str, adapter: &str) -> Verdict {
    let Some(c) = configs.iter().find(|c| c.key() == host) else {
        return Verdict::Absent;
    };
    let input = c.inputs.join(", ");
    let fact = |text: String| ConfigFact {
        host: host.to_string(),
        input: input.clone(),
        fact: text,
    };
    let mut facts = Vec::new();
    // The NIC as the link event names it: its description, or its alias.
    let description = c
        .adapters
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(adapter))
        .map_or(adapter, |a| a.description.as_str());
    if let Some(member) = c
        .team_members
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(adapter) || same_nic(&m.name, description, c))
    {
        let others = c
            .team_members
            .iter()
            .filter(|m| m.team == member.team && m.name != member.name)
            .count();
        if others > 0 {
            return Verdict::Contradicted(
                vec![fact(format!("{adapter} is a member of the NIC team {} with {others} other member(s)", member.team))],
                format!("{adapter} is one member of the team {}: the team, and the host's path through it, stayed up when that member lost its link", member.team),
            );
        }
    }
    if c.switches.iter().all(|s| s.uplinks.is_empty()) {
        return Verdict::Unknown(
            facts,
            "Get-VMSwitch output of the host (which NIC is the virtual switch's uplink)".into(),
        );
    }
    let Some(switch) = c.switches.iter().find(|s| {
        s.uplinks
            .iter()
            .any(|u| u.eq_ignore_ascii_case(description))
    }) else {
        return Verdict::Contradicted(
            vec![fact(format!("no virtual switch of {host} has {adapter} as its uplink"))],
            format!("{adapter} is not the uplink of any virtual switch of {host}, so it is not the protected network's NIC"),
        );
    };
    facts.push(fact(format!(
        "{adapter} is the uplink of the virtual switch {}",
        switch.name
    )));
    if switch.embedded_teaming == Some(true) && switch.uplinks.len() > 1 {
        return Verdict::Contradicted(
            facts,
            format!("the virtual switch {} is teamed over {} NICs (Switch Embedded Teaming): one NIC's link loss leaves it up", switch.name, switch.uplinks.len()),
        );
    }
    let vethernet = format!("vEthernet ({})", switch.name);
    let has_vnic = c.host_vnics.iter().any(|v| v.switch == switch.name)
        || c.adapters
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(&vethernet));
    match (switch.shared_with_host, has_vnic) {
        (Some(false), false) => {
            return Verdict::Contradicted(
                facts,
                format!("the virtual switch {} is not shared with the host (AllowManagementOS off): its NIC's link loss does not cut the host off", switch.name),
            )
        }
        (None, false) => {
            return Verdict::Unknown(facts, "Get-VMNetworkAdapter -ManagementOS output of the host (whether the switch is shared with it)".into())
        }
        _ => facts.push(fact(format!(
            "the virtual switch {} is shared with the host ({vethernet})",
            switch.name
        ))),
    }
    // What else rides on the switch: the VMs (and whether their network is protected), and
    // the cluster network the host's vEthernet carries.
    let on_switch = |protected: bool| -> Vec<&str> {
        c.vm_adapters
            .iter()
            .filter(|a| a.switch == switch.name && (a.protected == Some(true)) == protected)
            .map(|a| a.vm.as_str())
            .collect()
    };
    let (protected, others) = (on_switch(true), on_switch(false));
    if !protected.is_empty() {
        facts.push(fact(format!(
            "VMs with a protected network on the switch {}: {}",
            switch.name,
            protected.join(", ")
        )));
    }
    if !others.is_empty() {
        facts.push(fact(format!(
            "other VMs on the switch {}: {}",
            switch.name,
            others.join(", ")
        )));
    }
    for i in c
        .cluster_interfaces
        .iter()
        .filter(|i| i.adapter.eq_ignore_ascii_case(&vethernet))
    {
        let net = c.cluster_networks.iter().find(|n| n.name == i.network);
        facts.push(fact(format!(
            "the cluster network {} runs on {vethernet}{}",
            i.network,
            net.map_or_else(String::new, |n| format!(
                " (role {}{})",
                n.role,
                n.metric
                    .map_or_else(String::new, |m| format!(", metric {m}"))
            ))
        )));
    }
    if c.adapters
        .iter()
        .all(|a| a.gateways.is_empty() && a.dns.is_empty())
        && c.routes.is_empty()
    {
        return Verdict::Unknown(
            facts,
            "ipconfig /all (or Get-NetRoute) output of the host (its gateways and DNS servers)"
                .into(),
        );
    }
    let through_switch = |name: &str| {
        name.eq_ignore_ascii_case(&vethernet)
            || c.host_vnics.iter().any(|v| {
                v.switch == switch.name
                    && name.eq_ignore_ascii_case(&format!("vEthernet ({})", v.name))
            })
            || switch.uplinks.iter().any(|u| {
                c.adapters.iter().any(|a| {
                    a.name.eq_ignore_ascii_case(name) && a.description.eq_ignore_ascii_case(u)
                })
            })
    };
    let second = c
        .adapters
        .iter()
        .filter(|a| !through_switch(&a.name) && a.up != Some(false))
        .find(|a| !a.gateways.is_empty() && !a.dns.is_empty());
    if let Some(other) = second {
        facts.push(fact(format!(
            "{} has its own gateway {} and DNS servers {}",
            other.name,
            other.gateways.join(" "),
            other.dns.join(" ")
        )));
        return Verdict::Contradicted(
            facts,
            format!("{} gives the host a second path (gateway and DNS) that does not go through the switch {}", other.name, switch.name),
        );
    }
    let other_route = c
        .routes
        .iter()
        .find(|r| r.prefix == "0.0.0.0/0" && !through_switch(&r.interface));
    if let Some(route) = other_route {
        facts.push(fact(format!(
            "a default route goes through {} (next hop {}, metric {})",
            route.interface,
            route.next_hop,
            c.route_metric(route)
        )));
        return Verdict::Contradicted(
            facts,
            format!(
                "the host has a default route through {}, not through the switch {}",
                route.interface, switch.name
            ),
        );
    }
    let holder: Vec<String> = c
        .adapters
        .iter()
        .filter(|a| !a.gateways.is_empty() || !a.dns.is_empty())
        .map(|a| {
            format!(
                "{} (gateway {}, DNS {})",
                a.name,
                dash(&a.gateways),
                dash(&a.dns)
            )
        })
        .collect();
    facts.push(fact(format!(
        "every gateway and DNS server of the host is behind the switch {}: {}",
        switch.name,
        if holder.is_empty() {
            vethernet.clone()
        } else {
            holder.join("; ")
        }
    )));
    Verdict::Confirmed(facts)
}

fn dash(values: &[String]) -> String {
    if values.is_empty() {
        "none".into()
    } else {
        values.join(" ")
    }
}

/// Whether the team member named `member` is the NIC described as `description`.
fn same_nic(member: &str, description: &str, c: &HostConfig) -> bool {
    c.adapters.iter().any(|a| {
        a.name.eq_ignore_ascii_case(member) && a.description.eq_ignore_ascii_case(description)
    })
}

/// Confirms or contradicts the findings whose rule names a `config_check` with the hosts'
/// configuration: evidence from the configuration, a finding that loses its `high` when
/// contradicted, and "collect next" when there is none.
pub fn apply(
    findings: &mut [Finding],
    rules: &RuleSet,
    configs: &[HostConfig],
    timeline: &[Signal],
    lang: &str,
) {
    for f in findings.iter_mut() {
        let Some(check) = rules.get(&f.rule).and_then(|r| r.config_check.as_deref()) else {
            continue;
        };
        if check != "shared-uplink-only-path" {
            continue;
        }
        let adapter = f
            .evidence
            .iter()
            .filter_map(|&i| timeline.get(i))
            .filter(|s| s.host == f.host)
            .find_map(|s| s.fields.get("adapter"))
            .cloned();
        let verdict = match &adapter {
            Some(a) => shared_uplink_only_path(configs, &f.host, a),
            None if configs.iter().any(|c| c.key() == f.host) => Verdict::Unknown(
                Vec::new(),
                "the NIC driver's link-down event (which NIC lost its link)".into(),
            ),
            None => Verdict::Absent,
        };
        let medium_title = rules
            .get(&f.rule)
            .and_then(|r| r.text.get(lang).or_else(|| r.text.get("en")))
            .and_then(|t| t.title_medium.clone());
        record(f, verdict, lang);
        // Contradicted, the finding no longer claims its cause: its title says what was seen.
        if f.config.as_deref() == Some("contradicted") {
            if let Some(title) = medium_title {
                let (host, vms) = (f.host.clone(), f.vms.join(", "));
                f.title = crate::rules::text::fill(&title, |name| match name {
                    "host" => Some(host.clone()),
                    "vms" => (!vms.is_empty()).then(|| vms.clone()),
                    _ => None,
                });
            }
        }
    }
}

fn record(f: &mut Finding, verdict: Verdict, lang: &str) {
    let ja = lang == "ja";
    // The facts and reasons are written in English; a finding in Japanese says them so.
    let said = |facts: Vec<ConfigFact>| -> Vec<ConfigFact> {
        facts
            .into_iter()
            .map(|f| ConfigFact {
                fact: crate::ja::in_lang(lang, &f.fact),
                ..f
            })
            .collect()
    };
    let verdict = match verdict {
        Verdict::Confirmed(facts) => Verdict::Confirmed(said(facts)),
        Verdict::Contradicted(facts, why) => {
            Verdict::Contradicted(said(facts), crate::ja::in_lang(lang, &why))
        }
        Verdict::Unknown(facts, what) => {
            Verdict::Unknown(said(facts), crate::ja::in_lang(lang, &what))
        }
        Verdict::Absent => Verdict::Absent,
    };
    match verdict {
        Verdict::Confirmed(facts) => {
            f.config = Some("confirmed".into());
            f.cause.push_str(if ja {
                " ホストの構成で確認済みです。"
            } else {
                " Confirmed by the host's configuration."
            });
            f.config_evidence = facts;
        }
        Verdict::Contradicted(facts, why) => {
            f.config = Some("contradicted".into());
            f.confidence = Confidence::Medium;
            f.cause.push_str(&if ja {
                format!(" ただし、ホストの構成はこれと矛盾します: {why}。")
            } else {
                format!(" Contradicted by the host's configuration: {why}.")
            });
            f.missing.push(if ja {
                format!("{} の構成が原因と矛盾します。他の原因を確認してください: リンクが切断されたのはどの NIC か、ドメイン コントローラーへの経路 (route print) と DNS、Kerberos のイベント。", f.host)
            } else {
                format!("{}'s configuration contradicts this cause: look at which NIC lost its link, the host's route to the domain controllers and DNS (route print), and its Kerberos events.", f.host)
            });
            f.config_evidence = facts;
        }
        Verdict::Unknown(facts, what) => {
            f.config = Some("unknown".into());
            f.missing.push(if ja {
                format!(
                    "{} の {what} を採取してください (scripts/Collect-HvTriage.ps1)。",
                    f.host
                )
            } else {
                format!(
                    "Collect {what} from {} (scripts/Collect-HvTriage.ps1 does).",
                    f.host
                )
            });
            f.config_evidence = facts;
        }
        Verdict::Absent => {
            f.config = Some("absent".into());
            f.missing.push(if ja {
                format!("{} の構成 (Get-VMSwitch、Get-VMNetworkAdapter -ManagementOS、ipconfig /all、Get-NetRoute) を scripts/Collect-HvTriage.ps1 で採取すると、共有された NIC が唯一の経路であったかを確認できます。", f.host)
            } else {
                format!("Run scripts/Collect-HvTriage.ps1 on {}: its configuration (Get-VMSwitch, Get-VMNetworkAdapter -ManagementOS, ipconfig /all, Get-NetRoute) would confirm whether the shared NIC was its only path.", f.host)
            });
        }
    }
}
