//! The tiny test guest: a Debian kernel and a busybox initramfs whose init
//! loads `e1000.ko` and gives eth0 the address `haven.ip=ADDR/PREFIX` from
//! the kernel command line (and a default route with `haven.gw=ADDR`).
//! `scripts/build-guest.sh` builds it once into a cache directory.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The built guest's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

impl GuestImage {
    /// The kernel command line for a guest with address `addr` (like
    /// `10.0.0.5/24`) on its serial console.
    pub fn cmdline(addr: &str) -> String {
        format!("console=ttyS0 quiet panic=-1 haven.ip={addr}")
    }
}

/// The script, relative to this crate.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-guest.sh")
}

/// Builds the guest when it is missing (the script is quick when it is
/// not) and returns its files. The directory is `$HAVEN_GUEST_DIR`, by
/// default `~/.cache/haven/guest`.
///
/// # Errors
/// The script failed; its one-sentence reason is in the message.
pub fn ensure() -> io::Result<GuestImage> {
    let out = Command::new("bash").arg(script()).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "building the test guest failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let image = GuestImage {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initramfs.cpio.gz"),
    };
    match image.kernel.is_file() && image.initrd.is_file() {
        true => Ok(image),
        false => Err(io::Error::other(format!(
            "scripts/build-guest.sh printed {}, which holds no vmlinuz and initramfs.cpio.gz",
            dir.display()
        ))),
    }
}
