//! Arming when descriptors may run out. Every trigger holds one descriptor, so a pattern
//! that matches many groups can reach the soft limit (EMFILE): the soft limit is then
//! raised to the hard one, once (systemd gives services 1024 under 524288), and past
//! that, the groups that find no descriptor wait for one ("starved"), which is said once
//! until it ends. What is worth saying goes into the caller's notes.

use std::path::PathBuf;
use std::rc::Rc;

use crate::message::Event;
use crate::pattern::Match;
use crate::refusal::Refusal;
use crate::roots;
use crate::spec::Spec;
use crate::sys;
use crate::trigger::{Scope, State, Subject, Trigger};

/// The descriptor policy of one trigger set.
#[derive(Default)]
pub struct Arming {
    /// The soft limit was raised to the hard one already.
    raised_limit: bool,
    /// Descriptors ran out in this pass: a group waits for one.
    starved: bool,
    /// The lack of descriptors was said; said again only after it ended.
    starvation_said: bool,
}

impl Arming {
    /// A pass over the triggers (start, reload, rescan) begins: none starved yet.
    pub fn begin(&mut self) {
        self.starved = false;
    }

    /// A rescan ended: if descriptors did not run out in it, the lack is over, and is
    /// said again if it comes back.
    pub fn end(&mut self) {
        if !self.starved {
            self.starvation_said = false;
        }
    }

    /// Whether descriptors ran out in this pass: arm nothing more until one frees.
    pub fn starved(&self) -> bool {
        self.starved
    }

    /// Arms `subject` on `path`. When descriptors run out the first time, raises the
    /// soft limit to the hard one (and says so) and tries again.
    pub fn arm(
        &mut self,
        subject: Subject,
        scope: Scope,
        path: PathBuf,
        notes: &mut Vec<Event>,
    ) -> Result<Trigger, Refusal> {
        let mut trigger = Trigger::unarmed(subject, scope, path, State::Waiting);
        match trigger.rearm() {
            Ok(()) => Ok(trigger),
            Err(refusal) if refusal.errno == Some(libc::EMFILE) && !self.raised_limit => {
                self.raised_limit = true;
                match sys::raise_descriptor_limit() {
                    Ok(Some((soft, hard))) => {
                        notes.push(Event::Warning(format!(
                            "the soft descriptor limit (RLIMIT_NOFILE) of {soft} is too low \
                             for the triggers: raised to the hard limit, {hard}; set systemd \
                             LimitNOFILE= (or ulimit -n) to say so yourself"
                        )));
                        trigger.rearm().map(|()| trigger)
                    }
                    _ => Err(refusal),
                }
            }
            Err(refusal) => Err(refusal),
        }
    }

    /// Arms one group a pattern matches. `Ok(None)`: the group vanished meanwhile, or
    /// descriptors ran out (the pass is then starved, and says so once).
    pub fn arm_instance(
        &mut self,
        spec: &Rc<Spec>,
        found: Match,
        notes: &mut Vec<Event>,
    ) -> Result<Option<Trigger>, Refusal> {
        let path = roots::group_pressure(&found.dir, spec.resource);
        let subject = Subject {
            spec: Rc::clone(spec),
            group: found.cgroup.into(),
        };
        match self.arm(subject.clone(), Scope::Instance, path, notes) {
            Ok(trigger) => Ok(Some(trigger)),
            Err(refusal) if refusal.is_gone() => Ok(None),
            Err(refusal) if refusal.is_out_of_descriptors() => {
                self.starving(subject, &refusal.error.message, notes);
                Ok(None)
            }
            Err(refusal) => Err(refusal),
        }
    }

    /// Says, once until it ends, that descriptors ran out; `subject` is the first group
    /// (or pattern) that found none.
    pub fn starving(&mut self, subject: Subject, why: &str, notes: &mut Vec<Event>) {
        self.starved = true;
        if self.starvation_said {
            return;
        }
        self.starvation_said = true;
        notes.push(Event::Unarmed {
            subject,
            reason: format!(
                "{why}; this group, and any other that finds no descriptor, is armed as soon \
                 as one frees"
            ),
        });
    }
}
