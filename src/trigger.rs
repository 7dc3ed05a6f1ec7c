//! An armed trigger: one descriptor on one pressure file, the stall total at its last
//! reading, and its episode; arming it, and reading it back on a notification.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::episode::Episode;
use crate::error::{Error, Exit};
use crate::pressure::{self, Reading, Resource, Stall};
use crate::privilege;
use crate::spec::Spec;
use crate::sys;

/// An armed trigger (or one waiting for its cgroup): the spec, the group it watches, the
/// descriptor that keeps it alive, and the stall total at its previous reading (arming,
/// then each notification).
pub struct Trigger {
    /// Shared by every group a pattern matches.
    pub spec: Rc<Spec>,
    /// The group, relative to the cgroup2 root as logged in `cgroup=`; `/` system-wide.
    pub cgroup: String,
    /// One of the groups a pattern matches: it comes and goes with its group.
    pub instance: bool,
    /// The pressure file, resolved once.
    pub path: PathBuf,
    /// `None` while the cgroup is gone (lost) or not there yet (waiting).
    pub fd: Option<OwnedFd>,
    pub previous_total_us: u64,
    /// The last reading, for status lines and reminders without another read.
    pub last_reading: Reading,
    pub episode: Episode,
}

/// A notification, read back from the trigger's own descriptor.
pub enum Notification {
    /// The stall grew by at least the threshold: log it.
    Crossing { reading: Reading, stall_us: u64 },
    /// The kernel woke us but the stall did not grow by the threshold.
    Spurious,
    /// The file could not be read or parsed; `reason` says why.
    Unreadable { reason: String },
}

/// Why a trigger could not be armed: the error for the operator, and the errno behind
/// it, by which the caller tells a group that vanished, or descriptors running out,
/// from a refusal.
#[derive(Debug)]
pub struct Refusal {
    pub errno: Option<i32>,
    pub error: Error,
}

/// Room for both lines of a pressure file (about 110 bytes) with plenty to spare.
const READ_BUFFER: usize = 256;

impl Trigger {
    /// A trigger not armed yet; `rearm` arms it.
    pub fn waiting(spec: Rc<Spec>, cgroup: String, path: PathBuf) -> Trigger {
        Trigger {
            spec,
            cgroup,
            instance: false,
            path,
            fd: None,
            previous_total_us: 0,
            last_reading: Reading::default(),
            episode: Episode::Idle,
        }
    }

    /// Arms `spec` on `path` and takes the first reading.
    pub fn arm(spec: Rc<Spec>, cgroup: String, path: PathBuf) -> Result<Trigger, Refusal> {
        let mut trigger = Trigger::waiting(spec, cgroup, path);
        trigger.rearm()?;
        Ok(trigger)
    }

    /// Arms (again) and takes the first reading, which later notifications are
    /// measured against. A re-created cgroup starts its counters from zero.
    pub fn rearm(&mut self) -> Result<(), Refusal> {
        let fd = arm(&self.spec, &self.path)?;
        let reading = read(fd.as_fd(), self.spec.stall).map_err(|reason| Refusal {
            errno: None,
            error: Error::new(
                Exit::OsError,
                format!(
                    "cannot read {} after arming '{}': {reason}",
                    self.path.display(),
                    self.spec
                ),
            ),
        })?;
        self.previous_total_us = reading.total_us;
        self.last_reading = reading;
        self.fd = Some(fd);
        Ok(())
    }

    /// Reads the pressure file now (for status lines).
    pub fn refresh(&mut self) -> Option<Reading> {
        let reading = read(self.fd.as_ref()?.as_fd(), self.spec.stall).ok()?;
        self.last_reading = reading;
        Some(reading)
    }

    /// Reads the stats after a POLLPRI and decides whether it was a real crossing.
    pub fn notification(&mut self) -> Notification {
        let Some(fd) = &self.fd else {
            return Notification::Unreadable {
                reason: "not armed".into(),
            };
        };
        match read(fd.as_fd(), self.spec.stall) {
            Ok(reading) => {
                self.last_reading = reading;
                let previous = std::mem::replace(&mut self.previous_total_us, reading.total_us);
                if pressure::is_real_crossing(previous, reading.total_us, self.spec.threshold_us) {
                    Notification::Crossing {
                        reading,
                        stall_us: reading.total_us - previous,
                    }
                } else {
                    Notification::Spurious
                }
            }
            Err(reason) => Notification::Unreadable { reason },
        }
    }
}

