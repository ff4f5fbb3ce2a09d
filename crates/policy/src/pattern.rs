//! Strings with policy variables and wildcards, and their compiled matchers.
//!
//! A pattern is stored *encoded*: the wildcards `*` and `?` become the control characters
//! [`MULTI`] and [`SINGLE`], so that the literal escapes `${*}` and `${?}` can stay plain `*` and
//! `?`. Control characters are refused in policy text and never substituted, so an encoded
//! pattern is unambiguous. `wildmatch` is instantiated with those two characters.

use wildmatch::WildMatchPattern;

use crate::context::Context;
use crate::error::Problem;
use crate::variables::Key;

/// Encoded `*`: any run of characters, `/` and `:` included.
pub(crate) const MULTI: char = '\u{0}';
/// Encoded `?`: exactly one character.
pub(crate) const SINGLE: char = '\u{1}';

/// A `wildmatch` pattern over encoded wildcards, case-sensitive.
pub(crate) type Glob = WildMatchPattern<'\u{0}', '\u{1}'>;

/// One piece of a policy string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text, wildcards encoded.
    Text(String),
    /// A policy variable, substituted at bind time.
    Variable(Key),
}

/// A policy string (resource or condition value) parsed into text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

/// How `*` and `?` read in a policy string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wildcards {
    /// Resources and `…Like`/`Arn…` condition values: `*` and `?` are wildcards.
    Match,
    /// `StringEquals` and friends: `*` and `?` are plain characters.
    Literal,
}

impl Template {
    /// Parses `raw`, validating every `${…}`.
    pub(crate) fn parse(raw: &str, wildcards: Wildcards) -> Result<Self, Problem> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = raw.char_indices().peekable();
        let mut position = 0;
        while let Some((offset, c)) = chars.next() {
            if c.is_control() {
                return Err(Problem::ControlCharacter { code: c.into() });
            }
            if c == '$' && chars.peek().is_some_and(|&(_, next)| next == '{') {
                let start = offset + 2;
                let Some(length) = raw[start..].find('}') else {
                    return Err(Problem::UnterminatedVariable {
                        position: position + 1,
                    });
                };
                let name = &raw[start..start + length];
                match name {
                    "*" | "?" | "$" => text.push_str(name),
                    _ => {
                        let key = Key::parse(name).ok_or_else(|| Problem::UnknownVariable {
                            name: name.to_owned(),
                        })?;
                        if key.is_multi_valued() {
                            return Err(Problem::MultiValuedVariable {
                                name: name.to_owned(),
                            });
                        }
                        if !text.is_empty() {
                            pieces.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        pieces.push(Piece::Variable(key));
                    }
                }
                // Skip `{`, the name and `}`.
                let skip = 2 + name.chars().count();
                for _ in 0..skip {
                    chars.next();
                }
                position += 1 + skip;
                continue;
            }
            text.push(match (wildcards, c) {
                (Wildcards::Match, '*') => MULTI,
                (Wildcards::Match, '?') => SINGLE,
                _ => c,
            });
            position += 1;
        }
        if !text.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self { pieces })
    }

    /// The template with every variable replaced by [`VARIABLE_MARK`], for checking a
    /// resource's ARN structure.
    pub(crate) fn shape(&self) -> String {
        let mut shape = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => shape.push_str(text),
                Piece::Variable(_) => shape.push(VARIABLE_MARK),
            }
        }
        shape
    }

    /// The encoded string for `ctx`, or `None` if a variable does not resolve (or AWS would not
    /// substitute its value).
    pub(crate) fn bind(&self, ctx: &Context) -> Option<String> {
        let mut bound = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => bound.push_str(text),
                Piece::Variable(key) => bound.push_str(&key.substitute(ctx)?),
            }
        }
        Some(bound)
    }
}

/// Stands for a variable in [`Template::shape`]; a control character, so never literal text.
pub(crate) const VARIABLE_MARK: char = '\u{2}';

/// Whether an encoded string contains a wildcard or a variable mark.
pub(crate) fn is_dynamic(encoded: &str) -> bool {
    encoded.contains([MULTI, SINGLE, VARIABLE_MARK])
}

/// A compiled encoded pattern; `matches` never allocates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Matcher {
    /// `*`.
    Any,
    /// No wildcard.
    Exact(Box<str>),
    /// Literal text then one trailing `*`.
    Prefix(Box<str>),
    /// Anything else.
    Glob(Glob),
}

