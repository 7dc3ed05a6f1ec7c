//! The reload plan: which triggers a new configuration keeps, which it arms afresh and
//! which it closes. `plan` is a pure function of the old specs and the new ones;
//! `apply` moves the triggers accordingly, without a system call, so both are tested
//! without a kernel. Arming what is new happens between the two, in the trigger set.
//!
//! A new spec keeps the triggers of the first old spec, not yet kept, that asks the
//! kernel for the same trigger on the same groups (`Spec::same_trigger`): they stay
//! armed and their episodes go on, under the new spec (a new severity or name applies
//! at once). An old spec with a trigger waiting for its group is kept only while waiting
//! is allowed (`wait-for-cgroups`); otherwise it is armed afresh, and a group that is
//! still missing fails the reload as it fails a start.

use std::rc::Rc;

use crate::spec::Spec;
use crate::trigger::Trigger;

/// An old spec as the plan sees it.
pub struct Old<'a> {
    pub spec: &'a Spec,
    /// One of its triggers is not armed and not a pattern's instance: a fixed group
    /// awaited (or a system-wide trigger lost).
    pub unarmed: bool,
}

/// What a reload does with each spec.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// For each new spec, in order: the old spec whose triggers it keeps, or `None`:
    /// armed afresh.
    pub kept: Vec<Option<usize>>,
    /// The old specs that no new one keeps: their triggers close, in this order.
    pub dropped: Vec<usize>,
}

impl Plan {
    /// The new specs armed afresh, in order.
    pub fn added(&self) -> impl Iterator<Item = usize> + '_ {
        self.kept
            .iter()
            .enumerate()
            .filter(|(_, kept)| kept.is_none())
            .map(|(index, _)| index)
    }
}

