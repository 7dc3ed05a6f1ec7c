//! One trigger: its subject (spec and group), where it watches (its `Scope`), whether it
//! is armed (its `State`), its last reading and its episode; arming it (`arm`: open and
//! write) and reading it back on a notification.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::episode::{Action, Episode};
use crate::error::{Error, Exit};
use crate::message::Event;
use crate::pressure::{self, Reading, Stall};
use crate::privilege::Operation;
use crate::refusal::{self, Refusal};
use crate::spec::Spec;
use crate::sys;

/// What a trigger's lines are about: its spec and its group, relative to the cgroup2
/// root as logged in `cgroup=` (`/` system-wide). Two counted references: events carry
/// it without allocating.
#[derive(Clone, Debug)]
pub struct Subject {
    /// Shared by every group a pattern matches.
    pub spec: Rc<Spec>,
    pub group: Rc<str>,
}

/// Where a trigger watches, which decides what happens when its descriptor fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `/proc/pressure/*`: the file does not come and go; a failed descriptor is armed
    /// again at once, or the trigger is lost.
    SystemWide,
    /// The one group a fixed cgroup names: awaited while it does not exist, armed again
    /// when it comes back.
    Fixed,
    /// One of the groups a pattern matches: it comes and goes with its group.
    Instance,
}

/// Whether a trigger is armed.
#[derive(Debug)]
pub enum State {
    /// The descriptor that keeps the kernel's trigger alive, and the stall total at its
    /// previous reading (arming, then each notification).
    Armed { fd: OwnedFd, previous_total_us: u64 },
    /// Its fixed group does not exist (not yet, or no longer): armed when it appears.
    Waiting,
    /// The kernel reported an error and arming again failed: only a reload arms it (an
    /// instance in this state is taken out of its set at once).
    Lost,
}

/// A trigger on one pressure file, armed or not.
pub struct Trigger {
    pub spec: Rc<Spec>,
    pub group: Rc<str>,
    pub scope: Scope,
    /// The pressure file, resolved once.
    pub path: PathBuf,
    pub state: State,
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

/// Room for both lines of a pressure file (about 110 bytes) with plenty to spare.
const READ_BUFFER: usize = 256;

impl Trigger {
    /// A trigger on `path` that is not armed (`state`: waiting or lost); `rearm` arms it.
    pub fn unarmed(subject: Subject, scope: Scope, path: PathBuf, state: State) -> Trigger {
        Trigger {
            spec: subject.spec,
            group: subject.group,
            scope,
            path,
            state,
            last_reading: Reading::default(),
            episode: Episode::Idle,
        }
    }

    pub fn subject(&self) -> Subject {
        Subject {
            spec: Rc::clone(&self.spec),
            group: Rc::clone(&self.group),
        }
    }

    pub fn is_armed(&self) -> bool {
        matches!(self.state, State::Armed { .. })
    }

    /// The descriptor to poll, or -1 (which poll skips) while it has none.
    pub fn raw_fd(&self) -> i32 {
        match &self.state {
            State::Armed { fd, .. } => fd.as_raw_fd(),
            State::Waiting | State::Lost => -1,
        }
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
        self.last_reading = reading;
        self.state = State::Armed {
            fd,
            previous_total_us: reading.total_us,
        };
        Ok(())
    }

    /// Closes the descriptor: the trigger waits for its group if it has a fixed one,
    /// else it is lost (an instance is then removed by its set).
    pub fn disarm(&mut self) {
        self.state = match self.scope {
            Scope::Fixed => State::Waiting,
            Scope::SystemWide | Scope::Instance => State::Lost,
        };
    }

    /// Reads the pressure file now (for status lines).
    pub fn refresh(&mut self) -> Option<Reading> {
        let State::Armed { fd, .. } = &self.state else {
            return None;
        };
        let reading = read(fd.as_fd(), self.spec.stall).ok()?;
        self.last_reading = reading;
        Some(reading)
    }

    /// Reads the stats after a POLLPRI and decides whether it was a real crossing.
    pub fn notification(&mut self) -> Notification {
        let State::Armed {
            fd,
            previous_total_us,
        } = &mut self.state
        else {
            return Notification::Unreadable {
                reason: "not armed".into(),
            };
        };
        match read(fd.as_fd(), self.spec.stall) {
            Ok(reading) => {
                self.last_reading = reading;
                let previous = std::mem::replace(previous_total_us, reading.total_us);
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

    /// What the log says of what its episode decided.
    pub fn said(&self, action: Action) -> Event {
        let subject = self.subject();
        match action {
            Action::Pressure => Event::Pressure {
                subject,
                reading: self.last_reading,
                stall_us: 0,
            },
            Action::Ongoing {
                duration_us,
                crossings,
            } => Event::Ongoing {
                subject,
                reading: self.last_reading,
                duration_us,
                crossings,
            },
            Action::Recovered {
                duration_us,
                crossings,
                peak_avg10,
            } => Event::Recovered {
                subject,
                duration_us,
                crossings,
                peak_avg10,
            },
        }
    }
}

/// Opens the spec's pressure file and writes the trigger: the whole of arming, in one
/// place. The trigger lives as long as the returned descriptor; refusal.rs says why
/// the kernel refused.
fn arm(spec: &Spec, path: &Path) -> Result<OwnedFd, Refusal> {
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
        .map_err(|e| refusal::arm_error(spec, &shown, &path, Operation::Open, e))?;
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
        Err(e) => Err(refusal::arm_error(spec, &shown, &path, Operation::Write, e)),
    }
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