impl Matcher {
    /// Compiles an encoded pattern.
    pub(crate) fn new(encoded: &str) -> Self {
        let body = encoded.trim_end_matches(MULTI);
        if body.is_empty() && !encoded.is_empty() {
            return Self::Any;
        }
        if !body.contains([MULTI, SINGLE]) {
            return if body.len() == encoded.len() {
                Self::Exact(body.into())
            } else {
                Self::Prefix(body.into())
            };
        }
        Self::Glob(Glob::new(encoded))
    }

    /// Whether `input` matches, case-sensitively.
    pub(crate) fn matches(&self, input: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(text) => **text == *input,
            Self::Prefix(prefix) => input.starts_with(&**prefix),
            Self::Glob(glob) => glob.matches(input),
        }
    }

    /// Matchers `m` such that the pattern matches `prefix + s` exactly when some `m` matches `s`.
    ///
    /// This lets `topic/a/b` be checked against `arn:aws:iot:r:acct:topic/*` without building the
    /// ARN per packet: the fixed prefix is consumed once, at bind time, by running the pattern's
    /// NFA over it; each surviving NFA state is a suffix of the pattern.
    pub(crate) fn residuals(encoded: &str, prefix: &str) -> Vec<Self> {
        // Most resources spell their ARN prefix out (`arn:aws:iot:r:acct:topic/…`): while the
        // pattern's text before its first wildcard covers the prefix, plain string comparison
        // decides, and the NFA below (which allocates per character) is not needed.
        let literal_head = &encoded[..encoded.find([MULTI, SINGLE]).unwrap_or(encoded.len())];
        if literal_head.len() >= prefix.len() {
            return match encoded.strip_prefix(prefix) {
                Some(rest) => vec![Self::new(rest)],
                None => Vec::new(),
            };
        }
        if !prefix.starts_with(literal_head) {
            return Vec::new();
        }
        let pattern: Vec<char> = encoded.chars().collect();
        let mut states = vec![false; pattern.len() + 1];
        states[0] = true;
        close_over_stars(&pattern, &mut states);
        for c in prefix.chars() {
            let mut next = vec![false; pattern.len() + 1];
            for (i, _) in states.iter().enumerate().filter(|(_, live)| **live) {
                match pattern.get(i) {
                    Some(&MULTI) => next[i] = true,
                    Some(&p) if p == SINGLE || p == c => next[i + 1] = true,
                    _ => {}
                }
            }
            close_over_stars(&pattern, &mut next);
            states = next;
            if !states.contains(&true) {
                return Vec::new();
            }
        }
        let mut suffixes: Vec<String> = states
            .iter()
            .enumerate()
            .filter(|(_, live)| **live)
            .map(|(i, _)| pattern[i..].iter().collect())
            .collect();
        suffixes.dedup();
        let matchers: Vec<Self> = suffixes.iter().map(|suffix| Self::new(suffix)).collect();
        if matchers.contains(&Self::Any) {
            return vec![Self::Any];
        }
        matchers
    }
}

