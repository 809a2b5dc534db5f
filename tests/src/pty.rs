//! A real pseudo-terminal pair standing in for a serial barcode scanner:
//! the agent opens the slave by path like any `/dev/ttyACM0`, and the
//! harness "scans" by writing framed codes to the master.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use anyhow::Context;

/// A pseudo-terminal whose slave path is configured as a scanner.
pub struct ScannerPty {
    master: File,
    /// Held open so writes never fail before the agent opens the port.
    _slave: OwnedFd,
    path: PathBuf,
}

impl ScannerPty {
    /// Opens a new pair.
    pub fn open() -> anyhow::Result<Self> {
        let pair = nix::pty::openpty(None, None).context("openpty")?;
        let path = nix::unistd::ttyname(&pair.slave).context("ttyname of the pty slave")?;
        Ok(ScannerPty {
            master: File::from(pair.master),
            _slave: pair.slave,
            path,
        })
    }

    /// The slave's path, such as `/dev/pts/7`.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Sends one scan as a scanner does: the code, then CR.
    pub fn scan(&mut self, code: &str) -> anyhow::Result<()> {
        self.write_raw(format!("{code}\r").as_bytes())
    }

    /// Writes raw bytes to the line.
    pub fn write_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.master
            .write_all(bytes)
            .context("write to the pty master")?;
        self.master.flush().context("flush the pty master")
    }
}
