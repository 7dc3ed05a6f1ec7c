//! cgroup patterns: `Pattern::parse` and `glob_match` (`*`, `?`, `[...]`, `\` quoting)
//! against the reference in src/glob.rs. The input is a glob and a name, split at the
//! first 0xff byte (or the whole input twice).
#![no_main]

use libfuzzer_sys::fuzz_target;
use psi_syslogd::pattern::{Pattern, glob_match};
use psi_syslogd_fuzz::glob;

fuzz_target!(|data: &[u8]| {
    let (glob_bytes, name_bytes) = match data.iter().position(|&b| b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, data),
    };
    let (pattern, name) = (
        psi_syslogd_fuzz::text(glob_bytes),
        psi_syslogd_fuzz::text(name_bytes),
    );
    // The reference is quadratic; the daemon's matcher must be right at any length.
    if pattern.len() <= 64 && name.len() <= 64 {
        assert_eq!(
            glob_match(&pattern, &name),
            glob::matches(&pattern, &name),
            "glob {pattern:?} name {name:?}"
        );
    } else {
        let _ = glob_match(&pattern, &name);
    }

    // The path form: every component checked, fixed ones named with their quoting undone.
    let path = format!("/{pattern}");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let refused = parts.iter().any(|&part| {
        part == "." || part == ".." || part.contains('\0') || {
            let trailing = part.bytes().rev().take_while(|&b| b == b'\\').count();
            trailing % 2 == 1
        }
    });
    match Pattern::parse(&path) {
        Err(why) => assert!(refused, "{path:?} refused: {why}"),
        Ok(parsed) => {
            assert!(!refused, "{path:?} accepted");
            let fixed = !parts.iter().any(|part| glob::has_wildcard(part));
            assert_eq!(parsed.is_fixed(), fixed, "{path:?}");
            let group = fixed.then(|| {
                parts
                    .iter()
                    .map(|part| format!("/{}", glob::unquote(part)))
                    .collect::<String>()
            });
            assert_eq!(
                parsed.fixed_group(),
                group.filter(|g| !g.is_empty()),
                "{path:?}"
            );
            // A fixed component matches its own name and nothing else.
            if let [part] = parts[..]
                && fixed
            {
                let own = glob::unquote(part);
                assert!(glob_match(part, &own), "{part:?} does not match {own:?}");
                assert_eq!(glob_match(part, &name), name == own, "{part:?} {name:?}");
            }
        }
    }
});
