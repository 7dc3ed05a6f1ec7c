//! Why the kernel refused, in one place: the errno of arming a trigger (its `open` or
//! `write`) and of listing a pattern's directories, mapped to the exit status and the
//! advice an operator needs, and the classes of errno the trigger set acts on (a group
//! that vanished, descriptors that ran out). Which of the kernel's rules refused a
//! permission is privilege.rs's to tell.

use std::io;
use std::path::Path;

use crate::error::{Error, Exit};
use crate::pressure::Resource;
use crate::privilege::{self, Operation};
use crate::spec::Spec;
use crate::sys;

/// Why a trigger could not be armed: the error for the operator, and the errno behind
/// it, by which the caller tells a group that vanished, or descriptors running out,
/// from a refusal.
#[derive(Debug)]
pub struct Refusal {
    pub errno: Option<i32>,
    pub error: Error,
}

impl Refusal {
    /// The group (or its pressure file) is not there: it vanished, or never was.
    pub fn is_gone(&self) -> bool {
        self.errno.is_some_and(is_gone)
    }

    /// The process or the system has no descriptor left.
    pub fn is_out_of_descriptors(&self) -> bool {
        self.errno.is_some_and(is_out_of_descriptors)
    }
}

/// A directory or file removed while we look at it (cgroupfs answers ENODEV for the
/// files of a group being removed).
pub fn is_gone(errno: i32) -> bool {
    matches!(errno, libc::ENOENT | libc::ENOTDIR | libc::ENODEV)
}

/// No descriptor left: this process's limit (EMFILE) or the system's (ENFILE).
pub fn is_out_of_descriptors(errno: i32) -> bool {
    matches!(errno, libc::EMFILE | libc::ENFILE)
}

/// Maps a failed `open` or `write` of a trigger to the exit status and the advice an
/// operator needs.
pub fn arm_error(
    spec: &Spec,
    shown: &str,
    path: &str,
    operation: Operation,
    error: io::Error,
) -> Refusal {
    let called = match operation {
        Operation::Open => "open",
        Operation::Write => "write",
    };
    let prefix = format!("cannot arm '{shown}' on {path} for trigger '{spec}' ({called}): {error}");
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
            let errno = errno.unwrap_or(0);
            let why = privilege::explain_refusal(operation, errno, spec, Path::new(path));
            Error::new(why.exit, format!("{prefix}; {}", why.message))
        }
        _ => Error::new(Exit::OsError, prefix),
    };
    Refusal { errno, error }
}

/// A pattern's directories could not be listed.
pub fn scan_error(spec: &Spec, mount: &Path, error: &io::Error) -> Error {
    let exit = match error.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Exit::NoPermission,
        _ => Exit::OsError,
    };
    Error::new(
        exit,
        format!(
            "cannot look for the groups of trigger {spec} under {}: {error}",
            mount.display()
        ),
    )
}