/// Opens the spec's pressure file and writes the trigger. The trigger lives as long as
/// the returned descriptor.
fn arm(spec: &Spec, path: &std::path::Path) -> Result<OwnedFd, Refusal> {
    let path = path.display().to_string();
    let command = spec.kernel_command();
    let shown = String::from_utf8_lossy(&command[..command.len() - 1]).into_owned();
    let c_path = CString::new(path.clone()).map_err(|_| Refusal {
        errno: None,
        error: Error::new(
            Exit::Usage,
            format!("cannot arm '{shown}': the path {path:?} contains a NUL byte"),
        ),
    })?;
    let fd = sys::open(&c_path, libc::O_RDWR | libc::O_NONBLOCK)
        .map_err(|e| arm_error(spec, &shown, &path, "open", e))?;
    match sys::write(fd.as_fd(), &command) {
        Ok(n) if n == command.len() => Ok(fd),
        Ok(n) => Err(Refusal {
            errno: None,
            error: Error::new(
                Exit::OsError,
                format!(
                    "cannot arm '{shown}' on {path}: the kernel took {n} of {} bytes",
                    command.len()
                ),
            ),
        }),
        Err(e) => Err(arm_error(spec, &shown, &path, "write", e)),
    }
}

/// Maps an open/write failure to the exit code and the advice an operator needs.
fn arm_error(spec: &Spec, shown: &str, path: &str, operation: &str, error: io::Error) -> Refusal {
    let prefix =
        format!("cannot arm '{shown}' on {path} for trigger '{spec}' ({operation}): {error}");
    let errno = error.raw_os_error();
    let error = match errno.unwrap_or(0) {
        libc::EROFS if spec.cgroup.is_some() => Error::new(
            Exit::NoPermission,
            format!(
                "{prefix}; the cgroup filesystem is read-only here (systemd \
                 ProtectControlGroups=yes does that): set ProtectControlGroups=no for cgroup \
                 triggers"
            ),
        ),
        libc::ENOENT | libc::ENODEV | libc::ENOTDIR if spec.cgroup.is_some() => Error::new(
            Exit::Unavailable,
            format!(
                "{prefix}; the cgroup does not exist (or has no {} pressure file): start the \
                 service first, check the name in /proc/PID/cgroup, or use --wait-for-cgroups \
                 to arm the trigger when the cgroup appears",
                spec.resource.name()
            ),
        ),
        libc::ENOENT if spec.resource == Resource::Irq => Error::new(
            Exit::Unavailable,
            format!(
                "{prefix}; this kernel reports no irq pressure (it needs \
                 CONFIG_IRQ_TIME_ACCOUNTING and Linux 6.1 or later): drop the irq trigger"
            ),
        ),
        libc::ENOENT => Error::new(
            Exit::Unavailable,
            format!(
                "{prefix}; PSI is not available: the kernel needs CONFIG_PSI=y, and with \
                 CONFIG_PSI_DEFAULT_DISABLED=y it must be booted with psi=1"
            ),
        ),
        libc::EOPNOTSUPP => Error::new(
            Exit::Unavailable,
            format!("{prefix}; PSI is disabled on this kernel: boot it with psi=1"),
        ),
        libc::EMFILE | libc::ENFILE => {
            let limit = match sys::descriptor_limit() {
                Ok((soft, hard)) => format!(" (RLIMIT_NOFILE: soft {soft}, hard {hard})"),
                Err(_) => String::new(),
            };
            Error::new(
                Exit::OsError,
                format!(
                    "{prefix}; every trigger takes a descriptor and the limit{limit} is \
                     reached: raise it (systemd LimitNOFILE=, ulimit -n) or arm fewer triggers"
                ),
            )
        }
        // Which rule refused is told from the answer, the file and our credentials.
        libc::EACCES | libc::EPERM | libc::EINVAL => {
            let operation = match operation {
                "open" => privilege::Operation::Open,
                _ => privilege::Operation::Write,
            };
            let errno = errno.unwrap_or(0);
            let why = privilege::explain_refusal(operation, errno, spec, Path::new(path));
            Error::new(why.exit, format!("{prefix}; {}", why.message))
        }
        _ => Error::new(Exit::OsError, prefix),
    };
    Refusal { errno, error }
}

/// One pread of the pressure file through the trigger's descriptor, into a stack buffer.
fn read(fd: BorrowedFd<'_>, stall: Stall) -> Result<Reading, String> {
    let mut buffer = [0u8; READ_BUFFER];
    let len = sys::pread(fd, &mut buffer, 0).map_err(|e| e.to_string())?;
    pressure::parse(&buffer[..len], stall).ok_or_else(|| {
        format!(
            "no '{}' line in {:?}",
            stall.name(),
            String::from_utf8_lossy(&buffer[..len])
        )
    })
}
