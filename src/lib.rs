//! psi-syslogd: arms Linux PSI triggers and logs every real threshold crossing to syslog.
//!
//! The modules, one concept each: `trigger` (spec, rules, arming), `pressure` (reading
//! the stats and deciding), `message` (the logfmt text), `sink` (syslog or stderr),
//! `event_loop` (poll and signals), `config` (the command line), `sys` (every syscall).

pub mod config;
pub mod error;
pub mod event_loop;
pub mod message;
pub mod pressure;
pub mod sink;
pub mod sys;
pub mod trigger;