/// The plan for going from `old` to `new`.
pub fn plan(old: &[Old<'_>], new: &[Spec], wait_for_cgroups: bool) -> Plan {
    let mut kept: Vec<Option<usize>> = Vec::with_capacity(new.len());
    for spec in new {
        let claimable = |(index, candidate): &(usize, &Old<'_>)| {
            !kept.contains(&Some(*index))
                && candidate.spec.same_trigger(spec)
                && (wait_for_cgroups || !candidate.unarmed)
        };
        let claimed = old
            .iter()
            .enumerate()
            .find(claimable)
            .map(|(index, _)| index);
        kept.push(claimed);
    }
    let dropped = (0..old.len())
        .filter(|index| !kept.contains(&Some(*index)))
        .collect();
    Plan { kept, dropped }
}

/// Carries the triggers over: each kept spec's triggers (from `old`, where each belongs
/// to one of `old_specs`) go under its new spec from `new_specs`, episodes and all, and
/// each spec armed afresh takes its triggers from `armed` (one list per added spec, in
/// order). Returns the triggers in the order of the new specs, and the old triggers of
/// dropped specs, in their old order, to close.
pub fn apply(
    plan: &Plan,
    old_specs: &[Rc<Spec>],
    old: Vec<Trigger>,
    new_specs: &[Rc<Spec>],
    armed: Vec<Vec<Trigger>>,
) -> (Vec<Trigger>, Vec<Trigger>) {
    let mut old = old;
    let mut armed = armed.into_iter();
    let mut triggers = Vec::with_capacity(old.len());
    for (spec, kept) in new_specs.iter().zip(&plan.kept) {
        match kept {
            Some(index) => {
                let mine = |t: &mut Trigger| Rc::ptr_eq(&t.spec, &old_specs[*index]);
                for mut trigger in old.extract_if(.., mine) {
                    trigger.spec = Rc::clone(spec);
                    triggers.push(trigger);
                }
            }
            None => triggers.extend(armed.next().unwrap_or_default()),
        }
    }
    // What no new spec kept.
    (triggers, old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::episode::{Episode, Pacing};
    use crate::pressure::{Hundredths, Reading};
    use crate::spec::Level;
    use crate::trigger::{Scope, State, Subject};

    fn spec(text: &str) -> Spec {
        Spec::parse(text).unwrap()
    }

    /// (old specs with whether one is awaited, new specs, wait-for-cgroups) -> (which
    /// old spec each new one keeps, which old ones are dropped).
    #[test]
    fn the_plan_keeps_the_same_triggers_and_arms_the_rest() {
        type Row = (
            &'static str,
            &'static [(&'static str, bool)],
            &'static [&'static str],
            bool,
            &'static [Option<usize>],
            &'static [usize],
        );
        let table: [Row; 8] = [
            (
                "the same configuration keeps everything",
                &[("cpu:some:50%:2s", false), ("io:full:15%:2s", false)],
                &["cpu:some:50%:2s", "io:full:15%:2s"],
                false,
                &[Some(0), Some(1)],
                &[],
            ),
            (
                "a new severity or name is the same trigger; a new threshold is not",
                &[("cpu:some:50%:2s", false), ("io:full:15%:2s", false)],
                &["io:full:15%:2s severity=crit name=io", "cpu:some:40%:2s"],
                false,
                &[Some(1), None],
                &[0],
            ),
            (
                "one old spec is kept once: the second copy is armed",
                &[("cpu:some:50%:2s", false)],
                &["cpu:some:50%:2s", "cpu:some:50%:2s"],
                false,
                &[Some(0), None],
                &[],
            ),
            (
                "two copies keep two copies, in order",
                &[
                    ("cpu:some:50%:2s name=a", false),
                    ("cpu:some:50%:2s name=b", false),
                ],
                &["cpu:some:50%:2s name=c", "cpu:some:50%:2s name=d"],
                false,
                &[Some(0), Some(1)],
                &[],
            ),
            (
                "another group is another trigger",
                &[("cpu:some:50%:2s:/a.service", false)],
                &["cpu:some:50%:2s:/b.service", "cpu:some:50%:2s"],
                false,
                &[None, None],
                &[0],
            ),
            (
                "an awaited group is armed afresh when waiting is no longer allowed",
                &[("cpu:some:50%:2s:/late.service", true)],
                &["cpu:some:50%:2s:/late.service"],
                false,
                &[None],
                &[0],
            ),
            (
                "and kept while it is",
                &[("cpu:some:50%:2s:/late.service", true)],
                &["cpu:some:50%:2s:/late.service"],
                true,
                &[Some(0)],
                &[],
            ),
            (
                "an empty configuration drops everything",
                &[("cpu:some:50%:2s", false), ("memory:some:10%:2s:/*", false)],
                &[],
                false,
                &[],
                &[0, 1],
            ),
        ];
        for (case, old, new, wait, kept, dropped) in table {
            let old_specs: Vec<Spec> = old.iter().map(|(text, _)| spec(text)).collect();
            let old: Vec<Old> = old_specs
                .iter()
                .zip(old)
                .map(|(spec, &(_, unarmed))| Old { spec, unarmed })
                .collect();
            let new: Vec<Spec> = new.iter().map(|text| spec(text)).collect();
            let plan = plan(&old, &new, wait);
            assert_eq!(plan.kept, kept, "{case}");
            assert_eq!(plan.dropped, dropped, "{case}");
            let added: Vec<usize> = plan.added().collect();
            let expected: Vec<usize> = (0..kept.len()).filter(|&i| kept[i].is_none()).collect();
            assert_eq!(added, expected, "{case}");
        }
    }

    /// A trigger not armed (these tests make no system call), in an episode when
    /// `active`.
    fn trigger(spec: &Rc<Spec>, group: &str, active: bool) -> Trigger {
        let subject = Subject {
            spec: Rc::clone(spec),
            group: group.into(),
        };
        let mut trigger = Trigger::unarmed(subject, Scope::Instance, "/x".into(), State::Lost);
        if active {
            let reading = Reading {
                avg10: Hundredths(4200),
                ..Reading::default()
            };
            let pacing = Pacing {
                repeat_us: 60_000_000,
                recover_after_us: None,
            };
            trigger.episode.crossing(1_000_000, &reading, pacing);
        }
        trigger
    }

    /// Kept triggers keep their episodes and take the new spec; new ones come from what
    /// was armed; the dropped ones come back to be closed, in their old order.
    #[test]
    fn kept_triggers_carry_their_episodes_over_to_the_new_spec() {
        let old_specs: Vec<Rc<Spec>> = ["memory:some:10%:2s:/*.service", "io:full:15%:2s"]
            .iter()
            .map(|text| Rc::new(spec(text)))
            .collect();
        let old = vec![
            trigger(&old_specs[0], "/a.service", true),
            trigger(&old_specs[1], "/", true),
            trigger(&old_specs[0], "/b.service", false),
        ];
        let new_specs: Vec<Rc<Spec>> = [
            "cpu:some:50%:2s",
            "memory:some:10%:2s:/*.service severity=crit",
        ]
        .iter()
        .map(|text| Rc::new(spec(text)))
        .collect();
        let olds: Vec<Old> = old_specs
            .iter()
            .map(|spec| Old {
                spec,
                unarmed: false,
            })
            .collect();
        let new: Vec<Spec> = new_specs.iter().map(|spec| (**spec).clone()).collect();
        let plan = plan(&olds, &new, false);
        assert_eq!(plan.kept, [None, Some(0)]);
        assert_eq!(plan.dropped, [1]);
        let armed = vec![vec![trigger(&new_specs[0], "/", false)]];
        let (triggers, closed) = apply(&plan, &old_specs, old, &new_specs, armed);
        let shown: Vec<(&str, bool, bool)> = triggers
            .iter()
            .map(|t| {
                let new_spec = new_specs.iter().any(|s| Rc::ptr_eq(s, &t.spec));
                (&*t.group, new_spec, t.episode != Episode::Idle)
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("/", true, false),
                ("/a.service", true, true),
                ("/b.service", true, false)
            ]
        );
        assert_eq!(triggers[1].spec.severity, Level::Crit);
        assert!(matches!(
            triggers[1].episode,
            Episode::Active {
                crossings: 1,
                peak_avg10: Hundredths(4200),
                ..
            }
        ));
        assert_eq!(closed.len(), 1);
        assert!(Rc::ptr_eq(&closed[0].spec, &old_specs[1]));
        assert_ne!(
            closed[0].episode,
            Episode::Idle,
            "its episode ends when it closes"
        );
    }
}
