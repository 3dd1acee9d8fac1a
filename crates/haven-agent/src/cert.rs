//! The cluster CA and node certificates for migration TLS (SPEC H9).
//!
//! Every node holds a certificate signed by the cluster CA, made once by an
//! operator with `haven cert`; migrations then authenticate both hosts with
//! mutual TLS and need no online authority. The files are laid out exactly
//! as QEMU's `tls-creds-x509` object reads them from its `dir=`:
//!
//! | file | for |
//! |---|---|
//! | `ca-cert.pem` | both ends: the CA the peer must be signed by |
//! | `server-cert.pem`, `server-key.pem` | `endpoint=server` (the migration destination) |
//! | `client-cert.pem`, `client-key.pem` | `endpoint=client` (the migration source, with `verify-peer=on`) |
//! | `dh-params.pem` | `endpoint=server`: the Diffie-Hellman group (RFC 7919 ffdhe2048). Without it QEMU generates one for every incoming migration, which takes from 0.1 to several seconds |
//!
//! A CA directory holds `ca-cert.pem` and `ca-key.pem`. Keys are written
//! with mode 0600, and no existing file is ever overwritten.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The CA certificate, in a CA directory and in every node directory.
pub const CA_CERT: &str = "ca-cert.pem";
/// The CA's private key, only in the CA directory.
pub const CA_KEY: &str = "ca-key.pem";
/// The files of a node directory besides [`CA_CERT`].
pub const NODE_FILES: [&str; 4] = [
    "server-cert.pem",
    "server-key.pem",
    "client-cert.pem",
    "client-key.pem",
];

/// The Diffie-Hellman parameters of a node directory.
pub const DH_PARAMS: &str = "dh-params.pem";
/// RFC 7919's ffdhe2048 group, in PKCS #3 PEM (`openssl genpkey -genparam
/// -algorithm DH -pkeyopt dh_param:ffdhe2048`): public, standard, and
/// loaded in microseconds, where generating a group takes seconds.
const FFDHE2048_PEM: &str = "-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
";

/// How long a new CA is valid.
const CA_VALID_DAYS: i64 = 3650;
/// How long a new node certificate is valid.
const NODE_VALID_DAYS: i64 = 825;

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file to be written exists already.
    #[error("{0} exists already; remove it first or choose another directory")]
    Exists(PathBuf),
    /// A file of the CA could not be read.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    /// The input is unusable (a bad name, a CA file that is not PEM, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Creates a cluster CA in `dir` (made if missing): `ca-cert.pem` and
/// `ca-key.pem` (mode 0600), with `name` as its common name.
///
/// # Errors
/// A file exists already, `dir` is not writable, or key generation failed.
pub fn create_ca(dir: &Path, name: &str) -> Result<(), CertError> {
    let targets = [dir.join(CA_CERT), dir.join(CA_KEY)];
    refuse_existing(&targets)?;
    let key = KeyPair::generate().map_err(rcgen_error)?;
    let cert = ca_params(name)?.self_signed(&key).map_err(rcgen_error)?;
    make_dir(dir)?;
    write_new(&targets[0], cert.pem().as_bytes(), 0o644)?;
    write_new(&targets[1], key.serialize_pem().as_bytes(), 0o600)
}

/// What a node certificate names: the node, and the addresses and DNS
/// names its peers reach it by (a migration destination is checked against
/// the address in the migration URI, so its migration address must be here).
#[derive(Clone, Debug, Default)]
pub struct NodeNames {
    pub node: String,
    pub ips: Vec<IpAddr>,
    pub dns: Vec<String>,
}

/// Creates a node's TLS directory `out` (made if missing) with certificates
/// signed by the CA in `ca_dir`: a copy of `ca-cert.pem`, a server and a
/// client certificate with their keys (mode 0600), and [`DH_PARAMS`].
///
/// # Errors
/// A file exists already, the CA cannot be read or parsed, or a name is
/// not valid in a certificate.
pub fn create_node(ca_dir: &Path, names: &NodeNames, out: &Path) -> Result<(), CertError> {
    if names.node.is_empty() {
        return Err(CertError::Invalid("the node name must not be empty".into()));
    }
    let mut targets = vec![out.join(CA_CERT)];
    targets.extend(NODE_FILES.iter().map(|f| out.join(f)));
    targets.push(out.join(DH_PARAMS));
    refuse_existing(&targets)?;
    let ca_pem = read(&ca_dir.join(CA_CERT))?;
    let ca_key = KeyPair::from_pem(&read(&ca_dir.join(CA_KEY))?).map_err(|e| {
        CertError::Invalid(format!(
            "{} is not a PEM private key: {e}",
            ca_dir.join(CA_KEY).display()
        ))
    })?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| {
        CertError::Invalid(format!(
            "{} is not a PEM CA certificate: {e}",
            ca_dir.join(CA_CERT).display()
        ))
    })?;
    let mut files = vec![ca_pem.into_bytes()];
    for purpose in [
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ] {
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = node_params(names, purpose)?
            .signed_by(&key, &issuer)
            .map_err(rcgen_error)?;
        files.push(cert.pem().into_bytes());
        files.push(key.serialize_pem().into_bytes());
    }
    files.push(FFDHE2048_PEM.as_bytes().to_vec());
    make_dir(out)?;
    for (path, bytes) in targets.iter().zip(&files) {
        let is_key = path.to_string_lossy().ends_with("-key.pem");
        write_new(path, bytes, if is_key { 0o600 } else { 0o644 })?;
    }
    Ok(())
}

