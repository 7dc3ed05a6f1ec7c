//! The supervisor's readiness protocol (systemd `Type=notify`, OpenRC `notify=socket:ready`):
//! a datagram of `KEY=VALUE` lines to the socket named in `NOTIFY_SOCKET`. A raw datagram,
//! as sd_notify(3) sends it; no libsystemd.

use std::io::{self, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The notification socket the supervisor gave us.
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    watchdog_interval_us: Option<u64>,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for, or `None` when it is unset. A variable that
    /// cannot be used is reported on stderr once and ignored: the daemon runs without it.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let watchdog_usec = std::env::var("WATCHDOG_USEC").ok();
        let watchdog_pid = std::env::var("WATCHDOG_PID").ok();
        match Notifier::new(
            &path.to_string_lossy(),
            watchdog_usec.as_deref(),
            watchdog_pid.as_deref(),
        ) {
            Ok(notifier) => Some(notifier),
            Err(e) => {
                crate::sink::write_stderr(
                    syslog::Severity::LOG_WARNING,
                    &format!(
                        "psi-syslogd: cannot use NOTIFY_SOCKET={path:?} ({e}); running without \
                     readiness notification"
                    ),
                );
                None
            }
        }
    }

    /// A notifier for the socket `path` (`@name` is in the abstract namespace), with the
    /// watchdog settings as systemd passes them.
    pub fn new(
        path: &str,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
    ) -> io::Result<Notifier> {
        let address = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None if path.starts_with('/') => SocketAddr::from_pathname(path)?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not an absolute path or @abstract name",
                ));
            }
        };
        let socket = UnixDatagram::unbound()?;
        // A supervisor that stopped reading must not stop the daemon.
        socket.set_nonblocking(true)?;
        Ok(Notifier {
            socket,
            address,
            watchdog_interval_us: watchdog_interval_us(watchdog_usec, watchdog_pid),
        })
    }

    /// `READY=1` (every trigger is armed) and a status line in one datagram.
    pub fn ready_with_status(&self, status: &str) {
        self.send_status("READY=1\n", status);
    }

    /// `RELOADING=1` with the monotonic time systemd 253+ asks for; follow with `ready_with_status()`.
    pub fn reloading(&self) {
        let mut message = [0u8; 64];
        let mut cursor = io::Cursor::new(&mut message[..]);
        let _ = write!(
            cursor,
            "RELOADING=1\nMONOTONIC_USEC={}",
            crate::sys::monotonic_us()
        );
        let len = cursor.position() as usize;
        self.send_bytes(&message[..len]);
    }

    /// `STOPPING=1`: the daemon is on its way out.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// How often to call `watchdog()`: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
    /// advises; `None` when the watchdog is off or meant for another process.
    pub fn watchdog_interval_us(&self) -> Option<u64> {
        self.watchdog_interval_us
    }

    /// `WATCHDOG=1`: the loop is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send_status(&self, before: &str, status: &str) {
        let mut message = [0u8; 512];
        let mut cursor = io::Cursor::new(&mut message[..]);
        let _ = cursor.write_all(before.as_bytes());
        let _ = cursor.write_all(b"STATUS=");
        for c in status.chars() {
            let c = if c.is_control() { ' ' } else { c };
            let mut utf8 = [0u8; 4];
            if cursor
                .write_all(c.encode_utf8(&mut utf8).as_bytes())
                .is_err()
            {
                break;
            }
        }
        let mut len = cursor.position() as usize;
        // A cut inside a UTF-8 sequence would make the status invalid text.
        while len > 0 && std::str::from_utf8(&message[..len]).is_err() {
            len -= 1;
        }
        self.send_bytes(&message[..len]);
    }

    fn send(&self, message: &str) {
        self.send_bytes(message.as_bytes());
    }

    /// Best effort, as sd_notify: a supervisor that went away cannot be told anything.
    fn send_bytes(&self, message: &[u8]) {
        let _ = self.socket.send_to_addr(message, &self.address);
    }
}

/// The shortest watchdog interval honoured.
const WATCHDOG_FLOOR_US: u64 = 1_000;

/// Half of `WATCHDOG_USEC` when it is a positive number and `WATCHDOG_PID`, if set, is
/// us; never less than 1 ms, so a tiny value cannot turn the loop into a busy one.
fn watchdog_interval_us(usec: Option<&str>, pid: Option<&str>) -> Option<u64> {
    if let Some(pid) = pid
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = usec?.parse().ok()?;
    (usec > 0).then_some((usec / 2).max(WATCHDOG_FLOOR_US))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_half_of_watchdog_usec_for_this_process() {
        let me = std::process::id().to_string();
        assert_eq!(
            watchdog_interval_us(Some("20000000"), None),
            Some(10_000_000)
        );
        assert_eq!(
            watchdog_interval_us(Some("20000000"), Some(&me)),
            Some(10_000_000)
        );
        assert_eq!(watchdog_interval_us(Some("20000000"), Some("1")), None);
        assert_eq!(watchdog_interval_us(Some("0"), None), None);
        assert_eq!(watchdog_interval_us(Some("20s"), None), None);
        assert_eq!(watchdog_interval_us(None, None), None);
    }

    #[test]
    fn messages_reach_the_socket_and_status_stays_one_line() {
        let dir = std::env::temp_dir().join(format!("psi-notify-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::new(path.to_str().unwrap(), None, None).unwrap();
        notifier.ready_with_status("watching 2 triggers\nforged=1");
        notifier.stopping();
        let mut buffer = [0u8; 600];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(
            &buffer[..n],
            b"READY=1\nSTATUS=watching 2 triggers forged=1"
        );
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(Notifier::new("relative", None, None).is_err());
    }
}
