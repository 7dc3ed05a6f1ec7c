//! A reference for pattern.rs: the shell's rules for one path component, written the
//! slow and obvious way (recursion over the pattern, memoized), to hold the daemon's
//! backtracking matcher against.
//!
//! `*` matches any run of characters, `?` one character, `[...]` one character of a set
//! (`!` or `^` first negates it; a `]` first is a member; `a-z` is a range; `\` quotes
//! the next character); a `[` that never closes is an ordinary character; `\` quotes the
//! character after it, and a `\` at the very end stands for itself.

/// A bracket expression: its members as ranges, whether it is negated, and the index
/// just after its `]`.
struct Bracket {
    ranges: Vec<(char, char)>,
    negated: bool,
    end: usize,
}

fn bracket(pattern: &[char], open: usize) -> Option<Bracket> {
    let mut i = open + 1;
    let negated = matches!(pattern.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *pattern.get(i)?;
        if c == ']' && !first {
            return Some(Bracket {
                ranges,
                negated,
                end: i + 1,
            });
        }
        first = false;
        // One member: a character, quoted or not.
        let (low, after) = if c == '\\' {
            (*pattern.get(i + 1)?, i + 2)
        } else {
            (c, i + 1)
        };
        // A range, unless the `-` is the set's last character.
        let is_range = pattern.get(after) == Some(&'-')
            && pattern.get(after + 1).is_some_and(|&next| next != ']');
        if is_range {
            let high_at = after + 1;
            let (high, next) = if pattern[high_at] == '\\' {
                (*pattern.get(high_at + 1)?, high_at + 2)
            } else {
                (pattern[high_at], high_at + 1)
            };
            ranges.push((low, high));
            i = next;
        } else {
            ranges.push((low, low));
            i = after;
        }
    }
}

pub fn matches(glob: &str, name: &str) -> bool {
    let pattern: Vec<char> = glob.chars().collect();
    let text: Vec<char> = name.chars().collect();
    let mut memo = vec![None; (pattern.len() + 1) * (text.len() + 1)];
    at(&pattern, &text, 0, 0, &mut memo)
}

fn at(pattern: &[char], text: &[char], p: usize, t: usize, memo: &mut [Option<bool>]) -> bool {
    let slot = p * (text.len() + 1) + t;
    if let Some(known) = memo[slot] {
        return known;
    }
    let result = match pattern.get(p) {
        None => t == text.len(),
        Some('*') => (t..=text.len()).any(|k| at(pattern, text, p + 1, k, memo)),
        Some('?') => t < text.len() && at(pattern, text, p + 1, t + 1, memo),
        Some('[') if bracket(pattern, p).is_some() => {
            let set = bracket(pattern, p).unwrap_or_else(|| unreachable!());
            t < text.len()
                && set
                    .ranges
                    .iter()
                    .any(|&(low, high)| low <= text[t] && text[t] <= high)
                    != set.negated
                && at(pattern, text, set.end, t + 1, memo)
        }
        Some('\\') if p + 1 < pattern.len() => {
            t < text.len() && text[t] == pattern[p + 1] && at(pattern, text, p + 2, t + 1, memo)
        }
        Some(&c) => t < text.len() && text[t] == c && at(pattern, text, p + 1, t + 1, memo),
    };
    memo[slot] = Some(result);
    result
}

/// Whether a component holds an unquoted `*`, `?` or a `[` that closes.
pub fn has_wildcard(component: &str) -> bool {
    let pattern: Vec<char> = component.chars().collect();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' => i += 2,
            '*' | '?' => return true,
            '[' if bracket(&pattern, i).is_some() => return true,
            _ => i += 1,
        }
    }
    false
}

/// A component with its quoting undone: what a fixed component names.
pub fn unquote(component: &str) -> String {
    let mut out = String::new();
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_follows_the_shell() {
        let table = [
            ("*.service", "a.service", true),
            ("a*b*c", "aXbY", false),
            ("?", "", false),
            ("[!abc]x", "dx", true),
            ("[]]", "]", true),
            ("[!]]", "]", false),
            ("[a-]", "-", true),
            ("[a-c]", "b", true),
            ("[\\]]", "]", true),
            ("[", "[", true),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("a\\", "a\\", true),
        ];
        for (glob, name, expected) in table {
            assert_eq!(matches(glob, name), expected, "{glob:?} {name:?}");
        }
        assert!(has_wildcard("[a]") && !has_wildcard("\\[a]") && !has_wildcard("[a"));
        assert_eq!(unquote("a\\*b\\\\"), "a*b\\");
    }
}
