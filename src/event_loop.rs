//! The event loop: one poll over the signal pipe and every trigger, forever.
//!
//! Nothing here is time-dependent, so poll waits without a timeout and an idle daemon
//! makes no system calls at all.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use syslog::Severity;

use crate::message;
use crate::sink::Sink;
use crate::sys;
use crate::trigger::{Notification, Trigger};

/// Signals that stop the daemon.
const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

/// The self-pipe that turns signals into a readable descriptor in the poll set.
pub struct Signals {
    wake: UnixStream,
    /// The number of the last stop signal received, 0 for none.
    stop: Arc<AtomicUsize>,
}

impl Signals {
    /// Installs the handlers. Call before arming, so a signal that arrives while the
    /// triggers are armed is acted on at the first poll.
    pub fn install() -> io::Result<Signals> {
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let stop = Arc::new(AtomicUsize::new(0));
        for signal in STOP_SIGNALS {
            // The flag is set before the pipe is written: handlers run in the order
            // they were registered.
            signal_hook::flag::register_usize(signal, Arc::clone(&stop), signal as usize)?;
            signal_hook::low_level::pipe::register(signal, wake_writer.try_clone()?)?;
        }
        Ok(Signals { wake, stop })
    }

    fn drain(&mut self) {
        let mut buffer = [0u8; 64];
        while matches!(self.wake.read(&mut buffer), Ok(n) if n > 0) {}
    }

    fn stop_requested(&self) -> Option<&'static str> {
        match self.stop.load(Ordering::SeqCst) as libc::c_int {
            0 => None,
            libc::SIGINT => Some("SIGINT"),
            _ => Some("SIGTERM"),
        }
    }
}

/// Runs until a stop signal; returns its name.
pub fn run(
    triggers: &mut [Trigger],
    sink: &mut Sink,
    signals: &mut Signals,
) -> io::Result<&'static str> {
    let mut pollfds: Vec<libc::pollfd> = std::iter::once(signals.wake.as_raw_fd())
        .chain(triggers.iter().map(|t| t.fd.as_raw_fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN | libc::POLLPRI,
            revents: 0,
        })
        .collect();
    loop {
        if let Some(signal) = signals.stop_requested() {
            return Ok(signal);
        }
        match sys::poll(&mut pollfds, -1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if pollfds[0].revents != 0 {
            signals.drain();
        }
        for (pollfd, trigger) in pollfds[1..].iter_mut().zip(triggers.iter_mut()) {
            let revents = pollfd.revents;
            if revents & (libc::POLLERR | libc::POLLNVAL | libc::POLLHUP) != 0 {
                // Errors first: a descriptor in error stays ready forever, so it leaves
                // the poll set (a negative fd is ignored by poll) or the loop would spin.
                pollfd.fd = -1;
                sink.emit(
                    Severity::LOG_ERR,
                    &message::lost(&trigger.spec, "the kernel reported an error on the trigger"),
                );
            } else if revents & libc::POLLPRI != 0 {
                match trigger.notification() {
                    Notification::Crossing { reading, stall_us } => sink.emit(
                        Severity::LOG_WARNING,
                        &message::pressure(&trigger.spec, &reading, stall_us),
                    ),
                    Notification::Spurious => {}
                    Notification::Unreadable { reason } => {
                        pollfd.fd = -1;
                        sink.emit(Severity::LOG_ERR, &message::lost(&trigger.spec, &reason));
                    }
                }
            }
        }
    }
}
