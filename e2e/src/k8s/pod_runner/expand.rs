//! `$(VAR)` expansion in env values, command and args, with kubelet's rules: `$$` is a
//! literal `$`, a reference to an undefined variable stays as written, and an unclosed
//! `$(` is kept literally.

/// Expands every `$(NAME)` in `input` with `lookup(NAME)`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        match after.chars().next() {
            // A lone `$` at the very end is copied as is.
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(close) => {
                    let name = &after[1..close];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            // `$x` is not a reference: both characters are kept.
            Some(other) => {
                out.push('$');
                out.push(other);
                rest = &after[other.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn vars(name: &str) -> Option<String> {
        match name {
            "POD_NAME" => Some("web-0".into()),
            "EMPTY" => Some(String::new()),
            "DOLLAR" => Some("$(POD_NAME)".into()),
            _ => None,
        }
    }

    #[test]
    fn defined_references_are_replaced() {
        assert_eq!(
            expand("$(POD_NAME).web-headless.ns.svc:9325", vars),
            "web-0.web-headless.ns.svc:9325"
        );
        assert_eq!(expand("a$(EMPTY)b", vars), "ab");
        assert_eq!(expand("$(POD_NAME)$(POD_NAME)", vars), "web-0web-0");
    }

    #[test]
    fn undefined_references_stay_literal() {
        assert_eq!(expand("x-$(NOPE)-y", vars), "x-$(NOPE)-y");
        assert_eq!(expand("$()", vars), "$()");
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(expand("$$(POD_NAME)", vars), "$(POD_NAME)");
        assert_eq!(expand("$$$(POD_NAME)", vars), "$web-0");
        assert_eq!(expand("cost: $$5", vars), "cost: $5");
    }

    #[test]
    fn incomplete_and_plain_dollars_are_kept() {
        assert_eq!(expand("$(POD_NAME", vars), "$(POD_NAME");
        assert_eq!(expand("a$", vars), "a$");
        assert_eq!(expand("$HOME/$x", vars), "$HOME/$x");
        assert_eq!(expand("é$é", vars), "é$é");
    }

    #[test]
    fn expanded_values_are_not_expanded_again() {
        assert_eq!(expand("$(DOLLAR)", vars), "$(POD_NAME)");
    }
}
