//! A quick look at YAML text before the parser sees it: nesting deeper than any
//! profiles file or kubeconfig needs is refused at once. The YAML parser takes
//! minutes to refuse 100,000 nested `[` (docs/security.md#read-limits), and
//! kubectl waits on every run.

/// Deeper flow nesting (`[`, `{`) than this is refused.
pub const MAX_FLOW_DEPTH: usize = 64;
/// Lines indented further than this many columns are refused (block nesting).
pub const MAX_INDENT: usize = 512;
/// More alias uses (`*name`) than this are refused: no profiles file or kubeconfig
/// needs them, and aliases of aliases expand exponentially ("billion laughs").
pub const MAX_ALIASES: usize = 256;

/// `Err` with a message when `text` nests deeper than the limits.
pub fn check(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut aliases = 0usize;
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if indent > MAX_INDENT {
            return Err(format!(
                "line {} is indented more than {MAX_INDENT} columns: nesting this deep is not supported",
                number + 1
            ));
        }
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        // The last character that was not a space on this line ('\n' at its start):
        // a `[` or `{` opens a collection only where a value can start (after `:`,
        // `-`, `?`, or in a flow collection after `[`, `{` or `,`), never inside a
        // plain value such as a user named `a[[[` (found by fuzzing).
        let mut last = '\n';
        for c in line.chars() {
            let opens = if depth == 0 {
                matches!(last, '\n' | ':' | '-' | '?')
            } else {
                matches!(last, '\n' | ':' | '?' | '[' | '{' | ',')
            };
            match quote {
                // Quotes matter only inside flow collections, where a quoted `]` is
                // text; a block scalar's apostrophe (`it's`) is not a quote.
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '#' && previous.is_whitespace() => break,
                None if depth > 0 && (c == '"' || c == '\'') => quote = Some(c),
                None if (c == '[' || c == '{') && opens => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(format!(
                            "line {} nests more than {MAX_FLOW_DEPTH} levels of [ or {{: nesting this deep is not supported",
                            number + 1
                        ));
                    }
                }
                None if (c == ']' || c == '}') && depth > 0 => depth -= 1,
                None if c == '*' && (previous.is_whitespace() || matches!(previous, '[' | '{' | ',')) => {
                    aliases += 1;
                    if aliases > MAX_ALIASES {
                        return Err(format!(
                            "line {} makes more than {MAX_ALIASES} uses of YAML aliases: not supported",
                            number + 1
                        ));
                    }
                }
                None => {}
            }
            previous = c;
            if !c.is_whitespace() {
                last = c;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let text = "a: [1, {b: [\"]]]\", '}}'], c: d}] # [[[[\nkey: it's [fine\n  - x: {y: z}\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn deep_nesting_is_refused_at_once() {
        let flow = format!("profiles: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        assert_eq!(
            check(&flow).unwrap_err(),
            "line 1 nests more than 64 levels of [ or {: nesting this deep is not supported"
        );
        assert!(check(&format!("a: {}", "{a: ".repeat(65))).is_err());
        assert!(check(&format!("a: {}x", "[".repeat(64))).is_ok());
        let block: String = (0..600).map(|i| format!("{}- \n", " ".repeat(i))).collect();
        assert!(
            check(&block)
                .unwrap_err()
                .starts_with("line 514 is indented more than 512 columns")
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn brackets_inside_plain_values_are_not_nesting() {
        let name = format!("i{}", "[".repeat(40));
        let text = format!("users:\n- name: {name}\ncontexts:\n- context:\n    user: {name}\n");
        assert_eq!(check(&text), Ok(()));
        assert_eq!(check("a: \"[[[[\"\nb: x{y\n"), Ok(()));
        assert!(check(&format!("a:\n  - {}", "[".repeat(65))).is_err());
    }

    #[test]
    fn alias_floods_are_refused() {
        let flood = format!("a: &a [x]\nb: [{}]\n", vec!["*a"; 300].join(", "));
        assert!(
            check(&flood)
                .unwrap_err()
                .contains("more than 256 uses of YAML aliases")
        );
        assert_eq!(check("a: &x 1\nb: *x\nc: '*not an alias'\nd: 2 * 3\n"), Ok(()));
    }
}
