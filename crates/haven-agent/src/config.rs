//! The node agent's configuration file (`haven agent --config FILE`):
//!
//! ```toml
//! cluster = "prod"                       # keys under /haven/prod/ in etcd
//! node = "A"                             # this node's name in the inventory
//! etcd = ["https://10.0.0.1:2379"]       # etcd client URLs
//! run_dir = "/var/lib/haven"             # QEMU run directories, per VM
//! tls_dir = "/etc/haven/tls"             # `haven cert node` output: QEMU's
//!                                        # migration TLS, and etcd's client
//!                                        # certificate when etcd_tls = true
//! migration_address = "10.78.0.1"        # where incoming migrations listen
//! etcd_tls = true                        # optional, default false
//! lease_ttl_s = 10                       # optional, default 10
//! netns = "lab-a"                        # optional: run inside a namespace
//! authority = "10.79.0.1:7000"           # optional: the migration authority
//!                                        # (`migration_auth = "authority"`);
//!                                        # a list when it is reached over
//!                                        # several networks, asked all at once
//! emulate_migration_bandwidth = false    # labs only, see below
//!
//! [qemu]                                 # optional: how this node starts VMs
//! binary = "qemu-system-x86_64"          # default
//! accel = "kvm"                          # default; "tcg" for nested labs
//! vcpus = 1                              # default
//! disk = "/srv/vms/{vm}.qcow2"           # shared storage, {vm} = VM name
//! # or direct kernel boot (the lab's test guest):
//! # kernel = "/var/cache/haven/guest/vmlinuz"
//! # initrd = "/var/cache/haven/guest/initrd.img"
//! # cmdline = "console=ttyS0 quiet panic=-1"
//!
//! [qemu.append]                          # optional: per-VM kernel arguments
//! VM1 = "haven.ip=10.77.0.10/24"
//! ```
//!
//! Unknown keys are errors; every error names the file and the line.

use crate::qemu::{Boot, NicDef, VmDef};
use haven_core::model::Cluster;
use haven_core::parse::{line_of, InputError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Default membership lease: long enough to ride out a short etcd
/// election, short enough that a dead leader is replaced within seconds.
pub const DEFAULT_LEASE_TTL_S: i64 = 10;

/// A parsed agent configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub cluster: String,
    pub node: String,
    pub etcd: Vec<String>,
    pub run_dir: PathBuf,
    pub tls_dir: PathBuf,
    pub migration_address: IpAddr,
    #[serde(default)]
    pub etcd_tls: bool,
    #[serde(default = "default_ttl")]
    pub lease_ttl_s: i64,
    #[serde(default)]
    pub netns: Option<String>,
    /// The migration authority's addresses, one per path to it (H9).
    #[serde(default, deserialize_with = "one_or_many_addresses")]
    pub authority: Vec<SocketAddr>,
    /// Labs only: stretch each migration to the time the inventory implies
    /// (`migration_s`, or `memory_mb` over `migration_bandwidth_mbps`
    /// shared by the node's migrations under way). The lab's guests are
    /// far smaller than the VMs they stand for; without this their moves
    /// would end long before the simulator's. The guest keeps running on
    /// the source meanwhile, and an abort still cancels the move.
    #[serde(default)]
    pub emulate_migration_bandwidth: bool,
    #[serde(default)]
    pub qemu: QemuConfig,
}

/// How the node starts its VMs (`[qemu]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuConfig {
    #[serde(default = "default_binary")]
    pub binary: PathBuf,
    #[serde(default = "default_accel")]
    pub accel: String,
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// A disk image path; `{vm}` is replaced by the VM's name.
    #[serde(default)]
    pub disk: Option<String>,
    #[serde(default)]
    pub kernel: Option<PathBuf>,
    #[serde(default)]
    pub initrd: Option<PathBuf>,
    #[serde(default)]
    pub cmdline: String,
    /// Per VM: kernel arguments appended to `cmdline`.
    #[serde(default)]
    pub append: BTreeMap<String, String>,
}

