//! Splits SQL text into tokens, each with the byte offset where it starts.

use crate::error::ParseErrorKind;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A name: a keyword, field or function (`[A-Za-z_][A-Za-z0-9_]*`).
    Ident(String),
    /// A quoted string; `double` is true for `"…"`, which only 2016-03-23 accepts.
    Str {
        text: String,
        double: bool,
    },
    /// A number literal, kept as written; the parser decides Int or Decimal.
    Number(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    /// `@name`, a SET variable (the name without the `@`; empty for a lone `@`).
    Variable(String),
    Star,
    Plus,
    Minus,
    Slash,
    Percent,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

impl Token {
    /// The token as an error message shows it.
    pub(crate) fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("'{s}'"),
            Token::Str { text, .. } => format!("string '{text}'"),
            Token::Number(n) => format!("number {n}"),
            Token::Variable(name) => format!("'@{name}'"),
            Token::Eof => "end of input".to_owned(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::Comma => ",",
            Token::Dot => ".",
            Token::Colon => ":",
            Token::Star => "*",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Eq => "=",
            Token::Ne => "<>",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            _ => "",
        }
    }

    /// Whether this is the keyword `kw` (given in upper case), in any case.
    pub(crate) fn is_keyword(&self, kw: &str) -> bool {
        matches!(self, Token::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned {
    pub(crate) token: Token,
    pub(crate) start: usize,
}

/// Tokenizes `text`; an error carries the byte offset where it was found.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Spanned>, (usize, ParseErrorKind)> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let token = match c {
            'A'..='Z' | 'a'..='z' | '_' => {
                let mut name = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                Token::Ident(name)
            }
            '0'..='9' => {
                let mut number = String::new();
                let mut prev = ' ';
                while let Some(&(_, c)) = chars.peek() {
                    let continues = c.is_ascii_digit()
                        || c == '.'
                        || c == 'e'
                        || c == 'E'
                        || ((c == '+' || c == '-') && (prev == 'e' || prev == 'E'));
                    if !continues {
                        break;
                    }
                    // `a[0].b` and `1.x`: a dot not followed by a digit ends the number.
                    if c == '.' {
                        let mut ahead = chars.clone();
                        ahead.next();
                        if !ahead.peek().is_some_and(|&(_, d)| d.is_ascii_digit()) {
                            break;
                        }
                    }
                    number.push(c);
                    prev = c;
                    chars.next();
                }
                Token::Number(number)
            }
            '@' => {
                chars.next();
                let mut name = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                Token::Variable(name)
            }
            '\'' | '"' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, ch)) = chars.next() {
                    if ch == c {
                        // A doubled quote is the quote itself, as in standard SQL.
                        if chars.peek().is_some_and(|&(_, n)| n == c) {
                            chars.next();
                            s.push(c);
                            continue;
                        }
                        closed = true;
                        break;
                    }
                    if ch == '\\' {
                        match chars.peek().map(|&(_, n)| n) {
                            Some(n @ ('\'' | '"' | '\\')) => {
                                chars.next();
                                s.push(n);
                            }
                            Some('n') => {
                                chars.next();
                                s.push('\n');
                            }
                            Some('t') => {
                                chars.next();
                                s.push('\t');
                            }
                            _ => s.push('\\'),
                        }
                        continue;
                    }
                    s.push(ch);
                }
                if !closed {
                    return Err((start, ParseErrorKind::UnterminatedString));
                }
                tokens.push(Spanned {
                    token: Token::Str {
                        text: s,
                        double: c == '"',
                    },
                    start,
                });
                continue;
            }
            _ => {
                chars.next();
                let next = chars.peek().map(|&(_, n)| n);
                if matches!((c, next), ('-', Some('-')) | ('/', Some('*'))) {
                    return Err((start, ParseErrorKind::Comment));
                }
                let (token, two) = match (c, next) {
                    ('<', Some('>')) => (Token::Ne, true),
                    ('!', Some('=')) => (Token::Ne, true),
                    ('<', Some('=')) => (Token::Le, true),
                    ('>', Some('=')) => (Token::Ge, true),
                    ('<', _) => (Token::Lt, false),
                    ('>', _) => (Token::Gt, false),
                    ('=', _) => (Token::Eq, false),
                    ('(', _) => (Token::LParen, false),
                    (')', _) => (Token::RParen, false),
                    ('[', _) => (Token::LBracket, false),
                    (']', _) => (Token::RBracket, false),
                    ('{', _) => (Token::LBrace, false),
                    ('}', _) => (Token::RBrace, false),
                    (',', _) => (Token::Comma, false),
                    ('.', _) => (Token::Dot, false),
                    (':', _) => (Token::Colon, false),
                    ('*', _) => (Token::Star, false),
                    ('+', _) => (Token::Plus, false),
                    ('-', _) => (Token::Minus, false),
                    ('/', _) => (Token::Slash, false),
                    ('%', _) => (Token::Percent, false),
                    _ => return Err((start, ParseErrorKind::UnexpectedCharacter(c))),
                };
                if two {
                    chars.next();
                }
                tokens.push(Spanned { token, start });
                continue;
            }
        };
        tokens.push(Spanned { token, start });
    }
    tokens.push(Spanned {
        token: Token::Eof,
        start: text.len(),
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Token> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect()
    }

    #[test]
    fn operators_and_names_are_split_with_their_offsets() {
        let tokens = tokenize("a<>b != c<=1").unwrap();
        let starts: Vec<usize> = tokens.iter().map(|t| t.start).collect();
        assert_eq!(starts, vec![0, 1, 3, 5, 8, 9, 11, 12]);
        assert_eq!(tokens[1].token, Token::Ne);
        assert_eq!(tokens[3].token, Token::Ne);
    }

    #[test]
    fn numbers_keep_fractions_and_exponents_but_not_a_trailing_dot() {
        assert_eq!(
            kinds("1.5e-3 2E+4 7.x"),
            vec![
                Token::Number("1.5e-3".into()),
                Token::Number("2E+4".into()),
                Token::Number("7".into()),
                Token::Dot,
                Token::Ident("x".into()),
                Token::Eof
            ]
        );
    }

    #[test]
    fn strings_take_doubled_quotes_and_backslash_escapes() {
        assert_eq!(
            kinds(r#"'it''s' 'a\'b' "q""#),
            vec![
                Token::Str {
                    text: "it's".into(),
                    double: false
                },
                Token::Str {
                    text: "a'b".into(),
                    double: false
                },
                Token::Str {
                    text: "q".into(),
                    double: true
                },
                Token::Eof
            ]
        );
    }

    #[test]
    fn an_unterminated_string_is_reported_where_it_starts() {
        assert_eq!(
            tokenize("SELECT 'abc"),
            Err((7, ParseErrorKind::UnterminatedString))
        );
    }

    #[test]
    fn comments_are_refused_rather_than_read_as_operators() {
        assert_eq!(tokenize("a -- b"), Err((2, ParseErrorKind::Comment)));
        assert_eq!(tokenize("a /* b */"), Err((2, ParseErrorKind::Comment)));
        assert!(tokenize("a - -b").is_ok());
        assert!(tokenize("'--'").is_ok());
    }

    #[test]
    fn a_stray_character_is_reported() {
        assert_eq!(
            tokenize("a # b"),
            Err((2, ParseErrorKind::UnexpectedCharacter('#')))
        );
    }
}