/// Writes [`DH_PARAMS`] into the node directory `dir` (for directories
/// made before `haven cert node` wrote it).
///
/// # Errors
/// The file exists already, or cannot be written.
pub fn create_dh_params(dir: &Path) -> Result<(), CertError> {
    if !dir.is_dir() {
        return Err(CertError::Invalid(format!(
            "{} is not a directory; give the node's TLS directory (from `haven cert node`)",
            dir.display()
        )));
    }
    let path = dir.join(DH_PARAMS);
    refuse_existing(std::slice::from_ref(&path))?;
    write_new(&path, FFDHE2048_PEM.as_bytes(), 0o644)
}

/// Whether `dir` holds every file QEMU needs for both migration ends.
pub fn is_node_dir(dir: &Path) -> bool {
    std::iter::once(CA_CERT)
        .chain(NODE_FILES)
        .all(|f| dir.join(f).is_file())
}

fn ca_params(name: &str) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "haven");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, CA_VALID_DAYS);
    Ok(params)
}

/// QEMU's sanity checks want digitalSignature and keyEncipherment on a
/// leaf, and the purpose (server or client auth) of the end it is used for.
fn node_params(
    names: &NodeNames,
    purpose: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, names.node.as_str());
    params
        .distinguished_name
        .push(DnType::OrganizationName, "haven");
    let mut sans = vec![dns_name(&names.node)?];
    for name in &names.dns {
        sans.push(dns_name(name)?);
    }
    sans.extend(names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.subject_alt_names = sans;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![purpose];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, NODE_VALID_DAYS);
    Ok(params)
}

fn dns_name(name: &str) -> Result<SanType, CertError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    match valid {
        true => Ok(SanType::DnsName(name.try_into().map_err(rcgen_error)?)),
        false => Err(CertError::Invalid(format!(
            "{name:?} is not a valid host name (letters, digits, '-' and '.')"
        ))),
    }
}

/// Valid from an hour ago (clock skew between hosts) for `days`.
fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

fn refuse_existing(targets: &[PathBuf]) -> Result<(), CertError> {
    match targets.iter().find(|p| p.exists()) {
        Some(p) => Err(CertError::Exists(p.clone())),
        None => Ok(()),
    }
}

fn make_dir(dir: &Path) -> Result<(), CertError> {
    fs::create_dir_all(dir).map_err(|source| CertError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Result<String, CertError> {
    fs::read_to_string(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file that must not exist yet (`create_new`), with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let write = || -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => CertError::Exists(path.to_path_buf()),
        _ => CertError::Write {
            path: path.to_path_buf(),
            source,
        },
    })
}

fn rcgen_error(e: rcgen::Error) -> CertError {
    CertError::Invalid(format!("certificate generation failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("haven-cert-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn ca_and_node_files_have_qemus_layout_and_modes() {
        let root = temp_dir("layout");
        let (ca, node) = (root.join("ca"), root.join("node"));
        create_ca(&ca, "test CA").unwrap();
        let names = NodeNames {
            node: "a".into(),
            ips: vec!["10.0.0.1".parse().unwrap()],
            dns: vec!["a.example".into()],
        };
        create_node(&ca, &names, &node).unwrap();
        assert!(is_node_dir(&node));
        use std::os::unix::fs::PermissionsExt;
        for key in ["server-key.pem", "client-key.pem"] {
            let mode = fs::metadata(node.join(key)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let mode = fs::metadata(ca.join(CA_KEY)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Never overwrite.
        assert!(matches!(create_ca(&ca, "again"), Err(CertError::Exists(_))));
        assert!(matches!(
            create_node(&ca, &names, &node),
            Err(CertError::Exists(_))
        ));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn bad_names_are_refused() {
        let root = temp_dir("names");
        create_ca(&root.join("ca"), "test CA").unwrap();
        let names = NodeNames {
            node: "bad name".into(),
            ..NodeNames::default()
        };
        let err = create_node(&root.join("ca"), &names, &root.join("n")).unwrap_err();
        assert!(err.to_string().contains("not a valid host name"), "{err}");
        assert!(!root.join("n").exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