impl Default for QemuConfig {
    fn default() -> Self {
        QemuConfig {
            binary: default_binary(),
            accel: default_accel(),
            vcpus: default_vcpus(),
            disk: None,
            kernel: None,
            initrd: None,
            cmdline: String::new(),
            append: BTreeMap::new(),
        }
    }
}

fn default_binary() -> PathBuf {
    crate::qemu::QEMU.into()
}

fn default_accel() -> String {
    "kvm".into()
}

fn default_vcpus() -> u32 {
    1
}

/// `"ADDR:PORT"` or `["ADDR:PORT", …]`.
fn one_or_many_addresses<'de, D>(deserializer: D) -> Result<Vec<SocketAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let texts = match OneOrMany::deserialize(deserializer).map_err(|_| {
        serde::de::Error::custom(
            "`authority` must be \"ADDR:PORT\" or a list of them, like [\"10.79.0.1:7000\", \"10.80.0.1:7000\"]",
        )
    })? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    };
    (texts.iter())
        .map(|t| {
            t.parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "`authority` address {t:?} is not ADDR:PORT; give an IP address and a port, like \"10.79.0.1:7000\""
                ))
            })
        })
        .collect()
}

fn default_ttl() -> i64 {
    DEFAULT_LEASE_TTL_S
}

impl AgentConfig {
    /// Parses `text`; `file` names it in messages.
    ///
    /// # Errors
    /// Not TOML, an unknown or missing key, a wrong type, no etcd endpoint,
    /// or a lease shorter than etcd allows: one sentence with the line.
    pub fn parse(file: &str, text: &str) -> Result<AgentConfig, InputError> {
        let error = |line: Option<usize>, message: String| InputError {
            file: file.to_string(),
            line,
            message,
        };
        let config: AgentConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text.as_bytes(), s.start));
            let message = e.message().replace('\n', " ");
            error(line, format!("{message}; see the agent configuration format in the docs of haven_agent::config"))
        })?;
        let line_of_key =
            |key: &str| (text.lines().position(|l| l.trim_start().starts_with(key))).map(|i| i + 1);
        if config.etcd.is_empty() {
            let message = "`etcd` lists no endpoint; give at least one URL, like \
                           [\"http://10.0.0.1:2379\"]"
                .to_string();
            return Err(error(line_of_key("etcd"), message));
        }
        if config.lease_ttl_s < 2 {
            let message = format!(
                "`lease_ttl_s` is {}, but etcd grants leases of 2 s or more; use 2 or more \
                 (default {DEFAULT_LEASE_TTL_S})",
                config.lease_ttl_s
            );
            return Err(error(line_of_key("lease_ttl_s"), message));
        }
        let q = &config.qemu;
        let boot = match (&q.disk, &q.kernel, &q.initrd) {
            (Some(_), None, None) | (None, Some(_), Some(_)) | (None, None, None) => None,
            (Some(_), _, _) => {
                Some("`[qemu]` gives both `disk` and `kernel`/`initrd`; keep one way to boot")
            }
            _ => Some("`[qemu]` needs both `kernel` and `initrd` for a direct kernel boot"),
        };
        if let Some(message) = boot {
            return Err(error(line_of_key("[qemu]"), message.to_string()));
        }
        if !matches!(q.accel.as_str(), "kvm" | "tcg") {
            let message = format!("`accel` is {:?}; use \"kvm\" or \"tcg\"", q.accel);
            return Err(error(line_of_key("accel"), message));
        }
        Ok(config)
    }

    /// The QEMU definition of `vm` of `cluster` on this node: its memory,
    /// one e1000 per adapter (MAC from the inventory) on a tap enslaved to
    /// the bridge named like the adapter's switch, booted as `[qemu]` says.
    /// Taps are named `hv<VM index>n<adapter index>`, the same on every node.
    /// `None` when the inventory has no such VM or `[qemu]` gives no way to
    /// boot.
    pub fn vm_def(&self, cluster: &Cluster, vm: &str) -> Option<VmDef> {
        let (index, v) = cluster.vms.iter().enumerate().find(|(_, v)| v.name == vm)?;
        let q = &self.qemu;
        let boot = match (&q.disk, &q.kernel, &q.initrd) {
            (Some(disk), _, _) => Boot::Disk(disk.replace("{vm}", vm).into()),
            (None, Some(kernel), Some(initrd)) => {
                let extra = q.append.get(vm).map(String::as_str).unwrap_or_default();
                Boot::Kernel {
                    kernel: kernel.clone(),
                    initrd: initrd.clone(),
                    cmdline: format!("{} {extra}", q.cmdline).trim().to_string(),
                }
            }
            _ => return None,
        };
        let nics = (v.adapters.iter().enumerate())
            .map(|(j, a)| NicDef {
                mac: mac_with_colons(&a.mac),
                bridge: a.switch.clone(),
                tap: format!("hv{index}n{j}"),
            })
            .collect();
        Some(VmDef {
            name: v.name.clone(),
            memory_mb: u32::try_from(v.memory_mb).unwrap_or(u32::MAX),
            vcpus: q.vcpus,
            accel: q.accel.clone(),
            nics,
            boot,
        })
    }

    /// The client certificate for etcd when `etcd_tls = true`: the CA,
    /// client certificate and key of `tls_dir` (`haven cert node`'s layout).
    #[cfg(feature = "etcd")]
    pub fn etcd_tls_files(&self) -> Option<crate::store::TlsFiles> {
        self.etcd_tls.then(|| crate::store::TlsFiles {
            ca: self.tls_dir.join("ca-cert.pem"),
            cert: self.tls_dir.join("client-cert.pem"),
            key: self.tls_dir.join("client-key.pem"),
        })
    }

    /// Whether `[qemu]` says how to boot a VM.
    pub fn can_boot(&self) -> bool {
        self.qemu.disk.is_some() || self.qemu.kernel.is_some()
    }

    /// Reads and parses a configuration file.
    ///
    /// # Errors
    /// As [`AgentConfig::parse`], and a file that cannot be read.
    pub fn load(path: &Path) -> Result<AgentConfig, InputError> {
        let text = haven_core::parse::load_text(path)?;
        AgentConfig::parse(&path.display().to_string(), &text)
    }
}

