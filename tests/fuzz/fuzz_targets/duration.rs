//! Durations: a trigger's THRESHOLD and WINDOW (`parse_duration_us`: bare microseconds,
//! `us`, `ms`, `s`), the options' DURATION (`parse_interval_us`: bare seconds, `ms`,
//! `s`, `m`), and a threshold given as a percentage of the window. Each against a
//! reference written from the documented rule: ASCII digits only (1 to 19), then one
//! of the units or none, the product within range; a percentage has at most three
//! decimals, is more than 0 and at most 100, and is rounded down. The input's first
//! byte picks the window for the percentage; the rest is the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use psi_syslogd::config::parse_interval_us;
use psi_syslogd::spec::{Spec, WINDOW_MAX_US, parse_duration_us};

fn reference(text: &str, units: &[(&str, u64)], bare: u64) -> Option<u64> {
    let digits_end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let scale = if unit.is_empty() {
        bare
    } else {
        units.iter().find(|(name, _)| *name == unit)?.1
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

/// `percent` (without `%`) of `window_us` in whole microseconds, rounded down.
fn reference_percent(percent: &str, window_us: u32) -> Option<u64> {
    let (whole, fraction) = match percent.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() && fraction.len() <= 3 => (whole, fraction),
        Some(_) => return None,
        None => (percent, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) {
        return None;
    }
    // In thousandths of a percent, exactly (u128: no overflow to reason about).
    let milli =
        whole.parse::<u128>().ok()? * 1000 + format!("{fraction:0<3}").parse::<u128>().ok()?;
    if milli == 0 || milli > 100_000 {
        return None;
    }
    Some((u128::from(window_us) * milli / 100_000) as u64)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = psi_syslogd_fuzz::text(rest);

    let micro = [("us", 1), ("ms", 1_000), ("s", 1_000_000)];
    let expected = reference(&text, &micro, 1).filter(|&us| us <= u64::from(u32::MAX));
    match parse_duration_us(&text) {
        Ok(us) => {
            assert_eq!(Some(u64::from(us)), expected, "{text:?}");
            assert_eq!(parse_duration_us(&us.to_string()), Ok(us));
            assert_eq!(parse_duration_us(&format!("{us}us")), Ok(us));
        }
        Err(why) => {
            assert_eq!(expected, None, "{text:?} refused: {why}");
            assert!(why.starts_with(&format!("'{text}' ")), "{why}");
        }
    }

    let interval = [("ms", 1_000), ("s", 1_000_000), ("m", 60_000_000)];
    match parse_interval_us(&text) {
        Ok(us) => assert_eq!(Some(us), reference(&text, &interval, 1_000_000), "{text:?}"),
        Err(why) => {
            assert_eq!(
                reference(&text, &interval, 1_000_000),
                None,
                "{text:?}: {why}"
            );
            assert!(why.starts_with(&format!("'{text}' ")), "{why}");
        }
    }

    // A threshold as a percentage of a window from 1us to the kernel's 10s.
    if text.contains(':') {
        return;
    }
    let window_us =
        [1, 3, 999, 1_000_000, 2_000_000, 7_777_777, WINDOW_MAX_US][usize::from(first) % 7];
    let spec = format!("cpu:some:{text}%:{window_us}");
    let threshold = reference_percent(&text, window_us).filter(|&t| t > 0);
    match Spec::parse(&spec) {
        Ok(parsed) => assert_eq!(Some(u64::from(parsed.threshold_us)), threshold, "{spec:?}"),
        Err(error) => assert_eq!(threshold, None, "{spec:?}: {}", error.message),
    }
});
