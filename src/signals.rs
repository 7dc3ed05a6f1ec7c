//! Signals as a descriptor in the poll set: a self-pipe that the handlers write to, and
//! flags that say which signal came (set before the pipe is written: handlers run in the
//! order they were registered).

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Signals {
    wake: UnixStream,
    /// The number of the stop signal received, 0 for none.
    stop: Arc<AtomicUsize>,
    reload: Arc<AtomicBool>,
    status: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers. Call before arming, so a signal that arrives while the
    /// triggers are armed is acted on at the first turn of the loop.
    pub fn install() -> io::Result<Signals> {
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let signals = Signals {
            wake,
            stop: Arc::new(AtomicUsize::new(0)),
            reload: Arc::new(AtomicBool::new(false)),
            status: Arc::new(AtomicBool::new(false)),
        };
        for signal in [libc::SIGTERM, libc::SIGINT] {
            signal_hook::flag::register_usize(signal, Arc::clone(&signals.stop), signal as usize)?;
        }
        signal_hook::flag::register(libc::SIGHUP, Arc::clone(&signals.reload))?;
        signal_hook::flag::register(libc::SIGUSR1, Arc::clone(&signals.status))?;
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
            signal_hook::low_level::pipe::register(signal, wake_writer.try_clone()?)?;
        }
        Ok(signals)
    }

    /// The pipe's slot in the poll set.
    pub fn pollfd(&self) -> libc::pollfd {
        libc::pollfd {
            fd: self.wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }
    }

    /// Empties the pipe; the flags say what came.
    pub fn drain(&mut self) {
        let mut buffer = [0u8; 64];
        while matches!(self.wake.read(&mut buffer), Ok(n) if n > 0) {}
    }

    /// The stop signal that came, if one did.
    pub fn stop_requested(&self) -> Option<&'static str> {
        match self.stop.load(Ordering::SeqCst) as libc::c_int {
            0 => None,
            libc::SIGINT => Some("SIGINT"),
            _ => Some("SIGTERM"),
        }
    }

    /// Whether SIGHUP came since the last call. Many SIGHUPs before the loop looks are one
    /// reload.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::SeqCst)
    }

    /// Whether SIGUSR1 came since the last call.
    pub fn take_status(&self) -> bool {
        self.status.swap(false, Ordering::SeqCst)
    }
}