/// A `*` may match nothing, so a state before it is also a state after it.
fn close_over_stars(pattern: &[char], states: &mut [bool]) {
    for i in 0..pattern.len() {
        if states[i] && pattern[i] == MULTI {
            states[i + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::variables::Key;

    fn encode(pattern: &str) -> String {
        pattern
            .chars()
            .map(|c| match c {
                '*' => MULTI,
                '?' => SINGLE,
                c => c,
            })
            .collect()
    }

    #[test]
    fn text_and_variables_are_split_and_wildcards_encoded() {
        let template = Template::parse("a*/${iot:ClientId}/b?", Wildcards::Match).unwrap();
        assert_eq!(
            template.pieces,
            [
                Piece::Text(format!("a{MULTI}/")),
                Piece::Variable(Key::ClientId),
                Piece::Text(format!("/b{SINGLE}")),
            ]
        );
    }

    #[test]
    fn literal_escapes_produce_plain_characters() {
        let template = Template::parse("${*}${?}${$}*", Wildcards::Match).unwrap();
        assert_eq!(template.pieces, [Piece::Text(format!("*?${MULTI}"))]);
        let matcher = Matcher::new(&template.bind(&Context::default()).unwrap());
        assert!(matcher.matches("*?$anything"));
        assert!(!matcher.matches("x?$anything"));
    }

    #[test]
    fn wildcards_are_literal_where_the_operator_says_so() {
        let template = Template::parse("a*?", Wildcards::Literal).unwrap();
        assert_eq!(template.pieces, [Piece::Text("a*?".into())]);
    }

    #[test]
    fn a_dollar_without_a_brace_is_plain_text() {
        let template = Template::parse("$aws/things/$", Wildcards::Match).unwrap();
        assert_eq!(template.pieces, [Piece::Text("$aws/things/$".into())]);
    }

    #[test]
    fn a_variable_without_a_closing_brace_is_refused() {
        assert_eq!(
            Template::parse("ab${iot:ClientId", Wildcards::Match),
            Err(Problem::UnterminatedVariable { position: 3 })
        );
    }

    #[test]
    fn unknown_and_multi_valued_variables_are_refused() {
        assert_eq!(
            Template::parse("x/${iot:Connection.Thing.Foo}", Wildcards::Match),
            Err(Problem::UnknownVariable {
                name: "iot:Connection.Thing.Foo".into()
            })
        );
        assert_eq!(
            Template::parse("${iot:ConnectAttributes}", Wildcards::Match),
            Err(Problem::MultiValuedVariable {
                name: "iot:ConnectAttributes".into()
            })
        );
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            Template::parse("a\u{0}b", Wildcards::Match),
            Err(Problem::ControlCharacter { code: 0 })
        );
    }

    #[test]
    fn binding_substitutes_or_gives_up() {
        let template = Template::parse("t/${iot:ClientId}/x", Wildcards::Match).unwrap();
        let ctx = Context {
            client_id: Some("c1".into()),
            ..Context::default()
        };
        assert_eq!(template.bind(&ctx).as_deref(), Some("t/c1/x"));
        assert_eq!(template.bind(&Context::default()), None);
    }

    #[test]
    fn matchers_pick_the_cheapest_form() {
        assert_eq!(Matcher::new(&encode("*")), Matcher::Any);
        assert_eq!(Matcher::new(&encode("**")), Matcher::Any);
        assert_eq!(Matcher::new("a/b"), Matcher::Exact("a/b".into()));
        assert_eq!(Matcher::new(""), Matcher::Exact("".into()));
        assert_eq!(Matcher::new(&encode("a/*")), Matcher::Prefix("a/".into()));
        assert!(matches!(Matcher::new(&encode("a/*/b")), Matcher::Glob(_)));
    }

    #[test]
    fn star_crosses_slashes_and_plus_and_hash_are_literal() {
        let matcher = Matcher::new(&encode("dt/*/telemetry"));
        assert!(matcher.matches("dt/thing1/sub/telemetry"));
        let matcher = Matcher::new(&encode("a/+/b"));
        assert!(matcher.matches("a/+/b"));
        assert!(!matcher.matches("a/x/b"));
        let matcher = Matcher::new(&encode("dev-?"));
        assert!(matcher.matches("dev-7"));
        assert!(!matcher.matches("dev-77"));
    }

    #[test]
    fn residuals_consume_a_literal_prefix() {
        let arn = "arn:aws:iot:r:1:topic/";
        assert_eq!(
            Matcher::residuals(&encode("arn:aws:iot:r:1:topic/a/*"), arn),
            [Matcher::Prefix("a/".into())]
        );
        assert_eq!(
            Matcher::residuals(&encode("arn:aws:iot:r:1:topicfilter/a"), arn),
            []
        );
        assert_eq!(
            Matcher::residuals(&encode("arn:aws:iot:*"), arn),
            [Matcher::Any]
        );
        assert_eq!(Matcher::residuals(&encode("*"), arn), [Matcher::Any]);
    }

    fn pattern_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just(":"),
                Just("/"),
                Just("*"),
                Just("?")
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just(":"), Just("/")],
            0..7,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn residuals_agree_with_matching_the_whole_string(
            pattern in pattern_strategy(),
            prefix in text_strategy(),
            rest in text_strategy(),
        ) {
            let encoded = encode(&pattern);
            let whole = Matcher::new(&encoded).matches(&format!("{prefix}{rest}"));
            let split = Matcher::residuals(&encoded, &prefix).iter().any(|m| m.matches(&rest));
            prop_assert_eq!(whole, split);
        }

        #[test]
        fn matcher_forms_agree_with_wildmatch(pattern in pattern_strategy(), input in text_strategy()) {
            let encoded = encode(&pattern);
            prop_assert_eq!(Matcher::new(&encoded).matches(&input), Glob::new(&encoded).matches(&input));
        }
    }
}
