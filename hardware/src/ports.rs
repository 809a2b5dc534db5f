//! Serial port discovery with USB identities, for setup screens and udev rules.
//!
//! Combines `serialport::available_ports`, `/dev/serial/by-id` links and sysfs USB
//! attributes, since without libudev the first alone may miss identities on Linux.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serialport::SerialPortType;
use tracing::debug;

const SYS_CLASS_TTY: &str = "/sys/class/tty";
const DEV: &str = "/dev";
const BY_ID: &str = "/dev/serial/by-id";

/// How many directories above a tty's `device` link to look for the USB device.
const USB_ANCESTOR_DEPTH: usize = 4;

/// One serial port and, for USB devices, who made it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    /// Device node, e.g. `/dev/ttyACM0`.
    pub path: String,
    /// Stable `/dev/serial/by-id/…` link to it, if any: prefer it in configuration.
    pub by_id: Option<String>,
    /// USB vendor id.
    pub vid: Option<u16>,
    /// USB product id.
    pub pid: Option<u16>,
    /// USB serial number.
    pub serial_number: Option<String>,
    /// USB manufacturer string.
    pub manufacturer: Option<String>,
    /// USB product string.
    pub product: Option<String>,
}

/// List serial ports, sorted by path. Never fails: sources that cannot be read are skipped.
pub fn list_serial_ports() -> Vec<PortInfo> {
    let mut ports = BTreeMap::new();
    // serialport's sysfs scan panics when /sys/class/tty is missing (e.g. in containers).
    if !cfg!(target_os = "linux") || Path::new(SYS_CLASS_TTY).is_dir() {
        match serialport::available_ports() {
            Ok(found) => {
                for port in found {
                    merge_serialport(&mut ports, port);
                }
            }
            Err(err) => debug!(error = %err, "serialport enumeration failed"),
        }
    }
    scan_sysfs(Path::new(SYS_CLASS_TTY), Path::new(DEV), &mut ports);
    scan_by_id(Path::new(BY_ID), &mut ports);
    ports.into_values().collect()
}

type Ports = BTreeMap<String, PortInfo>;

fn entry<'a>(ports: &'a mut Ports, path: &Path) -> &'a mut PortInfo {
    let path = canonical(path);
    ports.entry(path.clone()).or_insert_with(|| PortInfo {
        path,
        ..PortInfo::default()
    })
}

fn canonical(path: &Path) -> String {
    fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .to_string_lossy()
        .into_owned()
}

fn merge_serialport(ports: &mut Ports, port: serialport::SerialPortInfo) {
    let info = entry(ports, Path::new(&port.port_name));
    if let SerialPortType::UsbPort(usb) = port.port_type {
        info.vid = info.vid.or(Some(usb.vid));
        info.pid = info.pid.or(Some(usb.pid));
        info.serial_number = info.serial_number.take().or(usb.serial_number);
        info.manufacturer = info.manufacturer.take().or(usb.manufacturer);
        info.product = info.product.take().or(usb.product);
    }
}

/// Add USB ttys found under `sys_class_tty` whose node exists under `dev`.
fn scan_sysfs(sys_class_tty: &Path, dev: &Path, ports: &mut Ports) {
    let Ok(entries) = fs::read_dir(sys_class_tty) else {
        return;
    };
    for tty in entries.flatten() {
        let Some(usb) = fs::canonicalize(tty.path().join("device"))
            .ok()
            .and_then(|device| usb_device_dir(&device))
        else {
            continue;
        };
        let node = dev.join(tty.file_name());
        if !node.exists() {
            continue;
        }
        let info = entry(ports, &node);
        info.vid = info.vid.or_else(|| read_hex(&usb, "idVendor"));
        info.pid = info.pid.or_else(|| read_hex(&usb, "idProduct"));
        info.serial_number = info
            .serial_number
            .take()
            .or_else(|| read_attr(&usb, "serial"));
        info.manufacturer = info
            .manufacturer
            .take()
            .or_else(|| read_attr(&usb, "manufacturer"));
        info.product = info.product.take().or_else(|| read_attr(&usb, "product"));
    }
}