/// `00155D867239` → `00:15:5d:86:72:39`, as QEMU takes it.
fn mac_with_colons(mac: &str) -> String {
    let lower = mac.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..lower.len())
        .step_by(2)
        .filter_map(|i| lower.get(i..i + 2))
        .collect();
    pairs.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"cluster = "prod"
node = "A"
etcd = ["http://127.0.0.1:2379"]
run_dir = "/var/lib/haven"
tls_dir = "/etc/haven/tls"
migration_address = "10.78.0.1"
netns = "lab-a"
"#;

    #[test]
    fn h9_authority_is_one_address_or_a_list_and_a_bad_one_names_its_line() {
        let one = format!("{GOOD}authority = \"10.79.0.1:7000\"\n");
        let c = AgentConfig::parse("a.toml", &one).unwrap();
        assert_eq!(c.authority, ["10.79.0.1:7000".parse().unwrap()]);
        let two = format!("{GOOD}authority = [\"10.79.0.1:7000\", \"10.80.0.1:7000\"]\n");
        let c = AgentConfig::parse("a.toml", &two).unwrap();
        assert_eq!(c.authority.len(), 2);
        assert!(AgentConfig::parse("a.toml", GOOD)
            .unwrap()
            .authority
            .is_empty());
        let bad = format!("{GOOD}authority = [\"10.79.0.1:7000\", \"kdc\"]\n");
        let e = AgentConfig::parse("a.toml", &bad).unwrap_err().to_string();
        assert!(
            e.contains("a.toml:8") && e.contains("\"kdc\" is not ADDR:PORT"),
            "{e}"
        );
        let number = format!("{GOOD}authority = 7000\n");
        let e = AgentConfig::parse("a.toml", &number)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.toml:8") && e.contains("or a list of them"),
            "{e}"
        );
    }

    #[test]
    fn the_example_configuration_parses_and_defines_its_vms() {
        let text = include_str!("../../../examples/agent/A.toml");
        let c = AgentConfig::parse("A.toml", text).unwrap();
        assert!(c.can_boot());
        let inventory = include_str!("../../../examples/figure-1.toml");
        let cluster = haven_core::parse::parse_scenario("figure-1.toml", inventory)
            .unwrap()
            .cluster;
        let def = c.vm_def(&cluster, "VM1").unwrap();
        assert_eq!(def.memory_mb, 4096);
        assert_eq!(def.boot, Boot::Disk("/srv/vms/VM1.qcow2".into()));
        assert_eq!(def.nics.len(), 1);
        assert_eq!(def.nics[0].mac, "00:15:5d:86:72:39");
        assert_eq!(
            (def.nics[0].bridge.as_str(), def.nics[0].tap.as_str()),
            ("Corp", "hv0n0")
        );
        assert!(c.vm_def(&cluster, "nope").is_none());
    }

    #[test]
    fn a_qemu_section_must_say_one_way_to_boot() {
        let both =
            format!("{GOOD}\n[qemu]\ndisk = \"/d/{{vm}}\"\nkernel = \"/k\"\ninitrd = \"/i\"\n");
        let e = AgentConfig::parse("agent.toml", &both).unwrap_err();
        assert!(e.message.contains("keep one way"), "{e}");
        assert_eq!(e.line, Some(9), "{e}");
        let half = format!("{GOOD}\n[qemu]\nkernel = \"/k\"\n");
        let e = AgentConfig::parse("agent.toml", &half).unwrap_err();
        assert!(e.message.contains("both `kernel` and `initrd`"), "{e}");
        let accel = format!("{GOOD}\n[qemu]\naccel = \"xen\"\n");
        let e = AgentConfig::parse("agent.toml", &accel).unwrap_err();
        assert_eq!(e.line, Some(10), "{e}");
        let kernel = format!("{GOOD}\n[qemu]\naccel = \"tcg\"\nkernel = \"/k\"\ninitrd = \"/i\"\ncmdline = \"quiet\"\n[qemu.append]\nVM1 = \"haven.ip=10.0.0.5/24\"\n");
        let c = AgentConfig::parse("agent.toml", &kernel).unwrap();
        assert!(c.can_boot());
        assert!(!AgentConfig::parse("agent.toml", GOOD).unwrap().can_boot());
    }

    #[test]
    fn a_complete_file_parses_with_defaults() {
        let c = AgentConfig::parse("agent.toml", GOOD).unwrap();
        assert_eq!(c.node, "A");
        assert_eq!(c.migration_address, "10.78.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((c.etcd_tls, c.lease_ttl_s), (false, DEFAULT_LEASE_TTL_S));
        assert_eq!(c.netns.as_deref(), Some("lab-a"));
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let typo = GOOD.replace("node = \"A\"", "nod = \"A\"");
        let e = AgentConfig::parse("agent.toml", &typo).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string()
                .starts_with("agent.toml:2: unknown field `nod`"),
            "{e}"
        );
        let address = GOOD.replace("10.78.0.1", "ten.78.0.1");
        let e = AgentConfig::parse("agent.toml", &address).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        let empty = GOOD.replace("[\"http://127.0.0.1:2379\"]", "[]");
        let e = AgentConfig::parse("agent.toml", &empty).unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("no endpoint"), "{e}");
        let ttl = format!("{GOOD}lease_ttl_s = 1\n");
        let e = AgentConfig::parse("agent.toml", &ttl).unwrap_err();
        assert_eq!(e.line, Some(8), "{e}");
        let e = AgentConfig::parse("agent.toml", "node = [").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        assert_eq!(e.to_string().lines().count(), 1, "one line: {e}");
    }
}
