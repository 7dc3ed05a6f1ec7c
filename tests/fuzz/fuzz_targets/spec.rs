//! The trigger spec parser: `RESOURCE:KIND:THRESHOLD:WINDOW[:CGROUP] [severity=LEVEL]
//! [name=NAME]`, with cgroup patterns. Never a panic; an error quotes the text and exits
//! 64; a spec that parses obeys the kernel's rules and spec.rs's, and its canonical form
//! (Display) reads back to the same spec.
#![no_main]

use libfuzzer_sys::fuzz_target;
use psi_syslogd::error::Exit;
use psi_syslogd::pattern::Pattern;
use psi_syslogd::pressure::{Resource, Stall};
use psi_syslogd::spec::{NAME_MAX, Spec, WINDOW_MAX_US};

fuzz_target!(|data: &[u8]| {
    let text = psi_syslogd_fuzz::text(data);
    let spec = match Spec::parse(&text) {
        Ok(spec) => spec,
        Err(error) => {
            assert_eq!(error.exit, Exit::Usage);
            assert!(
                error
                    .message
                    .starts_with(&format!("invalid trigger '{text}': ")),
                "{text:?}: {}",
                error.message
            );
            return;
        }
    };
    assert!(
        spec.window_us > 0 && spec.window_us <= WINDOW_MAX_US,
        "{spec:?}"
    );
    assert!(
        spec.threshold_us > 0 && spec.threshold_us <= spec.window_us,
        "{spec:?}"
    );
    assert!(!(spec.resource == Resource::Irq && spec.stall == Stall::Some));
    if let Some(cgroup) = &spec.cgroup {
        assert!(cgroup.as_str().starts_with('/'), "{spec:?}");
        // The cgroup as written parses again to the same pattern.
        assert_eq!(
            Pattern::parse(cgroup.as_str()).as_ref(),
            Ok(&**cgroup),
            "{spec:?}"
        );
        assert_eq!(spec.is_pattern(), !cgroup.is_fixed(), "{spec:?}");
    } else {
        assert!(!spec.is_pattern());
    }
    if let Some(name) = &spec.name {
        assert!(!name.is_empty() && name.len() <= NAME_MAX, "{spec:?}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')),
            "{spec:?}"
        );
    }
    assert_eq!(
        spec.kernel_command(),
        format!(
            "{} {} {}\0",
            spec.stall.name(),
            spec.threshold_us,
            spec.window_us
        )
        .into_bytes()
    );
    assert!(spec.same_trigger(&spec));
    let canonical = spec.to_string();
    match Spec::parse(&canonical) {
        Ok(again) => assert_eq!(again, spec, "{text:?} -> {canonical:?}"),
        Err(error) => panic!(
            "{text:?} -> {canonical:?} does not read back: {}",
            error.message
        ),
    }
});