/// The USB device directory (the one with `idVendor`) at or above a tty's device.
fn usb_device_dir(device: &Path) -> Option<PathBuf> {
    device
        .ancestors()
        .take(USB_ANCESTOR_DEPTH)
        .find(|dir| dir.join("idVendor").is_file())
        .map(Path::to_owned)
}

fn read_attr(dir: &Path, name: &str) -> Option<String> {
    let value = fs::read_to_string(dir.join(name)).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn read_hex(dir: &Path, name: &str) -> Option<u16> {
    u16::from_str_radix(&read_attr(dir, name)?, 16).ok()
}

/// Record the `/dev/serial/by-id` link of each port, adding ports only seen there.
fn scan_by_id(by_id: &Path, ports: &mut Ports) {
    let Ok(entries) = fs::read_dir(by_id) else {
        return;
    };
    for link in entries.flatten() {
        let link = link.path();
        if fs::canonicalize(&link).is_err() {
            continue; // dangling
        }
        entry(ports, &link).by_id = Some(link.to_string_lossy().into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    #[test]
    fn sysfs_and_by_id_are_merged() {
        let root = tempfile::tempdir().expect("tempdir");
        let root = fs::canonicalize(root.path()).expect("canonical tempdir");
        let (sys, dev) = (root.join("sys"), root.join("dev"));

        // A CDC-ACM scanner: tty -> USB interface -> USB device with identity.
        let usb_dev = sys.join("devices/pci0000:00/usb1/1-2");
        write(&usb_dev.join("idVendor"), "0c2e\n");
        write(&usb_dev.join("idProduct"), "0b61\n");
        write(&usb_dev.join("serial"), "21123B4567\n");
        write(
            &usb_dev.join("manufacturer"),
            "Honeywell Imaging & Mobility\n",
        );
        write(&usb_dev.join("product"), "Xenon 1900\n");
        fs::create_dir_all(usb_dev.join("1-2:1.0")).expect("mkdir");
        fs::create_dir_all(sys.join("class/tty/ttyACM0")).expect("mkdir");
        symlink(
            usb_dev.join("1-2:1.0"),
            sys.join("class/tty/ttyACM0/device"),
        )
        .expect("symlink");
        // A platform UART without USB identity, and a virtual console: both skipped.
        let uart = sys.join("devices/platform/serial8250/tty/ttyS0");
        fs::create_dir_all(&uart).expect("mkdir");
        fs::create_dir_all(sys.join("class/tty/ttyS0")).expect("mkdir");
        symlink(&uart, sys.join("class/tty/ttyS0/device")).expect("symlink");
        fs::create_dir_all(sys.join("class/tty/tty1")).expect("mkdir");

        for node in ["ttyACM0", "ttyS0", "tty1"] {
            write(&dev.join(node), "");
        }
        let link = dev.join("serial/by-id/usb-Honeywell_Xenon_21123B4567-if00");
        fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
        symlink("../../ttyACM0", &link).expect("symlink");
        symlink("../../ttyGONE", dev.join("serial/by-id/dangling")).expect("symlink");

        let mut ports = Ports::new();
        scan_sysfs(&sys.join("class/tty"), &dev, &mut ports);
        scan_by_id(&dev.join("serial/by-id"), &mut ports);
        let ports: Vec<_> = ports.into_values().collect();

        assert_eq!(
            ports,
            [PortInfo {
                path: dev.join("ttyACM0").to_string_lossy().into_owned(),
                by_id: Some(link.to_string_lossy().into_owned()),
                vid: Some(0x0c2e),
                pid: Some(0x0b61),
                serial_number: Some("21123B4567".into()),
                manufacturer: Some("Honeywell Imaging & Mobility".into()),
                product: Some("Xenon 1900".into()),
            }]
        );
    }

    #[test]
    fn missing_sources_yield_nothing() {
        let mut ports = Ports::new();
        scan_sysfs(
            Path::new("/nonexistent/sys"),
            Path::new("/nonexistent/dev"),
            &mut ports,
        );
        scan_by_id(Path::new("/nonexistent/by-id"), &mut ports);
        assert!(ports.is_empty());
    }

    #[test]
    fn listing_real_ports_does_not_panic() {
        for port in list_serial_ports() {
            assert!(!port.path.is_empty());
        }
    }
}
